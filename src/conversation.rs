//! The one place where decisions meet I/O.
//!
//! For each inbound event: store it in the inbox (deduplicated) before anything else; then, in
//! arrival order per conversation, load the state, call the pure [`dialogue::step`], and write
//! the new state, transcript, progress and outbox rows in one transaction
//! ([`Store::commit_step`]). Different conversations are processed concurrently; one
//! conversation is only ever processed by one task at a time ([`Conversations::kick`]).
//!
//! Several instances on one database share the inbox: a worker takes a lease on each
//! conversation it is about to step (`conversation:{channel}:{user}`, [`CONVERSATION_LEASE`]),
//! looks only at conversations nobody else holds, and gives the leases back after its commit. A
//! commit is refused when the conversation's version moved or one of its events is no longer
//! pending, and the conversation is then read again: so even a worker that outlived its lease
//! never processes an event twice or out of order.

pub mod cpd;
pub mod desk;
pub mod programme;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tracing::{debug, warn};

use crate::channel::{InboundMessage, Outbound, OutboundMessage};
use crate::clock::Clock;
use crate::content::ContentHandle;
use crate::dialogue::{Effect, Input, State};
use crate::helpdesk::{self, TeacherState};
use crate::language::Lang;
use crate::store::{
    Attempt, Commit, Conversation, InboxEvent, LessonRecord, NewInbound, OutboundRecord,
    QuizAnswerRecord, Store, StoreError, TranscriptEntry,
};
use crate::store::{ExpertWrite, QuestionRow, TicketMessageRow, TicketRow};

/// Events taken per batch: enough to make the transaction's fixed costs small per event.
pub const BATCH: i64 = 256;
/// How long a worker's claim on a conversation holds if it never gives it back (its instance
/// died): the conversation's next events wait at most this long for another instance.
pub const CONVERSATION_LEASE: std::time::Duration = std::time::Duration::from_secs(30);
/// How often a step is retried when another writer changed the conversation first.
const CONFLICT_RETRIES: usize = 8;
/// After this many failed attempts an event is set aside (status `skipped`, logged) so that one
/// poisoned event can never stall its conversation.
const MAX_ATTEMPTS: i64 = 5;

/// The conversation service: shared by the web routes, the terminal chat and the worker.
#[derive(Clone, Debug)]
pub struct Conversations {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    content: ContentHandle,
    clock: Clock,
    /// Wakes the worker when events arrive.
    wake: Notify,
    /// Queue of the task that stores inbound events, many per statement.
    inbox_writer: mpsc::UnboundedSender<PendingInbound>,
    /// Bumped after every commit, so long-polling readers wake up.
    committed: watch::Sender<u64>,
    /// Bumped when a dispatcher settles outbox rows (sent, failed, teacher unreachable).
    delivered: watch::Sender<u64>,
    /// Bumped when a commit attached a file to a ticket (the media keeper waits on it).
    attached: watch::Sender<u64>,
    /// Bumped when a commit scheduled jobs (the scheduler looks at once).
    jobs: watch::Sender<u64>,
    /// This process's name in leases (`{pid}-{random}`): unique among instances sharing a
    /// database, and new at every start, so a restarted instance never mistakes a dead one's
    /// claims for its own.
    instance: String,
    /// The experts' Telegram group (chat id), when there is one.
    expert_group: Option<String>,
    /// Where Baithak's public pages are reached from outside (`BAITHAK_PUBLIC_URL`), for
    /// pictures sent by URL and verification links.
    public_url: Option<String>,
}

/// Defaults for a teacher's first contact.
#[derive(Clone, Copy, Debug, Default)]
pub struct NewTeacher {
    /// A language chosen before onboarding (terminal `--lang`).
    pub lang: Option<Lang>,
}

impl Conversations {
    /// Builds the service over a store and content.
    #[must_use]
    pub fn new(store: Store, content: ContentHandle, clock: Clock) -> Conversations {
        let (committed, _) = watch::channel(0);
        let (inbox_writer, queue) = mpsc::unbounded_channel();
        tokio::spawn(write_inbox(store.clone(), queue));
        Conversations {
            inner: Arc::new(Inner {
                store,
                content,
                clock,
                wake: Notify::new(),
                inbox_writer,
                committed,
                delivered: watch::channel(0).0,
                attached: watch::channel(0).0,
                jobs: watch::channel(0).0,
                instance: format!("{}-{:08x}", std::process::id(), rand::random::<u32>()),
                expert_group: None,
                public_url: None,
            }),
        }
    }

