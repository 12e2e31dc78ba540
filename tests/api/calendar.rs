//! The CPD-hour calendar end to end on a manual clock (`tests/fixtures/programme/calendar.yaml`,
//! Asia/Karachi, the clock starting Monday 23 November 2026 at 10:00): the hourly look at the
//! calendar schedules each session's announcements and follow-up; the 2-day announcement
//! reaches only the session's audience (grades 3-5), in each teacher's language, on Telegram
//! and WhatsApp through the fakes, and not a teacher who said STOP; RSVP taps are recorded (a
//! later tap replaces an earlier one) and counted on the console's Calendar page; the 1-hour
//! announcement skips the teacher who cannot come; the follow-up after the session carries the
//! lesson's button, which starts the module; a job run twice tells nobody twice. An
//! announcement due at night waits for the morning, or is dropped when the morning is too late;
//! a session in the winter break is never announced.

use baithak::clock::Clock;
use baithak::scheduler::Handler;
use baithak::scheduler::calendar::{Announce, FOLLOWUP};
use baithak::store::{Job, JobStatus, Store};
use chrono::{DateTime, TimeZone, Utc};
use reqwest::StatusCode;

use crate::both_backends;
use crate::console::{Browser, account};
use crate::helpdesk::onboard;
use crate::support::TestApp;
use crate::telegram::Teacher as TgTeacher;
use crate::whatsapp_chat::{self, DEADLINE, Setup, Teacher};

/// A local time in Karachi in November 2026.
fn pkt(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Karachi
        .with_ymd_and_hms(2026, 11, day, hour, minute, 0)
        .unwrap()
        .with_timezone(&Utc)
}

const ANNOUNCE_2D: &str = "announce:quiet-signal@20261125T1600:2d";
const ANNOUNCE_1H: &str = "announce:quiet-signal@20261125T1600:1h";
const FOLLOW_UP: &str = "followup:quiet-signal@20261125T1600";

async fn onboard_in_urdu(teacher: &mut Teacher<'_>) {
    teacher.says("Salam");
    teacher.expect("Choose your language").await;
    teacher.taps("اردو");
    teacher.expect("آپ کا نام کیا ہے؟").await;
    teacher.says("Saima");
    teacher.expect("جماعتیں").await;
    teacher.says("۳");
    teacher.expect("متفق").await;
    teacher.taps("جی ہاں");
    teacher.expect("مین مینو").await;
}

/// Moves the clock to `at` and waits until job `key` has ended (done or skipped).
async fn run_until(app: &TestApp, at: DateTime<Utc>, key: &str) -> Job {
    let clock = app.conversations.clock();
    if at > clock.now() {
        clock.advance(at - clock.now());
    }
    wait_job(app.conversations.store(), app, key, |j| {
        matches!(j.status, JobStatus::Done | JobStatus::Skipped)
    })
    .await
}

/// Waits until job `key` exists and satisfies `check`, looking again after every commit.
async fn wait_job(store: &Store, app: &TestApp, key: &str, check: impl Fn(&Job) -> bool) -> Job {
    let mut commits = app.conversations.subscribe();
    let mut passes = app.conversations.subscribe_jobs();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(job) = store.job(key).await.expect("read")
            && check(&job)
        {
            return job;
        }
        let waited = tokio::time::timeout_at(deadline, async {
            tokio::select! {
                _ = commits.changed() => {}
                _ = passes.changed() => {}
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "job {key} did not end: {:?}",
            store.job(key).await
        );
    }
}

/// The calendar page's row for `session`, seen by a staff member signed in now (the clock
/// jumps days: a session from before would have ended).
async fn row(app: &TestApp, session: &str) -> String {
    let mut staff = Browser::new(app);
    staff.sign_in("nadia").await;
    let page = staff.get("/console/calendar").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let start = page
        .body
        .find(&format!("id=\"session-{session}\""))
        .unwrap_or_else(|| panic!("no row for {session}: {}", page.body));
    let rest = &page.body[start..];
    rest[..rest.find("</tr>").expect("row end")].to_string()
}

fn cell<'a>(row: &'a str, class: &str) -> &'a str {
    let at = row.find(&format!("class=\"{class}\">")).expect("cell") + class.len() + 9;
    &row[at..at + row[at..].find("</td>").expect("cell end")]
}

/// The fixture content plus a session in the winter break (kept out of the fixture itself,
/// which `check` must find clean: a session in a break is a warning).
fn content_with_a_session_in_the_break() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary content root");
    crate::fs::copy_dir(&crate::support::fixture_content(), dir.path());
    let calendar = dir.path().join("programme/calendar.yaml");
    let mut text = std::fs::read_to_string(&calendar).expect("fixture calendar");
    text.push_str(WINTER_SPECIAL);
    std::fs::write(&calendar, text).expect("calendar written");
    dir
}

