//! The Telegram outbox dispatcher: sends pending outbox rows in order per chat, within the
//! rate limits, and records what happened.
//!
//! - One task per chat at a time, so a chat's messages go out in the order they were queued;
//!   different chats are sent in parallel.
//! - Limits: a global and a per-chat GCRA limiter (`governor`), configurable, off for load tests.
//! - 429: that chat is not sent to again before `retry_after` has passed (and, when Telegram
//!   says so for a flood across chats, no chat is).
//! - 5xx, timeouts: the chat backs off (doubling, at most a minute) and retries the same row.
//! - Other 4xx: the row is marked failed with Telegram's reason, and the chat moves on.
//! - 403 (blocked, never started, deactivated): the teacher is marked unreachable and the
//!   chat's pending rows fail at once: no retry storm. An unblock marks them reachable again.
//! - A row is marked sent right after Telegram accepts it; the only way to send it twice is to
//!   die between the two.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::client::{ApiError, BotApi};
use super::render::render;
use super::{CHANNEL, RateLimits};
use crate::channel::Outbound;
use crate::conversation::Conversations;
use crate::store::OutboxMessage;

/// Rows read per look at the outbox.
const READ_LIMIT: i64 = 2_000;
/// Chats sent to at once.
const PARALLEL_CHATS: usize = 256;
/// Per-call timeout for sends.
const SEND_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest back-off after repeated temporary failures.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The dispatcher of one bot.
#[derive(Clone)]
pub struct Dispatcher {
    api: BotApi,
    conversations: Conversations,
    global: Option<Arc<DefaultDirectRateLimiter>>,
    per_chat: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    state: Arc<Mutex<ChatState>>,
    /// Wakes the loop when a chat's turn ends.
    wake: Arc<Notify>,
}

#[derive(Default)]
struct ChatState {
    /// Chats with a task sending right now.
    busy: HashSet<String>,
    /// Chats that must wait (429 or back-off), and their current back-off.
    waiting: HashMap<String, (Instant, Duration)>,
    /// Nobody is sent to before this (a flood wait that applies to the whole bot).
    all_wait: Option<Instant>,
    /// Per chat, the highest outbox id this process has finished with (sent and recorded, or
    /// failed). A read of pending rows that raced a chat's task may still list such a row after
    /// the task ended; without this it would be sent twice.
    done_up_to: HashMap<String, i64>,
}

/// How a chat's turn ended.
enum Turn {
    /// Everything given was sent or settled.
    Done,
    /// Stop and try again after this long.
    Wait(Duration, bool),
}

impl Dispatcher {
    /// A dispatcher for `api`, reading the outbox of `conversations`.
    #[must_use]
    pub fn new(api: BotApi, conversations: Conversations, limits: RateLimits) -> Dispatcher {
        let global = NonZeroU32::new(limits.global_per_second)
            .map(|n| Arc::new(RateLimiter::direct(Quota::per_second(n))));
        let per_chat = NonZeroU32::new(limits.per_chat_per_second).map(|n| {
            let burst = NonZeroU32::new(limits.per_chat_burst).unwrap_or(n);
            Arc::new(RateLimiter::keyed(Quota::per_second(n).allow_burst(burst)))
        });
        Dispatcher {
            api,
            conversations,
            global,
            per_chat,
            state: Arc::new(Mutex::new(ChatState::default())),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Sends until `shutdown` resolves; a chat being sent to finishes its current message.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let permits = Arc::new(Semaphore::new(PARALLEL_CHATS));
        let mut committed = self.conversations.subscribe();
        loop {
            let started = self.start_ready_chats(&permits).await;
            let wait = if started {
                Duration::from_millis(5)
            } else {
                self.next_wake()
            };
            tokio::select! {
                () = &mut shutdown => break,
                _ = committed.changed() => {}
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        // Wait for the chats being sent to, so no send is cut between the call and its record.
        let _ = permits
            .acquire_many(u32::try_from(PARALLEL_CHATS).unwrap_or(u32::MAX))
            .await;
    }

    /// Reads pending rows and starts a task for every chat that may be sent to now.
    async fn start_ready_chats(&self, permits: &Arc<Semaphore>) -> bool {
        let rows = match self
            .conversations
            .store()
            .pending_outbox(CHANNEL, READ_LIMIT)
            .await
        {
            Ok(rows) => rows,
            Err(err) => {
                warn!(error = %err, "cannot read the outbox");
                return false;
            }
        };
        let mut chats: Vec<(String, Vec<OutboxMessage>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for row in rows {
            let at = *index.entry(row.channel_user.clone()).or_insert_with(|| {
                chats.push((row.channel_user.clone(), Vec::new()));
                chats.len() - 1
            });
            chats[at].1.push(row);
        }
        let now = Instant::now();
        let mut started = false;
        for (chat, mut rows) in chats {
            {
                let mut state = self
                    .state
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if state.all_wait.is_some_and(|t| t > now) {
                    return started;
                }
                if let Some(&done) = state.done_up_to.get(&chat) {
                    rows.retain(|row| row.id > done);
                    if rows.is_empty() {
                        continue;
                    }
                }
                let waiting = state
                    .waiting
                    .get(&chat)
                    .is_some_and(|(until, _)| *until > now);
                if waiting || state.busy.contains(&chat) {
                    continue;
                }
                state.busy.insert(chat.clone());
            }
            let Ok(permit) = Arc::clone(permits).acquire_owned().await else {
                return started;
            };
            started = true;
            let this = self.clone();
            tokio::spawn(async move {
                let turn = this.send_chat(&chat, rows).await;
                this.finish(&chat, turn);
                drop(permit);
            });
        }
        started
    }

    fn finish(&self, chat: &str, turn: Turn) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.busy.remove(chat);
        match turn {
            Turn::Done => {
                state.waiting.remove(chat);
            }
            Turn::Wait(wait, everyone) => {
                let until = Instant::now() + wait;
                if everyone {
                    state.all_wait = Some(until);
                }
                let backoff = state
                    .waiting
                    .get(chat)
                    .map_or(wait, |(_, b)| (*b * 2).min(MAX_BACKOFF));
                state.waiting.insert(chat.to_string(), (until, backoff));
            }
        }
        drop(state);
        // Wake the loop so the rest of the outbox is looked at without delay.
        self.wake.notify_one();
        self.conversations.delivered();
    }

    /// How long the loop may sleep: until the earliest chat's wait ends, at most a second.
    fn next_wake(&self) -> Duration {
        let state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        state
            .waiting
            .values()
            .map(|(until, _)| until.saturating_duration_since(now))
            .filter(|d| !d.is_zero())
            .min()
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1))
    }

    /// Remembers that `chat`'s rows up to `id` are finished with.
    fn done(&self, chat: &str, id: i64) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let done = state.done_up_to.entry(chat.to_string()).or_insert(id);
        *done = (*done).max(id);
    }

