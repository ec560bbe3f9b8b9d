//! Errors as the service's users see them: a stable code, a Chinese message, per-field errors
//! and a kind that the HTTP layer turns into a status. Internal causes are kept for the log
//! and never shown.

use crate::messages;
use serde::Serialize;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    BadRequest,
    /// 405: the path exists, the method does not.
    MethodNotAllowed,
    /// 413: the body is over the limit.
    PayloadTooLarge,
    /// 415: the body is not of the type the endpoint reads.
    UnsupportedMediaType,
    Validation,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    Locked,
    TooManyRequests,
    Overloaded,
    Unavailable,
    Internal,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub code: String,
    pub message: String,
    /// What the person can do next (`login`, `recover_password`, `resend_activation_email`, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// The masked account that holds the value, where the seeds name it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
}

impl FieldError {
    pub fn new(field: &str, code: &str) -> Self {
        Self {
            field: field.to_string(),
            code: code.to_string(),
            message: messages::text(code).to_string(),
            actions: Vec::new(),
            holder: None,
        }
    }

    pub fn with_actions(mut self, actions: &[&str]) -> Self {
        self.actions = actions.iter().map(|a| a.to_string()).collect();
        self
    }

    pub fn with_message(mut self, message: String) -> Self {
        self.message = message;
        self
    }

    pub fn with_holder(mut self, holder: String) -> Self {
        self.holder = Some(holder);
        self
    }
}

/// Boxed so that `Result<T, Problem>` stays small on the happy path.
#[derive(Debug)]
pub struct Problem(Box<ProblemData>);

#[derive(Debug)]
pub struct ProblemData {
    pub kind: ProblemKind,
    pub code: String,
    pub message: String,
    pub errors: Vec<FieldError>,
    pub extra: serde_json::Map<String, serde_json::Value>,
    pub retry_after: Option<Duration>,
    /// The internal cause of a 5xx, for the log only.
    pub source: Option<anyhow::Error>,
}

impl std::ops::Deref for Problem {
    type Target = ProblemData;
    fn deref(&self) -> &ProblemData {
        &self.0
    }
}

impl std::ops::DerefMut for Problem {
    fn deref_mut(&mut self) -> &mut ProblemData {
        &mut self.0
    }
}

impl Problem {
    pub fn new(kind: ProblemKind, code: &str) -> Self {
        Self(Box::new(ProblemData {
            kind,
            code: code.to_string(),
            message: messages::text(code).to_string(),
            errors: Vec::new(),
            extra: serde_json::Map::new(),
            retry_after: None,
            source: None,
        }))
    }

    pub fn into_data(self) -> ProblemData {
        *self.0
    }

    /// 422 with one entry per bad field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut problem = Self::new(ProblemKind::Validation, "validation_failed");
        problem.errors = errors;
        problem
    }

    /// 409 for values another account holds; the first conflict names the problem.
    pub fn conflicts(errors: Vec<FieldError>) -> Self {
        let first = errors.first().cloned();
        let mut problem = Self::new(
            ProblemKind::Conflict,
            first.as_ref().map_or("conflict", |e| e.code.as_str()),
        );
        if let Some(first) = first {
            problem.message = first.message;
        }
        problem.errors = errors;
        problem
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        let mut problem = Self::new(ProblemKind::Internal, "internal_error");
        problem.source = Some(error.into());
        problem
    }

    pub fn overloaded(retry_after: Duration) -> Self {
        let mut problem = Self::new(ProblemKind::Overloaded, "overloaded");
        problem.retry_after = Some(retry_after);
        problem
    }

    pub fn rate_limited(code: &str, retry_after: Duration) -> Self {
        let mut problem = Self::new(ProblemKind::TooManyRequests, code);
        problem.retry_after = Some(retry_after);
        problem
    }

    pub fn with_message(mut self, message: String) -> Self {
        self.message = message;
        self
    }

    /// Same kind, another code (and its message).
    pub fn with_code(mut self, code: &str) -> Self {
        self.code = code.to_string();
        self.message = messages::text(code).to_string();
        self
    }

    pub fn with_extra(mut self, key: &str, value: impl Serialize) -> Self {
        if let Ok(value) = serde_json::to_value(value) {
            self.extra.insert(key.to_string(), value);
        }
        self
    }
}

impl From<anyhow::Error> for Problem {
    fn from(error: anyhow::Error) -> Self {
        Self::internal(error)
    }
}

impl From<sqlx::Error> for Problem {
    fn from(error: sqlx::Error) -> Self {
        Self::internal(error)
    }
}

/// An SMS code refused, as the API answers it.
pub fn code_problem(error: crate::codes::CodeError) -> Problem {
    use crate::codes::CodeError;
    match error {
        CodeError::RateLimited(exceeded) => {
            Problem::rate_limited("sms_rate_limited", exceeded.retry_after)
        }
        CodeError::Invalid { attempts_left } => {
            Problem::validation(vec![FieldError::new("sms_code", "sms_code_invalid")])
                .with_extra("attempts_left", attempts_left)
        }
        CodeError::TooManyAttempts => {
            Problem::validation(vec![FieldError::new("sms_code", "sms_code_attempts")])
        }
        CodeError::Gateway(error) => {
            let mut problem = Problem::new(ProblemKind::Unavailable, "sms_gateway_unavailable");
            problem.source = Some(error);
            problem
        }
        CodeError::Store(error) => Problem::internal(error),
    }
}

pub fn account_problem(
    error: crate::store::ExecuteError<xuexin_domain::account::AccountError>,
) -> Problem {
    use crate::store::ExecuteError;
    use xuexin_domain::account::AccountError;
    match error {
        ExecuteError::Domain(AccountError::HasherUnavailable) => {
            Problem::overloaded(Duration::from_secs(1))
        }
        ExecuteError::Domain(e) => {
            Problem::internal(anyhow::anyhow!("unexpected account refusal: {e}"))
        }
        ExecuteError::Contention => Problem::overloaded(Duration::from_secs(1)),
        ExecuteError::Store(e) => Problem::internal(e),
    }
}