    /// Tickets open topics in this Telegram group, and what experts write there reaches the
    /// teachers. Call before the conversations are shared.
    #[must_use]
    pub fn with_expert_group(mut self, group: Option<i64>) -> Conversations {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.expert_group = group.map(|g| g.to_string());
        }
        self
    }

    /// Pictures (certificates) are sent by URL under `url`; without one, their captions go
    /// alone. Call before the conversations are shared.
    #[must_use]
    pub fn with_public_url(mut self, url: Option<String>) -> Conversations {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.public_url = url
                .map(|u| u.trim().trim_end_matches('/').to_string())
                .filter(|u| !u.is_empty());
        }
        self
    }

    /// Baithak's public URL (no trailing slash), when configured.
    #[must_use]
    pub fn public_url(&self) -> Option<&str> {
        self.inner.public_url.as_deref()
    }

    /// This process's name in leases.
    #[must_use]
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    /// Wakes this instance's senders when any instance commits outbox rows (PostgreSQL
    /// `LISTEN`), so a reply stepped on another instance goes out at once rather than at the
    /// sender's next sweep. Runs until the conversations are dropped; nothing on SQLite.
    pub fn follow_other_instances(&self) {
        let weak = Arc::downgrade(&self.inner);
        let store = self.inner.store.clone();
        tokio::spawn(async move {
            store
                .watch_outbox(|| match weak.upgrade() {
                    Some(inner) => {
                        inner.committed.send_modify(|n| *n = n.wrapping_add(1));
                        true
                    }
                    None => false,
                })
                .await;
        });
    }

    /// Names this instance in leases (see [`crate::config::Settings::instance`]). Call before
    /// the conversations are shared.
    #[must_use]
    pub fn with_instance(mut self, name: String) -> Conversations {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.instance = name;
        }
        self
    }

    /// The experts' Telegram group (chat id), when there is one.
    #[must_use]
    pub fn expert_group(&self) -> Option<&str> {
        self.inner.expert_group.as_deref()
    }

    /// Wakes readers of the outbox after something other than a conversation step wrote to
    /// it (SLA notices, for instance).
    pub fn notify_committed(&self) {
        self.inner.committed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Tells the experts, in each ticket's topic, that its answer waits for a teacher who
    /// cannot be reached (see [`Store::hold_or_fail`]).
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the notices could not be queued.
    pub async fn answers_held(&self, tickets: &[String]) -> Result<(), StoreError> {
        let Some(group) = self.expert_group() else {
            return Ok(());
        };
        let notices: Vec<crate::store::Notice> = tickets
            .iter()
            .map(|code| crate::store::Notice {
                ticket: code.clone(),
                payload: crate::sla_watch::in_topic(
                    code,
                    &format!(
                        "📭 The teacher cannot be reached right now (the bot is blocked or the chat \
                         is closed). The answer to {code} is kept and goes out when they write again."
                    ),
                ),
                marks: None,
            })
            .collect();
        self.inner
            .store
            .commit_notices(group, &notices, self.inner.clock.now())
            .await?;
        self.notify_committed();
        Ok(())
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The content.
    #[must_use]
    pub fn content(&self) -> &ContentHandle {
        &self.inner.content
    }

    /// The clock.
    #[must_use]
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// A receiver that changes after every commit.
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.committed.subscribe()
    }

    /// A receiver that changes whenever a dispatcher settles outbox rows.
    #[must_use]
    pub fn subscribe_deliveries(&self) -> watch::Receiver<u64> {
        self.inner.delivered.subscribe()
    }

    /// Tells the scheduler that jobs were scheduled outside a conversation (a broadcast started
    /// from the console): it looks at the table at once instead of at its next poll.
    pub fn jobs_scheduled(&self) {
        self.inner.jobs.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that changes when a commit scheduled jobs (the scheduler waits on it).
    #[must_use]
    pub fn subscribe_jobs(&self) -> watch::Receiver<u64> {
        self.inner.jobs.subscribe()
    }

    /// A receiver that changes when a teacher's file was attached to a ticket.
    #[must_use]
    pub fn subscribe_attachments(&self) -> watch::Receiver<u64> {
        self.inner.attached.subscribe()
    }

    /// Tells delivery watchers that outbox rows were settled (dispatchers call this).
    pub fn delivered(&self) {
        self.inner.delivered.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Stores an inbound message; `Ok(false)` when it was a redelivery.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when it could not be stored (the caller must not acknowledge it).
    pub async fn receive(
        &self,
        channel: &str,
        external_id: &str,
        channel_user: &str,
        message: &InboundMessage,
    ) -> Result<bool, StoreError> {
        let stored = self
            .receive_many(
                channel,
                &[(
                    external_id.to_string(),
                    channel_user.to_string(),
                    message.clone(),
                )],
            )
            .await?;
        Ok(stored.first().copied().unwrap_or(false))
    }

    /// Stores many inbound messages of one channel together (a `getUpdates` batch): each is
    /// `(external id, channel user, message)`; returns for each whether it was new.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when they could not be stored (the caller must not acknowledge them).
    pub async fn receive_many(
        &self,
        channel: &str,
        messages: &[(String, String, InboundMessage)],
    ) -> Result<Vec<bool>, StoreError> {
        let now = self.inner.clock.now();
        let mut replies = Vec::with_capacity(messages.len());
        for (external_id, channel_user, message) in messages {
            let (reply, stored) = oneshot::channel();
            let request = PendingInbound {
                channel: channel.to_string(),
                external_id: external_id.clone(),
                channel_user: channel_user.clone(),
                payload: serde_json::to_string(&message.sanitized()).unwrap_or_default(),
                received_at: now,
                reply,
            };
            if self.inner.inbox_writer.send(request).is_err() {
                return Err(StoreError::Unavailable);
            }
            replies.push(stored);
        }
        let mut stored = Vec::with_capacity(replies.len());
        for reply in replies {
            let new = reply.await.map_err(|_| StoreError::Unavailable)??;
            if !new {
                debug!(channel, "duplicate inbound event ignored");
            }
            stored.push(new);
        }
        Ok(stored)
    }

    /// Wakes the worker: new events are waiting. Returns at once.
    pub fn kick(&self) {
        self.inner.wake.notify_one();
    }

    /// The worker loop of `serve`: processes pending events in batches until `shutdown`,
    /// sleeping until kicked (or for `idle` at most, which also picks up events left pending
    /// by a crash or a failure).
    pub async fn run_worker(self, idle: std::time::Duration, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let processed = match self.process_batch(BATCH).await {
                Ok(n) => n,
                Err(err) => {
                    warn!(error = %err, "batch failed; retrying after a pause");
                    0
                }
            };
            if processed > 0 {
                continue;
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(idle) => {}
            }
        }
    }

    /// Processes up to `limit` pending events of any conversations, oldest first, in one
    /// transaction; returns how many were taken.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the database fails; the events stay pending.
    pub async fn process_batch(&self, limit: i64) -> Result<usize, StoreError> {
        let store = &self.inner.store;
        let me = self.inner.instance.as_str();
        // Leases are about processes staying alive, so they use the wall clock, never a
        // manual one.
        let now = Utc::now();
        let events = store.pending_unleased(me, now, limit).await?;
        if events.is_empty() {
            return Ok(0);
        }
        let mut wanted: Vec<String> = events
            .iter()
            .map(|e| crate::store::conversation_lease(&e.channel, &e.channel_user))
            .collect();
        wanted.sort();
        wanted.dedup();
        let until = now + chrono::Duration::from_std(CONVERSATION_LEASE).unwrap_or_default();
        let held = store.take_leases(&wanted, me, now, until).await?;
        let mine: std::collections::HashSet<&str> = held.iter().map(String::as_str).collect();
        let events: Vec<InboxEvent> = events
            .into_iter()
            .filter(|e| {
                mine.contains(
                    crate::store::conversation_lease(&e.channel, &e.channel_user).as_str(),
                )
            })
            .collect();
        if held.len() < wanted.len() {
            debug!(
                skipped = wanted.len() - held.len(),
                "conversations held by another instance"
            );
        }
        let outcome = self.process_events(events, NewTeacher::default()).await;
        if let Err(err) = store.release_leases(&held, me).await {
            // They expire on their own.
            debug!(error = %err, "conversation leases not released");
        }
        outcome
    }

    /// Processes the pending events of one conversation now, in order; returns how many.
    ///
    /// For the terminal chat and tests, which have no worker running.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the database fails; the events stay pending.
    pub async fn process_pending(
        &self,
        channel: &str,
        channel_user: &str,
        new_teacher: NewTeacher,
    ) -> Result<usize, StoreError> {
        let events = self.inner.store.pending_for(channel, channel_user).await?;
        self.process_events(events, new_teacher).await
    }

    /// Steps every event (each conversation's in arrival order) and commits them all at once.
    /// When the batch cannot be committed, each conversation is retried on its own, so one
    /// conflict or one poisoned event holds up nobody else.
    async fn process_events(
        &self,
        events: Vec<InboxEvent>,
        new_teacher: NewTeacher,
    ) -> Result<usize, StoreError> {
        let taken = events.len();
        if taken == 0 {
            return Ok(0);
        }
        let groups = self.readable_groups(events).await?;
        match self.commit_groups(&groups, new_teacher).await {
            Ok(()) => {}
            Err(err) if groups.len() > 1 => {
                debug!(error = %err, conversations = groups.len(), "batch not committed; one conversation at a time");
                for group in &groups {
                    self.process_alone(group, new_teacher).await?;
                }
            }
            Err(_) => self.process_alone(&groups[0], new_teacher).await?,
        }
        self.notify_committed();
        Ok(taken)
    }

    /// An expert's message in the expert group: a command on the topic's ticket, or an answer
    /// relayed to the teacher (through the teacher's inbox, so it is ordered and durable like
    /// anything the teacher sends). One transaction per message.
    async fn process_expert(
        &self,
        event: &InboxEvent,
        message: &InboundMessage,
    ) -> Result<(), StoreError> {
        // A claim is written only if nobody claimed the ticket since it was read (from the
        // console, say): then it is read and decided again.
        for _ in 0..CONFLICT_RETRIES {
            match self.process_expert_once(event, message).await {
                Err(StoreError::Conflict) => {}
                done => return done,
            }
        }
        Err(StoreError::Conflict)
    }

    async fn process_expert_once(
        &self,
        event: &InboxEvent,
        message: &InboundMessage,
    ) -> Result<(), StoreError> {
        let InboundMessage::Group {
            thread,
            from_name,
            text,
            ..
        } = message
        else {
            return Ok(());
        };
        let store = &self.inner.store;
        let now = self.inner.clock.now();
        let group = event.channel_user.clone();
        let mut write = ExpertWrite {
            inbox_id: Some(event.id),
            now: Some(now),
            ..ExpertWrite::default()
        };
        let ticket = match thread {
            Some(thread) => store.ticket_by_thread(*thread).await?,
            None => None,
        };
        let reply = |ticket: &str, text: String| {
            serde_json::to_string(&Outbound::InTopic {
                ticket: ticket.to_string(),
                text,
                file: None,
            })
            .unwrap_or_default()
        };
        let command = helpdesk::expert_command(text);
        let Some(ticket) = ticket else {
            // The General topic or a topic without a ticket: only `/queue` means anything there,
            // and its answer needs a ticket's topic to go to; nothing reaches a teacher.
            debug!(
                inbox.id = event.id,
                "expert group message outside a ticket's topic"
            );
            store.commit_expert(&write).await?;
            return Ok(());
        };
        write.ticket = Some(ticket.code.clone());
        let code = ticket.code.clone();
        let teacher = ticket.teacher_id;
        match command {
            helpdesk::ExpertCommand::Claim => {
                use helpdesk::desk::{Action, Seen, decide};
                let seen = Seen {
                    status: ticket.status.clone(),
                    expert: ticket.expert.clone(),
                };
                let text = match decide(&code, &seen, from_name, &Action::Claim, |_| true) {
                    Ok(change) if change.unchanged => change.summary,
                    Ok(change) => {
                        write.status = change.status.map(str::to_string);
                        write.expert = change.expert;
                        write.expect = Some((seen.status, seen.expert));
                        change.summary
                    }
                    Err(refusal) => refusal.to_string(),
                };
                write.replies.push((teacher, group, reply(&code, text)));
            }
            helpdesk::ExpertCommand::Close => {
                write.status = Some("closed".into());
                write.replies.push((
                    teacher,
                    group,
                    reply(&code, format!("✅ {code} is closed.")),
                ));
            }
            helpdesk::ExpertCommand::Note(note) => {
                write.message = Some(TicketMessageRow {
                    ticket: code.clone(),
                    author: "note".into(),
                    kind: "text".into(),
                    body: note,
                    file_id: None,
                    expert: Some(from_name.clone()),
                });
                write.replies.push((
                    teacher,
                    group,
                    reply(&code, "📝 Note kept (the teacher does not see it).".into()),
                ));
            }
            helpdesk::ExpertCommand::Topic(topic) => {
                let known = self.inner.content.get().topics.contains(&topic);
                let answer = if known {
                    write.topic = Some(topic.clone());
                    format!("🏷 {code} is now about {topic}.")
                } else {
                    format!("No topic `{topic}`; see knowledge-base/topics.yaml.")
                };
                write.replies.push((teacher, group, reply(&code, answer)));
            }
            helpdesk::ExpertCommand::Queue => {
                let open = store.open_tickets(20).await?;
                let lines: Vec<String> = open
                    .iter()
                    .map(|t| {
                        let held = if t.delivery.as_deref() == Some("held") {
                            " · answer waiting: teacher unreachable"
                        } else {
                            ""
                        };
                        format!(
                            "{} · {} · {} · {}{held}",
                            t.code,
                            t.status,
                            t.topic.as_deref().unwrap_or("-"),
                            t.language
                        )
                    })
                    .collect();
                let text = if lines.is_empty() {
                    "No open tickets.".to_string()
                } else {
                    format!("Open tickets ({}):\n{}", lines.len(), lines.join("\n"))
                };
                write.replies.push((teacher, group, reply(&code, text)));
            }
            helpdesk::ExpertCommand::Answer(answer) => {
                if ticket.status == "closed" {
                    write.replies.push((
                        teacher,
                        group,
                        reply(
                            &code,
                            format!("{code} is closed: nothing was sent to the teacher."),
                        ),
                    ));
                } else {
                    write.status = Some("answered".into());
                    write.expert = Some(from_name.clone());
                    write.message = Some(TicketMessageRow {
                        ticket: code.clone(),
                        author: "expert".into(),
                        kind: "text".into(),
                        body: answer.clone(),
                        file_id: None,
                        expert: Some(from_name.clone()),
                    });
                    let (channel, user) = store.teacher_address(teacher).await?;
                    let payload = serde_json::to_string(&InboundMessage::ExpertAnswer {
                        ticket: code.clone(),
                        text: answer,
                    })
                    .unwrap_or_default();
                    write.relay = Some((channel, user, format!("expert:{}", event.id), payload));
                }
            }
        }
        store.commit_expert(&write).await?;
        self.kick();
        Ok(())
    }

    /// Groups events by conversation, keeping arrival order; unreadable payloads are skipped.
    async fn readable_groups(&self, events: Vec<InboxEvent>) -> Result<Vec<Group>, StoreError> {
        let mut groups: Vec<Group> = Vec::new();
        let mut index: HashMap<(String, String), usize> = HashMap::new();
        for event in events {
            let message: InboundMessage = match serde_json::from_str(&event.payload) {
                Ok(m) => m,
                Err(err) => {
                    warn!(inbox.id = event.id, error = %err, "unreadable inbox payload skipped");
                    self.inner
                        .store
                        .skip_inbound(event.id, self.inner.clock.now())
                        .await?;
                    crate::metrics::processed("skipped", 1);
                    continue;
                }
            };
            if let InboundMessage::Group { .. } = &message {
                if self.inner.expert_group.as_deref() == Some(event.channel_user.as_str())
                    && event.channel == "telegram"
                {
                    self.process_expert(&event, &message).await?;
                    crate::metrics::committed([event.received_at], self.inner.clock.now());
                } else {
                    debug!(
                        inbox.id = event.id,
                        "a group message outside the expert group skipped"
                    );
                    self.inner
                        .store
                        .skip_inbound(event.id, self.inner.clock.now())
                        .await?;
                    crate::metrics::processed("skipped", 1);
                }
                continue;
            }
            if let InboundMessage::Ignored { reason } = &message {
                debug!(inbox.id = event.id, reason = %reason, "update stored and skipped");
                self.inner
                    .store
                    .skip_inbound(event.id, self.inner.clock.now())
                    .await?;
                crate::metrics::processed("skipped", 1);
                continue;
            }
            let key = (event.channel.clone(), event.channel_user.clone());
            let at = *index.entry(key.clone()).or_insert_with(|| {
                groups.push(Group {
                    key,
                    events: Vec::new(),
                });
                groups.len() - 1
            });
            groups[at].events.push((event, message));
        }
        Ok(groups)
    }

    async fn commit_groups(
        &self,
        groups: &[Group],
        new_teacher: NewTeacher,
    ) -> Result<(), StoreError> {
        let now = self.inner.clock.now();
        let initial = serde_json::to_string(&initial_state(new_teacher)).unwrap_or_default();
        let keys: Vec<(String, String)> = groups.iter().map(|g| g.key.clone()).collect();
        let conversations = self
            .inner
            .store
            .load_conversations(&keys, &initial, now)
            .await?;
        let content = self.inner.content.get();
        let mut commits = Vec::with_capacity(groups.len());
        for group in groups {
            let conversation = conversations.get(&group.key).ok_or(StoreError::NotFound)?;
            commits.push(step_group(
                &content,
                self.inner.expert_group.as_deref(),
                conversation,
                group,
                new_teacher,
                now,
            ));
        }
        self.inner.store.commit_batch(&commits).await?;
        let received = groups
            .iter()
            .flat_map(|g| &g.events)
            .map(|(e, _)| e.received_at);
        crate::metrics::committed(received, self.inner.clock.now());
        let files = commits
            .iter()
            .flat_map(|c| &c.ticket_messages)
            .any(|m| m.file_id.is_some())
            || commits.iter().flat_map(|c| &c.programme).any(|e| {
                matches!(e, crate::programme::Effect::SharePractice(shared) if shared.photo.is_some())
            });
        if files {
            self.inner.attached.send_modify(|n| *n = n.wrapping_add(1));
        }
        let jobs = commits.iter().flat_map(|c| &c.programme).any(|e| {
            matches!(
                e,
                crate::programme::Effect::ScheduleJob { .. }
                    | crate::programme::Effect::Verify { .. }
            )
        });
        if jobs {
            self.inner.jobs.send_modify(|n| *n = n.wrapping_add(1));
        }
        Ok(())
    }

    /// One conversation on its own: retried on conflicts; after repeated failures its first
    /// event is set aside (status `skipped`, logged) so the rest of its queue moves on.
    async fn process_alone(
        &self,
        group: &Group,
        new_teacher: NewTeacher,
    ) -> Result<(), StoreError> {
        let mut last = StoreError::Conflict;
        let mut reread: Option<Group> = None;
        for attempt in 0..CONFLICT_RETRIES {
            if attempt > 0 && matches!(last, StoreError::Conflict) {
                // Someone else moved the conversation on, perhaps by processing some of these
                // very events: step what is still pending, from the state as it is now.
                let (channel, user) = &group.key;
                let events = self.inner.store.pending_for(channel, user).await?;
                let mut groups = self.readable_groups(events).await?;
                match groups.pop() {
                    Some(fresh) => reread = Some(fresh),
                    None => return Ok(()),
                }
            }
            let current = reread.as_ref().unwrap_or(group);
            match self
                .commit_groups(std::slice::from_ref(current), new_teacher)
                .await
            {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict) => last = StoreError::Conflict,
                Err(err) => {
                    last = err;
                    break;
                }
            }
        }
        let group = reread.as_ref().unwrap_or(group);
        let Some((first, _)) = group.events.first() else {
            return Ok(());
        };
        let attempts = self.inner.store.fail_inbound(first.id).await?;
        if attempts < MAX_ATTEMPTS {
            return Err(last);
        }
        warn!(inbox.id = first.id, attempts, error = %last, "event set aside after repeated failures");
        crate::metrics::processed("set_aside", 1);
        self.inner
            .store
            .skip_inbound(first.id, self.inner.clock.now())
            .await
    }
}

