//! The recurring-issues report through the console's front door: teachers ask in four ways of
//! writing, fail a quiz item and leave a lesson half-way; staff see the issue grouped across
//! languages with its samples and outcomes, the knowledge-base gap, the quiz item and the
//! lesson, and export the same figures; a problem the shipped knowledge base does not cover
//! shows as a gap.

use baithak::clock::Clock;
use chrono::{Duration, TimeZone, Utc};
use reqwest::StatusCode;

use crate::both_backends;
use crate::console::{Browser, account};
use crate::helpdesk::onboard;
use crate::support::database::{Backend, TestDatabase};
use crate::support::{TestApp, WebTeacher, fixture_content, shipped_content};
use crate::web_chat::onboard_shipped;

/// Monday 23 November 2026, 10:00 in Karachi: office hours.
fn office_hours() -> Clock {
    Clock::manual(Utc.with_ymd_and_hms(2026, 11, 23, 5, 0, 0).unwrap())
}

async fn app(backend: Backend) -> Option<TestApp> {
    let database = TestDatabase::create(backend).await?;
    Some(TestApp::spawn_with(database, fixture_content(), office_hours(), |_| {}).await)
}

/// The same problem, a noisy class, as teachers type it.
const NOISY: [&str; 4] = [
    "my class is too noisy, what do i do",
    "میری کلاس میں بہت شور ہوتا ہے، کیا کروں",
    "meri class mein bohat shor hota hai kya karun",
    "আমার ক্লাসে খুব গোলমাল হয়, কী করব",
];

/// A problem no article of the shipped knowledge base covers.
const UNCOVERED: [&str; 2] = [
    "how do I teach sign language to a deaf child",
    "a deaf child joined, how can I learn sign language to teach her",
];

/// Asks and waits for the bot's answer or the ticket it opened.
async fn asks(teacher: &mut WebTeacher<'_>, question: &str) -> String {
    teacher.says(question).await;
    let reply = teacher.expect_reply_containing("").await;
    if reply.contains("HD-") {
        teacher.expect_reply_containing("Main menu").await;
    }
    reply
}

/// Takes the fixture's quiz, answering its first question wrong.
async fn fails_the_first_quiz_item(teacher: &mut WebTeacher<'_>) {
    teacher.taps("lessons").await;
    teacher.expect_reply_containing("part 1 of 2").await;
    teacher.taps("next.1").await;
    teacher.expect_reply_containing("part 2 of 2").await;
    teacher.says("next").await;
    teacher
        .expect_reply_containing("Use the signal tomorrow")
        .await;
    teacher.taps("next.task").await;
    teacher.expect_reply_containing("What happened?").await;
    teacher.says("We tried it.").await;
    teacher.expect_reply_containing("The class is noisy").await;
    teacher.taps("q1.1").await;
    teacher.expect_reply_containing("How often").await;
    teacher.taps("q2.1").await;
    teacher.expect_reply_containing("Main menu").await;
}

