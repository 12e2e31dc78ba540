//! Telegram: what arrives (an `Update`, by webhook or long polling) and what we send (a reply
//! as `sendMessage` calls). Translation only; decisions stay in the engine.
//!
//! - [`update`]: raw update JSON → [`update::Kind`], tolerant of kinds and fields we do not know.
//! - [`inbound`]: a classified update → the inbox entry.
//! - [`render`]: a reply → HTML text parts and an inline keyboard within Telegram's limits.
//! - [`client`]: the Bot API calls and their errors.
//! - [`polling`]: the `getUpdates` loop feeding the inbox (the webhook route is in `web`).
//! - [`dispatch`]: the outbox dispatcher: order per chat, rate limits, retries.

pub mod client;
pub mod dispatch;
pub mod inbound;
pub mod polling;
pub mod render;
pub mod update;

/// The channel name in the store.
pub const CHANNEL: &str = "telegram";

/// Telegram settings, from `TELEGRAM_*` variables.
#[derive(Clone)]
pub struct TelegramSettings {
    /// The bot token (secret).
    pub token: String,
    /// The Bot API base URL (the official one, a local Bot API server, or a test fake).
    pub api_url: String,
    /// How updates arrive.
    pub mode: Mode,
    /// The secret Telegram echoes in `X-Telegram-Bot-Api-Secret-Token` (webhook mode).
    pub webhook_secret: Option<String>,
    /// Sending limits.
    pub limits: RateLimits,
    /// The experts' forum supergroup: each ticket opens a topic there, and what experts write
    /// in a topic goes to the teacher.
    pub expert_group: Option<i64>,
}

impl std::fmt::Debug for TelegramSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramSettings")
            .field("token", &"***")
            .field("api_url", &self.api_url)
            .field("mode", &self.mode)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "***"),
            )
            .field("limits", &self.limits)
            .finish()
    }
}

/// How updates arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Telegram POSTs each update to `/telegram/webhook`.
    Webhook,
    /// Baithak long-polls `getUpdates`.
    Polling,
}

/// Sending limits (Telegram's FAQ: about 30 messages a second overall, one a second per
/// chat with short bursts). Zero turns a limit off (for load tests against a fake).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Messages per second, all chats together.
    pub global_per_second: u32,
    /// Messages per second to one chat.
    pub per_chat_per_second: u32,
    /// Messages one chat may get at once before its per-second limit applies.
    pub per_chat_burst: u32,
}

impl Default for RateLimits {
    fn default() -> RateLimits {
        RateLimits {
            global_per_second: 30,
            per_chat_per_second: 1,
            per_chat_burst: 3,
        }
    }
}
