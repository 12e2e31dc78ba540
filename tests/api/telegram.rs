//! Telegram end to end: the app talks to the fake Bot API (`baithak::testkit::telegram`) in
//! webhook and polling mode, on both backends.

use std::time::Duration;

use baithak::channel::telegram::client::BotApi;
use baithak::channel::telegram::{Mode, RateLimits, TelegramSettings};
use baithak::clock::Clock;
use baithak::store::Ticket;
use baithak::testkit::telegram::{
    FakeTelegram, FakeTelegramOptions, Fault, SentMessage, UserHandle,
};

use crate::both_backends;
use crate::support::{Backend, TestApp, TestDatabase, fixture_content, ticket_code};

const SECRET: &str = "test-secret_123";
const DEADLINE: Duration = Duration::from_secs(15);

/// The app wired to a fresh fake Bot API in `mode`, with sending limits `limits`.
async fn spawn(
    backend: Backend,
    mode: Mode,
    limits: RateLimits,
) -> Option<(TestApp, FakeTelegram)> {
    spawn_with_experts(backend, mode, limits, None, Clock::System).await
}

/// [`spawn`], with the experts' forum group when `expert_group` is set.
async fn spawn_with_experts(
    backend: Backend,
    mode: Mode,
    limits: RateLimits,
    expert_group: Option<i64>,
    clock: Clock,
) -> Option<(TestApp, FakeTelegram)> {
    let fake = FakeTelegram::start(FakeTelegramOptions::default())
        .await
        .expect("fake starts");
    if let Some(group) = expert_group {
        fake.create_forum_group(group, "Baithak helpdesk experts");
    }
    let database = TestDatabase::create(backend).await?;
    let settings = TelegramSettings {
        token: fake.token().to_string(),
        api_url: fake.api_url(),
        mode,
        webhook_secret: Some(SECRET.to_string()),
        limits,
        expert_group,
    };
    let app = TestApp::spawn_with(database, fixture_content(), clock, |s| {
        s.telegram = Some(settings);
    })
    .await;
    if mode == Mode::Webhook {
        let api = BotApi::new(&fake.api_url(), fake.token()).expect("client");
        api.set_webhook(&app.url("/telegram/webhook"), SECRET)
            .await
            .expect("setWebhook");
    }
    Some((app, fake))
}

/// When the fake received each `sendMessage`, in order.
pub(crate) fn send_times(fake: &FakeTelegram) -> Vec<chrono::DateTime<chrono::Utc>> {
    let mut times: Vec<_> = fake
        .requests_to("sendMessage")
        .into_iter()
        .map(|r| r.at)
        .collect();
    times.sort();
    times
}

/// The most of `times` (sorted) within any one second.
pub(crate) fn most_in_one_second(times: &[chrono::DateTime<chrono::Utc>]) -> usize {
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| (**t - times[i]).num_milliseconds() < 1_000)
                .count()
        })
        .max()
        .unwrap_or(0)
}

fn unlimited() -> RateLimits {
    RateLimits {
        global_per_second: 0,
        per_chat_per_second: 0,
        per_chat_burst: 0,
    }
}

/// A teacher in a private chat with the bot on the fake (the other suites' Telegram teacher
/// too).
pub(crate) struct Teacher<'a> {
    pub(crate) fake: &'a FakeTelegram,
    pub(crate) user: UserHandle,
    /// The last bot message read by [`Teacher::expect`].
    pub(crate) last_seen: i64,
}

