//! 问题反馈: support tickets. A person files one and follows it; an administrator answers it;
//! the person closes it. Screenshots are attached through the page (a multipart form).

use super::error::{invalid_fields, ProblemDocument};
use super::extract::{ApiJson, ApiPath, Authenticated, RequestContext, WaitFor};
use super::names::TicketStatusName;
use crate::application::support::{Support, TicketError};
use crate::http::extract::ApiQuery;
use crate::problem::{Problem, ProblemKind};
use crate::state::SharedState;
use crate::store::ExecuteError;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use xuexin_domain::Timestamp;
use xuexin_projections::support::{self as tickets, TicketRow};

impl FromRef<SharedState> for Support {
    fn from_ref(state: &SharedState) -> Self {
        state.support.clone()
    }
}

/// The tickets' refusals as the API answers them (the one place they are mapped).
pub fn ticket_problem(error: TicketError) -> Problem {
    match error {
        TicketError::Forbidden => Problem::new(ProblemKind::Forbidden, "forbidden"),
        TicketError::Invalid(refusals) => invalid_fields(refusals),
        TicketError::NotFound => Problem::new(ProblemKind::NotFound, "ticket_not_found"),
        TicketError::RateLimited { retry_after } => {
            Problem::rate_limited("ticket_rate_limited", retry_after)
        }
        TicketError::Refused(ExecuteError::Domain(error)) => {
            Problem::new(ProblemKind::Conflict, error.code())
        }
        TicketError::Refused(ExecuteError::Contention) => {
            Problem::overloaded(std::time::Duration::from_secs(1))
        }
        TicketError::Refused(ExecuteError::Store(error)) | TicketError::Internal(error) => {
            Problem::internal(error)
        }
    }
}

pub fn router() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(open_ticket, waiting_tickets))
        .routes(routes!(my_tickets))
        .routes(routes!(get_ticket))
        .routes(routes!(answer_ticket))
        .routes(routes!(close_ticket))
}

