//! Several instances on one database, behind a load balancer, on both backends: webhooks
//! landing on either instance are processed once each and in order per conversation; one
//! instance at a time sends for a platform, so its rate limit holds for all of them; an
//! instance that stops gives its work back and another carries on; the claims of an instance
//! that died expire. (That each scheduled job runs once between two instances is in
//! `scheduler::two_instances_on_one_database_run_each_of_100_jobs_once`.)
//!
//! Nothing sleeps: tests wait for the fake's deliveries, the database's rows or a lease to
//! change hands, each with a deadline.

use std::time::Duration;

use baithak::channel::telegram::client::BotApi;
use baithak::channel::telegram::{Mode, RateLimits, TelegramSettings};
use baithak::clock::Clock;
use baithak::leader;
use baithak::store::conversation_lease;
use baithak::testkit::balancer::Balancer;
use baithak::testkit::telegram::{FakeTelegram, FakeTelegramOptions};

use crate::both_backends;
use crate::support::{Backend, TestApp, TestDatabase, fixture_content};
use crate::telegram::{Teacher, most_in_one_second, send_times};

const SECRET: &str = "test-secret_123";
const DEADLINE: Duration = Duration::from_secs(30);

/// Two instances of the app on one fresh database, both on the fake Bot API in webhook mode
/// with `limits`, and a balancer in front that the fake's webhook points at.
async fn two_instances(
    backend: Backend,
    limits: RateLimits,
) -> Option<(TestApp, TestApp, Balancer, FakeTelegram)> {
    let fake = FakeTelegram::start(FakeTelegramOptions::default())
        .await
        .expect("fake starts");
    let database = TestDatabase::create(backend).await?;
    let shared = database.share();
    let settings = TelegramSettings {
        token: fake.token().to_string(),
        api_url: fake.api_url(),
        mode: Mode::Webhook,
        webhook_secret: Some(SECRET.to_string()),
        limits,
        expert_group: None,
    };
    let configure = |s: &mut baithak::config::Settings| s.telegram = Some(settings.clone());
    let a = TestApp::spawn_with(database, fixture_content(), Clock::System, configure).await;
    let b = TestApp::spawn_with(shared, fixture_content(), Clock::System, configure).await;
    let balancer = Balancer::start(
        "127.0.0.1:0".parse().expect("address"),
        vec![a.url(""), b.url("")],
    )
    .await
    .expect("balancer starts");
    let api = BotApi::new(&fake.api_url(), fake.token()).expect("client");
    api.set_webhook(&balancer.url("/telegram/webhook"), SECRET)
        .await
        .expect("setWebhook");
    Some((a, b, balancer, fake))
}

fn unlimited() -> RateLimits {
    RateLimits {
        global_per_second: 0,
        per_chat_per_second: 0,
        per_chat_burst: 0,
    }
}

/// Waits until `check` holds, looking again whenever either instance commits or records a
/// delivery; fails after [`DEADLINE`].
async fn wait_until<F, Fut>(apps: [&TestApp; 2], what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut watches: Vec<_> = apps
        .iter()
        .flat_map(|app| {
            [
                app.conversations.subscribe(),
                app.conversations.subscribe_deliveries(),
            ]
        })
        .collect();
    while !check().await {
        let changed = any_changed(&mut watches);
        assert!(
            tokio::time::timeout_at(deadline, changed).await.is_ok(),
            "timed out waiting until {what}"
        );
    }
}

/// Resolves when any of `watches` changes.
async fn any_changed(watches: &mut [tokio::sync::watch::Receiver<u64>]) {
    let [a, b, c, d] = watches else {
        return;
    };
    tokio::select! {
        _ = a.changed() => {}
        _ = b.changed() => {}
        _ = c.changed() => {}
        _ = d.changed() => {}
    }
}

/// Who leads `role` now, if anyone.
async fn leader_of(app: &TestApp, role: &str) -> Option<String> {
    app.conversations
        .store()
        .lease_holder(&leader::lease_name(role), chrono::Utc::now())
        .await
        .expect("lease")
}

