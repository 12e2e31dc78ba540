//! The one place where decisions meet I/O.
//!
//! For each inbound event: store it in the inbox (deduplicated) before anything else; then, in
//! arrival order per conversation, load the state, call the pure [`dialogue::step`], and write
//! the new state, transcript, progress and outbox rows in one transaction
//! ([`Store::commit_step`]). Different conversations are processed concurrently; one
//! conversation is only ever processed by one task at a time ([`Conversations::kick`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, watch};
use tracing::{debug, info, warn};

use crate::channel::{InboundMessage, OutboundMessage};
use crate::clock::Clock;
use crate::content::ContentHandle;
use crate::dialogue::{self, Effect, Input, State};
use crate::language::Lang;
use crate::store::{
    Attempt, Commit, InboxEvent, LessonRecord, NewInbound, OutboundRecord, QuizAnswerRecord, Store,
    StoreError, TranscriptEntry,
};

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
    /// Conversations being processed, with a "more arrived meanwhile" flag.
    in_flight: Mutex<HashMap<(String, String), bool>>,
    /// Bounds how many conversations are processed at once.
    permits: Semaphore,
    /// Bumped after every commit, so long-polling readers wake up.
    committed: watch::Sender<u64>,
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
    pub fn new(
        store: Store,
        content: ContentHandle,
        clock: Clock,
        concurrency: usize,
    ) -> Conversations {
        let (committed, _) = watch::channel(0);
        Conversations {
            inner: Arc::new(Inner {
                store,
                content,
                clock,
                in_flight: Mutex::new(HashMap::new()),
                permits: Semaphore::new(concurrency.max(1)),
                committed,
            }),
        }
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
        let payload = serde_json::to_string(&message.sanitized()).unwrap_or_default();
        let stored = self
            .inner
            .store
            .record_inbound(&NewInbound {
                channel,
                external_id,
                channel_user,
                payload: &payload,
                received_at: self.inner.clock.now(),
            })
            .await?;
        if stored.is_none() {
            debug!(channel, "duplicate inbound event ignored");
        }
        Ok(stored.is_some())
    }

    /// Makes sure the pending events of one conversation get processed, in order, by exactly one
    /// task. Returns at once; the work happens in the background.
    pub fn kick(&self, channel: &str, channel_user: &str) {
        let key = (channel.to_string(), channel_user.to_string());
        {
            let mut in_flight = self
                .inner
                .in_flight
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(more) = in_flight.get_mut(&key) {
                *more = true;
                return;
            }
            in_flight.insert(key.clone(), false);
        }
        let this = self.clone();
        tokio::spawn(async move { this.drain(key).await });
    }

    async fn drain(&self, key: (String, String)) {
        loop {
            {
                let _permit = self.inner.permits.acquire().await;
                if let Err(err) = self
                    .process_pending(&key.0, &key.1, NewTeacher::default())
                    .await
                {
                    warn!(channel = %key.0, error = %err, "processing failed; will retry on the next sweep");
                }
            }
            let mut in_flight = self
                .inner
                .in_flight
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match in_flight.get_mut(&key) {
                Some(more) if *more => *more = false,
                _ => {
                    in_flight.remove(&key);
                    return;
                }
            }
        }
    }

    /// Kicks every conversation with pending events (after a restart, or as a safety sweep).
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the inbox cannot be read.
    pub async fn sweep(&self) -> Result<usize, StoreError> {
        let pending = self.inner.store.pending_inbox(10_000).await?;
        let mut seen = std::collections::HashSet::new();
        for event in &pending {
            if seen.insert((event.channel.clone(), event.channel_user.clone())) {
                self.kick(&event.channel, &event.channel_user);
            }
        }
        Ok(seen.len())
    }

    /// Processes the pending events of one conversation now, in order; returns how many.
    ///
    /// Callers must not run this concurrently for the same conversation ([`Self::kick`]
    /// guarantees that); optimistic versioning still keeps the state consistent if they do.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the database fails; the event stays pending.
    pub async fn process_pending(
        &self,
        channel: &str,
        channel_user: &str,
        new_teacher: NewTeacher,
    ) -> Result<usize, StoreError> {
        let events = self.inner.store.pending_for(channel, channel_user).await?;
        for event in &events {
            if let Err(err) = self.process(event, new_teacher).await {
                let attempts = self.inner.store.fail_inbound(event.id).await?;
                if attempts < MAX_ATTEMPTS {
                    return Err(err);
                }
                warn!(inbox.id = event.id, attempts, error = %err, "event set aside after repeated failures");
                self.inner
                    .store
                    .skip_inbound(event.id, self.inner.clock.now())
                    .await?;
            }
        }
        Ok(events.len())
    }

    async fn process(&self, event: &InboxEvent, new_teacher: NewTeacher) -> Result<(), StoreError> {
        let now = self.inner.clock.now();
        let message: InboundMessage = match serde_json::from_str(&event.payload) {
            Ok(m) => m,
            Err(err) => {
                warn!(inbox.id = event.id, error = %err, "unreadable inbox payload skipped");
                return self.inner.store.skip_inbound(event.id, now).await;
            }
        };
        for _ in 0..CONFLICT_RETRIES {
            match self.try_process(event, &message, new_teacher, now).await {
                Err(StoreError::Conflict) => {}
                other => return other,
            }
        }
        Err(StoreError::Conflict)
    }

    async fn try_process(
        &self,
        event: &InboxEvent,
        message: &InboundMessage,
        new_teacher: NewTeacher,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let initial = serde_json::to_string(&initial_state(new_teacher)).unwrap_or_default();
        let conversation = self
            .inner
            .store
            .load_conversation(&event.channel, &event.channel_user, &initial, now)
            .await?;
        let state: State = serde_json::from_str(&conversation.state).unwrap_or_else(|err| {
            warn!(teacher.id = conversation.teacher_id, error = %err, "unreadable state; starting over");
            initial_state(new_teacher)
        });
        let content = self.inner.content.get();
        let input = message.to_input();
        let step = dialogue::step(&content.dialogues, &state, &input, now);
        let node = step.state.at.as_ref().map(|c| c.node.to_string());
        let mut commit = Commit {
            teacher_id: conversation.teacher_id,
            version: conversation.version,
            state: serde_json::to_string(&step.state).unwrap_or_default(),
            profile_json: serde_json::to_string(&step.state.profile).unwrap_or_default(),
            language: step.state.lang.code().to_string(),
            inbox_id: Some(event.id),
            now,
            ..Commit::default()
        };
        commit.transcript.push(TranscriptEntry {
            direction: "in",
            node: state.at.as_ref().map(|c| c.node.to_string()),
            body: message.transcript_text(),
        });
        apply_effects(&mut commit, &step.state, step.effects, event, node.as_ref());
        self.inner.store.commit_step(&commit).await?;
        info!(
            channel = %event.channel,
            teacher.id = conversation.teacher_id,
            node = node.as_deref().unwrap_or("-"),
            input = input_kind(&input),
            replies = commit.outbox.len(),
            "event processed"
        );
        self.inner.committed.send_modify(|n| *n = n.wrapping_add(1));
        Ok(())
    }
}

fn apply_effects(
    commit: &mut Commit,
    state: &State,
    effects: Vec<Effect>,
    event: &InboxEvent,
    node: Option<&String>,
) {
    for effect in effects {
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
    }
}
