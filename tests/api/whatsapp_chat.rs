//! Teachers on WhatsApp, end to end through the fake Graph API: signed webhooks in, the
//! dispatcher's sends out (validated as Meta validates them), statuses back, the 24-hour
//! window with its re-engagement template, rate limits and token errors. Experts answer from
//! the Telegram forum group, as they do for Telegram teachers.
//!
//! The harness here (`Setup`, `spawn`, `Teacher`, `onboard`, `wait_rows`) is shared with the
//! other API tests that need a teacher on WhatsApp.

use std::time::Duration;

use baithak::channel::InboundMessage;
use baithak::channel::telegram::{Mode, RateLimits, TelegramSettings};
use baithak::channel::whatsapp::client::GraphApi;
use baithak::channel::whatsapp::{
    RESUME_PAYLOAD, SendLimits, SendSettings, Templates, WhatsAppSettings,
};
use baithak::clock::Clock;
use baithak::store::SentRow;
use baithak::testkit::telegram::{FakeTelegram, FakeTelegramOptions, SentMessage, UserHandle};
use baithak::testkit::whatsapp::{
    ErrorTiming, FakeWhatsApp, FakeWhatsAppOptions, MediaKind, SentWa, StatusMode, WaStatus, WaUser,
};

use crate::both_backends;
use crate::support::database::{Backend, TestDatabase};
use crate::support::{TestApp, fixture_content};

pub(crate) const DEADLINE: Duration = Duration::from_secs(20);
pub(crate) const TEMPLATE: &str = "baithak_reply_waiting";
const EXPERTS: i64 = -100_777;

/// What a test wants besides the defaults.
#[derive(Default)]
pub(crate) struct Setup {
    /// The app's and the fake's clock (a manual one moves windows).
    pub(crate) clock: Option<Clock>,
    /// The fake's own clock, when it must disagree with the app's.
    pub(crate) fake_clock: Option<Clock>,
    /// The experts' forum on a fake Telegram.
    pub(crate) experts: bool,
    /// Messages per second the fake accepts.
    pub(crate) fake_throughput: Option<u32>,
    /// How the fake refuses sends outside the window.
    pub(crate) window_errors: ErrorTiming,
    /// Statuses the fake posts.
    pub(crate) statuses: Option<StatusMode>,
    /// The dispatcher's rate (0: unlimited).
    pub(crate) rate: u32,
    /// The content root (the fixture content when `None`).
    pub(crate) content: Option<std::path::PathBuf>,
}

pub(crate) struct World {
    pub(crate) app: TestApp,
    pub(crate) whatsapp: FakeWhatsApp,
    pub(crate) telegram: Option<FakeTelegram>,
}