impl<'a> Teacher<'a> {
    pub(crate) fn new(fake: &'a FakeTelegram, id: i64, name: &str) -> Teacher<'a> {
        Teacher {
            fake,
            user: fake.add_user(id, name, Some("en")),
            last_seen: 0,
        }
    }

    pub(crate) fn says(&self, text: &str) {
        self.fake
            .send_text(&self.user, text)
            .expect("update queued");
    }

    pub(crate) fn taps(&self, label: &str) {
        self.fake
            .press_label(&self.user, label)
            .expect("button pressed");
    }

    /// Waits for the next bot message containing `needle`; later messages stay unseen.
    pub(crate) async fn expect(&mut self, needle: &str) -> SentMessage {
        let after = self.last_seen;
        let found = self
            .fake
            .wait_for(
                self.user.id,
                |m| m.message_id > after && m.visible_text().contains(needle),
                DEADLINE,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        self.last_seen = found.message_id;
        found
    }

    /// How many bot messages so far contain `needle`.
    pub(crate) fn count(&self, needle: &str) -> usize {
        self.fake
            .sent_to(self.user.id)
            .iter()
            .filter(|m| m.visible_text().contains(needle))
            .count()
    }

    /// Bot messages after the last one read.
    pub(crate) fn unread(&self) -> Vec<String> {
        self.fake
            .sent_to(self.user.id)
            .into_iter()
            .filter(|m| m.message_id > self.last_seen)
            .map(|m| m.visible_text().to_string())
            .collect()
    }
}

/// Onboards, asks a question the fixture knowledge base answers, says it did not help and
/// returns the ticket number the bot gave.
async fn onboard_and_open_a_ticket(teacher: &mut Teacher<'_>) -> String {
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
    teacher.says("my class is too noisy, what do i do");
    teacher.expect("Did this help?").await;
    teacher.taps("👎 No");
    let opened = teacher.expect("HD-").await;
    ticket_code(opened.visible_text())
}

/// Waits until ticket `code` satisfies `check`, looking again after every commit and every
/// delivery.
async fn wait_for_ticket(app: &TestApp, code: &str, what: &str, check: impl Fn(&Ticket) -> bool) {
    let mut commits = app.conversations.subscribe();
    let mut deliveries = app.conversations.subscribe_deliveries();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let ticket = app
            .conversations
            .store()
            .ticket(code)
            .await
            .expect("ticket");
        if check(&ticket) {
            return;
        }
        tokio::select! {
            changed = commits.changed() => changed.expect("alive"),
            changed = deliveries.changed() => changed.expect("alive"),
            () = tokio::time::sleep_until(deadline) => panic!("{what}: not within {DEADLINE:?}: {ticket:?}"),
        }
    }
}

/// Waits until the store says whether the teacher in `chat` can be reached, looking again
/// after every commit and every delivery.
async fn wait_reachable(app: &TestApp, chat: &str, expected: bool, what: &str) {
    let store = app.conversations.store();
    let mut commits = app.conversations.subscribe();
    let mut deliveries = app.conversations.subscribe_deliveries();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while store.reachable("telegram", chat).await.expect("read") != Some(expected) {
        tokio::select! {
            changed = commits.changed() => changed.expect("alive"),
            changed = deliveries.changed() => changed.expect("alive"),
            () = tokio::time::sleep_until(deadline) => panic!("{what}: not within {DEADLINE:?}"),
        }
    }
}

/// Reads a real update fixture, moved into `chat`'s private chat.
fn fixture_update(name: &str, chat: i64) -> serde_json::Value {
    let path = format!(
        "{}/tests/fixtures/telegram/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut update: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON");
    update["message"]["chat"]["id"] = chat.into();
    update["message"]["from"]["id"] = chat.into();
    update
}

/// Waits for the expert group's message containing `needle`.
async fn expert_sees(fake: &FakeTelegram, needle: &str) -> SentMessage {
    fake.wait_for(EXPERTS, |m| m.visible_text().contains(needle), DEADLINE)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn onboard_and_pass_the_demo_module(teacher: &mut Teacher<'_>) {
    teacher.says("/start");
    teacher.expect("Choose your language").await;
    teacher.taps("English");
    teacher.expect("What is your name").await;
    teacher.says("Rubina");
    teacher.expect("Which grades").await;
    teacher.says("2, 3");
    teacher.expect("Agree?").await;
    teacher.taps("Yes");
    teacher.expect("Main menu").await;
    teacher.taps("Lessons");
    let part = teacher.expect("part 1 of 2").await;
    assert_eq!(part.parse_mode.as_deref(), Some("HTML"));
    assert!(
        part.raw_text
            .as_deref()
            .is_some_and(|t| t.contains("<b>Demo module</b>")),
        "{part:?}"
    );
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
    let passed = teacher.expect("Certificate").await;
    let code = passed
        .visible_text()
        .rsplit(' ')
        .next()
        .expect("code")
        .to_string();
    teacher.expect("Main menu").await;
    teacher.taps("My progress");
    let progress = teacher.expect("My progress").await;
    assert!(
        progress.visible_text().contains(&code),
        "{}",
        progress.visible_text()
    );
}

macro_rules! both_modes_and_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn webhook_sqlite() {
                let body = $body;
                body(Backend::Sqlite, Mode::Webhook).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn webhook_postgres() {
                let body = $body;
                body(Backend::Postgres, Mode::Webhook).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn polling_sqlite() {
                let body = $body;
                body(Backend::Sqlite, Mode::Polling).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn polling_postgres() {
                let body = $body;
                body(Backend::Postgres, Mode::Polling).await;
            }
        }
    };
}

both_modes_and_backends!(
    a_teacher_onboards_takes_a_lesson_and_passes_its_quiz_on_telegram,
    |backend, mode| async move {
        let Some((app, fake)) = spawn(backend, mode, unlimited()).await else {
            return;
        };
        let mut teacher = Teacher::new(&fake, 5001, "Rubina");

        onboard_and_pass_the_demo_module(&mut teacher).await;

        let answers = fake.callback_answers();
        let presses = fake.requests_to("answerCallbackQuery").len();
        assert!(presses >= 6, "every tap was answered: {presses}");
        assert_eq!(answers.len(), presses);
        app.stop().await;
    }
);

both_modes_and_backends!(
    every_fixture_update_is_handled_without_stalling,
    |backend, mode| async move {
        let Some((app, fake)) = spawn(backend, mode, unlimited()).await else {
            return;
        };
        let mut teacher = Teacher::new(&fake, 5002, "Saima");
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/telegram");
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .expect("fixtures")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| {
                n.starts_with("tg")
                    && n.as_bytes().get(2).is_some_and(u8::is_ascii_digit)
                    && n != "tg25_getupdates_response_batch.json"
            })
            .collect();
        names.sort();

        for name in &names {
            let update: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(format!("{dir}/{name}")).expect("read"),
            )
            .expect("json");
            fake.send_update(update).expect("queued");
        }
        teacher.says("/start");
        teacher.expect("Choose your language").await;

        // The callbacks of the fixtures are answered too (their messages are not ours).
        let answered = fake
            .wait_until(DEADLINE, |f| {
                f.callback_answers()
                    .into_iter()
                    .find(|a| a.callback_query_id == "1874464818486990916")
            })
            .await;
        assert!(
            answered.is_ok(),
            "the fixture's callback query was answered"
        );
        app.stop().await;
    }
);

