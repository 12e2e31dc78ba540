//! Broadcasts by staff (issue 7): previewed and sent from the console and the CLI, fed at
//! each channel's rate by the scheduler, received once by exactly the segment's teachers on
//! the fake Telegram and WhatsApp servers in their language; STOP and START; pause, resume,
//! a restart mid-way; empty segments and wrong terms refused. A manual clock drives the
//! feeder's ticks (one a second).

use baithak::clock::Clock;
use baithak::store::{JobFilter, JobStatus};
use chrono::{TimeZone, Utc};
use reqwest::StatusCode;

use crate::both_backends;
use crate::console::{Browser, account};
use crate::support::database::TestDatabase;
use crate::support::{TestApp, WebTeacher, fixture_content};
use crate::telegram::Teacher as TgTeacher;
use crate::whatsapp_chat::{DEADLINE, Setup, Teacher, spawn};

fn clock() -> Clock {
    // 10:00 in Pakistan: broadcasts go day or night anyway.
    Clock::manual(Utc.with_ymd_and_hms(2026, 11, 23, 5, 0, 0).unwrap())
}

/// Moves the clock one feeder tick, then waits until the scheduler has run every broadcast
/// job due by the new time.
async fn tick(app: &TestApp) {
    app.conversations
        .clock()
        .advance(chrono::Duration::seconds(1));
    settle(app).await;
}

/// Waits until no broadcast job due now is left to run, looking again after every commit (the
/// scheduler tells the conversations' watchers when it settled jobs).
async fn settle(app: &TestApp) {
    let store = app.conversations.store();
    let mut commits = app.conversations.subscribe();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let filter = JobFilter {
        status: None,
        kind: Some("broadcast".into()),
        limit: 10_000,
    };
    loop {
        let now = app.conversations.clock().now();
        let jobs = store.jobs(&filter).await.expect("jobs");
        let due = jobs.iter().any(|j| {
            matches!(j.status, JobStatus::Pending | JobStatus::Running) && j.due_at <= now
        });
        if !due {
            return;
        }
        tokio::time::timeout_at(deadline, commits.changed())
            .await
            .expect("the scheduler runs the due broadcast jobs")
            .expect("conversations alive");
    }
}

/// What each language's onboarding says, in order: language label, name prompt, grades
/// prompt, consent prompt, main menu.
fn prompts(lang: &str) -> [&'static str; 5] {
    match lang {
        "ur" => ["اردو", "نام", "جماعتیں", "متفق", "مین مینو"],
        "bn" => ["বাংলা", "নাম", "শ্রেণিতে", "রাজি", "প্রধান মেনু"],
        _ => [
            "English",
            "What is your name",
            "Which grades",
            "Agree?",
            "Main menu",
        ],
    }
}

async fn onboard_tg(t: &mut TgTeacher<'_>, lang: &str, grade: &str) {
    let p = prompts(lang);
    t.says("Hi");
    t.expect("Choose your language").await;
    t.taps(p[0]);
    t.expect(p[1]).await;
    t.says("Nadia");
    t.expect(p[2]).await;
    t.says(grade);
    t.expect(p[3]).await;
    t.says("haan");
    t.expect(p[4]).await;
}

async fn onboard_wa(t: &mut Teacher<'_>, lang: &str, grade: &str) {
    let p = prompts(lang);
    t.says("Hi");
    t.expect("Choose your language").await;
    t.taps(p[0]);
    t.expect(p[1]).await;
    t.says("Rubina");
    t.expect(p[2]).await;
    t.says(grade);
    t.expect(p[3]).await;
    t.says("haan");
    t.expect(p[4]).await;
}

async fn onboard_web(t: &mut WebTeacher<'_>, grade: &str) {
    t.says("/start").await;
    t.expect_reply_containing("Choose your language").await;
    t.taps("en").await;
    t.expect_reply_containing("What is your name").await;
    t.says("Ayesha Khan").await;
    t.expect_reply_containing("Which grades").await;
    t.says(grade).await;
    t.expect_reply_containing("Agree?").await;
    t.says("haan").await;
    t.expect_reply_containing("Main menu").await;
}

async fn staff<'a>(app: &'a TestApp) -> Browser<'a> {
    account(app, "sana", "staff").await;
    let mut browser = Browser::new(app);
    browser.sign_in("sana").await;
    browser
}

