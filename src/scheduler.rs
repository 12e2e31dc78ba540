//! The scheduler's runner: claims due jobs from the store with a lease, asks the pure
//! [`crate::schedule`] what to do with each (run, skip as too late, wait for the morning), runs
//! it with the [`Handler`] of its kind, records the outcome (done, skipped, retried with
//! back-off, given up; a recurring job's next occurrence), then sleeps until the next job is
//! due, a job is scheduled here, or a manual clock moves.
//!
//! Several runners (several instances on one PostgreSQL database) share the table: a job is
//! claimed by one runner at a time ([`Store::claim_jobs`](crate::store::Store::claim_jobs)),
//! and a runner that stopped mid-job loses it when its lease passes. A runner claims only the
//! kinds it has handlers for, so an older instance leaves a newer kind alone.
//!
//! New kinds of job (CPD-hour announcements, nudges, broadcasts) are a [`Handler`] each, in a
//! module of their own, listed in [`standard`]; this file does not change.
//!
//! - [`Scheduler`]: the runner's handle (schedule a job, wake it, watch its passes).
//! - [`Handler`]: one kind of job: its [`Policy`] and what running it does.
//! - [`housekeeping`]: the first kind, daily clean-up of the console's tables.

pub mod calendar;
pub mod housekeeping;
pub mod mydata;
pub mod practice;
pub mod reminders;
pub mod school;
pub mod verify;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::conversation::Conversations;
use crate::schedule::{
    self, Finish, Finished, Outcome, Policy, QuietHours, Recurrence, Settle, Verdict,
};
use crate::store::{Job, JobEnd, JobStatus, NewJob, Store, StoreError};

/// How long a claim holds. A handler must finish well within it (long work is split into
/// several jobs); past it, another runner takes the job again.
pub const LEASE: Duration = Duration::minutes(5);
/// With the system clock, the longest sleep between looks at the table: jobs another instance
/// scheduled are seen within this time.
pub const POLL: StdDuration = StdDuration::from_secs(30);
/// Jobs claimed at a time; they run concurrently.
const BATCH: i64 = 16;
/// The shortest sleep, so a job due "now" that another runner holds cannot spin the loop.
const MIN_SLEEP: StdDuration = StdDuration::from_millis(50);

/// A boxed future, as handlers return (trait objects cannot have `async fn`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One kind of job.
pub trait Handler: Send + Sync + 'static {
    /// The `kind` its jobs are stored with.
    fn kind(&self) -> &'static str;

    /// How a job of this kind is treated: its grace, deadline, whether teachers see it, its
    /// recurrence, its attempts. May read the job's payload.
    fn policy(&self, job: &Job) -> Policy;

    /// Runs one job. Called at most once per claim; a job can still run twice if a handler
    /// outlives [`LEASE`], so handlers write what they do idempotently where they can.
    fn run<'a>(&'a self, cx: &'a Conversations, job: &'a Job) -> BoxFuture<'a, Outcome>;

    /// Recurring series this kind keeps going: scheduled when a runner starts, unless their
    /// key is already there.
    fn series(&self) -> Vec<Series> {
        Vec::new()
    }
}

/// A recurring series a [`Handler`] starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Series {
    /// The key its row still to run carries.
    pub key: String,
    /// The payload of every occurrence.
    pub payload: String,
    /// When it comes (the first occurrence is the next one after the runner starts).
    pub recurrence: Recurrence,
}

/// A runner's look at the table, published after each (for tests and diagnostics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    /// Passes so far.
    pub seq: u64,
    /// The clock's time when the pass found nothing more to claim.
    pub at: DateTime<Utc>,
    /// Jobs this runner has settled so far (run, skipped, deferred, retried).
    pub settled: u64,
}

/// The jobs this build knows: every kind a `serve` instance runs.
#[must_use]
pub fn standard(conversations: Conversations) -> Scheduler {
    let reminders = reminders::Reminders::new(&conversations);
    Scheduler::new(
        conversations,
        vec![
            Arc::new(housekeeping::Housekeeping),
            Arc::new(verify::Verify),
            Arc::new(mydata::MyData),
            Arc::new(practice::Week),
            Arc::new(practice::Send),
            Arc::new(practice::Endorsed),
            Arc::new(school::Summary),
            Arc::new(school::Checkin),
            Arc::new(reminders),
            Arc::new(calendar::Sync),
            Arc::new(calendar::Announce::before()),
            Arc::new(calendar::Announce::after()),
            Arc::new(crate::broadcast::Feeder),
        ],
    )
}

/// A runner and its handlers; cheap to clone.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