pub(crate) async fn spawn(backend: Backend, setup: Setup) -> Option<World> {
    let clock = setup.clock.clone().unwrap_or(Clock::System);
    let whatsapp = FakeWhatsApp::start(FakeWhatsAppOptions {
        clock: setup.fake_clock.clone().unwrap_or_else(|| clock.clone()),
        throughput_per_second: setup.fake_throughput,
        window_errors: setup.window_errors,
        statuses: setup.statuses.unwrap_or_default(),
        status_delay: Duration::from_millis(5),
        ..FakeWhatsAppOptions::default()
    })
    .await
    .expect("fake WhatsApp starts");
    whatsapp.approve_template(TEMPLATE, "en");
    whatsapp.approve_template(TEMPLATE, "ur");
    let telegram = if setup.experts {
        let fake = FakeTelegram::start(FakeTelegramOptions::default())
            .await
            .expect("fake Telegram starts");
        fake.create_forum_group(EXPERTS, "Baithak helpdesk experts");
        Some(fake)
    } else {
        None
    };
    let database = TestDatabase::create(backend).await?;
    let settings = WhatsAppSettings {
        verify_token: "verify".into(),
        app_secret: whatsapp.app_secret().to_string(),
        sending: Some(SendSettings {
            access_token: whatsapp.token().to_string(),
            phone_number_id: whatsapp.phone_number_id().to_string(),
            graph_url: whatsapp.graph_url(),
            api_version: whatsapp.api_version().to_string(),
            limits: SendLimits {
                per_second: setup.rate,
                pair_burst: 0,
                ..SendLimits::default()
            },
            templates: Templates {
                reengage: TEMPLATE.into(),
                ..Templates::default()
            },
        }),
    };
    let telegram_settings = telegram.as_ref().map(|fake| TelegramSettings {
        token: fake.token().to_string(),
        api_url: fake.api_url(),
        mode: Mode::Polling,
        webhook_secret: None,
        limits: RateLimits {
            global_per_second: 0,
            per_chat_per_second: 0,
            per_chat_burst: 0,
        },
        expert_group: Some(EXPERTS),
    });
    let content = setup.content.clone().unwrap_or_else(fixture_content);
    let app = TestApp::spawn_with(database, content, clock, |s| {
        s.whatsapp = Some(settings);
        s.telegram = telegram_settings;
    })
    .await;
    whatsapp.set_webhook(&app.url("/whatsapp/webhook"));
    Some(World {
        app,
        whatsapp,
        telegram,
    })
}

/// A teacher on WhatsApp, reading what the bot sends in order.
pub(crate) struct Teacher<'a> {
    fake: &'a FakeWhatsApp,
    pub(crate) user: WaUser,
    /// Accepted sends already read.
    seen: usize,
}

impl<'a> Teacher<'a> {
    pub(crate) fn new(fake: &'a FakeWhatsApp, wa_id: &str, name: &str) -> Teacher<'a> {
        Teacher {
            fake,
            user: fake.add_user(wa_id, name),
            seen: 0,
        }
    }

    pub(crate) fn address(&self) -> &str {
        self.user.address()
    }

    pub(crate) fn says(&self, text: &str) {
        self.fake.send_text(&self.user, text).expect("message sent");
    }

    /// Taps the button or list row titled `title` on the newest message that has it.
    pub(crate) fn taps(&self, title: &str) {
        let sent = self.accepted();
        let message = sent
            .iter()
            .rev()
            .find(|m| {
                m.buttons.iter().any(|b| b.title == title)
                    || m.rows.iter().any(|r| r.title == title)
            })
            .unwrap_or_else(|| panic!("no button or row `{title}` in {:#?}", texts(&sent)));
        if let Some(button) = message.buttons.iter().find(|b| b.title == title) {
            self.fake
                .press_button(&self.user, &button.id, title)
                .expect("pressed");
        } else if let Some(row) = message.rows.iter().find(|r| r.title == title) {
            self.fake
                .choose_list_row(&self.user, &row.id, title)
                .expect("chosen");
        }
    }

    pub(crate) fn accepted(&self) -> Vec<SentWa> {
        self.fake
            .sent_to(self.address())
            .into_iter()
            .filter(SentWa::is_accepted)
            .collect()
    }

    /// Waits for the next accepted send whose text contains `needle`; earlier ones are read.
    pub(crate) async fn expect(&mut self, needle: &str) -> SentWa {
        let seen = self.seen;
        let address = self.address().to_string();
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
                panic!(
                    "no message with `{needle}` after {seen}; sent: {:#?}",
                    texts(&self.accepted())
                )
            });
        self.seen = found.0 + 1;
        found.1
    }
}

fn texts(sent: &[SentWa]) -> Vec<String> {
    sent.iter()
        .map(|m| format!("{} {}", m.message_type, m.visible_text()))
        .collect()
}

pub(crate) async fn onboard(teacher: &mut Teacher<'_>, name: &str) {
    teacher.says("Hi");
    let welcome = teacher.expect("Choose your language").await;
    assert_eq!(welcome.interactive_type.as_deref(), Some("button"));
    teacher.taps("English");
    teacher.expect("What is your name").await;
    teacher.says(name);
    teacher.expect("Which grades").await;
    teacher.says("4");
    teacher.expect("Agree?").await;
    teacher.taps("Yes");
    teacher.expect("Main menu").await;
}