/// An inbound event waiting for the inbox writer, with where to say whether it was new.
struct PendingInbound {
    channel: String,
    external_id: String,
    channel_user: String,
    payload: String,
    received_at: DateTime<Utc>,
    reply: oneshot::Sender<Result<bool, StoreError>>,
}

/// Most events stored by one statement.
const INBOX_BATCH: usize = 512;

/// Stores inbound events as they queue up: one insert for everything that arrived while the
/// previous insert ran (group commit), so a burst of webhooks costs a few statements, not one
/// each. Every sender learns the outcome before it acknowledges its platform.
async fn write_inbox(store: Store, mut queue: mpsc::UnboundedReceiver<PendingInbound>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < INBOX_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let events: Vec<NewInbound<'_>> = batch
            .iter()
            .map(|p| NewInbound {
                channel: &p.channel,
                external_id: &p.external_id,
                channel_user: &p.channel_user,
                payload: &p.payload,
                received_at: p.received_at,
            })
            .collect();
        let outcome = store.record_inbound_many(&events).await;
        drop(events);
        match outcome {
            Ok(ids) => {
                for (pending, id) in batch.into_iter().zip(ids) {
                    crate::metrics::inbound(&pending.channel, id.is_some());
                    let _ = pending.reply.send(Ok(id.is_some()));
                }
            }
            Err(err) => {
                warn!(error = %err, events = batch.len(), "inbound events not stored");
                for pending in batch {
                    let _ = pending.reply.send(Err(StoreError::Unavailable));
                }
            }
        }
    }
}

