//! Reminders on a manual clock: a teacher who left a lesson half-way gets one nudge after
//! three days at the daily time (10:30 in Karachi, `tests/fixtures/programme/reminders.yaml`),
//! never before, never at night, never twice within a week, and "▶ Continue" resumes at the
//! same part; a failed quiz gets a retry suggestion after two days and "Try the quiz again"
//! starts it afresh; a teacher who wrote STOP gets nothing until START; one who finished the
//! lesson meanwhile is not nudged; on Telegram and on WhatsApp, where a closed window means
//! the re-engagement template first and the nudge when the teacher answers.
//!
//! The app's own scheduler runs the daily job; tests move the clock to each run and wait for
//! the run's row to be finished, looking again after every commit. Nothing sleeps.

use std::time::Duration as StdDuration;

use baithak::channel::telegram::{Mode, RateLimits, TelegramSettings};
use baithak::channel::whatsapp::RESUME_PAYLOAD;
use baithak::clock::Clock;
use baithak::programme::reminders::What;
use baithak::store::{Job, JobStatus};
use baithak::testkit::telegram::{FakeTelegram, FakeTelegramOptions};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

use crate::both_backends;
use crate::support::database::{Backend, TestDatabase};
use crate::support::{TestApp, WebTeacher, fixture_content};
use crate::telegram::Teacher as TgTeacher;
use crate::whatsapp_chat::{self, Setup, TEMPLATE, wait_rows};

const DEADLINE: StdDuration = StdDuration::from_secs(20);

/// A local time in Karachi (UTC+5) in November/December 2026 (day 31 and on: December).
fn pkt(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    let (month, day) = if day > 30 { (12, day - 30) } else { (11, day) };
    chrono_tz::Asia::Karachi
        .with_ymd_and_hms(2026, month, day, hour, minute, 0)
        .unwrap()
        .with_timezone(&Utc)
}

/// Monday 23 November 2026, 10:00 in Karachi: where every test's clock starts.
fn monday_10am() -> Clock {
    Clock::manual(pkt(23, 10, 0))
}

/// Moves the clock to the daily run due at `day` 10:30 and waits until the app's scheduler
/// has finished it.
async fn run_on(app: &TestApp, day: u32) -> Job {
    let due = pkt(day, 10, 30);
    let clock = app.conversations.clock();
    if clock.now() < due {
        clock.advance(due - clock.now());
    }
    finished(app, due).await
}

/// Waits until the daily run due at `due` has ended (done or skipped).
async fn finished(app: &TestApp, due: DateTime<Utc>) -> Job {
    let key = format!(
        "reminders@{}",
        due.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    let store = app.conversations.store();
    let mut commits = app.conversations.subscribe();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(job) = store.job(&key).await.expect("read") {
            return job;
        }
        let changed = tokio::time::timeout_at(deadline, commits.changed()).await;
        assert!(
            changed.is_ok(),
            "the run {key} did not end within {DEADLINE:?}"
        );
    }
}

/// The reminders queued for a teacher so far, as `(kind, module)`.
async fn reminded(app: &TestApp, channel: &str, user: &str) -> Vec<(What, String)> {
    let id = app.teacher_id(channel, user).await;
    app.conversations
        .store()
        .reminders_of(id)
        .await
        .expect("read")
        .into_iter()
        .map(|s| (s.what, s.module))
        .collect()
}

// ------------------------------------------------------------------------------------------
// Telegram

async fn telegram_app(backend: Backend, clock: &Clock) -> Option<(TestApp, FakeTelegram)> {
    let fake = FakeTelegram::start(FakeTelegramOptions {
        clock: clock.clone(),
        ..FakeTelegramOptions::default()
    })
    .await
    .expect("fake starts");
    let database = TestDatabase::create(backend).await?;
    let settings = TelegramSettings {
        token: fake.token().to_string(),
        api_url: fake.api_url(),
        mode: Mode::Polling,
        webhook_secret: None,
        limits: RateLimits {
            global_per_second: 0,
            per_chat_per_second: 0,
            per_chat_burst: 0,
        },
        expert_group: None,
    };
    let app = TestApp::spawn_with(database, fixture_content(), clock.clone(), |s| {
        s.telegram = Some(settings);
    })
    .await;
    Some((app, fake))
}