/// Waits until the rows of `user` satisfy `check`, looking again after every commit and
/// every delivery.
pub(crate) async fn wait_rows(
    app: &TestApp,
    user: &str,
    what: &str,
    check: impl Fn(&[SentRow]) -> bool,
) -> Vec<SentRow> {
    let store = app.conversations.store();
    let mut commits = app.conversations.subscribe();
    let mut deliveries = app.conversations.subscribe_deliveries();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let rows = store.deliveries("whatsapp", user).await.expect("rows");
        if check(&rows) {
            return rows;
        }
        let waited = tokio::time::timeout_at(deadline, async {
            tokio::select! {
                changed = commits.changed() => changed.expect("alive"),
                changed = deliveries.changed() => changed.expect("alive"),
            }
        })
        .await;
        assert!(waited.is_ok(), "{what}: rows are {rows:#?}");
    }
}

fn templates_to(fake: &FakeWhatsApp, address: &str) -> Vec<SentWa> {
    fake.sent_to(address)
        .into_iter()
        .filter(|m| m.template.is_some())
        .collect()
}

/// Hands the app a teacher's text as if Meta had delivered it, without the fake knowing.
async fn inject(app: &TestApp, teacher: &Teacher<'_>, wamid: &str, text: &str) {
    app.conversations
        .receive_many(
            "whatsapp",
            &[(
                wamid.to_string(),
                teacher.address().to_string(),
                InboundMessage::Text { text: text.into() },
            )],
        )
        .await
        .expect("received");
}

