//! The web chat: a phone-like page at `/` and its two JSON routes. A channel like the others:
//! messages go into the inbox and replies are read from the outbox.
//!
//! - `POST /api/web/messages` `{user, id, text}` or `{user, id, choice, label}` → 202.
//! - `GET /api/web/messages?user=…&after=…&wait=…` → replies after the cursor, long-polling up
//!   to `wait` seconds; `after=0` returns the whole history, the teacher's messages included.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::AppState;
use crate::channel::{InboundMessage, OutboundMessage};
use crate::dialogue::Button;
use crate::store::StoreError;

/// The channel name in the store.
pub const CHANNEL: &str = "web";
/// Longest typed message accepted; longer ones get a 413 and a clear error.
const MAX_TEXT_CHARS: usize = 20_000;
/// Longest long-poll.
const MAX_WAIT_SECS: u64 = 25;

const PAGE: &str = include_str!("../../assets/chat.html");

/// The web chat routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(page))
        .route("/api/web/messages", get(poll).post(send))
}

async fn page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], Html(PAGE))
}

#[derive(Deserialize)]
struct SendBody {
    user: String,
    id: String,
    text: Option<String>,
    choice: Option<String>,
    label: Option<String>,
}

#[derive(Serialize)]
struct Problem {
    error: &'static str,
}

fn problem(status: StatusCode, error: &'static str) -> Response {
    (status, Json(Problem { error })).into_response()
}

async fn send(
    State(state): State<AppState>,
    body: Result<Json<SendBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(body)) = body else {
        return problem(
            StatusCode::BAD_REQUEST,
            "expected JSON {user, id, text} or {user, id, choice, label}",
        );
    };
    if !valid_id(&body.user) || !valid_id(&body.id) {
        return problem(
            StatusCode::BAD_REQUEST,
            "user and id must be 1-64 letters, digits, '-' or '_'",
        );
    }
    let message = match (body.text, body.choice) {
        (Some(text), None) if text.chars().count() > MAX_TEXT_CHARS => {
            return problem(StatusCode::PAYLOAD_TOO_LARGE, "message too long");
        }
        (Some(text), None) => InboundMessage::Text { text },
        (None, Some(id)) if id.len() <= 128 => InboundMessage::Choice {
            id,
            label: body.label.unwrap_or_default(),
            ack: None,
        },
        _ => {
            return problem(
                StatusCode::BAD_REQUEST,
                "send exactly one of text or choice",
            );
        }
    };
    let conversations = &state.conversations;
    match conversations
        .receive(CHANNEL, &body.id, &body.user, &message)
        .await
    {
        Ok(_) => {
            conversations.kick();
            (
                StatusCode::ACCEPTED,
                Json(serde_json::json!({ "accepted": true })),
            )
                .into_response()
        }
        Err(err) => {
            tracing::error!(error = %err, "web chat message not stored");
            problem(StatusCode::SERVICE_UNAVAILABLE, "not stored, try again")
        }
    }
}

#[derive(Deserialize)]
struct PollQuery {
    user: String,
    #[serde(default)]
    after: i64,
    #[serde(default)]
    wait: u64,
}

#[derive(Serialize)]
struct Poll {
    messages: Vec<ChatMessage>,
    cursor: i64,
}

#[derive(Serialize)]
struct ChatMessage {
    id: String,
    direction: &'static str,
    text: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    choices: Vec<ChoiceView>,
    lang: &'static str,
    dir: &'static str,
    at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    /// A picture shown above the text (a certificate), a path on this site.
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<String>,
}

#[derive(Serialize)]
struct ChoiceView {
    id: String,
    label: String,
}

impl From<&Button> for ChoiceView {
    fn from(b: &Button) -> ChoiceView {
        ChoiceView {
            id: b.id.clone(),
            label: b.label.clone(),
        }
    }
}

async fn poll(
    State(state): State<AppState>,
    query: Result<Query<PollQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(Query(query)) = query.ok().filter(|q| valid_id(&q.user)) else {
        return problem(StatusCode::BAD_REQUEST, "expected ?user=…&after=…&wait=…");
    };
    match read(&state, &query).await {
        Ok(poll) => Json(poll).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "web chat poll failed");
            problem(StatusCode::SERVICE_UNAVAILABLE, "try again")
        }
    }
}

async fn read(state: &AppState, query: &PollQuery) -> Result<Poll, StoreError> {
    let conversations = &state.conversations;
    let store = conversations.store();
    let mut changed = conversations.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(query.wait.min(MAX_WAIT_SECS));
    let outbox = loop {
        let rows = store
            .outbox_after(CHANNEL, &query.user, query.after, 200)
            .await?;
        if !rows.is_empty() || query.after == 0 {
            break rows;
        }
        if tokio::time::timeout_at(deadline, changed.changed())
            .await
            .is_err()
        {
            break rows;
        }
    };
    let cursor = outbox.last().map_or(query.after, |m| m.id);
    if let Some(last) = outbox.last() {
        store
            .mark_sent_up_to(CHANNEL, &query.user, last.id, conversations.clock().now())
            .await?;
    }
    let mut messages: Vec<(i64, u8, ChatMessage)> = outbox
        .iter()
        .filter_map(|m| {
            let out: OutboundMessage = serde_json::from_str(&m.payload).ok()?;
            // A picture's payload is a reply with its path (and a link for the caption).
            let photo = serde_json::from_str::<crate::channel::OutboundPhoto>(&m.payload).ok();
            let image = photo.as_ref().map(|p| p.photo.clone());
            let out = match photo {
                Some(p) => OutboundMessage {
                    reply: p.caption(Some("")),
                },
                None => out,
            };
            let lang = out.reply.lang;
            Some((
                m.created_at.timestamp_millis(),
                1,
                ChatMessage {
                    id: format!("o{}", m.id),
                    direction: "out",
                    text: out.reply.text,
                    choices: out.reply.choices.iter().map(ChoiceView::from).collect(),
                    lang: lang.code(),
                    dir: if lang.is_rtl() { "rtl" } else { "ltr" },
                    at: m.created_at.to_rfc3339(),
                    client_id: None,
                    image,
                },
            ))
        })
        .collect();
    if query.after == 0 {
        for event in store.inbound_history(CHANNEL, &query.user).await? {
            let Ok(message) = serde_json::from_str::<InboundMessage>(&event.payload) else {
                continue;
            };
            let text = match &message {
                InboundMessage::Choice { label, .. } if !label.is_empty() => label.clone(),
                other => other.transcript_text(),
            };
            messages.push((
                event.received_at.timestamp_millis(),
                0,
                ChatMessage {
                    id: format!("i{}", event.id),
                    direction: "in",
                    text,
                    choices: Vec::new(),
                    lang: "",
                    dir: "auto",
                    at: event.received_at.to_rfc3339(),
                    client_id: Some(event.external_id),
                    image: None,
                },
            ));
        }
        messages.sort_by_key(|(at, rank, _)| (*at, *rank));
    }
    Ok(Poll {
        messages: messages.into_iter().map(|(_, _, m)| m).collect(),
        cursor,
    })
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
