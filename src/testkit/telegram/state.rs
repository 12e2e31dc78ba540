//! Everything the fake server remembers, behind one mutex: the bot, users, chats with their
//! message stores and forum topics, the update queue, webhook settings, the request log, pending
//! callback queries, faults and flood-control buckets.
//!
//! Locking rule: the mutex is a `std::sync::Mutex` held for short, synchronous sections only, never
//! across an `.await`.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::error::ApiError;
use super::limits::RateLimiter;
use super::params::Params;
use super::records::{CallbackAnswer, Fault, Request, SentMessage, WebhookInfo, WebhookOrder};
use crate::clock::Clock;

/// Updates are kept at most this long (Bot API "Getting updates").
const UPDATE_RETENTION_HOURS: i64 = 24;

/// Update kinds left out when `allowed_updates` is not set or empty (Bot API `getUpdates`).
const NOT_BY_DEFAULT: &[&str] = &["chat_member", "message_reaction", "message_reaction_count"];

/// The longest webhook retry pause, in backoff units (`WEBHOOK_MAX_RESEND_TIMEOUT`).
const MAX_BACKOFF_UNITS: u32 = 60;

/// The longest honoured `Retry-After` from the bot, in seconds.
const MAX_RETRY_AFTER: u64 = 3600;

/// The bot's own account.
#[derive(Clone, Debug)]
pub(crate) struct Bot {
    pub id: i64,
    pub first_name: String,
    pub username: String,
}

/// A Telegram account other than the bot.
#[derive(Clone, Debug)]
pub(crate) struct User {
    pub id: i64,
    pub first_name: String,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub language_code: Option<String>,
    pub is_bot: bool,
    /// Has written to the bot (so the bot may write back).
    pub started: bool,
    /// Has blocked the bot.
    pub blocked: bool,
}

/// Chat types of the Bot API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChatKind {
    Private,
    Group,
    Supergroup,
    Channel,
}

impl ChatKind {
    fn parse(text: &str) -> ChatKind {
        match text {
            "group" => ChatKind::Group,
            "supergroup" => ChatKind::Supergroup,
            "channel" => ChatKind::Channel,
            _ => ChatKind::Private,
        }
    }

    fn name(self) -> &'static str {
        match self {
            ChatKind::Private => "private",
            ChatKind::Group => "group",
            ChatKind::Supergroup => "supergroup",
            ChatKind::Channel => "channel",
        }
    }
}

/// A forum topic (its name and colour live in its `forum_topic_created` service message).
#[derive(Clone, Debug)]
pub(crate) struct Topic {
    pub closed: bool,
}

/// A message in a chat's store. `json` is always the current `Message` object.
#[derive(Clone, Debug)]
pub(crate) struct Stored {
    pub by_bot: bool,
    pub date: i64,
    pub json: Value,
    pub raw_text: Option<String>,
    pub parse_mode: Option<String>,
}

/// A chat and what happened in it.
#[derive(Clone, Debug)]
pub(crate) struct Chat {
    pub id: i64,
    pub kind: ChatKind,
    pub title: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub is_forum: bool,
    pub bot_can_manage_topics: bool,
    pub migrated_to: Option<i64>,
    pub next_message_id: i64,
    pub messages: BTreeMap<i64, Stored>,
    pub topics: BTreeMap<i64, Topic>,
}

impl Chat {
    pub fn new(id: i64, kind: ChatKind) -> Chat {
        Chat {
            id,
            kind,
            title: None,
            first_name: None,
            last_name: None,
            username: None,
            is_forum: false,
            bot_can_manage_topics: true,
            migrated_to: None,
            next_message_id: 1,
            messages: BTreeMap::new(),
            topics: BTreeMap::new(),
        }
    }

    /// The `Chat` object inside a `Message`.
    pub fn json(&self) -> Value {
        let mut chat = json!({ "id": self.id });
        for (key, value) in [
            ("title", &self.title),
            ("first_name", &self.first_name),
            ("last_name", &self.last_name),
            ("username", &self.username),
        ] {
            if let Some(value) = value {
                chat[key] = json!(value);
            }
        }
        chat["type"] = json!(self.kind.name());
        if self.is_forum {
            chat["is_forum"] = json!(true);
        }
        chat
    }

