//! The fake WhatsApp Cloud API answers like Meta's Graph API (the error envelopes compared with
//! the captured ones in `tests/fixtures/whatsapp/`), keeps the 24-hour window on a manual clock,
//! and posts webhooks the way Meta does: escaped, signed over the exact bytes, in order per
//! user, redelivered until a `200`. Everything is driven over HTTP with reqwest, with a small
//! axum receiver that checks signatures with `verify_slice`. No test sleeps to wait: waits are
//! bounded waits on conditions or channels.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use baithak::clock::Clock;
use baithak::testkit::whatsapp::{
    ErrorTiming, FakeWhatsApp, FakeWhatsAppOptions, Fault, MediaKind, SendOutcome, StatusMode,
    Tamper, WaStatus, WaUser, WindowMode,
};
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio::time::{Instant, timeout};

/// Long enough for a loaded CI machine, short enough to fail fast.
const WAIT: Duration = Duration::from_secs(10);
const SECRET: &str = "test_app_secret";

// ---- harness -------------------------------------------------------------------------------------

async fn start() -> FakeWhatsApp {
    start_with(|_| {}).await
}

async fn start_with(configure: impl FnOnce(&mut FakeWhatsAppOptions)) -> FakeWhatsApp {
    let mut options = FakeWhatsAppOptions {
        webhook_backoff_base: Duration::from_millis(5),
        status_delay: Duration::ZERO,
        statuses: StatusMode::None,
        ..FakeWhatsAppOptions::default()
    };
    configure(&mut options);
    FakeWhatsApp::start(options)
        .await
        .expect("fake whatsapp starts")
}

fn manual_clock() -> Clock {
    let start = DateTime::parse_from_rfc3339("2026-09-01T09:00:00Z")
        .expect("date")
        .with_timezone(&Utc);
    Clock::manual(start)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("http client")
}

/// One HTTP answer of the fake.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    /// The wamid of an accepted send.
    fn wamid(&self) -> String {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "expected success, got {self:?}"
        );
        self.body["messages"][0]["id"]
            .as_str()
            .expect("a wamid")
            .to_owned()
    }

    /// A Graph error with this HTTP status, code and exact message.
    fn assert_error(&self, status: u16, code: i64, message: &str) {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        assert_eq!(self.body["error"]["code"], code, "{self:?}");
        assert_eq!(self.body["error"]["message"], message, "{self:?}");
        assert!(self.body["error"]["fbtrace_id"].is_string(), "{self:?}");
    }

    /// A 131009/131008-style error with these details.
    fn assert_details(&self, code: i64, details: &str) {
        assert_eq!(self.status.as_u16(), 400, "{self:?}");
        assert_eq!(self.body["error"]["code"], code, "{self:?}");
        assert_eq!(
            self.body["error"]["error_data"]["details"], details,
            "{self:?}"
        );
        assert_eq!(
            self.body["error"]["error_data"]["messaging_product"],
            "whatsapp"
        );
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        headers,
        body,
    }
}

/// `POST {messages_url}` with the right token.
async fn post(whatsapp: &FakeWhatsApp, body: Value) -> Answer {
    let response = client()
        .post(whatsapp.messages_url())
        .bearer_auth(whatsapp.token())
        .json(&body)
        .send()
        .await
        .expect("fake answers");
    answer(response).await
}

fn text_to(to: &str, body: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": { "body": body },
    })
}

fn buttons_to(to: &str, buttons: &[(&str, &str)]) -> Value {
    let buttons: Vec<Value> = buttons
        .iter()
        .map(|(id, title)| json!({ "type": "reply", "reply": { "id": id, "title": title } }))
        .collect();
    json!({
        "messaging_product": "whatsapp",
        "to": to,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": { "text": "Which class?" },
            "action": { "buttons": buttons },
        },
    })
}

fn list_to(to: &str, sections: Value) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "to": to,
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": { "text": "Pick a topic" },
            "action": { "button": "Topics", "sections": sections },
        },
    })
}

fn rows(count: usize, prefix: &str) -> Value {
    (0..count)
        .map(|n| json!({ "id": format!("{prefix}{n}"), "title": format!("Row {prefix}{n}") }))
        .collect()
}

fn template_to(to: &str, name: &str, language: &str, parameters: &[&str]) -> Value {
    let parameters: Vec<Value> = parameters
        .iter()
        .map(|text| json!({ "type": "text", "text": text }))
        .collect();
    json!({
        "messaging_product": "whatsapp",
        "to": to,
        "type": "template",
        "template": {
            "name": name,
            "language": { "code": language },
            "components": [{ "type": "body", "parameters": parameters }],
        },
    })
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/whatsapp")
}

