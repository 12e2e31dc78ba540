//! Channel adapters: they translate between a platform and Baithak's channel-neutral messages,
//! and nothing more.
//!
//! - [`InboundMessage`]: what a teacher sent, as stored in the inbox.
//! - [`OutboundMessage`]: what Baithak sends, as stored in the outbox.
//! - [`telegram`]: Telegram updates in, `sendMessage` calls out.
//! - [`whatsapp`]: WhatsApp Cloud API webhooks in (signature, every message type, statuses).
//! - [`dispatch`]: the outbox queue under each platform's dispatcher.
//! - [`split`]: long texts cut into messages at paragraph, line, sentence or word boundaries.
//! - [`terminal`]: the terminal chat (`baithak chat`).
//!
//! The web chat's HTTP routes live in `crate::web::chat`.

pub mod dispatch;
mod split;
pub mod telegram;
pub mod terminal;
pub mod whatsapp;

use serde::{Deserialize, Serialize};

pub use split::split;

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
        /// A platform acknowledgement the tap needs (Telegram's callback query id, which must
        /// be answered or the teacher's button keeps spinning).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ack: Option<String>,
    },
    /// The teacher blocked (`false`) or unblocked (`true`) the bot.
    Reachability {
        /// Whether messages can reach the teacher now.
        reachable: bool,
    },
    /// The teacher answered a re-engagement template ("reply to read it"): what waited for
    /// them goes out, and nothing else is said.
    Resume,
    /// An update Baithak stores but does not act on (an edited message, a post in a group, a
    /// kind it does not know), with the reason.
    Ignored {
        /// Why it is ignored.
        reason: String,
    },
    /// A photo, voice note, audio, video or document: kept for an expert when the teacher has
    /// a question open, otherwise answered like anything unreadable.
    Media {
        /// photo, voice, audio, video, `video_note`, document.
        kind: String,
        /// The platform's id of the file, to fetch it later.
        file_id: String,
        /// Words sent with it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
    },
    /// A message in a group: an expert writing in a ticket's topic when the group is the expert
    /// group, ignored otherwise.
    Group {
        /// The forum topic (`message_thread_id`), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thread: Option<i64>,
        /// Who wrote.
        from_id: i64,
        /// Their name, as the group shows it.
        from_name: String,
        /// What they wrote.
        text: String,
    },
    /// An expert's answer to one of the teacher's tickets, relayed by the helpdesk.
    ExpertAnswer {
        /// The ticket.
        ticket: String,
        /// The answer.
        text: String,
    },
    /// A CPD session that covers something the teacher asked, planned by programme staff and
    /// told in the teacher's conversation like an expert's answer.
    CpdNotice(crate::helpdesk::notice::CpdNotice),
    /// Something the programme says in this teacher's conversation (an announcement, a
    /// reminder, a broadcast, a certificate): see [`crate::programme`].
    Programme(crate::programme::Message),
    /// What became of a message Baithak sent (WhatsApp statuses: sent, delivered, read,
    /// failed), applied to the outbox row it belongs to.
    Delivery {
        /// The platform's id of the sent message (a wamid).
        message_id: String,
        /// sent, delivered, read, played, failed.
        status: String,
        /// The platform's error code, for a failure.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<i64>,
        /// Why it failed, in the platform's words.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Something Baithak cannot read (sticker, contact, location…).
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
            InboundMessage::Media {
                kind,
                file_id,
                caption,
            } => Input::Media {
                kind: kind.clone(),
                file_id: file_id.clone(),
                caption: caption.clone(),
            },
            InboundMessage::Unsupported { .. }
            | InboundMessage::Reachability { .. }
            | InboundMessage::Resume
            | InboundMessage::Group { .. }
            | InboundMessage::ExpertAnswer { .. }
            | InboundMessage::CpdNotice(_)
            | InboundMessage::Programme(_)
            | InboundMessage::Delivery { .. }
            | InboundMessage::Ignored { .. } => Input::Unsupported,
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
            InboundMessage::Choice { id, label, ack } => InboundMessage::Choice {
                id: clean(id),
                label: clean(label),
                ack: ack.clone(),
            },
            InboundMessage::Unsupported { kind } => {
                InboundMessage::Unsupported { kind: clean(kind) }
            }
            InboundMessage::Media {
                kind,
                file_id,
                caption,
            } => InboundMessage::Media {
                kind: clean(kind),
                file_id: clean(file_id),
                caption: caption.as_deref().map(clean),
            },
            other => other.clone(),
        }
    }

    /// What the transcript shows for it.
    #[must_use]
    pub fn transcript_text(&self) -> String {
        match self {
            InboundMessage::Text { text } => text.clone(),
            InboundMessage::Choice { id, label, .. } if label.is_empty() => format!("[{id}]"),
            InboundMessage::Choice { label, .. } => format!("[{label}]"),
            InboundMessage::Unsupported { kind } => format!("<{kind}>"),
            InboundMessage::Media { kind, caption, .. } => match caption {
                Some(caption) => format!("<{kind}> {caption}"),
                None => format!("<{kind}>"),
            },
            InboundMessage::Group { text, .. } => format!("<group> {text}"),
            InboundMessage::ExpertAnswer { ticket, text } => format!("<expert, {ticket}> {text}"),
            InboundMessage::CpdNotice(notice) => format!("<CPD notice, plan {}>", notice.plan),
            InboundMessage::Programme(message) => message.transcript_text(),
            InboundMessage::Reachability { reachable: true } => "<unblocked>".to_string(),
            InboundMessage::Reachability { reachable: false } => "<blocked>".to_string(),
            InboundMessage::Resume => "<resume>".to_string(),
            InboundMessage::Ignored { reason } => format!("<ignored: {reason}>"),
            InboundMessage::Delivery {
                message_id, status, ..
            } => format!("<{status}: {message_id}>"),
        }
    }
}