    /// Takes the next message id.
    pub fn allocate_message_id(&mut self) -> i64 {
        let id = self.next_message_id;
        self.next_message_id += 1;
        id
    }

    pub fn is_group(&self) -> bool {
        matches!(self.kind, ChatKind::Group | ChatKind::Supergroup)
    }
}

/// An update waiting in the queue.
#[derive(Clone, Debug)]
pub(crate) struct Queued {
    /// Internal identity (a duplicated update shares its `update_id`).
    pub seq: u64,
    pub update_id: i64,
    pub body: Value,
    /// Per-chat ordering key for webhook delivery.
    pub chat_key: Option<i64>,
    pub created: DateTime<Utc>,
    pub failures: u32,
    pub not_before: Option<Instant>,
    pub in_flight: bool,
}

/// setWebhook settings and delivery status.
#[derive(Clone, Debug)]
pub(crate) struct Webhook {
    pub url: String,
    pub secret: Option<String>,
    pub max_connections: usize,
    pub last_error_date: Option<i64>,
    pub last_error_message: Option<String>,
}

/// A callback query the bot may still answer.
#[derive(Clone, Debug)]
pub(crate) struct PendingCallback {
    pub created: DateTime<Utc>,
    pub answered: bool,
}

/// A file known by `file_id`.
#[derive(Clone, Debug)]
pub(crate) struct FileInfo {
    pub unique_id: String,
    pub path: String,
    pub size: usize,
    pub bytes: Option<Vec<u8>>,
}

/// A fault waiting for a matching call.
#[derive(Clone, Debug)]
pub(crate) struct FaultRule {
    /// Lower-case method name; `None` matches every method.
    pub method: Option<String>,
    pub chat_id: Option<i64>,
    pub remaining: u32,
    pub fault: Fault,
}

/// One webhook POST to make.
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    pub seq: u64,
    pub url: String,
    pub secret: Option<String>,
    pub body: Value,
}

/// How a webhook POST ended.
#[derive(Clone, Debug)]
pub(crate) enum DeliveryOutcome {
    Delivered {
        reply: Option<Value>,
    },
    Failed {
        message: String,
        retry_after: Option<u64>,
    },
}

/// Settings fixed at start.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub strict_buttons: bool,
    pub callback_query_ttl: Option<Duration>,
    pub webhook_backoff_base: Duration,
}

/// The whole fake server state.
#[derive(Debug)]
pub(crate) struct State {
    pub settings: Settings,
    pub clock: Clock,
    pub bot: Bot,
    pub users: HashMap<i64, User>,
    pub chats: HashMap<i64, Chat>,
    pub queue: VecDeque<Queued>,
    pub next_update_id: i64,
    next_seq: u64,
    /// Empty: the default set.
    pub allowed_updates: Vec<String>,
    pub webhook: Option<Webhook>,
    pub webhook_order: WebhookOrder,
    /// Bumped by every getUpdates; a long poll that sees it move was superseded.
    pub poll_generation: u64,
    /// getUpdates calls being answered right now (long polls included).
    pub polls_in_progress: usize,
    /// Bumped when the queue, the webhook settings or the poller changes: what long polls and
    /// the webhook deliverer wait for.
    pub queue_epoch: u64,
    pub requests: Vec<Request>,
    pub callbacks: HashMap<String, PendingCallback>,
    pub answers: Vec<CallbackAnswer>,
    pub faults: Vec<FaultRule>,
    /// Injected updates still to be queued twice.
    pub duplicate_next: u32,
    pub limiter: RateLimiter,
    pub commands: Value,
    pub files: HashMap<String, FileInfo>,
    next_file: u64,
}

impl State {
    pub fn new(
        settings: Settings,
        clock: Clock,
        bot: Bot,
        first_update_id: i64,
        rate_limits: bool,
    ) -> State {
        State {
            settings,
            clock,
            bot,
            users: HashMap::new(),
            chats: HashMap::new(),
            queue: VecDeque::new(),
            next_update_id: first_update_id,
            next_seq: 0,
            allowed_updates: Vec::new(),
            webhook: None,
            webhook_order: WebhookOrder::Fifo,
            poll_generation: 0,
            polls_in_progress: 0,
            queue_epoch: 0,
            requests: Vec::new(),
            callbacks: HashMap::new(),
            answers: Vec::new(),
            faults: Vec::new(),
            duplicate_next: 0,
            limiter: RateLimiter::new(rate_limits),
            commands: json!([]),
            files: HashMap::new(),
            next_file: 1,
        }
    }

