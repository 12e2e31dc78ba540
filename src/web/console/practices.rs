//! Shared classroom practices: staff review what teachers shared, and the author is told.
//!
//! - `GET /console/practices?status=pending|approved|rejected|all`: the practices (pending
//!   by default), each with its words, district, school, class, photo and endorsements, and
//!   for a pending one the Approve / Reject forms with an optional note for the author.
//! - `POST /console/practices/{id}/approve` and `…/reject`: the review (a practice reviewed
//!   already is left as it is), then the author is told in their chat
//!   ([`crate::programme::practice::Notice::Reviewed`], once per practice).
//! - `GET /console/practices/{id}/photo`: the photo, served like a ticket's files (WhatsApp
//!   photos from the bytes kept, Telegram photos fetched from the Bot API on demand), as an
//!   image or not at all.
//!
//! Staff and admins ([`Area::Practices`]); forms carry the session's token ([`Posted`]).

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Console, ConsoleError, MessagePage, Posted, Staff, render};
use crate::conversation::programme::Delivery;
use crate::programme::Message;
use crate::programme::practice::{Notice, excerpt};
use crate::staff::Area;
use crate::store::Practice;
use crate::web::AppState;

/// Practices a page shows.
const SHOWN: i64 = 200;
/// The longest note kept.
const NOTE_CHARS: usize = 500;

/// This part's routes, merged into the console's.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/practices", get(list))
        .route("/console/practices/{id}/photo", get(photo))
        .route("/console/practices/{id}/{action}", post(review))
}

/// The list's filter.
#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    #[serde(default)]
    status: String,
}

/// `/console/practices`.
#[derive(Template)]
#[template(path = "console/practices.html")]
struct ListPage {
    staff: Staff,
    status: String,
    practices: Vec<Practice>,
}

/// `GET /console/practices`.
///
/// # Errors
///
/// Sign-in, role, store.
pub async fn list(
    state: Console,
    staff: Staff,
    Query(filter): Query<Filter>,
) -> Result<Response, ConsoleError> {
    staff.require(Area::Practices)?;
    let status = match filter.status.as_str() {
        "approved" | "rejected" | "all" => filter.status.clone(),
        _ => "pending".to_string(),
    };
    let wanted = (status != "all").then_some(status.as_str());
    let practices = state.conversations.store().practices(wanted, SHOWN).await?;
    Ok(render(&ListPage {
        staff,
        status,
        practices,
    }))
}

/// A review's form.
#[derive(Debug, Deserialize)]
pub struct ReviewForm {
    #[serde(default)]
    note: String,
}

/// `POST /console/practices/{id}/{approve|reject}`.
///
/// # Errors
///
/// Sign-in, role, token, an unknown action or practice, store.
pub async fn review(
    state: Console,
    Path((id, action)): Path<(String, String)>,
    posted: Posted<ReviewForm>,
) -> Result<Response, ConsoleError> {
    posted.staff.require(Area::Practices)?;
    let id: i64 = id.parse().map_err(|_| ConsoleError::NotFound)?;
    let approved = match action.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(ConsoleError::NotFound),
    };
    let note: String = posted.form.note.trim().chars().take(NOTE_CHARS).collect();
    let note = (!note.is_empty()).then_some(note);
    let store = state.conversations.store();
    let Some(practice) = store.practice(id).await? else {
        return Err(ConsoleError::NotFound);
    };
    let now = state.conversations.clock().now();
    let reviewed = store
        .review_practice(id, approved, posted.staff.user.id, note.as_deref(), now)
        .await?;
    if !reviewed {
        let page = MessagePage {
            title: "Reviewed already".into(),
            text: format!(
                "This practice was {} already; nothing was changed.",
                practice.status
            ),
            link: ("/console/practices".into(), "Back to practices".into()),
        };
        return Ok((StatusCode::CONFLICT, render(&page)).into_response());
    }
    tracing::info!(
        practice = id,
        user = posted.staff.user.id,
        approved,
        "practice reviewed"
    );
    if let Some(author) = store.teacher_recipient(practice.teacher_id).await? {
        let delivery = Delivery {
            to: author,
            occasion: format!("practice.reviewed.{id}"),
            message: Message::Practice(Notice::Reviewed {
                practice: id,
                what: excerpt(&practice.what),
                approved,
                note,
            }),
        };
        state.conversations.deliver(&[delivery]).await?;
    }
    Ok(Redirect::to("/console/practices").into_response())
}

/// `GET /console/practices/{id}/photo`.
///
/// # Errors
///
/// Sign-in, role, no such practice or photo, store. A photo not kept yet, or that Telegram
/// cannot give now, is a 503 page.
pub async fn photo(
    state: Console,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    staff.require(Area::Practices)?;
    let id: i64 = id.parse().map_err(|_| ConsoleError::NotFound)?;
    let store = state.conversations.store();
    let Some(practice) = store.practice(id).await? else {
        return Err(ConsoleError::NotFound);
    };
    let (Some(file_id), Some(channel)) = (practice.photo_file_id, practice.photo_channel) else {
        return Err(ConsoleError::NotFound);
    };
    let kept = store.kept_media(&channel, &file_id).await?;
    let bytes = match (kept, &state.telegram_api) {
        (Some(kept), _) => Some((kept.bytes, Some(kept.mime))),
        (None, Some(api)) if channel == crate::channel::telegram::CHANNEL => {
            match api.get_file(&file_id).await {
                Ok(path) => match api.download(&path).await {
                    Ok(bytes) => Some((bytes, None)),
                    Err(err) => {
                        tracing::warn!(practice = id, error = %err, "telegram photo not fetched");
                        None
                    }
                },
                Err(err) => {
                    tracing::warn!(practice = id, error = %err, "telegram photo not fetched");
                    None
                }
            }
        }
        (None, _) => None,
    };
    let Some((bytes, mime)) = bytes else {
        let page = MessagePage {
            title: "Not available yet".into(),
            text: "This photo is not available yet: it has not been downloaded from the \
                   teacher's chat app, or the app cannot give it now."
                .into(),
            link: ("/console/practices".into(), "Back to practices".into()),
        };
        return Ok((
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CACHE_CONTROL, "no-store")],
            render(&page),
        )
            .into_response());
    };
    // Only images are served as themselves; anything else is not shown.
    let served = match mime.as_deref().map(|m| {
        m.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    }) {
        None => "image/jpeg".to_string(),
        Some(m) if ["image/jpeg", "image/png", "image/webp"].contains(&m.as_str()) => m,
        Some(_) => return Err(ConsoleError::NotFound),
    };
    Ok((
        [
            (header::CONTENT_TYPE, served),
            (header::CONTENT_DISPOSITION, "inline".to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::CACHE_CONTROL, "private, max-age=3600".to_string()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".to_string(),
            ),
        ],
        bytes,
    )
        .into_response())
}