    /// Sends one chat's rows in order until done or told to wait.
    async fn send_chat(&self, chat: &str, rows: Vec<OutboxMessage>) -> Turn {
        let store = self.conversations.store();
        let now = || self.conversations.clock().now();
        let mut iter = rows.into_iter();
        while let Some(row) = iter.next() {
            match self.send_row(chat, &row).await {
                Ok(()) => {
                    if let Err(err) = store.mark_sent(&[row.id], now()).await {
                        warn!(outbox.id = row.id, error = %err, "sent but not recorded; it may be sent again");
                        return Turn::Wait(Duration::from_secs(1), false);
                    }
                    self.done(chat, row.id);
                }
                Err(ApiError::RetryAfter(wait)) => {
                    info!(
                        chat.wait_secs = wait.as_secs(),
                        "Telegram asked to slow down"
                    );
                    return Turn::Wait(wait, false);
                }
                Err(ApiError::Unreachable(reason)) => {
                    let ids: Vec<i64> = std::iter::once(row.id).chain(iter.map(|r| r.id)).collect();
                    info!(outbox.rows = ids.len(), %reason, "teacher unreachable on Telegram; pending messages failed");
                    if store.mark_failed(&ids, &reason, now()).await.is_ok() {
                        self.done(chat, ids.iter().copied().max().unwrap_or(row.id));
                    }
                    let _ = store.set_reachable(CHANNEL, chat, false).await;
                    return Turn::Done;
                }
                Err(ApiError::Rejected(reason)) => {
                    warn!(outbox.id = row.id, %reason, "Telegram rejected a message; marked failed");
                    if store.mark_failed(&[row.id], &reason, now()).await.is_ok() {
                        self.done(chat, row.id);
                    }
                }
                Err(ApiError::Unauthorized) => {
                    warn!("Telegram refused the bot token; sending paused");
                    return Turn::Wait(MAX_BACKOFF, true);
                }
                Err(err @ (ApiError::Transient(_) | ApiError::Conflict(_))) => {
                    debug!(outbox.id = row.id, error = %err, "temporary failure; will retry");
                    let backoff = {
                        let state = self
                            .state
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        state
                            .waiting
                            .get(chat)
                            .map_or(Duration::from_secs(1), |(_, b)| *b)
                    };
                    return Turn::Wait(backoff, false);
                }
            }
        }
        Turn::Done
    }

    /// Sends one outbox row (a reply may take several messages when it is long).
    async fn send_row(&self, chat: &str, row: &OutboxMessage) -> Result<(), ApiError> {
        let outbound: Outbound = serde_json::from_str(&row.payload)
            .map_err(|_| ApiError::Rejected("unreadable outbox payload".into()))?;
        match outbound {
            Outbound::Ack { answer_callback } => {
                // Not a message: no rate limit applies.
                let params = json!({ "callback_query_id": answer_callback });
                self.api
                    .call("answerCallbackQuery", &params, SEND_TIMEOUT)
                    .await
                    .map(drop)
            }
            Outbound::Message(message) => {
                let chat_id: Value = chat
                    .parse::<i64>()
                    .map_or_else(|_| Value::from(chat), Value::from);
                for mut params in render(&message.reply) {
                    self.wait_for_turn(chat).await;
                    params["chat_id"] = chat_id.clone();
                    self.api.call("sendMessage", &params, SEND_TIMEOUT).await?;
                }
                Ok(())
            }
        }
    }

    async fn wait_for_turn(&self, chat: &str) {
        if let Some(per_chat) = &self.per_chat {
            per_chat.until_key_ready(&chat.to_string()).await;
        }
        if let Some(global) = &self.global {
            global.until_ready().await;
        }
    }
}