    /// Marks a change that long polls and the webhook deliverer must look at.
    pub fn touch_queue(&mut self) {
        self.queue_epoch += 1;
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn unix_now(&self) -> i64 {
        self.now().timestamp()
    }

    /// The bot's `User` object.
    pub fn bot_json(&self) -> Value {
        json!({
            "id": self.bot.id,
            "is_bot": true,
            "first_name": self.bot.first_name,
            "username": self.bot.username,
        })
    }

    /// A user's `User` object.
    pub fn user_json(&self, id: i64) -> Value {
        let Some(user) = self.users.get(&id) else {
            return json!({ "id": id, "is_bot": false, "first_name": "" });
        };
        let mut json =
            json!({ "id": user.id, "is_bot": user.is_bot, "first_name": user.first_name });
        for (key, value) in [
            ("last_name", &user.last_name),
            ("username", &user.username),
            ("language_code", &user.language_code),
        ] {
            if let Some(value) = value {
                json[key] = json!(value);
            }
        }
        json
    }

    /// Registers (or renames) a user and their private chat.
    pub fn add_user(&mut self, id: i64, first_name: &str, language_code: Option<&str>) {
        let user = self.users.entry(id).or_insert_with(|| User {
            id,
            first_name: String::new(),
            last_name: None,
            username: None,
            language_code: None,
            is_bot: false,
            started: false,
            blocked: false,
        });
        user.first_name = first_name.to_owned();
        user.language_code = language_code.map(str::to_owned);
        let chat = self
            .chats
            .entry(id)
            .or_insert_with(|| Chat::new(id, ChatKind::Private));
        chat.first_name = Some(first_name.to_owned());
    }

    // ---- the update queue -------------------------------------------------------------------

    /// Queues an update (learning users, chats and messages from it first). Keeps its
    /// `update_id` when `keep_id`, else assigns the next one. Returns the id.
    pub fn enqueue(&mut self, mut body: Value, keep_id: bool) -> i64 {
        let update_id = match body.get("update_id").and_then(Value::as_i64) {
            Some(id) if keep_id => id,
            _ => self.next_update_id,
        };
        self.next_update_id = self.next_update_id.max(update_id + 1);
        if let Some(object) = body.as_object_mut() {
            object.insert("update_id".to_owned(), json!(update_id));
        }
        let kind = update_kind(&body).unwrap_or_default();
        self.learn(&body, &kind);
        if !self.allows(&kind) {
            return update_id;
        }
        let copies = if self.duplicate_next > 0 {
            self.duplicate_next -= 1;
            2
        } else {
            1
        };
        self.touch_queue();
        let chat_key = chat_key(&body, &kind);
        let created = self.now();
        for _ in 0..copies {
            self.next_seq += 1;
            self.queue.push_back(Queued {
                seq: self.next_seq,
                update_id,
                body: body.clone(),
                chat_key,
                created,
                failures: 0,
                not_before: None,
                in_flight: false,
            });
        }
        update_id
    }

    fn allows(&self, kind: &str) -> bool {
        if self.allowed_updates.is_empty() {
            !NOT_BY_DEFAULT.contains(&kind)
        } else {
            self.allowed_updates.iter().any(|allowed| allowed == kind)
        }
    }

    /// Stores `allowed_updates` when the call carries it (`[]` restores the default set).
    pub fn remember_allowed_updates(&mut self, params: &Params) {
        if let Ok(Some(Value::Array(kinds))) = params.json("allowed_updates") {
            self.allowed_updates = kinds
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
        }
    }

    /// Drops updates older than the retention period.
    pub fn expire_updates(&mut self) {
        let oldest = self.now() - chrono::Duration::hours(UPDATE_RETENTION_HOURS);
        // The queue is in arrival order: nothing to do unless its head is old.
        if self
            .queue
            .front()
            .is_none_or(|queued| queued.created >= oldest)
        {
            return;
        }
        self.queue
            .retain(|queued| queued.created >= oldest || queued.in_flight);
    }

    /// getUpdates' `offset`: confirms (forgets) every update below it; a negative offset keeps
    /// only the last `-offset` updates.
    pub fn confirm(&mut self, offset: i64) {
        self.touch_queue();
        if offset > 0 {
            self.queue.retain(|queued| queued.update_id >= offset);
        } else if offset < 0 {
            let keep = usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX);
            while self.queue.len() > keep {
                self.queue.pop_front();
            }
        }
    }

