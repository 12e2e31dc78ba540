//! The Telegram outbox dispatcher: sends pending outbox rows in order per chat, within the
//! rate limits, and records what happened.
//!
//! - The outbox is read incrementally: rows after the highest id seen, whenever a commit lands,
//!   plus a sweep of all pending rows every few seconds (a row whose transaction committed
//!   after a later id was read, and anything left over by a failed write). Rows wait in memory
//!   per chat, at most [`MAX_QUEUED`] at a time.
//! - One task per chat at a time, so a chat's messages go out in the order they were queued;
//!   different chats are sent in parallel.
//! - Sent rows are recorded by one settler task in group commits: a chat's task waits for its
//!   row's record before sending the next row, so a crash duplicates at most one message per
//!   chat, while a thousand chats share one write.
//! - Limits: a global and a per-chat GCRA limiter (`governor`), configurable, off for load tests.
//! - 429: that chat is not sent to again before `retry_after` has passed (and, when Telegram
//!   says so for a flood across chats, no chat is).
//! - 5xx, timeouts: the chat backs off (doubling, at most a minute) and retries the same row;
//!   the parts of a long reply already accepted are not sent again.
//! - Other 4xx: the row is marked failed with Telegram's reason, and the chat moves on.
//! - 403 (blocked, never started, deactivated): the teacher is marked unreachable and the
//!   chat's pending rows fail at once: no retry storm. Rows carrying an expert's answer are held
//!   instead (the experts are told in the ticket's topic) and go out when the teacher writes
//!   again. An unblock marks the teacher reachable again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};
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
/// Rows held in memory at most; beyond this the outbox is read as the queues drain.
const MAX_QUEUED: usize = 20_000;
/// How often all pending rows are looked at again.
const SWEEP_EVERY: Duration = Duration::from_secs(2);
/// Chats sent to at once.
const PARALLEL_CHATS: usize = 256;
/// Sent rows recorded in one write at most.
const SETTLE_BATCH: usize = 4_096;
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
    /// Sent rows on their way to the settler, each with the sender's receipt.
    settle: mpsc::UnboundedSender<Settle>,
    /// The settler's end, taken by [`Dispatcher::run`].
    settle_rx: Arc<Mutex<Option<mpsc::UnboundedReceiver<Settle>>>>,
}

/// A sent row's id and the channel on which the settler says whether it was recorded.
type Settle = (i64, oneshot::Sender<bool>);

/// A row waiting to be sent, and how many parts of it Telegram has accepted already.
struct Queued {
    row: OutboxMessage,
    parts_sent: usize,
}

#[derive(Default)]
struct ChatState {
    /// Rows read and not yet finished with, per chat, in id order.
    queues: HashMap<String, VecDeque<Queued>>,
    /// Rows in `queues` (and in the hands of chat tasks).
    queued: usize,
    /// Chats with rows that may be sent now, oldest first (a chat may appear twice; the
    /// second is skipped).
    ready: VecDeque<String>,
    /// Chats with a task sending right now.
    busy: HashSet<String>,
    /// Chats that must wait (429 or back-off), and their current back-off.
    waiting: HashMap<String, (Instant, Duration)>,
    /// Nobody is sent to before this (a flood wait that applies to the whole bot).
    all_wait: Option<Instant>,
    /// Per chat, the highest outbox id taken in. A chat's rows commit in id order (one
    /// conversation commits at a time), so a pending row at or below it is one this process
    /// holds or has finished with (sent, its record perhaps still on the way).
    seen_up_to: HashMap<String, i64>,
    /// The highest id read by the incremental reads.
    cursor: i64,
}

/// How a chat's turn ended.
enum Turn {
    /// Everything given was sent or settled.
    Done,
    /// Stop and try again after this long (`true`: every chat waits).
    Wait(Duration, bool, VecDeque<Queued>),
}

/// A chat id as Telegram wants it: a number when it is one.
fn chat_id(chat: &str) -> Value {
    chat.parse::<i64>()
        .map_or_else(|_| Value::from(chat), Value::from)
}

