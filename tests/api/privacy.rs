//! Privacy end to end, on both backends: "/mydata" and "/forget" in the web chat and on
//! WhatsApp (typed words in Roman Urdu, the buttons, a typed "nahi"), what forgetting leaves
//! in the database (ids and counts, no words, no chat id) and a fresh onboarding afterwards;
//! the transcript's retention applied by the nightly housekeeping on a manual clock; the
//! console's audit log and its admin-only page; and a scenario on Telegram and WhatsApp whose
//! DEBUG logs must not hold a phone number, a name or a message text.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use baithak::clock::Clock;
use baithak::scheduler::housekeeping;
use chrono::{DateTime, Duration, TimeZone, Utc};
use reqwest::StatusCode;

use crate::both_backends;
use crate::console::{Browser, account};
use crate::helpdesk::onboard;
use crate::support::database::{Backend, TestDatabase};
use crate::support::{TestApp, fixture_content, ticket_code};
use crate::whatsapp_chat::{self, Setup, Teacher as WaTeacher};

/// What replaces a forgotten teacher's words.
const REMOVED: &str = "[removed at the teacher's request]";

/// Monday 23 November 2026, 10:00 in Karachi: office hours.
fn monday_10am() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 5, 0, 0).unwrap()
}

async fn app(backend: Backend, clock: Clock) -> Option<TestApp> {
    let database = TestDatabase::create(backend).await?;
    Some(TestApp::spawn_with(database, fixture_content(), clock, |_| {}).await)
}

/// One value read straight from the test database (`$1` bound to `id`): what a teacher
/// cannot see through the chat is checked here.
async fn scalar<T>(app: &TestApp, backend: Backend, sql: &str, id: i64) -> Option<T>
where
    T: Send + Unpin + for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    use sqlx::Connection as _;
    let url = &app.database.url;
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    match backend {
        Backend::Sqlite => {
            let mut db = sqlx::SqliteConnection::connect(url).await.expect("connect");
            sqlx::query_scalar::<_, Option<T>>(sql)
                .bind(id)
                .fetch_optional(&mut db)
                .await
                .expect("query")
                .flatten()
        }
        Backend::Postgres => {
            let mut db = sqlx::PgConnection::connect(url).await.expect("connect");
            sqlx::query_scalar::<_, Option<T>>(sql)
                .bind(id)
                .fetch_optional(&mut db)
                .await
                .expect("query")
                .flatten()
        }
    }
}

async fn count(app: &TestApp, backend: Backend, sql: &str, id: i64) -> i64 {
    scalar::<i64>(app, backend, sql, id).await.unwrap_or(0)
}

/// Waits until the housekeeping run due at `key` has finished.
async fn housekeeping_ran(app: &TestApp, key: &str) {
    let store = app.conversations.store();
    let mut commits = app.conversations.subscribe();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        if let Some(job) = store.job(key).await.expect("read") {
            assert_eq!(job.status.as_str(), "done", "{job:?}");
            return;
        }
        let changed = tokio::time::timeout_at(deadline, commits.changed()).await;
        assert!(changed.is_ok(), "housekeeping did not run");
    }
}