    /// The next `limit` updates, left in the queue until confirmed.
    pub fn peek_updates(&mut self, limit: usize) -> Vec<Value> {
        self.expire_updates();
        self.queue
            .iter()
            .take(limit)
            .map(|queued| queued.body.clone())
            .collect()
    }

    // ---- webhook delivery ---------------------------------------------------------------------

    /// Picks the deliveries to start now: the head of each chat's queue that is neither in flight
    /// nor backing off, up to `max_connections` in flight. Also returns when to look again.
    pub fn plan_deliveries(&mut self, now: Instant) -> (Vec<Delivery>, Option<Instant>) {
        self.expire_updates();
        let Some(webhook) = &self.webhook else {
            return (Vec::new(), None);
        };
        let in_flight = self.queue.iter().filter(|queued| queued.in_flight).count();
        let mut capacity = webhook.max_connections.saturating_sub(in_flight);
        let (url, secret) = (webhook.url.clone(), webhook.secret.clone());
        let mut deliveries = Vec::new();
        let mut next_wake: Option<Instant> = None;
        if capacity == 0 {
            // A delivery that ends plans again.
            return (deliveries, next_wake);
        }
        // The head of each chat's queue, oldest chat first, looked at lazily: with a thousand
        // chats waiting and one free connection, planning stops at the first one it can start.
        let mut seen = HashSet::new();
        let order: Box<dyn Iterator<Item = usize>> = match self.webhook_order {
            WebhookOrder::NewestChatFirst => {
                let mut heads: Vec<usize> = (0..self.queue.len())
                    .filter(|&index| match self.queue[index].chat_key {
                        Some(key) => seen.insert(key),
                        None => true,
                    })
                    .collect();
                heads.reverse();
                seen.clear();
                Box::new(heads.into_iter())
            }
            _ => Box::new(0..self.queue.len()),
        };
        for index in order {
            if let Some(key) = self.queue[index].chat_key
                && !seen.insert(key)
            {
                continue;
            }
            let queued = &mut self.queue[index];
            if queued.in_flight {
                continue;
            }
            if let Some(at) = queued.not_before
                && at > now
            {
                next_wake = Some(next_wake.map_or(at, |wake| wake.min(at)));
                continue;
            }
            if capacity == 0 {
                break;
            }
            capacity -= 1;
            queued.in_flight = true;
            deliveries.push(Delivery {
                seq: queued.seq,
                url: url.clone(),
                secret: secret.clone(),
                body: queued.body.clone(),
            });
        }
        (deliveries, next_wake)
    }

    /// Records how a delivery ended. On success the update leaves the queue and the bot's reply
    /// body is returned when it carries a method call.
    pub fn finish_delivery(
        &mut self,
        seq: u64,
        outcome: DeliveryOutcome,
        now: Instant,
    ) -> Option<Value> {
        let position = self.queue.iter().position(|queued| queued.seq == seq)?;
        self.touch_queue();
        match outcome {
            DeliveryOutcome::Delivered { reply } => {
                self.queue.remove(position);
                reply
            }
            DeliveryOutcome::Failed {
                message,
                retry_after,
            } => {
                let base = self.settings.webhook_backoff_base;
                let date = self.unix_now();
                let queued = &mut self.queue[position];
                queued.in_flight = false;
                queued.failures += 1;
                queued.not_before = Some(now + retry_delay(base, queued.failures, retry_after));
                if let Some(webhook) = &mut self.webhook {
                    webhook.last_error_date = Some(date);
                    webhook.last_error_message = Some(message);
                }
                None
            }
        }
    }

