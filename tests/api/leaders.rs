//! Headteachers and mentors, end to end with the shipped content: their own menu and guides
//! (fake Telegram), the read → plan → do → reflect → share cycle and its check-in (fake
//! WhatsApp, manual clock), and the participation summary of their own school only (web chat),
//! counts without names or scores; a plain teacher's menu is unchanged.

use std::time::Duration;

use baithak::channel::telegram::{Mode, RateLimits, TelegramSettings};
use baithak::channel::whatsapp::{SendLimits, SendSettings, Templates, WhatsAppSettings};
use baithak::clock::Clock;
use baithak::dialogue::{Node, NodeRef};
use baithak::store::{JobFilter, JobStatus};
use baithak::testkit::telegram::{FakeTelegram, FakeTelegramOptions};
use baithak::testkit::whatsapp::{FakeWhatsApp, FakeWhatsAppOptions, SentWa, WaUser};
use chrono::TimeZone;

use crate::both_backends;
use crate::support::{Backend, TestApp, TestDatabase, WebTeacher, shipped_content};
use crate::telegram::Teacher as TgTeacher;

const SECRET: &str = "leaders-secret";
const DEADLINE: Duration = Duration::from_secs(20);

/// Tuesday 24 November 2026, 10:00 in Pakistan: office hours, no quiet hours.
fn morning() -> Clock {
    Clock::manual(chrono::Utc.with_ymd_and_hms(2026, 11, 24, 5, 0, 0).unwrap())
}

// ---------------------------------------------------------------------------------------------
// Telegram.

async fn telegram_app(backend: Backend) -> Option<(TestApp, FakeTelegram)> {
    let fake = FakeTelegram::start(FakeTelegramOptions::default())
        .await
        .expect("fake starts");
    let database = TestDatabase::create(backend).await?;
    let settings = TelegramSettings {
        token: fake.token().to_string(),
        api_url: fake.api_url(),
        mode: Mode::Polling,
        webhook_secret: Some(SECRET.to_string()),
        limits: RateLimits {
            global_per_second: 0,
            per_chat_per_second: 0,
            per_chat_burst: 0,
        },
        expert_group: None,
    };
    let app = TestApp::spawn_with(database, shipped_content(), morning(), |s| {
        s.telegram = Some(settings);
    })
    .await;
    Some((app, fake))
}

// ---------------------------------------------------------------------------------------------
// WhatsApp.

struct WaTeacher<'a> {
    fake: &'a FakeWhatsApp,
    user: WaUser,
    seen: usize,
}

impl WaTeacher<'_> {
    fn says(&self, text: &str) {
        self.fake.send_text(&self.user, text).expect("message sent");
    }

    fn accepted(&self) -> Vec<SentWa> {
        self.fake
            .sent_to(self.user.address())
            .into_iter()
            .filter(SentWa::is_accepted)
            .collect()
    }

    /// Taps the newest button or list row whose title contains `part`.
    fn taps(&self, part: &str) {
        let sent = self.accepted();
        for message in sent.iter().rev() {
            if let Some(b) = message.buttons.iter().find(|b| b.title.contains(part)) {
                self.fake
                    .press_button(&self.user, &b.id, &b.title)
                    .expect("pressed");
                return;
            }
            if let Some(r) = message.rows.iter().find(|r| r.title.contains(part)) {
                self.fake
                    .choose_list_row(&self.user, &r.id, &r.title)
                    .expect("chosen");
                return;
            }
        }
        panic!("no button or row with `{part}`");
    }

    async fn expect(&mut self, needle: &str) -> SentWa {
        let seen = self.seen;
        let address = self.user.address().to_string();
        let found = self
            .fake
            .wait_until(DEADLINE, |fake| {
                fake.sent_to(&address)
                    .into_iter()
                    .filter(SentWa::is_accepted)
                    .enumerate()
                    .skip(seen)
                    .find(|(_, m)| m.visible_text().contains(needle))
            })
            .await
            .unwrap_or_else(|_| {
                let texts: Vec<String> = self
                    .accepted()
                    .iter()
                    .map(|m| m.visible_text().to_string())
                    .collect();
                panic!("no message with `{needle}` after {seen}; sent: {texts:#?}")
            });
        self.seen = found.0 + 1;
        found.1
    }
}

