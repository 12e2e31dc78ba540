//! The crash check, short: `baithak serve` as a child process on the fake Bot API is killed with
//! SIGKILL at random moments (chosen by replies delivered) and restarted on the same database;
//! every teacher must still get a reply to every message, and no chat may get more than one
//! duplicate message per kill.

#[path = "api/support/database.rs"]
mod database;

use std::path::PathBuf;
use std::time::Duration;

use baithak::bench_telegram::{LoadOptions, Scale, run_load, run_load_scaled};
use baithak::channel::telegram::Mode;
use database::{Backend, TestDatabase};

const TEACHERS: usize = 20;
const MESSAGES: usize = 10;
const KILLS: usize = 2;

async fn survives_kills(backend: Backend, mode: Mode) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let options = LoadOptions {
        exe: PathBuf::from(env!("CARGO_BIN_EXE_baithak")),
        content_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")),
        database_url: db.url.clone(),
        mode,
        teachers: TEACHERS,
        messages: MESSAGES,
        kills: KILLS,
        pause: Duration::ZERO,
        reply_deadline: Duration::from_secs(20),
    };
    let report = run_load(&options).await.expect("the load runs");
    assert_eq!(report.kills, KILLS, "{report:?}");
    assert_eq!(report.lost, 0, "every message got a reply: {report:?}");
    assert_eq!(report.completed_teachers, TEACHERS, "{report:?}");
    assert_eq!(report.replies, TEACHERS * MESSAGES, "{report:?}");
    assert_eq!(
        report.undelivered, 0,
        "every outbox row reached Telegram: {report:?}"
    );
    assert!(
        report.max_duplicates_in_a_chat <= KILLS,
        "at most one duplicate per kill in a chat: {report:?}"
    );
    assert!(report.duplicates <= KILLS * TEACHERS, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_twice_nothing_is_lost_webhook_sqlite() {
    survives_kills(Backend::Sqlite, Mode::Webhook).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_twice_nothing_is_lost_polling_sqlite() {
    survives_kills(Backend::Sqlite, Mode::Polling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_twice_nothing_is_lost_webhook_postgres() {
    survives_kills(Backend::Postgres, Mode::Webhook).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_twice_nothing_is_lost_polling_postgres() {
    survives_kills(Backend::Postgres, Mode::Polling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_kills_no_message_is_sent_twice() {
    let db = TestDatabase::create(Backend::Sqlite).await.expect("sqlite");
    let options = LoadOptions {
        exe: PathBuf::from(env!("CARGO_BIN_EXE_baithak")),
        content_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")),
        database_url: db.url.clone(),
        mode: Mode::Webhook,
        teachers: TEACHERS,
        messages: MESSAGES,
        kills: 0,
        pause: Duration::ZERO,
        reply_deadline: Duration::from_secs(20),
    };
    let report = run_load(&options).await.expect("the load runs");
    assert_eq!(report.lost, 0, "{report:?}");
    assert_eq!(report.undelivered, 0, "{report:?}");
    assert_eq!(report.duplicates, 0, "{report:?}");
}

/// The scale run, short: a database seeded with onboarded profiles (the simulated teachers the
/// first of them), instances behind the balancer (two on PostgreSQL, one on SQLite); the
/// teachers are recognised as the seeded teachers, nothing is lost or sent twice, and each
/// instance's usage is read.
async fn seeded_profiles_behind_the_balancer(backend: Backend, instances: usize) {
    const PROFILES: usize = 500;
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let options = LoadOptions {
        exe: PathBuf::from(env!("CARGO_BIN_EXE_baithak")),
        content_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")),
        database_url: db.url.clone(),
        mode: Mode::Webhook,
        teachers: TEACHERS,
        messages: MESSAGES,
        kills: 0,
        pause: Duration::ZERO,
        reply_deadline: Duration::from_secs(20),
    };
    let scale = Scale {
        instances: Some(instances),
        profiles: PROFILES,
    };
    let report = run_load_scaled(&options, &scale)
        .await
        .expect("the load runs");
    assert_eq!(report.completed_teachers, TEACHERS, "{report:?}");
    assert_eq!(report.lost, 0, "{report:?}");
    assert_eq!(report.undelivered, 0, "{report:?}");
    assert_eq!(report.duplicates, 0, "{report:?}");
    assert_eq!(report.instances.len(), instances, "{report:?}");
    assert!(
        report.instances.iter().all(|(_, mb)| *mb > 0.0),
        "every instance's peak memory was read: {report:?}"
    );
    // Every teacher who chatted was one of the seeded rows (no new row), and only theirs moved.
    let counts = "SELECT (SELECT COUNT(*) FROM teachers), \
                  (SELECT COUNT(*) FROM teachers WHERE version > 17), \
                  (SELECT COUNT(*) FROM transcript)";
    let (teachers, moved, lines): (i64, i64, i64) = match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.expect("sqlite");
            sqlx::query_as(counts)
                .fetch_one(&pool)
                .await
                .expect("counts")
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("postgres");
            sqlx::query_as(counts)
                .fetch_one(&pool)
                .await
                .expect("counts")
        }
    };
    assert_eq!(teachers, PROFILES as i64);
    assert_eq!(moved, TEACHERS as i64);
    assert!(
        lines > (PROFILES * 10) as i64,
        "seeded transcripts: {lines}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_profiles_two_instances_postgres() {
    seeded_profiles_behind_the_balancer(Backend::Postgres, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_profiles_one_instance_behind_the_balancer_sqlite() {
    seeded_profiles_behind_the_balancer(Backend::Sqlite, 1).await;
}
