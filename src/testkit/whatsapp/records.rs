//! What tests and the benchmark hand the fake and read back from it: users, modes, faults, the
//! parsed record of every send, logged requests, webhook attempts and posted statuses. Plain
//! data, serialisable, so logs can be printed or compared as JSON.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A WhatsApp user known to the fake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaUser {
    /// Phone number as WhatsApp writes it (`16505551234`); `None` for a user who hides it
    /// behind a username and is known only by their BSUID (fixture wa20).
    pub wa_id: Option<String>,
    /// Business-scoped user id (`US.13491208655302741918`), when the user has one.
    pub bsuid: Option<String>,
    /// Profile name (`contacts[].profile.name`).
    pub name: String,
    /// `contacts[].profile.username` (`@sheena.teaches`), when set.
    pub username: Option<String>,
}

impl WaUser {
    /// The id the fake files this user under: the phone number, or the BSUID when there is none.
    /// [`FakeWhatsApp::sent_to`](super::FakeWhatsApp::sent_to) takes either.
    pub fn address(&self) -> &str {
        self.wa_id
            .as_deref()
            .or(self.bsuid.as_deref())
            .unwrap_or_default()
    }
}

/// Which status webhooks the fake posts after accepting a send.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusMode {
    /// None at all (a phone that is off).
    None,
    /// `sent` only.
    Sent,
    /// `sent`, then `delivered`.
    #[default]
    SentDelivered,
    /// `sent`, `delivered`, then `read`.
    SentDeliveredRead,
    /// `sent`, then `read` without `delivered`: Meta skips `delivered` when both happen at once
    /// (platform facts §2.5).
    SentRead,
}

/// When the fake reports an error Meta may report either way (platform facts §2.7: 131047 is
/// seen both as a synchronous 400 and as an accepted send followed by a `failed` status).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorTiming {
    /// Refuse the send at once: HTTP 400 with the Graph error.
    #[default]
    Immediate,
    /// Accept it (`200`, a wamid), then post a `failed` status with the error (fixture wa14b).
    LaterStatus,
}

/// How sends outside the 24-hour window fail (an [`ErrorTiming`]).
pub type WindowMode = ErrorTiming;

/// A status of an outbound message (`statuses[].status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaStatus {
    /// Left Meta's servers.
    Sent,
    /// Reached the phone.
    Delivered,
    /// Opened.
    Read,
    /// A voice message was played.
    Played,
    /// Will never be delivered.
    Failed,
}

impl WaStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            WaStatus::Sent => "sent",
            WaStatus::Delivered => "delivered",
            WaStatus::Read => "read",
            WaStatus::Played => "played",
            WaStatus::Failed => "failed",
        }
    }
}

/// What a user sends with [`FakeWhatsApp::send_media`](super::FakeWhatsApp::send_media).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    /// A photo (`image/jpeg`).
    Image,
    /// A video (`video/mp4`).
    Video,
    /// An audio file (`audio`, `voice: false`).
    Audio,
    /// A voice note (`audio`, `voice: true`, `audio/ogg; codecs=opus`, fixture wa06).
    Voice,
    /// A PDF (`document` with `filename`).
    Document,
    /// A sticker (`image/webp`).
    Sticker,
}

impl MediaKind {
    /// `messages[].type` for this kind.
    pub fn message_type(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio | MediaKind::Voice => "audio",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
        }
    }

    /// The MIME type WhatsApp reports for it.
    pub fn mime_type(self) -> &'static str {
        match self {
            MediaKind::Image => "image/jpeg",
            MediaKind::Video => "video/mp4",
            MediaKind::Audio | MediaKind::Voice => "audio/ogg; codecs=opus",
            MediaKind::Document => "application/pdf",
            MediaKind::Sticker => "image/webp",
        }
    }
}

/// A reply button of a sent interactive message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaButton {
    /// `reply.id`, what comes back in `button_reply.id`.
    pub id: String,
    /// `reply.title`, the label.
    pub title: String,
}

/// A row of a sent list message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaListRow {
    /// Title of the section the row is in.
    pub section: Option<String>,
    /// Row id, what comes back in `list_reply.id`.
    pub id: String,
    /// Row title.
    pub title: String,
    /// Row description.
    pub description: Option<String>,
}

/// A template send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaTemplate {
    /// Template name.
    pub name: String,
    /// `language.code`.
    pub language: String,
    /// Text of the body parameters, in order.
    pub parameters: Vec<String>,
}

/// Media in a send, by id or link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaMedia {
    /// Media id, when sent by id.
    pub id: Option<String>,
    /// URL, when sent by link.
    pub link: Option<String>,
    /// Caption.
    pub caption: Option<String>,
    /// Document file name.
    pub filename: Option<String>,
}