/// Onboards and leaves the demo lesson at part 2 of 2.
async fn leaves_the_lesson_at_part_two(teacher: &mut TgTeacher<'_>) {
    teacher.says("/start");
    teacher.expect("Choose your language").await;
    teacher.taps("English");
    teacher.expect("What is your name").await;
    teacher.says("Rubina");
    teacher.expect("Which grades").await;
    teacher.says("3");
    teacher.expect("Agree?").await;
    teacher.taps("Yes");
    teacher.expect("Main menu").await;
    teacher.taps("Lessons");
    teacher.expect("part 1 of 2").await;
    teacher.taps("Next ▶");
    teacher.expect("part 2 of 2").await;
}

// ------------------------------------------------------------------------------------------
// The web chat

async fn web_app(backend: Backend) -> Option<TestApp> {
    let database = TestDatabase::create(backend).await?;
    Some(TestApp::spawn_with(database, fixture_content(), monday_10am(), |_| {}).await)
}

async fn onboard(teacher: &mut WebTeacher<'_>) {
    crate::helpdesk::onboard(teacher).await;
}

/// Starts the demo lesson and leaves it at part 1 of 2.
async fn starts_the_lesson(teacher: &mut WebTeacher<'_>) {
    teacher.taps("lessons").await;
    teacher.expect_reply_containing("part 1 of 2").await;
}

/// Goes from part 1 through the task and the reflection to the first quiz question.
async fn finishes_the_lesson(teacher: &mut WebTeacher<'_>) {
    teacher.taps("next.1").await;
    teacher.expect_reply_containing("part 2 of 2").await;
    teacher.taps("next.2").await;
    teacher
        .expect_reply_containing("Use the signal tomorrow")
        .await;
    teacher.taps("next.task").await;
    teacher.expect_reply_containing("What happened?").await;
    teacher.says("They loved it.").await;
    teacher.expect_reply_containing("The class is noisy").await;
}