both_modes_and_backends!(
    blocking_is_recorded_a_403_stops_retries_and_writing_again_restores_delivery,
    |backend, mode| async move {
        let Some((app, fake)) = spawn(backend, mode, unlimited()).await else {
            return;
        };
        let mut teacher = Teacher::new(&fake, 5003, "Farah");
        let store = app.conversations.store();
        teacher.says("/start");
        teacher.expect("Choose your language").await;

        fake.block(&teacher.user).expect("blocked");
        wait_reachable(&app, "5003", false, "block recorded").await;
        fake.unblock(&teacher.user).expect("unblocked");
        wait_reachable(&app, "5003", true, "unblock recorded").await;
        let blocked = Fault::Api {
            code: 403,
            description: "Forbidden: bot was blocked by the user".into(),
        };
        fake.fail_next_in_chat(5003, "sendMessage", 1, blocked);
        let sends_before = fake.requests_to("sendMessage").len();
        teacher.says("English");
        wait_reachable(&app, "5003", false, "403 recorded").await;

        let attempts = fake.requests_to("sendMessage").len() - sends_before;
        assert_eq!(attempts, 1, "one attempt, no retry storm");
        let statuses = store
            .outbox_status("telegram", "5003")
            .await
            .expect("outbox");
        let (_, status, error) = statuses.last().expect("a row");
        assert_eq!(
            (status.as_str(), error.as_deref()),
            ("failed", Some("Forbidden: bot was blocked by the user"))
        );
        teacher.says("Farah");
        teacher.expect("Which grades").await;
        assert_eq!(
            store.reachable("telegram", "5003").await.expect("read"),
            Some(true),
            "writing again means reachable"
        );
        app.stop().await;
    }
);