/// A reaction the business sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaReaction {
    /// The message reacted to.
    pub message_id: String,
    /// The emoji; empty removes the reaction.
    pub emoji: String,
}

/// How the Graph API answered a send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SendOutcome {
    /// `200` with a wamid; delivered as far as the fake is concerned.
    Accepted,
    /// An error reply; nothing reached the user.
    Refused {
        /// HTTP status.
        http_status: u16,
        /// `error.code`.
        code: i64,
        /// `error.message`, e.g. `(#131047) Re-engagement message`.
        message: String,
    },
    /// `200` with a wamid, then a `failed` status webhook.
    Failed {
        /// `errors[].code` of the status.
        code: i64,
        /// `errors[].title` of the status.
        title: String,
    },
}

/// One send to a user (`POST /{version}/{phone_number_id}/messages`), parsed. Refused sends are
/// recorded too (with the recipient they named), so a predicate should look at
/// [`outcome`](Self::outcome) when it matters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SentWa {
    /// The user's address: phone number, or BSUID for `recipient` sends.
    pub to: String,
    /// `type`: `text`, `interactive`, `template`, `image`, `audio`, `document`, `video`,
    /// `sticker`, `reaction`, `location` …
    pub message_type: String,
    /// `interactive.type`: `button` or `list`.
    pub interactive_type: Option<String>,
    /// Text body, interactive body text, or media caption.
    pub text: Option<String>,
    /// Interactive header text.
    pub header: Option<String>,
    /// Interactive footer text.
    pub footer: Option<String>,
    /// Reply buttons.
    pub buttons: Vec<WaButton>,
    /// A list's `action.button` label.
    pub list_button: Option<String>,
    /// A list's rows, all sections.
    pub rows: Vec<WaListRow>,
    /// Template name, language and parameters.
    pub template: Option<WaTemplate>,
    /// Media by id or link.
    pub media: Option<WaMedia>,
    /// Reaction.
    pub reaction: Option<WaReaction>,
    /// `context.message_id`: the message this one replies to.
    pub reply_to: Option<String>,
    /// The wamid the fake answered with, when it accepted the send.
    pub wamid: Option<String>,
    /// Accepted, refused, or accepted and failed later.
    pub outcome: SendOutcome,
    /// The last status webhook queued for it.
    pub status: Option<WaStatus>,
    /// When it arrived, by the fake's clock.
    pub at: DateTime<Utc>,
    /// The request body as sent.
    pub request: Value,
}

impl SentWa {
    /// Whether the API answered 200 with a wamid (even if a `failed` status followed).
    pub fn is_accepted(&self) -> bool {
        !matches!(self.outcome, SendOutcome::Refused { .. })
    }

    /// The error code of a refused or failed send.
    pub fn error_code(&self) -> Option<i64> {
        match &self.outcome {
            SendOutcome::Accepted => None,
            SendOutcome::Refused { code, .. } | SendOutcome::Failed { code, .. } => Some(*code),
        }
    }

    /// The text the user reads: body, caption, or "" when there is none.
    pub fn visible_text(&self) -> &str {
        self.text.as_deref().unwrap_or_default()
    }

    /// The id of the button titled `title`.
    pub fn button_id(&self, title: &str) -> Option<&str> {
        self.buttons
            .iter()
            .find(|button| button.title == title)
            .map(|button| button.id.as_str())
    }
}

/// One HTTP request to the fake (Graph calls and media downloads), logged as it came, with the
/// status the fake answered (`None` when the connection was cut or is still open).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Request {
    /// `GET`, `POST` …
    pub method: String,
    /// The path, e.g. `/v23.0/106540352242922/messages`.
    pub path: String,
    /// The JSON body (`null` when empty or not JSON).
    pub body: Value,
    /// Whether the bearer token was the valid one.
    pub authorized: bool,
    /// HTTP status of the answer.
    pub status: Option<u16>,
    /// When it arrived, by the fake's clock.
    pub at: DateTime<Utc>,
}

/// One webhook POST attempt.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WebhookAttempt {
    /// Identity of the webhook being delivered (the same for its retries; a duplicate sent on
    /// purpose has its own).
    pub delivery: u64,
    /// 1 for the first try, 2 for the first retry …
    pub attempt: u32,
    /// Where it went.
    pub url: String,
    /// The exact body.
    pub body: String,
    /// The `X-Hub-Signature-256` header sent, if any.
    pub signature: Option<String>,
    /// The webhook's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why no status: timeout, connection refused …
    pub error: Option<String>,
    /// When the attempt started, by the fake's clock.
    pub at: DateTime<Utc>,
}

