//! A faithful fake of the Telegram Bot API server, for tests and for `baithak bench telegram`.
//!
//! **What it owns.** One bot on an axum server at `127.0.0.1:0`, with everything the real server
//! would remember for it: users (started the bot? blocked it?), private chats, groups and forum
//! supergroups with their topics, a message store per chat (for edits, replies, deletes and
//! callback queries), the update queue with its `update_id` sequence, webhook settings and
//! delivery status, and a log of every request.
//!
//! **What it fakes, faithfully.** `/bot<token>/<method>` with case-insensitive method names, GET
//! or POST, query/form/JSON parameters; `{"ok":…}` envelopes with HTTP status = `error_code` and a
//! `Retry-After` header on 429; the methods in [`METHODS`] with the real server's validation and
//! exact error texts (empty or over-long text after HTML entity parsing, tdlib's HTML parser
//! errors, keyboard rules, `BUTTON_DATA_INVALID`, unknown chats, blocked users, users who never
//! wrote, stale callback queries, unmodified edits, missing threads, closed topics, migrated
//! groups); `getUpdates` with offset confirmation, negative offsets, `limit`, `allowed_updates`,
//! real long polling and the two 409 conflicts; webhook delivery with the secret header, tdlib's
//! retry schedule, per-chat ordering and `max_connections`; 24-hour update retention on an
//! injectable [`Clock`]; optional flood control (1 msg/s per private chat with bursts of 3,
//! 20/min per group, 30/s overall).
//!
//! **What it does not do.** No MTProto, TLS, file uploads (`multipart/form-data` is refused; send
//! `file_id` strings or URLs), inline mode, payments, polls or games; Markdown parse modes are not
//! validated; entities are not auto-detected in plain text (no `bot_command`/`url` entities in
//! sent messages); `copyMessage`/`forwardMessage` copy text and media only. A few error texts that
//! no source could confirm are marked "inferred" in the `methods` submodule.
//!
//! **Control API.** [`FakeTelegram`] methods act as users and inspect what the bot did (in
//! process, no HTTP needed); the same controls are served as JSON under `/_fake/` (see `server`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use baithak::testkit::telegram::{FakeTelegram, FakeTelegramOptions};
//!
//! let telegram = FakeTelegram::start(FakeTelegramOptions::default()).await?;
//! let anna = telegram.add_user(1001, "Anna", Some("en"));
//! telegram.send_text(&anna, "/start")?;
//! // … the bot under test polls `{api_url}/bot{token}/getUpdates` and answers …
//! let reply = telegram
//!     .wait_for(anna.id, |m| m.visible_text().contains("Welcome"), Duration::from_secs(5))
//!     .await?;
//! telegram.press(&anna, reply.message_id, "menu:grading")?;
//! # Ok(()) }
//! ```

mod control;
mod error;
mod html;
mod limits;
mod markup;
mod methods;
mod params;
mod records;
mod server;
mod state;
mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::clock::Clock;
use control::{GroupKind, Shared};
use state::{Bot, Settings, State};

pub use methods::METHODS;
pub use records::{
    Button, CallbackAnswer, ControlError, Fault, Request, RequestSource, SentMessage, UserHandle,
    WaitError, WebhookInfo, WebhookOrder,
};

/// The default bot token (the id before the colon is the bot's user id).
pub const DEFAULT_TOKEN: &str = "7172552019:AAFakeTokenForBaithakTests-01234567";

/// How to start a [`FakeTelegram`].
#[derive(Clone, Debug)]
pub struct FakeTelegramOptions {
    /// The bot token clients must use; the digits before `:` become the bot's user id.
    pub token: String,
    /// The bot's `first_name` in `getMe` and in `from` of its messages.
    pub bot_first_name: String,
    /// The bot's `username`.
    pub bot_username: String,
    /// Where `date`s and update expiry come from; a manual clock lets tests jump 24 hours.
    pub clock: Clock,
    /// One webhook backoff unit: 1 s on Telegram (pauses of 2, 4, 8 … 60 units; a bot's
    /// `Retry-After: N` waits N units). Tests use milliseconds.
    pub webhook_backoff_base: Duration,
    /// How long a webhook POST may take before it counts as failed.
    pub webhook_timeout: Duration,
    /// Realistic flood control (429 `Too Many Requests: retry after N`).
    pub rate_limits: bool,
    /// Refuse inline buttons with two action fields (Telegram keeps the first one silently).
    pub strict_buttons: bool,
    /// First `update_id`; random (like Telegram's) when `None`.
    pub first_update_id: Option<i64>,
    /// Callback queries older than this can no longer be answered; Telegram's limit is not
    /// documented, so by default there is none.
    pub callback_query_ttl: Option<Duration>,
}

