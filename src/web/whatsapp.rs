//! `GET /whatsapp/webhook` (Meta's subscription handshake) and `POST /whatsapp/webhook` (every
//! message and status, several per request).
//!
//! A POST is checked against `X-Hub-Signature-256` over the raw bytes (401 and nothing stored
//! when missing or wrong), read ([`webhook::parse`]; 400 when it is no WhatsApp body), and every
//! event is stored in the inbox (unique on its wamid) before the 200: a crash before it makes
//! Meta deliver again and the inbox ignores the repeat. Each sender is resolved to the teacher's
//! conversation key through their identifiers (BSUID and phone number), so a teacher is never
//! keyed on a phone number alone and keeps their conversation when the number changes.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use subtle::ConstantTimeEq;

use super::AppState;
use crate::channel::InboundMessage;
use crate::channel::telegram::inbound::NOBODY;
use crate::channel::whatsapp::webhook::{self, Event};
use crate::channel::whatsapp::{CHANNEL, signature};
use crate::store::{Identity, StoreError};

/// The webhook routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/whatsapp/webhook", get(verify).post(receive))
}

/// Meta's handshake: echo `hub.challenge` when `hub.verify_token` is ours, else 403.
async fn verify(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(settings) = state.whatsapp.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let token = query.get("hub.verify_token").map_or("", String::as_str);
    let matches = !settings.verify_token.is_empty()
        && bool::from(token.as_bytes().ct_eq(settings.verify_token.as_bytes()));
    match (
        query.get("hub.mode").map(String::as_str),
        query.get("hub.challenge"),
    ) {
        (Some("subscribe"), Some(challenge)) if matches => {
            (StatusCode::OK, challenge.clone()).into_response()
        }
        _ => {
            tracing::warn!("whatsapp webhook verification refused");
            StatusCode::FORBIDDEN.into_response()
        }
    }
}

async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let Some(settings) = state.whatsapp.as_ref() else {
        return StatusCode::NOT_FOUND;
    };
    let given = headers.get(signature::HEADER).map(|v| v.as_bytes());
    if let Err(err) = signature::verify(settings.app_secret.as_bytes(), &body, given) {
        tracing::warn!(error = %err, bytes = body.len(), "whatsapp webhook refused");
        return StatusCode::UNAUTHORIZED;
    }
    let events = match webhook::parse(&body) {
        Ok(events) => events,
        Err(err) => {
            tracing::warn!(error = %err, bytes = body.len(), "whatsapp webhook body refused");
            return StatusCode::BAD_REQUEST;
        }
    };
    if let Some(throughput) = &state.whatsapp_throughput {
        let messages = events
            .iter()
            .filter(|e| !matches!(e.message, InboundMessage::Delivery { .. }))
            .count();
        throughput.count_inbound(messages);
    }
    match store(&state, events).await {
        Ok(()) => {
            state.conversations.kick();
            StatusCode::OK
        }
        Err(err) => {
            tracing::error!(error = %err, "whatsapp webhook not stored; Meta will deliver it again");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

/// Resolves every event's sender to a conversation (one lookup for the whole body) and stores
/// them all.
async fn store(state: &AppState, events: Vec<Event>) -> Result<(), StoreError> {
    let conversations = &state.conversations;
    let store = conversations.store();
    let now = conversations.clock().now();
    // Each event's identifiers, BSUID first; none: nobody's (e.g. an out-of-band error).
    let people: Vec<Option<Identity<'_>>> = events
        .iter()
        .map(|event| {
            let sender = event.sender.as_ref()?;
            let mut ids: Vec<(&str, &str)> = Vec::with_capacity(2);
            if let Some(user_id) = &sender.user_id {
                ids.push(("bsuid", user_id));
            }
            if let Some(wa_id) = &sender.wa_id {
                ids.push(("wa_id", wa_id));
            }
            let wrote = !matches!(event.message, InboundMessage::Delivery { .. });
            (!ids.is_empty()).then_some(Identity { ids, wrote })
        })
        .collect();
    let known: Vec<Identity<'_>> = people.iter().flatten().cloned().collect();
    let mut keys = store
        .resolve_identities(CHANNEL, &known, now)
        .await?
        .into_iter();
    let users: Vec<String> = people
        .iter()
        .map(|person| match person {
            Some(_) => keys.next().unwrap_or_else(|| NOBODY.to_string()),
            None => NOBODY.to_string(),
        })
        .collect();
    let mut inbound = Vec::with_capacity(events.len());
    for (event, user) in events.into_iter().zip(users) {
        if let Some(new) = &event.new_wa_id {
            // The teacher's new number reaches the same conversation from now on.
            store
                .record_alias(CHANNEL, new, &user, "wa_id", true, now)
                .await?;
            tracing::info!("whatsapp teacher changed number; conversation kept");
        }
        if let InboundMessage::Ignored { reason } = &event.message {
            tracing::debug!(%reason, "whatsapp event stored and skipped");
        }
        inbound.push((event.external_id, user, event.message));
    }
    conversations.receive_many(CHANNEL, &inbound).await?;
    Ok(())
}
