//! Dev mode only: what the capture gateways "delivered".

use crate::gateways::outbox::{self, OutboxMessage};
use crate::http::extract::ApiQuery;
use crate::problem::Problem;
use crate::state::SharedState;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use xuexin_domain::values::{Email, Phone};

pub fn router() -> OpenApiRouter<SharedState> {
    OpenApiRouter::new().routes(routes!(list_outbox))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// A phone (any accepted form) or an e-mail address.
    pub to: Option<String>,
    pub limit: Option<i64>,
}

/// Captured SMS and mail, newest first (exists only when the service runs with `--dev`).
#[utoipa::path(
    get,
    path = "/api/v1/dev/outbox",
    tag = "dev",
    params(OutboxQuery),
    responses((status = 200, description = "Messages", body = Vec<OutboxMessage>))
)]
pub async fn list_outbox(
    State(state): State<SharedState>,
    ApiQuery(query): ApiQuery<OutboxQuery>,
) -> Result<Json<Vec<OutboxMessage>>, Problem> {
    let recipient = query.to.as_deref().map(normalize_recipient);
    let limit = query.limit.unwrap_or(20).clamp(1, 500);
    Ok(Json(
        outbox::list(&state.db, recipient.as_deref(), limit).await?,
    ))
}

/// Phones as stored (E.164), e-mails lower-cased; anything else as given.
pub fn normalize_recipient(raw: &str) -> String {
    if let Ok(phone) = Phone::parse(raw) {
        return phone.as_str().to_string();
    }
    if let Ok(email) = Email::parse(raw) {
        return email.as_str().to_string();
    }
    raw.to_string()
}