async fn expert_sees(fake: &FakeTelegram, needle: &str) -> SentMessage {
    fake.wait_for(EXPERTS, |m| m.visible_text().contains(needle), DEADLINE)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn open_a_ticket(teacher: &mut Teacher<'_>) -> String {
    teacher.says("my class is too noisy, what do i do");
    teacher.expect("Did this help?").await;
    teacher.taps("👎 No");
    let opened = teacher.expect("HD-").await;
    let text = opened.visible_text();
    let at = text.find("HD-").expect("code");
    text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect()
}

async fn expert_answers(fake: &FakeTelegram, expert: &UserHandle, code: &str, answer: &str) {
    let post = expert_sees(fake, code).await;
    let thread = post.message_thread_id.expect("posted in a topic");
    fake.send_text_in(EXPERTS, expert, answer, Some(thread))
        .expect("answer");
}

both_backends! {
    async fn a_teacher_onboards_takes_a_lesson_and_passes_the_quiz_on_whatsapp(backend: Backend) {
        let Some(world) = spawn(backend, Setup::default()).await else { return };
        let mut teacher = Teacher::new(&world.whatsapp, "923001110001", "Rubina");
        onboard(&mut teacher, "Rubina").await;
        teacher.taps("Lessons");
        teacher.expect("part 1 of 2").await;
        teacher.taps("Next ▶");
        teacher.expect("part 2 of 2").await;
        teacher.taps("Next ▶");
        teacher.expect("Use the signal tomorrow").await;
        teacher.taps("Next ▶");
        teacher.expect("What happened?").await;
        teacher.says("They loved it.");
        teacher.expect("The class is noisy").await;
        teacher.taps("Use the quiet signal");
        teacher.expect("How often").await;
        teacher.says("1");
        teacher.expect("Certificate").await;

        // Every send was accepted by the fake's validation, and the statuses came back.
        let sent = world.whatsapp.sent_to(teacher.address());
        assert!(sent.iter().all(SentWa::is_accepted), "{:#?}", texts(&sent));
        let rows = wait_rows(&world.app, teacher.address(), "statuses recorded", |rows| {
            rows.iter().all(|r| r.status == "sent" && r.delivery.as_deref() == Some("delivered"))
        })
        .await;
        assert!(rows.iter().all(|r| r.provider_id.as_deref().is_some_and(|w| w.starts_with("wamid."))));
        world.app.stop().await;
    }

    async fn an_expert_answer_after_the_window_closed_waits_behind_one_template(backend: Backend) {
        let clock = Clock::manual(chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00+05:00")
            .expect("time")
            .with_timezone(&chrono::Utc));
        let setup = Setup { clock: Some(clock.clone()), experts: true, ..Setup::default() };
        let Some(world) = spawn(backend, setup).await else { return };
        let telegram = world.telegram.as_ref().expect("experts");
        let expert = telegram.add_user(9101, "Zainab", Some("en"));
        let mut teacher = Teacher::new(&world.whatsapp, "923001110002", "Shazia");
        onboard(&mut teacher, "Shazia").await;
        let code = open_a_ticket(&mut teacher).await;
        expert_sees(telegram, &code).await;
        wait_rows(&world.app, teacher.address(), "everything sent", |rows| rows.iter().all(|r| r.status == "sent")).await;

        // Two days later the expert answers: the window closed long ago.
        clock.advance(chrono::Duration::hours(49));
        expert_answers(telegram, &expert, &code, "Try the clapping rhythm game before each task.").await;
        let template = world
            .whatsapp
            .wait_for(teacher.address(), |m| m.template.is_some(), DEADLINE)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let spec = template.template.clone().expect("template");
        assert_eq!((spec.name.as_str(), spec.language.as_str()), (TEMPLATE, "en"));
        assert!(template.is_accepted());
        wait_rows(&world.app, teacher.address(), "answer held", |rows| {
            rows.iter().any(|r| r.status == "held" && r.payload.contains("clapping rhythm"))
        })
        .await;
        assert!(
            world.whatsapp.sent_to(teacher.address()).iter().all(|m| !m.visible_text().contains("clapping rhythm")),
            "no free-form message outside the window"
        );

        // A second message for her before she replies: held too, and no second template.
        telegram
            .send_text_in(EXPERTS, &expert, "Praise the first quiet row.", expert_sees(telegram, &code).await.message_thread_id)
            .expect("second answer");
        let rows = wait_rows(&world.app, teacher.address(), "second template skipped", |rows| {
            rows.iter().any(|r| r.status == "skipped")
                && rows.iter().filter(|r| r.status == "held").count() >= 2
        })
        .await;
        assert_eq!(templates_to(&world.whatsapp, teacher.address()).len(), 1, "{rows:#?}");

        // She taps the template's button: the answers arrive in order, then the rating.
        world
            .whatsapp
            .press_template_button(&teacher.user, RESUME_PAYLOAD, "Show me")
            .expect("tap");
        teacher.expect("clapping rhythm").await;
        teacher.expect("Praise the first quiet row").await;
        wait_rows(&world.app, teacher.address(), "held rows released and sent", |rows| {
            rows.iter().all(|r| r.status != "held" && r.status != "pending")
        })
        .await;
        world.app.stop().await;
    }

    async fn a_send_refused_with_131047_is_held_and_a_template_goes_instead(backend: Backend) {
        for timing in [ErrorTiming::Immediate, ErrorTiming::LaterStatus] {
            let setup = Setup { window_errors: timing, ..Setup::default() };
            let Some(world) = spawn(backend, setup).await else { return };
            let mut teacher = Teacher::new(&world.whatsapp, "923001110003", "Nadia");
            // Her message reached us but, as far as Meta is concerned, she never wrote (clocks
            // disagree, or the message is older than we think): our window is open, Meta's not.
            inject(&world.app, &teacher, "wamid.injected.1", "Hi").await;
            world
                .whatsapp
                .wait_for(teacher.address(), |m| m.error_code() == Some(131_047), DEADLINE)
                .await
                .unwrap_or_else(|e| panic!("{timing:?}: {e}"));
            let template = world
                .whatsapp
                .wait_for(teacher.address(), |m| m.template.is_some(), DEADLINE)
                .await
                .unwrap_or_else(|e| panic!("{timing:?}: {e}"));
            assert!(template.is_accepted(), "{timing:?}");
            wait_rows(&world.app, teacher.address(), "welcome held", |rows| {
                rows.iter().any(|r| r.status == "held" && r.payload.contains("Choose your language"))
            })
            .await;
            // Her reply opens the window on both sides: the welcome arrives, once.
            world
                .whatsapp
                .press_template_button(&teacher.user, RESUME_PAYLOAD, "Show me")
                .expect("tap");
            teacher.expect("Choose your language").await;
            let welcomes = teacher.accepted().iter().filter(|m| m.visible_text().contains("Choose your language")).count();
            assert_eq!(welcomes, 1, "{timing:?}");
            world.app.stop().await;
        }
    }

    async fn over_the_throughput_limit_every_message_still_arrives_once(backend: Backend) {
        let setup = Setup { fake_throughput: Some(5), rate: 0, ..Setup::default() };
        let Some(world) = spawn(backend, setup).await else { return };
        let mut teachers: Vec<Teacher<'_>> = (0..12)
            .map(|n| Teacher::new(&world.whatsapp, &format!("92300222{n:04}"), "Teacher"))
            .collect();
        for teacher in &teachers {
            teacher.says("Hi");
        }
        for teacher in &mut teachers {
            teacher.expect("Choose your language").await;
        }
        let refused = world.whatsapp.sent().iter().filter(|m| m.error_code() == Some(130_429)).count();
        assert!(refused > 0, "the limit was hit");
        for teacher in &teachers {
            let welcomes = teacher.accepted().iter().filter(|m| m.visible_text().contains("Choose your language")).count();
            assert_eq!(welcomes, 1, "exactly once");
        }
        world.app.stop().await;
    }

    async fn a_refused_token_pauses_sending_without_a_retry_storm(backend: Backend) {
        let Some(world) = spawn(backend, Setup::default()).await else { return };
        world.whatsapp.expire_token();
        let teacher = Teacher::new(&world.whatsapp, "923001110004", "Asma");
        teacher.says("Hi");
        world
            .whatsapp
            .wait_until(DEADLINE, |fake| fake.requests_to("/messages").iter().any(|r| r.status == Some(401)).then_some(()))
            .await
            .expect("one refused send");
        // More work arrives while paused: it is queued, not attempted.
        teacher.says("English");
        teacher.says("Asma");
        wait_rows(&world.app, teacher.address(), "three replies queued", |rows| rows.len() >= 3).await;
        let attempts = world.whatsapp.requests_to("/messages").len();
        assert_eq!(attempts, 1, "one attempt, then a pause");
        world.app.stop().await;
    }

    async fn a_teacher_known_only_by_a_business_scoped_id_gets_replies(backend: Backend) {
        let Some(world) = spawn(backend, Setup::default()).await else { return };
        let user = world.whatsapp.add_bsuid_user("PK.1384829920112", "@sheena.teaches");
        let mut teacher = Teacher { fake: &world.whatsapp, user, seen: 0 };
        teacher.says("Hi");
        let welcome = teacher.expect("Choose your language").await;
        assert!(welcome.request.get("recipient").is_some() && welcome.request.get("to").is_none(), "{}", welcome.request);
        world.app.stop().await;
    }

    async fn statuses_out_of_order_and_twice_only_move_forward(backend: Backend) {
        let setup = Setup { statuses: Some(StatusMode::None), ..Setup::default() };
        let Some(world) = spawn(backend, setup).await else { return };
        let mut teacher = Teacher::new(&world.whatsapp, "923001110005", "Hina");
        teacher.says("Hi");
        let welcome = teacher.expect("Choose your language").await;
        let wamid = welcome.wamid.clone().expect("wamid");
        for status in [WaStatus::Read, WaStatus::Sent, WaStatus::Delivered, WaStatus::Read] {
            world.whatsapp.post_status(&wamid, status).expect("status");
        }
        world.whatsapp.wait_webhooks_idle(DEADLINE).await.expect("idle");
        // Every status webhook is in the inbox; once all are processed, none moved it back.
        let store = world.app.conversations.store();
        let mut commits = world.app.conversations.subscribe();
        while !store.pending_inbox(1).await.expect("inbox").is_empty() {
            tokio::time::timeout(DEADLINE, commits.changed()).await.expect("processed").expect("alive");
        }
        let rows = store.deliveries("whatsapp", teacher.address()).await.expect("rows");
        assert_eq!((rows[0].status.as_str(), rows[0].delivery.as_deref()), ("sent", Some("read")), "{rows:#?}");
        world.app.stop().await;
    }

    async fn a_teacher_who_blocked_the_business_is_not_retried(backend: Backend) {
        let Some(world) = spawn(backend, Setup::default()).await else { return };
        let mut teacher = Teacher::new(&world.whatsapp, "923001110006", "Sadia");
        teacher.says("Hi");
        teacher.expect("Choose your language").await;
        world.whatsapp.block(&teacher.user).expect("blocked");
        // What she wrote just before blocking us is answered after.
        inject(&world.app, &teacher, "wamid.injected.2", "English").await;
        let rows = wait_rows(&world.app, teacher.address(), "reply failed", |rows| {
            rows.iter().any(|r| r.status == "failed")
        })
        .await;
        let failed = rows.iter().find(|r| r.status == "failed").expect("failed");
        assert!(failed.error.as_deref().is_some_and(|e| e.contains("131026")), "{failed:?}");
        let store = world.app.conversations.store();
        assert_eq!(store.reachable("whatsapp", teacher.address()).await.expect("read"), Some(false));
        assert_eq!(world.whatsapp.requests_to("/messages").iter().filter(|r| r.status == Some(400)).count(), 1);
        world.app.stop().await;
    }

    async fn a_voice_note_for_a_question_is_downloaded_and_kept_for_the_experts(backend: Backend) {
        let setup = Setup { experts: true, ..Setup::default() };
        let Some(world) = spawn(backend, setup).await else { return };
        let telegram = world.telegram.as_ref().expect("experts");
        let mut teacher = Teacher::new(&world.whatsapp, "923001110007", "Kiran");
        onboard(&mut teacher, "Kiran").await;
        let code = open_a_ticket(&mut teacher).await;
        world.whatsapp.send_media(&teacher.user, MediaKind::Voice, None).expect("voice note");
        teacher.expect("Added to your question").await;
        expert_sees(telegram, "kept with the ticket").await;

        let store = world.app.conversations.store();
        let messages = store.ticket_messages(&code).await.expect("ticket messages");
        let voice = messages.iter().find(|m| m.kind == "voice").expect("voice note on the ticket");
        let media_id = voice.file_id.clone().expect("media id");
        // One pass of the keeper, as the background task does after every commit.
        let api = GraphApi::new(
            &world.whatsapp.graph_url(),
            world.whatsapp.api_version(),
            world.whatsapp.phone_number_id(),
            world.whatsapp.token(),
        )
        .expect("client");
        baithak::channel::whatsapp::media::keep_pending(&api, &world.app.conversations).await.expect("kept");
        let kept = store.kept_media("whatsapp", &media_id).await.expect("read").expect("kept");
        assert_eq!(Some(kept.bytes), world.whatsapp.media(&media_id));
        assert!(kept.mime.starts_with("audio/ogg"), "{}", kept.mime);
        assert!(
            world.whatsapp.requests().iter().any(|r| r.path.ends_with(&media_id) && r.authorized),
            "fetched through the Graph API with the bearer token"
        );
        world.app.stop().await;
    }
}
