//! The helpdesk as a teacher meets it in the web chat: a question answered from the knowledge
//! base, one that goes to an expert as a ticket, follow-ups joined to the ticket, and the
//! question log behind it all.

use baithak::clock::Clock;
use chrono::{TimeZone, Utc};

use crate::both_backends;
use crate::support::database::{Backend, TestDatabase};
use crate::support::{TestApp, WebTeacher, fixture_content, ticket_code};

/// Monday 23 November 2026, 10:00 in Karachi: office hours.
fn office_hours() -> Clock {
    Clock::manual(Utc.with_ymd_and_hms(2026, 11, 23, 5, 0, 0).unwrap())
}

/// Monday 23 November 2026, 20:00 in Karachi: the helpdesk is closed.
fn evening() -> Clock {
    Clock::manual(Utc.with_ymd_and_hms(2026, 11, 23, 15, 0, 0).unwrap())
}

async fn app(backend: Backend, clock: Clock) -> Option<TestApp> {
    let database = TestDatabase::create(backend).await?;
    Some(TestApp::spawn_with(database, fixture_content(), clock, |_| {}).await)
}

pub(crate) async fn onboard(teacher: &mut WebTeacher<'_>) {
    teacher.says("/start").await;
    teacher
        .expect_reply_containing("Choose your language")
        .await;
    teacher.taps("en").await;
    teacher.expect_reply_containing("What is your name").await;
    teacher.says("Ayesha Khan").await;
    teacher.expect_reply_containing("Which grades").await;
    teacher.says("3 and 4").await;
    teacher.expect_reply_containing("Agree?").await;
    teacher.says("haan").await;
    teacher.expect_reply_containing("Main menu").await;
}

async fn teacher_id(app: &TestApp, user: &str) -> i64 {
    app.teacher_id("web", user).await
}

