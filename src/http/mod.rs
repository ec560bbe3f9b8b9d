//! The HTTP API (axum). One router per area, merged here; the OpenAPI document is built from
//! the same route list, so a route cannot exist without being documented.

pub mod account;
pub mod audit;
pub mod conscription;
pub mod dev;
pub mod email;
pub mod error;
pub mod extract;
pub mod factor;
pub mod headers;
pub mod idempotency;
pub mod identity;
pub mod language;
pub mod me;
pub mod monitoring;
pub mod names;
pub mod oauth;
pub mod oidc;
pub mod openapi;
pub mod overload;
pub mod records;
pub mod recovery;
pub mod registration;
pub mod sessions;
pub mod sms;
pub mod support;

use crate::problem::{Problem, ProblemKind};
use crate::state::SharedState;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(OpenApi)]
#[openapi(
    info(
        title = "xuexin",
        description = "Account service of the student-information network: registration, \
                       e-mail verification, login. Errors are application/problem+json with a \
                       stable `code` and a `message` in the language `Accept-Language` asks for \
                       (zh-CN, the default, or en).",
        version = "1"
    ),
    modifiers(&BearerAuth),
    components(schemas(error::ProblemDocument, names::CheckTypeName, names::ReportFormat)),
    tags(
        (name = "registration", description = "注册"),
        (name = "email", description = "安全邮箱验证"),
        (name = "sessions", description = "登录"),
        (name = "account", description = "账号"),
        (name = "recovery", description = "找回用户名与密码"),
        (name = "records", description = "学籍学历"),
        (name = "identity", description = "证件号码重复核验"),
        (name = "conscription", description = "征兵办公室"),
        (name = "support", description = "问题反馈"),
        (name = "staff", description = "工作人员：两步验证 (staff: the second factor)"),
        (name = "audit", description = "审计 (auditors)"),
        (name = "dev", description = "Development only"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API routes and their OpenAPI document.
pub fn api(dev_mode: bool) -> (Router<SharedState>, utoipa::openapi::OpenApi) {
    let mut routes = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(registration::router())
        .merge(sms::router())
        .merge(email::router())
        .merge(sessions::router())
        .merge(factor::router())
        .merge(me::router())
        .merge(account::router())
        .merge(oauth::router())
        .merge(support::router())
        .merge(audit::router())
        .merge(recovery::router())
        .merge(records::router())
        .merge(identity::router())
        .merge(conscription::router());
    if dev_mode {
        routes = routes.merge(dev::router());
    }
    routes.split_for_parts()
}

/// The whole service: the API, the pages (`pages`, the web adapter's routes) and the
/// middleware every answer goes through.
pub fn router(state: SharedState, pages: Router<SharedState>) -> Router {
    let (api, document) = api(state.config.dev_mode);
    let document = Json(openapi::complete(document));
    api.route(
        "/api/v1/openapi.json",
        get(move || async move { document.clone() }),
    )
    .route("/healthz", get(health))
    .route("/readyz", get(ready))
    .route("/metrics", get(monitoring::scrape))
    .merge(oidc::router())
    .merge(pages)
    .fallback(not_found)
    .method_not_allowed_fallback(method_not_allowed)
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        idempotency::idempotency,
    ))
    // Outside the idempotency layer: a refused request claims no key, so its retry runs.
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        overload::limit,
    ))
    .layer(DefaultBodyLimit::max(64 * 1024))
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        headers::security_headers,
    ))
    .layer(axum::middleware::from_fn(language::negotiate_language))
    .layer(axum::middleware::from_fn(monitoring::track))
    .with_state(state)
    .layer(PropagateRequestIdLayer::new(REQUEST_ID))
    .layer(
        TraceLayer::new_for_http()
            .make_span_with(|request: &Request| {
                // The path template only: never a query string (links carry tokens).
                let path = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("unmatched", MatchedPath::as_str);
                let request_id = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::info_span!("http", method = %request.method(), path, request_id)
            })
            .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
    )
    .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Liveness and the database's reachability.
/// Readiness (for a load balancer): the database answers, its schema is the one this build
/// expects, and every projection is within `XUEXIN_READY_MAX_LAG` events of the log's head.
/// `503` names what is not ready; `/healthz` stays the liveness check.
async fn ready(State(state): State<SharedState>) -> impl IntoResponse {
    let mut reasons: Vec<String> = Vec::new();
    let head = match crate::store::log::head(&state.db).await {
        Ok(head) => Some(head),
        Err(error) => {
            tracing::warn!(error = format!("{error:#}"), "not ready: the database");
            reasons.push("database".into());
            None
        }
    };
    let mut lags = serde_json::Map::new();
    if head.is_some() {
        if let Err(error) = crate::store::check_schema(&state.db).await {
            tracing::warn!(error = format!("{error:#}"), "not ready: the schema");
            reasons.push("schema".into());
        }
        match crate::projector::lags(&state.db).await {
            Ok(found) => {
                for (name, lag) in found {
                    if lag > state.config.ready_max_lag {
                        reasons.push(format!("projection_lag:{name}"));
                    }
                    lags.insert(name.into(), lag.into());
                }
            }
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "not ready: projection lag");
                reasons.push("projections".into());
            }
        }
    }
    let status = if reasons.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(serde_json::json!({
            "status": if reasons.is_empty() { "ready" } else { "not_ready" },
            "reasons": reasons,
            "log_head": head,
            "max_lag": state.config.ready_max_lag,
            "projection_lag": lags,
        })),
    )
}

async fn health(State(state): State<SharedState>) -> impl IntoResponse {
    match crate::store::log::head(&state.db).await {
        Ok(head) => (
            StatusCode::OK,
            Json(
                serde_json::json!({"status": "ok", "backend": state.db.backend().as_str(), "log_head": head}),
            ),
        ),
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "unavailable"})),
            )
        }
    }
}

async fn not_found() -> Problem {
    Problem::new(ProblemKind::NotFound, "not_found")
}

async fn method_not_allowed() -> Problem {
    Problem::new(ProblemKind::MethodNotAllowed, "method_not_allowed")
}