    pub fn webhook_info(&self) -> WebhookInfo {
        let pending_update_count = self.queue.len();
        match &self.webhook {
            None => WebhookInfo {
                url: String::new(),
                has_custom_certificate: false,
                pending_update_count,
                max_connections: None,
                last_error_date: None,
                last_error_message: None,
                allowed_updates: None,
            },
            Some(webhook) => WebhookInfo {
                url: webhook.url.clone(),
                has_custom_certificate: false,
                pending_update_count,
                max_connections: Some(webhook.max_connections),
                last_error_date: webhook.last_error_date,
                last_error_message: webhook.last_error_message.clone(),
                allowed_updates: (!self.allowed_updates.is_empty())
                    .then(|| self.allowed_updates.clone()),
            },
        }
    }

    // ---- chats, messages, files ---------------------------------------------------------------

    /// Resolves `chat_id` (a number or `@username`).
    pub fn resolve_chat(&self, params: &Params) -> Result<i64, ApiError> {
        let Some(raw) = params.non_empty("chat_id") else {
            return Err(ApiError::bad_request("chat_id is empty"));
        };
        let raw = raw.trim();
        let found = match raw.strip_prefix('@') {
            Some(username) => self
                .chats
                .values()
                .find(|chat| chat.username.as_deref() == Some(username))
                .map(|chat| chat.id),
            None => raw
                .parse::<i64>()
                .ok()
                .filter(|id| self.chats.contains_key(id)),
        };
        found.ok_or_else(ApiError::chat_not_found)
    }

    /// The chat, which `resolve_chat` proved exists.
    pub fn chat(&self, id: i64) -> Result<&Chat, ApiError> {
        self.chats.get(&id).ok_or_else(ApiError::chat_not_found)
    }

    pub fn chat_mut(&mut self, id: i64) -> Result<&mut Chat, ApiError> {
        self.chats.get_mut(&id).ok_or_else(ApiError::chat_not_found)
    }

    /// Whether the bot may post in the chat: blocked users, users who never wrote, migrated groups.
    pub fn check_can_send(&self, chat_id: i64) -> Result<(), ApiError> {
        let chat = self.chat(chat_id)?;
        if let Some(new_id) = chat.migrated_to {
            let mut error = ApiError::bad_request("group chat was upgraded to a supergroup chat");
            error.migrate_to_chat_id = Some(new_id);
            return Err(error);
        }
        if chat.kind == ChatKind::Private {
            let user = self.users.get(&chat_id);
            if user.is_some_and(|user| user.blocked) {
                return Err(ApiError::forbidden("bot was blocked by the user"));
            }
            if !user.is_some_and(|user| user.started) {
                return Err(ApiError::forbidden(
                    "bot can't initiate conversation with a user",
                ));
            }
        }
        Ok(())
    }

    /// The bot's messages in a chat, as the recipient sees them now.
    pub fn sent_to(&self, chat_id: i64) -> Vec<SentMessage> {
        self.sent_after(chat_id, i64::MIN)
    }

    /// The bot's messages in a chat with an id above `after` (cheap however long the chat is).
    pub fn sent_after(&self, chat_id: i64, after: i64) -> Vec<SentMessage> {
        let Some(chat) = self.chats.get(&chat_id) else {
            return Vec::new();
        };
        chat.messages
            .range(after.saturating_add(1)..)
            .filter(|(_, stored)| stored.by_bot && stored.json.get("forum_topic_created").is_none())
            .map(|(&message_id, stored)| sent_message(chat_id, message_id, stored))
            .collect()
    }

    /// Registers a file the bot sent or received; returns its `file_id`.
    pub fn register_file(
        &mut self,
        file_id: Option<&str>,
        folder: &str,
        extension: &str,
    ) -> String {
        let file_id = match file_id {
            Some(id) if !id.contains("://") => id.to_owned(),
            _ => format!("BQACAgIAAxkBAAI{:0>12}fake", self.next_file),
        };
        if !self.files.contains_key(&file_id) {
            let n = self.next_file;
            self.next_file += 1;
            self.files.insert(
                file_id.clone(),
                FileInfo {
                    unique_id: format!("AgADfake{n:06}"),
                    path: format!("{folder}/file_{n}{extension}"),
                    size: 1024,
                    bytes: None,
                },
            );
        }
        file_id
    }

    /// Takes the first fault that matches the call.
    pub fn take_fault(&mut self, method: &str, chat_id: Option<i64>) -> Option<Fault> {
        let index = self.faults.iter().position(|rule| {
            rule.remaining > 0
                && rule.method.as_deref().is_none_or(|m| m == method)
                && rule.chat_id.is_none_or(|id| Some(id) == chat_id)
        })?;
        let rule = &mut self.faults[index];
        rule.remaining -= 1;
        let fault = rule.fault.clone();
        if rule.remaining == 0 {
            self.faults.remove(index);
        }
        Some(fault)
    }