async fn whatsapp_app(backend: Backend, clock: Clock) -> Option<(TestApp, FakeWhatsApp)> {
    let fake = FakeWhatsApp::start(FakeWhatsAppOptions {
        clock: clock.clone(),
        status_delay: Duration::from_millis(5),
        ..FakeWhatsAppOptions::default()
    })
    .await
    .expect("fake WhatsApp starts");
    fake.approve_template("baithak_reply_waiting", "en");
    let database = TestDatabase::create(backend).await?;
    let settings = WhatsAppSettings {
        verify_token: "verify".into(),
        app_secret: fake.app_secret().to_string(),
        sending: Some(SendSettings {
            access_token: fake.token().to_string(),
            phone_number_id: fake.phone_number_id().to_string(),
            graph_url: fake.graph_url(),
            api_version: fake.api_version().to_string(),
            limits: SendLimits {
                per_second: 0,
                pair_burst: 0,
                ..SendLimits::default()
            },
            templates: Templates {
                reengage: "baithak_reply_waiting".into(),
                ..Templates::default()
            },
        }),
    };
    let app = TestApp::spawn_with(database, shipped_content(), clock, |s| {
        s.whatsapp = Some(settings);
    })
    .await;
    fake.set_webhook(&app.url("/whatsapp/webhook"));
    Some((app, fake))
}

// ---------------------------------------------------------------------------------------------
// The web chat.

/// Onboards in English with `role` (`teacher`, `headteacher`, `mentor`), `district` and
/// `school` as typed; ends at the main menu.
async fn onboard_web(teacher: &mut WebTeacher<'_>, role: &str, district: &str, school: &str) {
    teacher.says("/start").await;
    teacher.expect_reply_containing("Which language").await;
    teacher.taps("en").await;
    teacher.expect_reply_containing("What is your name").await;
    teacher.says("Rukhsana Bibi").await;
    teacher.expect_reply_containing("role").await;
    teacher.taps(role).await;
    teacher.expect_reply_containing("district").await;
    teacher.says(district).await;
    teacher.expect_reply_containing("name of your school").await;
    teacher.says(school).await;
    teacher.expect_reply_containing("grades").await;
    teacher.says("3, 4").await;
    teacher.expect_reply_containing("subjects").await;
    teacher.taps("maths").await;
    teacher.expect_reply_containing("🔒").await;
    teacher.taps("agree").await;
    teacher.expect_reply_containing("🏠").await;
}

/// From the main menu, opens the maths module and reads its first part.
async fn start_numeracy(teacher: &mut WebTeacher<'_>) {
    teacher.taps("lessons").await;
    teacher.expect_reply_containing("📚").await;
    teacher.taps("foundations").await;
    teacher.expect_reply_containing("*").await;
    teacher.taps("foundational-numeracy").await;
    teacher.expect_reply_containing("part 1 of").await;
}