/// The pending events of one conversation, in arrival order, with their decoded messages.
struct Group {
    key: (String, String),
    events: Vec<(InboxEvent, InboundMessage)>,
}

/// Steps a conversation through its events and gathers everything they write into one commit.
fn step_group(
    content: &crate::content::Content,
    expert_group: Option<&str>,
    conversation: &Conversation,
    group: &Group,
    new_teacher: NewTeacher,
    now: DateTime<Utc>,
) -> Commit {
    let cx = helpdesk::Context {
        dialogues: &content.dialogues,
        kb: &content.knowledge,
        config: &content.helpdesk,
        programme: &content.programme,
    };
    let mut state: TeacherState = serde_json::from_str(&conversation.state).unwrap_or_else(|err| {
        warn!(teacher.id = conversation.teacher_id, error = %err, "unreadable state; starting over");
        TeacherState {
            dialogue: initial_state(new_teacher),
            ..TeacherState::default()
        }
    });
    let mut commit = Commit {
        teacher_id: conversation.teacher_id,
        version: conversation.version,
        now,
        ..Commit::default()
    };
    for (event, message) in &group.events {
        commit.inbox_ids.push(event.id);
        if let InboundMessage::Resume = message {
            // The teacher wrote: the window opens and what was held goes out first.
            commit.reachable = Some(true);
            commit.wrote = true;
            commit.transcript.push(TranscriptEntry {
                direction: "in",
                node: None,
                body: message.transcript_text(),
            });
            continue;
        }
        if let InboundMessage::Reachability { reachable } = message {
            commit.reachable = Some(*reachable);
            commit.transcript.push(TranscriptEntry {
                direction: "in",
                node: None,
                body: message.transcript_text(),
            });
            continue;
        }
        if let InboundMessage::Delivery {
            message_id,
            status,
            code,
            reason,
        } = message
        {
            // What became of a message we sent: recorded on its outbox row, nothing to say.
            commit.deliveries.push(crate::store::Delivery {
                provider_id: message_id.clone(),
                status: status.clone(),
                code: *code,
                reason: reason.clone(),
            });
            continue;
        }
        if let InboundMessage::Choice { ack: Some(ack), .. } = message {
            // First, so the button stops spinning before the answer arrives.
            let payload = serde_json::to_string(&Outbound::Ack {
                answer_callback: ack.clone(),
            })
            .unwrap_or_default();
            commit.outbox.push(OutboundRecord {
                channel: event.channel.clone(),
                channel_user: event.channel_user.clone(),
                payload,
                ticket: None,
            });
        }
        // Whoever writes can be written to (Telegram: a teacher who blocked us must unblock
        // first). An expert's answer relayed into the conversation is not the teacher writing.
        let relayed = match message {
            InboundMessage::ExpertAnswer { ticket, .. } => Some(ticket.clone()),
            // A CPD notice neither: its rows name the plan, which follows them (`cpd`).
            InboundMessage::CpdNotice(notice) => Some(crate::store::notice_tag(notice.plan)),
            // Nor the programme's: its rows carry the occasion's tag.
            InboundMessage::Programme(message) => Some(message.tag()),
            _ => {
                commit.reachable = Some(true);
                commit.wrote = true;
                None
            }
        };
        let input = message.to_input();
        let before = state.dialogue.at.as_ref().map(|c| c.node.to_string());
        let step = match message {
            InboundMessage::ExpertAnswer { ticket, text } => {
                helpdesk::expert_answer(cx, &state, ticket, text, now)
            }
            InboundMessage::CpdNotice(notice) => helpdesk::notice::cpd(cx, &state, notice, now),
            InboundMessage::Programme(message) => {
                crate::programme::deliver(cx, &state, message, now)
            }
            _ => helpdesk::step(cx, &state, &input, now),
        };
        let node = step.state.dialogue.at.as_ref().map(|c| c.node.to_string());
        // What an expert or the programme says reaches the transcript as the message the
        // teacher receives; an "in" line would read as if the teacher had said it.
        if relayed.is_none() {
            commit.transcript.push(TranscriptEntry {
                direction: "in",
                node: before,
                body: message.transcript_text(),
            });
        }
        apply_effects(
            &mut commit,
            &step.state,
            step.effects,
            Outgoing {
                event,
                node: node.as_ref(),
                ticket: relayed.as_ref(),
            },
            expert_group,
        );
        debug!(
            channel = %event.channel,
            teacher.id = conversation.teacher_id,
            node = node.as_deref().unwrap_or("-"),
            input = input_kind(&input),
            "event processed"
        );
        state = step.state;
    }
    commit.state = serde_json::to_string(&state).unwrap_or_default();
    commit.profile_json = serde_json::to_string(&state.dialogue.profile).unwrap_or_default();
    commit.language = state.dialogue.lang.code().to_string();
    commit
}

