//! `POST /telegram/webhook`: Telegram delivers one update per request.
//!
//! The secret header is checked in constant time (401 and nothing stored on a mismatch); a body
//! that is not an update gets 400; everything else is stored in the inbox and only then
//! acknowledged with 200, so a crash before the 200 makes Telegram deliver again, and the
//! inbox ignores the repeat. <https://core.telegram.org/bots/api#setwebhook>

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use subtle::ConstantTimeEq;

use super::AppState;
use crate::channel::telegram::CHANNEL;
use crate::channel::telegram::inbound::to_inbound;
use crate::channel::telegram::update::classify;

/// The header Telegram puts the webhook secret in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// The webhook route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/telegram/webhook", post(webhook))
}

async fn webhook(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let Some(secret) = state.telegram_secret.as_deref() else {
        return StatusCode::NOT_FOUND;
    };
    let given = headers.get(SECRET_HEADER).map_or(&[][..], |v| v.as_bytes());
    if !bool::from(given.ct_eq(secret.as_bytes())) {
        tracing::warn!("telegram webhook with a wrong or missing secret refused");
        return StatusCode::UNAUTHORIZED;
    }
    let update = match classify(&body) {
        Ok(update) => update,
        Err(err) => {
            tracing::warn!(error = %err, bytes = body.len(), "telegram webhook body refused");
            return StatusCode::BAD_REQUEST;
        }
    };
    let (external_id, user, message) = to_inbound(&update);
    match state
        .conversations
        .receive(CHANNEL, &external_id, &user, &message)
        .await
    {
        Ok(_) => {
            state.conversations.kick();
            StatusCode::OK
        }
        Err(err) => {
            tracing::error!(error = %err, "telegram update not stored; Telegram will deliver it again");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}