impl WebhookAttempt {
    /// Meta counts only `200` as delivered (platform facts §2.10).
    pub fn delivered(&self) -> bool {
        self.status == Some(200)
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// A status webhook the fake queued (each also appears in the attempts once posted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PostedStatus {
    /// The business message it is about.
    pub wamid: String,
    /// The status.
    pub status: WaStatus,
    /// The user's address.
    pub recipient: String,
    /// `errors[].code` of a `failed` status.
    pub error_code: Option<i64>,
    /// When it was queued, by the fake's clock.
    pub at: DateTime<Utc>,
}

/// A deliberately bad signature on the next webhook attempts, so a test can check that Baithak
/// refuses them (platform facts §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tamper {
    /// `X-Hub-Signature-256` computed with another secret.
    WrongSignature,
    /// No `X-Hub-Signature-256` header.
    MissingSignature,
}

/// A failure to inject into the next matching Graph calls (see `FakeWhatsApp::fail_next`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// A Graph error envelope: `message` `(#code) title`, `error_data.details` `message`.
    Api {
        /// HTTP status.
        http_status: u16,
        /// `error.code`.
        code: i64,
        /// Short title, e.g. `Rate limit hit`.
        title: String,
        /// Becomes `error_data.details`.
        message: String,
    },
    /// Any body with any status, sent as is (e.g. `200` with an `error` object).
    Raw {
        /// HTTP status.
        http_status: u16,
        /// The body.
        body: Value,
    },
    /// A 5xx: Graph's transient error JSON (`code` 2, `is_transient`) or, with `json: false`,
    /// a bare text page like a failing proxy serves.
    Http5xx {
        /// HTTP status, 500–599.
        status: u16,
        /// JSON envelope or plain text.
        json: bool,
    },
    /// Answer normally, after this long.
    Delay {
        /// Milliseconds.
        millis: u64,
    },
    /// Close the connection without answering; the call has no effect.
    Drop,
    /// Perform the call, then close the connection without answering (the send happened, the
    /// bot cannot know).
    LoseResponse,
}

impl Fault {
    /// A Graph error with a WhatsApp code, HTTP 400.
    pub fn api(code: i64, title: &str, details: &str) -> Fault {
        Fault::Api {
            http_status: 400,
            code,
            title: title.to_owned(),
            message: details.to_owned(),
        }
    }

    /// 130429 exactly as fixture `wa_resp_error_130429_throughput.json`.
    pub fn throughput() -> Fault {
        Fault::Raw {
            http_status: 400,
            body: super::error::GraphError::throughput().body(),
        }
    }

    /// 190 exactly as fixture `wa_resp_error_190_token_expired.json` (HTTP 401).
    pub fn token_expired() -> Fault {
        Fault::Raw {
            http_status: 401,
            body: super::error::GraphError::token_expired().body(),
        }
    }

    /// 503 with Graph's transient JSON.
    pub fn unavailable() -> Fault {
        Fault::Http5xx {
            status: 503,
            json: true,
        }
    }

    /// A slow answer.
    pub fn delay(by: Duration) -> Fault {
        Fault::Delay {
            millis: u64::try_from(by.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// What Baithak answered to the subscription handshake (`GET ?hub.mode=subscribe&…`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifyOutcome {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: String,
    /// The challenge the fake sent.
    pub challenge: String,
}

impl VerifyOutcome {
    /// `200` with exactly the challenge, as Meta requires (platform facts §2.1).
    pub fn accepted(&self) -> bool {
        self.status == 200 && self.body == self.challenge
    }
}

/// A control call that does not fit the fake's state (a bug in the test, not a Graph error).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No user with this phone number or BSUID.
    #[error("unknown user {0}")]
    UnknownUser(String),
    /// A user with this address exists already.
    #[error("user {0} exists already")]
    UserExists(String),
    /// The user has no phone number (a BSUID-only user cannot change numbers).
    #[error("user {0} has no phone number")]
    NoPhoneNumber(String),
    /// No accepted message to the user offers this button or row.
    #[error("no message to {to} offers {what}")]
    NothingToPress {
        /// The user.
        to: String,
        /// Which button or row, and what was offered instead.
        what: String,
    },
    /// No accepted send has this wamid.
    #[error("no accepted message {0}")]
    UnknownMessage(String),
    /// Raw webhook content that is not a JSON object.
    #[error("a webhook body must be a JSON object")]
    NotAnEnvelope,
    /// No webhook URL is set.
    #[error("no webhook URL is set")]
    NoWebhook,
    /// The handshake request failed.
    #[error("webhook request failed: {0}")]
    Http(String),
}

/// A wait that ran out of time.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("timed out after {waited:?} waiting for {what}")]
pub struct WaitError {
    /// What was awaited, with what was seen instead.
    pub what: String,
    /// How long.
    pub waited: Duration,
}
