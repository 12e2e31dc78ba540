//! Channel adapters: they translate between a platform and Baithak's channel-neutral messages,
//! and nothing more.
//!
//! - [`InboundMessage`]: what a teacher sent, as stored in the inbox.
//! - [`OutboundMessage`]: what Baithak sends, as stored in the outbox.
//! - [`telegram`]: Telegram updates in, `sendMessage` calls out.
//! - [`terminal`]: the terminal chat (`baithak chat`).
//!
//! The web chat's HTTP routes live in `crate::web::chat`.

pub mod telegram;
pub mod terminal;

use serde::{Deserialize, Serialize};

use crate::dialogue::{Input, Reply};

/// A teacher's message in channel-neutral form (the inbox payload).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InboundMessage {
    /// Typed text.
    Text {
        /// What was typed.
        text: String,
    },
    /// A tapped button.
    Choice {
        /// The button id the engine gave.
        id: String,
        /// The label the teacher saw, for the transcript.
        #[serde(default)]
        label: String,
    },
    /// Something Baithak cannot read yet (sticker, photo, voice note…).
    Unsupported {
        /// What it was.
        kind: String,
    },
}

impl InboundMessage {
    /// The engine input for this message.
    #[must_use]
    pub fn to_input(&self) -> Input {
        match self {
            InboundMessage::Text { text } => Input::Text(text.clone()),
            InboundMessage::Choice { id, .. } => Input::Choice(id.clone()),
            InboundMessage::Unsupported { .. } => Input::Unsupported,
        }
    }

    /// The message without control characters (NUL and friends; line breaks and tabs stay),
    /// which some databases refuse and no teacher means to send.
    #[must_use]
    pub fn sanitized(&self) -> InboundMessage {
        let clean = |s: &str| -> String {
            s.chars()
                .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
                .collect()
        };
        match self {
            InboundMessage::Text { text } => InboundMessage::Text { text: clean(text) },
            InboundMessage::Choice { id, label } => InboundMessage::Choice {
                id: clean(id),
                label: clean(label),
            },
            InboundMessage::Unsupported { kind } => {
                InboundMessage::Unsupported { kind: clean(kind) }
            }
        }
    }

    /// What the transcript shows for it.
    #[must_use]
    pub fn transcript_text(&self) -> String {
        match self {
            InboundMessage::Text { text } => text.clone(),
            InboundMessage::Choice { id, label } if label.is_empty() => format!("[{id}]"),
            InboundMessage::Choice { label, .. } => format!("[{label}]"),
            InboundMessage::Unsupported { kind } => format!("<{kind}>"),
        }
    }
}

/// A message for a teacher (the outbox payload).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// The reply, rendered by each channel its own way.
    #[serde(flatten)]
    pub reply: Reply,
}
