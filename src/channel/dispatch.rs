//! The outbox queue under every platform's dispatcher: which rows are sent when, in what
//! order, and how a send is recorded. What a send *is* (the API call, its errors, its rate
//! limits) belongs to the platform, through [`Platform`].
//!
//! - The outbox is read incrementally: rows after the highest id seen, whenever a commit lands,
//!   plus a sweep of all pending rows every few seconds (a row whose transaction committed
//!   after a later id was read, as happens when several instances or jobs commit at once, and
//!   anything left over by a failed write). Rows wait in memory per chat, in id order, at most
//!   [`MAX_QUEUED`] at a time.
//! - A row is taken in once: the ids held (queued, being sent, or sent with a failed record)
//!   are remembered, and so are those recorded as sent until the next read starts, since a
//!   read that began before their record was written may still return them as pending.
//! - One task per chat at a time, so a chat's messages go out in the order they were queued;
//!   different chats are sent in parallel.
//! - Sent rows are recorded by one settler task in group commits: a chat's task waits for its
//!   row's record before sending the next row, so a crash duplicates at most one message per
//!   chat, while a thousand chats share one write.
//! - A chat's turn ends [`Turn::Done`], or [`Turn::Wait`] with the rows handed back: the chat
//!   is not sent to again before the wait is over (and, when the platform says so, no chat
//!   is); repeated waits double, up to [`MAX_BACKOFF`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::warn;

use crate::conversation::Conversations;
use crate::store::OutboxMessage;

/// Rows read per look at the outbox.
const READ_LIMIT: i64 = 2_000;
/// Rows held in memory at most; beyond this the outbox is read as the queues drain.
pub const MAX_QUEUED: usize = 20_000;
/// How often all pending rows are looked at again.
const SWEEP_EVERY: Duration = Duration::from_secs(2);
/// Chats sent to at once.
const PARALLEL_CHATS: usize = 256;
/// Sent rows recorded in one write at most.
const SETTLE_BATCH: usize = 4_096;
/// How long the record of sent rows is retried before they are left pending (and sent again
/// by the next sender): well within a leader's renewal margin.
const SETTLE_RETRY_FOR: Duration = Duration::from_secs(4);
/// The first pause between those retries (doubling, up to a second).
const SETTLE_RETRY_FIRST: Duration = Duration::from_millis(50);
/// Longest back-off after repeated temporary failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A platform's side of sending: one chat's rows at a time.
pub trait Platform: Clone + Send + Sync + 'static {
    /// The outbox channel this platform sends (`telegram`, `whatsapp`).
    const CHANNEL: &'static str;

    /// Sends `rows` of `chat` in order until done or told to wait, recording each sent row
    /// with [`Queue::record_sent`] before sending the next.
    fn send_chat(
        &self,
        queue: &Queue<Self>,
        chat: &str,
        rows: VecDeque<Queued>,
    ) -> impl Future<Output = Turn> + Send;
}

/// A row waiting to be sent, and how many parts of it the platform has accepted already (a
/// long reply takes several messages; those accepted are not sent again on a retry).
pub struct Queued {
    /// The outbox row.
    pub row: OutboxMessage,
    /// Parts accepted so far.
    pub parts_sent: usize,
}

/// How a chat's turn ended.
pub enum Turn {
    /// Everything given was sent or settled.
    Done,
    /// Stop and try again after this long (`true`: every chat waits), with the rows not
    /// finished with, in order.
    Wait(Duration, bool, VecDeque<Queued>),
}

/// A sent row's id, the platform's id for what was sent, and the channel on which the settler
/// says whether it was recorded.
type Settle = (i64, Option<String>, oneshot::Sender<bool>);

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
    /// Chats that must wait (rate limit or back-off), and their current back-off.
    waiting: HashMap<String, (Instant, Duration)>,
    /// Nobody is sent to before this (a wait that applies to the whole sender).
    all_wait: Option<Instant>,
    /// Outbox ids taken in and not to be taken again: `false` while held (queued, being
    /// sent, or sent but not recorded: never sent twice by this sender), `true` once recorded
    /// as sent (forgotten when the next read starts, see [`ChatState::forget_recorded`]).
    /// Not a per-chat highest id: rows of one chat may commit out of id order (two instances,
    /// or a job and a conversation, committing at once), and a late one must still go.
    taken: HashMap<i64, bool>,
    /// The highest id read by the incremental reads.
    cursor: i64,
}