both_backends! {
    async fn staff_see_recurring_issues_across_languages_gaps_and_struggling_material(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        for (n, question) in NOISY.iter().enumerate() {
            let mut teacher = app.web_teacher(&format!("noisy{n}"));
            onboard(&mut teacher).await;
            asks(&mut teacher, question).await;
        }
        for n in 0..3 {
            let mut teacher = app.web_teacher(&format!("quiz{n}"));
            onboard(&mut teacher).await;
            fails_the_first_quiz_item(&mut teacher).await;
        }
        let mut stopped = app.web_teacher("stopped");
        onboard(&mut stopped).await;
        stopped.taps("lessons").await;
        stopped.expect_reply_containing("part 1 of 2").await;
        app.conversations.clock().advance(Duration::days(8));

        account(&app, "farah", "staff").await;
        let mut farah = Browser::new(&app);
        farah.sign_in("farah").await;
        let page = farah.get("/console/insights").await;
        assert_eq!(page.status, StatusCode::OK);
        let body = &page.body;

        // One issue, four ways of writing, samples in the teachers' words, right to left.
        let clusters = section(body, "id=\"clusters\"", "</section>");
        let noisy = clusters
            .split("<article")
            .find(|card| card.contains("4 questions"))
            .unwrap_or_else(|| panic!("the noisy class as one issue of 4: {clusters}"));
        for code in ["en 1", "ur 1", "roman_ur 1", "bn 1"] {
            assert!(noisy.contains(code), "{code} in {noisy}");
        }
        assert!(noisy.contains("from 4 teachers"), "{noisy}");
        assert!(noisy.contains("dir=\"auto\" lang=\"ur\""), "Urdu sample marked: {noisy}");
        assert!(noisy.contains("Covered"), "the noisy-class article covers it: {noisy}");

        // The quiz item all three failed, and the lesson left at part 1 a week ago.
        let quiz = section(body, "id=\"quiz-items\"", "</table>");
        assert!(quiz.contains("The class is noisy. First step?"), "{quiz}");
        assert!(quiz.contains("100 %") && quiz.contains("3 of 3"), "{quiz}");
        let lessons = section(body, "id=\"lessons\"", "</table>");
        assert!(lessons.contains("1 of 4 started"), "{lessons}");
        assert!(lessons.contains("part 1 of 2"), "{lessons}");

        // The same figures as CSV, with a byte-order mark so spreadsheets show Urdu and Bangla.
        let csv = farah.get("/console/insights/export/issues.csv").await.bytes;
        assert!(csv.starts_with(b"\xEF\xBB\xBF"), "byte-order mark");
        let csv = String::from_utf8(csv[3..].to_vec()).expect("UTF-8");
        assert!(csv.starts_with("issue,label,questions,teachers,languages"), "{csv}");
        assert!(csv.contains("میری کلاس میں بہت شور ہوتا ہے"), "{csv}");
        assert!(csv.contains("\"en 1, ur 1, roman_ur 1, bn 1\""), "{csv}");
        let quiz_csv = farah.get("/console/insights/export/quiz-items.csv").await.bytes;
        assert!(String::from_utf8_lossy(&quiz_csv).contains("The class is noisy. First step?,3,3,100.0"));

        // And in the terminal: `baithak report issues` prints what the page shows.
        let json = report(&app, &["--format", "json"]);
        let json: serde_json::Value = serde_json::from_str(&json).expect("JSON");
        let four = json["issues"]
            .as_array()
            .and_then(|issues| issues.iter().find(|i| i["questions"] == "4"))
            .unwrap_or_else(|| panic!("the issue of 4 in {json:#}"));
        assert_eq!(four["languages"], "en 1, ur 1, roman_ur 1, bn 1");
        assert_eq!(json["quiz-items"][0]["wrong %"], "100.0");
        assert_eq!(json["lessons"][0]["abandoned"], "1");
        let table = report(&app, &[]);
        assert!(table.contains("Recurring issues") && table.contains("Lessons most often abandoned"), "{table}");
        assert!(table.contains("میری کلاس میں بہت شور ہوتا ہے"), "{table}");
        let lessons_csv = report(&app, &["--format", "csv", "--table", "lessons"]);
        assert!(lessons_csv.starts_with("\u{feff}module,lesson,started"), "{lessons_csv}");

        // A filter that matches nobody empties every part.
        let nobody = farah.get("/console/insights?channel=whatsapp").await;
        assert!(nobody.body.contains("id=\"no-issues\""), "{}", nobody.body);
        assert!(nobody.body.contains("id=\"no-quiz-items\""));
        app.stop().await;
    }

    async fn a_problem_the_knowledge_base_does_not_cover_shows_as_a_gap(backend: Backend) {
        let database = TestDatabase::create(backend).await;
        let Some(database) = database else { return };
        let app = TestApp::spawn_with(database, shipped_content(), office_hours(), |_| {}).await;
        for (n, question) in UNCOVERED.iter().enumerate() {
            let mut teacher = app.web_teacher(&format!("deaf{n}"));
            onboard_shipped(&mut teacher, "en").await;
            teacher.says(question).await;
            teacher.expect_reply_containing("HD-").await;
        }
        account(&app, "farah", "staff").await;
        let mut farah = Browser::new(&app);
        farah.sign_in("farah").await;
        let page = farah.get("/console/insights?district=Kasur").await;
        let gaps = section(&page.body, "id=\"gaps\"", "</table>");
        assert!(gaps.contains("sign language"), "{gaps}");
        assert!(gaps.contains("2 (100 %)"), "both went to an expert: {gaps}");
        let elsewhere = farah.get("/console/insights?district=Lahore").await;
        assert!(elsewhere.body.contains("id=\"no-gaps\""), "{}", elsewhere.body);
        let gaps_csv = farah.get("/console/insights/export/gaps.csv?district=Kasur").await.bytes;
        assert!(String::from_utf8_lossy(&gaps_csv).contains("sign language"));
        app.stop().await;
    }

    async fn teachers_words_are_escaped_in_the_report(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        for n in 0..2 {
            let mut teacher = app.web_teacher(&format!("html{n}"));
            onboard(&mut teacher).await;
            asks(&mut teacher, "<script>alert(1)</script> my class is too noisy, what do i do").await;
        }
        account(&app, "farah", "staff").await;
        let mut farah = Browser::new(&app);
        farah.sign_in("farah").await;
        let page = farah.get("/console/insights?district=%27%20OR%201%3D1%20--").await;
        assert_eq!(page.status, StatusCode::OK, "SQL-ish filters are only values");
        assert!(page.body.contains("id=\"no-issues\""), "and match nothing");
        let page = farah.get("/console/insights").await;
        assert!(!page.body.contains("<script>alert"), "{}", page.body);
        assert!(page.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{}", page.body);

        // A question a spreadsheet would run as a formula is exported inert.
        let mut sly = app.web_teacher("sly");
        onboard(&mut sly).await;
        let reply = asks(&mut sly, "=HYPERLINK(\"http://x.example\",\"click\") my class is too noisy").await;
        if reply.contains("Did this help?") {
            sly.taps("hd.no").await;
            sly.expect_reply_containing("HD-").await;
            sly.expect_reply_containing("Main menu").await;
        }
        let tickets = farah.get("/console/insights/export/tickets.csv").await.bytes;
        let tickets = String::from_utf8_lossy(&tickets);
        assert!(tickets.contains("\"'=HYPERLINK(\"\"http://x.example\"\""), "{tickets}");
        assert!(!tickets.contains(",=HYPERLINK"), "{tickets}");
        app.stop().await;
    }

    async fn exports_need_a_session_the_right_role_and_a_known_table(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        account(&app, "sana", "expert").await;
        account(&app, "farah", "staff").await;
        let anonymous = Browser::new(&app).get("/console/insights/export/topics.csv").await;
        assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
        assert!(anonymous.location.as_deref().is_some_and(|l| l.starts_with("/console/login")));
        let mut sana = Browser::new(&app);
        sana.sign_in("sana").await;
        assert_eq!(sana.get("/console/insights/export/topics.csv").await.status, StatusCode::FORBIDDEN);
        let mut farah = Browser::new(&app);
        farah.sign_in("farah").await;
        for table in ["topics", "issues", "gaps", "quiz-items", "lessons", "helpdesk", "tickets"] {
            let page = farah.get(&format!("/console/insights/export/{table}.csv")).await;
            assert_eq!(page.status, StatusCode::OK, "{table}");
        }
        assert_eq!(farah.get("/console/insights/export/secrets.csv").await.status, StatusCode::NOT_FOUND);
        assert_eq!(farah.get("/console/insights/export/topics.txt").await.status, StatusCode::NOT_FOUND);
        let bad = farah.get("/console/insights/export/topics.csv?since=soon").await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        app.stop().await;
    }
}

/// `baithak report issues ARGS` on the app's database, for the whole month; its stdout.
fn report(app: &TestApp, args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_baithak"))
        .args(["--database-url", &app.database.url])
        .args([
            "--content",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"),
        ])
        .args([
            "report",
            "issues",
            "--since",
            "2026-11-01",
            "--until",
            "2026-12-31",
            "--as-of",
            "2026-12-01",
        ])
        .args(args)
        .output()
        .expect("baithak runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// The part of `html` from `start` to the next `end`.
fn section<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let Some(from) = html.find(start) else {
        panic!("no {start} in {html}");
    };
    let rest = &html[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}
