//! Every `Store` method, run once per backend: the guarantee that one SQL text behaves the
//! same on SQLite and PostgreSQL. PostgreSQL runs when `TEST_DATABASE_URL` is set (and must,
//! when `CI=true`).

#[path = "api/support/database.rs"]
mod database;

use baithak::store::{
    Attempt, Commit, LessonRecord, NewInbound, OutboundRecord, QuizAnswerRecord, Store, StoreError,
    TranscriptEntry,
};
use chrono::{Duration, TimeZone, Utc};

use database::{Backend, TestDatabase};

macro_rules! contract {
    ($(async fn $name:ident($store:ident: Store) $body:block)*) => {
        $(
            mod $name {
                use super::*;

                async fn run($store: Store) $body

                async fn on(backend: Backend) {
                    let Some(db) = TestDatabase::create(backend).await else { return };
                    let store = Store::open(&db.url, 4).await.expect("store opens and migrates");
                    run(store.clone()).await;
                    store.close().await;
                }

                #[tokio::test]
                async fn sqlite() {
                    on(Backend::Sqlite).await;
                }

                #[tokio::test]
                async fn postgres() {
                    on(Backend::Postgres).await;
                }
            }
        )*
    };
}

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0)
        .single()
        .expect("valid time")
}

fn inbound<'a>(external_id: &'a str, user: &'a str, payload: &'a str) -> NewInbound<'a> {
    NewInbound {
        channel: "web",
        external_id,
        channel_user: user,
        payload,
        received_at: t0(),
    }
}