impl Default for FakeTelegramOptions {
    fn default() -> Self {
        FakeTelegramOptions {
            token: DEFAULT_TOKEN.to_owned(),
            bot_first_name: "Baithak Helpdesk".to_owned(),
            bot_username: "baithak_helpdesk_bot".to_owned(),
            clock: Clock::System,
            webhook_backoff_base: Duration::from_secs(1),
            webhook_timeout: Duration::from_secs(60),
            rate_limits: false,
            strict_buttons: true,
            first_update_id: None,
            callback_query_ttl: None,
        }
    }
}

/// A running fake Bot API server. Cheap to clone; the server stops when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct FakeTelegram {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    addr: SocketAddr,
    clock: Clock,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl FakeTelegram {
    /// Binds `127.0.0.1:0` and starts serving (and delivering webhooks). Needs a Tokio runtime.
    ///
    /// # Errors
    ///
    /// When the port cannot be bound.
    pub async fn start(options: FakeTelegramOptions) -> std::io::Result<FakeTelegram> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let bot = Bot {
            id: options
                .token
                .split_once(':')
                .and_then(|(id, _)| id.parse().ok())
                .unwrap_or(7_172_552_019),
            first_name: options.bot_first_name.clone(),
            username: options.bot_username.clone(),
        };
        let settings = Settings {
            strict_buttons: options.strict_buttons,
            callback_query_ttl: options.callback_query_ttl,
            webhook_backoff_base: options.webhook_backoff_base,
        };
        let first_update_id = options
            .first_update_id
            .unwrap_or_else(|| rand::random_range(100_000_000..800_000_000));
        let state = State::new(
            settings,
            options.clock.clone(),
            bot,
            first_update_id,
            options.rate_limits,
        );
        // Webhooks go to loopback bots over plain HTTP; never through a proxy from the environment.
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(options.webhook_timeout)
            .build()
            .unwrap_or_default();
        let shared = Arc::new(Shared::new(state, options.token, client));
        let tasks = vec![
            tokio::spawn(server::serve(listener, shared.clone())),
            tokio::spawn(webhook::run(shared.clone())),
        ];
        Ok(FakeTelegram {
            inner: Arc::new(Inner {
                shared,
                addr,
                clock: options.clock,
                tasks,
            }),
        })
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// The API base without a trailing slash: clients call `{api_url}/bot{token}/{Method}`
    /// (teloxide: `Bot::set_api_url`).
    pub fn api_url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// The bot token.
    pub fn token(&self) -> &str {
        &self.shared().token
    }

    /// `{api_url}/bot{token}`, the prefix of every method URL.
    pub fn bot_url(&self) -> String {
        format!("{}/bot{}", self.api_url(), self.token())
    }

    /// The bot's user id.
    pub fn bot_id(&self) -> i64 {
        self.shared().lock().bot.id
    }

    /// The clock the fake reads.
    pub fn clock(&self) -> Clock {
        self.inner.clock.clone()
    }

    // ---- the world ------------------------------------------------------------------------------

    /// Creates (or renames) a Telegram user. The user has not written to the bot yet, so the bot
    /// cannot message them until they [`send_text`](Self::send_text).
    pub fn add_user(&self, id: i64, first_name: &str, language_code: Option<&str>) -> UserHandle {
        self.shared().add_user(id, first_name, language_code)
    }

    /// Creates a forum supergroup (`is_forum`), where the bot is an admin that may manage topics.
    /// Returns its id (use a negative `-100…` id, like Telegram's).
    pub fn create_forum_group(&self, chat_id: i64, title: &str) -> i64 {
        self.shared().create_group(chat_id, title, GroupKind::Forum)
    }

    /// Creates a supergroup without topics.
    pub fn create_supergroup(&self, chat_id: i64, title: &str) -> i64 {
        self.shared()
            .create_group(chat_id, title, GroupKind::Supergroup)
    }

    /// Creates a basic group.
    pub fn create_group(&self, chat_id: i64, title: &str) -> i64 {
        self.shared().create_group(chat_id, title, GroupKind::Basic)
    }

    /// Grants or withdraws the bot's right to manage topics in a forum.
    ///
    /// # Errors
    ///
    /// Unknown chat.
    pub fn set_topic_rights(
        &self,
        chat_id: i64,
        can_manage_topics: bool,
    ) -> Result<(), ControlError> {
        self.shared().set_topic_rights(chat_id, can_manage_topics)
    }

    /// Makes `getFile` and `/file/bot<token>/<path>` serve `bytes` for `file_id`.
    pub fn add_file(&self, file_id: &str, bytes: Vec<u8>) {
        self.shared().add_file(file_id, bytes);
    }

    // ---- users acting -------------------------------------------------------------------------------

    /// The user types `text` to the bot (a `/command` gets its `bot_command` entity). A user who
    /// blocked the bot unblocks it first, like Telegram's "Restart". Returns the `update_id`.
    ///
    /// # Errors
    ///
    /// Unknown user.
    pub fn send_text(&self, user: &UserHandle, text: &str) -> Result<i64, ControlError> {
        self.shared().send_text(user.id, text)
    }

    /// The user writes in a group or forum, optionally inside topic `thread_id`.
    ///
    /// # Errors
    ///
    /// Unknown user or chat.
    pub fn send_text_in(
        &self,
        chat_id: i64,
        user: &UserHandle,
        text: &str,
        thread_id: Option<i64>,
    ) -> Result<i64, ControlError> {
        self.shared()
            .send_text_in(chat_id, user.id, text, thread_id)
    }

    /// Queues a raw update (e.g. a fixture) with a fresh `update_id`; the chats, users, messages,
    /// topics and files it mentions become known. Returns the `update_id`.
    ///
    /// # Errors
    ///
    /// Not a JSON object.
    pub fn send_update(&self, update: Value) -> Result<i64, ControlError> {
        self.shared().send_update(update, false)
    }

    /// Like [`send_update`](Self::send_update) but keeps the update's own `update_id` (later ids
    /// continue above it).
    ///
    /// # Errors
    ///
    /// Not a JSON object.
    pub fn send_update_keep_id(&self, update: Value) -> Result<i64, ControlError> {
        self.shared().send_update(update, true)
    }

    /// The user presses the callback button with `callback_data` under the bot's message in their
    /// private chat. Returns the new `callback_query.id`.
    ///
    /// # Errors
    ///
    /// Unknown user or message, or no such button on it.
    pub fn press(
        &self,
        user: &UserHandle,
        message_id: i64,
        callback_data: &str,
    ) -> Result<String, ControlError> {
        self.shared()
            .press(user.id, user.id, message_id, callback_data)
    }

    /// Like [`press`](Self::press) for a message in any chat (e.g. an expert in a forum topic).
    ///
    /// # Errors
    ///
    /// Unknown user, chat or message, or no such button on it.
    pub fn press_in(
        &self,
        chat_id: i64,
        user: &UserHandle,
        message_id: i64,
        callback_data: &str,
    ) -> Result<String, ControlError> {
        self.shared()
            .press(chat_id, user.id, message_id, callback_data)
    }

    /// The user presses the button labelled `label` on the newest bot message that shows it.
    ///
    /// # Errors
    ///
    /// No such button in the user's chat.
    pub fn press_label(&self, user: &UserHandle, label: &str) -> Result<String, ControlError> {
        self.shared().press_label(user.id, label)
    }

    /// The user blocks the bot: later sends fail with 403 and the bot gets `my_chat_member`
    /// (member → kicked). Returns the `update_id`.
    ///
    /// # Errors
    ///
    /// Unknown user.
    pub fn block(&self, user: &UserHandle) -> Result<i64, ControlError> {
        self.shared().set_blocked(user.id, true)
    }

    /// The user unblocks the bot (`my_chat_member` kicked → member).
    ///
    /// # Errors
    ///
    /// Unknown user.
    pub fn unblock(&self, user: &UserHandle) -> Result<i64, ControlError> {
        self.shared().set_blocked(user.id, false)
    }

    // ---- what the bot did -------------------------------------------------------------------------

    /// The bot's messages in a chat as they look now (edits applied, deletions gone), oldest
    /// first. For a user, `sent_to(user.id)` is what they see from the bot.
    pub fn sent_to(&self, chat_id: i64) -> Vec<SentMessage> {
        self.shared().sent_to(chat_id)
    }

    /// Every call made so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared().requests()
    }

    /// Calls of one method (Bot API spelling, e.g. `sendMessage`).
    pub fn requests_to(&self, method: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|request| request.method.eq_ignore_ascii_case(method))
            .collect()
    }

    /// Accepted `answerCallbackQuery` calls.
    pub fn callback_answers(&self) -> Vec<CallbackAnswer> {
        self.shared().callback_answers()
    }

    /// What `getWebhookInfo` would say.
    pub fn webhook_info(&self) -> WebhookInfo {
        self.shared().webhook_info()
    }

    /// Updates not yet confirmed (polling) or delivered (webhook).
    pub fn pending_updates(&self) -> usize {
        self.shared().lock().queue.len()
    }

    /// getUpdates calls being answered right now; 1 while the bot's long poll waits.
    pub fn long_polls_in_progress(&self) -> usize {
        self.shared().lock().polls_in_progress
    }

    /// Waits until the bot has a message in `chat_id` that satisfies `predicate`. Wakes on every
    /// change, never polls.
    ///
    /// # Errors
    ///
    /// None appeared within `deadline`; the error lists what was there.
    pub async fn wait_for(
        &self,
        chat_id: i64,
        mut predicate: impl FnMut(&SentMessage) -> bool,
        deadline: Duration,
    ) -> Result<SentMessage, WaitError> {
        self.wait_until(deadline, |telegram| {
            telegram
                .sent_to(chat_id)
                .into_iter()
                .find(|message| predicate(message))
        })
        .await
        .map_err(|error| {
            let seen: Vec<String> = self
                .sent_to(chat_id)
                .iter()
                .map(|message| format!("{:?}", message.visible_text()))
                .collect();
            WaitError {
                what: format!(
                    "a matching message in chat {chat_id}; it has [{}]",
                    seen.join(", ")
                ),
                waited: error.waited,
            }
        })
    }

    /// The bot's messages in `chat_id` with an id above `after`, oldest first.
    #[must_use]
    pub fn sent_after(&self, chat_id: i64, after: i64) -> Vec<SentMessage> {
        self.shared().sent_after(chat_id, after)
    }

    /// Waits until the bot has sent `chat_id` a message with an id above `after` and returns the
    /// bot's messages there that are newer than `after`, oldest first. Wakes only when a bot call
    /// names this chat (in `chat_id`), so thousands of concurrent waiters stay cheap; meant for
    /// private chats, where the chat id is the user id.
    ///
    /// # Errors
    ///
    /// Nothing new within `deadline`.
    pub async fn wait_for_new(
        &self,
        chat_id: i64,
        after: i64,
        deadline: Duration,
    ) -> Result<Vec<SentMessage>, WaitError> {
        let watcher = self.shared().chat_watcher(chat_id);
        let end = Instant::now() + deadline;
        let newer = |telegram: &FakeTelegram| {
            let found = telegram.shared().sent_after(chat_id, after);
            (!found.is_empty()).then_some(found)
        };
        loop {
            let notified = watcher.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(found) = newer(self) {
                return Ok(found);
            }
            if tokio::time::timeout_at(end, notified).await.is_err() {
                return newer(self).ok_or_else(|| WaitError {
                    what: format!("a bot message in chat {chat_id} after message {after}"),
                    waited: deadline,
                });
            }
        }
    }

    /// Waits until `check` returns `Some`, re-checking after every change to the fake.
    ///
    /// # Errors
    ///
    /// `check` still says `None` after `deadline`.
    pub async fn wait_until<T>(
        &self,
        deadline: Duration,
        mut check: impl FnMut(&FakeTelegram) -> Option<T>,
    ) -> Result<T, WaitError> {
        let end = Instant::now() + deadline;
        loop {
            let notified = self.shared().observed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(found) = check(self) {
                return Ok(found);
            }
            if tokio::time::timeout_at(end, notified).await.is_err() {
                return check(self).ok_or_else(|| WaitError {
                    what: "a condition on the fake Telegram".to_owned(),
                    waited: deadline,
                });
            }
        }
    }

    // ---- faults, order, time --------------------------------------------------------------------------

    /// The next `count` calls of `method` (any case; `"*"` for every method) fail with `fault`.
    pub fn fail_next(&self, method: &str, count: u32, fault: Fault) {
        self.shared().fail_next(method, None, count, fault);
    }

    /// Like [`fail_next`](Self::fail_next), only for calls whose `chat_id` is `chat_id`.
    pub fn fail_next_in_chat(&self, chat_id: i64, method: &str, count: u32, fault: Fault) {
        self.shared().fail_next(method, Some(chat_id), count, fault);
    }

    /// The next `count` injected updates are queued twice with the same `update_id` (Telegram
    /// redelivers after a lost acknowledgement; the bot must deduplicate).
    pub fn duplicate_next_updates(&self, count: u32) {
        self.shared().mutate(|state| state.duplicate_next += count);
    }

    /// Chooses the cross-chat order of webhook deliveries.
    pub fn set_webhook_order(&self, order: WebhookOrder) {
        self.shared().mutate(|state| {
            state.webhook_order = order;
            state.touch_queue();
        });
    }

    /// Turns realistic flood control on or off.
    pub fn set_rate_limits(&self, enabled: bool) {
        self.shared()
            .mutate(|state| state.limiter.enabled = enabled);
    }

    /// Moves a manual clock forward (message dates, 24-hour update expiry, 48-hour delete window,
    /// flood-control refills). The system clock ignores this.
    pub fn advance_clock(&self, by: chrono::Duration) {
        self.shared().advance_clock(by);
    }
}
