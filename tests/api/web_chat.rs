//! The web chat as a teacher uses it: onboarding, lessons, quizzes, certificates, progress,
//! in English and Urdu, with bad input and restarts.

use std::path::Path;

use baithak::dialogue::{Node, NodeRef};
use serde_json::json;

use crate::both_backends;
use crate::support::database::copy_dir;
use crate::support::{TestApp, WebTeacher, fixture_content, new_id, shipped_content};

/// Onboards a teacher through the fixture content, tapping the language `lang`.
async fn onboard_fixture(teacher: &mut WebTeacher<'_>, lang: &str) {
    teacher.says("/start").await;
    teacher
        .expect_reply_containing("Choose your language")
        .await;
    teacher.taps(lang).await;
    let (name_q, grades_q, consent_q, menu) = match lang {
        "ur" => ("آپ کا نام", "جماعتیں", "متفق", "مین مینو"),
        _ => ("What is your name", "Which grades", "Agree?", "Main menu"),
    };
    teacher.expect_reply_containing(name_q).await;
    teacher.says("Ayesha Khan").await;
    teacher.expect_reply_containing(grades_q).await;
    teacher.says("۳ اور ۴").await;
    teacher.expect_reply_containing(consent_q).await;
    teacher.says("haan").await;
    teacher.expect_reply_containing(menu).await;
}

