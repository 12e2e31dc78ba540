//! Public certificate pages, no sign-in: `GET /verify/{code}` (valid: name, what for, when;
//! unknown: a 404 page saying it is not a Baithak certificate), `GET /verify` (a form, or
//! `?code=` from it), and `GET /certificates/{code}.png` (the picture sent in the chat, in the
//! teacher's language, cacheable: a certificate never changes). Codes are read however they
//! are typed (case, spaces, hyphen).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::AppState;
use crate::certificate::{self, Certificate};
use crate::content::Content;
use crate::language::Lang;
use crate::programme::pathways::PREFIX;
use crate::store::{CertificateRecord, StoreError};

/// The public certificate routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/verify", get(form))
        .route("/verify/{code}", get(page))
        .route("/certificates/{file}", get(picture))
}

#[derive(Template)]
#[template(path = "verify.html")]
struct VerifyPage {
    found: bool,
    code: String,
    name: String,
    title: String,
    issued: String,
}

#[derive(Deserialize)]
struct FormQuery {
    #[serde(default)]
    code: Option<String>,
}

async fn form(State(state): State<AppState>, Query(query): Query<FormQuery>) -> Response {
    match query
        .code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(code) => show(&state, code).await,
        None => html(StatusCode::OK, &empty("")),
    }
}

async fn page(State(state): State<AppState>, Path(code): Path<String>) -> Response {
    show(&state, &code).await
}

fn empty(code: &str) -> VerifyPage {
    VerifyPage {
        found: false,
        code: code.chars().take(20).collect(),
        name: String::new(),
        title: String::new(),
        issued: String::new(),
    }
}

async fn show(state: &AppState, typed: &str) -> Response {
    match state.conversations.store().certificate_record(typed).await {
        Ok(record) => {
            let content = state.conversations.content().get();
            let page = VerifyPage {
                found: true,
                name: record.name.clone().unwrap_or_default(),
                title: title(&content, &record.module, Lang::En),
                issued: certificate::format_date(local_date(&content, &record), Lang::En),
                code: record.code,
            };
            html(StatusCode::OK, &page)
        }
        Err(StoreError::NotFound) => html(StatusCode::NOT_FOUND, &empty(typed.trim())),
        Err(err) => {
            tracing::warn!(error = %err, "certificate check: database error");
            (StatusCode::SERVICE_UNAVAILABLE, "try again in a minute").into_response()
        }
    }
}

async fn picture(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(code) = file.strip_suffix(".png") else {
        return (StatusCode::NOT_FOUND, "no such picture").into_response();
    };
    let record = match state.conversations.store().certificate_record(code).await {
        Ok(record) => record,
        Err(StoreError::NotFound) => {
            return (StatusCode::NOT_FOUND, "not a Baithak certificate").into_response();
        }
        Err(err) => {
            tracing::warn!(error = %err, "certificate picture: database error");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again in a minute").into_response();
        }
    };
    let base = state.conversations.public_url().map_or_else(
        || {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}")
        },
        str::to_string,
    );
    let content = state.conversations.content().get();
    let certificate = certificate_for(&content, &record, &base);
    match tokio::task::spawn_blocking(move || certificate::render_png(&certificate)).await {
        Ok(Ok(png)) => (
            [
                (header::CONTENT_TYPE, "image/png"),
                (header::CACHE_CONTROL, "public, max-age=604800, immutable"),
            ],
            png,
        )
            .into_response(),
        Ok(Err(err)) => {
            tracing::error!(error = %err, "certificate picture failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "picture failed").into_response()
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "picture failed").into_response(),
    }
}

/// What a certificate shows, in the teacher's language; `base` is the site's URL.
#[must_use]
pub fn certificate_for(content: &Content, record: &CertificateRecord, base: &str) -> Certificate {
    let lang = Lang::parse(&record.language).unwrap_or_default();
    let text = |key: &str| {
        content
            .dialogues
            .texts
            .get(key)
            .map_or_else(|| key.to_string(), |t| t.get(lang).to_string())
    };
    let pathway = record.module.starts_with(PREFIX);
    let date = certificate::format_date(local_date(content, record), lang);
    Certificate {
        lang,
        heading: text(if pathway {
            "certificate_heading_pathway"
        } else {
            "certificate_heading"
        }),
        certifies: text("certificate_certifies"),
        name: record.name.clone().unwrap_or_default(),
        completed: text(if pathway {
            "certificate_completed_pathway"
        } else {
            "certificate_completed"
        }),
        title: title(content, &record.module, lang),
        issued: text("certificate_issued").replace("{date}", &date),
        code_label: text("certificate_code_label"),
        code: record.code.clone(),
        verify_url: format!("{}/verify/{}", base.trim_end_matches('/'), record.code),
    }
}

/// A module's or pathway's title in `lang`.
fn title(content: &Content, module: &str, lang: Lang) -> String {
    content
        .programme
        .pathways
        .title_of(module, &content.dialogues, lang)
}

/// The day of issue in the programme's time zone.
fn local_date(content: &Content, record: &CertificateRecord) -> chrono::NaiveDate {
    record
        .issued_at
        .with_timezone(&content.helpdesk.timezone)
        .date_naive()
}

fn html(status: StatusCode, page: &VerifyPage) -> Response {
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "verify page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "page failed to render").into_response()
        }
    }
}
