//! The test harness: the whole application on port 0 with a fresh database, and actors that
//! talk to it only over HTTP, the way a teacher's browser does.

pub mod database;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use baithak::clock::Clock;
use baithak::config::Settings;
use baithak::conversation::Conversations;
use baithak::startup::Application;
use serde_json::Value;
use tokio::sync::oneshot;

pub use database::{Backend, TestDatabase};

/// How long an actor waits for a reply before the test fails.
pub const REPLY_DEADLINE: Duration = Duration::from_secs(15);

/// The shipped content at the repository root.
pub fn shipped_content() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The small, stable content in `tests/fixtures`.
pub fn fixture_content() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A running application.
pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    pub conversations: Conversations,
    pub database: TestDatabase,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    /// Spawns the app on `backend` with `content`; `None` when the backend is not available
    /// outside CI (see [`TestDatabase::create`]).
    pub async fn spawn(backend: Backend, content: PathBuf) -> Option<TestApp> {
        let database = TestDatabase::create(backend).await?;
        Some(Self::spawn_on(database, content).await)
    }

    /// Spawns the app on an existing database (used to "restart" the app).
    pub async fn spawn_on(database: TestDatabase, content: PathBuf) -> TestApp {
        Self::spawn_configured(database, content, |_| {}).await
    }

    /// Spawns the app with settings adjusted by `configure` (a Telegram fake, for example).
    pub async fn spawn_configured(
        database: TestDatabase,
        content: PathBuf,
        configure: impl FnOnce(&mut Settings),
    ) -> TestApp {
        Self::spawn_with(database, content, Clock::System, configure).await
    }

    /// Spawns the app on `clock` (a manual clock for office hours and deadlines).
    pub async fn spawn_with(
        database: TestDatabase,
        content: PathBuf,
        clock: Clock,
        configure: impl FnOnce(&mut Settings),
    ) -> TestApp {
        let mut settings = Settings {
            content_dir: content,
            database_url: database.url.clone(),
            max_connections: 4,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            telegram: None,
            whatsapp: None,
            public_url: None,
            instance: None,
        };
        configure(&mut settings);
        let app = Application::build(&settings, clock)
            .await
            .expect("app builds");
        let address = SocketAddr::from(([127, 0, 0, 1], app.port()));
        let conversations = app.conversations().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.run_until_stopped(async {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
        });
        TestApp {
            address,
            client: reqwest::Client::new(),
            conversations,
            database,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// The id of the teacher at `channel`/`user` (created if new).
    pub async fn teacher_id(&self, channel: &str, user: &str) -> i64 {
        self.conversations
            .store()
            .load_conversation(channel, user, "{}", chrono::Utc::now())
            .await
            .expect("conversation")
            .teacher_id
    }

    /// Stops the server and hands back its database.
    pub async fn stop(mut self) -> TestDatabase {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        let TestApp { database, .. } = self;
        database
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// A teacher using the web chat.
    pub fn web_teacher(&self, user: &str) -> WebTeacher<'_> {
        WebTeacher {
            app: self,
            user: user.to_string(),
            cursor: 0,
            last_bot: None,
            seen: Vec::new(),
            unread: std::collections::VecDeque::new(),
        }
    }
}

/// A teacher in the web chat: sends messages and reads replies over the JSON API.
pub struct WebTeacher<'a> {
    app: &'a TestApp,
    pub user: String,
    cursor: i64,
    last_bot: Option<Value>,
    /// Every bot message text read so far, in order.
    pub seen: Vec<String>,
    /// Bot messages fetched but not yet read by an `expect`.
    unread: std::collections::VecDeque<Value>,
}

impl WebTeacher<'_> {
    /// Types a message.
    pub async fn says(&mut self, text: &str) {
        let body = serde_json::json!({ "user": self.user, "id": new_id(), "text": text });
        self.post(body).await;
    }

    /// Taps the button whose id ends with `.{choice}` on the last bot message that has buttons.
    pub async fn taps(&mut self, choice: &str) {
        let button = self.button(|id, _| id.ends_with(&format!(".{choice}")) || id == choice);
        let body = serde_json::json!({ "user": self.user, "id": new_id(), "choice": button.0, "label": button.1 });
        self.post(body).await;
    }

    /// Buttons `(id, label)` of the last bot message that had any.
    pub fn buttons(&self) -> Vec<(String, String)> {
        let Some(message) = &self.last_bot else {
            return Vec::new();
        };
        message["choices"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| {
                        (
                            c["id"].as_str().unwrap_or("").to_string(),
                            c["label"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn button(&self, pred: impl Fn(&str, &str) -> bool) -> (String, String) {
        let buttons = self.buttons();
        buttons
            .iter()
            .find(|(id, label)| pred(id, label))
            .cloned()
            .unwrap_or_else(|| {
                panic!(
                    "no such button; buttons are {buttons:?}; seen {:?}",
                    self.seen.last()
                )
            })
    }

    async fn post(&self, body: Value) {
        let response = self
            .app
            .client
            .post(self.app.url("/api/web/messages"))
            .json(&body)
            .send()
            .await
            .expect("post message");
        assert_eq!(response.status(), 202, "message accepted");
    }

    /// Waits until a bot message containing `needle` arrives; returns its text. Messages
    /// before it are read (and kept in `seen`); messages after it stay unread.
    pub async fn expect_reply_containing(&mut self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + REPLY_DEADLINE;
        loop {
            while let Some(m) = self.unread.pop_front() {
                let text = m["text"].as_str().unwrap_or("").to_string();
                self.seen.push(text.clone());
                if m["choices"].as_array().is_some_and(|c| !c.is_empty()) {
                    self.last_bot = Some(m);
                }
                if text.contains(needle) {
                    return text;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no reply containing {needle:?} within {REPLY_DEADLINE:?}; last messages: {:?}",
                self.seen.iter().rev().take(3).collect::<Vec<_>>()
            );
            let url = self.app.url(&format!(
                "/api/web/messages?user={}&after={}&wait=5",
                self.user, self.cursor
            ));
            let poll: Value = self
                .app
                .client
                .get(url)
                .send()
                .await
                .expect("poll")
                .json()
                .await
                .expect("json");
            self.cursor = poll["cursor"].as_i64().unwrap_or(self.cursor);
            let outgoing = poll["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m["direction"] == "out");
            self.unread.extend(outgoing.cloned());
        }
    }

    /// The full history as the page shows it on reload.
    pub async fn history(&self) -> Value {
        let url = self
            .app
            .url(&format!("/api/web/messages?user={}&after=0", self.user));
        self.app
            .client
            .get(url)
            .send()
            .await
            .expect("history")
            .json()
            .await
            .expect("json")
    }
}

pub fn new_id() -> String {
    format!(
        "{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    )
}

/// The ticket number (`HD-…`) a bot message mentions.
pub fn ticket_code(text: &str) -> String {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find(|w| w.starts_with("HD-"))
        .unwrap_or_else(|| panic!("no ticket number in {text:?}"))
        .to_string()
}