fn lock(state: &Mutex<ChatState>) -> MutexGuard<'_, ChatState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ChatState {
    /// Takes in rows read from the outbox, skipping those already held or finished.
    fn take_in(&mut self, rows: Vec<OutboxMessage>, now: Instant) {
        for row in rows {
            if self.taken.contains_key(&row.id) {
                continue;
            }
            self.taken.insert(row.id, false);
            let chat = row.channel_user.clone();
            let queue = self.queues.entry(chat.clone()).or_default();
            let was_empty = queue.is_empty();
            // In id order, so a row that committed late still goes before later ones queued.
            let at = queue.partition_point(|q| q.row.id < row.id);
            queue.insert(at, Queued { row, parts_sent: 0 });
            self.queued += 1;
            if was_empty && !self.busy.contains(&chat) && !self.is_waiting(&chat, now) {
                self.ready.push_back(chat);
            }
        }
    }

    /// Forgets the rows recorded as sent, when a read is about to start: it cannot return
    /// them (their record committed before it), and no read is in flight that could (reads
    /// run one after another).
    fn forget_recorded(&mut self) {
        self.taken.retain(|_, recorded| !*recorded);
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

/// The outbox queue of one platform.
pub struct Queue<P> {
    platform: P,
    conversations: Conversations,
    state: Arc<Mutex<ChatState>>,
    /// Wakes the loop when a chat's turn ends.
    wake: Arc<Notify>,
    /// Sent rows on their way to the settler, each with the sender's receipt.
    settle: mpsc::UnboundedSender<Settle>,
    /// The settler's end, taken by [`Queue::run`].
    settle_rx: Arc<Mutex<Option<mpsc::UnboundedReceiver<Settle>>>>,
}

impl<P: Clone> Clone for Queue<P> {
    fn clone(&self) -> Self {
        Queue {
            platform: self.platform.clone(),
            conversations: self.conversations.clone(),
            state: Arc::clone(&self.state),
            wake: Arc::clone(&self.wake),
            settle: self.settle.clone(),
            settle_rx: Arc::clone(&self.settle_rx),
        }
    }
}

impl<P: Platform> Queue<P> {
    /// A queue sending the outbox rows of `P::CHANNEL` through `platform`.
    #[must_use]
    pub fn new(platform: P, conversations: Conversations) -> Queue<P> {
        let (settle, settle_rx) = mpsc::unbounded_channel();
        Queue {
            platform,
            conversations,
            state: Arc::new(Mutex::new(ChatState::default())),
            wake: Arc::new(Notify::new()),
            settle,
            settle_rx: Arc::new(Mutex::new(Some(settle_rx))),
        }
    }

    /// The platform it sends through.
    #[must_use]
    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// The conversations whose outbox this is.
    #[must_use]
    pub fn conversations(&self) -> &Conversations {
        &self.conversations
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
                let mut state = lock(&self.state);
                if state.queued >= MAX_QUEUED {
                    return;
                }
                state.forget_recorded();
                state.cursor
            };
            let rows = match self
                .conversations
                .store()
                .pending_outbox_after(P::CHANNEL, cursor, READ_LIMIT)
                .await
            {
                Ok(rows) => rows,
                Err(err) => {
                    warn!(channel = P::CHANNEL, error = %err, "cannot read the outbox");
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
        {
            let mut state = lock(&self.state);
            if state.queued >= MAX_QUEUED {
                return;
            }
            state.forget_recorded();
        }
        match self
            .conversations
            .store()
            .pending_outbox(P::CHANNEL, READ_LIMIT)
            .await
        {
            Ok(rows) => lock(&self.state).take_in(rows, Instant::now()),
            Err(err) => warn!(channel = P::CHANNEL, error = %err, "cannot read the outbox"),
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
                let turn = this.platform.send_chat(&this, &chat, rows).await;
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
            let sent: Vec<(i64, Option<String>)> = batch
                .iter_mut()
                .map(|(id, provider_id, _)| (*id, provider_id.take()))
                .collect();
            // The rows went out: a failed record (a dropped connection, say) is tried again
            // for a few seconds, since a row left pending is sent again by the next sender.
            let mut outcome = store
                .mark_sent_as(&sent, self.conversations.clock().now())
                .await;
            let mut pause = SETTLE_RETRY_FIRST;
            let give_up = Instant::now() + SETTLE_RETRY_FOR;
            while outcome.is_err() && Instant::now() + pause < give_up {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
                outcome = store
                    .mark_sent_as(&sent, self.conversations.clock().now())
                    .await;
            }
            let written = match outcome {
                Ok(_) => {
                    let mut state = lock(&self.state);
                    for (id, _) in &sent {
                        state.taken.insert(*id, true);
                    }
                    true
                }
                Err(err) => {
                    warn!(outbox.rows = sent.len(), error = %err, "sent but not recorded; they may be sent again");
                    false
                }
            };
            for (_, _, receipt) in batch.drain(..) {
                let _ = receipt.send(written);
            }
            self.conversations.delivered();
            if *stop.borrow() && rx.is_empty() {
                return;
            }
        }
    }

    /// Records a sent row (with the platform's id for it, when it gives one) and waits for
    /// the record; `false` when it could not be written. Counts the row as finished with.
    pub async fn record_sent(&self, id: i64, provider_id: Option<String>) -> bool {
        self.finished_with(1);
        let (receipt, recorded) = oneshot::channel();
        if self.settle.send((id, provider_id, receipt)).is_err() {
            return false;
        }
        recorded.await.unwrap_or(false)
    }

    /// Counts rows this process is done with (settled some other way) out of memory.
    pub fn finished_with(&self, rows: usize) {
        let mut state = lock(&self.state);
        state.queued = state.queued.saturating_sub(rows);
    }

    /// Takes the rows of `chat` that arrived while its turn ran, for a platform that settles
    /// all of a chat's rows at once (a teacher who cannot be reached).
    #[must_use]
    pub fn take_later(&self, chat: &str) -> VecDeque<Queued> {
        lock(&self.state).queues.remove(chat).unwrap_or_default()
    }

    /// The teacher cannot be reached (blocked us, left the platform): every row queued for
    /// the chat, `rows` and any that arrived meanwhile, is settled at once, no retry storm.
    /// Rows carrying an expert's answer (or a CPD notice) are held for when the teacher writes
    /// again (the experts are told of answers), the rest fail with `reason`, and the teacher is marked unreachable.
    pub async fn unreachable(&self, chat: &str, mut rows: VecDeque<Queued>, reason: &str) -> Turn {
        let store = self.conversations.store();
        rows.extend(self.take_later(chat));
        let ids: Vec<i64> = rows.iter().map(|q| q.row.id).collect();
        tracing::info!(channel = P::CHANNEL, outbox.rows = ids.len(), %reason, "teacher unreachable; pending messages failed, expert answers held");
        let now = self.conversations.clock().now();
        // Rows settled and the teacher marked unreachable in one transaction.
        let Ok(held) = store
            .hold_or_fail((P::CHANNEL, chat), &ids, reason, now)
            .await
        else {
            return Turn::Wait(Duration::from_secs(1), false, rows);
        };
        // Rows of a CPD notice are held too (tagged `cpd:{plan}`); only tickets have experts
        // to tell.
        let tickets: Vec<String> = held
            .into_iter()
            .filter(|t| !t.starts_with("cpd:"))
            .collect();
        if !tickets.is_empty()
            && let Err(err) = self.conversations.answers_held(&tickets).await
        {
            warn!(error = %err, "experts not told that an answer is held");
        }
        self.finished_with(ids.len());
        Turn::Done
    }

    /// The back-off the chat is on: a second at first, doubling with each wait in a row.
    #[must_use]
    pub fn backoff(&self, chat: &str) -> Duration {
        lock(&self.state)
            .waiting
            .get(chat)
            .map_or(Duration::from_secs(1), |(_, b)| *b)
    }
}