    // ---- learning from injected updates ---------------------------------------------------------

    /// Makes an injected update consistent with the fake's world: its chats, users, messages,
    /// topics, files and block status become known, so the bot can answer it.
    fn learn(&mut self, update: &Value, kind: &str) {
        self.learn_files(update);
        let payload = &update[kind];
        match kind {
            "message" | "channel_post" | "business_message" => self.learn_message(payload, true),
            "edited_message" | "edited_channel_post" | "guest_message" => {
                self.learn_message(payload, false);
            }
            "callback_query" => {
                self.learn_user(&payload["from"]);
                if let Some(chat) = payload["message"].get("chat") {
                    self.learn_chat(chat);
                }
                if let Some(id) = payload["id"].as_str() {
                    let created = self.now();
                    self.callbacks.insert(
                        id.to_owned(),
                        PendingCallback {
                            created,
                            answered: false,
                        },
                    );
                }
            }
            "my_chat_member" => self.learn_membership(payload),
            _ => {
                if let Some(from) = payload.get("from") {
                    self.learn_user(from);
                }
            }
        }
    }

    fn learn_message(&mut self, message: &Value, is_new: bool) {
        let Some(chat_id) = self.learn_chat(&message["chat"]) else {
            return;
        };
        let from = self.learn_user(&message["from"]);
        let date = message["date"].as_i64().unwrap_or_else(|| self.unix_now());
        let Some(chat) = self.chats.get_mut(&chat_id) else {
            return;
        };
        if chat.kind == ChatKind::Private
            && from == Some(chat_id)
            && let Some(user) = self.users.get_mut(&chat_id)
        {
            user.started = true;
        }
        if let Some(thread_id) = message["message_thread_id"].as_i64() {
            if message.get("forum_topic_created").is_some() {
                chat.topics.insert(thread_id, Topic { closed: false });
            }
            if let Some(topic) = chat.topics.get_mut(&thread_id) {
                if message.get("forum_topic_closed").is_some() {
                    topic.closed = true;
                }
                if message.get("forum_topic_reopened").is_some() {
                    topic.closed = false;
                }
            }
        }
        if let Some(new_id) = message["migrate_to_chat_id"].as_i64() {
            chat.migrated_to = Some(new_id);
            let title = chat.title.clone();
            self.chats.entry(new_id).or_insert_with(|| {
                let mut supergroup = Chat::new(new_id, ChatKind::Supergroup);
                supergroup.title = title;
                supergroup
            });
        }
        let Some(chat) = self.chats.get_mut(&chat_id) else {
            return;
        };
        if let Some(message_id) = message["message_id"].as_i64() {
            chat.next_message_id = chat.next_message_id.max(message_id + 1);
            if is_new {
                chat.messages.insert(
                    message_id,
                    Stored {
                        by_bot: false,
                        date,
                        json: message.clone(),
                        raw_text: None,
                        parse_mode: None,
                    },
                );
            }
        }
    }

    fn learn_membership(&mut self, payload: &Value) {
        let Some(chat_id) = self.learn_chat(&payload["chat"]) else {
            return;
        };
        let from = self.learn_user(&payload["from"]);
        let is_private = self
            .chats
            .get(&chat_id)
            .is_some_and(|c| c.kind == ChatKind::Private);
        let status = payload["new_chat_member"]["status"].as_str().unwrap_or("");
        if is_private
            && from == Some(chat_id)
            && let Some(user) = self.users.get_mut(&chat_id)
        {
            user.started = true;
            user.blocked = status == "kicked";
        }
    }

    fn learn_chat(&mut self, chat: &Value) -> Option<i64> {
        let id = chat["id"].as_i64()?;
        self.chats.entry(id).or_insert_with(|| {
            let mut known = Chat::new(
                id,
                ChatKind::parse(chat["type"].as_str().unwrap_or("private")),
            );
            let text = |key: &str| chat[key].as_str().map(str::to_owned);
            known.title = text("title");
            known.first_name = text("first_name");
            known.last_name = text("last_name");
            known.username = text("username");
            known.is_forum = chat["is_forum"].as_bool().unwrap_or(false);
            known
        });
        Some(id)
    }

