//! The auditor's pages, read-only: the global log with filters (time, actor, aggregate, event
//! type) and paging, exported as CSV or JSON; an account's history across its aggregates; any
//! aggregate's state as of a time; the hash chain's check and its findings.

use super::gate::{shown_time, staff_page};
use super::records::{csv_cell, csv_download};
use crate::audit::{AuditEvent, EventFilter};
use crate::state::SharedState;
use axum::extract::{Path, Query, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use xuexin_domain::roles::StaffRole;
use xuexin_domain::Timestamp;

use super::super::page::{read_failed, render, Chrome};

const AUDITOR: &[StaffRole] = &[StaffRole::Auditor];
/// Events a page of the log shows.
const PAGE: i64 = 50;
/// Events an export holds at most.
const EXPORT: i64 = 1000;

#[derive(Deserialize, Default, Serialize, Clone)]
pub struct LogQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    aggregate_type: String,
    #[serde(default)]
    aggregate_id: String,
    #[serde(default)]
    event_type: String,
    #[serde(default)]
    after: i64,
}

/// A `datetime-local` value (Beijing time) as a time.
fn beijing(value: &str) -> Option<Timestamp> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let seconds = if value.len() == 16 { ":00" } else { "" };
    Timestamp::parse_rfc3339(&format!("{value}{seconds}+08:00"))
}

fn some(value: &str) -> Option<String> {
    Some(value.trim().to_string()).filter(|v| !v.is_empty())
}

impl LogQuery {
    fn filter(&self, limit: i64) -> EventFilter {
        EventFilter {
            after: self.after.max(0),
            limit,
            aggregate_type: some(&self.aggregate_type),
            aggregate_id: some(&self.aggregate_id),
            event_type: some(&self.event_type),
            actor: some(&self.actor),
            from: beijing(&self.from),
            to: beijing(&self.to),
        }
    }

    fn with_after(&self, after: i64) -> String {
        let mut query = self.clone();
        query.after = after;
        serde_urlencoded::to_string(&query).unwrap_or_default()
    }
}

#[derive(Serialize)]
struct Line {
    position: i64,
    time: String,
    actor: String,
    actor_history: Option<String>,
    aggregate_type: String,
    aggregate_id: String,
    as_of: String,
    event_type: String,
}

fn line(event: AuditEvent) -> Line {
    let actor = event.actor.unwrap_or_default();
    // An actor that is an account (a person or a staff member) links to its history.
    let actor_history = actor
        .split_once(':')
        .map(|(_, id)| id)
        .filter(|id| xuexin_domain::AccountId::parse(id).is_some())
        .map(|id| format!("/staff/audit/accounts/{id}"));
    Line {
        position: event.position,
        time: shown_time(event.time.as_deref()),
        actor,
        actor_history,
        aggregate_type: event.aggregate_type,
        as_of: format!(
            "/staff/audit/as-of?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("aggregate_id", &event.aggregate_id)
                .finish()
        ),
        aggregate_id: event.aggregate_id,
        event_type: event.event_type,
    }
}

/// 审计日志: the log, filtered, a page at a time.
#[tracing::instrument(skip_all)]
pub async fn log(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(query): Query<LogQuery>,
) -> Response {
    let (csrf, _) = match staff_page(&state, &headers, "/staff/audit", AUDITOR).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let events = match crate::audit::events(&state.db, &query.filter(PAGE)).await {
        Ok(events) => events,
        Err(error) => return read_failed(error, "the audit log"),
    };
    let next = (events.len() as i64 == PAGE)
        .then(|| {
            events
                .last()
                .map(|e| format!("/staff/audit?{}", query.with_after(e.position)))
        })
        .flatten();
    let first = (query.after > 0).then(|| format!("/staff/audit?{}", query.with_after(0)));
    let export = query.with_after(0);
    let page = render(
        StatusCode::OK,
        "staff_audit.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.audit.title", "/staff/audit", &csrf, true),
            query => query,
            events => events.into_iter().map(line).collect::<Vec<_>>(),
            next => next,
            first => first,
            csv => format!("/staff/audit/export.csv?{export}"),
            json => format!("/staff/audit/export.json?{export}"),
        },
    );
    csrf.keep(&state, page)
}

async fn export_events(
    state: &SharedState,
    headers: &HeaderMap,
    path: &str,
    query: &LogQuery,
) -> Result<Vec<AuditEvent>, Response> {
    staff_page(state, headers, path, AUDITOR).await?;
    crate::audit::events(&state.db, &query.filter(EXPORT))
        .await
        .map_err(|error| read_failed(error, "an audit export"))
}

/// The filtered log as CSV (UTF-8 with a BOM), at most 1000 events from `after`.
#[tracing::instrument(skip_all)]
pub async fn export_csv(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(query): Query<LogQuery>,
) -> Response {
    let events = match export_events(&state, &headers, "/staff/audit/export.csv", &query).await {
        Ok(events) => events,
        Err(answer) => return answer,
    };
    let mut csv = String::from(
        "\u{feff}position,time,actor,aggregate_type,aggregate_id,sequence,event_type,event_version,request_id,payload\r\n",
    );
    for e in events {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\r\n",
            e.position,
            csv_cell(e.time.as_deref().unwrap_or("")),
            csv_cell(e.actor.as_deref().unwrap_or("")),
            csv_cell(&e.aggregate_type),
            csv_cell(&e.aggregate_id),
            e.sequence,
            csv_cell(&e.event_type),
            csv_cell(&e.event_version),
            csv_cell(e.request_id.as_deref().unwrap_or("")),
            csv_cell(&e.payload.to_string()),
        ));
    }
    csv_download(csv, "audit.csv")
}

