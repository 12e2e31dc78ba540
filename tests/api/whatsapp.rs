//! The WhatsApp webhook through its HTTP front door: Meta's handshake, signatures over the raw
//! bytes, every fixture payload, redeliveries, and teachers known by a business-scoped id or a
//! phone number that changes.

use std::time::Duration;

use baithak::channel::whatsapp::{WhatsAppSettings, signature};
use reqwest::StatusCode;

use crate::both_backends;
use crate::support::database::{Backend, TestDatabase};
use crate::support::{TestApp, fixture_content};

const SECRET: &str = "test_app_secret";
const DEADLINE: Duration = Duration::from_secs(15);

async fn app(backend: Backend) -> Option<TestApp> {
    let database = TestDatabase::create(backend).await?;
    Some(
        TestApp::spawn_configured(database, fixture_content(), |s| {
            s.whatsapp = Some(WhatsAppSettings {
                verify_token: "meatyhamhock".into(),
                app_secret: SECRET.into(),
                sending: None,
            });
        })
        .await,
    )
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/whatsapp/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// POSTs `body` to the webhook with `signature` (None: unsigned).
async fn post(app: &TestApp, body: &[u8], signature: Option<String>) -> StatusCode {
    let mut request = app
        .client
        .post(app.url("/whatsapp/webhook"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header(signature::HEADER, signature);
    }
    request.send().await.expect("request").status()
}

async fn deliver(app: &TestApp, body: &[u8]) -> StatusCode {
    post(app, body, Some(signature::sign(SECRET.as_bytes(), body))).await
}

/// Waits until the conversation `user` has at least `n` replies queued; returns them.
async fn replies(app: &TestApp, user: &str, n: usize) -> Vec<String> {
    let store = app.conversations.store();
    let mut commits = app.conversations.subscribe();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let rows = store
            .outbox_after("whatsapp", user, 0, 100)
            .await
            .expect("outbox");
        if rows.len() >= n {
            return rows.into_iter().map(|r| r.payload).collect();
        }
        tokio::time::timeout_at(deadline, commits.changed())
            .await
            .unwrap_or_else(|_| panic!("{n} replies for {user}: have {rows:?}"))
            .expect("alive");
    }
}

both_backends! {
    async fn the_subscription_handshake_echoes_the_challenge_only_for_our_token(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        let get = |token: &'static str| {
            app.client
                .get(app.url("/whatsapp/webhook"))
                .query(&[("hub.mode", "subscribe"), ("hub.challenge", "1158201444"), ("hub.verify_token", token)])
                .send()
        };
        let ok = get("meatyhamhock").await.expect("request");
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.text().await.expect("body"), "1158201444");
        assert_eq!(get("wrong").await.expect("request").status(), StatusCode::FORBIDDEN);
        app.stop().await;
    }

    async fn only_correctly_signed_bodies_are_stored(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        let raw = fixture("wa24_text_unicode_escaped_raw.json");
        let recorded = String::from_utf8(fixture("wa24_text_unicode_escaped_raw.sig.txt")).expect("utf-8");
        let header = recorded
            .lines()
            .find_map(|l| l.strip_prefix("X-Hub-Signature-256: "))
            .expect("signature line")
            .trim()
            .to_string();

        // Unsigned, wrongly signed, re-serialised: 401, nothing stored.
        assert_eq!(post(&app, &raw, None).await, StatusCode::UNAUTHORIZED);
        assert_eq!(post(&app, &raw, Some("sha256=00".into())).await, StatusCode::UNAUTHORIZED);
        let value: serde_json::Value = serde_json::from_slice(&raw).expect("JSON");
        let reserialised = serde_json::to_vec(&value).expect("JSON");
        assert_eq!(post(&app, &reserialised, Some(header.clone())).await, StatusCode::UNAUTHORIZED);
        let queued = app.conversations.store().outbox_after("whatsapp", "4915112345678", 0, 10).await.expect("outbox");
        assert!(queued.is_empty(), "nothing stored: {queued:?}");

        // Malformed JSON with a valid signature: 400.
        assert_eq!(deliver(&app, b"{not json").await, StatusCode::BAD_REQUEST);

        // Meta's exact bytes with Meta's signature: stored, and the teacher is answered.
        assert_eq!(post(&app, &raw, Some(header.clone())).await, StatusCode::OK);
        let first = replies(&app, "4915112345678", 1).await;
        // Delivered again (Meta retries): stored once, answered once.
        assert_eq!(post(&app, &raw, Some(header)).await, StatusCode::OK);
        let again = app.conversations.store().outbox_after("whatsapp", "4915112345678", 0, 100).await.expect("outbox");
        assert_eq!(again.len(), first.len(), "a redelivery is not processed twice");
        app.stop().await;
    }

    async fn every_fixture_payload_is_accepted_and_none_stalls_the_teacher(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/whatsapp");
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("fixtures")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("wa") && !n.starts_with("wa_resp") && n.ends_with(".json"))
            .collect();
        names.sort();
        assert!(names.len() >= 28, "{names:?}");
        for name in &names {
            assert_eq!(deliver(&app, &fixture(name)).await, StatusCode::OK, "{name}");
        }
        // An unknown message type and an unknown field: stored, skipped, 200.
        let unknown = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","contacts":[{"wa_id":"923001112233"}],"messages":[{"from":"923001112233","id":"wamid.NEW","timestamp":"1","type":"hologram","hologram":{},"surprise":1}]}},{"field":"account_update","value":{"event":"x"}}]}]}"#;
        assert_eq!(deliver(&app, unknown).await, StatusCode::OK);

        // After all that, a teacher still gets an answer to plain words.
        let hello = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","contacts":[{"profile":{"name":"Saba"},"wa_id":"923001112233"}],"messages":[{"from":"923001112233","id":"wamid.HELLO","timestamp":"2","type":"text","text":{"body":"hi"}}]}}]}]}"#;
        assert_eq!(deliver(&app, hello).await, StatusCode::OK);
        let answered = replies(&app, "923001112233", 1).await;
        assert!(answered.iter().any(|p| p.contains("language")), "{answered:?}");
        app.stop().await;
    }

    async fn a_teacher_is_known_by_a_business_scoped_id_and_keeps_her_conversation_across_numbers(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        let text = |from: Option<&str>, user_id: Option<&str>, id: &str, body: &str| {
            let mut contact = serde_json::json!({"profile": {"name": "Sheena"}});
            let mut message = serde_json::json!({"id": id, "timestamp": "1", "type": "text", "text": {"body": body}});
            if let Some(from) = from {
                contact["wa_id"] = from.into();
                message["from"] = from.into();
            }
            if let Some(user_id) = user_id {
                contact["user_id"] = user_id.into();
                message["from_user_id"] = user_id.into();
            }
            serde_json::to_vec(&serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp", "contacts": [contact], "messages": [message]}}]}]})).expect("JSON")
        };
        const BSUID: &str = "US.13491208655302741918";
        // First seen with both ids; the business-scoped one is the key.
        assert_eq!(deliver(&app, &text(Some("972987654321"), Some(BSUID), "wamid.A1", "/start")).await, StatusCode::OK);
        let n = replies(&app, BSUID, 1).await.len();
        // Then with the username only (no phone): the same conversation.
        assert_eq!(deliver(&app, &text(None, Some(BSUID), "wamid.A2", "/start")).await, StatusCode::OK);
        let after_username = replies(&app, BSUID, n + 1).await.len();
        // The number changes; later messages from the new number alone reach her conversation.
        let changed = fixture("wa18_system_user_changed_number_pywa.json");
        assert_eq!(deliver(&app, &changed).await, StatusCode::OK);
        assert_eq!(deliver(&app, &text(Some("972912345678"), None, "wamid.A3", "/start")).await, StatusCode::OK);
        replies(&app, BSUID, after_username + 1).await;
        let store = app.conversations.store();
        assert!(store.outbox_after("whatsapp", "972912345678", 0, 10).await.expect("outbox").is_empty());
        assert_eq!(
            store.send_address("whatsapp", BSUID).await.expect("address"),
            Some(("wa_id".to_string(), "972912345678".to_string())),
            "replies go to the new number"
        );
        app.stop().await;
    }
}