    fn learn_user(&mut self, user: &Value) -> Option<i64> {
        let id = user["id"].as_i64()?;
        self.users.entry(id).or_insert_with(|| {
            let text = |key: &str| user[key].as_str().map(str::to_owned);
            User {
                id,
                first_name: text("first_name").unwrap_or_default(),
                last_name: text("last_name"),
                username: text("username"),
                language_code: text("language_code"),
                is_bot: user["is_bot"].as_bool().unwrap_or(false),
                started: false,
                blocked: false,
            }
        });
        Some(id)
    }

    fn learn_files(&mut self, value: &Value) {
        match value {
            Value::Object(object) => {
                if let Some(file_id) = object.get("file_id").and_then(Value::as_str)
                    && !self.files.contains_key(file_id)
                {
                    let unique = object.get("file_unique_id").and_then(Value::as_str);
                    let registered = self.register_file(Some(file_id), "documents", "");
                    if let (Some(unique), Some(info)) = (unique, self.files.get_mut(&registered)) {
                        info.unique_id = unique.to_owned();
                    }
                }
                object.values().for_each(|child| self.learn_files(child));
            }
            Value::Array(items) => items.iter().for_each(|child| self.learn_files(child)),
            _ => {}
        }
    }
}

/// The update's kind: its one field besides `update_id`.
pub(crate) fn update_kind(update: &Value) -> Option<String> {
    update
        .as_object()?
        .keys()
        .find(|key| *key != "update_id")
        .cloned()
}

/// The chat whose order the update must keep in webhook delivery.
fn chat_key(update: &Value, kind: &str) -> Option<i64> {
    let payload = &update[kind];
    payload["chat"]["id"]
        .as_i64()
        .or_else(|| payload["message"]["chat"]["id"].as_i64())
        .or_else(|| payload["from"]["id"].as_i64())
        .or_else(|| payload["user"]["id"].as_i64())
}

/// Pause before the next attempt after `failures` failures in a row (tdlib
/// `WebhookActor::on_update_error`): at once, then 2, 4, 8 … units up to 60; a `Retry-After`
/// from the bot replaces it. One unit is one second on the real server.
pub(crate) fn retry_delay(base: Duration, failures: u32, retry_after: Option<u64>) -> Duration {
    if let Some(seconds) = retry_after {
        let units = u32::try_from(seconds.min(MAX_RETRY_AFTER)).unwrap_or(u32::MAX);
        return base.saturating_mul(units);
    }
    if failures <= 1 {
        return Duration::ZERO;
    }
    let units = 2u32.saturating_pow(failures - 1).min(MAX_BACKOFF_UNITS);
    base.saturating_mul(units)
}

/// A stored bot message as a [`SentMessage`].
fn sent_message(chat_id: i64, message_id: i64, stored: &Stored) -> SentMessage {
    let json = &stored.json;
    let text = |key: &str| json[key].as_str().map(str::to_owned);
    let media = ["photo", "document", "voice"]
        .into_iter()
        .find(|kind| json.get(*kind).is_some());
    let file_id = media.and_then(|kind| {
        let media = &json[kind];
        let media = media
            .as_array()
            .and_then(|sizes| sizes.last())
            .unwrap_or(media);
        media["file_id"].as_str().map(str::to_owned)
    });
    SentMessage {
        chat_id,
        message_id,
        text: text("text"),
        caption: text("caption"),
        raw_text: stored.raw_text.clone(),
        parse_mode: stored.parse_mode.clone(),
        reply_markup: json.get("reply_markup").cloned(),
        message_thread_id: json["message_thread_id"].as_i64(),
        media: media.map(str::to_owned),
        file_id,
        edited: json.get("edit_date").is_some(),
        message: json.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_retries_back_off_like_tdlib() {
        let second = Duration::from_secs(1);
        let delays: Vec<u64> = (1..=8)
            .map(|n| retry_delay(second, n, None).as_secs())
            .collect();
        assert_eq!(delays, vec![0, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(retry_delay(second, 3, Some(7)), Duration::from_secs(7));
        assert_eq!(
            retry_delay(second, 1, Some(99_999)),
            Duration::from_secs(3600)
        );
    }
}