struct Inner {
    conversations: Conversations,
    handlers: HashMap<&'static str, Arc<dyn Handler>>,
    kinds: Vec<&'static str>,
    /// This runner's name in `jobs.locked_by`.
    worker: String,
    quiet: QuietHours,
    wake: Notify,
    passes: watch::Sender<Pass>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("worker", &self.inner.worker)
            .field("kinds", &self.inner.kinds)
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A runner for `handlers` (one per kind; a later one for the same kind replaces an
    /// earlier one), with a fresh worker name.
    #[must_use]
    pub fn new(conversations: Conversations, handlers: Vec<Arc<dyn Handler>>) -> Scheduler {
        let handlers: HashMap<&'static str, Arc<dyn Handler>> =
            handlers.into_iter().map(|h| (h.kind(), h)).collect();
        let mut kinds: Vec<&'static str> = handlers.keys().copied().collect();
        kinds.sort_unstable();
        let worker = format!("{}-{:08x}", std::process::id(), rand::random::<u32>());
        Scheduler {
            inner: Arc::new(Inner {
                conversations,
                handlers,
                kinds,
                worker,
                quiet: QuietHours::default(),
                wake: Notify::new(),
                passes: watch::channel(Pass::default()).0,
            }),
        }
    }

    /// This runner's name, as `jobs.locked_by` shows it.
    #[must_use]
    pub fn worker(&self) -> &str {
        &self.inner.worker
    }

    /// A receiver that changes after every pass.
    #[must_use]
    pub fn passes(&self) -> watch::Receiver<Pass> {
        self.inner.passes.subscribe()
    }

    /// Makes the runner look at the table now.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Schedules a job and wakes this runner; `Ok(None)` when its key was scheduled before.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when it could not be stored.
    pub async fn schedule(&self, job: &NewJob<'_>) -> Result<Option<i64>, StoreError> {
        let id = self.store().schedule_job(job, self.now()).await?;
        self.wake();
        Ok(id)
    }

    /// Schedules every handler's recurring series that is not there yet.
    ///
    /// # Errors
    ///
    /// [`StoreError`]; the series stored before the error stay.
    pub async fn start_series(&self) -> Result<(), StoreError> {
        let (now, tz) = (self.now(), self.timezone());
        for handler in self.inner.handlers.values() {
            for series in handler.series() {
                let job = NewJob {
                    kind: handler.kind(),
                    key: &series.key,
                    payload: &series.payload,
                    due_at: series.recurrence.next_after(now, tz),
                };
                if let Some(id) = self.store().schedule_job(&job, now).await? {
                    let kind = handler.kind();
                    info!(job.id = id, job.kind = kind, due_at = %job.due_at, "job series started");
                }
            }
        }
        Ok(())
    }

    /// One pass: claims and handles due jobs, a batch at a time, until none is left; returns
    /// how many were settled.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when jobs could not be claimed (a job whose end could not be written is
    /// logged and taken again after its lease).
    pub async fn run_due(&self) -> Result<u64, StoreError> {
        let mut settled = 0;
        let result = loop {
            let now = self.now();
            let kinds = &self.inner.kinds;
            let claimed = self
                .store()
                .claim_jobs(&self.inner.worker, kinds, now, now + LEASE, BATCH)
                .await;
            let jobs = match claimed {
                Ok(jobs) if jobs.is_empty() => break Ok(now),
                Ok(jobs) => jobs,
                Err(err) => break Err(err),
            };
            let mut running = JoinSet::new();
            for job in jobs {
                running.spawn(self.clone().handle(job));
            }
            while let Some(handled) = running.join_next().await {
                match handled {
                    Ok(Ok(())) => settled += 1,
                    Ok(Err(err)) => {
                        warn!(error = %err, "cannot record a job's end; it runs after its lease");
                    }
                    Err(err) => warn!(error = %err, "job task stopped"),
                }
            }
        };
        if settled > 0 {
            // Jobs may have queued messages: the dispatchers and long-polling readers look.
            self.inner.conversations.notify_committed();
        }
        let at = result.as_ref().map_or_else(|_| self.now(), |at| *at);
        self.inner.passes.send_modify(|pass| {
            pass.seq += 1;
            pass.at = at;
            pass.settled += settled;
        });
        result.map(|_| settled)
    }

    /// Runs passes until `stop` completes: at start, then whenever the next job is due (at
    /// least every [`POLL`]), a job is scheduled through this handle, or a manual clock moves.
    /// A pass in progress finishes before it stops.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        let mut moves = self.inner.conversations.clock().moves();
        let manual = moves.is_some();
        // Conversations schedule jobs too (a quiz retry, a school summary asked for).
        let mut scheduled = self.inner.conversations.subscribe_jobs();
        let mut series_started = false;
        tokio::pin!(stop);
        loop {
            if !series_started {
                match self.start_series().await {
                    Ok(()) => series_started = true,
                    Err(err) => warn!(error = %err, "cannot start the job series; trying again"),
                }
            }
            let wait = match self.run_due().await {
                Ok(_) if manual => POLL,
                Ok(_) => self.until_next().await,
                Err(err) => {
                    warn!(error = %err, "cannot claim jobs; trying again");
                    POLL
                }
            };
            let moved = async {
                match moves.as_mut() {
                    Some(moves) => {
                        if moves.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut stop => return,
                () = self.inner.wake.notified() => {}
                Ok(()) = scheduled.changed() => {}
                () = moved => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// How long the system clock may sleep: until the next job is due or a lease passes.
    async fn until_next(&self) -> StdDuration {
        match self.store().next_job_at(&self.inner.kinds).await {
            Ok(Some(at)) => (at - self.now())
                .to_std()
                .unwrap_or(MIN_SLEEP)
                .clamp(MIN_SLEEP, POLL),
            Ok(None) => POLL,
            Err(err) => {
                warn!(error = %err, "cannot read the next job's time");
                POLL
            }
        }
    }

    /// Decides, runs and records one claimed job.
    async fn handle(self, job: Job) -> Result<(), StoreError> {
        let Some(handler) = self.inner.handlers.get(job.kind.as_str()).cloned() else {
            // Claims ask only for our kinds; should one slip through, another runner gets it.
            let at = self.now() + LEASE;
            self.store()
                .retry_job(job.id, &self.inner.worker, "no handler", at)
                .await?;
            return Ok(());
        };
        let tz = self.timezone();
        let policy = handler.policy(&job);
        let now = self.now();
        match schedule::on_due(
            &policy,
            job.due_at,
            job.attempts,
            now,
            tz,
            &self.inner.quiet,
        ) {
            Verdict::Run => {}
            Verdict::Defer(until) => {
                let held = self
                    .store()
                    .defer_job(job.id, &self.inner.worker, until)
                    .await?;
                if held {
                    debug!(job.id = job.id, job.kind = %job.kind, %until, "job waits for morning");
                }
                return Ok(());
            }
            Verdict::Finish(finish) => return self.finish(&job, &finish, now).await,
        }
        let outcome = {
            let (cx, job) = (self.inner.conversations.clone(), job.clone());
            // Its own task: a handler that panics is a failed attempt, not a dead runner.
            tokio::spawn(async move { handler.run(&cx, &job).await })
                .await
                .unwrap_or_else(|_| Outcome::Retry("the handler panicked".to_string()))
        };
        let now = self.now();
        match schedule::settle(&policy, outcome, job.attempts, now, tz) {
            Settle::Finish(finish) => self.finish(&job, &finish, now).await,
            Settle::Retry { at, error } => {
                let held = self
                    .store()
                    .retry_job(job.id, &self.inner.worker, &error, at)
                    .await?;
                if held {
                    crate::metrics::job(&job.kind, "retry");
                    warn!(
                        job.id = job.id, job.kind = %job.kind, attempts = job.attempts,
                        retry_at = %at, %error, "job failed; will try again"
                    );
                } else {
                    taken_over(&job);
                }
                Ok(())
            }
        }
    }

    /// Records a job's end (and a recurring one's next occurrence).
    async fn finish(
        &self,
        job: &Job,
        finish: &Finish,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let status = match finish.status {
            Finished::Done => JobStatus::Done,
            Finished::Skipped => JobStatus::Skipped,
            Finished::Failed => JobStatus::Failed,
        };
        let end = JobEnd {
            status,
            reason: finish.reason.as_deref(),
            next: finish.next,
        };
        if !self
            .store()
            .finish_job(job.id, &self.inner.worker, &end, now)
            .await?
        {
            taken_over(job);
            return Ok(());
        }
        crate::metrics::job_finished(&job.kind, &finish.status);
        let reason = finish.reason.as_deref().unwrap_or("");
        let next = finish.next.map(|at| at.to_rfc3339());
        let next = next.as_deref();
        match finish.status {
            Finished::Done => {
                let attempts = job.attempts;
                info!(job.id = job.id, job.kind = %job.kind, attempts, next, "job done");
            }
            Finished::Skipped => {
                info!(job.id = job.id, job.kind = %job.kind, reason, next, "job skipped");
            }
            Finished::Failed => {
                let attempts = job.attempts;
                warn!(
                    job.id = job.id, job.kind = %job.kind, attempts, reason, next, "job given up"
                );
            }
        }
        Ok(())
    }

    fn store(&self) -> &Store {
        self.inner.conversations.store()
    }

    fn now(&self) -> DateTime<Utc> {
        self.inner.conversations.clock().now()
    }

    /// The programme's time zone (from `helpdesk.yaml`, reloaded with the content).
    fn timezone(&self) -> Tz {
        self.inner.conversations.content().get().helpdesk.timezone
    }
}

/// Logs a job this runner had lost before it could record it.
fn taken_over(job: &Job) {
    warn!(job.id = job.id, job.kind = %job.kind, "job taken over by another runner (lease passed)");
}
