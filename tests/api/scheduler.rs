//! The scheduler on a manual clock: a job runs once at its time, a repeated key once, a job
//! whose runner crashed again after its lease, 100 jobs once each between two instances,
//! late jobs by their grace after downtime, a recurring series once per catch-up, teacher-facing
//! jobs never at night, failures retried with back-off; and the app's own housekeeping job,
//! seeded at start-up, cleaning the console's tables at 03:00 programme time.
//!
//! Runners for test kinds run beside the app's own on the same store and clock (the app's runner
//! claims only the kinds it knows). Tests wait for a runner's pass that looked at the table at a
//! given clock time, or for the app's commits; nothing sleeps.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use baithak::clock::Clock;
use baithak::config::Settings;
use baithak::conversation::Conversations;
use baithak::schedule::{Outcome, Policy, Recurrence};
use baithak::scheduler::{BoxFuture, Handler, Pass, Scheduler, Series};
use baithak::store::{Job, JobEnd, JobFilter, JobStatus, NewJob, Store};
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use tokio::sync::{oneshot, watch};

use crate::both_backends;
use crate::support::database::{Backend, TestDatabase};
use crate::support::{TestApp, fixture_content};

/// How long a test waits for a runner before it fails.
const DEADLINE: std::time::Duration = std::time::Duration::from_secs(15);

/// A local time in Karachi (the fixtures' programme time zone, UTC+5) in November 2026.
fn pkt(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Karachi
        .with_ymd_and_hms(2026, 11, day, hour, minute, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// Monday 23 November 2026, 10:00 in Karachi: where every test's clock starts.
fn monday_10am() -> DateTime<Utc> {
    pkt(23, 10, 0)
}

async fn app(backend: Backend) -> Option<TestApp> {
    let database = TestDatabase::create(backend).await?;
    let clock = Clock::manual(monday_10am());
    Some(TestApp::spawn_with(database, fixture_content(), clock, |_| {}).await)
}

/// One run of a probe job.
#[derive(Clone, Debug)]
struct Run {
    key: String,
    at: DateTime<Utc>,
    runner: &'static str,
}

type Runs = Arc<Mutex<Vec<Run>>>;

/// A test kind of job: records every run and answers `outcome`.
#[derive(Clone)]
struct Probe {
    kind: &'static str,
    policy: Policy,
    outcome: Outcome,
    series: Vec<Series>,
    runner: &'static str,
    runs: Runs,
}

impl Probe {
    fn new(kind: &'static str, policy: Policy, runs: &Runs) -> Probe {
        Probe {
            kind,
            policy,
            outcome: Outcome::Done,
            series: Vec::new(),
            runner: "runner",
            runs: Arc::clone(runs),
        }
    }

    fn boxed(self) -> Arc<dyn Handler> {
        Arc::new(self)
    }
}

impl Handler for Probe {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn policy(&self, _job: &Job) -> Policy {
        self.policy.clone()
    }

    fn run<'a>(&'a self, cx: &'a Conversations, job: &'a Job) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            self.runs.lock().unwrap().push(Run {
                key: job.key.clone(),
                at: cx.clock().now(),
                runner: self.runner,
            });
            self.outcome.clone()
        })
    }

    fn series(&self) -> Vec<Series> {
        self.series.clone()
    }
}

/// A runner started beside the app's own, as another instance would be.
struct Runner {
    scheduler: Scheduler,
    passes: watch::Receiver<Pass>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Runner {
    fn start(conversations: &Conversations, handlers: Vec<Arc<dyn Handler>>) -> Runner {
        let scheduler = Scheduler::new(conversations.clone(), handlers);
        let passes = scheduler.passes();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(scheduler.clone().run(async move {
            let _ = stopped.await;
        }));
        Runner {
            scheduler,
            passes,
            stop,
            task,
        }
    }

    /// Waits for a pass that found nothing more to claim at `at` or later on the clock: every
    /// job due by `at` has then been handled by this runner or another.
    async fn looked_at(&mut self, at: DateTime<Utc>) -> Pass {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let pass = *self.passes.borrow_and_update();
            if pass.at >= at {
                return pass;
            }
            let changed = tokio::time::timeout_at(deadline, self.passes.changed()).await;
            assert!(
                changed.is_ok_and(|c| c.is_ok()),
                "no pass at {at} within {DEADLINE:?}; the last was {pass:?}"
            );
        }
    }