/// Where a step's replies go and what they belong to.
#[derive(Clone, Copy)]
struct Outgoing<'a> {
    /// The event answered (its channel and user are the recipient).
    event: &'a InboxEvent,
    /// The node the conversation is at after the step, for the transcript.
    node: Option<&'a String>,
    /// The ticket whose expert answer these replies carry: they wait for an unreachable teacher.
    ticket: Option<&'a String>,
}

fn apply_effects(
    commit: &mut Commit,
    state: &TeacherState,
    effects: Vec<helpdesk::Effect>,
    to: Outgoing<'_>,
    expert_group: Option<&str>,
) {
    let Outgoing {
        event,
        node,
        ticket,
    } = to;
    for effect in effects {
        let effect = match effect {
            helpdesk::Effect::Dialogue(effect) => effect,
            other => {
                apply_helpdesk(commit, state, other, event, expert_group);
                continue;
            }
        };
        let state = &state.dialogue;
        match effect {
            Effect::Say(reply) => {
                commit.transcript.push(TranscriptEntry {
                    direction: "out",
                    node: node.cloned(),
                    body: reply.text.clone(),
                });
                let payload = serde_json::to_string(&OutboundMessage { reply }).unwrap_or_default();
                commit.outbox.push(OutboundRecord {
                    channel: event.channel.clone(),
                    channel_user: event.channel_user.clone(),
                    payload,
                    ticket: ticket.cloned(),
                });
            }
            Effect::SetProfile { field, value } => commit.profile.push((field, value)),
            Effect::LessonProgress {
                module,
                part,
                parts,
                done,
            } => commit.lessons.push(LessonRecord {
                module,
                part: i64::try_from(part).unwrap_or(i64::MAX),
                parts: i64::try_from(parts).unwrap_or(i64::MAX),
                done,
            }),
            Effect::Reflection { module, text } => commit.reflections.push((module, text)),
            Effect::QuizAnswer {
                module,
                question,
                chosen,
                correct,
            } => commit.answers.push(QuizAnswerRecord {
                module,
                question,
                chosen: i64::try_from(chosen).unwrap_or(0),
                correct,
            }),
            Effect::QuizFinished {
                module,
                score,
                max,
                passed,
            } => commit.attempts.push(Attempt {
                module,
                score: i64::from(score),
                max: i64::from(max),
                passed,
            }),
            Effect::Certificate { module, code } => {
                let name = state.profile.get("name").cloned();
                commit.certificates.push((module, code, name));
            }
            // The helpdesk turns these into its own effects before they get here.
            Effect::Question { .. } => {}
        }
    }
}