both_modes_and_backends!(
    rate_limits_and_server_errors_delay_but_never_lose_a_reply,
    |backend, mode| async move {
        let Some((app, fake)) = spawn(backend, mode, unlimited()).await else {
            return;
        };
        let mut teacher = Teacher::new(&fake, 5004, "Nadia");

        fake.fail_next("sendMessage", 1, Fault::TooManyRequests { retry_after: 1 });
        fake.fail_next(
            "sendMessage",
            1,
            Fault::Api {
                code: 500,
                description: "Internal Server Error: try later".into(),
            },
        );
        fake.fail_next("sendMessage", 1, Fault::Html { status: 502 });
        teacher.says("/start");

        teacher.expect("Choose your language").await;
        let sent: Vec<String> = fake
            .sent_to(5004)
            .iter()
            .map(|m| m.visible_text().to_string())
            .collect();
        assert_eq!(
            sent.iter()
                .filter(|t| t.contains("Choose your language"))
                .count(),
            1,
            "{sent:?}"
        );
        app.stop().await;
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_requests_with_a_wrong_secret_or_body_are_refused_and_nothing_is_stored() {
    let Some((app, _fake)) = spawn(Backend::Sqlite, Mode::Webhook, unlimited()).await else {
        return;
    };
    let url = app.url("/telegram/webhook");
    let update = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/telegram/tg01_message_text_private.json"
    ))
    .expect("fixture");
    let post = |secret: Option<&str>, body: Vec<u8>| {
        let mut request = app
            .client
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(secret) = secret {
            request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
        }
        request.send()
    };

    let missing = post(None, update.clone()).await.expect("post").status();
    let wrong = post(Some("nope"), update.clone())
        .await
        .expect("post")
        .status();
    let malformed = post(Some(SECRET), b"{not json".to_vec())
        .await
        .expect("post")
        .status();
    let unknown = post(
        Some(SECRET),
        br#"{"update_id": 77, "new_update_kind": {}}"#.to_vec(),
    )
    .await
    .expect("post")
    .status();

    assert_eq!(
        (
            missing.as_u16(),
            wrong.as_u16(),
            malformed.as_u16(),
            unknown.as_u16()
        ),
        (401, 401, 400, 200)
    );
    let pending = app
        .conversations
        .store()
        .pending_inbox(10)
        .await
        .expect("inbox");
    assert!(
        pending.iter().all(|e| e.external_id == "77"),
        "only the valid update was stored: {pending:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_a_clear_start_up_error() {
    let fake = FakeTelegram::start(FakeTelegramOptions::default())
        .await
        .expect("fake starts");
    let settings = TelegramSettings {
        token: "123:wrong".into(),
        api_url: fake.api_url(),
        mode: Mode::Polling,
        webhook_secret: None,
        limits: RateLimits::default(),
        expert_group: None,
    };

    let err = baithak::startup::connect_telegram(&settings)
        .await
        .expect_err("refused");

    assert!(
        err.to_string()
            .contains("Telegram refused TELEGRAM_BOT_TOKEN"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_menu_is_registered_in_every_language() {
    let Some((app, fake)) = spawn(Backend::Sqlite, Mode::Polling, unlimited()).await else {
        return;
    };

    let calls = fake.requests_to("setMyCommands");

    assert_eq!(calls.len(), 3, "{calls:?}");
    let urdu = calls
        .iter()
        .find(|c| c.params["language_code"] == "ur")
        .expect("an Urdu command menu");
    let menu = urdu.params["commands"]
        .as_array()
        .expect("commands")
        .iter()
        .find(|c| c["command"] == "menu")
        .expect("/menu");
    assert_eq!(menu["description"], "مین مینو");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_chat_rate_limits_space_out_messages_to_one_teacher() {
    let limits = RateLimits {
        global_per_second: 30,
        per_chat_per_second: 5,
        per_chat_burst: 1,
    };
    let Some((app, fake)) = spawn(Backend::Sqlite, Mode::Polling, limits).await else {
        return;
    };
    let mut teacher = Teacher::new(&fake, 5005, "Hina");

    // Onboarding's first step sends two messages (welcome, language question) back to back.
    teacher.says("/start");
    teacher.expect("Choose your language").await;
    teacher.taps("English");
    teacher.expect("What is your name").await;

    let times: Vec<_> = fake
        .requests_to("sendMessage")
        .into_iter()
        .filter(|r| r.params["chat_id"] == 5005)
        .map(|r| r.at)
        .collect();
    assert!(times.len() >= 2, "{times:?}");
    for pair in times.windows(2) {
        let gap = (pair[1] - pair[0]).num_milliseconds();
        assert!(
            gap >= 150,
            "messages to one chat at most 5 a second: {gap} ms apart"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_limit_paces_many_chats_and_every_message_still_arrives() {
    // The bot's defaults (30 a second overall, 1 a second per chat with bursts of 3) against
    // the fake's own flood control, which answers 429 like Telegram when they are exceeded.
    let Some((app, fake)) = spawn(Backend::Sqlite, Mode::Polling, RateLimits::default()).await
    else {
        return;
    };
    fake.set_rate_limits(true);
    const TEACHERS: i64 = 90;
    let mut teachers: Vec<Teacher> = (0..TEACHERS)
        .map(|i| Teacher::new(&fake, 7000 + i, "Teacher"))
        .collect();
    for teacher in &teachers {
        teacher.says("/start");
    }
    for teacher in &mut teachers {
        teacher.expect("Choose your language").await;
    }
    let times = send_times(&fake);
    // Each /start gets at least the language question: 90 messages or more.
    assert!(times.len() >= TEACHERS as usize, "{}", times.len());
    // In any one-second window: at most a full burst (30) plus a second's refill (30).
    let in_window = most_in_one_second(&times);
    assert!(in_window <= 61, "{in_window} messages within one second");
    // 90 messages at 30 a second after a burst of 30 take at least two seconds.
    let span = (times[times.len() - 1] - times[0]).num_milliseconds();
    assert!(span >= 1_800, "sent {} messages in {span} ms", times.len());
    app.stop().await;
}

both_modes_and_backends!(
    a_voice_note_and_a_photo_sent_after_a_question_join_the_ticket_and_reach_the_experts,
    |backend, mode| async move {
        let Some((app, fake)) =
            spawn_with_experts(backend, mode, unlimited(), Some(EXPERTS), Clock::System).await
        else {
            return;
        };
        let mut teacher = Teacher::new(&fake, 5011, "Shazia");
        let code = onboard_and_open_a_ticket(&mut teacher).await;
        let opened = expert_sees(&fake, &code).await;

        // The teacher records a voice note, then sends a photo of the board (real updates,
        // moved into this teacher's chat).
        let voice = fixture_update("tg10_voice.json", 5011);
        let voice_id = voice["message"]["voice"]["file_id"]
            .as_str()
            .expect("file id")
            .to_string();
        fake.send_update(voice).expect("update queued");
        teacher.expect("Added to your question").await;
        let photo = fixture_update("tg09_photo_with_caption.json", 5011);
        let caption = photo["message"]["caption"]
            .as_str()
            .unwrap_or("")
            .to_string();
        fake.send_update(photo).expect("update queued");
        teacher.expect("Added to your question").await;

        let messages = app
            .conversations
            .store()
            .ticket_messages(&code)
            .await
            .expect("ticket messages");
        let kinds: Vec<&str> = messages.iter().map(|m| m.kind.as_str()).collect();
        assert_eq!(kinds, ["voice", "photo"], "{messages:?}");
        assert_eq!(messages[0].file_id.as_deref(), Some(voice_id.as_str()));
        assert_eq!(messages[1].body, caption);

        // Both reach the experts in the ticket's topic, as the files themselves.
        let thread = opened.message_thread_id;
        for media in ["voice", "photo"] {
            let sent = fake
                .wait_for(
                    EXPERTS,
                    |m| m.media.as_deref() == Some(media) && m.message_thread_id == thread,
                    DEADLINE,
                )
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(sent.file_id.is_some(), "{sent:?}");
        }
        app.stop().await;
    }
);

both_modes_and_backends!(
    a_question_the_knowledge_base_answers_is_answered_and_logged_as_helped,
    |backend, mode| async move {
        let Some((app, fake)) = spawn(backend, mode, unlimited()).await else {
            return;
        };
        let mut teacher = Teacher::new(&fake, 5012, "Nadia");
        teacher.says("/start");
        teacher.expect("Choose your language").await;
        teacher.taps("English");
        teacher.expect("What is your name").await;
        teacher.says("Nadia");
        teacher.expect("Which grades").await;
        teacher.says("3");
        teacher.expect("Agree?").await;
        teacher.taps("Yes");
        teacher.expect("Main menu").await;
        teacher.says("bachay class mein bohat shor kartay hain");
        let answer = teacher.expect("Did this help?").await;
        assert!(
            answer.visible_text().to_lowercase().contains("noisy"),
            "{}",
            answer.visible_text()
        );
        teacher.taps("👍 Yes, it helped");
        teacher.expect("Glad it helped").await;
        teacher.expect("Main menu").await;

        let store = app.conversations.store();
        let teacher_id = app.teacher_id("telegram", "5012").await;
        let questions = store.questions_of(teacher_id).await.expect("questions");
        assert_eq!(questions.len(), 1, "{questions:?}");
        assert_eq!(questions[0].outcome, "helped");
        assert_eq!(questions[0].written, "roman_ur");
        assert_eq!(questions[0].topic.as_deref(), Some("behaviour-management"));
        assert!(questions[0].ticket.is_none());
        app.stop().await;
    }
);

const EXPERTS: i64 = -1_001_234_567_890;

both_modes_and_backends!(
    an_expert_answers_in_the_ticket_topic_and_the_teacher_rates_the_answer,
    |backend, mode| async move {
        let Some((app, fake)) =
            spawn_with_experts(backend, mode, unlimited(), Some(EXPERTS), Clock::System).await
        else {
            return;
        };
        let expert = fake.add_user(9001, "Zainab", Some("en"));
        let mut teacher = Teacher::new(&fake, 5021, "Kiran");
        let code = onboard_and_open_a_ticket(&mut teacher).await;

        // The ticket opened a topic in the experts' forum, with the question and its context.
        let post = fake
            .wait_for(EXPERTS, |m| m.visible_text().contains(&code), DEADLINE)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let thread = post.message_thread_id.expect("posted in a topic");
        let text = post.visible_text();
        assert!(text.contains("my class is too noisy"), "{text}");
        assert!(text.contains("behaviour-management"), "{text}");
        assert!(
            text.contains("Pool") && text.contains("classroom"),
            "routed by topic: {text}"
        );
        assert!(!text.contains("5021"), "the teacher's id is masked: {text}");

        fake.send_text_in(EXPERTS, &expert, "/claim", Some(thread))
            .expect("claim");
        fake.wait_for(
            EXPERTS,
            |m| m.visible_text().contains("Zainab took"),
            DEADLINE,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        // A second expert is told who has it; the claim stays Zainab's.
        let bilal = fake.add_user(9002, "Bilal", Some("en"));
        fake.send_text_in(EXPERTS, &bilal, "/claim", Some(thread))
            .expect("second claim");
        fake.wait_for(
            EXPERTS,
            |m| m.visible_text().contains("Zainab already took"),
            DEADLINE,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        // What an expert does in the web console shows in the same topic.
        crate::console::account(&app, "sana", "expert").await;
        let mut sana = crate::console::Browser::new(&app);
        sana.sign_in("sana").await;
        let noted = sana
            .post(
                &format!("/console/tickets/{code}/note"),
                &[("text", "seen from the web")],
            )
            .await;
        assert_eq!(noted.status, reqwest::StatusCode::SEE_OTHER);
        fake.wait_for(
            EXPERTS,
            |m| {
                m.visible_text().contains("seen from the web")
                    && m.visible_text().contains("from the console")
            },
            DEADLINE,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        fake.send_text_in(
            EXPERTS,
            &expert,
            "/note she teaches 85 children",
            Some(thread),
        )
        .expect("note");
        fake.wait_for(
            EXPERTS,
            |m| m.visible_text().contains("Note kept"),
            DEADLINE,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        fake.send_text_in(
            EXPERTS,
            &expert,
            "Try a clap pattern: you clap twice, they clap back and stop talking.",
            Some(thread),
        )
        .expect("answer");

        let answer = teacher.expect("Helpdesk expert").await;
        assert!(answer.visible_text().contains("clap pattern"), "{answer:?}");
        assert!(
            !answer.visible_text().contains("85 children"),
            "notes stay internal"
        );
        teacher.expect("How useful").await;
        teacher.taps("5");
        teacher.expect("rating").await;

        let store = app.conversations.store();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let mut commits = app.conversations.subscribe();
        loop {
            let ticket = store.ticket(&code).await.expect("ticket");
            if ticket.rating.is_some() {
                assert_eq!(ticket.status, "answered");
                assert_eq!(ticket.rating, Some(5));
                break;
            }
            tokio::time::timeout_at(deadline, commits.changed())
                .await
                .expect("rating stored")
                .expect("alive");
        }
        let messages = store.ticket_messages(&code).await.expect("messages");
        let authors: Vec<&str> = messages.iter().map(|m| m.author.as_str()).collect();
        assert_eq!(authors, ["note", "note", "expert"]);

        // Closed: an expert's later words are refused in the topic and never reach the teacher.
        fake.send_text_in(EXPERTS, &expert, "/close", Some(thread))
            .expect("close");
        fake.wait_for(
            EXPERTS,
            |m| m.visible_text().contains("is closed."),
            DEADLINE,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let before = fake.sent_to(5021).len();
        fake.send_text_in(EXPERTS, &expert, "one more idea", Some(thread))
            .expect("late");
        fake.wait_for(
            EXPERTS,
            |m| m.visible_text().contains("nothing was sent"),
            DEADLINE,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fake.sent_to(5021).len(), before);
        assert_eq!(store.ticket(&code).await.expect("ticket").status, "closed");
        app.stop().await;
    }
);

/// The expert answers in the ticket's topic; returns the topic's thread id.
async fn expert_answers(fake: &FakeTelegram, expert: &UserHandle, code: &str, answer: &str) -> i64 {
    let post = expert_sees(fake, code).await;
    let thread = post.message_thread_id.expect("posted in a topic");
    fake.send_text_in(EXPERTS, expert, answer, Some(thread))
        .expect("answer");
    thread
}

both_backends! {
    async fn a_teacher_whom_the_answer_did_not_help_reopens_the_ticket(backend: Backend) {
        let Some((app, fake)) =
            spawn_with_experts(backend, Mode::Webhook, unlimited(), Some(EXPERTS), Clock::System).await
        else {
            return;
        };
        let expert = fake.add_user(9002, "Farhan", Some("en"));
        let mut teacher = Teacher::new(&fake, 5031, "Amna");
        let code = onboard_and_open_a_ticket(&mut teacher).await;
        let thread = expert_answers(&fake, &expert, &code, "Agree on a quiet signal with the class.").await;
        teacher.expect("quiet signal").await;
        teacher.expect("How useful").await;

        // Not solved: the ticket opens again and the experts hear why.
        teacher.taps("🔁 Still need help");
        teacher.expect("open again").await;
        wait_for_ticket(&app, &code, "reopened", |t| t.status == "open").await;
        expert_sees(&fake, "did not solve it").await;
        teacher.says("They ignore the signal when I stand at the back");
        teacher.expect("Added to your question").await;
        expert_sees(&fake, "ignore the signal").await;

        // The second answer is rated by typing 👍.
        fake.send_text_in(EXPERTS, &expert, "Stand at the front, wait, and praise the first quiet row.", Some(thread))
            .expect("second answer");
        teacher.expect("praise the first quiet row").await;
        teacher.expect("How useful").await;
        teacher.says("👍");
        teacher.expect("Thank you for your rating").await;
        wait_for_ticket(&app, &code, "rated", |t| t.rating == Some(5) && t.status == "answered").await;
        let messages = app.conversations.store().ticket_messages(&code).await.expect("messages");
        let authors: Vec<&str> = messages.iter().map(|m| m.author.as_str()).collect();
        assert_eq!(authors, ["expert", "teacher", "expert"]);

        // The answered ticket becomes a draft article: checked, never served.
        let content = tempfile::tempdir().expect("temporary directory");
        crate::fs::copy_dir(&fixture_content(), content.path());
        let baithak = |args: &[&str]| {
            let output = std::process::Command::new(env!("CARGO_BIN_EXE_baithak"))
                .args(args)
                .arg("--content")
                .arg(content.path())
                .arg("--database-url")
                .arg(&app.database.url)
                .output()
                .expect("baithak runs");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            (output.status.success(), text)
        };
        let short = code.trim_start_matches("HD-").to_lowercase();
        let (ok, out) = baithak(&["kb", "draft", "--from-ticket", &short]);
        assert!(ok, "{out}");
        let id = format!("draft-{}", code.to_lowercase());
        let path = content.path().join(format!("knowledge-base/articles/{id}.md"));
        let draft = std::fs::read_to_string(&path).expect("draft written");
        for needle in [
            "draft: true",
            "topics: [behaviour-management]",
            "\"my class is too noisy, what do i do\"",
            "Agree on a quiet signal with the class.",
            "praise the first quiet row",
            "rated 5/5",
        ] {
            assert!(draft.contains(needle), "{needle:?} missing from:\n{draft}");
        }
        let (ok, out) = baithak(&["kb", "draft", "--from-ticket", &code]);
        assert!(!ok && out.contains("exists already"), "{out}");
        let (ok, out) = baithak(&["check"]);
        assert!(ok && out.contains("(1 drafts)"), "{out}");
        let (ok, out) = baithak(&["kb", "search", "--json", "quiet signal praise the first quiet row"]);
        assert!(ok && !out.contains(&id), "drafts are not served: {out}");
        app.stop().await;
    }

    async fn an_unclaimed_ticket_reminds_its_pool_and_an_unanswered_one_reaches_the_lead(backend: Backend) {
        // Monday 23 November 2026, 10:00 in Karachi: the helpdesk is open.
        let clock = Clock::manual(chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00+05:00")
            .expect("time")
            .with_timezone(&chrono::Utc));
        let Some((app, fake)) =
            spawn_with_experts(backend, Mode::Polling, unlimited(), Some(EXPERTS), clock.clone()).await
        else {
            return;
        };
        let mut teacher = Teacher::new(&fake, 5032, "Bushra");
        let code = onboard_and_open_a_ticket(&mut teacher).await;
        let opened = expert_sees(&fake, &code).await;

        // An hour and a minute later nobody has claimed it: the classroom pool is reminded in
        // the topic, its expert mentioned.
        clock.advance(chrono::Duration::minutes(61));
        let reminder = expert_sees(&fake, "nobody has claimed it").await;
        assert_eq!(reminder.message_thread_id, opened.message_thread_id);
        let text = reminder.visible_text();
        assert!(text.contains(&code) && text.contains("@zainab_expert"), "{text}");
        assert!(text.contains("1 h 1 min"), "{text}");
        assert_eq!(baithak::sla_watch::check(&app.conversations).await.expect("check"), 0, "reminded once");

        // By Tuesday evening it has had eight office hours without an answer: the lead hears
        // of it, in the topic and in the group's main thread.
        clock.advance(chrono::Duration::hours(32));
        let escalation = expert_sees(&fake, "has had no answer").await;
        assert!(escalation.visible_text().contains("@programme_lead"), "{}", escalation.visible_text());
        fake.wait_for(
            EXPERTS,
            |m| m.visible_text().contains("has had no answer") && m.message_thread_id != opened.message_thread_id,
            DEADLINE,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(baithak::sla_watch::check(&app.conversations).await.expect("check"), 0, "escalated once");
        app.stop().await;
    }

    async fn an_answer_for_a_teacher_who_blocked_the_bot_waits_and_arrives_when_they_return(backend: Backend) {
        let Some((app, fake)) =
            spawn_with_experts(backend, Mode::Webhook, unlimited(), Some(EXPERTS), Clock::System).await
        else {
            return;
        };
        let expert = fake.add_user(9003, "Sana", Some("en"));
        let mut teacher = Teacher::new(&fake, 5033, "Rehana");
        let code = onboard_and_open_a_ticket(&mut teacher).await;
        fake.block(&teacher.user).expect("blocked");
        wait_reachable(&app, "5033", false, "block recorded").await;

        let thread = expert_answers(&fake, &expert, &code, "Seat the loudest pair apart from each other.").await;
        wait_for_ticket(&app, &code, "answer held", |t| t.delivery.as_deref() == Some("held")).await;
        expert_sees(&fake, "cannot be reached").await;
        fake.send_text_in(EXPERTS, &expert, "/queue", Some(thread)).expect("queue");
        expert_sees(&fake, "answer waiting: teacher unreachable").await;
        assert!(
            fake.sent_to(5033).iter().all(|m| !m.visible_text().contains("loudest pair")),
            "nothing reached a blocked chat"
        );

        // The teacher comes back: the answer arrives first, then the reply to what they wrote.
        teacher.says("Main menu");
        let answer = teacher.expect("loudest pair").await;
        let menu = teacher.expect("Main menu").await;
        assert!(answer.message_id < menu.message_id);
        wait_for_ticket(&app, &code, "answer delivered", |t| t.delivery.as_deref() == Some("sent")).await;
        app.stop().await;
    }
}
