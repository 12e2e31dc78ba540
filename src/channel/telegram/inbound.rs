//! A classified Telegram update → the channel-neutral message the inbox stores. Pure.

use super::update::{Classified, Kind};
use crate::channel::InboundMessage;

/// The conversation key used for updates that belong to no teacher (ignored kinds).
pub const NOBODY: &str = "-";

/// The inbox entry for an update: `(external id, channel user, message)`.
#[must_use]
pub fn to_inbound(update: &Classified) -> (String, String, InboundMessage) {
    let external_id = update.update_id.to_string();
    let (user, message) = match &update.kind {
        Kind::Message {
            chat_id, message, ..
        } => (chat_id.to_string(), message.clone()),
        Kind::Callback {
            query_id,
            chat_id,
            data,
            label,
        } => (
            chat_id.to_string(),
            InboundMessage::Choice {
                id: data.clone().unwrap_or_default(),
                label: label.clone().unwrap_or_default(),
                ack: Some(query_id.clone()),
            },
        ),
        Kind::Blocked { chat_id } => (
            chat_id.to_string(),
            InboundMessage::Reachability { reachable: false },
        ),
        Kind::Unblocked { chat_id } => (
            chat_id.to_string(),
            InboundMessage::Reachability { reachable: true },
        ),
        Kind::Ignored(reason) => (
            NOBODY.to_string(),
            InboundMessage::Ignored {
                reason: (*reason).to_string(),
            },
        ),
        Kind::Unknown => (
            NOBODY.to_string(),
            InboundMessage::Ignored {
                reason: "unknown update kind".to_string(),
            },
        ),
    };
    (external_id, user, message)
}