fn fixture_text(name: &str) -> String {
    let path = fixtures_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture(name: &str) -> Value {
    serde_json::from_str(&fixture_text(name)).expect("fixture is JSON")
}

fn without_trace(mut body: Value) -> Value {
    if let Some(error) = body["error"].as_object_mut() {
        error.remove("fbtrace_id");
    }
    body
}

/// A user who has written, so their window is open.
fn written_user(whatsapp: &FakeWhatsApp, wa_id: &str, name: &str) -> WaUser {
    let user = whatsapp.add_user(wa_id, name);
    whatsapp.send_text(&user, "Hello").expect("user writes");
    user
}

// ---- a webhook receiver ------------------------------------------------------------------------------

/// One webhook POST received.
#[derive(Debug)]
struct Hit {
    raw: Bytes,
    json: Value,
    signature: Option<String>,
    /// The signature verified over the exact bytes with the app secret.
    valid: bool,
    at: Instant,
}

impl Hit {
    fn value(&self) -> &Value {
        &self.json["entry"][0]["changes"][0]["value"]
    }

    fn message(&self) -> &Value {
        &self.value()["messages"][0]
    }

    fn status(&self) -> &Value {
        &self.value()["statuses"][0]
    }
}

type Reply = Pin<Box<dyn Future<Output = StatusCode> + Send>>;

fn verify(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_digest) = header.and_then(|h| h.strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Serves `/hook`: POSTs with a bad signature get 401; the others get what
/// `respond(body, valid_attempt_number)` says. `GET /hook` answers the subscription handshake for
/// verify token `meatyhamhock`.
async fn receiver(
    respond: impl Fn(Value, usize) -> Reply + Send + Sync + 'static,
) -> (String, mpsc::UnboundedReceiver<Hit>) {
    let (sender, hits) = mpsc::unbounded_channel();
    let attempts = Arc::new(AtomicUsize::new(0));
    let respond = Arc::new(respond);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, raw: Bytes| {
            let sender = sender.clone();
            let respond = respond.clone();
            let attempts = attempts.clone();
            async move {
                let signature = headers
                    .get("x-hub-signature-256")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let valid = verify(SECRET, &raw, signature.as_deref());
                let json = serde_json::from_slice(&raw).unwrap_or(Value::Null);
                let _ = sender.send(Hit {
                    raw: raw.clone(),
                    json: json.clone(),
                    signature,
                    valid,
                    at: Instant::now(),
                });
                if !valid {
                    return StatusCode::UNAUTHORIZED;
                }
                let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
                respond(json, attempt).await
            }
        })
        .get(|Query(query): Query<Vec<(String, String)>>| async move {
            let get = |key: &str| {
                query
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            if get("hub.mode") == "subscribe" && get("hub.verify_token") == "meatyhamhock" {
                (StatusCode::OK, get("hub.challenge"))
            } else {
                (StatusCode::FORBIDDEN, String::new())
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, hits)
}

async fn ok_receiver() -> (String, mpsc::UnboundedReceiver<Hit>) {
    receiver(|_, _| Box::pin(async { StatusCode::OK })).await
}

async fn next_hit(hits: &mut mpsc::UnboundedReceiver<Hit>) -> Hit {
    timeout(WAIT, hits.recv())
        .await
        .expect("a webhook POST arrives in time")
        .expect("receiver alive")
}

/// A fake with its webhook pointing at an always-200 receiver.
async fn start_hooked(
    configure: impl FnOnce(&mut FakeWhatsAppOptions),
) -> (FakeWhatsApp, mpsc::UnboundedReceiver<Hit>) {
    let (url, hits) = ok_receiver().await;
    let whatsapp = start_with(|options| {
        options.webhook_url = Some(url);
        configure(options);
    })
    .await;
    (whatsapp, hits)
}

// ---- sending ------------------------------------------------------------------------------------------

#[tokio::test]
async fn accepted_sends_answer_like_meta_and_are_recorded() {
    let whatsapp = start().await;
    let sheena = written_user(&whatsapp, "16505551234", "Sheena Nelson");

    let sent = post(&whatsapp, text_to("+16505551234", "Welcome!")).await;
    let wamid = sent.wamid();

    let expected = fixture("wa_resp_send_accepted.json");
    assert_eq!(
        sent.body["messaging_product"],
        expected["messaging_product"]
    );
    assert_eq!(
        sent.body["contacts"], expected["contacts"],
        "input echoed, wa_id normalised"
    );
    assert_eq!(sent.body["messages"][0]["message_status"], "accepted");
    assert!(wamid.starts_with("wamid.HBgL"), "{wamid}");
    let records = whatsapp.sent_to(sheena.address());
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].text.as_deref(), Some("Welcome!"));
    assert_eq!(records[0].wamid.as_deref(), Some(wamid.as_str()));
    assert_eq!(records[0].outcome, SendOutcome::Accepted);
    assert_eq!(
        sent.headers["content-type"],
        "application/json; charset=UTF-8"
    );

    // Any version works, and so does an unversioned path.
    for version in ["v26.0/", ""] {
        let url = format!(
            "{}/{version}{}/messages",
            whatsapp.graph_url(),
            whatsapp.phone_number_id()
        );
        let response = client()
            .post(url)
            .bearer_auth(whatsapp.token())
            .json(&text_to("16505551234", "again"))
            .send()
            .await
            .expect("answer");
        answer(response).await.wamid();
    }
    let logged = whatsapp.requests_to("/messages");
    assert_eq!(logged.len(), 3);
    assert!(logged.iter().all(|r| r.authorized && r.status == Some(200)));
    assert_eq!(
        logged[0].path,
        format!("/v23.0/{}/messages", whatsapp.phone_number_id())
    );
}

#[tokio::test]
async fn tokens_are_checked_and_can_expire() {
    let whatsapp = start().await;
    written_user(&whatsapp, "16505551234", "Sheena");
    let body = text_to("16505551234", "hi");

    let missing = answer(
        client()
            .post(whatsapp.messages_url())
            .json(&body)
            .send()
            .await
            .expect("answer"),
    )
    .await;
    missing.assert_error(
        401,
        190,
        "Invalid OAuth access token - Cannot parse access token",
    );
    assert!(missing.headers.contains_key("www-authenticate"));

    let wrong = answer(
        client()
            .post(whatsapp.messages_url())
            .bearer_auth("EAAnotTheToken")
            .json(&body)
            .send()
            .await
            .expect("answer"),
    )
    .await;
    wrong.assert_error(
        401,
        190,
        "Invalid OAuth access token - Cannot parse access token",
    );

    let by_query = answer(
        client()
            .post(format!(
                "{}?access_token={}",
                whatsapp.messages_url(),
                whatsapp.token()
            ))
            .json(&body)
            .send()
            .await
            .expect("answer"),
    )
    .await;
    by_query.wamid();

    whatsapp.expire_token();
    let expired = post(&whatsapp, body.clone()).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        without_trace(expired.body),
        without_trace(fixture("wa_resp_error_190_token_expired.json"))
    );

    whatsapp.set_token("EAArotated");
    let rotated = answer(
        client()
            .post(whatsapp.messages_url())
            .bearer_auth("EAArotated")
            .json(&body)
            .send()
            .await
            .expect("answer"),
    )
    .await;
    rotated.wamid();
    let unauthorized: Vec<_> = whatsapp
        .requests()
        .into_iter()
        .filter(|r| !r.authorized)
        .collect();
    assert_eq!(unauthorized.len(), 3, "refused calls are logged too");
    assert!(
        whatsapp.sent_to("16505551234").len() == 2,
        "only authorised sends count"
    );
}

#[tokio::test]
async fn an_unknown_phone_number_id_is_error_100() {
    let whatsapp = start().await;
    let response = client()
        .post(format!("{}/v23.0/999999/messages", whatsapp.graph_url()))
        .bearer_auth(whatsapp.token())
        .json(&text_to("16505551234", "hi"))
        .send()
        .await
        .expect("answer");
    let unknown = answer(response).await;
    unknown.assert_error(
        400,
        100,
        "Unsupported post request. Object with ID '999999' does not exist, cannot be loaded due \
         to missing permissions, or does not support this operation. Please read the Graph API \
         documentation at https://developers.facebook.com/docs/graph-api",
    );
    assert_eq!(unknown.body["error"]["type"], "GraphMethodException");
    assert_eq!(unknown.body["error"]["error_subcode"], 33);
}

#[tokio::test]
async fn the_request_shape_and_text_limits_are_validated() {
    let whatsapp = start().await;
    let asha = written_user(&whatsapp, "923001234567", "Asha");
    let to = asha.address();

    let mut no_product = text_to(to, "hi");
    no_product["messaging_product"] = json!(null);
    post(&whatsapp, no_product).await.assert_error(
        400,
        100,
        "(#100) The parameter messaging_product is required.",
    );
    let mut wrong_product = text_to(to, "hi");
    wrong_product["messaging_product"] = json!("telegram");
    post(&whatsapp, wrong_product).await.assert_error(
        400,
        100,
        "(#100) The parameter messaging_product is required.",
    );

    let mut no_to = text_to(to, "hi");
    no_to["to"] = json!(null);
    post(&whatsapp, no_to)
        .await
        .assert_error(400, 100, "(#100) The parameter to is required.");

    post(&whatsapp, text_to(to, "")).await.assert_error(
        400,
        100,
        "(#100) The parameter text['body'] is required.",
    );
    post(&whatsapp, text_to(to, &"a".repeat(4097)))
        .await
        .assert_error(
            400,
            100,
            "(#100) Param text['body'] must be at most 4096 characters long.",
        );
    let mut not_a_string = text_to(to, "x");
    not_a_string["text"]["body"] = json!(42);
    post(&whatsapp, not_a_string).await.assert_error(
        400,
        100,
        "(#100) Param text['body'] must be a string.",
    );
    let mut unknown_type = text_to(to, "x");
    unknown_type["type"] = json!("hologram");
    let unknown = post(&whatsapp, unknown_type).await;
    assert_eq!(unknown.body["error"]["code"], 100);

    // 4096 characters pass even when they are 8192 bytes; `type` defaults to text.
    post(&whatsapp, text_to(to, &"ç".repeat(4096)))
        .await
        .wamid();
    let mut untyped = text_to(to, "no type");
    untyped.as_object_mut().expect("object").remove("type");
    post(&whatsapp, untyped).await.wamid();

    let records = whatsapp.sent_to(to);
    let refused = records.iter().filter(|r| !r.is_accepted()).count();
    assert_eq!(
        refused, 6,
        "refusals naming the user are recorded: {records:#?}"
    );
    assert_eq!(records.iter().filter(|r| r.is_accepted()).count(), 2);
    assert_eq!(records[0].error_code(), Some(100));
}

#[tokio::test]
async fn reply_buttons_are_validated_like_meta() {
    let whatsapp = start().await;
    let to = written_user(&whatsapp, "923001234567", "Asha")
        .address()
        .to_owned();
    let count_error = "Invalid buttons count. Min allowed buttons: 1, Max allowed buttons: 3";

    post(&whatsapp, buttons_to(&to, &[]))
        .await
        .assert_details(131_009, count_error);
    post(
        &whatsapp,
        buttons_to(&to, &[("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")]),
    )
    .await
    .assert_details(131_009, count_error);

    let long_title = post(&whatsapp, buttons_to(&to, &[("a", &"T".repeat(21))])).await;
    assert_eq!(
        without_trace(long_title.body),
        without_trace(fixture("wa_resp_error_131009_button_title.json"))
    );
    post(&whatsapp, buttons_to(&to, &[("a", "")]))
        .await
        .assert_details(
            131_009,
            "Button title length invalid. Min length: 1, Max length: 20",
        );
    post(&whatsapp, buttons_to(&to, &[(&"i".repeat(257), "A")]))
        .await
        .assert_details(
            131_009,
            "Button ID length invalid. Min length: 1, Max length: 256",
        );
    post(&whatsapp, buttons_to(&to, &[("a", "Same"), ("b", "Same")]))
        .await
        .assert_details(131_009, "Button titles must be unique");
    post(&whatsapp, buttons_to(&to, &[("a", "One"), ("a", "Two")]))
        .await
        .assert_details(131_009, "Button IDs must be unique");
    let mut long_body = buttons_to(&to, &[("a", "A")]);
    long_body["interactive"]["body"]["text"] = json!("b".repeat(1025));
    post(&whatsapp, long_body).await.assert_details(
        131_009,
        "Body text length invalid. Min length: 1, Max length: 1024",
    );
    let mut long_footer = buttons_to(&to, &[("a", "A")]);
    long_footer["interactive"]["footer"] = json!({ "text": "f".repeat(61) });
    post(&whatsapp, long_footer).await.assert_details(
        131_009,
        "Footer text length invalid. Min length: 1, Max length: 60",
    );

    let twenty = "ç".repeat(20);
    let ok = post(
        &whatsapp,
        buttons_to(
            &to,
            &[
                ("class:6", "Class 6"),
                ("class:7", &twenty),
                (&"i".repeat(256), "C"),
            ],
        ),
    )
    .await;
    let wamid = ok.wamid();
    let record = whatsapp
        .wait_for(&to, |m| m.wamid.as_deref() == Some(&wamid), WAIT)
        .await
        .expect("recorded");
    assert_eq!(record.interactive_type.as_deref(), Some("button"));
    assert_eq!(record.text.as_deref(), Some("Which class?"));
    assert_eq!(record.buttons.len(), 3);
    assert_eq!(record.button_id("Class 6"), Some("class:6"));
}

#[tokio::test]
async fn list_messages_are_validated_like_meta() {
    let whatsapp = start().await;
    let to = written_user(&whatsapp, "923001234567", "Asha")
        .address()
        .to_owned();

    let eleven = json!([
        { "title": "Grading", "rows": rows(6, "g") },
        { "title": "Portal", "rows": rows(5, "p") },
    ]);
    post(&whatsapp, list_to(&to, eleven))
        .await
        .assert_details(131_009, "Total row count exceed max allowed count: 10");
    let long_row = json!([{ "title": "S", "rows": [{ "id": "r", "title": "R".repeat(25) }] }]);
    post(&whatsapp, list_to(&to, long_row))
        .await
        .assert_details(131_009, "Row title is too long. Max length is 24");
    let long_description =
        json!([{ "rows": [{ "id": "r", "title": "R", "description": "d".repeat(73) }] }]);
    post(&whatsapp, list_to(&to, long_description))
        .await
        .assert_details(131_009, "Row description is too long. Max length is 72");
    let long_id = json!([{ "rows": [{ "id": "i".repeat(201), "title": "R" }] }]);
    post(&whatsapp, list_to(&to, long_id))
        .await
        .assert_details(131_009, "Row ID is too long. Max length is 200");
    let untitled = json!([{ "rows": rows(1, "a") }, { "rows": rows(1, "b") }]);
    post(&whatsapp, list_to(&to, untitled))
        .await
        .assert_details(
            131_008,
            "Section title is required when a list has more than one section",
        );
    let long_section = json!([{ "title": "S".repeat(25), "rows": rows(1, "a") }]);
    post(&whatsapp, list_to(&to, long_section))
        .await
        .assert_details(131_009, "Section title is too long. Max length is 24");
    let mut long_button = list_to(&to, json!([{ "rows": rows(1, "a") }]));
    long_button["interactive"]["action"]["button"] = json!("B".repeat(21));
    post(&whatsapp, long_button).await.assert_details(
        131_009,
        "Button text length invalid. Min length: 1, Max length: 20",
    );

    let ten = json!([
        { "title": "Grading", "rows": rows(5, "g") },
        { "title": "Portal", "rows": [
            { "id": "p0", "title": "Password reset", "description": "d".repeat(72) },
            { "id": "p1", "title": "R".repeat(24) }, { "id": "p2", "title": "x" },
            { "id": "p3", "title": "y" }, { "id": "p4", "title": "z" },
        ] },
    ]);
    let wamid = post(&whatsapp, list_to(&to, ten)).await.wamid();
    let record = whatsapp
        .wait_for(&to, |m| m.wamid.as_deref() == Some(&wamid), WAIT)
        .await
        .expect("recorded");
    assert_eq!(record.rows.len(), 10);
    assert_eq!(record.list_button.as_deref(), Some("Topics"));
    assert_eq!(record.rows[5].section.as_deref(), Some("Portal"));
    assert_eq!(record.rows[5].title, "Password reset");
}

#[tokio::test]
async fn templates_must_be_approved_and_pass_outside_the_window() {
    let whatsapp = start().await;
    let never_wrote = whatsapp.add_user("923001234567", "Asha");
    let to = never_wrote.address();

    let unknown = post(
        &whatsapp,
        template_to(to, "cpd_reminder", "en_US", &["Asha"]),
    )
    .await;
    unknown.assert_error(
        400,
        132_001,
        "(#132001) Template name does not exist in the translation",
    );
    assert_eq!(
        unknown.body["error"]["error_data"]["details"],
        "template name (cpd_reminder) does not exist in en_US"
    );

    whatsapp.approve_template("cpd_reminder", "en_US");
    post(&whatsapp, template_to(to, "cpd_reminder", "ur", &[]))
        .await
        .assert_error(
            400,
            132_001,
            "(#132001) Template name does not exist in the translation",
        );
    let wamid = post(
        &whatsapp,
        template_to(to, "cpd_reminder", "en_US", &["Asha"]),
    )
    .await
    .wamid();
    post(&whatsapp, text_to(to, "free-form"))
        .await
        .assert_error(400, 131_047, "(#131047) Re-engagement message");

    whatsapp.approve_template_with_params("certificate_ready", "en", 2);
    let mismatch = post(
        &whatsapp,
        template_to(to, "certificate_ready", "en", &["Asha"]),
    )
    .await;
    mismatch.assert_details(
        132_000,
        "body: number of localizable_params (1) does not match the expected number of params (2)",
    );
    post(
        &whatsapp,
        template_to(to, "certificate_ready", "en", &["Asha", "CPD 101"]),
    )
    .await
    .wamid();

    let record = whatsapp
        .wait_for(to, |m| m.wamid.as_deref() == Some(&wamid), WAIT)
        .await
        .expect("recorded");
    let template = record.template.expect("a template");
    assert_eq!(template.name, "cpd_reminder");
    assert_eq!(template.language, "en_US");
    assert_eq!(template.parameters, vec!["Asha".to_owned()]);
}

// ---- the 24-hour window --------------------------------------------------------------------------

#[tokio::test]
async fn the_window_closes_24_hours_after_the_users_last_message() {
    let clock = manual_clock();
    let whatsapp = start_with(|options| options.clock = clock.clone()).await;
    whatsapp.approve_template("follow_up", "en");
    let asha = whatsapp.add_user("923001234567", "Asha");
    let to = asha.address();

    let never = post(&whatsapp, text_to(to, "hi")).await;
    assert_eq!(
        without_trace(never.body),
        without_trace(fixture("wa_resp_error_131047_reengagement.json")),
        "a user who never wrote is outside the window"
    );

    whatsapp.send_text(&asha, "Hello").expect("writes");
    post(&whatsapp, text_to(to, "in the window")).await.wamid();
    whatsapp.advance_clock(chrono::Duration::hours(24) - chrono::Duration::seconds(1));
    post(&whatsapp, text_to(to, "just in time")).await.wamid();
    whatsapp.advance_clock(chrono::Duration::seconds(1));
    let closed = post(&whatsapp, text_to(to, "too late")).await;
    assert_eq!(closed.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        without_trace(closed.body),
        without_trace(fixture("wa_resp_error_131047_reengagement.json"))
    );
    let mut reaction = text_to(to, "");
    reaction["type"] = json!("reaction");
    reaction["reaction"] = json!({ "message_id": "wamid.X", "emoji": "👍" });
    post(&whatsapp, reaction)
        .await
        .assert_error(400, 131_047, "(#131047) Re-engagement message");
    post(&whatsapp, template_to(to, "follow_up", "en", &[]))
        .await
        .wamid();

    whatsapp.send_text(&asha, "I'm back").expect("writes again");
    post(&whatsapp, text_to(to, "welcome back")).await.wamid();
}

#[tokio::test]
async fn outside_the_window_a_send_can_be_accepted_then_fail_like_wa14b() {
    let clock = manual_clock();
    let (whatsapp, mut hits) = start_hooked(|options| {
        options.clock = clock.clone();
        options.window_errors = WindowMode::LaterStatus;
        options.statuses = StatusMode::SentDeliveredRead;
    })
    .await;
    let asha = whatsapp.add_user("16505551234", "Asha");
    whatsapp.send_text(&asha, "Hello").expect("writes");
    next_hit(&mut hits).await;
    whatsapp.advance_clock(chrono::Duration::hours(25));

    let wamid = post(&whatsapp, text_to(asha.address(), "too late"))
        .await
        .wamid();
    let hit = next_hit(&mut hits).await;

    assert!(hit.valid);
    let expected = fixture("wa14b_status_failed_131047_window_closed.json");
    let mut status = hit.status().clone();
    assert_eq!(status["id"], wamid.as_str());
    assert_eq!(status["timestamp"], (clock.now().timestamp()).to_string());
    let fixture_status = &expected["entry"][0]["changes"][0]["value"]["statuses"][0];
    status["id"] = fixture_status["id"].clone();
    status["timestamp"] = fixture_status["timestamp"].clone();
    assert_eq!(&status, fixture_status);
    let record = whatsapp
        .wait_for(asha.address(), |m| m.status == Some(WaStatus::Failed), WAIT)
        .await
        .expect("recorded");
    assert_eq!(
        record.outcome,
        SendOutcome::Failed {
            code: 131_047,
            title: "Re-engagement message".to_owned()
        }
    );
    whatsapp
        .wait_webhooks_idle(WAIT)
        .await
        .expect("nothing else to post");
    assert_eq!(
        whatsapp.statuses_posted().len(),
        1,
        "no sent/delivered/read"
    );
}

// ---- webhooks -----------------------------------------------------------------------------------------

#[tokio::test]
async fn webhooks_are_escaped_and_signed_over_the_exact_bytes() {
    let (whatsapp, mut hits) = start_hooked(|_| {}).await;
    let jose = whatsapp.add_user("4915112345678", "José Müller");

    let wamid = whatsapp
        .send_text(&jose, "Grüße! Noten 📚 https://school.example/grades")
        .expect("writes");
    let hit = next_hit(&mut hits).await;

    assert!(hit.valid, "signature verifies over the raw bytes");
    let raw = std::str::from_utf8(&hit.raw).expect("ASCII");
    assert!(raw.is_ascii());
    assert!(raw.contains(r#""name":"Jos\u00e9 M\u00fcller""#), "{raw}");
    assert!(raw.contains(r"Gr\u00fc\u00dfe! Noten \ud83d\udcda https:\/\/school.example\/grades"));
    assert!(raw.starts_with(r#"{"object":"whatsapp_business_account","entry":[{"id":"#));
    assert!(!raw.contains('\n') && !raw.contains(": "), "minified");
    let reserialised = serde_json::to_vec(&hit.json).expect("JSON");
    assert!(
        !verify(SECRET, &reserialised, hit.signature.as_deref()),
        "re-serialising breaks the signature"
    );

    assert_eq!(hit.json["object"], "whatsapp_business_account");
    assert_eq!(hit.json["entry"][0]["id"], whatsapp.business_account_id());
    assert_eq!(hit.json["entry"][0]["changes"][0]["field"], "messages");
    let value = hit.value();
    assert_eq!(value["messaging_product"], "whatsapp");
    assert_eq!(
        value["metadata"]["phone_number_id"],
        whatsapp.phone_number_id()
    );
    assert_eq!(
        value["metadata"]["display_phone_number"],
        whatsapp.display_phone_number()
    );
    assert_eq!(value["contacts"][0]["profile"]["name"], "José Müller");
    assert_eq!(value["contacts"][0]["wa_id"], "4915112345678");
    let message = hit.message();
    assert_eq!(message["from"], "4915112345678");
    assert_eq!(message["id"], wamid.as_str());
    assert_eq!(message["type"], "text");
    assert!(message["timestamp"].is_string());
    assert_eq!(
        message["text"]["body"],
        "Grüße! Noten 📚 https://school.example/grades"
    );
}

#[tokio::test]
async fn raw_bytes_go_out_exactly_with_metas_signature() {
    let (whatsapp, mut hits) = start_hooked(|_| {}).await;
    let raw = fixture_text("wa24_text_unicode_escaped_raw.json");
    let raw = raw.trim_end();
    let signature = fixture_text("wa24_text_unicode_escaped_raw.sig.txt")
        .lines()
        .find_map(|line| {
            line.strip_prefix("X-Hub-Signature-256: ")
                .map(str::to_owned)
        })
        .expect("signature line");

    let ids = whatsapp.send_raw_bytes(raw);
    let hit = next_hit(&mut hits).await;

    assert_eq!(&hit.raw[..], raw.as_bytes());
    assert_eq!(hit.signature.as_deref(), Some(signature.trim()));
    assert!(hit.valid);
    assert_eq!(ids.len(), 1);
    // The sender became a user whose window is open.
    post(&whatsapp, text_to("4915112345678", "Hallo"))
        .await
        .wamid();
}

#[tokio::test]
async fn fixtures_can_be_replayed_as_they_are_or_readdressed() {
    let (whatsapp, mut hits) = start_hooked(|_| {}).await;

    let batch = fixture("wa15_batch_two_messages_and_status.json");
    let ids = whatsapp.send_raw(&batch).expect("an envelope");
    let hit = next_hit(&mut hits).await;
    assert_eq!(hit.json, batch);
    assert_eq!(ids.len(), 2);
    post(
        &whatsapp,
        text_to("16505551234", "the sender's window is open"),
    )
    .await
    .wamid();

    let asha = whatsapp.add_user("923001234567", "Asha");
    let ids = whatsapp
        .send_raw_as(&asha, fixture("wa08_location_named_pywa.json"))
        .expect("re-addressed");
    let hit = next_hit(&mut hits).await;
    assert_eq!(hit.json["entry"][0]["id"], whatsapp.business_account_id());
    let value = hit.value();
    assert_eq!(
        value["metadata"]["phone_number_id"],
        whatsapp.phone_number_id()
    );
    assert_eq!(value["contacts"][0]["wa_id"], "923001234567");
    assert_eq!(value["contacts"][0]["profile"]["name"], "Asha");
    assert_eq!(hit.message()["from"], "923001234567");
    assert_eq!(hit.message()["id"], ids[0].as_str());
    assert_ne!(ids[0], "wamid.xyzxyz");
    assert_eq!(hit.message()["location"]["name"], "Facebook HQ");
    assert_eq!(hit.message()["context"]["forwarded"], true);

    assert_eq!(
        whatsapp.send_raw(&json!([1, 2])),
        Err(baithak::testkit::whatsapp::ControlError::NotAnEnvelope)
    );
    let odd = json!({ "entry": ["x", { "changes": [1, { "value": "v" }] }] });
    let ids = whatsapp
        .send_raw_as(&asha, odd)
        .expect("odd shapes are left alone");
    assert!(ids.is_empty());
    let hit = next_hit(&mut hits).await;
    assert_eq!(hit.json["entry"][0], "x");
    assert_eq!(hit.json["entry"][1]["id"], whatsapp.business_account_id());
}

#[tokio::test]
async fn a_failing_webhook_is_redelivered_with_backoff_until_200() {
    // 500, 500, then 204 (Meta retries anything but 200), then 200.
    let (url, mut hits) = receiver(|_, attempt| {
        Box::pin(async move {
            match attempt {
                1 | 2 => StatusCode::INTERNAL_SERVER_ERROR,
                3 => StatusCode::NO_CONTENT,
                _ => StatusCode::OK,
            }
        })
    })
    .await;
    let whatsapp = start_with(|options| {
        options.webhook_url = Some(url);
        options.webhook_backoff_base = Duration::from_millis(20);
    })
    .await;
    let asha = whatsapp.add_user("923001234567", "Asha");

    whatsapp.send_text(&asha, "Are you there?").expect("writes");
    let mut received = Vec::new();
    for _ in 0..4 {
        received.push(next_hit(&mut hits).await);
    }
    whatsapp
        .wait_webhooks_idle(WAIT)
        .await
        .expect("delivered at last");

    assert!(
        received.iter().all(|hit| hit.raw == received[0].raw),
        "the same body"
    );
    // At once, then 1 and 2 units.
    assert!(received[2].at - received[1].at >= Duration::from_millis(20));
    assert!(received[3].at - received[2].at >= Duration::from_millis(40));
    let attempts = whatsapp.webhook_attempts();
    assert_eq!(attempts.len(), 4);
    assert!(attempts.iter().all(|a| a.delivery == attempts[0].delivery));
    let numbers: Vec<u32> = attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, vec![1, 2, 3, 4]);
    let statuses: Vec<Option<u16>> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, vec![Some(500), Some(500), Some(204), Some(200)]);
    assert!(attempts[3].delivered());
    assert_eq!(
        attempts[0].json()["entry"][0]["changes"][0]["field"],
        "messages"
    );
}

#[tokio::test]
async fn a_webhook_is_given_up_after_the_configured_attempts() {
    let (url, mut hits) =
        receiver(|_, _| Box::pin(async { StatusCode::SERVICE_UNAVAILABLE })).await;
    let whatsapp = start_with(|options| {
        options.webhook_url = Some(url);
        options.webhook_max_attempts = Some(3);
    })
    .await;
    let asha = whatsapp.add_user("923001234567", "Asha");
    whatsapp.send_text(&asha, "hello?").expect("writes");
    for _ in 0..3 {
        next_hit(&mut hits).await;
    }
    whatsapp.wait_webhooks_idle(WAIT).await.expect("given up");
    assert_eq!(whatsapp.webhook_attempts().len(), 3);
    assert!(whatsapp.webhook_attempts().iter().all(|a| !a.delivered()));
}

#[tokio::test]
async fn webhooks_wait_for_a_url_and_unreachable_urls_are_retried() {
    let whatsapp = start().await;
    let asha = whatsapp.add_user("923001234567", "Asha");
    whatsapp.send_text(&asha, "anyone?").expect("writes");
    assert_eq!(whatsapp.pending_webhooks(), 1);

    // Nothing listens on a freshly closed port.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dead = format!("http://{}/hook", closed.local_addr().expect("addr"));
    drop(closed);
    whatsapp.set_webhook(&dead);
    whatsapp
        .wait_until(WAIT, |w| (w.webhook_attempts().len() >= 2).then_some(()))
        .await
        .expect("retried");
    let attempts = whatsapp.webhook_attempts();
    assert!(attempts[0].status.is_none() && attempts[0].error.is_some());

    let (url, mut hits) = ok_receiver().await;
    whatsapp.set_webhook(&url);
    let hit = next_hit(&mut hits).await;
    assert_eq!(hit.message()["text"]["body"], "anyone?");
    whatsapp.wait_webhooks_idle(WAIT).await.expect("delivered");
}

#[tokio::test]
async fn each_users_webhooks_arrive_in_order_while_users_run_in_parallel() {
    let release = Arc::new(Notify::new());
    let gate = release.clone();
    let (url, mut hits) = receiver(move |body, _| {
        let gate = gate.clone();
        Box::pin(async move {
            let text = body["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            if text == "A1" {
                gate.notified().await;
            }
            StatusCode::OK
        })
    })
    .await;
    let whatsapp = start_with(|options| options.webhook_url = Some(url)).await;
    let a = whatsapp.add_user("923001111111", "A");
    let b = whatsapp.add_user("923002222222", "B");

    whatsapp.send_text(&a, "A1").expect("A1");
    whatsapp.send_text(&a, "A2").expect("A2");
    whatsapp.send_text(&b, "B1").expect("B1");
    let text = |hit: &Hit| {
        hit.message()["text"]["body"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    let first = text(&next_hit(&mut hits).await);
    let second = text(&next_hit(&mut hits).await);
    let mut seen = vec![first, second];
    seen.sort();
    assert_eq!(seen, vec!["A1", "B1"], "B does not wait for A");
    assert!(hits.try_recv().is_err(), "A2 waits until A1 is answered");
    release.notify_one();
    assert_eq!(text(&next_hit(&mut hits).await), "A2");
}

#[tokio::test]
async fn duplicates_and_reordering_can_be_injected() {
    let (whatsapp, mut hits) = start_hooked(|options| {
        options.statuses = StatusMode::SentDeliveredRead;
    })
    .await;
    let asha = whatsapp.add_user("923001234567", "Asha");

    whatsapp.duplicate_next(1);
    let wamid = whatsapp.send_text(&asha, "once").expect("writes");
    let first = next_hit(&mut hits).await;
    let second = next_hit(&mut hits).await;
    assert_eq!(first.raw, second.raw);
    assert_eq!(first.message()["id"], wamid.as_str());
    whatsapp
        .wait_webhooks_idle(WAIT)
        .await
        .expect("both delivered");
    let attempts = whatsapp.webhook_attempts();
    assert_ne!(attempts[0].delivery, attempts[1].delivery, "two deliveries");

    whatsapp.reorder_next(3);
    let sent = post(&whatsapp, text_to(asha.address(), "status order"))
        .await
        .wamid();
    let mut order = Vec::new();
    for _ in 0..3 {
        let hit = next_hit(&mut hits).await;
        assert_eq!(hit.status()["id"], sent.as_str());
        order.push(hit.status()["status"].as_str().unwrap_or("").to_owned());
    }
    assert_eq!(order, vec!["read", "delivered", "sent"]);
}

#[tokio::test]
async fn batches_carry_several_messages_and_statuses_in_one_post() {
    let (whatsapp, mut hits) = start_hooked(|_| {}).await;
    let asha = written_user(&whatsapp, "923001234567", "Asha");
    next_hit(&mut hits).await;
    let sent = post(&whatsapp, text_to(asha.address(), "ours"))
        .await
        .wamid();

    let ids = whatsapp.deliver_batch(|w| {
        let first = w.send_text(&asha, "Hello, I need help").expect("first");
        let second = w
            .send_text(&asha, "my class list is empty")
            .expect("second");
        w.post_status(&sent, WaStatus::Read).expect("status");
        (first, second)
    });
    let hit = next_hit(&mut hits).await;

    let changes = hit.json["entry"][0]["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), 2, "like fixture wa15: {}", hit.json);
    let messages = changes[0]["value"]["messages"]
        .as_array()
        .expect("messages");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["id"], ids.0.as_str());
    assert_eq!(messages[1]["id"], ids.1.as_str());
    assert_eq!(
        changes[0]["value"]["contacts"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(changes[1]["value"]["statuses"][0]["id"], sent.as_str());
    assert_eq!(changes[1]["value"]["statuses"][0]["status"], "read");

    whatsapp.batch_next(2);
    whatsapp.send_text(&asha, "one").expect("one");
    whatsapp.send_text(&asha, "two").expect("two");
    let hit = next_hit(&mut hits).await;
    assert_eq!(hit.value()["messages"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn bad_signatures_can_be_injected_and_are_followed_by_good_ones() {
    let (whatsapp, mut hits) = start_hooked(|_| {}).await;
    let asha = whatsapp.add_user("923001234567", "Asha");

    whatsapp.tamper_next(1, Tamper::WrongSignature);
    whatsapp.tamper_next(1, Tamper::MissingSignature);
    whatsapp.send_text(&asha, "forged?").expect("writes");
    let wrong = next_hit(&mut hits).await;
    let missing = next_hit(&mut hits).await;
    let good = next_hit(&mut hits).await;

    assert!(!wrong.valid && wrong.signature.is_some());
    assert!(!missing.valid && missing.signature.is_none());
    assert!(good.valid);
    assert_eq!(wrong.raw, good.raw);
    whatsapp.wait_webhooks_idle(WAIT).await.expect("delivered");
    let statuses: Vec<Option<u16>> = whatsapp
        .webhook_attempts()
        .iter()
        .map(|a| a.status)
        .collect();
    assert_eq!(statuses, vec![Some(401), Some(401), Some(200)]);
}

#[tokio::test]
async fn the_subscription_handshake_can_be_run() {
    let (whatsapp, _hits) = start_hooked(|_| {}).await;
    let good = whatsapp
        .verify_webhook("meatyhamhock")
        .await
        .expect("answered");
    assert!(good.accepted(), "{good:?}");
    let bad = whatsapp.verify_webhook("wrong").await.expect("answered");
    assert_eq!(bad.status, 403);
    assert!(!bad.accepted());

    let unhooked = start().await;
    assert!(unhooked.verify_webhook("meatyhamhock").await.is_err());
}

// ---- inbound messages of every kind -------------------------------------------------------------------

#[tokio::test]
async fn users_press_buttons_and_pick_rows_of_the_messages_they_got() {
    let (whatsapp, mut hits) = start_hooked(|_| {}).await;
    let asha = written_user(&whatsapp, "923001234567", "Asha");
    next_hit(&mut hits).await;
    let to = asha.address();

    assert!(
        whatsapp.press_button(&asha, "class:6", "Class 6").is_err(),
        "nothing offered yet"
    );
    let buttons = post(
        &whatsapp,
        buttons_to(to, &[("class:6", "Class 6"), ("class:7", "Class 7")]),
    )
    .await
    .wamid();
    let pressed = whatsapp
        .press_button(&asha, "class:7", "Class 7")
        .expect("offered");
    let hit = next_hit(&mut hits).await;
    let message = hit.message();
    assert_eq!(message["id"], pressed.as_str());
    assert_eq!(message["type"], "interactive");
    assert_eq!(message["context"]["id"], buttons.as_str());
    assert_eq!(message["context"]["from"], whatsapp.display_phone_number());
    assert_eq!(
        message["interactive"],
        json!({ "type": "button_reply", "button_reply": { "id": "class:7", "title": "Class 7" } })
    );
    let error = whatsapp
        .press_button(&asha, "class:8", "Class 8")
        .expect_err("not offered");
    assert!(error.to_string().contains("class:7"), "{error}");

    let sections = json!([{ "title": "Shipping", "rows": [
        { "id": "priority_express", "title": "Priority Mail Express", "description": "Next Day to 2 Days" },
    ] }]);
    let list = post(&whatsapp, list_to(to, sections)).await.wamid();
    whatsapp
        .choose_list_row(&asha, "priority_express", "Priority Mail Express")
        .expect("offered");
    let hit = next_hit(&mut hits).await;
    assert_eq!(hit.message()["context"]["id"], list.as_str());
    let expected = fixture("wa03_interactive_list_reply_official.json");
    assert_eq!(
        hit.message()["interactive"],
        expected["entry"][0]["changes"][0]["value"]["messages"][0]["interactive"]
    );

    whatsapp.approve_template("cpd_reminder", "en");
    whatsapp
        .press_template_button(&asha, "callback_data", "title")
        .expect("no template yet: no context");
    let hit = next_hit(&mut hits).await;
    assert!(hit.message().get("context").is_none());
    let template = post(&whatsapp, template_to(to, "cpd_reminder", "en", &[]))
        .await
        .wamid();
    whatsapp
        .press_template_button(&asha, "callback_data", "title")
        .expect("pressed");
    let hit = next_hit(&mut hits).await;
    assert_eq!(hit.message()["type"], "button");
    assert_eq!(
        hit.message()["button"],
        json!({ "payload": "callback_data", "text": "title" })
    );
    assert_eq!(hit.message()["context"]["id"], template.as_str());
}

#[tokio::test]
async fn locations_reactions_and_number_changes_look_like_the_fixtures() {
    let (whatsapp, mut hits) = start_hooked(|_| {}).await;
    let asha = whatsapp.add_user("972987654321", "Test Name");

    whatsapp
        .send_location(
            &asha,
            37.461_197_8,
            -122.216_438_5,
            Some("Facebook HQ"),
            Some("1 Hacker Way, Menlo Park, CA 94025"),
        )
        .expect("location");
    let hit = next_hit(&mut hits).await;
    assert_eq!(hit.message()["type"], "location");
    assert_eq!(hit.message()["location"]["latitude"], 37.461_197_8);
    assert_eq!(
        hit.message()["location"]["address"],
        "1 Hacker Way, Menlo Park, CA 94025"
    );

    whatsapp
        .send_reaction(&asha, "wamid.yzxyzx=", "😮")
        .expect("react");
    let hit = next_hit(&mut hits).await;
    assert!(
        std::str::from_utf8(&hit.raw)
            .expect("ASCII")
            .contains(r#""emoji":"\ud83d\ude2e""#)
    );
    assert_eq!(
        hit.message()["reaction"],
        json!({ "message_id": "wamid.yzxyzx=", "emoji": "😮" })
    );
    whatsapp
        .send_reaction(&asha, "wamid.yzxyzx=", "")
        .expect("unreact");
    assert_eq!(next_hit(&mut hits).await.message()["reaction"]["emoji"], "");

    let asha = whatsapp.add_user("972987654321", "A");
    whatsapp
        .change_number(&asha, "972912345678")
        .expect("changes number");
    let hit = next_hit(&mut hits).await;
    assert!(
        hit.value().get("contacts").is_none(),
        "system messages have no contacts"
    );
    let expected = fixture("wa18_system_user_changed_number_pywa.json");
    assert_eq!(
        hit.message()["system"],
        expected["entry"][0]["changes"][0]["value"]["messages"][0]["system"]
    );
    assert_eq!(hit.message()["from"], "972987654321");
    let moved = whatsapp
        .user("972912345678")
        .expect("filed under the new number");
    assert_eq!(moved.name, "A");
    assert!(whatsapp.user("972987654321").is_none());
    post(&whatsapp, text_to("972912345678", "window carried over"))
        .await
        .wamid();
}

#[tokio::test]
async fn media_is_served_with_the_token_and_expires() {
    let clock = manual_clock();
    let (whatsapp, mut hits) = start_hooked(|options| options.clock = clock.clone()).await;
    let asha = whatsapp.add_user("923001234567", "Asha");

    whatsapp
        .send_media_bytes(
            &asha,
            MediaKind::Image,
            b"JPEG bytes".to_vec(),
            Some("Lesson plan"),
        )
        .expect("sends a photo");
    let hit = next_hit(&mut hits).await;
    let image = &hit.message()["image"];
    assert_eq!(hit.message()["type"], "image");
    assert_eq!(image["caption"], "Lesson plan");
    assert_eq!(image["mime_type"], "image/jpeg");
    let media_id = image["id"].as_str().expect("an id").to_owned();
    let info_url = format!("{}/v23.0/{media_id}", whatsapp.graph_url());

    let refused = answer(client().get(&info_url).send().await.expect("answer")).await;
    refused.assert_error(
        401,
        190,
        "Invalid OAuth access token - Cannot parse access token",
    );
    let info = answer(
        client()
            .get(&info_url)
            .bearer_auth(whatsapp.token())
            .send()
            .await
            .expect("answer"),
    )
    .await;
    assert_eq!(info.status, StatusCode::OK);
    let shape = fixture("wa_resp_media_url.json");
    let keys = |v: &Value| {
        let mut keys: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&info.body), keys(&shape));
    assert_eq!(info.body["id"], media_id.as_str());
    assert_eq!(info.body["file_size"], "10");
    assert_eq!(info.body["sha256"], image["sha256"]);
    let url = info.body["url"].as_str().expect("url").to_owned();
    assert!(url.starts_with(&whatsapp.graph_url()), "{url}");

    let without_token = client().get(&url).send().await.expect("answer");
    assert_eq!(without_token.status(), StatusCode::UNAUTHORIZED);
    let bytes = client()
        .get(&url)
        .bearer_auth(whatsapp.token())
        .send()
        .await
        .expect("answer");
    assert_eq!(bytes.status(), StatusCode::OK);
    assert_eq!(bytes.headers()["content-type"], "image/jpeg");
    assert_eq!(&bytes.bytes().await.expect("bytes")[..], b"JPEG bytes");
    let tampered = client()
        .get(url.replace("hash=", "hash=0"))
        .bearer_auth(whatsapp.token())
        .send()
        .await
        .expect("answer");
    assert_eq!(tampered.status(), StatusCode::NOT_FOUND);

    whatsapp.advance_clock(chrono::Duration::minutes(5));
    let expired = client()
        .get(&url)
        .bearer_auth(whatsapp.token())
        .send()
        .await
        .expect("answer");
    assert_eq!(
        expired.status(),
        StatusCode::NOT_FOUND,
        "URLs live 5 minutes"
    );

    whatsapp.advance_clock(chrono::Duration::days(7));
    let gone = answer(
        client()
            .get(&info_url)
            .bearer_auth(whatsapp.token())
            .send()
            .await
            .expect("answer"),
    )
    .await;
    assert_eq!(gone.body["error"]["code"], 100, "media ids live 7 days");

    whatsapp
        .send_media(&asha, MediaKind::Voice, None)
        .expect("voice note");
    let hit = next_hit(&mut hits).await;
    assert_eq!(hit.message()["type"], "audio");
    assert_eq!(hit.message()["audio"]["voice"], true);
    assert_eq!(
        hit.message()["audio"]["mime_type"],
        "audio/ogg; codecs=opus"
    );
    whatsapp
        .send_media(&asha, MediaKind::Document, Some("Syllabus"))
        .expect("document");
    let hit = next_hit(&mut hits).await;
    assert_eq!(hit.message()["document"]["filename"], "document.pdf");
    assert_eq!(hit.message()["document"]["caption"], "Syllabus");
}

#[tokio::test]
async fn media_sends_need_an_id_or_a_link() {
    let whatsapp = start().await;
    let to = written_user(&whatsapp, "923001234567", "Asha")
        .address()
        .to_owned();
    let image = |media: Value| json!({ "messaging_product": "whatsapp", "to": to, "type": "image", "image": media });
    post(
        &whatsapp,
        image(json!({ "link": "https://example.org/a.jpg", "caption": "Plan" })),
    )
    .await
    .wamid();
    post(&whatsapp, image(json!({ "id": "1003383421387256" })))
        .await
        .wamid();
    let neither = post(&whatsapp, image(json!({ "caption": "?" }))).await;
    assert_eq!(neither.body["error"]["code"], 131_008);
    let both = post(
        &whatsapp,
        image(json!({ "id": "1", "link": "https://e.org/a.jpg" })),
    )
    .await;
    assert_eq!(both.body["error"]["code"], 100);
    post(
        &whatsapp,
        image(json!({ "link": "https://e.org/a.jpg", "caption": "c".repeat(1025) })),
    )
    .await
    .assert_error(
        400,
        100,
        "(#100) Param image['caption'] must be at most 1024 characters long.",
    );
    let records = whatsapp.sent_to(&to);
    let media = records[0].media.clone().expect("media");
    assert_eq!(media.link.as_deref(), Some("https://example.org/a.jpg"));
    assert_eq!(records[0].text.as_deref(), Some("Plan"));
}

#[tokio::test]
async fn mark_as_read_answers_like_meta() {
    let whatsapp = start().await;
    let asha = whatsapp.add_user("923001234567", "Asha");
    let wamid = whatsapp.send_text(&asha, "Hello").expect("writes");
    let read = post(
        &whatsapp,
        json!({ "messaging_product": "whatsapp", "status": "read", "message_id": wamid }),
    )
    .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body, fixture("wa_resp_mark_read_success.json"));
    assert_eq!(whatsapp.marked_read(), vec![wamid]);
    post(
        &whatsapp,
        json!({ "messaging_product": "whatsapp", "status": "read" }),
    )
    .await
    .assert_error(400, 100, "(#100) The parameter message_id is required.");
    assert!(whatsapp.sent().is_empty(), "read receipts are not sends");
}

// ---- statuses -----------------------------------------------------------------------------------------

#[tokio::test]
async fn accepted_sends_get_sent_delivered_and_read_statuses() {
    let (whatsapp, mut hits) = start_hooked(|options| {
        options.statuses = StatusMode::SentDeliveredRead;
    })
    .await;
    let asha = written_user(&whatsapp, "16505551234", "Asha");
    next_hit(&mut hits).await;

    let mut body = text_to(asha.address(), "Your ticket is open");
    body["biz_opaque_callback_data"] = json!("ticket-42");
    let wamid = post(&whatsapp, body).await.wamid();
    let mut seen = Vec::new();
    for _ in 0..3 {
        let hit = next_hit(&mut hits).await;
        assert!(hit.valid);
        seen.push(hit.status().clone());
    }

    let kinds: Vec<&str> = seen.iter().filter_map(|s| s["status"].as_str()).collect();
    assert_eq!(kinds, vec!["sent", "delivered", "read"]);
    for status in &seen {
        assert_eq!(status["id"], wamid.as_str());
        assert_eq!(status["recipient_id"], "16505551234");
        assert_eq!(status["biz_opaque_callback_data"], "ticket-42");
        assert!(status["timestamp"].is_string());
    }
    assert_eq!(
        seen[0]["pricing"],
        json!({ "billable": false, "pricing_model": "PMP", "type": "free_customer_service", "category": "service" })
    );
    assert!(seen[1].get("pricing").is_none());
    assert_eq!(
        seen[0]["conversation"]["origin"]["type"], "service",
        "v23.0 still has it"
    );
    assert!(seen[0]["conversation"]["expiration_timestamp"].is_string());
    let posted = whatsapp.statuses_posted();
    assert_eq!(posted.len(), 3);
    assert_eq!(posted[2].status, WaStatus::Read);
    let record = whatsapp
        .wait_for(asha.address(), |m| m.wamid.as_deref() == Some(&wamid), WAIT)
        .await
        .expect("recorded");
    assert_eq!(record.status, Some(WaStatus::Read));

    whatsapp.fail_message(&wamid, 131_049).expect("known wamid");
    let failed = next_hit(&mut hits).await;
    let expected = fixture("wa14_status_failed_131049_official.json");
    assert_eq!(
        failed.status()["errors"],
        expected["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"]
    );
    assert_eq!(
        whatsapp.fail_message("wamid.unknown", 131_049),
        Err(baithak::testkit::whatsapp::ControlError::UnknownMessage(
            "wamid.unknown".to_owned()
        ))
    );
}

#[tokio::test]
async fn v24_statuses_drop_conversation_and_templates_are_billable() {
    let (whatsapp, mut hits) = start_hooked(|options| {
        options.api_version = "v24.0".to_owned();
        options.statuses = StatusMode::SentRead;
    })
    .await;
    whatsapp.approve_template("cpd_reminder", "en");
    let asha = whatsapp.add_user("923001234567", "Asha");
    let wamid = post(
        &whatsapp,
        template_to(asha.address(), "cpd_reminder", "en", &[]),
    )
    .await
    .wamid();
    let sent = next_hit(&mut hits).await;
    let read = next_hit(&mut hits).await;
    assert_eq!(sent.status()["status"], "sent");
    assert_eq!(read.status()["status"], "read", "delivered skipped");
    assert!(sent.status().get("conversation").is_none());
    assert_eq!(sent.status()["pricing"]["billable"], true);
    assert_eq!(sent.status()["pricing"]["category"], "utility");
    assert_eq!(sent.status()["id"], wamid.as_str());
}

#[tokio::test]
async fn statuses_wait_for_the_status_delay() {
    let (whatsapp, mut hits) = start_hooked(|options| {
        options.statuses = StatusMode::Sent;
        options.status_delay = Duration::from_millis(100);
    })
    .await;
    let asha = written_user(&whatsapp, "923001234567", "Asha");
    next_hit(&mut hits).await;
    let before = Instant::now();
    post(&whatsapp, text_to(asha.address(), "hi")).await.wamid();
    let hit = next_hit(&mut hits).await;
    assert_eq!(hit.status()["status"], "sent");
    assert!(hit.at - before >= Duration::from_millis(100));
}

// ---- users ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bsuid_users_write_without_a_phone_and_are_reached_by_recipient() {
    let (whatsapp, mut hits) = start_hooked(|options| options.statuses = StatusMode::Sent).await;
    let sheena = whatsapp.add_bsuid_user("US.13491208655302741918", "@sheena.teaches");
    assert_eq!(sheena.wa_id, None);
    assert_eq!(sheena.address(), "US.13491208655302741918");

    whatsapp
        .send_text(&sheena, "Hi, I'm a new teacher")
        .expect("writes");
    let hit = next_hit(&mut hits).await;
    let expected = fixture("wa20_bsuid_username_user_no_phone.json");
    let expected_value = &expected["entry"][0]["changes"][0]["value"];
    assert_eq!(
        hit.value()["contacts"][0]["user_id"],
        expected_value["contacts"][0]["user_id"]
    );
    assert_eq!(
        hit.value()["contacts"][0]["profile"]["username"],
        "@sheena.teaches"
    );
    assert!(hit.value()["contacts"][0].get("wa_id").is_none());
    assert!(hit.message().get("from").is_none());
    assert_eq!(hit.message()["from_user_id"], "US.13491208655302741918");

    let by_to = post(&whatsapp, text_to("US.13491208655302741918", "hi")).await;
    assert_eq!(
        by_to.body["error"]["code"], 100,
        "a BSUID is not a phone number"
    );
    let mut body = text_to("", "Welcome!");
    body.as_object_mut().expect("object").remove("to");
    body["recipient"] = json!("US.13491208655302741918");
    let sent = post(&whatsapp, body).await;
    let wamid = sent.wamid();
    assert_eq!(
        sent.body["contacts"],
        json!([{ "input": "US.13491208655302741918", "user_id": "US.13491208655302741918" }])
    );
    assert_eq!(
        whatsapp.sent_to("US.13491208655302741918").len(),
        1,
        "a refused `to` names no recipient"
    );
    let status = next_hit(&mut hits).await;
    assert_eq!(status.status()["id"], wamid.as_str());
    assert_eq!(
        status.status()["recipient_user_id"],
        "US.13491208655302741918"
    );
    assert!(status.status().get("recipient_id").is_none());
}

#[tokio::test]
async fn blocked_users_are_undeliverable_until_they_write_again() {
    let (whatsapp, mut hits) = start_hooked(|options| options.statuses = StatusMode::None).await;
    let asha = written_user(&whatsapp, "923001234567", "Asha");
    next_hit(&mut hits).await;
    let to = asha.address();

    whatsapp.block(&asha).expect("blocks");
    post(&whatsapp, text_to(to, "hello?")).await.assert_error(
        400,
        131_026,
        "(#131026) Message undeliverable",
    );
    whatsapp.unblock(&asha).expect("unblocks");
    post(&whatsapp, text_to(to, "hello again")).await.wamid();

    whatsapp.set_blocked_errors(ErrorTiming::LaterStatus);
    whatsapp.block(&asha).expect("blocks");
    let wamid = post(&whatsapp, text_to(to, "accepted, then failed"))
        .await
        .wamid();
    let failed = next_hit(&mut hits).await;
    assert_eq!(failed.status()["id"], wamid.as_str());
    assert_eq!(failed.status()["status"], "failed");
    assert_eq!(failed.status()["errors"][0]["code"], 131_026);

    whatsapp
        .send_text(&asha, "sorry, unblocked")
        .expect("writes");
    next_hit(&mut hits).await;
    post(&whatsapp, text_to(to, "welcome back")).await.wamid();

    let stranger = WaUser {
        wa_id: Some("1".to_owned()),
        bsuid: None,
        name: "Nobody".to_owned(),
        username: None,
    };
    assert!(whatsapp.block(&stranger).is_err());
}

// ---- rate limits ---------------------------------------------------------------------------------------

#[tokio::test]
async fn throughput_over_the_limit_answers_130429() {
    let clock = manual_clock();
    let whatsapp = start_with(|options| {
        options.clock = clock.clone();
        options.throughput_per_second = Some(2);
    })
    .await;
    let a = written_user(&whatsapp, "923001111111", "A");
    let b = written_user(&whatsapp, "923002222222", "B");
    // Their two messages spent the second's throughput, as inbound counts on Meta.
    let inbound = post(&whatsapp, text_to(a.address(), "0")).await;
    assert_eq!(inbound.status, StatusCode::BAD_REQUEST);
    whatsapp.advance_clock(chrono::Duration::seconds(1));

    post(&whatsapp, text_to(a.address(), "1")).await.wamid();
    post(&whatsapp, text_to(b.address(), "2")).await.wamid();
    let over = post(&whatsapp, text_to(a.address(), "3")).await;
    assert_eq!(over.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        without_trace(over.body),
        without_trace(fixture("wa_resp_error_130429_throughput.json"))
    );
    whatsapp.advance_clock(chrono::Duration::milliseconds(500));
    post(&whatsapp, text_to(a.address(), "4")).await.wamid();
}

#[tokio::test]
async fn the_pair_rate_limit_answers_131056_per_user() {
    let clock = manual_clock();
    let whatsapp = start_with(|options| {
        options.clock = clock.clone();
        options.pair_rate = Some((2, Duration::from_secs(6)));
    })
    .await;
    let a = written_user(&whatsapp, "923001111111", "A");
    let b = written_user(&whatsapp, "923002222222", "B");

    post(&whatsapp, text_to(a.address(), "1")).await.wamid();
    post(&whatsapp, text_to(a.address(), "2")).await.wamid();
    let over = post(&whatsapp, text_to(a.address(), "3")).await;
    assert_eq!(
        without_trace(over.body),
        without_trace(fixture("wa_resp_error_131056_pair_rate.json"))
    );
    post(&whatsapp, text_to(b.address(), "other user"))
        .await
        .wamid();
    whatsapp.advance_clock(chrono::Duration::seconds(3));
    post(&whatsapp, text_to(a.address(), "later")).await.wamid();
    whatsapp.set_pair_rate(None);
    for n in 0..5 {
        post(&whatsapp, text_to(a.address(), &n.to_string()))
            .await
            .wamid();
    }
}

// ---- faults ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn injected_faults_answer_like_an_overloaded_graph() {
    let whatsapp = start().await;
    let to = written_user(&whatsapp, "923001234567", "Asha")
        .address()
        .to_owned();

    whatsapp.fail_next(
        "messages",
        1,
        Fault::api(131_000, "Something went wrong", "Unknown error"),
    );
    post(&whatsapp, text_to(&to, "1")).await.assert_error(
        400,
        131_000,
        "(#131000) Something went wrong",
    );

    whatsapp.fail_next("*", 1, Fault::throughput());
    let throttled = post(&whatsapp, text_to(&to, "2")).await;
    assert_eq!(
        without_trace(throttled.body),
        without_trace(fixture("wa_resp_error_130429_throughput.json"))
    );

    whatsapp.fail_next("/messages", 1, Fault::unavailable());
    let unavailable = post(&whatsapp, text_to(&to, "3")).await;
    assert_eq!(unavailable.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(unavailable.body["error"]["is_transient"], true);
    whatsapp.fail_next(
        "messages",
        1,
        Fault::Http5xx {
            status: 502,
            json: false,
        },
    );
    let gateway = post(&whatsapp, text_to(&to, "4")).await;
    assert_eq!(gateway.status, StatusCode::BAD_GATEWAY);
    assert!(gateway.body.is_string(), "not JSON");

    whatsapp.fail_next(
        "messages",
        1,
        Fault::Raw {
            http_status: 200,
            body: json!({ "error": { "code": 1, "message": "odd" } }),
        },
    );
    let odd = post(&whatsapp, text_to(&to, "5")).await;
    assert_eq!(odd.status, StatusCode::OK);
    assert_eq!(odd.body["error"]["message"], "odd");

    whatsapp.fail_next_to("923009999999", 1, Fault::token_expired());
    post(&whatsapp, text_to(&to, "6")).await.wamid();

    whatsapp.fail_next("messages", 1, Fault::delay(Duration::from_millis(150)));
    let before = Instant::now();
    post(&whatsapp, text_to(&to, "7")).await.wamid();
    assert!(before.elapsed() >= Duration::from_millis(150));

    whatsapp.fail_next("messages", 1, Fault::Drop);
    let dropped = client()
        .post(whatsapp.messages_url())
        .bearer_auth(whatsapp.token())
        .json(&text_to(&to, "8"))
        .send()
        .await;
    assert!(dropped.is_err(), "{dropped:?}");
    whatsapp.fail_next("messages", 1, Fault::LoseResponse);
    let lost = client()
        .post(whatsapp.messages_url())
        .bearer_auth(whatsapp.token())
        .json(&text_to(&to, "9"))
        .send()
        .await;
    assert!(lost.is_err(), "{lost:?}");

    let texts: Vec<String> = whatsapp
        .sent_to(&to)
        .iter()
        .map(|m| m.visible_text().to_owned())
        .collect();
    assert_eq!(
        texts,
        vec!["6", "7", "9"],
        "faulted calls never reached the send logic, except a lost response"
    );
    let statuses: Vec<Option<u16>> = whatsapp
        .requests_to("/messages")
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses,
        [
            Some(400),
            Some(400),
            Some(503),
            Some(502),
            Some(200),
            Some(200),
            Some(200),
            None,
            None,
        ],
        "cut connections have no status"
    );
}

#[tokio::test]
async fn waits_time_out_with_what_they_saw() {
    let whatsapp = start().await;
    let asha = written_user(&whatsapp, "923001234567", "Asha");
    post(&whatsapp, text_to(asha.address(), "Welcome"))
        .await
        .wamid();
    let error = whatsapp
        .wait_for(
            asha.address(),
            |m| m.visible_text() == "Goodbye",
            Duration::from_millis(50),
        )
        .await
        .expect_err("never sent");
    assert!(error.to_string().contains("Welcome"), "{error}");

    let found = whatsapp
        .wait_for(asha.address(), |m| m.visible_text() == "Welcome", WAIT)
        .await
        .expect("sent");
    assert!(found.is_accepted());
}