/// Appended to the fixture's `sessions:` list.
const WINTER_SPECIAL: &str = "  # In the winter break: never announced.
  - id: winter-special
    title: { en: Winter special, ur: سرمائی خصوصی, bn: শীতকালীন }
    starts: 2026-12-22 16:00
    mode: in_person
    place: DTSC Kasur
    audience: grade=3-5
    module: demo
";

/// Onboards a Telegram teacher in English, teaching grade 4.
async fn onboard_tg(teacher: &mut TgTeacher<'_>) {
    teacher.says("/start");
    teacher.expect("Choose your language").await;
    teacher.taps("English");
    teacher.expect("What is your name").await;
    teacher.says("Shazia");
    teacher.expect("Which grades").await;
    teacher.says("4");
    teacher.expect("Agree?").await;
    teacher.taps("Yes");
    teacher.expect("Main menu").await;
}

both_backends! {
    async fn the_cpd_hour_is_announced_answered_and_followed_by_its_lesson(backend: Backend) {
        let content = content_with_a_session_in_the_break();
        let setup = Setup {
            clock: Some(Clock::manual(pkt(23, 10, 0))),
            experts: true,
            content: Some(content.path().to_path_buf()),
            ..Setup::default()
        };
        let Some(world) = whatsapp_chat::spawn(backend, setup).await else { return };
        let app = &world.app;
        let telegram = world.telegram.as_ref().expect("fake Telegram");
        let store = app.conversations.store();

        // Four teachers: grade 4 on Telegram in English, grade 3 on WhatsApp in Urdu, grade 8
        // on the web chat (not the audience), grade 3-4 on the web who said STOP.
        let mut shazia = TgTeacher::new(telegram, 5_001, "Shazia");
        onboard_tg(&mut shazia).await;
        let mut saima = Teacher::new(&world.whatsapp, "923001234567", "Saima");
        onboard_in_urdu(&mut saima).await;
        let mut older = app.web_teacher("grade-eight");
        older.says("/start").await;
        older.expect_reply_containing("Choose your language").await;
        older.taps("en").await;
        older.expect_reply_containing("What is your name").await;
        older.says("Imran").await;
        older.expect_reply_containing("Which grades").await;
        older.says("8").await;
        older.expect_reply_containing("Agree?").await;
        older.says("haan").await;
        older.expect_reply_containing("Main menu").await;
        let mut stopped = app.web_teacher("stopped");
        onboard(&mut stopped).await;
        stopped.says("STOP").await;
        stopped.expect_reply_containing("no longer get").await;

        // 11:00: the hourly look schedules the sessions' jobs; the one in the winter break
        // gets none.
        run_until(app, pkt(23, 11, 0), "calendar.sync:11@2026-11-23T06:00:00Z").await;
        let planned = store.job(ANNOUNCE_2D).await.expect("read").expect("planned");
        assert_eq!((planned.status, planned.due_at), (JobStatus::Pending, pkt(23, 16, 0)));
        assert!(store.job("announce:winter-special@20261222T1600:2d").await.expect("read").is_none());
        assert!(store.job("followup:winter-special@20261222T1600").await.expect("read").is_none());

        // 16:00, two days before: the audience is told, each in their language.
        run_until(app, pkt(23, 16, 0), ANNOUNCE_2D).await;
        let told = shazia.expect("CPD hour: The quiet signal").await;
        assert!(told.visible_text().contains("On Wednesday 25 November at 16:00 (1 hour)"), "{}", told.visible_text());
        assert!(told.visible_text().contains("https://meet.example.org/quiet-signal"));
        let labels: Vec<String> = told.buttons().into_iter().map(|b| b.text).collect();
        assert_eq!(labels, ["✅ I'll attend", "❌ Can't make it"]);
        let urdu = saima.expect("سی پی ڈی آور: خاموشی کا اشارہ").await;
        assert!(urdu.visible_text().contains("بدھ 25 نومبر کو شام 4:00 بجے"), "{}", urdu.visible_text());
        let titles: Vec<&str> = urdu.buttons.iter().map(|b| b.title.as_str()).collect();
        assert_eq!(titles, ["✅ شامل ہوں گے", "❌ نہیں آ سکیں گے"]);

        // Answers: Shazia first cannot, then can (the later answer counts); Saima cannot.
        shazia.taps("❌ Can't make it");
        shazia.expect("we will send you its lesson, “Demo module”").await;
        shazia.taps("✅ I'll attend");
        shazia.expect("We have noted that you will join “The quiet signal”").await;
        saima.taps("❌ نہیں آ سکیں گے");
        saima.expect("ڈیمو ماڈیول").await;
        let shazia_id = app.teacher_id("telegram", "5001").await;
        assert_eq!(store.rsvp("quiet-signal", shazia_id).await.expect("read"), Some(true));

        // Nobody outside the audience, and nobody who said STOP, heard of it.
        for teacher in [&older, &stopped] {
            let history = teacher.history().await.to_string();
            assert!(!history.contains("CPD hour"), "{history}");
        }
        account(app, "nadia", "staff").await;
        let line = row(app, "quiet-signal").await;
        assert_eq!(cell(&line, "audience-now"), "2", "{line}");
        assert!(cell(&line, "announced").contains("2d before: 2"), "{line}");
        assert_eq!((cell(&line, "rsvp-yes"), cell(&line, "rsvp-no")), ("1", "1"), "{line}");
        assert_eq!(cell(&row(app, "winter-special").await, "state"), "suppressed: Winter break");

        // A job that runs twice (a lease that passed) tells nobody twice.
        let done = store.job(ANNOUNCE_2D).await.expect("read").expect("job");
        let again = Announce::before().run(&app.conversations, &done).await;
        assert_eq!(again, baithak::schedule::Outcome::Done);

        // Wednesday 15:00, an hour before: not to Saima, who cannot come.
        run_until(app, pkt(25, 15, 0), ANNOUNCE_1H).await;
        shazia.expect("CPD hour: The quiet signal").await;
        assert_eq!(shazia.count("CPD hour: The quiet signal"), 2, "announced twice, not thrice");
        let line = row(app, "quiet-signal").await;
        assert!(cell(&line, "announced").contains("1h before: 1"), "{line}");
        assert_eq!(
            saima.accepted().iter().filter(|m| m.visible_text().contains("سی پی ڈی آور:")).count(),
            1
        );

        // Saima writes (her WhatsApp window opens again for the follow-up).
        saima.says("menu");
        saima.expect("مین مینو").await;

        // 17:00, the end: everyone in the audience gets the lesson, and its button starts it.
        let follow = run_until(app, pkt(25, 17, 0), FOLLOW_UP).await;
        assert_eq!(follow.status, JobStatus::Done);
        assert_eq!(follow.kind, FOLLOWUP);
        let offer = shazia.expect("“The quiet signal” is over").await;
        assert!(offer.visible_text().contains("“Demo module”"));
        saima.expect("ختم ہو گیا").await;
        shazia.taps("▶ Start the lesson");
        shazia.expect("part 1 of 2").await;
        let line = row(app, "quiet-signal").await;
        assert!(cell(&line, "announced").contains("follow-up: 2"), "{line}");
        assert_eq!(cell(&line, "state"), "held");

        // A second look at the calendar schedules nothing again.
        run_until(app, pkt(25, 18, 0), "calendar.sync:18@2026-11-25T13:00:00Z").await;
        assert_eq!(shazia.count("CPD hour: The quiet signal"), 2);
        world.app.stop().await;
    }

    async fn announcements_due_at_night_wait_for_the_morning_or_are_dropped(backend: Backend) {
        let Some(database) = crate::support::database::TestDatabase::create(backend).await else {
            return;
        };
        let clock = Clock::manual(pkt(23, 10, 0));
        let app = TestApp::spawn_with(database, crate::support::fixture_content(), clock, |_| {}).await;
        let store = app.conversations.store();
        let mut teacher = app.web_teacher("early");
        onboard(&mut teacher).await;
        run_until(&app, pkt(23, 11, 0), "calendar.sync:11@2026-11-23T06:00:00Z").await;

        // The 2-day announcement of the 07:30 Saturday session falls at 07:30 on Thursday.
        let early_2d = "announce:early-birds@20261128T0730:2d";
        let clock = app.conversations.clock();
        clock.advance(pkt(26, 7, 30) - clock.now());
        let waiting = wait_job(store, &app, early_2d, |j| j.due_at == pkt(26, 8, 0)).await;
        assert_eq!(waiting.status, JobStatus::Pending, "deferred to the morning");
        let history = teacher.history().await.to_string();
        assert!(!history.contains("Early birds"), "nothing at night: {history}");

        let done = run_until(&app, pkt(26, 8, 0), early_2d).await;
        assert_eq!(done.status, JobStatus::Done);
        teacher.expect_reply_containing("CPD hour: Early birds").await;

        // The 1-hour one would fall at 06:30 on Saturday; the morning is after the start.
        let early_1h = "announce:early-birds@20261128T0730:1h";
        let skipped = run_until(&app, pkt(28, 6, 30), early_1h).await;
        assert_eq!(skipped.status, JobStatus::Skipped);
        assert!(
            skipped.last_error.as_deref().is_some_and(|r| r.contains("night")),
            "{skipped:?}"
        );
        app.stop().await;
    }
}