both_backends! {
    async fn a_teacher_completes_onboarding_a_lesson_and_its_quiz_and_sees_the_certificate(backend: Backend) {
        let Some(app) = TestApp::spawn(backend, fixture_content()).await else { return };
        let mut teacher = app.web_teacher("ayesha");

        onboard_fixture(&mut teacher, "en").await;
        teacher.taps("lessons").await;
        teacher.expect_reply_containing("part 1 of 2").await;
        teacher.taps("next.1").await;
        teacher.expect_reply_containing("part 2 of 2").await;
        teacher.says("next").await;
        teacher.expect_reply_containing("Use the signal tomorrow").await;
        teacher.taps("next.task").await;
        teacher.expect_reply_containing("What happened?").await;
        teacher.says("The children loved the clap signal.").await;
        teacher.expect_reply_containing("The class is noisy").await;
        teacher.says("2").await;
        teacher.expect_reply_containing("Correct").await;
        teacher.expect_reply_containing("How often").await;
        teacher.taps("q2.1").await;
        let passed = teacher.expect_reply_containing("Certificate").await;
        let code = passed.rsplit(' ').next().expect("code").to_string();
        teacher.expect_reply_containing("Main menu").await;
        teacher.taps("progress").await;
        let progress = teacher.expect_reply_containing("My progress").await;

        assert!(progress.contains("Demo module"), "{progress}");
        assert!(progress.contains("100%"), "{progress}");
        assert!(progress.contains(&code), "progress shows the certificate code {code}: {progress}");
        let store = app.conversations.store();
        let (name, module, _) = store.certificate(&code).await.expect("certificate stored");
        assert_eq!((name.as_deref(), module.as_str()), (Some("Ayesha Khan"), "demo"));
        app.stop().await;
    }

    async fn an_urdu_teacher_gets_urdu_replies_marked_right_to_left(backend: Backend) {
        let Some(app) = TestApp::spawn(backend, fixture_content()).await else { return };
        let mut teacher = app.web_teacher("nasreen");

        onboard_fixture(&mut teacher, "ur").await;
        teacher.taps("lessons").await;
        let part = teacher.expect_reply_containing("حصہ 1 از 2").await;

        assert!(part.contains("پہلا حصہ"), "{part}");
        let history = teacher.history().await;
        let last = history["messages"].as_array().expect("messages").last().expect("a message").clone();
        assert_eq!((last["lang"].as_str(), last["dir"].as_str()), (Some("ur"), Some("rtl")));
        app.stop().await;
    }

    async fn a_redelivered_message_is_processed_once(backend: Backend) {
        let Some(app) = TestApp::spawn(backend, fixture_content()).await else { return };
        let mut teacher = app.web_teacher("dup");
        teacher.says("/start").await;
        teacher.expect_reply_containing("Choose your language").await;
        let body = json!({ "user": "dup", "id": "same-id-1", "text": "English" });

        for _ in 0..3 {
            let response = app.client.post(app.url("/api/web/messages")).json(&body).send().await.expect("post");
            assert_eq!(response.status(), 202);
        }
        teacher.expect_reply_containing("What is your name").await;
        teacher.says("Zara").await;
        teacher.expect_reply_containing("Which grades").await;

        let asked_name = teacher.seen.iter().filter(|t| t.contains("What is your name")).count();
        assert_eq!(asked_name, 1, "the duplicate was ignored: {:?}", teacher.seen);
        app.stop().await;
    }

    async fn messages_of_one_conversation_are_processed_in_order(backend: Backend) {
        let Some(app) = TestApp::spawn(backend, fixture_content()).await else { return };
        let mut teacher = app.web_teacher("burst");

        // Sent back to back without waiting: the answers only make sense in this order.
        for text in ["/start", "English", "Rukhsana", "1, 2", "yes", "help"] {
            teacher.says(text).await;
        }
        teacher.expect_reply_containing("Help: type menu").await;

        let expected = ["Choose your language", "What is your name?", "Which grades", "Agree?", "Main menu", "Help"];
        assert_eq!(teacher.seen.len(), expected.len(), "{:?}", teacher.seen);
        for (seen, expected) in teacher.seen.iter().zip(expected) {
            assert!(seen.contains(expected), "{seen:?} should contain {expected:?}");
        }
        app.stop().await;
    }

    async fn bad_input_gets_a_clear_error_or_a_helpful_reprompt(backend: Backend) {
        let Some(app) = TestApp::spawn(backend, fixture_content()).await else { return };
        let mut teacher = app.web_teacher("odd");
        teacher.says("/start").await;
        teacher.expect_reply_containing("Choose your language").await;
        let post = |body: String| {
            app.client
                .post(app.url("/api/web/messages"))
                .header("content-type", "application/json")
                .body(body)
                .send()
        };

        let malformed = post("{not json".into()).await.expect("post");
        let no_user = post(json!({ "id": "x", "text": "hi" }).to_string()).await.expect("post");
        let bad_user = post(json!({ "user": "a b", "id": "x", "text": "hi" }).to_string()).await.expect("post");
        let both = post(json!({ "user": "odd", "id": "x", "choice": "a", "text": "hi" }).to_string()).await.expect("post");
        let huge = post(json!({ "user": "odd", "id": new_id(), "text": "x".repeat(30_000) }).to_string()).await.expect("post");
        let poll_without_user = app.client.get(app.url("/api/web/messages")).send().await.expect("get");

        assert_eq!(malformed.status(), 400);
        assert_eq!(no_user.status(), 400);
        assert_eq!(bad_user.status(), 400);
        assert_eq!(both.status(), 400);
        assert_eq!(huge.status(), 413);
        assert_eq!(poll_without_user.status(), 400);
        for odd in ["🙂🙂🙂", &"long message ".repeat(800), "\u{0}\u{7}", "  "] {
            teacher.says(odd).await;
            teacher.expect_reply_containing("Sorry, I did not understand").await;
        }
        teacher.taps("en").await;
        teacher.expect_reply_containing("What is your name").await;
        app.stop().await;
    }

    async fn a_tap_on_an_old_menu_reprompts_with_the_current_options(backend: Backend) {
        let Some(app) = TestApp::spawn(backend, fixture_content()).await else { return };
        let mut teacher = app.web_teacher("stale");
        onboard_fixture(&mut teacher, "en").await;
        teacher.taps("lessons").await;
        teacher.expect_reply_containing("part 1 of 2").await;

        let stale = json!({ "user": "stale", "id": new_id(), "choice": "language.ur", "label": "اردو" });
        app.client.post(app.url("/api/web/messages")).json(&stale).send().await.expect("post");
        teacher.expect_reply_containing("Sorry, I did not understand").await;
        let again = teacher.expect_reply_containing("part 1 of 2").await;

        assert!(again.contains("Part one"), "{again}");
        app.stop().await;
    }

    async fn a_restarted_server_resumes_the_conversation_where_it_was(backend: Backend) {
        let Some(app) = TestApp::spawn(backend, fixture_content()).await else { return };
        let mut teacher = app.web_teacher("restart");
        onboard_fixture(&mut teacher, "en").await;
        teacher.taps("lessons").await;
        teacher.expect_reply_containing("part 1 of 2").await;
        teacher.taps("next.1").await;
        teacher.expect_reply_containing("part 2 of 2").await;
        let database = app.stop().await;

        let app = TestApp::spawn_on(database, fixture_content()).await;
        let mut teacher = app.web_teacher("restart");
        teacher.says("next").await;

        teacher.expect_reply_containing("Use the signal tomorrow").await;
        app.stop().await;
    }

    async fn a_teacher_completes_a_shipped_module_in_english_and_in_urdu(backend: Backend) {
        let Some(app) = TestApp::spawn(backend, shipped_content()).await else { return };
        for (user, lang) in [("shipped-en", "en"), ("shipped-ur", "ur")] {
            let mut teacher = app.web_teacher(user);
            onboard_shipped(&mut teacher, lang).await;
            teacher.taps("lessons").await;
            teacher.expect_reply_containing("📚").await;
            teacher.taps("foundations").await;
            teacher.expect_reply_containing("*").await;
            teacher.taps("foundational-numeracy").await;
            let part_word = if lang == "ur" { "حصہ 1" } else { "part 1 of" };
            teacher.expect_reply_containing(part_word).await;

            complete_lesson_and_quiz(&mut teacher, "foundational-numeracy").await;

            teacher.says("menu").await;
            teacher.expect_reply_containing("🏠").await;
            teacher.taps("progress").await;
            let progress = teacher.expect_reply_containing("📊").await;
            let certificate_word = if lang == "ur" { "سرٹیفکیٹ" } else { "Certificate" };
            assert!(progress.contains(certificate_word), "{lang}: {progress}");
            assert!(progress.contains("100%"), "{lang}: {progress}");
        }
        app.stop().await;
    }
}

