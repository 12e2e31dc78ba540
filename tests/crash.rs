//! The crash check, short: `baithak serve` as a child process on the fake Bot API is killed with
//! SIGKILL at random moments (chosen by replies delivered) and restarted on the same database;
//! every teacher must still get a reply to every message, and no chat may get more than one
//! duplicate message per kill.

#[path = "api/support/database.rs"]
mod database;

use std::path::PathBuf;
use std::time::Duration;

use baithak::bench_telegram::{LoadOptions, run_load};
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
