//! The auditor's reading of the log (role `auditor`): events in global order with filters, an
//! account's whole history across aggregates, and any aggregate's state as of a time.

use super::error::ProblemDocument;
use super::extract::Authenticated;
use crate::audit::{AsOf, AuditEvent, EventFilter};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::problem::{FieldError, Problem, ProblemKind};
use crate::state::SharedState;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use xuexin_domain::roles::StaffRole;
use xuexin_domain::Timestamp;

pub fn router() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new()
        .routes(routes!(audit_events))
        .routes(routes!(account_history))
        .routes(routes!(aggregate_as_of))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only events after this log position (from `next_after` of the previous page).
    pub after: Option<i64>,
    /// At most this many (1–1000, default 100).
    pub limit: Option<i64>,
    /// `Account`, `Identity`, `LoginName`, `StudentRecord`, `School`.
    pub aggregate_type: Option<String>,
    pub aggregate_id: Option<String>,
    pub event_type: Option<String>,
    /// As recorded: `account:…`, `reviewer:…`, `system:…`, `anonymous`.
    pub actor: Option<String>,
    /// RFC 3339: events recorded at or after.
    pub from: Option<String>,
    /// RFC 3339: events recorded at or before.
    pub to: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EventsPage {
    pub events: Vec<AuditEvent>,
    /// Pass as `after` for the next page (the last position here, or `after` if none).
    pub next_after: i64,
}

fn time_param(field: &str, raw: &Option<String>) -> Result<Option<Timestamp>, Problem> {
    match raw.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(text) => Timestamp::parse_rfc3339(text)
            .map(Some)
            .ok_or_else(|| Problem::validation(vec![FieldError::new(field, "time_format")])),
    }
}

fn non_empty(raw: Option<String>) -> Option<String> {
    raw.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// The log in global order, filtered (审计).
#[utoipa::path(
    get,
    path = "/api/v1/audit/events",
    tag = "audit",
    params(EventsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of events", body = EventsPage),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not an auditor", body = ProblemDocument),
        (status = 422, description = "`time_format`", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn audit_events(
    State(state): State<SharedState>,
    Authenticated(session): Authenticated,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Json<EventsPage>, Problem> {
    session.require_role(&[StaffRole::Auditor])?;
    let after = query.after.unwrap_or(0).max(0);
    let filter = EventFilter {
        after,
        limit: query.limit.unwrap_or(100),
        from: time_param("from", &query.from)?,
        to: time_param("to", &query.to)?,
        aggregate_type: non_empty(query.aggregate_type),
        aggregate_id: non_empty(query.aggregate_id),
        event_type: non_empty(query.event_type),
        actor: non_empty(query.actor),
    };
    let events = crate::audit::events(&state.db, &filter).await?;
    let next_after = events.last().map_or(after, |e| e.position);
    Ok(Json(EventsPage { events, next_after }))
}

/// An account's whole history: its own events and every login-name, identity, record or
/// other event that names it, in log order.
#[utoipa::path(
    get,
    path = "/api/v1/audit/accounts/{account_id}/history",
    tag = "audit",
    params(("account_id" = String, Path, description = "The account")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Its events", body = Vec<AuditEvent>),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not an auditor", body = ProblemDocument),
        (status = 404, description = "`account_not_found`", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn account_history(
    State(state): State<SharedState>,
    Authenticated(session): Authenticated,
    ApiPath(account_id): ApiPath<String>,
) -> Result<Json<Vec<AuditEvent>>, Problem> {
    session.require_role(&[StaffRole::Auditor])?;
    let Some(id) = xuexin_domain::AccountId::parse(&account_id) else {
        return Err(Problem::new(ProblemKind::NotFound, "account_not_found"));
    };
    let events = crate::audit::account_history(&state.db, &id.to_string()).await?;
    if !events
        .iter()
        .any(|e| e.aggregate_type == "Account" && e.aggregate_id == id.to_string())
    {
        return Err(Problem::new(ProblemKind::NotFound, "account_not_found"));
    }
    Ok(Json(events))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AsOfQuery {
    /// RFC 3339; default now.
    pub as_of: Option<String>,
}

/// An aggregate's state as of a time, folded from its events recorded by then.
#[utoipa::path(
    get,
    path = "/api/v1/audit/aggregates/{aggregate_type}/{aggregate_id}",
    tag = "audit",
    params(
        ("aggregate_type" = String, Path, description = "`Account`, `Identity`, `LoginName`, `StudentRecord`, `School`"),
        ("aggregate_id" = String, Path, description = "The aggregate"),
        AsOfQuery,
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Its state then", body = AsOf),
        (status = 401, description = "Not logged in", body = ProblemDocument),
        (status = 403, description = "Not an auditor", body = ProblemDocument),
        (status = 404, description = "`not_found`: no such aggregate, or none yet at that time", body = ProblemDocument),
        (status = 422, description = "`time_format`", body = ProblemDocument),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn aggregate_as_of(
    State(state): State<SharedState>,
    Authenticated(session): Authenticated,
    ApiPath((aggregate_type, aggregate_id)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<AsOfQuery>,
) -> Result<Json<AsOf>, Problem> {
    session.require_role(&[StaffRole::Auditor])?;
    let at = time_param("as_of", &query.as_of)?.unwrap_or_else(|| state.clock.now());
    match crate::audit::as_of(&state.db, &aggregate_type, &aggregate_id, at).await? {
        Some(found) if found.version > 0 => Ok(Json(found)),
        _ => Err(Problem::new(ProblemKind::NotFound, "not_found")),
    }
}