contract! {
    async fn inbound_events_are_stored_once_per_channel_and_external_id(store: Store) {
        let first = store.record_inbound(&inbound("e1", "u1", "{}")).await.expect("insert");
        let again = store.record_inbound(&inbound("e1", "u1", "{}")).await.expect("insert");
        let other_channel = store
            .record_inbound(&NewInbound { channel: "terminal", ..inbound("e1", "u1", "{}") })
            .await
            .expect("insert");

        assert!(first.is_some());
        assert_eq!(again, None);
        assert!(other_channel.is_some());
    }

    async fn pending_events_come_back_in_arrival_order_until_processed(store: Store) {
        for (id, user) in [("a", "u1"), ("b", "u2"), ("c", "u1")] {
            store.record_inbound(&inbound(id, user, "{}")).await.expect("insert");
        }

        let all = store.pending_inbox(10).await.expect("pending");
        let mine = store.pending_for("web", "u1").await.expect("pending for u1");
        store.skip_inbound(mine[0].id, t0()).await.expect("skip");
        let after = store.pending_for("web", "u1").await.expect("pending for u1");

        let ids: Vec<&str> = all.iter().map(|e| e.external_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(mine.iter().map(|e| e.external_id.as_str()).collect::<Vec<_>>(), ["a", "c"]);
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].external_id, "c");
        assert_eq!(after[0].received_at, t0());
    }

    async fn failed_attempts_are_counted(store: Store) {
        let id = store.record_inbound(&inbound("f", "u", "{}")).await.expect("insert").expect("new");

        let first = store.fail_inbound(id).await.expect("count");
        let second = store.fail_inbound(id).await.expect("count");
        let missing = store.fail_inbound(id + 1000).await;

        assert_eq!((first, second), (1, 2));
        assert!(matches!(missing, Err(StoreError::NotFound)));
    }

    async fn a_conversation_is_created_on_first_contact_and_loaded_after(store: Store) {
        let created = store.load_conversation("web", "u1", r#"{"seed":7}"#, t0()).await.expect("load");
        let loaded = store.load_conversation("web", "u1", r#"{"seed":8}"#, t0()).await.expect("load");
        let other = store.load_conversation("web", "u2", "{}", t0()).await.expect("load");

        assert_eq!(created, loaded);
        assert_eq!(loaded.state, r#"{"seed":7}"#);
        assert_eq!(loaded.version, 0);
        assert_ne!(other.teacher_id, created.teacher_id);
    }

    async fn a_commit_writes_every_table_in_one_transaction(store: Store) {
        let inbox = store.record_inbound(&inbound("c1", "u1", "{}")).await.expect("insert").expect("new");
        let conv = store.load_conversation("web", "u1", "{}", t0()).await.expect("load");
        let commit = Commit {
            teacher_id: conv.teacher_id,
            version: conv.version,
            state: r#"{"lang":"ur"}"#.into(),
            profile_json: r#"{"name":"Ayesha"}"#.into(),
            profile: vec![("name".into(), "Ayesha".into()), ("grades".into(), "3, 4".into()), ("hobby".into(), "x".into())],
            language: "ur".into(),
            reachable: None,
            inbox_ids: vec![inbox],
            now: t0(),
            transcript: vec![
                TranscriptEntry { direction: "in", node: None, body: "hi".into() },
                TranscriptEntry { direction: "out", node: Some("main/menu".into()), body: "hello".into() },
            ],
            lessons: vec![LessonRecord { module: "feedback".into(), part: 2, parts: 4, done: false }],
            reflections: vec![("feedback".into(), "it went well".into())],
            answers: vec![QuizAnswerRecord { module: "feedback".into(), question: "q1".into(), chosen: 2, correct: true }],
            attempts: vec![Attempt { module: "feedback".into(), score: 4, max: 5, passed: true }],
            certificates: vec![("feedback".into(), "ABCD-EFGH".into(), Some("Ayesha".into()))],
            outbox: vec![OutboundRecord { channel: "web".into(), channel_user: "u1".into(), payload: "{}".into(), ticket: None }],
            ..Commit::default()
        };

        store.commit_step(&commit).await.expect("commit");
        let reloaded = store.load_conversation("web", "u1", "{}", t0()).await.expect("load");
        let counts = store.teacher_counts(conv.teacher_id).await.expect("counts");
        let profile = store.teacher_profile(conv.teacher_id).await.expect("profile");
        let (name, module, issued) = store.certificate("ABCD-EFGH").await.expect("certificate");

        assert_eq!((reloaded.state.as_str(), reloaded.version), (r#"{"lang":"ur"}"#, 1));
        assert_eq!(counts.transcript, 2);
        assert_eq!((counts.outbox, counts.quiz_answers, counts.quiz_attempts), (1, 1, 1));
        assert_eq!((counts.certificates, counts.lessons, counts.reflections), (1, 1, 1));
        assert_eq!(profile.name.as_deref(), Some("Ayesha"));
        assert_eq!(profile.grades.as_deref(), Some("3, 4"));
        assert_eq!(profile.language, "ur");
        assert_eq!((name.as_deref(), module.as_str(), issued), (Some("Ayesha"), "feedback", t0()));
        assert!(store.pending_inbox(10).await.expect("pending").is_empty(), "the event is done");
    }

    async fn a_stale_version_is_a_conflict_and_writes_nothing(store: Store) {
        let conv = store.load_conversation("web", "u1", "{}", t0()).await.expect("load");
        let base = Commit {
            teacher_id: conv.teacher_id,
            version: conv.version,
            state: "{\"n\":1}".into(),
            now: t0(),
            ..Commit::default()
        };
        store.commit_step(&base).await.expect("first commit");
        let stale = Commit {
            state: "{\"n\":2}".into(),
            transcript: vec![TranscriptEntry { direction: "in", node: None, body: "late".into() }],
            outbox: vec![OutboundRecord { channel: "web".into(), channel_user: "u1".into(), payload: "{}".into(), ticket: None }],
            ..base.clone()
        };

        let result = store.commit_step(&stale).await;
        let reloaded = store.load_conversation("web", "u1", "{}", t0()).await.expect("load");
        let counts = store.teacher_counts(conv.teacher_id).await.expect("counts");

        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
        assert_eq!(reloaded.state, "{\"n\":1}");
        assert_eq!((counts.transcript, counts.outbox), (0, 0), "the transaction rolled back");
    }

    async fn an_event_no_longer_pending_is_a_conflict_and_writes_nothing(store: Store) {
        // Another instance processed the event first (a worker that outlived its lease).
        let ids = store.record_inbound_many(&[inbound("e1", "u1", "{}")]).await.expect("stored");
        let event = ids[0].expect("new event");
        let conv = store.load_conversation("web", "u1", "{}", t0()).await.expect("load");
        store.skip_inbound(event, t0()).await.expect("processed elsewhere");
        let late = Commit {
            teacher_id: conv.teacher_id,
            version: conv.version,
            state: "{\"n\":1}".into(),
            now: t0(),
            inbox_ids: vec![event],
            transcript: vec![TranscriptEntry { direction: "in", node: None, body: "again".into() }],
            ..Commit::default()
        };

        let result = store.commit_step(&late).await;
        let reloaded = store.load_conversation("web", "u1", "{}", t0()).await.expect("load");
        let counts = store.teacher_counts(conv.teacher_id).await.expect("counts");

        assert!(matches!(result, Err(StoreError::Conflict)), "{result:?}");
        assert_eq!(reloaded.version, conv.version, "the state did not move");
        assert_eq!(counts.transcript, 0, "the transaction rolled back");
    }

    async fn a_lease_has_one_holder_until_it_expires_or_is_given_back(store: Store) {
        let names: Vec<String> = vec!["conversation:web:u1".into(), "conversation:web:u2".into()];
        let hour = Duration::hours(1);
        let a = store.take_leases(&names, "a", t0(), t0() + hour).await.expect("a takes");
        assert_eq!(a, names);
        // Held: b gets nothing, a renews.
        let b = store.take_leases(&names, "b", t0(), t0() + hour).await.expect("b asks");
        assert!(b.is_empty(), "{b:?}");
        assert!(store.take_lease(&names[0], "a", t0(), t0() + hour * 2).await.expect("renew"));
        // a gives one back; b takes it, and the other once it has expired.
        store.release_leases(&names[..1], "a").await.expect("release");
        let later = t0() + hour + Duration::minutes(1);
        let b = store.take_leases(&names, "b", later, later + hour).await.expect("b asks");
        assert_eq!(b, names, "one given back, one expired");
        assert_eq!(store.lease_holder(&names[1], later).await.expect("holder").as_deref(), Some("b"));
        // Releasing what one no longer holds changes nothing; shutting down gives back all.
        store.release_leases(&names, "a").await.expect("release");
        assert_eq!(store.lease_holder(&names[0], later).await.expect("holder").as_deref(), Some("b"));
        assert_eq!(store.release_all_leases("b").await.expect("release all"), 2);
        assert_eq!(store.lease_holder(&names[0], later).await.expect("holder"), None);
    }

    async fn lesson_progress_keeps_the_furthest_part_and_the_first_completion(store: Store) {
        let conv = store.load_conversation("web", "u1", "{}", t0()).await.expect("load");
        let steps = [(3, false, 0), (1, false, 1), (4, true, 2), (2, false, 3)];
        for (version, (part, done, minutes)) in (conv.version..).zip(steps) {
            let commit = Commit {
                teacher_id: conv.teacher_id,
                version,
                state: "{}".into(),
                now: t0() + Duration::minutes(minutes),
                lessons: vec![LessonRecord { module: "m".into(), part, parts: 4, done }],
                ..Commit::default()
            };
            store.commit_step(&commit).await.expect("commit");
        }

        let progress = store.lesson_progress(conv.teacher_id).await.expect("progress");

        assert_eq!(progress, [("m".to_string(), 4, 4, true)]);
    }

    async fn the_outbox_is_read_per_recipient_after_a_cursor_and_marked_sent(store: Store) {
        let a = store.load_conversation("web", "a", "{}", t0()).await.expect("load");
        let b = store.load_conversation("web", "b", "{}", t0()).await.expect("load");
        for (conv, user, n) in [(&a, "a", 3), (&b, "b", 2)] {
            let commit = Commit {
                teacher_id: conv.teacher_id,
                version: conv.version,
                state: "{}".into(),
                now: t0(),
                outbox: (0..n)
                    .map(|i| OutboundRecord { channel: "web".into(), channel_user: user.into(), payload: format!("{i}"), ticket: None })
                    .collect(),
                ..Commit::default()
            };
            store.commit_step(&commit).await.expect("commit");
        }

        let all_a = store.outbox_after("web", "a", 0, 100).await.expect("outbox");
        let after_first = store.outbox_after("web", "a", all_a[0].id, 100).await.expect("outbox");
        let marked = store.mark_sent_up_to("web", "a", all_a[1].id, t0()).await.expect("mark");
        let pending = store.pending_outbox("web", 100).await.expect("pending");

        assert_eq!(all_a.iter().map(|m| m.payload.as_str()).collect::<Vec<_>>(), ["0", "1", "2"]);
        assert_eq!(after_first.len(), 2);
        assert_eq!(marked, 2);
        let pending_users: Vec<&str> = pending.iter().map(|m| m.channel_user.as_str()).collect();
        assert_eq!(pending_users, ["a", "b", "b"]);
    }

    async fn many_inbound_events_are_stored_in_one_go_and_repeats_are_told_apart(store: Store) {
        store.record_inbound(&inbound("old", "u1", "{}")).await.expect("insert");
        let batch = [
            inbound("a", "u1", "{}"),
            inbound("old", "u1", "{}"),
            inbound("b", "u2", "{}"),
            inbound("a", "u1", "{}"),
        ];

        let ids = store.record_inbound_many(&batch).await.expect("insert many");

        let new: Vec<bool> = ids.iter().map(Option::is_some).collect();
        assert_eq!(new, [true, false, true, false]);
        let pending = store.pending_inbox(10).await.expect("pending");
        let order: Vec<&str> = pending.iter().map(|e| e.external_id.as_str()).collect();
        assert_eq!(order, ["old", "a", "b"]);
    }

    async fn many_conversations_load_at_once_creating_the_new_ones(store: Store) {
        let existing = store.load_conversation("web", "u1", r#"{"seed":1}"#, t0()).await.expect("load");
        let keys = vec![("web".to_string(), "u1".to_string()), ("web".to_string(), "u2".to_string())];

        let loaded = store.load_conversations(&keys, r#"{"seed":2}"#, t0()).await.expect("load many");
        let again = store.load_conversations(&keys, r#"{"seed":3}"#, t0()).await.expect("load many");

        assert_eq!(loaded[&keys[0]], existing);
        assert_eq!(loaded[&keys[1]].state, r#"{"seed":2}"#);
        assert_eq!(loaded, again);
    }

    async fn a_batch_commits_every_conversation_or_none(store: Store) {
        let a = store.load_conversation("web", "a", "{}", t0()).await.expect("load");
        let b = store.load_conversation("web", "b", "{}", t0()).await.expect("load");
        let ea = store.record_inbound(&inbound("ea", "a", "{}")).await.expect("insert").expect("new");
        let eb = store.record_inbound(&inbound("eb", "b", "{}")).await.expect("insert").expect("new");
        let commit = |conv: &baithak::store::Conversation, event: i64, user: &str| Commit {
            teacher_id: conv.teacher_id,
            version: conv.version,
            state: format!("{{\"user\":\"{user}\"}}"),
            inbox_ids: vec![event],
            now: t0(),
            transcript: vec![TranscriptEntry { direction: "in", node: None, body: user.into() }],
            lessons: vec![
                LessonRecord { module: "m".into(), part: 1, parts: 3, done: false },
                LessonRecord { module: "m".into(), part: 2, parts: 3, done: false },
            ],
            outbox: vec![OutboundRecord { channel: "web".into(), channel_user: user.into(), payload: "{}".into(), ticket: None }],
            ..Commit::default()
        };
        let stale_b = Commit { version: b.version + 7, ..commit(&b, eb, "b") };

        let refused = store.commit_batch(&[commit(&a, ea, "a"), stale_b]).await;
        let nothing = store.teacher_counts(a.teacher_id).await.expect("counts");
        store.commit_batch(&[commit(&a, ea, "a"), commit(&b, eb, "b")]).await.expect("batch");

        assert!(matches!(refused, Err(StoreError::Conflict)), "{refused:?}");
        assert_eq!((nothing.transcript, nothing.outbox), (0, 0), "the refused batch wrote nothing");
        for conv in [&a, &b] {
            let counts = store.teacher_counts(conv.teacher_id).await.expect("counts");
            assert_eq!((counts.transcript, counts.outbox, counts.lessons), (1, 1, 1));
            assert_eq!(store.lesson_progress(conv.teacher_id).await.expect("progress"), [("m".to_string(), 2, 3, false)]);
        }
        assert!(store.pending_inbox(10).await.expect("pending").is_empty());
    }

    async fn outbox_messages_are_marked_sent_by_id(store: Store) {
        let conv = store.load_conversation("web", "a", "{}", t0()).await.expect("load");
        let commit = Commit {
            teacher_id: conv.teacher_id,
            version: conv.version,
            state: "{}".into(),
            now: t0(),
            outbox: (0..3)
                .map(|i| OutboundRecord { channel: "web".into(), channel_user: "a".into(), payload: format!("{i}"), ticket: None })
                .collect(),
            ..Commit::default()
        };
        store.commit_step(&commit).await.expect("commit");
        let all = store.pending_outbox("web", 10).await.expect("pending");

        let marked = store.mark_sent(&[all[0].id, all[2].id], t0()).await.expect("mark");
        let again = store.mark_sent(&[all[0].id], t0()).await.expect("mark");
        let left = store.pending_outbox("web", 10).await.expect("pending");

        assert_eq!((marked, again), (2, 0));
        assert_eq!(left.iter().map(|m| m.payload.as_str()).collect::<Vec<_>>(), ["1"]);
    }

    async fn an_unknown_certificate_code_is_not_found(store: Store) {
        let result = store.certificate("NOPE-NOPE").await;

        assert!(matches!(result, Err(StoreError::NotFound)));
        store.ping().await.expect("ping");
    }
}

#[tokio::test]
async fn an_unsupported_database_url_is_a_clear_error() {
    let result = Store::open("mysql://localhost/x", 1).await;

    let err = result.expect_err("mysql is not supported");
    assert!(
        err.to_string()
            .contains("expected sqlite://… or postgres://…"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_database_is_a_clear_error_at_start() {
    let result = Store::open("postgres://nobody@127.0.0.1:1/none?connect_timeout=2", 1).await;

    let err = result.expect_err("nothing listens on port 1");
    assert_eq!(err.to_string(), "cannot open the database");
}

#[test]
fn both_backends_have_the_same_migration_files() {
    let names = |dir: &str| {
        let mut names: Vec<String> =
            std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
                .expect("migrations folder")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect();
        names.sort();
        names
    };

    let sqlite = names("sqlite");

    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, names("postgres"));
}