both_backends! {
    async fn a_lesson_left_half_way_gets_one_nudge_after_three_days_by_day_on_telegram(backend: Backend) {
        let clock = monday_10am();
        let Some((app, fake)) = telegram_app(backend, &clock).await else { return };
        let mut teacher = TgTeacher { fake: &fake, user: fake.add_user(7101, "Rubina", Some("en")), last_seen: 0 };
        leaves_the_lesson_at_part_two(&mut teacher).await;
        let chat = teacher.user.id.to_string();

        // Monday, Tuesday and Wednesday: the runs find nothing due yet.
        for day in [23, 24, 25] {
            let run = run_on(&app, day).await;
            assert_eq!(run.status, JobStatus::Done, "{run:?}");
        }
        assert!(reminded(&app, "telegram", &chat).await.is_empty());

        // Thursday: the app is down through the morning run and back at 23:00. The run is too
        // late for the day and nothing goes out at night.
        clock.advance(pkt(26, 23, 0) - clock.now());
        let late = finished(&app, pkt(26, 10, 30)).await;
        assert_eq!(late.status, JobStatus::Skipped, "{late:?}");
        assert!(reminded(&app, "telegram", &chat).await.is_empty());
        // Friday 08:00, the morning: still nothing before the day's run.
        clock.advance(pkt(27, 8, 0) - clock.now());
        assert!(reminded(&app, "telegram", &chat).await.is_empty());

        // Friday 10:30: one nudge, naming the module and where she stopped.
        run_on(&app, 27).await;
        let nudge = teacher.expect("You stopped at part 2 of 2 of").await;
        assert!(nudge.visible_text().contains("Demo module"), "{nudge:?}");
        assert_eq!(reminded(&app, "telegram", &chat).await, vec![(What::Nudge, "demo".to_string())]);

        // Half an hour later "▶ Continue" resumes the lesson at the very part.
        clock.advance(chrono::Duration::minutes(30));
        teacher.taps("▶ Continue");
        teacher.expect("We continue from part 2").await;
        teacher.expect("part 2 of 2").await;

        // She leaves it again: nothing for the rest of the week, even three days later.
        for day in [28, 29, 30, 31, 32, 33] {
            run_on(&app, day).await;
        }
        assert_eq!(reminded(&app, "telegram", &chat).await.len(), 1);
        assert!(
            teacher.unread().iter().all(|m| !m.contains("You stopped at")),
            "{:?}",
            teacher.unread()
        );
        // A week after the first: the next nudge.
        run_on(&app, 34).await;
        teacher.expect("You stopped at part 2 of 2").await;
        assert_eq!(reminded(&app, "telegram", &chat).await.len(), 2);
        app.stop().await;
    }

    async fn a_failed_quiz_gets_a_retry_suggestion_and_try_again_starts_it(backend: Backend) {
        let Some(app) = web_app(backend).await else { return };
        let mut teacher = app.web_teacher("asma");
        onboard(&mut teacher).await;
        starts_the_lesson(&mut teacher).await;
        finishes_the_lesson(&mut teacher).await;
        teacher.taps("q1.1").await;
        teacher.expect_reply_containing("How often").await;
        teacher.taps("q2.2").await;
        teacher.expect_reply_containing("Not passed (0/2)").await;

        run_on(&app, 23).await;
        run_on(&app, 24).await;
        assert!(reminded(&app, "web", "asma").await.is_empty(), "not before two days");
        run_on(&app, 25).await;
        let suggestion = teacher.expect_reply_containing("fell just short").await;
        assert!(suggestion.contains("Demo module"), "{suggestion}");
        let labels: Vec<String> = teacher.buttons().into_iter().map(|(_, label)| label).collect();
        assert_eq!(labels, ["🔁 Try the quiz again", "Not now"]);

        teacher.taps("pg.rem.retry.demo").await;
        teacher.expect_reply_containing("The class is noisy").await;
        teacher.taps("q1.2").await;
        teacher.expect_reply_containing("How often").await;
        teacher.taps("q2.1").await;
        teacher.expect_reply_containing("Passed! Certificate").await;

        // Passed: no more suggestions, even a week later.
        for day in 26..=32 {
            run_on(&app, day).await;
        }
        assert_eq!(reminded(&app, "web", "asma").await, vec![(What::QuizRetry, "demo".to_string())]);
        app.stop().await;
    }

    async fn stop_holds_reminders_until_start_and_a_finished_lesson_is_not_nudged(backend: Backend) {
        let Some(app) = web_app(backend).await else { return };
        let mut stopped = app.web_teacher("stopped");
        onboard(&mut stopped).await;
        starts_the_lesson(&mut stopped).await;
        stopped.says("STOP").await;
        stopped.expect_reply_containing("no longer get").await;
        let mut finished_it = app.web_teacher("finished");
        onboard(&mut finished_it).await;
        starts_the_lesson(&mut finished_it).await;
        let mut waiting = app.web_teacher("waiting");
        onboard(&mut waiting).await;
        starts_the_lesson(&mut waiting).await;

        for day in [23, 24, 25] {
            run_on(&app, day).await;
        }
        // Wednesday afternoon, one of them finishes the lesson.
        app.conversations.clock().advance(pkt(25, 15, 0) - app.conversations.clock().now());
        finishes_the_lesson(&mut finished_it).await;
        for day in [26, 27] {
            run_on(&app, day).await;
        }
        waiting.expect_reply_containing("You stopped at part 1 of 2").await;
        assert_eq!(reminded(&app, "web", "waiting").await.len(), 1);
        assert!(reminded(&app, "web", "stopped").await.is_empty(), "STOP holds");
        assert!(reminded(&app, "web", "finished").await.is_empty(), "finished meanwhile");

        // "Not now" keeps her place.
        waiting.taps("pg.rem.later").await;
        waiting.expect_reply_containing("Your place is kept").await;

        // START: the next run nudges her.
        stopped.says("START").await;
        stopped.expect_reply_containing("again").await;
        run_on(&app, 28).await;
        stopped.expect_reply_containing("You stopped at part 1 of 2").await;
        stopped.taps("pg.rem.continue.demo").await;
        stopped.expect_reply_containing("part 1 of 2").await;
        assert_eq!(reminded(&app, "web", "stopped").await, vec![(What::Nudge, "demo".to_string())]);
        assert!(reminded(&app, "web", "finished").await.is_empty());
        app.stop().await;
    }

    async fn on_whatsapp_a_closed_window_means_the_template_then_the_nudge(backend: Backend) {
        let clock = monday_10am();
        let setup = Setup { clock: Some(clock.clone()), ..Setup::default() };
        let Some(world) = whatsapp_chat::spawn(backend, setup).await else { return };
        let mut teacher = whatsapp_chat::Teacher::new(&world.whatsapp, "923001119001", "Farah");
        whatsapp_chat::onboard(&mut teacher, "Farah").await;
        teacher.taps("Lessons");
        teacher.expect("part 1 of 2").await;
        wait_rows(&world.app, teacher.address(), "everything sent", |rows| {
            rows.iter().all(|r| r.status == "sent")
        })
        .await;

        for day in [23, 24, 25, 26] {
            run_on(&world.app, day).await;
        }
        // Three days on, her window closed long ago: a template, not the nudge itself.
        let template = world
            .whatsapp
            .wait_for(teacher.address(), |m| m.template.is_some(), DEADLINE)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(template.template.as_ref().map(|t| t.name.as_str()), Some(TEMPLATE));
        assert!(template.is_accepted());
        wait_rows(&world.app, teacher.address(), "nudge held", |rows| {
            rows.iter().any(|r| r.status == "held" && r.payload.contains("You stopped at"))
        })
        .await;
        assert!(
            world.whatsapp.sent_to(teacher.address()).iter().all(|m| !m.visible_text().contains("You stopped at")),
            "no free-form message outside the window"
        );

        // She answers the template: the nudge arrives, and Continue resumes her lesson.
        world
            .whatsapp
            .press_template_button(&teacher.user, RESUME_PAYLOAD, "Show me")
            .expect("tap");
        let nudge = teacher.expect("You stopped at part 1 of 2").await;
        let titles: Vec<&str> = nudge.buttons.iter().map(|b| b.title.as_str()).collect();
        assert_eq!(titles, ["▶ Continue", "Not now"]);
        teacher.taps("▶ Continue");
        teacher.expect("part 1 of 2").await;
        world.app.stop().await;
    }
}