/// From part 1, finishes the lesson and passes the quiz (answers read from the content).
async fn finish_numeracy(teacher: &mut WebTeacher<'_>) {
    let module = "foundational-numeracy";
    let content = baithak::content::load(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
        .expect("shipped content loads");
    let dialogues = &content.dialogues;
    let Some(Node::Lesson { parts, .. }) = dialogues.node(&NodeRef::new(module, "lesson")) else {
        panic!("{module} has a lesson node");
    };
    for part in 1..=parts.len() {
        teacher.taps(&format!("next.{part}")).await;
        let next = if part == parts.len() {
            "✏️".to_string()
        } else {
            format!("part {} of", part + 1)
        };
        teacher.expect_reply_containing(&next).await;
    }
    teacher.taps("next.task").await;
    teacher.expect_reply_containing("💭").await;
    teacher.says("The children loved it.").await;
    let mut node = "q1".to_string();
    loop {
        teacher.expect_reply_containing("❓").await;
        let Some(Node::Quiz { options, next, .. }) = dialogues.node(&NodeRef::new(module, &node))
        else {
            panic!("{module}/{node} is a quiz");
        };
        let right = options.iter().position(|o| o.correct).expect("correct") + 1;
        teacher.taps(&format!("{node}.{right}")).await;
        teacher.expect_reply_containing("✅").await;
        if next.node == "result" {
            break;
        }
        node = next.node.clone();
    }
    teacher.expect_reply_containing("🎉").await;
}

/// The number after `label` on its line of a summary.
fn count(summary: &str, label: &str) -> i64 {
    summary
        .lines()
        .find(|l| l.contains(label))
        .and_then(|l| l.rsplit(':').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{label}` count in {summary}"))
}

both_backends! {
    async fn a_headteacher_on_telegram_gets_the_leaders_menu_and_reads_a_guide(backend: Backend) {
        let Some((app, fake)) = telegram_app(backend).await else { return };
        let mut head = TgTeacher { fake: &fake, user: fake.add_user(7001, "Naseem", None), last_seen: 0 };

        head.says("/start");
        head.expect("Which language").await;
        head.taps("English");
        head.expect("What is your name").await;
        head.says("Naseem Akhtar");
        head.expect("role").await;
        head.taps("Headteacher");
        head.expect("district").await;
        head.says("Kasur");
        head.expect("name of your school").await;
        head.says("GGPS Chak 12");
        head.expect("grades").await;
        head.says("5");
        head.expect("subjects").await;
        head.taps("All subjects");
        head.expect("Do you agree").await;
        head.taps("Yes, I agree");
        let menu = head.expect("for headteachers and mentors").await;

        for label in ["📚 Lessons", "🧭 Guides for leaders", "🔄 Practice cycle with my staff", "🏫 My school's participation", "🌐 Language"] {
            assert!(menu.visible_text().contains(label) || format!("{menu:?}").contains(label), "{label} in {menu:?}");
        }
        head.taps("🧭 Guides for leaders");
        head.expect("Guides for leaders").await;
        head.taps("A five-minute learning walk");
        head.expect("1 of 3").await;
        head.taps("Next ▶");
        head.expect("2 of 3").await;
        head.says("next");
        head.expect("3 of 3").await;
        head.taps("Next ▶");
        head.expect("Try this week").await;
        head.taps("🏠 Main menu");
        head.expect("for headteachers and mentors").await;
        head.says("menu");
        head.expect("for headteachers and mentors").await;
        app.stop().await;
    }

    async fn a_mentor_on_whatsapp_plans_reflects_and_is_checked_in_on(backend: Backend) {
        let clock = morning();
        let Some((app, fake)) = whatsapp_app(backend, clock.clone()).await else { return };
        let mut mentor = WaTeacher { fake: &fake, user: fake.add_user("923001112233", "Farah"), seen: 0 };

        mentor.says("Hi");
        mentor.expect("Which language").await;
        mentor.taps("English");
        mentor.expect("What is your name").await;
        mentor.says("Farah Naz");
        mentor.expect("role").await;
        mentor.taps("Mentor");
        mentor.expect("district").await;
        mentor.says("Okara");
        mentor.expect("name of your school").await;
        mentor.says("Cluster 4 office");
        mentor.expect("grades").await;
        mentor.says("1-5");
        mentor.expect("subjects").await;
        mentor.taps("All subjects");
        mentor.expect("Do you agree").await;
        mentor.taps("Yes, I agree");
        mentor.expect("for headteachers and mentors").await;
        mentor.taps("Practice cycle");
        mentor.expect("Read → plan → do → reflect → share").await;
        mentor.taps("Plan");
        mentor.expect("What will you try in class").await;
        mentor.says("Think-pair-share in maths");
        mentor.expect("In which classes").await;
        mentor.says("4 and 5");
        mentor.expect("By when").await;
        mentor.taps("This week");
        mentor.expect("Your plan: *Think-pair-share in maths* — in 4 and 5, by This week").await;
        mentor.expect("I will check in with you in three days").await;

        let jobs = app.conversations.store()
            .jobs(&JobFilter { status: Some(JobStatus::Pending), kind: Some("cycle_checkin".into()), limit: 10 })
            .await
            .expect("jobs");
        assert_eq!(jobs.len(), 1, "{jobs:?}");
        assert_eq!(jobs[0].due_at, clock.now() + chrono::Duration::days(3));
        mentor.taps("Main menu");
        mentor.expect("for headteachers and mentors").await;
        // Three days on, WhatsApp's window has closed: the check-in waits behind the
        // re-engagement template, and arrives when the mentor writes again (or at once).
        clock.advance(chrono::Duration::days(3) + chrono::Duration::minutes(1));
        mentor.says("menu");
        mentor.expect("How did your plan go?").await;
        mentor.taps("Practice cycle");
        mentor.expect("Read → plan → do → reflect → share").await;
        mentor.taps("Reflect");
        mentor.expect("What happened when you tried it").await;
        mentor.says("Even the quiet children talked to their partner first, then answered.");
        let reflected = mentor.expect("your reflection is kept").await;
        assert!(reflected.visible_text().contains("Share") || format!("{reflected:?}").contains("Share"));

        let id = app.teacher_id("whatsapp", mentor.user.address()).await;
        let state = app.conversations.store()
            .load_conversation("whatsapp", mentor.user.address(), "{}", clock.now())
            .await
            .expect("conversation");
        assert_eq!(state.teacher_id, id);
        assert!(state.state.contains("Even the quiet children talked"), "{}", state.state);
        assert!(state.state.contains("Think-pair-share in maths"), "{}", state.state);
        app.stop().await;
    }

    async fn a_headteacher_gets_the_counts_of_their_own_school_only(backend: Backend) {
        let clock = morning();
        let Some(database) = TestDatabase::create(backend).await else { return };
        let app = TestApp::spawn_with(database, shipped_content(), clock.clone(), |_| {}).await;
        // Joined long ago, quiet since: registered, not active.
        let mut quiet = app.web_teacher("quiet");
        onboard_web(&mut quiet, "teacher", "Kasur", " ggps CHAK 12 ").await;
        clock.advance(chrono::Duration::days(31));

        let mut certified = app.web_teacher("certified");
        onboard_web(&mut certified, "teacher", "Kasur", "GGPS Chak 12").await;
        start_numeracy(&mut certified).await;
        finish_numeracy(&mut certified).await;
        let mut curious = app.web_teacher("curious");
        onboard_web(&mut curious, "teacher", "kasur", "GGPS Chak 12").await;
        start_numeracy(&mut curious).await;
        curious.says("menu").await;
        curious.expect_reply_containing("🏠").await;
        curious.taps("ask").await;
        curious.expect_reply_containing("Ask a question").await;
        curious.says("How do I keep a class of seventy children quiet during group work?").await;
        curious.expect_reply_containing("").await;
        // Another school of the district, the same school name in another district, and a
        // teacher who never agreed: none of them counts.
        let mut other_school = app.web_teacher("other-school");
        onboard_web(&mut other_school, "teacher", "Kasur", "GBPS Lahore Road").await;
        start_numeracy(&mut other_school).await;
        let mut other_district = app.web_teacher("other-district");
        onboard_web(&mut other_district, "teacher", "Okara", "GGPS Chak 12").await;
        start_numeracy(&mut other_district).await;
        let mut undecided = app.web_teacher("undecided");
        undecided.says("/start").await;
        undecided.expect_reply_containing("Which language").await;
        undecided.taps("en").await;
        undecided.expect_reply_containing("What is your name").await;
        undecided.says("Undecided").await;
        undecided.expect_reply_containing("role").await;
        undecided.taps("teacher").await;
        undecided.expect_reply_containing("district").await;
        undecided.says("Kasur").await;
        undecided.expect_reply_containing("name of your school").await;
        undecided.says("GGPS Chak 12").await;
        undecided.expect_reply_containing("grades").await;

        let mut head = app.web_teacher("head");
        onboard_web(&mut head, "headteacher", "Kasur", "GGPS Chak 12").await;
        head.taps("school").await;
        head.expect_reply_containing("I am counting").await;
        let summary = head.expect_reply_containing("Participation at GGPS Chak 12 (Kasur)").await;

        assert_eq!(count(&summary, "Teachers registered"), 4, "{summary}");
        assert_eq!(count(&summary, "Active in the last 30 days"), 3, "{summary}");
        assert_eq!(count(&summary, "Lessons started"), 2, "{summary}");
        assert_eq!(count(&summary, "Lessons completed"), 1, "{summary}");
        assert_eq!(count(&summary, "Certificates earned"), 1, "{summary}");
        assert_eq!(count(&summary, "Questions asked"), 1, "{summary}");
        assert_eq!(count(&summary, "Practices shared"), 0, "{summary}");
        for private in ["Rukhsana", "Bibi", "%"] {
            assert!(!summary.contains(private), "{private} in {summary}");
        }
        // Its button goes back to the headteacher's menu.
        head.taps("menu").await;
        head.expect_reply_containing("for headteachers and mentors").await;
        // Asked for, so it comes even after STOP.
        head.says("stop").await;
        head.expect_reply_containing("🔕").await;
        clock.advance(chrono::Duration::minutes(2));
        head.taps("school").await;
        head.expect_reply_containing("I am counting").await;
        let again = head.expect_reply_containing("Participation at GGPS Chak 12 (Kasur)").await;
        assert_eq!(count(&again, "Teachers registered"), 4, "{again}");

        // A mentor sees the district: both schools of Kasur, not Okara.
        let mut mentor = app.web_teacher("mentor");
        onboard_web(&mut mentor, "mentor", "Kasur", "Cluster office").await;
        mentor.taps("school").await;
        let district = mentor.expect_reply_containing("Participation in Kasur district").await;
        assert_eq!(count(&district, "Teachers registered"), 6, "{district}");
        assert_eq!(count(&district, "Lessons started"), 3, "{district}");
        app.stop().await;
    }

    async fn a_plain_teacher_keeps_the_teachers_menu(backend: Backend) {
        let Some(app) = TestApp::spawn(backend, shipped_content()).await else { return };
        let mut teacher = app.web_teacher("plain");
        onboard_web(&mut teacher, "teacher", "Kasur", "GGPS Chak 12").await;

        let ids: Vec<String> = teacher.buttons().into_iter().map(|(id, _)| id).collect();
        assert_eq!(&ids[..5], ["home.lessons", "home.ask", "home.progress", "home.help", "home.language"]);
        assert!(ids.contains(&"home.cycle".to_string()), "{ids:?}");
        assert!(!ids.iter().any(|id| id.ends_with(".school") || id.ends_with(".guides")), "{ids:?}");
        teacher.says("3").await;
        teacher.expect_reply_containing("📊").await;
        teacher.says("menu").await;
        let menu = teacher.expect_reply_containing("🏠").await;
        assert!(!menu.contains("headteachers"), "{menu}");
        teacher.taps("cycle").await;
        teacher.expect_reply_containing("Read → plan → do → reflect → share").await;
        app.stop().await;
    }
}