/// Text for the expert group, laid out like a reply without buttons.
fn plain(text: String) -> crate::dialogue::Reply {
    crate::dialogue::Reply {
        text,
        choices: Vec::new(),
        lang: crate::language::Lang::En,
    }
}

fn lock(state: &Mutex<ChatState>) -> MutexGuard<'_, ChatState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ChatState {
    /// Takes in rows read from the outbox, skipping those already held or finished.
    fn take_in(&mut self, rows: Vec<OutboxMessage>, now: Instant) {
        for row in rows {
            let seen = self.seen_up_to.entry(row.channel_user.clone()).or_insert(0);
            if row.id <= *seen {
                continue;
            }
            *seen = row.id;
            let chat = row.channel_user.clone();
            let queue = self.queues.entry(chat.clone()).or_default();
            let was_empty = queue.is_empty();
            queue.push_back(Queued { row, parts_sent: 0 });
            self.queued += 1;
            if was_empty && !self.busy.contains(&chat) && !self.is_waiting(&chat, now) {
                self.ready.push_back(chat);
            }
        }
    }

    fn is_waiting(&self, chat: &str, now: Instant) -> bool {
        self.waiting
            .get(chat)
            .is_some_and(|(until, _)| *until > now)
    }

    /// Moves chats whose wait is over back to `ready`.
    fn wake_waiting(&mut self, now: Instant) {
        let over: Vec<String> = self
            .waiting
            .iter()
            .filter(|(_, (until, _))| *until <= now)
            .map(|(chat, _)| chat.clone())
            .collect();
        for chat in over {
            if self.busy.contains(&chat) {
                continue;
            }
            if self.queues.get(&chat).is_some_and(|q| !q.is_empty()) {
                // The back-off stays recorded until a turn ends well; only the wait ends here.
                if let Some(entry) = self.waiting.get_mut(&chat) {
                    entry.0 = now;
                }
                self.ready.push_back(chat);
            } else {
                // Nothing to send: forget the back-off rather than keep the chat forever.
                self.waiting.remove(&chat);
            }
        }
    }
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
        let (settle, settle_rx) = mpsc::unbounded_channel();
        Dispatcher {
            api,
            conversations,
            global,
            per_chat,
            state: Arc::new(Mutex::new(ChatState::default())),
            wake: Arc::new(Notify::new()),
            settle,
            settle_rx: Arc::new(Mutex::new(Some(settle_rx))),
        }
    }

    /// Sends until `shutdown` resolves; a chat being sent to finishes its current message.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let (stop_settler, stopped) = watch::channel(false);
        let settler = self
            .settle_rx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .map(|rx| tokio::spawn(self.clone().settler(rx, stopped)));
        let permits = Arc::new(Semaphore::new(PARALLEL_CHATS));
        let mut committed = self.conversations.subscribe();
        let mut last_sweep: Option<Instant> = None;
        loop {
            self.read_new().await;
            if last_sweep.is_none_or(|at| at.elapsed() >= SWEEP_EVERY) {
                self.sweep().await;
                last_sweep = Some(Instant::now());
            }
            self.start_ready_chats(&permits).await;
            let wait = self.next_wake().min(SWEEP_EVERY);
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
        let _ = stop_settler.send(true);
        if let Some(settler) = settler {
            let _ = settler.await;
        }
    }

    /// Reads rows committed since the last read, while there is room in memory.
    async fn read_new(&self) {
        loop {
            let cursor = {
                let state = lock(&self.state);
                if state.queued >= MAX_QUEUED {
                    return;
                }
                state.cursor
            };
            let rows = match self
                .conversations
                .store()
                .pending_outbox_after(CHANNEL, cursor, READ_LIMIT)
                .await
            {
                Ok(rows) => rows,
                Err(err) => {
                    warn!(error = %err, "cannot read the outbox");
                    return;
                }
            };
            let full = rows.len() >= usize::try_from(READ_LIMIT).unwrap_or(usize::MAX);
            let mut state = lock(&self.state);
            if let Some(last) = rows.last() {
                state.cursor = state.cursor.max(last.id);
            }
            state.take_in(rows, Instant::now());
            if !full {
                return;
            }
        }
    }

    /// Looks at the oldest pending rows again, for any the incremental reads passed by.
    async fn sweep(&self) {
        if lock(&self.state).queued >= MAX_QUEUED {
            return;
        }
        match self
            .conversations
            .store()
            .pending_outbox(CHANNEL, READ_LIMIT)
            .await
        {
            Ok(rows) => lock(&self.state).take_in(rows, Instant::now()),
            Err(err) => warn!(error = %err, "cannot read the outbox"),
        }
    }

    /// Starts a task for every chat that may be sent to now.
    async fn start_ready_chats(&self, permits: &Arc<Semaphore>) {
        lock(&self.state).wake_waiting(Instant::now());
        loop {
            let Ok(permit) = Arc::clone(permits).acquire_owned().await else {
                return;
            };
            let (chat, rows) = {
                let mut state = lock(&self.state);
                if state.all_wait.is_some_and(|t| t > Instant::now()) {
                    return;
                }
                let Some(chat) = state.ready.pop_front() else {
                    return;
                };
                // `ready` may name a chat twice, or one that got busy or emptied since.
                if state.busy.contains(&chat) {
                    continue;
                }
                let Some(rows) = state.queues.remove(&chat).filter(|q| !q.is_empty()) else {
                    continue;
                };
                state.busy.insert(chat.clone());
                (chat, rows)
            };
            let this = self.clone();
            tokio::spawn(async move {
                let turn = this.send_chat(&chat, rows).await;
                this.finish(&chat, turn);
                drop(permit);
            });
        }
    }

    /// Ends a chat's turn: its rows are either finished with or back in its queue.
    fn finish(&self, chat: &str, turn: Turn) {
        let mut state = lock(&self.state);
        state.busy.remove(chat);
        let now = Instant::now();
        match turn {
            Turn::Done => {
                state.waiting.remove(chat);
            }
            Turn::Wait(wait, everyone, rest) => {
                let until = now + wait;
                if everyone {
                    state.all_wait = Some(until);
                }
                let backoff = state
                    .waiting
                    .get(chat)
                    .map_or(wait, |(_, b)| (*b * 2).min(MAX_BACKOFF));
                state.waiting.insert(chat.to_string(), (until, backoff));
                // Rows that arrived during the turn come after the ones handed back.
                let queue = state.queues.entry(chat.to_string()).or_default();
                for row in rest.into_iter().rev() {
                    queue.push_front(row);
                }
            }
        }
        let has_rows = state.queues.get(chat).is_some_and(|q| !q.is_empty());
        if !has_rows {
            state.queues.remove(chat);
        } else if !state.is_waiting(chat, now) {
            state.ready.push_back(chat.to_string());
        }
        drop(state);
        // Wake the loop so the rest of the outbox is looked at without delay.
        self.wake.notify_one();
        self.conversations.delivered();
    }

    /// How long the loop may sleep: until the earliest chat's wait ends, at most a second.
    fn next_wake(&self) -> Duration {
        let state = lock(&self.state);
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

    /// Records sent rows in group commits, answering each chat task once its row is written.
    async fn settler(
        self,
        mut rx: mpsc::UnboundedReceiver<Settle>,
        mut stop: watch::Receiver<bool>,
    ) {
        let store = self.conversations.store();
        let mut batch = Vec::with_capacity(SETTLE_BATCH);
        loop {
            tokio::select! {
                received = rx.recv_many(&mut batch, SETTLE_BATCH) => {
                    if received == 0 {
                        return;
                    }
                }
                _ = stop.changed() => {
                    while let Ok(item) = rx.try_recv() {
                        batch.push(item);
                    }
                    if batch.is_empty() {
                        return;
                    }
                }
            }
            let ids: Vec<i64> = batch.iter().map(|(id, _)| *id).collect();
            let written = match store
                .mark_sent(&ids, self.conversations.clock().now())
                .await
            {
                Ok(_) => true,
                Err(err) => {
                    warn!(outbox.rows = ids.len(), error = %err, "sent but not recorded; they may be sent again");
                    false
                }
            };
            for (_, receipt) in batch.drain(..) {
                let _ = receipt.send(written);
            }
            self.conversations.delivered();
            if *stop.borrow() && rx.is_empty() {
                return;
            }
        }
    }

    /// Hands a sent row to the settler and waits for its record.
    async fn record_sent(&self, id: i64) -> bool {
        let (receipt, recorded) = oneshot::channel();
        if self.settle.send((id, receipt)).is_err() {
            return false;
        }
        recorded.await.unwrap_or(false)
    }

    /// Sends one chat's rows in order until done or told to wait.
    async fn send_chat(&self, chat: &str, mut rows: VecDeque<Queued>) -> Turn {
        let store = self.conversations.store();
        let now = || self.conversations.clock().now();
        let hand_back = |wait, everyone, rows| Turn::Wait(wait, everyone, rows);
        while let Some(mut queued) = rows.pop_front() {
            let id = queued.row.id;
            match self.send_row(chat, &mut queued).await {
                Ok(()) => {
                    self.finished_with(1);
                    if !self.record_sent(id).await {
                        // Not sent again by this process (it is below `seen_up_to`); the
                        // next start sends it again, the one duplicate a crash may cause.
                        return hand_back(Duration::from_secs(1), false, rows);
                    }
                }
                Err(ApiError::RetryAfter(wait)) => {
                    info!(
                        chat.wait_secs = wait.as_secs(),
                        "Telegram asked to slow down"
                    );
                    rows.push_front(queued);
                    return hand_back(wait, false, rows);
                }
                Err(ApiError::Unreachable(reason)) => {
                    // Everything queued for the chat fails, including rows that arrived while
                    // this turn ran.
                    let later = lock(&self.state).queues.remove(chat).unwrap_or_default();
                    let all: Vec<Queued> = std::iter::once(queued)
                        .chain(rows.drain(..))
                        .chain(later)
                        .collect();
                    let ids: Vec<i64> = all.iter().map(|q| q.row.id).collect();
                    info!(outbox.rows = ids.len(), %reason, "teacher unreachable on Telegram; pending messages failed, expert answers held");
                    let Ok(held) = store.hold_or_fail(&ids, &reason, now()).await else {
                        return hand_back(Duration::from_secs(1), false, all.into());
                    };
                    // After the rows are settled, so whoever sees "unreachable" sees them too.
                    let _ = store.set_reachable(CHANNEL, chat, false).await;
                    if !held.is_empty()
                        && let Err(err) = self.conversations.answers_held(&held).await
                    {
                        warn!(error = %err, "experts not told that an answer is held");
                    }
                    self.finished_with(ids.len());
                    return Turn::Done;
                }
                Err(ApiError::Rejected(reason)) => {
                    warn!(outbox.id = id, %reason, "Telegram rejected a message; marked failed");
                    if store.mark_failed(&[id], &reason, now()).await.is_err() {
                        rows.push_front(queued);
                        return hand_back(Duration::from_secs(1), false, rows);
                    }
                    self.finished_with(1);
                }
                Err(ApiError::Unauthorized) => {
                    warn!("Telegram refused the bot token; sending paused");
                    rows.push_front(queued);
                    return hand_back(MAX_BACKOFF, true, rows);
                }
                Err(err @ (ApiError::Transient(_) | ApiError::Conflict(_))) => {
                    debug!(outbox.id = id, error = %err, "temporary failure; will retry");
                    let backoff = lock(&self.state)
                        .waiting
                        .get(chat)
                        .map_or(Duration::from_secs(1), |(_, b)| *b);
                    rows.push_front(queued);
                    return hand_back(backoff, false, rows);
                }
            }
        }
        Turn::Done
    }

    /// Counts rows this process is done with out of memory.
    fn finished_with(&self, rows: usize) {
        let mut state = lock(&self.state);
        state.queued = state.queued.saturating_sub(rows);
    }

    /// Sends one outbox row (a reply may take several messages when it is long), skipping the
    /// parts Telegram accepted on an earlier try.
    async fn send_row(&self, chat: &str, queued: &mut Queued) -> Result<(), ApiError> {
        let outbound: Outbound = serde_json::from_str(&queued.row.payload)
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
            Outbound::Message(message) => self.send_parts(chat, &message.reply, None, queued).await,
            Outbound::Topic { ticket, name, text } => {
                let thread = match self.thread_of(&ticket).await? {
                    Some(thread) => thread,
                    None => {
                        self.wait_for_turn(chat).await;
                        // Telegram's limit for a topic name is 128 characters.
                        let name: String = name.chars().take(128).collect();
                        let params = json!({ "chat_id": chat_id(chat), "name": name });
                        let topic = self
                            .api
                            .call("createForumTopic", &params, SEND_TIMEOUT)
                            .await?;
                        let thread = topic["message_thread_id"].as_i64().ok_or_else(|| {
                            ApiError::Rejected("createForumTopic gave no message_thread_id".into())
                        })?;
                        self.conversations
                            .store()
                            .set_ticket_thread(&ticket, thread)
                            .await
                            .map_err(|e| ApiError::Transient(e.to_string()))?;
                        thread
                    }
                };
                self.send_parts(chat, &plain(text), Some(thread), queued)
                    .await
            }
            Outbound::InTopic { ticket, text, file } => {
                let Some(thread) = self.thread_of(&ticket).await? else {
                    return Err(ApiError::Transient(
                        "the ticket's topic is not created yet".into(),
                    ));
                };
                match file {
                    Some((kind, file_id)) => {
                        let method = match kind.as_str() {
                            "photo" => "sendPhoto",
                            "voice" => "sendVoice",
                            "audio" => "sendAudio",
                            "video" => "sendVideo",
                            _ => "sendDocument",
                        };
                        let field = match kind.as_str() {
                            "photo" | "voice" | "audio" | "video" => kind.as_str(),
                            _ => "document",
                        };
                        let caption: String = text.chars().take(1024).collect();
                        let mut params = json!({
                            "chat_id": chat_id(chat),
                            "message_thread_id": thread,
                            "caption": caption,
                        });
                        params[field] = Value::from(file_id);
                        self.wait_for_turn(chat).await;
                        self.api.call(method, &params, SEND_TIMEOUT).await.map(drop)
                    }
                    None => {
                        self.send_parts(chat, &plain(text), Some(thread), queued)
                            .await
                    }
                }
            }
        }
    }

    /// Sends a reply in as many messages as it takes, into a forum topic when `thread` is set.
    async fn send_parts(
        &self,
        chat: &str,
        reply: &crate::dialogue::Reply,
        thread: Option<i64>,
        queued: &mut Queued,
    ) -> Result<(), ApiError> {
        for mut params in render(reply).into_iter().skip(queued.parts_sent) {
            self.wait_for_turn(chat).await;
            params["chat_id"] = chat_id(chat);
            if let Some(thread) = thread {
                params["message_thread_id"] = Value::from(thread);
            }
            self.api.call("sendMessage", &params, SEND_TIMEOUT).await?;
            queued.parts_sent += 1;
        }
        Ok(())
    }

    /// The forum topic of a ticket, if created.
    async fn thread_of(&self, ticket: &str) -> Result<Option<i64>, ApiError> {
        match self.conversations.store().ticket_thread(ticket).await {
            Ok(thread) => Ok(thread),
            Err(crate::store::StoreError::NotFound) => {
                Err(ApiError::Rejected(format!("no ticket {ticket}")))
            }
            Err(err) => Err(ApiError::Transient(err.to_string())),
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
