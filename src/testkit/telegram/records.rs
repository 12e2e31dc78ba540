//! What tests and the benchmark read back from the fake, and what they hand it: users, sent
//! messages, logged requests, callback answers, webhook status, faults. Plain data, serialisable
//! so the HTTP control API (`/_fake/...`) returns the same shapes as the Rust API.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::markup;

/// A Telegram user known to the fake (created with `add_user`, or learned from an injected update).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserHandle {
    /// User id, also the id of the private chat with the bot.
    pub id: i64,
    /// First name, as the bot sees it in `from`.
    pub first_name: String,
    /// IETF language tag of the user's Telegram client, if any.
    #[serde(default)]
    pub language_code: Option<String>,
}

/// One inline button of a sent message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Button {
    /// The label.
    pub text: String,
    /// `callback_data`, for callback buttons.
    pub callback_data: Option<String>,
    /// `url`, for link buttons.
    pub url: Option<String>,
}

/// A message the bot sent, as the recipient currently sees it (after edits; deleted messages are
/// gone).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SentMessage {
    /// Chat it was sent to.
    pub chat_id: i64,
    /// Its id in that chat.
    pub message_id: i64,
    /// Visible text after entity parsing (text messages).
    pub text: Option<String>,
    /// Visible caption after entity parsing (media messages).
    pub caption: Option<String>,
    /// Text or caption exactly as the bot sent it (with markup).
    pub raw_text: Option<String>,
    /// `parse_mode` the bot used.
    pub parse_mode: Option<String>,
    /// The inline keyboard, if any (other keyboards are never part of a `Message`).
    pub reply_markup: Option<Value>,
    /// Forum topic or reply thread.
    pub message_thread_id: Option<i64>,
    /// `photo`, `document` or `voice` for media messages.
    pub media: Option<String>,
    /// The media's `file_id`.
    pub file_id: Option<String>,
    /// Whether it was edited since it was sent.
    pub edited: bool,
    /// The full `Message` object, as getUpdates and callback queries show it.
    pub message: Value,
}

impl SentMessage {
    /// The inline buttons, row after row.
    pub fn buttons(&self) -> Vec<Button> {
        self.reply_markup
            .as_ref()
            .map(|markup| {
                markup::buttons(markup)
                    .map(|button| Button {
                        text: button["text"].as_str().unwrap_or("").to_owned(),
                        callback_data: button
                            .get("callback_data")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        url: button.get("url").and_then(Value::as_str).map(str::to_owned),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The `callback_data` of the button labelled `label`.
    pub fn callback_data(&self, label: &str) -> Option<String> {
        self.buttons()
            .into_iter()
            .find(|button| button.text == label)
            .and_then(|button| button.callback_data)
    }

    /// Text or caption, whichever the message has ("" when neither).
    pub fn visible_text(&self) -> &str {
        self.text
            .as_deref()
            .or(self.caption.as_deref())
            .unwrap_or("")
    }
}

/// Where a logged call came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestSource {
    /// An HTTP request to `/bot<token>/<method>`.
    Http,
    /// A method call carried in the bot's answer to a webhook POST.
    WebhookReply,
}

/// One Bot API call, logged before it is handled (rejected calls are logged too).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Request {
    /// Method name in Bot API spelling (`sendMessage`) when known, else as called.
    pub method: String,
    /// Decoded parameters as one JSON object (query, form and JSON bodies alike).
    pub params: Value,
    /// When it arrived, by the fake's clock.
    pub at: DateTime<Utc>,
    /// HTTP or webhook reply.
    pub source: RequestSource,
}

/// An accepted `answerCallbackQuery`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallbackAnswer {
    /// The query answered.
    pub callback_query_id: String,
    /// Toast or alert text.
    pub text: Option<String>,
    /// Alert instead of a toast.
    pub show_alert: bool,
    /// URL to open.
    pub url: Option<String>,
    /// Client-side cache time in seconds.
    pub cache_time: i64,
}

/// `getWebhookInfo`, typed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WebhookInfo {
    /// Webhook URL, `""` when polling.
    pub url: String,
    /// Always false here.
    pub has_custom_certificate: bool,
    /// Updates waiting for delivery.
    pub pending_update_count: usize,
    /// Parallel deliveries allowed.
    pub max_connections: Option<usize>,
    /// Unix time of the last failed delivery.
    pub last_error_date: Option<i64>,
    /// Why the last delivery failed.
    pub last_error_message: Option<String>,
    /// Update kinds subscribed to, when set.
    pub allowed_updates: Option<Vec<String>>,
}

/// A failure to inject into the next matching calls (see `FakeTelegram::fail_next`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// 429 `Too Many Requests: retry after N`, `parameters.retry_after` and a `Retry-After` header.
    TooManyRequests {
        /// Seconds.
        retry_after: u64,
    },
    /// Any Bot API error with its JSON body: status = `code`, `description` in full
    /// (e.g. 500 `Internal Server Error: …`, 403 `Forbidden: user is deactivated`).
    Api {
        /// HTTP status and `error_code`.
        code: u16,
        /// Full description.
        description: String,
    },
    /// A non-JSON HTML error page with this status, like the nginx front answers a 502.
    Html {
        /// HTTP status.
        status: u16,
    },
    /// Answer normally, but only after this long (a slow server; beyond the client's timeout it is
    /// a hang).
    Delay {
        /// Milliseconds.
        millis: u64,
    },
    /// Close the connection without answering; the call has no effect.
    DropConnection,
    /// Perform the call, then close the connection without answering (the bot cannot know that
    /// its message went out).
    LoseResponse,
}

impl Fault {
    /// 500 with `{"description":"Internal Server Error: …"}`.
    pub fn server_error() -> Fault {
        Fault::Api {
            code: 500,
            description: "Internal Server Error: fake outage".to_owned(),
        }
    }

    /// 502 with nginx's HTML page.
    pub fn bad_gateway_html() -> Fault {
        Fault::Html { status: 502 }
    }

    /// A slow answer.
    pub fn delay(by: Duration) -> Fault {
        Fault::Delay {
            millis: u64::try_from(by.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// The order in which webhook deliveries start across chats (per-chat order always holds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookOrder {
    /// Oldest pending update first.
    #[default]
    Fifo,
    /// The chat with the newest pending update first: updates of different chats arrive out of
    /// order, as they may with parallel connections.
    NewestChatFirst,
}

/// A control-API call that does not fit the fake's state (a bug in the test, not a Bot API error).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No such user.
    #[error("unknown user {0}")]
    UnknownUser(i64),
    /// No such chat.
    #[error("unknown chat {0}")]
    UnknownChat(i64),
    /// No such (undeleted) message in the chat.
    #[error("no message {message_id} in chat {chat_id}")]
    UnknownMessage {
        /// Chat.
        chat_id: i64,
        /// Message.
        message_id: i64,
    },
    /// The message has no inline button with this callback data or label.
    #[error("message {message_id} in chat {chat_id} has no button {button:?}")]
    NoSuchButton {
        /// Chat.
        chat_id: i64,
        /// Message.
        message_id: i64,
        /// Data or label looked for.
        button: String,
    },
    /// An injected update that is not a JSON object.
    #[error("an update must be a JSON object")]
    NotAnUpdate,
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
