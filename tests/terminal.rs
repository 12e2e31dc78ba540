//! `baithak chat` as a process with piped input, on SQLite and PostgreSQL: deterministic
//! output, numbered buttons, and a second run that continues the same conversation.

#[path = "api/support/database.rs"]
mod database;

use std::io::Write;
use std::process::{Command, Stdio};

use database::{Backend, TestDatabase};

/// Runs `baithak chat` on `content` with `input` piped in; returns what it printed.
fn chat_in(content: &str, db: &TestDatabase, user: &str, extra: &[&str], input: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_baithak"))
        .args(["chat", "--user", user, "--content", content])
        .args(["--database-url", &db.url])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("baithak chat starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write input");
    let output = child
        .wait_with_output()
        .expect("baithak chat ends at end of input");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "chat failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn chat(db: &TestDatabase, user: &str, extra: &[&str], input: &str) -> String {
    chat_in(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"),
        db,
        user,
        extra,
        input,
    )
}

async fn run_in_english_then_resume(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };

    let first = chat(&db, "amina", &[], "1\nAmina Bibi\n2-4\n1\n1\n1\n");
    let second = chat(&db, "amina", &[], "next\n");
    let other = chat(&db, "someone-else", &[], "");

    assert!(
        first.contains("Choose your language\n    [1] English\n    [2] اردو\n    [3] বাংলা"),
        "{first}"
    );
    assert!(
        first.contains("> Amina Bibi"),
        "piped input is echoed: {first}"
    );
    assert!(first.contains("Main menu\n    [1] Lessons"), "{first}");
    assert!(first.contains("part 1 of 2"), "{first}");
    assert!(
        first.contains("part 2 of 2"),
        "typing the button number works: {first}"
    );
    assert!(
        second.starts_with("(continuing your conversation)"),
        "{second}"
    );
    assert!(
        second.contains("part 2 of 2"),
        "the second run shows where it waits: {second}"
    );
    assert!(
        second.contains("Use the signal tomorrow"),
        "and continues from there: {second}"
    );
    assert!(
        other.contains("Choose your language"),
        "another user starts afresh: {other}"
    );
}

async fn run_in_urdu_with_lang_flag(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };

    let out = chat(&db, "saima", &["--lang", "ur"], "صائمہ\n۳\nhaan\nsabaq\n");

    assert!(
        !out.contains("اپنی زبان چنیں"),
        "the language was given, so it is not asked: {out}"
    );
    assert!(out.contains("آپ کا نام کیا ہے؟"), "{out}");
    assert!(out.contains("مین مینو"), "{out}");
    assert!(out.contains("ڈیمو ماڈیول* — حصہ 1 از 2"), "{out}");
}

#[tokio::test]
async fn terminal_chat_is_deterministic_and_resumes_sqlite() {
    run_in_english_then_resume(Backend::Sqlite).await;
}

#[tokio::test]
async fn terminal_chat_is_deterministic_and_resumes_postgres() {
    run_in_english_then_resume(Backend::Postgres).await;
}

#[tokio::test]
async fn terminal_chat_speaks_urdu_sqlite() {
    run_in_urdu_with_lang_flag(Backend::Sqlite).await;
}

#[tokio::test]
async fn terminal_chat_speaks_urdu_postgres() {
    run_in_urdu_with_lang_flag(Backend::Postgres).await;
}

#[tokio::test]
async fn the_same_input_gives_the_same_output() {
    let Some(a) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let Some(b) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let script = "2\nعلی\n5\n1\nmenu\n2\n";

    let first = chat(&a, "x", &[], script);
    let second = chat(&b, "x", &[], script);

    assert_eq!(first, second);
}

#[test]
fn an_unreachable_database_fails_with_a_clear_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_baithak"))
        .args([
            "chat",
            "--database-url",
            "postgres://nobody@127.0.0.1:1/x?connect_timeout=2",
        ])
        .args([
            "--content",
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"),
        ])
        .stdin(Stdio::null())
        .output()
        .expect("runs");

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("cannot open database postgres://nobody@127.0.0.1:1/x"),
        "{stderr}"
    );
}

/// The piped input that takes a new teacher through onboarding, the whole "Maths can be fun"
/// module and its quiz (answered right, reading the answers from the shipped content), then
/// "My progress".
fn whole_module_script(lang: &str) -> String {
    use baithak::dialogue::{Node, NodeRef};

    let content =
        baithak::content::load(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))).expect("content");
    let d = &content.dialogues;
    let module = "foundational-numeracy";
    let Some(Node::Lesson { parts, .. }) = d.node(&NodeRef::new(module, "lesson")) else {
        panic!("lesson node");
    };
    let language = if lang == "ur" { "2" } else { "1" };
    let mut lines = vec![
        language,
        "Amina Bibi",
        "1",
        "Kasur",
        "GGPS Chak 12",
        "3, 4",
        "2",
        "1",
        "lessons",
        "4",
        "1",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    lines.extend(std::iter::repeat_n("next".to_string(), parts.len() + 1));
    lines.push("The children loved the number line hopscotch.".into());
    let mut node = "q1".to_string();
    loop {
        let Some(Node::Quiz { options, next, .. }) = d.node(&NodeRef::new(module, &node)) else {
            panic!("quiz node {node}");
        };
        lines.push(
            (options
                .iter()
                .position(|o| o.correct)
                .expect("correct option")
                + 1)
            .to_string(),
        );
        if next.node == "result" {
            break;
        }
        node = next.node.clone();
    }
    lines.push(if lang == "ur" {
        "مینو".into()
    } else {
        "menu".into()
    });
    // "My progress" is the third choice of the main menu.
    lines.push("3".into());
    lines.join("\n") + "\n"
}

async fn whole_module_in_the_terminal(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    for (user, lang, passed, progress, certificate) in [
        (
            "t-en",
            "en",
            "🎉 Well done",
            "📊 *My progress*",
            "Certificate: *",
        ),
        ("t-ur", "ur", "🎉", "📊 *میری پیش رفت*", "سرٹیفکیٹ: *"),
    ] {
        let out = chat_in(
            env!("CARGO_MANIFEST_DIR"),
            &db,
            user,
            &[],
            &whole_module_script(lang),
        );

        assert!(
            !out.contains("Sorry, I did not understand"),
            "{lang}: every input was understood:\n{out}"
        );
        assert!(out.contains(passed), "{lang}: passed:\n{out}");
        let shown = out
            .split(progress)
            .nth(1)
            .unwrap_or_else(|| panic!("{lang}: progress shown:\n{out}"));
        assert!(shown.contains("100%"), "{lang}: {shown}");
        assert!(shown.contains(certificate), "{lang}: {shown}");
    }
}

#[tokio::test]
async fn a_teacher_completes_a_module_in_the_terminal_sqlite() {
    whole_module_in_the_terminal(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_teacher_completes_a_module_in_the_terminal_postgres() {
    whole_module_in_the_terminal(Backend::Postgres).await;
}