both_backends! {
    async fn emoji_unknown_scripts_and_very_long_questions_get_sensible_replies(backend: Backend) {
        let Some(app) = app(backend, office_hours()).await else { return };
        let mut teacher = app.web_teacher("zeba");
        onboard(&mut teacher).await;

        // Nothing to search: at the menu, the menu again; nothing logged.
        teacher.says("😡 😡 😡 ??").await;
        teacher.expect_reply_containing("did not understand").await;
        teacher.expect_reply_containing("Main menu").await;

        // A very long question (a pasted essay) is searched and answered like any other.
        let long = "my class is too noisy and the children do not listen to me at all ".repeat(50);
        assert!(long.chars().count() > 3_000);
        teacher.says(&long).await;
        teacher.expect_reply_containing("Did this help?").await;
        teacher.taps("hd.yes").await;
        teacher.expect_reply_containing("Glad it helped").await;

        // Hindi in Devanagari: the knowledge base has no such script, so when in doubt a
        // person answers.
        teacher.says("मेरी कक्षा के बच्चे बहुत शोर करते हैं, मैं क्या करूँ").await;
        let opened = teacher.expect_reply_containing("HD-").await;
        let code = ticket_code(&opened);

        let id = teacher_id(&app, "zeba").await;
        let log = app.conversations.store().questions_of(id).await.expect("log");
        let outcomes: Vec<&str> = log.iter().map(|q| q.outcome.as_str()).collect();
        assert_eq!(outcomes, ["helped", "escalated"], "{log:?}");
        assert_eq!(log[0].body, long, "kept whole");
        assert_eq!(log[1].ticket.as_deref(), Some(code.as_str()));
        app.stop().await;
    }

    async fn a_question_in_the_middle_of_a_lesson_returns_to_the_same_part(backend: Backend) {
        let Some(app) = app(backend, office_hours()).await else { return };
        let mut teacher = app.web_teacher("lubna");
        onboard(&mut teacher).await;
        teacher.taps("lessons").await;
        teacher.expect_reply_containing("part 1 of 2").await;
        teacher.taps("next.1").await;
        teacher.expect_reply_containing("part 2 of 2").await;

        teacher.says("my class is too noisy, what do i do").await;
        teacher.expect_reply_containing("Did this help?").await;
        teacher.taps("hd.yes").await;
        teacher.expect_reply_containing("continue where you were").await;
        teacher.expect_reply_containing("part 2 of 2").await;
        teacher.says("next").await;
        teacher.expect_reply_containing("Use the signal tomorrow").await;

        // At the task too: back to the task, not to the start of the lesson.
        teacher.says("bachay shor bohat kartay hain").await;
        teacher.expect_reply_containing("Did this help?").await;
        teacher.taps("hd.yes").await;
        teacher.expect_reply_containing("continue where you were").await;
        teacher.expect_reply_containing("Use the signal tomorrow").await;
        app.stop().await;
    }

    async fn a_question_in_free_words_is_answered_from_the_knowledge_base(backend: Backend) {
        let Some(app) = app(backend, office_hours()).await else { return };
        let mut teacher = app.web_teacher("hina");
        onboard(&mut teacher).await;

        teacher.says("meri class mein bachay bohat shor machatay hain kya karun").await;
        let answer = teacher.expect_reply_containing("A noisy class").await;
        assert!(answer.contains("Did this help?"), "{answer}");
        let buttons: Vec<String> = teacher.buttons().into_iter().map(|(id, _)| id).collect();
        assert_eq!(buttons, ["hd.more", "hd.yes", "hd.no", "hd.expert"]);
        teacher.taps("hd.more").await;
        teacher.expect_reply_containing("Did this help?").await;
        teacher.taps("hd.yes").await;
        teacher.expect_reply_containing("Glad it helped").await;
        // Back where the teacher was.
        teacher.expect_reply_containing("Main menu").await;

        let id = teacher_id(&app, "hina").await;
        let log = app.conversations.store().questions_of(id).await.expect("log");
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].article.as_deref(), Some("noisy-class"));
        assert_eq!(log[0].topic.as_deref(), Some("behaviour-management"));
        assert_eq!(log[0].written, "roman_ur");
        assert_eq!(log[0].outcome, "helped");
        assert!(log[0].confidence > 0.0 && log[0].confidence <= 1.0);
        app.stop().await;
    }

    async fn not_helped_opens_a_ticket_and_follow_ups_join_it(backend: Backend) {
        let Some(app) = app(backend, office_hours()).await else { return };
        let mut teacher = app.web_teacher("sadia");
        onboard(&mut teacher).await;

        teacher.says("my class is too noisy, what do i do").await;
        teacher.expect_reply_containing("Did this help?").await;
        teacher.taps("hd.no").await;
        let opened = teacher.expect_reply_containing("HD-").await;
        assert!(opened.contains("24 hours"), "inside office hours: {opened}");
        let code = ticket_code(&opened);
        teacher.expect_reply_containing("Main menu").await;

        teacher.says("they are 85 children in grade 3 and the room is small").await;
        let added = teacher.expect_reply_containing(&code).await;
        assert!(added.contains("Added"), "{added}");

        let store = app.conversations.store();
        let ticket = store.ticket(&code).await.expect("ticket");
        assert_eq!(ticket.status, "open");
        assert_eq!(ticket.topic.as_deref(), Some("behaviour-management"));
        assert_eq!(ticket.suggested.as_deref(), Some("noisy-class"));
        assert_eq!(ticket.body, "my class is too noisy, what do i do");
        let messages = store.ticket_messages(&code).await.expect("messages");
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].author, "teacher");
        assert!(messages[0].body.contains("85 children"));
        let id = teacher_id(&app, "sadia").await;
        let log = store.questions_of(id).await.expect("log");
        assert_eq!(log.len(), 1, "a follow-up is not a new question");
        assert_eq!(log[0].outcome, "not_helped");
        assert_eq!(log[0].ticket.as_deref(), Some(code.as_str()));
        app.stop().await;
    }

    async fn outside_office_hours_the_teacher_is_told_when_the_helpdesk_opens(backend: Backend) {
        let Some(app) = app(backend, evening()).await else { return };
        let mut teacher = app.web_teacher("rubina");
        onboard(&mut teacher).await;

        // Nothing in the knowledge base is about this: straight to an expert.
        teacher.says("any chlorophyll photosynthesis experiment").await;
        let opened = teacher.expect_reply_containing("HD-").await;
        assert!(opened.contains("Tue 24 Nov 09:00"), "{opened}");
        let id = teacher_id(&app, "rubina").await;
        let log = app.conversations.store().questions_of(id).await.expect("log");
        assert_eq!(log[0].outcome, "escalated");
        app.stop().await;
    }

    async fn a_salary_question_is_routed_to_the_office_not_answered(backend: Backend) {
        let Some(app) = app(backend, office_hours()).await else { return };
        let mut teacher = app.web_teacher("nasreen");
        onboard(&mut teacher).await;

        teacher.says("salary nahi aayi 3 mahine se").await;
        let answer = teacher.expect_reply_containing("Salary, transfer").await;
        assert!(answer.contains("head teacher"), "{answer}");
        assert!(!answer.contains("Did this help?"), "{answer}");
        teacher.expect_reply_containing("Main menu").await;
        let id = teacher_id(&app, "nasreen").await;
        let log = app.conversations.store().questions_of(id).await.expect("log");
        assert_eq!(log[0].outcome, "out_of_scope");
        app.stop().await;
    }
}