    /// Stops it (an instance going down) once its pass in hand is over.
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("runner stopped cleanly");
    }
}

/// A job of `kind` due at `due_at`.
fn job<'a>(kind: &'a str, key: &'a str, due_at: DateTime<Utc>) -> NewJob<'a> {
    NewJob {
        kind,
        key,
        payload: "{}",
        due_at,
    }
}

async fn stored(store: &Store, key: &str) -> Job {
    store
        .job(key)
        .await
        .expect("read")
        .unwrap_or_else(|| panic!("no job {key}"))
}

fn runs_of(runs: &Runs) -> Vec<Run> {
    runs.lock().unwrap().clone()
}

both_backends! {
    async fn a_job_runs_once_when_the_clock_passes_its_time(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        let (clock, store) = (app.conversations.clock(), app.conversations.store());
        let runs = Runs::default();
        let mut runner = Runner::start(
            &app.conversations,
            vec![Probe::new("probe", Policy::new(Duration::hours(1)), &runs).boxed()],
        );
        let due = monday_10am() + Duration::hours(1);
        let id = runner
            .scheduler
            .schedule(&job("probe", "probe:1", due))
            .await
            .expect("scheduled");

        clock.advance(Duration::minutes(30));
        runner
            .looked_at(monday_10am() + Duration::minutes(30))
            .await;

        assert!(runs_of(&runs).is_empty(), "ran early");
        assert_eq!(stored(store, "probe:1").await.status, JobStatus::Pending);

        clock.advance(Duration::minutes(31));
        let at = monday_10am() + Duration::minutes(61);
        runner.looked_at(at).await;
        clock.advance(Duration::days(1));
        runner.looked_at(at + Duration::days(1)).await;

        let runs = runs_of(&runs);
        assert_eq!(runs.len(), 1, "{runs:?}");
        assert_eq!((runs[0].key.as_str(), runs[0].at), ("probe:1", at));
        let done = stored(store, "probe:1").await;
        assert_eq!(Some(done.id), id);
        assert_eq!(done.status, JobStatus::Done);
        assert_eq!(done.attempts, 1);
        assert_eq!(done.finished_at, Some(at));
        assert_eq!(done.locked_by.as_deref(), Some(runner.scheduler.worker()));
        assert_eq!(done.locked_until, None);
    }

    async fn scheduling_the_same_key_twice_runs_it_once(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        let clock = app.conversations.clock();
        let runs = Runs::default();
        let mut runner = Runner::start(
            &app.conversations,
            vec![Probe::new("probe", Policy::new(Duration::hours(1)), &runs).boxed()],
        );
        let due = monday_10am() + Duration::minutes(5);

        let first = runner
            .scheduler
            .schedule(&job("probe", "probe:twice", due))
            .await
            .expect("first");
        let second = runner
            .scheduler
            .schedule(&job("probe", "probe:twice", due + Duration::minutes(1)))
            .await
            .expect("second");
        clock.advance(Duration::minutes(10));
        runner
            .looked_at(monday_10am() + Duration::minutes(10))
            .await;
        let third = runner
            .scheduler
            .schedule(&job("probe", "probe:twice", due + Duration::minutes(20)))
            .await
            .expect("third");
        clock.advance(Duration::hours(1));
        runner
            .looked_at(monday_10am() + Duration::minutes(70))
            .await;

        assert!(first.is_some());
        assert_eq!(
            (second, third),
            (None, None),
            "a repeated key is a no-op, even after the job ran"
        );
        assert_eq!(runs_of(&runs).len(), 1);
        let jobs = app
            .conversations
            .store()
            .jobs(&JobFilter {
                kind: Some("probe".into()),
                limit: 10,
                ..JobFilter::default()
            })
            .await
            .expect("jobs");
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].due_at, due);
    }

    async fn a_job_whose_runner_crashed_runs_again_after_the_lease(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        let (clock, store) = (app.conversations.clock(), app.conversations.store());
        let start = monday_10am();
        store
            .schedule_job(&job("probe", "probe:crash", start), start)
            .await
            .expect("scheduled");
        // Another instance claims it for five minutes, then dies without finishing it.
        let claimed = store
            .claim_jobs(
                "crashed-instance",
                &["probe"],
                start,
                start + Duration::minutes(5),
                10,
            )
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 1);
        let runs = Runs::default();
        let mut runner = Runner::start(
            &app.conversations,
            vec![Probe::new("probe", Policy::new(Duration::hours(1)), &runs).boxed()],
        );

        runner.looked_at(start).await;
        clock.advance(Duration::minutes(4));
        runner.looked_at(start + Duration::minutes(4)).await;

        assert!(runs_of(&runs).is_empty(), "taken while the lease held");
        let held = stored(store, "probe:crash").await;
        assert_eq!(held.status, JobStatus::Running);
        assert_eq!(held.locked_by.as_deref(), Some("crashed-instance"));

        clock.advance(Duration::minutes(2));
        runner.looked_at(start + Duration::minutes(6)).await;

        let runs = runs_of(&runs);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].at, start + Duration::minutes(6));
        let done = stored(store, "probe:crash").await;
        assert_eq!(done.status, JobStatus::Done);
        assert_eq!(done.attempts, 2, "the crashed claim counts as an attempt");
        assert_eq!(done.locked_by.as_deref(), Some(runner.scheduler.worker()));
        // The crashed instance comes back and tries to record its end: refused.
        let end = JobEnd {
            status: JobStatus::Done,
            reason: None,
            next: None,
        };
        let late = store
            .finish_job(held.id, "crashed-instance", &end, clock.now())
            .await
            .expect("finish");
        assert!(!late);
    }

    async fn two_instances_on_one_database_run_each_of_100_jobs_once(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        let (clock, store) = (app.conversations.clock(), app.conversations.store());
        // A second instance: its own pool on the same database, the same clock.
        let settings = Settings {
            content_dir: fixture_content(),
            database_url: app.database.url.clone(),
            max_connections: 4,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            telegram: None,
            whatsapp: None,
            public_url: None,
            instance: None,
        };
        let other = baithak::startup::open(&settings, clock.clone())
            .await
            .expect("second instance");
        let runs = Runs::default();
        let probe = |runner| {
            Probe {
                runner,
                ..Probe::new("probe", Policy::new(Duration::hours(1)), &runs)
            }
            .boxed()
        };
        let mut a = Runner::start(&app.conversations, vec![probe("a")]);
        let mut b = Runner::start(&other, vec![probe("b")]);
        let due = monday_10am() + Duration::minutes(1);
        for n in 0..100 {
            store
                .schedule_job(&job("probe", &format!("probe:{n}"), due), monday_10am())
                .await
                .expect("scheduled");
        }

        clock.advance(Duration::minutes(2));
        let at = monday_10am() + Duration::minutes(2);
        a.looked_at(at).await;
        b.looked_at(at).await;

        let runs = runs_of(&runs);
        let keys: HashSet<&str> = runs.iter().map(|r| r.key.as_str()).collect();
        assert_eq!((runs.len(), keys.len()), (100, 100), "each job once");
        let jobs = store
            .jobs(&JobFilter {
                kind: Some("probe".into()),
                limit: 1000,
                ..JobFilter::default()
            })
            .await
            .expect("jobs");
        assert_eq!(jobs.len(), 100);
        for stored in &jobs {
            assert_eq!(
                (stored.status, stored.attempts),
                (JobStatus::Done, 1),
                "{stored:?}"
            );
            let ran = runs.iter().find(|r| r.key == stored.key).expect("ran");
            let worker = if ran.runner == "a" {
                a.scheduler.worker()
            } else {
                b.scheduler.worker()
            };
            assert_eq!(
                stored.locked_by.as_deref(),
                Some(worker),
                "claimed by the runner that ran it"
            );
        }
        let by_a = runs.iter().filter(|r| r.runner == "a").count();
        eprintln!(
            "{backend:?}: runner a ran {by_a} jobs, runner b {}",
            100 - by_a
        );
        other.store().close().await;
    }

    async fn after_downtime_jobs_run_or_skip_by_grace_and_a_series_runs_once(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        let (clock, store) = (app.conversations.clock(), app.conversations.store());
        let runs = Runs::default();
        let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap();
        let daily = Recurrence::Daily { at: nine };
        let handlers = || {
            vec![
                Probe::new("lenient", Policy::new(Duration::days(4)), &runs).boxed(),
                Probe::new("strict", Policy::new(Duration::hours(1)), &runs).boxed(),
                Probe {
                    series: vec![Series {
                        key: "digest".into(),
                        payload: "{}".into(),
                        recurrence: daily,
                    }],
                    ..Probe::new(
                        "digest",
                        Policy::new(Duration::days(4)).recurring(daily),
                        &runs,
                    )
                }
                .boxed(),
            ]
        };
        let mut before = Runner::start(&app.conversations, handlers());
        before.looked_at(monday_10am()).await;
        let due = monday_10am() + Duration::hours(2);
        before
            .scheduler
            .schedule(&job("lenient", "lenient:1", due))
            .await
            .expect("scheduled");
        before
            .scheduler
            .schedule(&job("strict", "strict:1", due))
            .await
            .expect("scheduled");
        assert_eq!(
            stored(store, "digest").await.due_at,
            pkt(24, 9, 0),
            "the series starts tomorrow at 09:00"
        );

        // Down from Monday 10:00 to Thursday 10:00: the digest missed Tuesday, Wednesday and
        // Thursday 09:00.
        before.stop().await;
        clock.advance(Duration::days(3));
        let mut after = Runner::start(&app.conversations, handlers());
        after.looked_at(pkt(26, 10, 0)).await;

        let mut ran: Vec<String> = runs_of(&runs).into_iter().map(|r| r.key).collect();
        ran.sort();
        assert_eq!(
            ran,
            ["digest", "lenient:1"],
            "the series once, not three times"
        );
        assert_eq!(stored(store, "lenient:1").await.status, JobStatus::Done);
        let skipped = stored(store, "strict:1").await;
        assert_eq!(skipped.status, JobStatus::Skipped);
        assert_eq!(
            skipped.last_error.as_deref(),
            Some("late by 2 days 22 hours (grace 1 hour)")
        );
        let occurrence = stored(store, "digest@2026-11-24T04:00:00Z").await;
        assert_eq!(
            (occurrence.status, occurrence.due_at),
            (JobStatus::Done, pkt(24, 9, 0))
        );
        let next = stored(store, "digest").await;
        assert_eq!(
            (next.status, next.due_at, next.attempts),
            (JobStatus::Pending, pkt(27, 9, 0), 0)
        );
    }

    async fn a_teacher_facing_job_due_at_night_runs_the_next_morning(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        let (clock, store) = (app.conversations.clock(), app.conversations.store());
        let runs = Runs::default();
        let nudge = Policy::new(Duration::hours(2)).teacher_facing();
        let mut runner = Runner::start(
            &app.conversations,
            vec![Probe::new("nudge", nudge, &runs).boxed()],
        );
        runner
            .scheduler
            .schedule(&job("nudge", "nudge:1", pkt(23, 23, 30)))
            .await
            .expect("scheduled");

        clock.advance(pkt(23, 23, 30) - clock.now());
        runner.looked_at(pkt(23, 23, 30)).await;

        assert!(runs_of(&runs).is_empty(), "ran at night");
        let waiting = stored(store, "nudge:1").await;
        assert_eq!(
            (waiting.status, waiting.due_at, waiting.attempts),
            (JobStatus::Pending, pkt(24, 8, 0), 0)
        );

        clock.advance(pkt(24, 7, 59) - clock.now());
        runner.looked_at(pkt(24, 7, 59)).await;
        assert!(runs_of(&runs).is_empty(), "ran before the morning");

        clock.advance(Duration::minutes(1));
        runner.looked_at(pkt(24, 8, 0)).await;

        let runs = runs_of(&runs);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].at, pkt(24, 8, 0));
        let done = stored(store, "nudge:1").await;
        assert_eq!((done.status, done.attempts), (JobStatus::Done, 1));
    }

    async fn a_failing_job_is_retried_with_back_off_then_given_up(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        let (clock, store) = (app.conversations.clock(), app.conversations.store());
        let runs = Runs::default();
        let flaky = Probe {
            outcome: Outcome::Retry("platform unavailable".into()),
            ..Probe::new("flaky", Policy::new(Duration::hours(1)), &runs)
        };
        store
            .schedule_job(&job("flaky", "flaky:1", monday_10am()), monday_10am())
            .await
            .expect("scheduled");
        let mut runner = Runner::start(&app.conversations, vec![flaky.boxed()]);
        runner.looked_at(monday_10am()).await;
        let first = stored(store, "flaky:1").await;
        assert_eq!((first.status, first.attempts), (JobStatus::Pending, 1));
        assert_eq!(first.due_at, monday_10am() + Duration::minutes(1));
        assert_eq!(first.last_error.as_deref(), Some("platform unavailable"));

        // Waits of 1, 2, 4 and 8 minutes; a minute early, each time nothing runs.
        for wait in [1, 2, 4, 8] {
            let before = runs_of(&runs).len();
            clock.advance(Duration::minutes(wait - 1));
            runner.looked_at(clock.now()).await;
            assert_eq!(runs_of(&runs).len(), before, "retried early");
            clock.advance(Duration::minutes(1));
            runner.looked_at(clock.now()).await;
            assert_eq!(runs_of(&runs).len(), before + 1);
        }
        clock.advance(Duration::hours(2));
        runner.looked_at(clock.now()).await;

        assert_eq!(runs_of(&runs).len(), 5);
        let failed = stored(store, "flaky:1").await;
        assert_eq!((failed.status, failed.attempts), (JobStatus::Failed, 5));
        assert_eq!(
            failed.last_error.as_deref(),
            Some("gave up after 5 attempts: platform unavailable")
        );
    }

    async fn the_app_cleans_the_console_tables_at_three_in_the_morning(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        let (clock, store) = (app.conversations.clock(), app.conversations.store());
        let series = stored(store, "housekeeping").await;
        assert_eq!(
            (series.status, series.due_at),
            (JobStatus::Pending, pkt(24, 3, 0)),
            "seeded at start-up"
        );
        let user = store
            .add_staff_user("Sana Iqbal", "expert", "not-a-real-hash", monday_10am())
            .await
            .expect("add")
            .expect("new");
        let monday = monday_10am();
        store
            .start_staff_session("ended", user, "csrf", monday, monday + Duration::hours(12))
            .await
            .expect("session");
        store
            .start_staff_session("alive", user, "csrf", pkt(24, 2, 30), pkt(24, 14, 30))
            .await
            .expect("session");
        store
            .record_login_failure(&["old"], pkt(22, 10, 0))
            .await
            .expect("failure");
        store
            .record_login_failure(&["recent"], pkt(24, 2, 50))
            .await
            .expect("failure");
        let mut commits = app.conversations.subscribe();

        clock.advance(pkt(24, 3, 0) - clock.now());
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let done = loop {
            if let Some(done) = store
                .job("housekeeping@2026-11-23T22:00:00Z")
                .await
                .expect("read")
            {
                break done;
            }
            let changed = tokio::time::timeout_at(deadline, commits.changed()).await;
            assert!(
                changed.is_ok(),
                "housekeeping did not run within {DEADLINE:?}"
            );
        };

        assert_eq!(
            (done.status, done.finished_at),
            (JobStatus::Done, Some(pkt(24, 3, 0)))
        );
        assert!(store.staff_session("ended").await.expect("read").is_none());
        assert!(store.staff_session("alive").await.expect("read").is_some());
        let since = pkt(1, 0, 0);
        assert_eq!(store.login_failures("old", since).await.expect("read").0, 0);
        assert_eq!(
            store.login_failures("recent", since).await.expect("read").0,
            1
        );
        let next = stored(store, "housekeeping").await;
        assert_eq!(
            (next.status, next.due_at),
            (JobStatus::Pending, pkt(25, 3, 0))
        );
    }
}
