//! `baithak serve` as a real process: killed with SIGKILL in the middle of a conversation and
//! started again on the same database, it resumes where the conversation was.

#[path = "api/support/database.rs"]
mod database;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use database::{Backend, TestDatabase, copy_dir};
use serde_json::{Value, json};

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(db: &TestDatabase) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_baithak"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                &db.url,
            ])
            .args([
                "--content",
                concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"),
            ])
            .env("BAITHAK_LOG_FORMAT", "json")
            .env("BAITHAK_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let port = loop {
            let line = lines
                .next()
                .expect("serve logs its port before anything else")
                .expect("utf-8 log");
            let Ok(event) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if let Some(port) = event["fields"]["port"].as_u64() {
                break port;
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `text` and waits (long-polling, bounded) for a reply containing `needle`.
async fn say_and_expect(
    client: &reqwest::Client,
    server: &Server,
    cursor: &mut i64,
    text: &str,
    needle: &str,
) {
    let id = format!("{:016x}", rand::random::<u64>());
    let body = json!({ "user": "kill-test", "id": id, "text": text });
    let sent = client
        .post(format!("{}/api/web/messages", server.base))
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(sent.status(), 202);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let url = format!(
            "{}/api/web/messages?user=kill-test&after={cursor}&wait=5",
            server.base
        );
        let poll: Value = client
            .get(url)
            .send()
            .await
            .expect("poll")
            .json()
            .await
            .expect("json");
        *cursor = poll["cursor"].as_i64().unwrap_or(*cursor);
        for m in poll["messages"].as_array().into_iter().flatten() {
            let text = m["text"].as_str().unwrap_or("").to_string();
            if text.contains(needle) {
                return;
            }
            seen.push(text);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {needle:?}; saw {seen:?}"
        );
    }
}

async fn killed_server_resumes(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let client = reqwest::Client::new();
    let mut cursor = 0;

    let server = Server::start(&db);
    say_and_expect(
        &client,
        &server,
        &mut cursor,
        "/start",
        "Choose your language",
    )
    .await;
    say_and_expect(
        &client,
        &server,
        &mut cursor,
        "English",
        "What is your name",
    )
    .await;
    say_and_expect(&client, &server, &mut cursor, "Farah", "Which grades").await;
    server.kill();

    let server = Server::start(&db);
    say_and_expect(&client, &server, &mut cursor, "4", "Agree?").await;
    say_and_expect(&client, &server, &mut cursor, "yes", "Main menu").await;
    say_and_expect(&client, &server, &mut cursor, "lessons", "part 1 of 2").await;
    server.kill();
}

#[tokio::test]
async fn a_killed_server_resumes_the_conversation_sqlite() {
    killed_server_resumes(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_killed_server_resumes_the_conversation_postgres() {
    killed_server_resumes(Backend::Postgres).await;
}

#[test]
fn serve_refuses_to_start_on_broken_content_with_file_line_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    copy_dir(
        &std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")),
        root,
    );
    let main = root.join("dialogues/main.yaml");
    let text = std::fs::read_to_string(&main)
        .expect("read")
        .replace("goto: progress", "goto: nowhere");
    std::fs::write(&main, text).expect("write");

    let output = Command::new(env!("CARGO_BIN_EXE_baithak"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg("--content")
        .arg(root)
        .arg("--database-url")
        .arg(format!("sqlite://{}/x.db", root.display()))
        .output()
        .expect("runs");

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("dialogues/main.yaml:"), "{stderr}");
    assert!(
        stderr.contains("`nowhere` refers to node `nowhere`, which tree `main` does not have"),
        "{stderr}"
    );
}

/// `baithak user add` prints a one-time password once, or takes one from stdin; the account
/// can then sign in to the console of a server on the same database.
async fn user_add_then_sign_in(backend: Backend) {
    use std::io::Write as _;
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let baithak = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_baithak"));
        command
            .args(args)
            .args(["--database-url", &db.url])
            .args([
                "--content",
                concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    };
    let added = baithak(&["user", "add", "--name", "sana", "--role", "expert"])
        .output()
        .expect("user add runs");
    assert!(added.status.success(), "{added:?}");
    let out = String::from_utf8_lossy(&added.stdout);
    let password = out
        .lines()
        .find_map(|l| l.strip_prefix("one-time password: "))
        .expect("printed once")
        .to_string();
    assert_eq!(password.len(), 20);

    let again = baithak(&["user", "add", "--name", "sana", "--role", "staff"])
        .output()
        .expect("runs");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    let bad_role = baithak(&["user", "add", "--name", "x", "--role", "root"])
        .output()
        .expect("runs");
    assert!(!bad_role.status.success());

    let mut stdin_user = baithak(&[
        "user",
        "add",
        "--name",
        "farah",
        "--role",
        "staff",
        "--password-stdin",
    ])
    .spawn()
    .expect("spawns");
    stdin_user
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"a password from stdin\n")
        .expect("write");
    let done = stdin_user.wait_with_output().expect("waits");
    assert!(done.status.success(), "{done:?}");
    assert!(!String::from_utf8_lossy(&done.stdout).contains("one-time password"));

    let server = Server::start(&db);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for (name, pass, home) in [
        ("sana", password.as_str(), "/console/tickets"),
        ("farah", "a password from stdin", "/console/insights"),
    ] {
        let response = client
            .post(format!("{}/console/login", server.base))
            .form(&[("name", name), ("password", pass)])
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), reqwest::StatusCode::SEE_OTHER, "{name}");
        assert_eq!(
            response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok()),
            Some(home)
        );
    }
    drop(server);
}

#[tokio::test]
async fn user_add_prints_a_one_time_password_that_signs_in_sqlite() {
    user_add_then_sign_in(Backend::Sqlite).await;
}

#[tokio::test]
async fn user_add_prints_a_one_time_password_that_signs_in_postgres() {
    user_add_then_sign_in(Backend::Postgres).await;
}