/// Runs `sql` (one text column, one integer column) on the test database, either backend.
async fn rows(database: &TestDatabase, sql: &str) -> Vec<(String, i64)> {
    use sqlx::Connection as _;
    let sql = sqlx::AssertSqlSafe(sql.to_string());
    if database.url.starts_with("sqlite:") {
        let mut db = sqlx::SqliteConnection::connect(&database.url)
            .await
            .expect("connect");
        sqlx::query_as(sql).fetch_all(&mut db).await.expect("query")
    } else {
        let mut db = sqlx::PgConnection::connect(&database.url)
            .await
            .expect("connect");
        sqlx::query_as(sql).fetch_all(&mut db).await.expect("query")
    }
}

both_backends! {
    async fn webhooks_on_either_instance_are_processed_once_each_and_in_order(backend: Backend) {
        let Some((a, b, balancer, fake)) = two_instances(backend, unlimited()).await else {
            return;
        };
        const TEACHERS: i64 = 12;
        const NOTES: usize = 8;
        let teachers: Vec<Teacher> = (0..TEACHERS)
            .map(|i| Teacher::new(&fake, 8100 + i, "Teacher"))
            .collect();
        // Everything is queued at once; the fake delivers one update per chat at a time, and
        // the balancer sends consecutive ones to alternate instances.
        for teacher in &teachers {
            teacher.says("/start");
            for n in 1..=NOTES {
                teacher.says(&format!("note {n}"));
            }
        }
        let expected = TEACHERS * (1 + NOTES as i64);
        wait_until([&a, &b], "every update is processed", || async {
            let done = rows(
                &a.database,
                "SELECT 'done', COUNT(*) FROM inbox WHERE status = 'done'",
            )
            .await;
            done.first().map(|r| r.1) == Some(expected)
        })
        .await;

        // Each teacher's notes are in the transcript once each, in the order sent.
        let transcript = rows(
            &a.database,
            "SELECT t.channel_user || '|' || x.body, x.id FROM transcript x \
             JOIN teachers t ON t.id = x.teacher_id WHERE x.direction = 'in' ORDER BY x.id",
        )
        .await;
        for teacher in &teachers {
            let prefix = format!("{}|note ", teacher.user.id);
            let notes: Vec<&str> = transcript
                .iter()
                .filter_map(|(line, _)| line.strip_prefix(&prefix))
                .collect();
            let sent: Vec<String> = (1..=NOTES).map(|n| n.to_string()).collect();
            assert_eq!(notes, sent, "chat {}", teacher.user.id);
        }
        // Both instances took webhooks.
        let served = balancer.served();
        assert_eq!(served.len(), 2, "{served:?}");
        assert!(served.iter().all(|(_, n)| *n > 9), "{served:?}");

        // Every reply went out exactly once: each chat holds as many bot messages as it has
        // outbox rows, once the outbox is empty.
        wait_until([&a, &b], "the outbox is sent", || async {
            let pending = rows(
                &a.database,
                "SELECT 'pending', COUNT(*) FROM outbox WHERE status = 'pending'",
            )
            .await;
            pending.first().map(|r| r.1) == Some(0)
        })
        .await;
        let outbox = rows(
            &a.database,
            "SELECT channel_user, COUNT(*) FROM outbox WHERE status = 'sent' GROUP BY channel_user",
        )
        .await;
        for teacher in &teachers {
            let chat = teacher.user.id;
            let rows = outbox
                .iter()
                .find(|(c, _)| *c == chat.to_string())
                .map_or(0, |r| r.1);
            let messages = fake.sent_to(chat).len() as i64;
            assert!(rows > NOTES as i64, "chat {chat}: {rows} outbox rows");
            assert_eq!(messages, rows, "chat {chat}: one message per outbox row");
        }
        // No conversation is left claimed.
        for teacher in &teachers {
            let lease = conversation_lease("telegram", &teacher.user.id.to_string());
            let holder = a
                .conversations
                .store()
                .lease_holder(&lease, chrono::Utc::now())
                .await
                .expect("lease");
            assert_eq!(holder, None, "{lease}");
        }
        b.stop().await;
        a.stop().await;
    }

    async fn one_instance_sends_so_the_rate_limit_holds_across_instances(backend: Backend) {
        // 10 messages a second overall, for the bot as a whole.
        let limits = RateLimits {
            global_per_second: 10,
            per_chat_per_second: 0,
            per_chat_burst: 0,
        };
        let Some((a, b, _balancer, fake)) = two_instances(backend, limits).await else {
            return;
        };
        const TEACHERS: i64 = 40;
        let mut teachers: Vec<Teacher> = (0..TEACHERS)
            .map(|i| Teacher::new(&fake, 8200 + i, "Teacher"))
            .collect();
        for teacher in &teachers {
            teacher.says("/start");
        }
        for teacher in &mut teachers {
            teacher.expect("Choose your language").await;
        }
        // Whoever sent leads, and is one of the two.
        let leaders = [
            a.conversations.instance().to_string(),
            b.conversations.instance().to_string(),
        ];
        let holder = leader_of(&a, "telegram-dispatch").await.expect("a leader");
        assert!(leaders.contains(&holder), "{holder} is one of {leaders:?}");
        let times = send_times(&fake);
        assert!(times.len() >= TEACHERS as usize, "{}", times.len());
        // One sender at 10 a second (a burst of 10, then 10 a second): at most 20 in any
        // second, and 40 messages take at least 3 seconds. Two senders would do it in half.
        let in_window = most_in_one_second(&times);
        assert!(in_window <= 21, "{in_window} messages within one second");
        let span = (times[times.len() - 1] - times[0]).num_milliseconds();
        assert!(span >= 2_700, "sent {} messages in {span} ms", times.len());
        assert_eq!(
            leader_of(&a, "telegram-dispatch").await.as_deref(),
            Some(holder.as_str()),
            "the same instance led throughout"
        );
        b.stop().await;
        a.stop().await;
    }

    async fn a_stopped_instance_gives_its_work_back_and_the_other_carries_on(backend: Backend) {
        let Some((a, b, balancer, fake)) = two_instances(backend, unlimited()).await else {
            return;
        };
        let mut teacher = Teacher::new(&fake, 8300, "Nusrat");
        teacher.says("/start");
        teacher.expect("Choose your language").await;

        // The leader stops cleanly: it gives back every lease it held.
        let holder = leader_of(&a, "telegram-dispatch").await.expect("a leader");
        let (leaving, staying) = if holder == a.conversations.instance() {
            (a, b)
        } else {
            (b, a)
        };
        let gone = leaving.conversations.instance().to_string();
        balancer.set_instances(vec![staying.url("")]);
        // (The first instance's handle owns the database: keep it until the end.)
        let _database = leaving.stop().await;
        let left = rows(
            &staying.database,
            &format!("SELECT name, until FROM leases WHERE holder = '{gone}'"),
        )
        .await;
        assert!(left.is_empty(), "leases still held by the stopped instance: {left:?}");

        // The other instance takes over sending and the teacher carries on.
        teacher.taps("English");
        teacher.expect("name").await;
        assert_eq!(
            leader_of(&staying, "telegram-dispatch").await.as_deref(),
            Some(staying.conversations.instance())
        );
        staying.stop().await;
    }

    async fn a_conversation_another_instance_holds_waits_and_a_dead_instances_claim_expires(
        backend: Backend
    ) {
        let Some((a, b, _balancer, fake)) = two_instances(backend, unlimited()).await else {
            return;
        };
        let store = a.conversations.store().clone();
        let now = chrono::Utc::now();
        // An instance that is alive holds this teacher's conversation for an hour…
        let lease = conversation_lease("telegram", "8400");
        let held = store
            .take_lease(&lease, "other-host:8080", now, now + chrono::Duration::hours(1))
            .await
            .expect("lease");
        assert!(held);
        let mut teacher = Teacher::new(&fake, 8400, "Ayesha");
        teacher.says("/start");
        // The webhook is acknowledged once the update is stored.
        fake.wait_until(DEADLINE, |f| (f.pending_updates() == 0).then_some(()))
            .await
            .expect("the update is delivered");
        // … so neither worker takes the event.
        assert_eq!(a.conversations.process_batch(256).await.expect("batch"), 0);
        assert_eq!(b.conversations.process_batch(256).await.expect("batch"), 0);
        let stored = rows(&a.database, "SELECT status, COUNT(*) FROM inbox GROUP BY status").await;
        assert_eq!(stored, [("pending".to_string(), 1)]);

        // That instance dies: its claim runs out (here, at once) and the teacher is answered.
        let past = now - chrono::Duration::minutes(1);
        store
            .take_lease(&lease, "other-host:8080", past, past)
            .await
            .expect("lease renewed into the past");
        a.conversations.kick();
        teacher.expect("Choose your language").await;
        b.stop().await;
        a.stop().await;
    }
}