both_backends! {
    async fn a_web_teacher_sees_what_is_kept_and_has_it_forgotten(backend: Backend) {
        let Some(app) = app(backend, Clock::manual(monday_10am())).await else { return };
        let mut teacher = app.web_teacher("privacy-web");
        onboard(&mut teacher).await;
        // Devanagari: the knowledge base has no such script, so a person answers.
        let question = "मेरी कक्षा में बच्चे गृहकार्य नहीं लाते, मैं क्या करूँ";
        teacher.says(question).await;
        let code = ticket_code(&teacher.expect_reply_containing("HD-").await);
        let old = app.teacher_id("web", "privacy-web").await;

        // Roman Urdu words for "/mydata", answered by the job from the store.
        teacher.says("mera data").await;
        let report = teacher.expect_reply_containing("What Baithak keeps about you").await;
        for needle in [
            "Name: Ayesha Khan",
            "Grades: 3, 4",
            "You write to us on: web",
            "Questions asked: 1",
            &format!("{code} (open)"),
            "kept for 365 days",
            "/forget",
        ] {
            assert!(report.contains(needle), "{needle:?} in {report}");
        }

        // "/forget", then a typed "nahi": nothing changes.
        teacher.says("/forget").await;
        teacher.expect_reply_containing("Delete your data?").await;
        teacher.says("nahi").await;
        teacher.expect_reply_containing("nothing was deleted").await;
        let name: Option<String> =
            scalar(&app, backend, "SELECT name FROM teachers WHERE id = $1", old).await;
        assert_eq!(name.as_deref(), Some("Ayesha Khan"));

        // "/forget" and the Yes button: confirmed in the teacher's language.
        teacher.says("/forget").await;
        teacher.expect_reply_containing("Delete your data?").await;
        teacher.taps("forget_yes").await;
        teacher.expect_reply_containing("Baithak has deleted your data").await;

        let row = "SELECT channel_user FROM teachers WHERE id = $1";
        let user: Option<String> = scalar(&app, backend, row, old).await;
        assert_eq!(user, Some(format!("forgotten:{old}")));
        for column in ["name", "school", "consent"] {
            let sql = format!("SELECT {column} FROM teachers WHERE id = $1");
            let value: Option<String> = scalar(&app, backend, &sql, old).await;
            assert_eq!(value, None, "{column}");
        }
        let profile: Option<String> =
            scalar(&app, backend, "SELECT profile FROM teachers WHERE id = $1", old).await;
        assert_eq!(profile.as_deref(), Some("{}"));
        assert_eq!(count(&app, backend, "SELECT COUNT(*) FROM transcript WHERE teacher_id = $1", old).await, 0);
        assert_eq!(
            count(&app, backend, "SELECT COUNT(*) FROM inbox WHERE channel_user = 'privacy-web' \
                AND status <> 'pending' AND $1 > 0", old).await,
            0,
            "inbound words deleted"
        );
        // The question stays counted, by topic, district and grades, without its words.
        let body: Option<String> =
            scalar(&app, backend, "SELECT body FROM questions WHERE teacher_id = $1", old).await;
        assert_eq!(body.as_deref(), Some(REMOVED));
        let grades: Option<String> =
            scalar(&app, backend, "SELECT grades FROM questions WHERE teacher_id = $1", old).await;
        assert_eq!(grades.as_deref(), Some("3, 4"));
        let ticket: Option<String> =
            scalar(&app, backend, "SELECT body FROM tickets WHERE teacher_id = $1", old).await;
        assert_eq!(ticket.as_deref(), Some(REMOVED));
        assert_eq!(
            count(&app, backend, "SELECT COUNT(*) FROM ticket_messages tm JOIN tickets t \
                ON t.code = tm.ticket WHERE t.teacher_id = $1 AND tm.body <> '[removed at the teacher''s request]' \
                AND tm.author = 'teacher'", old).await,
            0
        );
        // Sent replies lose their words and address; the confirmation keeps them until it is
        // sent (and the nightly housekeeping tidies it after).
        let words = count(&app, backend, "SELECT COUNT(*) FROM outbox WHERE teacher_id = $1 \
            AND payload <> '{}' AND payload NOT LIKE '%deleted your data%'", old).await;
        assert_eq!(words, 0, "sent replies lose their words");

        // The same chat is a new teacher now: a fresh onboarding.
        // A fresh onboarding, in the language the teacher chose before.
        teacher.says("hi").await;
        teacher.expect_reply_containing("What is your name").await;
        let new = app.teacher_id("web", "privacy-web").await;
        assert_ne!(new, old);
        assert_eq!(count(&app, backend, "SELECT COUNT(*) FROM questions WHERE teacher_id = $1", new).await, 0);
        // Nothing is said any more to the forgotten teacher: "/mydata" of the new one is theirs.
        teacher.says("my data").await;
        let fresh = teacher.expect_reply_containing("What Baithak keeps about you").await;
        assert!(fresh.contains("Questions asked: 0") && !fresh.contains("Ayesha"), "{fresh}");
        app.stop().await;
    }

    async fn a_whatsapp_teacher_is_forgotten_and_their_number_is_gone(backend: Backend) {
        let Some(world) = whatsapp_chat::spawn(backend, Setup { rate: 1000, ..Setup::default() }).await else { return };
        let app = &world.app;
        let phone = "923217654310";
        let mut teacher = WaTeacher::new(&world.whatsapp, phone, "Nargis Bano");
        whatsapp_chat::onboard(&mut teacher, "Nargis Bano").await;
        let old = app.teacher_id("whatsapp", teacher.address()).await;
        teacher.says("/mydata");
        let report = teacher.expect("What Baithak keeps about you").await;
        assert!(report.visible_text().contains("Nargis Bano"), "{}", report.visible_text());
        teacher.says("mera data mita do");
        teacher.expect("Delete your data?").await;
        teacher.taps("Yes, delete");
        // Said after the row lost the number: WhatsApp's window is read from the fresh row.
        teacher.expect("Baithak has deleted your data").await;
        let anywhere = "SELECT COUNT(*) FROM teachers WHERE (channel_user LIKE '%3217654310%' \
            OR name = 'Nargis Bano') AND id = $1";
        assert_eq!(count(app, backend, anywhere, old).await, 0);
        let sent = "SELECT COUNT(*) FROM outbox WHERE teacher_id = $1 AND channel_user LIKE '%3217654310%' \
            AND payload NOT LIKE '%deleted your data%'";
        assert_eq!(count(app, backend, sent, old).await, 0, "old replies lose the number");
        teacher.says("Hi");
        teacher.expect("What is your name").await;
        assert_ne!(app.teacher_id("whatsapp", teacher.address()).await, old);
        world.app.stop().await;
    }

    async fn the_nightly_housekeeping_deletes_transcript_lines_past_their_retention(backend: Backend) {
        let clock = Clock::manual(monday_10am());
        let Some(app) = app(backend, clock.clone()).await else { return };
        let mut teacher = app.web_teacher("retention");
        onboard(&mut teacher).await;
        let id = app.teacher_id("web", "retention").await;
        let recent = count(&app, backend, "SELECT COUNT(*) FROM transcript WHERE teacher_id = $1", id).await;
        assert!(recent > 0);
        // Lines from 400 and 300 days ago (the fixture keeps the default, 365 days).
        for days in [400, 300] {
            let at = (monday_10am() - Duration::days(days)).timestamp_millis();
            let sql = format!(
                "INSERT INTO transcript (teacher_id, at, direction, node, body) \
                 VALUES ($1, {at}, 'in', NULL, 'an old line') RETURNING id"
            );
            count(&app, backend, &sql, id).await;
        }
        clock.advance(Utc.with_ymd_and_hms(2026, 11, 23, 22, 0, 0).unwrap() - clock.now());
        housekeeping_ran(&app, &format!("{}@2026-11-23T22:00:00Z", housekeeping::KIND)).await;
        let cutoff = (monday_10am() - Duration::days(350)).timestamp_millis();
        let old = format!("SELECT COUNT(*) FROM transcript WHERE teacher_id = $1 AND at < {cutoff}");
        assert_eq!(count(&app, backend, &old, id).await, 0, "older than 365 days: deleted");
        assert_eq!(
            count(&app, backend, "SELECT COUNT(*) FROM transcript WHERE teacher_id = $1", id).await,
            recent + 1,
            "the 300-day-old line and today's are kept"
        );
        app.stop().await;
    }

    async fn console_actions_are_audited_and_only_admins_read_the_log(backend: Backend) {
        let Some(app) = app(backend, Clock::manual(monday_10am())).await else { return };
        account(&app, "Farah Admin", "admin").await;
        account(&app, "Imran Expert", "expert").await;
        let mut teacher = app.web_teacher("audited");
        onboard(&mut teacher).await;
        teacher.says("मेरी कक्षा में बच्चे लड़ते हैं, मैं क्या करूँ").await;
        let code = ticket_code(&teacher.expect_reply_containing("HD-").await);

        let mut expert = Browser::new(&app);
        expert.sign_in("Imran Expert").await;
        assert_eq!(expert.get(&format!("/console/tickets/{code}")).await.status, StatusCode::OK);
        assert_eq!(expert.get("/console/audit").await.status, StatusCode::FORBIDDEN);
        expert.post("/console/logout", &[]).await;

        let mut admin = Browser::new(&app);
        admin.sign_in("Farah Admin").await;
        let export = admin.get("/console/insights/export/tickets.csv").await;
        assert_eq!(export.status, StatusCode::OK);
        admin.post("/console/accounts", &[("name", "Nadia Staff"), ("role", "staff")]).await;

        let page = admin.get("/console/audit").await;
        assert_eq!(page.status, StatusCode::OK);
        for needle in ["Audit log", "ticket.view", &code, "sign_in", "sign_out", "export.csv", "account.add", "Nadia Staff"] {
            assert!(page.body.contains(needle), "{needle:?} in the audit page");
        }
        assert!(!page.body.contains("audited"), "no chat id on the page");
        let teacher_id = app.teacher_id("web", "audited").await;
        assert!(page.body.contains(&format!("teacher:{teacher_id}")));

        // Filters: one account, one action.
        let mine = admin.get("/console/audit?staff=Imran+Expert").await;
        assert!(mine.body.contains("<code>ticket.view</code>"));
        assert!(!mine.body.contains("<code>account.add</code>"));
        let exports = admin.get("/console/audit?action=export.csv").await;
        assert!(exports.body.contains("<code>export.csv</code>"));
        assert!(!exports.body.contains("<code>ticket.view</code>"));
        app.stop().await;
    }

    async fn debug_logs_hold_no_phone_number_name_or_message_text(backend: Backend) {
        let logs = capture_logs();
        let Some(world) = whatsapp_chat::spawn(backend, Setup { experts: true, rate: 1000, ..Setup::default() }).await else { return };
        // WhatsApp: a teacher with a phone number, onboarding, a question for an expert.
        let phone = "923451987620";
        let mut wa = WaTeacher::new(&world.whatsapp, phone, "Zarmeena Qureshi");
        whatsapp_chat::onboard(&mut wa, "Zarmeena Qureshi").await;
        let wa_question = "बोतल के ढक्कनों से भिन्न कैसे पढ़ाऊँ, बच्चे उलझ जाते हैं";
        wa.says(wa_question);
        wa.expect("HD-").await;
        wa.says("my data");
        wa.expect("What Baithak keeps about you").await;
        // Telegram: another teacher, onboarding, a question for an expert.
        let fake = world.telegram.as_ref().expect("telegram");
        let mut tg = crate::telegram::Teacher::new(fake, 7_305_118_204, "Tahmina Sultana");
        tg.says("/start");
        tg.expect("Choose your language").await;
        tg.taps("English");
        tg.expect("What is your name").await;
        tg.says("Tahmina Sultana");
        tg.expect("Which grades").await;
        tg.says("5");
        tg.expect("Agree?").await;
        tg.taps("Yes");
        tg.expect("Main menu").await;
        let tg_question = "पहाड़े याद करवाने का कोई मज़ेदार खेल बताइए";
        tg.says(tg_question);
        tg.expect("HD-").await;
        world.app.stop().await;

        let text = logs.take();
        assert!(text.contains("DEBUG"), "logs captured at DEBUG");
        for secret in [
            "923451987620", "+923451987620", "03451987620", "3451987620", "345 1987620",
            "Zarmeena", "Qureshi", "Tahmina", "Sultana", wa_question, tg_question,
            "बोतल", "पहाड़े",
        ] {
            assert!(!text.contains(secret), "{secret:?} appears in the logs");
        }
    }
}

/// Everything logged in this test binary from now on, at DEBUG and above.
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// What was logged since the last take.
    fn take(&self) -> String {
        let mut bytes = self.0.lock().expect("log buffer");
        String::from_utf8_lossy(&std::mem::take(&mut *bytes)).into_owned()
    }
}

/// Writes log lines into the shared buffer.
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs (once per test binary) a DEBUG subscriber writing into a buffer, with every span's
/// fields, and hands back the buffer. Other tests of the binary log into it too: they use
/// other names and numbers.
fn capture_logs() -> Captured {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    let buffer = BUFFER.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&buffer);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::NEW)
            .with_writer(move || Sink(Arc::clone(&writer)))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    });
    Captured(Arc::clone(buffer))
}