/// The filtered log as JSON (the API's event objects), at most 1000 events from `after`.
#[tracing::instrument(skip_all)]
pub async fn export_json(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(query): Query<LogQuery>,
) -> Response {
    let events = match export_events(&state, &headers, "/staff/audit/export.json", &query).await {
        Ok(events) => events,
        Err(answer) => return answer,
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"audit.json\""),
            ),
        ],
        serde_json::to_string_pretty(&events).unwrap_or_default(),
    )
        .into_response()
}

/// An account's history across its aggregates.
#[tracing::instrument(skip_all)]
pub async fn account(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(account_id): Path<String>,
) -> Response {
    let (csrf, _) = match staff_page(&state, &headers, "/staff/audit", AUDITOR).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let events = match crate::audit::account_history(&state.db, &account_id).await {
        Ok(events) => events,
        Err(error) => return read_failed(error, "an account's history"),
    };
    let page = render(
        StatusCode::OK,
        "staff_audit_account.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.audit.account_title", "/staff/audit", &csrf, true),
            account => account_id,
            events => events.into_iter().map(line).collect::<Vec<_>>(),
        },
    );
    csrf.keep(&state, page)
}

#[derive(Deserialize, Default)]
pub struct AsOfQuery {
    #[serde(default)]
    aggregate_id: String,
    #[serde(default)]
    at: String,
}

/// Any aggregate's state as of a time (the events up to it, folded).
#[tracing::instrument(skip_all)]
pub async fn as_of(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(query): Query<AsOfQuery>,
) -> Response {
    let (csrf, _) = match staff_page(&state, &headers, "/staff/audit/as-of", AUDITOR).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let id = query.aggregate_id.trim();
    let mut status = StatusCode::OK;
    let mut error = None;
    let mut result = None;
    if !id.is_empty() {
        let at = if query.at.trim().is_empty() {
            Some(state.clock.now())
        } else {
            beijing(&query.at)
        };
        match (at, crate::audit::aggregate_type_of(&state.db, id).await) {
            (None, _) => {
                status = StatusCode::UNPROCESSABLE_ENTITY;
                error = Some(crate::messages::text("web.staff.asof.bad_time"));
            }
            (_, Err(e)) => return read_failed(e, "an aggregate's type"),
            (_, Ok(None)) => {
                status = StatusCode::NOT_FOUND;
                error = Some(crate::messages::text("web.staff.asof.not_found"));
            }
            (Some(at), Ok(Some(kind))) => match crate::audit::as_of(&state.db, &kind, id, at).await
            {
                Ok(Some(found)) => {
                    result = Some(minijinja::context! {
                        aggregate_type => found.aggregate_type,
                        version => found.version,
                        last_event_at => shown_time(found.last_event_at.as_deref()),
                        as_of => shown_time(Some(&found.as_of)),
                        state => serde_json::to_string_pretty(&found.state).unwrap_or_default(),
                    })
                }
                Ok(None) => {
                    status = StatusCode::NOT_FOUND;
                    error = Some(crate::messages::text("web.staff.asof.not_found"));
                }
                Err(e) => return read_failed(e, "an aggregate as of a time"),
            },
        }
    }
    let page = render(
        status,
        "staff_asof.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.asof.title", "/staff/audit/as-of", &csrf, true),
            aggregate_id => id,
            at => query.at.trim(),
            result => result,
            error => error,
        },
    );
    csrf.keep(&state, page)
}

/// The chain check's page: a button, and (after it ran) its result.
#[tracing::instrument(skip_all)]
pub async fn chain(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let (csrf, _) = match staff_page(&state, &headers, "/staff/audit/chain", AUDITOR).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let page = render(
        StatusCode::OK,
        "staff_chain.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.chain.title", "/staff/audit/chain", &csrf, true),
            report => None::<()>,
        },
    );
    csrf.keep(&state, page)
}

#[derive(Deserialize)]
pub struct ChainForm {
    #[serde(default)]
    csrf: String,
}

/// Runs the chain check (it reads every event; nothing is written).
#[tracing::instrument(skip_all)]
pub async fn chain_run(
    State(state): State<SharedState>,
    headers: HeaderMap,
    axum::extract::Form(form): axum::extract::Form<ChainForm>,
) -> Response {
    let (csrf, _) =
        match super::gate::staff_form(&state, &headers, &form.csrf, "/staff/audit/chain", AUDITOR)
            .await
        {
            Ok(found) => found,
            Err(answer) => return answer,
        };
    let report = match crate::audit::verify(&state.db, |_| {}).await {
        Ok(report) => report,
        Err(error) => return read_failed(error, "the chain check"),
    };
    let page = render(
        StatusCode::OK,
        "staff_chain.html",
        minijinja::context! {
            chrome => Chrome::new("web.staff.chain.title", "/staff/audit/chain", &csrf, true),
            report => report,
            intact => report_intact(&report),
        },
    );
    csrf.keep(&state, page)
}

fn report_intact(report: &crate::audit::VerifyReport) -> bool {
    report.findings.is_empty()
}