#[derive(Deserialize, ToSchema)]
pub struct TicketRequest {
    /// 用户名: the username the problem concerns, as the person knows it.
    #[schema(required = true, nullable = false)]
    pub username: Option<String>,
    /// 问题描述 (at most 2000 characters).
    #[schema(required = true, nullable = false)]
    pub description: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct FiledResponse {
    pub ticket_id: String,
    /// Log position; pass it as `?position=` to read your write.
    pub position: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct TicketDocument {
    pub ticket_id: String,
    pub username: String,
    pub description: String,
    /// Whether a screenshot was attached (the page shows it).
    pub has_screenshot: bool,
    #[schema(value_type = TicketStatusName)]
    pub status: String,
    pub opened_at: String,
    /// The staff's answer, once there is one.
    pub answer: Option<String>,
    pub answered_at: Option<String>,
}

fn document(row: TicketRow) -> TicketDocument {
    TicketDocument {
        ticket_id: row.ticket_id,
        username: row.username,
        description: row.description,
        has_screenshot: row.screenshot_sha256.is_some(),
        status: row.status,
        opened_at: Timestamp::from_millis(row.opened_at).to_rfc3339(),
        answer: row.answer,
        answered_at: row
            .answered_at
            .map(|at| Timestamp::from_millis(at).to_rfc3339()),
    }
}

/// File a problem report (问题反馈): the username it concerns and a description. At most 10
/// a day per account. Staff answer within three working days.
#[utoipa::path(
    post,
    path = "/api/v1/support-tickets",
    tag = "support",
    request_body = TicketRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Filed", body = FiledResponse),
        (status = 400, description = "Malformed JSON", body = ProblemDocument),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Staff accounts file no tickets", body = ProblemDocument),
        (status = 422, description = "The username or the description is missing or too long", body = ProblemDocument),
        (status = 429, description = "Ten tickets today already", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn open_ticket(
    State(support): State<Support>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiJson(body): ApiJson<TicketRequest>,
) -> Result<(StatusCode, Json<FiledResponse>), Problem> {
    let filed = support
        .open(
            &session,
            body.username.as_deref().unwrap_or(""),
            body.description.as_deref().unwrap_or(""),
            None,
            &context.metadata(session.actor()),
        )
        .await
        .map_err(ticket_problem)?;
    Ok((
        StatusCode::CREATED,
        Json(FiledResponse {
            ticket_id: filed.ticket_id,
            position: filed.position,
        }),
    ))
}

/// The tickets waiting for an answer, oldest first (administrators).
#[utoipa::path(
    get,
    path = "/api/v1/support-tickets",
    tag = "support",
    params(WaitFor),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The queue", body = Vec<TicketDocument>),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not an administrator", body = ProblemDocument),
        (status = 503, description = "The view has not reached `position` yet", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn waiting_tickets(
    State(state): State<SharedState>,
    State(support): State<Support>,
    Authenticated(session): Authenticated,
    ApiQuery(wait): ApiQuery<WaitFor>,
) -> Result<Json<Vec<TicketDocument>>, Problem> {
    wait.wait(&state, &[tickets::NAME]).await?;
    let waiting = support.waiting(&session).await.map_err(ticket_problem)?;
    Ok(Json(waiting.into_iter().map(document).collect()))
}

/// My tickets, newest first, with their answers.
#[utoipa::path(
    get,
    path = "/api/v1/me/support-tickets",
    tag = "support",
    params(WaitFor),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "My tickets", body = Vec<TicketDocument>),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 503, description = "The view has not reached `position` yet", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn my_tickets(
    State(state): State<SharedState>,
    State(support): State<Support>,
    Authenticated(session): Authenticated,
    ApiQuery(wait): ApiQuery<WaitFor>,
) -> Result<Json<Vec<TicketDocument>>, Problem> {
    wait.wait_in_session(&state, &session, &[tickets::NAME])
        .await?;
    let mine = support.mine(&session).await.map_err(ticket_problem)?;
    Ok(Json(mine.into_iter().map(document).collect()))
}

/// One ticket: for the person who filed it, or an administrator.
#[utoipa::path(
    get,
    path = "/api/v1/support-tickets/{ticket_id}",
    tag = "support",
    params(("ticket_id" = String, Path, description = "From the filing's answer"), WaitFor),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The ticket", body = TicketDocument),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 404, description = "No such ticket (or another person's)", body = ProblemDocument),
        (status = 422, description = "A control character in the path", body = ProblemDocument),
        (status = 503, description = "The view has not reached `position` yet", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn get_ticket(
    State(state): State<SharedState>,
    State(support): State<Support>,
    Authenticated(session): Authenticated,
    ApiPath(ticket_id): ApiPath<String>,
    ApiQuery(wait): ApiQuery<WaitFor>,
) -> Result<Json<TicketDocument>, Problem> {
    wait.wait_in_session(&state, &session, &[tickets::NAME])
        .await?;
    let row = support
        .ticket(&session, &ticket_id)
        .await
        .map_err(ticket_problem)?;
    Ok(Json(document(row)))
}

#[derive(Deserialize, ToSchema)]
pub struct AnswerRequest {
    /// The answer the person reads (at most 2000 characters).
    #[schema(required = true, nullable = false)]
    pub answer: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TicketCommandResponse {
    /// Log position; pass it as `?position=` to read your write.
    pub position: Option<i64>,
}

/// Answer a ticket (administrators). The person sees the answer and the ticket's state.
#[utoipa::path(
    post,
    path = "/api/v1/support-tickets/{ticket_id}/answers",
    tag = "support",
    params(("ticket_id" = String, Path, description = "The ticket")),
    request_body = AnswerRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Answered", body = TicketCommandResponse),
        (status = 400, description = "Malformed JSON", body = ProblemDocument),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not an administrator", body = ProblemDocument),
        (status = 404, description = "No such ticket", body = ProblemDocument),
        (status = 409, description = "The ticket is closed", body = ProblemDocument),
        (status = 422, description = "The answer is missing or too long", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn answer_ticket(
    State(support): State<Support>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiPath(ticket_id): ApiPath<String>,
    ApiJson(body): ApiJson<AnswerRequest>,
) -> Result<(StatusCode, Json<TicketCommandResponse>), Problem> {
    let position = support
        .answer(
            &session,
            &ticket_id,
            body.answer.as_deref().unwrap_or(""),
            &context.metadata(session.actor()),
        )
        .await
        .map_err(ticket_problem)?;
    Ok((
        StatusCode::CREATED,
        Json(TicketCommandResponse { position }),
    ))
}

/// Close my ticket (the problem is solved).
#[utoipa::path(
    post,
    path = "/api/v1/support-tickets/{ticket_id}/close",
    tag = "support",
    params(("ticket_id" = String, Path, description = "The ticket")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Closed", body = TicketCommandResponse),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Staff accounts close no tickets", body = ProblemDocument),
        (status = 404, description = "No such ticket (or another person's)", body = ProblemDocument),
        (status = 422, description = "A control character in the path", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn close_ticket(
    State(support): State<Support>,
    Authenticated(session): Authenticated,
    context: RequestContext,
    ApiPath(ticket_id): ApiPath<String>,
) -> Result<Json<TicketCommandResponse>, Problem> {
    let position = support
        .close(&session, &ticket_id, &context.metadata(session.actor()))
        .await
        .map_err(ticket_problem)?;
    Ok(Json(TicketCommandResponse { position }))
}