/// Previews then sends a broadcast from the console; returns its id.
async fn send(browser: &Browser<'_>, fields: &[(&str, &str)]) -> i64 {
    let page = browser.post("/console/broadcasts/preview", fields).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Send to"), "{}", page.body);
    let sent = browser.post("/console/broadcasts", fields).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let to = sent.location.expect("to its page");
    to.rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .expect("id")
}

/// The `<td id="…">` figure of the progress page.
fn figure(html: &str, id: &str) -> i64 {
    let tag = format!("id=\"{id}\">");
    let at = html.find(&tag).map(|i| i + tag.len()).expect("figure");
    html[at..]
        .split('<')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("number")
}

/// Waits until the broadcast's page shows `status` (and, when `settled`, nothing waits in the
/// outbox: web chat rows wait until the teacher's page reads them).
async fn wait_status(browser: &Browser<'_>, id: i64, status: &str, settled: bool) -> String {
    let app = browser.app;
    let mut deliveries = app.conversations.subscribe_deliveries();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let page = browser.get(&format!("/console/broadcasts/{id}")).await;
        assert_eq!(page.status, StatusCode::OK);
        let shown = page.body.contains(&format!("id=\"status\">{status}<"));
        if shown && (!settled || figure(&page.body, "waiting") == 0) {
            return page.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {status}: {}",
            page.body
        );
        if shown {
            // Fed; the dispatchers are still sending what waits in the outbox.
            let _ = tokio::time::timeout_at(deadline, deliveries.changed()).await;
        } else {
            tick(app).await;
        }
    }
}