/// What the helpdesk writes: the question log and tickets.
fn apply_helpdesk(
    commit: &mut Commit,
    state: &TeacherState,
    effect: helpdesk::Effect,
    event: &InboxEvent,
    expert_group: Option<&str>,
) {
    let profile = &state.dialogue.profile;
    let mut to_experts = |payload: Outbound| {
        if let Some(group) = expert_group {
            commit.outbox.push(OutboundRecord {
                channel: "telegram".into(),
                channel_user: group.to_string(),
                payload: serde_json::to_string(&payload).unwrap_or_default(),
                ticket: None,
            });
        }
    };
    match &effect {
        helpdesk::Effect::OpenTicket(t) => {
            let (name, text) = helpdesk::topic_post(t, profile, &event.channel_user);
            to_experts(Outbound::Topic {
                ticket: t.code.clone(),
                name,
                text,
            });
        }
        helpdesk::Effect::TicketMessage {
            code,
            kind,
            text,
            file_id,
        } => {
            // A Telegram file id can be passed on as is; a file from another channel is
            // downloaded and kept with the ticket, and the experts are told it is there.
            let passed_on = event.channel == crate::channel::telegram::CHANNEL;
            let text = match file_id {
                Some(_) if !passed_on => format!(
                    "💬 The teacher adds: {text}\n📎 A {kind} sent on {channel}, kept with the ticket.",
                    channel = event.channel
                ),
                _ => format!("💬 The teacher adds: {text}"),
            };
            to_experts(Outbound::InTopic {
                ticket: code.clone(),
                text,
                file: file_id
                    .clone()
                    .filter(|_| passed_on)
                    .map(|f| (kind.clone(), f)),
            });
        }
        helpdesk::Effect::Rating { code, rating } => to_experts(Outbound::InTopic {
            ticket: code.clone(),
            text: format!("⭐ The teacher rated the answer {rating}/5."),
            file: None,
        }),
        helpdesk::Effect::Comment { code, text } => to_experts(Outbound::InTopic {
            ticket: code.clone(),
            text: format!("💬 The teacher's comment on the answer: {text}"),
            file: None,
        }),
        helpdesk::Effect::Reopen { code } => to_experts(Outbound::InTopic {
            ticket: code.clone(),
            text: format!(
                "🔁 The teacher says the answer did not solve it: {code} is open again. Their next words follow here."
            ),
            file: None,
        }),
        _ => {}
    }
    match effect {
        helpdesk::Effect::Dialogue(_) => {}
        helpdesk::Effect::Question(q) => commit.questions.push(QuestionRow {
            number: i64::from(q.number),
            body: q.text,
            written: q.written.code().to_string(),
            topic: q.topic,
            confidence: q.confidence,
            article: q.article,
            outcome: q.outcome.code().to_string(),
            ticket: None,
            district: profile.get("district").cloned(),
            grades: profile.get("grades").cloned(),
            signature: serde_json::to_string(&q.signature).ok(),
        }),
        helpdesk::Effect::Outcome { question, outcome } => {
            commit
                .outcomes
                .push((i64::from(question), outcome.code().to_string(), None))
        }
        helpdesk::Effect::OpenTicket(t) => {
            commit
                .outcomes
                .push((i64::from(t.question), String::new(), Some(t.code.clone())));
            commit.tickets.push(TicketRow {
                code: t.code,
                question: i64::from(t.question),
                topic: t.topic,
                language: t.lang.code().to_string(),
                body: t.text,
                suggested: t.suggested,
                pool: t.pool,
                context: t.context,
            });
        }
        helpdesk::Effect::TicketMessage {
            code,
            kind,
            text,
            file_id,
        } => {
            commit.ticket_messages.push(TicketMessageRow {
                ticket: code,
                author: "teacher".into(),
                kind,
                body: text,
                file_id,
                expert: None,
            });
        }
        helpdesk::Effect::Rating { code, rating } => {
            commit.ratings.push((code, i64::from(rating)));
        }
        helpdesk::Effect::Comment { code, text } => commit.comments.push((code, text)),
        helpdesk::Effect::Reopen { code } => commit.reopened.push(code),
        helpdesk::Effect::Programme(effect) => commit.programme.push(effect),
        helpdesk::Effect::Photo { reply, path, link } => {
            commit.transcript.push(TranscriptEntry {
                direction: "out",
                node: None,
                body: format!("<picture {path}> {}", reply.text),
            });
            let photo = crate::channel::OutboundPhoto {
                photo: path,
                link,
                reply,
            };
            commit.outbox.push(OutboundRecord {
                channel: event.channel.clone(),
                channel_user: event.channel_user.clone(),
                payload: serde_json::to_string(&Outbound::Photo(photo)).unwrap_or_default(),
                ticket: None,
            });
        }
    }
}

fn initial_state(new_teacher: NewTeacher) -> State {
    let mut state = State {
        seed: rand::random(),
        ..State::default()
    };
    if let Some(lang) = new_teacher.lang {
        state.lang = lang;
        state
            .profile
            .insert("language".to_string(), lang.code().to_string());
    }
    state
}

fn input_kind(input: &Input) -> &'static str {
    match input {
        Input::Text(_) => "text",
        Input::Choice(_) => "choice",
        Input::Unsupported => "unsupported",
        Input::Media { .. } => "media",
    }
}