/// An outbox payload: a message for a teacher, or a platform acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Outbound {
    /// Answer a Telegram callback query (stops the button's spinner).
    Ack {
        /// The callback query id.
        answer_callback: String,
    },
    /// Open a forum topic for a ticket in the expert group and post the question there.
    Topic {
        /// The ticket.
        ticket: String,
        /// The topic's title.
        name: String,
        /// The question and its context.
        text: String,
    },
    /// Post into a ticket's topic in the expert group (a follow-up, a reply to an expert).
    InTopic {
        /// The ticket.
        ticket: String,
        /// The words (a caption for a file).
        text: String,
        /// A photo, voice note or document to pass on: `(kind, file id)`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<(String, String)>,
    },
    /// Show a picture with a caption (a certificate); before [`Outbound::Message`], which
    /// would take it for a plain reply.
    Photo(OutboundPhoto),
    /// Show a reply (last: untagged, it is tried after the variants with a `ticket`).
    Message(OutboundMessage),
}

/// A picture for a teacher with the reply as its caption (the outbox payload). Its paths are
/// on Baithak's public site: a channel that fetches pictures by URL (Telegram, WhatsApp)
/// makes them absolute with the public URL, and without one sends the caption alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundPhoto {
    /// The picture's path (`/certificates/{code}.png`).
    pub photo: String,
    /// A page the caption points to (`/verify/{code}`).
    pub link: String,
    /// The caption and buttons.
    #[serde(flatten)]
    pub reply: Reply,
}

impl OutboundPhoto {
    /// The picture's URL under `public_url`.
    #[must_use]
    pub fn photo_url(&self, public_url: &str) -> String {
        format!("{}{}", public_url.trim_end_matches('/'), self.photo)
    }

    /// The caption with the link under `public_url` on a line of its own, when there is one.
    #[must_use]
    pub fn caption(&self, public_url: Option<&str>) -> Reply {
        let mut reply = self.reply.clone();
        if let Some(base) = public_url {
            reply.text = format!(
                "{}\n{}{}",
                reply.text,
                base.trim_end_matches('/'),
                self.link
            );
        }
        reply
    }
}

/// A message for a teacher (the outbox payload).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// The reply, rendered by each channel its own way.
    #[serde(flatten)]
    pub reply: Reply,
}