both_backends! {
    async fn a_broadcast_reaches_its_segment_once_on_telegram_and_whatsapp_in_their_language(backend: Backend) {
        let clock = clock();
        let Some(world) = spawn(backend, Setup { clock: Some(clock.clone()), experts: true, ..Setup::default() }).await else { return };
        let tg = world.telegram.as_ref().expect("telegram");
        let mut wa_en = Teacher::new(&world.whatsapp, "923001110001", "Rubina");
        let mut wa_ur = Teacher::new(&world.whatsapp, "923001110002", "Sadia");
        let mut wa_g7 = Teacher::new(&world.whatsapp, "923001110003", "Huma");
        let mut tg_bn = TgTeacher::new(tg, 5001, "Mitu");
        let mut tg_en = TgTeacher::new(tg, 5002, "Nadia");
        let mut tg_stop = TgTeacher::new(tg, 5003, "Sara");
        onboard_wa(&mut wa_en, "en", "4").await;
        onboard_wa(&mut wa_ur, "ur", "3, 4").await;
        onboard_wa(&mut wa_g7, "en", "7").await;
        onboard_tg(&mut tg_bn, "bn", "4").await;
        onboard_tg(&mut tg_en, "en", "4").await;
        onboard_tg(&mut tg_stop, "en", "4").await;
        tg_stop.says("STOP");
        tg_stop.expect("START").await;

        let browser = staff(&world.app).await;
        let form = [
            ("grade", "4"),
            ("en", "Exam week starts Monday."),
            ("ur", "امتحانی ہفتہ پیر سے شروع ہے۔"),
            ("bn", "পরীক্ষার সপ্তাহ সোমবার শুরু।"),
        ];
        // The preview counts the segment per channel before anything is written.
        let preview = browser.post("/console/broadcasts/preview", &form).await;
        assert!(preview.body.contains("<strong>4 teachers</strong>"), "{}", preview.body);
        assert!(preview.body.contains("data-channel=\"telegram\">2<"), "{}", preview.body);
        assert!(preview.body.contains("data-channel=\"whatsapp\">2<"), "{}", preview.body);
        assert!(world.app.conversations.store().broadcasts(10).await.expect("list").is_empty());

        let id = send(&browser, &form).await;
        let page = wait_status(&browser, id, "done", true).await;
        assert_eq!((figure(&page, "total"), figure(&page, "sent"), figure(&page, "pending")), (4, 4, 0));

        let got = wa_en.expect("Exam week starts Monday.").await;
        assert!(got.visible_text().contains("Write STOP to stop these messages."), "{}", got.visible_text());
        wa_ur.expect("امتحانی ہفتہ پیر سے شروع ہے۔").await;
        tg_bn.expect("পরীক্ষার সপ্তাহ সোমবার শুরু।").await;
        tg_en.expect("Exam week starts Monday.").await;
        let count_wa = |t: &Teacher<'_>, needle: &str| t.accepted().iter().filter(|m| m.visible_text().contains(needle)).count();
        assert_eq!(count_wa(&wa_en, "Exam week"), 1);
        assert_eq!(count_wa(&wa_ur, "امتحانی"), 1);
        assert_eq!(count_wa(&wa_ur, "Exam week"), 0, "in their language only");
        assert_eq!(count_wa(&wa_g7, "Exam week"), 0, "grade 7 is not in the segment");
        assert_eq!(tg_bn.count("পরীক্ষার"), 1);
        assert_eq!(tg_en.count("Exam week"), 1);
        assert_eq!(tg_stop.count("Exam week"), 0, "STOP'd teachers get no broadcast");

        // START: the next broadcast includes them.
        tg_stop.says("START");
        tg_stop.expect("STOP").await;
        let again = [("grade", "4"), ("channel", "telegram"), ("en", "Second notice.")];
        let preview = browser.post("/console/broadcasts/preview", &again).await;
        assert!(preview.body.contains("<strong>3 teachers</strong>"), "{}", preview.body);
        let second = send(&browser, &again).await;
        wait_status(&browser, second, "done", true).await;
        tg_stop.expect("Second notice.").await;
        assert_eq!(tg_stop.count("Second notice."), 1);
        assert_eq!(tg_bn.count("Second notice."), 1, "English when no Bangla was given");
        assert_eq!(count_wa(&wa_en, "Second notice."), 0);

        let list = browser.get("/console/broadcasts").await;
        assert!(list.body.contains(&format!("/console/broadcasts/{second}")), "{}", list.body);
        world.app.stop().await;
    }

    async fn pause_holds_resume_completes_and_a_restart_sends_to_no_one_twice(backend: Backend) {
        let clock = clock();
        let Some(database) = TestDatabase::create(backend).await else { return };
        let app = TestApp::spawn_with(database, fixture_content(), clock.clone(), |_| {}).await;
        let names = ["amna", "bilal", "chanda", "dania", "erum", "faiza"];
        for name in names {
            onboard_web(&mut app.web_teacher(name), "4").await;
        }
        let browser = staff(&app).await;
        // One message a second, so the broadcast is still going when it is paused.
        let form = [("channel", "web"), ("en", "Holiday on Friday."), ("rate", "1")];
        let id = send(&browser, &form).await;
        let store = app.conversations.store();
        let queued = || async { store.broadcast_progress(id).await.expect("progress").all.queued };
        // The first tick, as soon as the scheduler looks, takes one second's worth.
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while queued().await < 1 {
            assert!(tokio::time::Instant::now() < deadline, "nothing queued");
            tick(&app).await;
        }
        let paused = browser.post(&format!("/console/broadcasts/{id}/pause"), &[]).await;
        assert_eq!(paused.status, StatusCode::SEE_OTHER);
        let before = queued().await;
        for _ in 0..5 {
            tick(&app).await;
        }
        assert_eq!(queued().await, before, "nothing is queued while paused");
        let page = browser.get(&format!("/console/broadcasts/{id}")).await;
        assert!(page.body.contains("id=\"status\">paused<"), "{}", page.body);
        assert!(page.body.contains("/resume"), "a Resume button");
        assert_eq!(figure(&page.body, "pending"), 6 - before);
        // Pausing twice is refused with the reason.
        let twice = browser.post(&format!("/console/broadcasts/{id}/pause"), &[]).await;
        assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.body);

        let resumed = browser.post(&format!("/console/broadcasts/{id}/resume"), &[]).await;
        assert_eq!(resumed.status, StatusCode::SEE_OTHER);
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while queued().await < before + 1 {
            assert!(tokio::time::Instant::now() < deadline, "resume queued nothing");
            tick(&app).await;
        }
        assert!(queued().await < 6, "still going when the app stops");

        // The app stops mid-broadcast and starts again on the same database.
        let database = app.stop().await;
        let app = TestApp::spawn_with(database, fixture_content(), clock.clone(), |_| {}).await;
        let browser = staff_again(&app).await;
        wait_status(&browser, id, "done", false).await;
        for name in names {
            let mut teacher = app.web_teacher(name);
            teacher.expect_reply_containing("Holiday on Friday.").await;
            let history = teacher.history().await.to_string();
            assert_eq!(history.matches("Holiday on Friday.").count(), 1, "{name}: {history}");
        }
        let tagged = app.conversations.store().broadcast_progress(id).await.expect("progress");
        assert_eq!((tagged.all.queued, tagged.all.sent + tagged.all.waiting), (6, 6));
        app.stop().await;
    }

    async fn empty_segments_and_wrong_terms_are_refused_in_the_console_and_the_cli(backend: Backend) {
        // The CLI stamps the broadcast with the system time: the app's clock starts there.
        let clock = Clock::manual(Utc::now());
        let Some(database) = TestDatabase::create(backend).await else { return };
        let app = TestApp::spawn_with(database, fixture_content(), clock.clone(), |_| {}).await;
        onboard_web(&mut app.web_teacher("zara"), "5").await;
        let browser = staff(&app).await;
        let store = app.conversations.store();

        let empty = browser.post("/console/broadcasts/preview", &[("grade", "11"), ("en", "Hi")]).await;
        assert!(empty.body.contains("the segment has no teachers"), "{}", empty.body);
        let wrong = browser.post("/console/broadcasts/preview", &[("role", "principal"), ("en", "Hi")]).await;
        assert!(wrong.body.contains("`principal` is not a valid role"), "{}", wrong.body);
        let english = browser.post("/console/broadcasts/preview", &[("ur", "سلام")]).await;
        assert!(english.body.contains("English message is required"), "{}", english.body);
        // Sending straight away (skipping the preview) is refused the same way.
        let direct = browser.post("/console/broadcasts", &[("grade", "11"), ("en", "Hi")]).await;
        assert!(direct.body.contains("the segment has no teachers"), "{}", direct.body);
        assert!(store.broadcasts(10).await.expect("list").is_empty(), "nothing written");

        let cli = |args: &[&str], stdin: &str| {
            use std::io::Write as _;
            let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_baithak"))
                .args(["--database-url", &app.database.url])
                .args(["--content", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")])
                .arg("broadcast")
                .args(args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("baithak runs");
            child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write");
            let out = child.wait_with_output().expect("output");
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (ok, out, err) = cli(&["--segment", "colour=red", "--message", "Hi"], "");
        assert!(!ok && err.contains("unknown segment key `colour`"), "{out}{err}");
        let (ok, out, err) = cli(&["--segment", "grade=11", "--message", "Hi", "--yes"], "");
        assert!(!ok && out.contains("0 teachers") && err.contains("no teachers"), "{out}{err}");
        // The preview, then "no" at the prompt: nothing is sent.
        let (ok, out, err) = cli(&["--segment", "grade=5", "--segment", "channel=web", "--message", "Hi"], "n\n");
        assert!(!ok, "{out}{err}");
        assert!(out.contains("Broadcast to grade=5 channel=web: 1 teachers (web 1)"), "{out}");
        assert!(out.contains("Nothing sent."), "{out}");
        assert!(store.broadcasts(10).await.expect("list").is_empty(), "nothing written");
        // --yes creates it; the server sends it.
        let (ok, out, err) = cli(&["--segment", "grade=5", "--message", "From the CLI.", "--yes", "--detach"], "");
        assert!(ok, "{out}{err}");
        let made = store.broadcasts(10).await.expect("list");
        assert_eq!(made.len(), 1);
        let (ok, list, _) = cli(&["list"], "");
        assert!(ok && list.contains("grade=5"), "{list}");
        wait_status(&browser, made[0].id, "done", false).await;
        app.web_teacher("zara").expect_reply_containing("From the CLI.").await;
        let (ok, status, _) = cli(&["status", &made[0].id.to_string()], "");
        assert!(ok && status.contains("done"), "{status}");
        app.stop().await;
    }
}

/// Signs the existing staff account in again (after a restart).
async fn staff_again(app: &TestApp) -> Browser<'_> {
    let mut browser = Browser::new(app);
    browser.sign_in("sana").await;
    browser
}