/// Runs `sql` (binding `binds` in order) straight on the test database: seeding thousands of
/// teachers through the chat would take longer than the behaviour under test.
async fn on_db(app: &TestApp, backend: Backend, sql: &str, binds: &[i64]) -> i64 {
    use sqlx::Connection as _;
    let url = &app.database.url;
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    match backend {
        Backend::Sqlite => {
            let mut db = sqlx::SqliteConnection::connect(url).await.expect("connect");
            let mut q = sqlx::query_scalar::<_, i64>(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.fetch_optional(&mut db).await.expect("query").unwrap_or(0)
        }
        Backend::Postgres => {
            let mut db = sqlx::PgConnection::connect(url).await.expect("connect");
            let mut q = sqlx::query_scalar::<_, i64>(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.fetch_optional(&mut db).await.expect("query").unwrap_or(0)
        }
    }
}

both_backends! {
    async fn a_large_population_is_read_in_pages_and_a_second_run_nudges_nobody_twice(backend: Backend) {
        let Some(app) = web_app(backend).await else { return };
        let monday = pkt(23, 10, 0).timestamp_millis();
        on_db(&app, backend, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
            INSERT INTO teachers (channel, channel_user, language, consent, created_at, updated_at) \
            SELECT 'web', 'bulk' || CAST(i AS TEXT), 'en', 'yes', $2, $2 FROM n", &[2_100, monday]).await;
        on_db(&app, backend, "INSERT INTO lesson_progress (teacher_id, module, part, parts, started_at, updated_at) \
            SELECT id, 'demo', 1, 2, $1, $1 FROM teachers", &[monday]).await;

        for day in [23, 24, 25, 26] {
            run_on(&app, day).await;
        }
        // The day's run read the first 2,000 and left the rest to a continuation job.
        let store = app.conversations.store();
        let key = "reminders:2026-11-26:after:2000";
        let mut commits = app.conversations.subscribe();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let rest = loop {
            if let Some(job) = store.job(key).await.expect("read").filter(|j| j.status == JobStatus::Done) {
                break job;
            }
            let changed = tokio::time::timeout_at(deadline, commits.changed()).await;
            assert!(changed.is_ok(), "no continuation {key} done within {DEADLINE:?}");
        };
        assert_eq!(rest.due_at, pkt(26, 10, 30));
        let count = "SELECT COUNT(*) FROM reminders";
        let teachers = "SELECT COUNT(DISTINCT teacher_id) FROM reminders";
        assert_eq!(on_db(&app, backend, count, &[]).await, 2_100);
        assert_eq!(on_db(&app, backend, teachers, &[]).await, 2_100);

        // The same day's run again (a runner that lost its lease, an operator): nothing new.
        let until = pkt(26, 21, 0).timestamp_millis();
        let payload = format!("{{\"after\":0,\"until\":{until}}}");
        let job = baithak::store::NewJob { kind: "reminders", key: "again", payload: &payload, due_at: pkt(26, 10, 30) };
        store.schedule_job(&job, pkt(26, 10, 30)).await.expect("scheduled");
        app.conversations.clock().advance(chrono::Duration::minutes(1));
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            if store.job("again").await.expect("read").is_some_and(|j| j.status == JobStatus::Done) {
                break;
            }
            let changed = tokio::time::timeout_at(deadline, commits.changed()).await;
            assert!(changed.is_ok(), "the second run did not end within {DEADLINE:?}");
        }
        assert_eq!(on_db(&app, backend, count, &[]).await, 2_100);
        app.stop().await;
    }
}