pub(crate) async fn onboard_shipped(teacher: &mut WebTeacher<'_>, lang: &str) {
    let urdu = lang == "ur";
    teacher.says("/start").await;
    teacher.expect_reply_containing("Which language").await;
    teacher.taps(lang).await;
    teacher
        .expect_reply_containing(if urdu {
            "آپ کا نام"
        } else {
            "What is your name"
        })
        .await;
    teacher.says("Nasreen Akhtar").await;
    teacher
        .expect_reply_containing(if urdu { "ذمہ داری" } else { "role" })
        .await;
    teacher.taps("teacher").await;
    teacher
        .expect_reply_containing(if urdu { "ضلع" } else { "district" })
        .await;
    teacher.says("Kasur").await;
    teacher
        .expect_reply_containing(if urdu {
            "اسکول کا نام"
        } else {
            "name of your school"
        })
        .await;
    teacher.says("GGPS Chak 12").await;
    teacher
        .expect_reply_containing(if urdu { "جماعتیں" } else { "grades" })
        .await;
    teacher.says("3, 4").await;
    teacher
        .expect_reply_containing(if urdu { "مضامین" } else { "subjects" })
        .await;
    teacher.taps("maths").await;
    teacher.expect_reply_containing("🔒").await;
    teacher.taps("agree").await;
    teacher.expect_reply_containing("🏠").await;
}

/// Taps Next through every part, the task and the reflection, then answers every quiz question
/// correctly (reading the right option from the shipped content) until the certificate.
async fn complete_lesson_and_quiz(teacher: &mut WebTeacher<'_>, module: &str) {
    let content = baithak::content::load(Path::new(env!("CARGO_MANIFEST_DIR")))
        .expect("shipped content loads");
    let dialogues = &content.dialogues;
    let Some(Node::Lesson { parts, .. }) = dialogues.node(&NodeRef::new(module, "lesson")) else {
        panic!("{module} has a lesson node");
    };
    for part in 1..parts.len() {
        teacher.taps(&format!("next.{part}")).await;
        teacher
            .expect_reply_containing(&format!("{}", part + 1))
            .await;
    }
    teacher.taps(&format!("next.{}", parts.len())).await;
    teacher.expect_reply_containing("✏️").await;
    teacher.taps("next.task").await;
    teacher.expect_reply_containing("💭").await;
    teacher
        .says("I tried guess my number with 70 children; they were excited.")
        .await;
    let mut node = "q1".to_string();
    loop {
        teacher.expect_reply_containing("❓").await;
        let Some(Node::Quiz { options, next, .. }) = dialogues.node(&NodeRef::new(module, &node))
        else {
            panic!("{module}/{node} is a quiz");
        };
        let right = options
            .iter()
            .position(|o| o.correct)
            .expect("a correct option")
            + 1;
        teacher.taps(&format!("{node}.{right}")).await;
        teacher.expect_reply_containing("✅").await;
        if next.node == "result" {
            break;
        }
        node = next.node.clone();
    }
    teacher.expect_reply_containing("🎉").await;
}

both_backends! {
    async fn edited_content_is_picked_up_without_a_restart_and_broken_edits_are_refused(backend: Backend) {
        let dir = tempfile::tempdir().expect("temp dir");
        copy_dir(&fixture_content(), dir.path());
        let Some(app) = TestApp::spawn(backend, dir.path().to_path_buf()).await else { return };
        let mut reloads = app.conversations.content().subscribe();
        let onboarding = dir.path().join("dialogues/onboarding.yaml");
        let original = std::fs::read_to_string(&onboarding).expect("read");
        let mut teacher = app.web_teacher("editor");
        teacher.says("/start").await;
        teacher.expect_reply_containing("Choose your language").await;

        replace_file(&onboarding, &original.replace("Choose your language", "Pick a language"));
        let (installed, _) = wait_for_reload(&mut reloads).await;
        teacher.says("/start").await;
        teacher.expect_reply_containing("Pick a language").await;
        replace_file(&onboarding, &original.replace("goto: ask_name", "goto: nowhere"));
        let (after_broken, refused) = wait_for_reload(&mut reloads).await;
        teacher.says("/start").await;

        teacher.expect_reply_containing("Pick a language").await;
        assert_eq!((installed, after_broken, refused), (1, 1, 1));
        app.stop().await;
    }
}

async fn wait_for_reload(reloads: &mut tokio::sync::watch::Receiver<(u64, u64)>) -> (u64, u64) {
    tokio::time::timeout(std::time::Duration::from_secs(20), reloads.changed())
        .await
        .expect("the content watcher noticed the edit")
        .expect("watcher alive");
    *reloads.borrow_and_update()
}

/// Replaces a file atomically, as an editor or `git pull` does, so the watcher never reads half.
fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}
