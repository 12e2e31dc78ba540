//! The fake Telegram Bot API server rejects what the real one rejects, with the same status codes
//! and error texts (compared against the captured responses in `tests/fixtures/telegram/`), long
//! polls for real, delivers webhooks like tdlib's `WebhookActor`, and lets tests inject faults.
//! Everything is driven over HTTP with reqwest, as Baithak will talk to it. No test sleeps to wait:
//! waits are bounded waits on conditions.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use baithak::clock::Clock;
use baithak::testkit::telegram::{
    FakeTelegram, FakeTelegramOptions, Fault, RequestSource, UserHandle, WebhookOrder,
};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio::time::{Instant, timeout};

/// Long enough for a loaded CI machine, short enough to fail fast.
const WAIT: Duration = Duration::from_secs(10);

// ---- harness -----------------------------------------------------------------------------------

async fn start() -> FakeTelegram {
    start_with(|_| {}).await
}

async fn start_with(configure: impl FnOnce(&mut FakeTelegramOptions)) -> FakeTelegram {
    let mut options = FakeTelegramOptions {
        first_update_id: Some(1000),
        webhook_backoff_base: Duration::from_millis(5),
        ..FakeTelegramOptions::default()
    };
    configure(&mut options);
    FakeTelegram::start(options)
        .await
        .expect("fake telegram starts")
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
    /// `result` of a successful call.
    fn result(&self) -> &Value {
        assert_eq!(self.body["ok"], true, "expected success, got {self:?}");
        assert_eq!(self.status, StatusCode::OK);
        &self.body["result"]
    }

    fn description(&self) -> &str {
        self.body["description"].as_str().unwrap_or("")
    }

    /// A failure with this status and exact description.
    fn assert_error(&self, code: u16, description: &str) {
        assert_eq!(self.body["ok"], false, "expected an error, got {self:?}");
        assert_eq!(self.status.as_u16(), code, "{self:?}");
        assert_eq!(self.body["error_code"], code, "{self:?}");
        assert_eq!(self.description(), description);
    }
}

async fn post(telegram: &FakeTelegram, method: &str, params: Value) -> Answer {
    let response = client()
        .post(format!("{}/{method}", telegram.bot_url()))
        .json(&params)
        .send()
        .await
        .expect("fake answers");
    answer(response).await
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

fn fixture(name: &str) -> Value {
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/telegram")
}

/// Asserts the answer is byte-for-byte (as JSON) the captured real response.
fn assert_matches_fixture(answer: &Answer, name: &str) {
    let expected = fixture(name);
    assert_eq!(answer.body, expected, "{name}");
    assert_eq!(
        answer.status.as_u16(),
        expected["error_code"].as_u64().unwrap_or(200) as u16
    );
}

/// A user who has written to the bot, so the bot may answer.
async fn started_user(telegram: &FakeTelegram, id: i64, name: &str) -> UserHandle {
    let user = telegram.add_user(id, name, Some("en"));
    telegram.send_text(&user, "/start").expect("user writes");
    user
}

fn keyboard(buttons: Value) -> Value {
    json!({ "inline_keyboard": [buttons] })
}

async fn get_updates(telegram: &FakeTelegram, params: Value) -> Vec<Value> {
    post(telegram, "getUpdates", params)
        .await
        .result()
        .as_array()
        .cloned()
        .expect("an array of updates")
}

fn without_update_id(mut update: Value) -> Value {
    if let Some(object) = update.as_object_mut() {
        object.remove("update_id");
    }
    update
}

// ---- a bot endpoint for webhook tests ----------------------------------------------------------------

/// One webhook POST received by the test bot.
#[derive(Debug)]
struct Hit {
    secret: Option<String>,
    body: Value,
    at: Instant,
}

type Reply = Pin<Box<dyn Future<Output = Response> + Send>>;

/// Serves a bot endpoint; `respond(body, attempt_number)` decides each answer.
async fn bot_endpoint(
    respond: impl Fn(Value, usize) -> Reply + Send + Sync + 'static,
) -> (String, mpsc::UnboundedReceiver<Hit>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let attempts = Arc::new(AtomicUsize::new(0));
    let respond = Arc::new(respond);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::Json<Value>| {
            let sender = sender.clone();
            let respond = respond.clone();
            let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                let secret = headers
                    .get("X-Telegram-Bot-Api-Secret-Token")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let _ = sender.send(Hit {
                    secret,
                    body: body.0.clone(),
                    at: Instant::now(),
                });
                respond(body.0, attempt).await
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, receiver)
}

fn ok_reply() -> Reply {
    Box::pin(async { StatusCode::OK.into_response() })
}

async fn next_hit(receiver: &mut mpsc::UnboundedReceiver<Hit>) -> Hit {
    timeout(WAIT, receiver.recv())
        .await
        .expect("a webhook POST arrives in time")
        .expect("endpoint alive")
}

// ---- requests and responses --------------------------------------------------------------------------

#[tokio::test]
async fn methods_are_case_insensitive_over_get_post_json_and_form() {
    let telegram = start().await;

    let by_get = answer(
        client()
            .get(format!("{}/getme", telegram.bot_url()))
            .send()
            .await
            .expect("get"),
    )
    .await;
    let by_post = post(&telegram, "GetMe", json!({})).await;
    let user = started_user(&telegram, 5001, "Asha").await;
    let by_form = answer(
        client()
            .post(format!("{}/SendMessage", telegram.bot_url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("chat_id={}&text=Namaste+%26+welcome", user.id))
            .send()
            .await
            .expect("form"),
    )
    .await;
    let by_query = answer(
        client()
            .get(format!(
                "{}/sendMessage?chat_id={}&text=hi&reply_markup=%7B%22inline_keyboard%22%3A%5B%5B%7B%22text%22%3A%22A%22%2C%22callback_data%22%3A%22a%22%7D%5D%5D%7D",
                telegram.bot_url(),
                user.id
            ))
            .send()
            .await
            .expect("query"),
    )
    .await;

    assert_eq!(by_get.result()["id"], 7_172_552_019_i64);
    assert_eq!(by_get.result()["is_bot"], true);
    assert_eq!(by_post.result(), by_get.result());
    assert_eq!(by_form.result()["text"], "Namaste & welcome");
    assert_eq!(
        by_query.result()["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
        "a"
    );
    let logged = telegram.requests_to("sendMessage");
    assert_eq!(
        logged.len(),
        2,
        "both spellings are logged under the Bot API name"
    );
    assert_eq!(
        logged[1].params["reply_markup"]["inline_keyboard"][0][0]["text"],
        "A"
    );
    assert_eq!(logged[1].source, RequestSource::Http);
}

#[tokio::test]
async fn unknown_methods_tokens_and_paths_fail_like_telegram() {
    let telegram = start().await;
    let base = telegram.api_url();

    let unknown_method = post(&telegram, "sendTelepathy", json!({})).await;
    let wrong_token = answer(
        client()
            .post(format!("{base}/bot123456:AAwrongToken/getMe"))
            .send()
            .await
            .expect("answer"),
    )
    .await;
    let malformed_token = answer(
        client()
            .post(format!("{base}/botnot-a-token/getMe"))
            .send()
            .await
            .expect("answer"),
    )
    .await;
    let bad_path = answer(
        client()
            .get(format!("{base}/getMe"))
            .send()
            .await
            .expect("answer"),
    )
    .await;

    unknown_method.assert_error(404, "Not Found: method not found");
    assert_matches_fixture(&wrong_token, "tg_resp_401_unauthorized.json");
    malformed_token.assert_error(401, "Unauthorized: invalid token specified");
    bad_path.assert_error(404, "Not Found");
}

#[tokio::test]
async fn sent_messages_are_full_message_objects_with_ids_per_chat() {
    let telegram = start().await;
    let asha = started_user(&telegram, 5001, "Asha").await;
    let bilal = started_user(&telegram, 5002, "Bilal").await;
    let buttons = keyboard(json!([{ "text": "Yes", "callback_data": "yes" }]));

    let first = post(
        &telegram,
        "sendMessage",
        json!({ "chat_id": asha.id, "text": "One", "reply_markup": buttons }),
    )
    .await;
    let second = post(
        &telegram,
        "sendMessage",
        json!({ "chat_id": asha.id, "text": "Two" }),
    )
    .await;
    let other = post(
        &telegram,
        "sendMessage",
        json!({ "chat_id": bilal.id, "text": "Hi" }),
    )
    .await;

    let shape = fixture("tg_resp_ok_sendmessage.json")["result"].clone();
    let message = first.result();
    let keys = |v: &Value| {
        let mut keys: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&without(message, "reply_markup")), keys(&shape));
    assert_eq!(keys(&message["from"]), keys(&shape["from"]));
    assert_eq!(message["from"]["is_bot"], true);
    assert_eq!(
        message["chat"],
        json!({ "id": asha.id, "first_name": "Asha", "type": "private" })
    );
    assert_eq!(message["reply_markup"], buttons);
    assert!(message["date"].as_i64().is_some());
    let id = |answer: &Answer| answer.result()["message_id"].as_i64().expect("id");
    assert_eq!(id(&second), id(&first) + 1);
    assert_eq!(id(&other), id(&first), "ids count per chat");
    let seen = telegram.sent_to(asha.id);
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].buttons()[0].callback_data.as_deref(), Some("yes"));
}

fn without(value: &Value, key: &str) -> Value {
    let mut value = value.clone();
    if let Some(object) = value.as_object_mut() {
        object.remove(key);
    }
    value
}

// ---- validation ---------------------------------------------------------------------------------------

#[tokio::test]
async fn text_is_validated_after_entity_parsing_with_telegrams_errors() {
    let telegram = start().await;
    let asha = started_user(&telegram, 5001, "Asha").await;
    let send = |text: String, parse_mode: Option<&str>| {
        let mut params = json!({ "chat_id": asha.id, "text": text });
        if let Some(mode) = parse_mode {
            params["parse_mode"] = json!(mode);
        }
        let telegram = telegram.clone();
        async move { post(&telegram, "sendMessage", params).await }
    };

    assert_matches_fixture(
        &send(String::new(), None).await,
        "tg_resp_400_message_text_empty.json",
    );
    assert_matches_fixture(
        &send("a".repeat(4097), None).await,
        "tg_resp_400_message_too_long.json",
    );
    send("a".repeat(4096), None).await.result();
    send("😂".repeat(4096), None).await.result();
    send("щ".repeat(4096), None).await.result();
    assert_matches_fixture(
        &send("щ".repeat(4097), None).await,
        "tg_resp_400_message_too_long.json",
    );
    let bold = send(format!("<b>{}</b>", "a".repeat(4096)), Some("HTML")).await;
    assert_eq!(
        bold.result()["entities"][0],
        json!({ "offset": 0, "length": 4096, "type": "bold" })
    );
    send("&lt;".repeat(4096), Some("HTML")).await.result();
    assert_matches_fixture(
        &send("&amp;".repeat(4097), Some("HTML")).await,
        "tg_resp_400_message_too_long.json",
    );
    send("  \n ".to_owned(), None)
        .await
        .assert_error(400, "Bad Request: message must be non-empty");
    send("<b>unclosed".to_owned(), Some("HTML")).await.assert_error(
        400,
        "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"",
    );
    send("Hi <teacher>".to_owned(), Some("HTML"))
        .await
        .assert_error(
            400,
            "Bad Request: can't parse entities: Unsupported start tag \"teacher\" at byte offset 3",
        );
    send("<b>x</i>".to_owned(), Some("HTML")).await.assert_error(
        400,
        "Bad Request: can't parse entities: Unmatched end tag at byte offset 4, expected \"</b>\", found \"</i>\"",
    );
    send("x".to_owned(), Some("BBCode"))
        .await
        .assert_error(400, "Bad Request: unsupported parse_mode");
    let rich = send(
        "<i>a</i> <code>b</code> <span class=\"tg-spoiler\">c</span> <a href=\"https://e.org\">d</a>"
            .to_owned(),
        Some("HTML"),
    )
    .await;
    assert_eq!(rich.result()["text"], "a b c d");
    let sent = telegram.sent_to(asha.id);
    let last = sent.last().expect("sent");
    assert_eq!(last.parse_mode.as_deref(), Some("HTML"));
    assert!(
        last.raw_text
            .as_deref()
            .unwrap_or("")
            .starts_with("<i>a</i>")
    );
}

#[tokio::test]
async fn inline_keyboards_are_validated_like_telegram() {
    let telegram = start().await;
    let asha = started_user(&telegram, 5001, "Asha").await;
    let send = |button: Value| {
        let telegram = telegram.clone();
        let params = json!({ "chat_id": asha.id, "text": "Pick", "reply_markup": keyboard(json!([button])) });
        async move { post(&telegram, "sendMessage", params).await }
    };

    // 32 Cyrillic letters are 64 bytes: the limit counts bytes, not characters.
    send(json!({ "text": "ok", "callback_data": "я".repeat(32) }))
        .await
        .result();
    assert_matches_fixture(
        &send(json!({ "text": "long", "callback_data": "я".repeat(33) })).await,
        "tg_resp_400_button_data_invalid.json",
    );
    assert_matches_fixture(
        &send(json!({ "text": "long", "callback_data": "x".repeat(65) })).await,
        "tg_resp_400_button_data_invalid.json",
    );
    let text_buttons = "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard";
    send(json!({ "text": "empty", "callback_data": "" }))
        .await
        .assert_error(400, text_buttons);
    send(json!({ "text": "none" }))
        .await
        .assert_error(400, text_buttons);
    let two = send(json!({ "text": "two", "callback_data": "a", "url": "https://e.org" })).await;
    assert_eq!(two.status, StatusCode::BAD_REQUEST);
    assert!(two.description().starts_with(
        "Bad Request: can't parse inline keyboard button: more than one action field"
    ));
    send(json!({ "callback_data": "a" })).await.assert_error(
        400,
        "Bad Request: can't parse inline keyboard button: Can't find field \"text\"",
    );
    send(json!({ "text": "s", "callback_data": "a", "style": "loud" }))
        .await
        .assert_error(
            400,
            "Bad Request: can't parse inline keyboard button: invalid button style specified",
        );
    let answer = post(
        &telegram,
        "sendMessage",
        json!({ "chat_id": asha.id, "text": "x", "reply_markup": "{not json" }),
    )
    .await;
    answer.assert_error(
        400,
        "Bad Request: can't parse reply keyboard markup JSON object",
    );
}

#[tokio::test]
async fn lenient_buttons_keep_the_first_action_like_telegram() {
    let telegram = start_with(|options| options.strict_buttons = false).await;
    let asha = started_user(&telegram, 5001, "Asha").await;

    let answer = post(
        &telegram,
        "sendMessage",
        json!({ "chat_id": asha.id, "text": "x", "reply_markup": keyboard(json!([{ "text": "t", "url": "https://e.org", "callback_data": "y".repeat(80) }])) }),
    )
    .await;

    answer.result();
}

#[tokio::test]
async fn chats_users_and_blocks_are_enforced() {
    let telegram = start().await;
    let silent = telegram.add_user(6001, "Silent", Some("ur"));
    let nelson = started_user(&telegram, 6002, "Nelson").await;

    let unknown = post(
        &telegram,
        "sendMessage",
        json!({ "chat_id": 42, "text": "hi" }),
    )
    .await;
    let no_chat_id = post(&telegram, "sendMessage", json!({ "text": "hi" })).await;
    let never_wrote = post(
        &telegram,
        "sendMessage",
        json!({ "chat_id": silent.id, "text": "hi" }),
    )
    .await;
    let blocked_update = telegram.block(&nelson).expect("block");
    let blocked = post(
        &telegram,
        "sendMessage",
        json!({ "chat_id": nelson.id, "text": "hi" }),
    )
    .await;
    let typing_blocked = post(
        &telegram,
        "sendChatAction",
        json!({ "chat_id": nelson.id, "action": "typing" }),
    )
    .await;
    let unblocked_update = telegram.unblock(&nelson).expect("unblock");
    let again = post(
        &telegram,
        "sendMessage",
        json!({ "chat_id": nelson.id, "text": "welcome back" }),
    )
    .await;

    unknown.assert_error(400, "Bad Request: chat not found");
    no_chat_id.assert_error(400, "Bad Request: chat_id is empty");
    assert_matches_fixture(&never_wrote, "tg_resp_403_cant_initiate.json");
    assert_matches_fixture(&blocked, "tg_resp_403_bot_blocked.json");
    assert_matches_fixture(&typing_blocked, "tg_resp_403_bot_blocked.json");
    again.result();
    let updates = get_updates(&telegram, json!({})).await;
    let find = |id: i64| {
        updates
            .iter()
            .find(|u| u["update_id"] == id)
            .cloned()
            .expect("update")
    };
    for (update, name) in [
        (find(blocked_update), "tg14_my_chat_member_blocked.json"),
        (find(unblocked_update), "tg15_my_chat_member_unblocked.json"),
    ] {
        let expected = fixture(name)["my_chat_member"].clone();
        let got = &update["my_chat_member"];
        assert_eq!(
            got["old_chat_member"]["status"],
            expected["old_chat_member"]["status"]
        );
        assert_eq!(
            got["new_chat_member"]["status"],
            expected["new_chat_member"]["status"]
        );
        assert_eq!(
            got["new_chat_member"].get("until_date"),
            expected["new_chat_member"].get("until_date")
        );
        assert_eq!(got["new_chat_member"]["user"]["is_bot"], true);
        assert_eq!(got["chat"]["id"], nelson.id);
        assert_eq!(got["from"]["id"], nelson.id);
    }
}

#[tokio::test]
async fn a_blocked_user_who_writes_again_has_restarted_the_bot() {
    let telegram = start().await;
    let nelson = started_user(&telegram, 6002, "Nelson").await;
    telegram.block(&nelson).expect("block");

    telegram.send_text(&nelson, "/start").expect("restart");
    let updates = get_updates(&telegram, json!({})).await;
    let answer = post(
        &telegram,
        "sendMessage",
        json!({ "chat_id": nelson.id, "text": "Welcome back" }),
    )
    .await;

    let kinds: Vec<&str> = updates
        .iter()
        .map(|u| {
            if u.get("message").is_some() {
                "message"
            } else {
                "my_chat_member"
            }
        })
        .collect();
    assert_eq!(
        kinds,
        ["message", "my_chat_member", "my_chat_member", "message"]
    );
    assert_eq!(
        updates[2]["my_chat_member"]["new_chat_member"]["status"],
        "member"
    );
    answer.result();
}

#[tokio::test]
async fn a_group_that_became_a_supergroup_answers_with_migrate_to_chat_id() {
    let telegram = start().await;
    telegram
        .send_update(fixture("tg19_group_migrated_to_supergroup.json"))
        .expect("inject");

    let answer = post(
        &telegram,
        "sendMessage",
        json!({ "chat_id": -599_075_523_i64, "text": "hello" }),
    )
    .await;

    assert_matches_fixture(&answer, "tg_resp_400_migrate_to_supergroup.json");
}

#[tokio::test]
async fn replies_must_point_at_existing_messages() {
    let telegram = start().await;
    let asha = started_user(&telegram, 5001, "Asha").await;
    let start_message = 1; // the user's "/start"

    let missing = post(
        &telegram,
        "sendMessage",
        json!({ "chat_id": asha.id, "text": "re", "reply_parameters": { "message_id": 999 } }),
    )
    .await;
    let tolerated = post(&telegram, "sendMessage", json!({ "chat_id": asha.id, "text": "re", "reply_parameters": { "message_id": 999, "allow_sending_without_reply": true } })).await;
    let reply = post(
        &telegram,
        "sendMessage",
        json!({ "chat_id": asha.id, "text": "re", "reply_to_message_id": start_message }),
    )
    .await;

    missing.assert_error(400, "Bad Request: message to be replied not found");
    assert!(tolerated.result().get("reply_to_message").is_none());
    assert_eq!(reply.result()["reply_to_message"]["text"], "/start");
}

// ---- callback queries, edits, deletes ------------------------------------------------------------------

#[tokio::test]
async fn callback_queries_point_at_the_message_and_are_answered_once() {
    let telegram = start().await;
    let asha = started_user(&telegram, 5001, "Asha").await;
    let sent = post(
        &telegram,
        "sendMessage",
        json!({ "chat_id": asha.id, "text": "Rate it", "reply_markup": keyboard(json!([{ "text": "Good", "callback_data": "rate:good" }, { "text": "Bad", "callback_data": "rate:bad" }])) }),
    )
    .await;
    let message_id = sent.result()["message_id"].as_i64().expect("id");

    let query_id = telegram
        .press(&asha, message_id, "rate:good")
        .expect("press");
    let updates = get_updates(&telegram, json!({})).await;
    let first = post(
        &telegram,
        "answerCallbackQuery",
        json!({ "callback_query_id": query_id, "text": "Thanks!" }),
    )
    .await;
    let twice = post(
        &telegram,
        "answerCallbackQuery",
        json!({ "callback_query_id": query_id }),
    )
    .await;
    let unknown = post(
        &telegram,
        "answerCallbackQuery",
        json!({ "callback_query_id": "123" }),
    )
    .await;
    let second_id = telegram.press_label(&asha, "Bad").expect("press by label");
    let too_long = post(
        &telegram,
        "answerCallbackQuery",
        json!({ "callback_query_id": second_id, "text": "x".repeat(201) }),
    )
    .await;
    let no_button = telegram.press(&asha, message_id, "rate:meh");

    let query = &updates.last().expect("callback update")["callback_query"];
    assert_eq!(query["id"], query_id);
    assert_eq!(query["data"], "rate:good");
    assert_eq!(query["from"]["id"], asha.id);
    assert_eq!(query["message"], sent.result().clone());
    assert!(query["chat_instance"].is_string());
    first.result();
    assert_matches_fixture(&twice, "tg_resp_400_query_too_old.json");
    assert_matches_fixture(&unknown, "tg_resp_400_query_too_old.json");
    too_long.assert_error(400, "Bad Request: MESSAGE_TOO_LONG");
    assert!(no_button.is_err());
    let answers = telegram.callback_answers();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].text.as_deref(), Some("Thanks!"));
}

#[tokio::test]
async fn callback_queries_from_fixtures_can_be_answered() {
    let telegram = start().await;
    telegram
        .send_update(fixture("tg06_callback_query_with_message.json"))
        .expect("inject");

    let answer = post(
        &telegram,
        "answerCallbackQuery",
        json!({ "callback_query_id": "1874464818486990916" }),
    )
    .await;

    answer.result();
}

#[tokio::test]
async fn edits_and_deletes_follow_telegrams_rules() {
    let telegram = start_with(|options| {
        options.clock = Clock::manual(chrono::Utc::now());
    })
    .await;
    let asha = started_user(&telegram, 5001, "Asha").await;
    let markup = keyboard(json!([{ "text": "Next", "callback_data": "next" }]));
    let sent = post(&telegram, "sendMessage", json!({ "chat_id": asha.id, "text": "<b>Step 1</b>", "parse_mode": "HTML", "reply_markup": markup })).await;
    let id = sent.result()["message_id"].as_i64().expect("id");
    let not_modified = "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message";

    let same = post(&telegram, "editMessageText", json!({ "chat_id": asha.id, "message_id": id, "text": "<b>Step 1</b>", "parse_mode": "HTML", "reply_markup": markup })).await;
    let edited = post(
        &telegram,
        "editMessageText",
        json!({ "chat_id": asha.id, "message_id": id, "text": "Step 2", "reply_markup": markup }),
    )
    .await;
    let same_markup = post(
        &telegram,
        "editMessageReplyMarkup",
        json!({ "chat_id": asha.id, "message_id": id, "reply_markup": markup }),
    )
    .await;
    let markup_removed = post(
        &telegram,
        "editMessageReplyMarkup",
        json!({ "chat_id": asha.id, "message_id": id }),
    )
    .await;
    let missing_edit = post(
        &telegram,
        "editMessageText",
        json!({ "chat_id": asha.id, "message_id": 999, "text": "x" }),
    )
    .await;
    let users_message = post(
        &telegram,
        "editMessageText",
        json!({ "chat_id": asha.id, "message_id": 1, "text": "x" }),
    )
    .await;
    let missing_delete = post(
        &telegram,
        "deleteMessage",
        json!({ "chat_id": asha.id, "message_id": 999 }),
    )
    .await;

    same.assert_error(400, not_modified);
    assert_eq!(edited.result()["text"], "Step 2");
    assert!(edited.result()["edit_date"].is_i64());
    same_markup.assert_error(400, not_modified);
    assert!(markup_removed.result().get("reply_markup").is_none());
    missing_edit.assert_error(400, "Bad Request: message to edit not found");
    users_message.assert_error(400, "Bad Request: message can't be edited");
    missing_delete.assert_error(400, "Bad Request: message to delete not found");
    let visible = telegram.sent_to(asha.id);
    assert_eq!(visible.len(), 1);
    assert_eq!(visible[0].text.as_deref(), Some("Step 2"));
    assert!(visible[0].edited);
    assert!(visible[0].reply_markup.is_none());

    post(
        &telegram,
        "deleteMessage",
        json!({ "chat_id": asha.id, "message_id": id }),
    )
    .await
    .result();
    assert!(telegram.sent_to(asha.id).is_empty());
    let old = post(
        &telegram,
        "sendMessage",
        json!({ "chat_id": asha.id, "text": "old" }),
    )
    .await;
    telegram.advance_clock(chrono::Duration::hours(49));
    post(
        &telegram,
        "deleteMessage",
        json!({ "chat_id": asha.id, "message_id": old.result()["message_id"] }),
    )
    .await
    .assert_error(400, "Bad Request: message can't be deleted");
}

// ---- forum topics ------------------------------------------------------------------------------------------

#[tokio::test]
async fn forum_topics_carry_threads_and_refuse_unknown_or_closed_ones() {
    let telegram = start().await;
    let experts = telegram.create_forum_group(-1_001_847_508_954, "Maths experts");
    let plain = telegram.create_supergroup(-1_001_000_000_001, "Staff room");

    let topic = post(
        &telegram,
        "createForumTopic",
        json!({ "chat_id": experts, "name": "Ticket #4821 — fractions", "icon_color": 9_367_192 }),
    )
    .await;
    let thread = topic.result()["message_thread_id"]
        .as_i64()
        .expect("thread id");
    let in_topic = post(
        &telegram,
        "sendMessage",
        json!({ "chat_id": experts, "message_thread_id": thread, "text": "New ticket" }),
    )
    .await;
    let unknown_thread = post(
        &telegram,
        "sendMessage",
        json!({ "chat_id": experts, "message_thread_id": 999, "text": "x" }),
    )
    .await;
    let not_forum = post(
        &telegram,
        "createForumTopic",
        json!({ "chat_id": plain, "name": "x" }),
    )
    .await;
    let bad_color = post(
        &telegram,
        "createForumTopic",
        json!({ "chat_id": experts, "name": "x", "icon_color": 1 }),
    )
    .await;
    post(
        &telegram,
        "closeForumTopic",
        json!({ "chat_id": experts, "message_thread_id": thread }),
    )
    .await
    .result();
    let closed = post(
        &telegram,
        "sendMessage",
        json!({ "chat_id": experts, "message_thread_id": thread, "text": "late" }),
    )
    .await;
    let chat = post(&telegram, "getChat", json!({ "chat_id": experts })).await;

    let expected = fixture("tg_resp_ok_createforumtopic.json")["result"].clone();
    assert_eq!(
        without(topic.result(), "message_thread_id"),
        without(&expected, "message_thread_id")
    );
    assert_eq!(in_topic.result()["message_thread_id"], thread);
    assert_eq!(in_topic.result()["is_topic_message"], true);
    assert_eq!(
        in_topic.result()["reply_to_message"]["forum_topic_created"]["name"],
        "Ticket #4821 — fractions"
    );
    assert_matches_fixture(&unknown_thread, "tg_resp_400_thread_not_found.json");
    not_forum.assert_error(400, "Bad Request: the chat is not a forum");
    assert_eq!(bad_color.status, StatusCode::BAD_REQUEST);
    closed.assert_error(400, "Bad Request: TOPIC_CLOSED");
    assert_eq!(chat.result()["is_forum"], true);
    assert_eq!(telegram.sent_to(experts)[0].message_thread_id, Some(thread));
}

#[tokio::test]
async fn topics_from_injected_fixtures_are_known() {
    let telegram = start().await;
    telegram
        .send_update(fixture("tg16_forum_topic_created.json"))
        .expect("inject");
    let expert = telegram.add_user(1_253_681_278, "вафель'", Some("en"));

    let answer = post(
        &telegram,
        "sendMessage",
        json!({ "chat_id": -1_001_847_508_954_i64, "message_thread_id": 4, "text": "On it" }),
    )
    .await;
    telegram
        .send_text_in(-1_001_847_508_954, &expert, "blah", Some(4))
        .expect("expert writes in the topic");
    let updates = get_updates(&telegram, json!({})).await;

    assert_eq!(answer.result()["reply_to_message"]["message_id"], 4);
    let written = &updates.last().expect("update")["message"];
    let tg17 = fixture("tg17_forum_topic_message.json")["message"].clone();
    assert_eq!(written["is_topic_message"], tg17["is_topic_message"]);
    assert_eq!(written["message_thread_id"], tg17["message_thread_id"]);
    assert_eq!(
        written["reply_to_message"]["message_id"],
        tg17["reply_to_message"]["message_id"]
    );
    assert_eq!(written["chat"], tg17["chat"]);
}

// ---- getUpdates -----------------------------------------------------------------------------------------------

#[tokio::test]
async fn get_updates_confirms_by_offset_and_honours_limit() {
    let telegram = start().await;
    let asha = telegram.add_user(5001, "Asha", None);
    for n in 1..=5 {
        telegram
            .send_text(&asha, &format!("message {n}"))
            .expect("send");
    }

    let first_two = get_updates(&telegram, json!({ "limit": 2 })).await;
    let first_id = first_two[0]["update_id"].as_i64().expect("id");
    let again = get_updates(&telegram, json!({ "limit": 2 })).await;
    let after_confirm = get_updates(&telegram, json!({ "offset": first_id + 2 })).await;
    let clamped = get_updates(&telegram, json!({ "offset": first_id + 2, "limit": 0 })).await;
    let last_only = get_updates(&telegram, json!({ "offset": -1 })).await;
    let forgotten = get_updates(&telegram, json!({})).await;
    let info = post(&telegram, "getWebhookInfo", json!({})).await;

    assert_eq!(first_id, 1000);
    assert_eq!(first_two.len(), 2);
    assert_eq!(again, first_two, "unconfirmed updates come again");
    assert_eq!(after_confirm.len(), 3);
    assert_eq!(after_confirm[0]["message"]["text"], "message 3");
    assert_eq!(clamped.len(), 1, "limit is clamped to 1–100");
    assert_eq!(last_only.len(), 1);
    assert_eq!(last_only[0]["message"]["text"], "message 5");
    assert_eq!(
        forgotten, last_only,
        "a negative offset forgets earlier updates"
    );
    assert_eq!(
        info.body,
        json!({ "ok": true, "result": { "url": "", "has_custom_certificate": false, "pending_update_count": 1 } })
    );
}

#[tokio::test]
async fn long_polling_returns_as_soon_as_an_update_arrives() {
    let telegram = start().await;
    let asha = telegram.add_user(5001, "Asha", None);
    let poller = {
        let telegram = telegram.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let updates = get_updates(&telegram, json!({ "timeout": 50 })).await;
            (updates, started.elapsed())
        })
    };
    telegram
        .wait_until(WAIT, |t| (t.long_polls_in_progress() == 1).then_some(()))
        .await
        .expect("the poll waits");

    telegram.send_text(&asha, "Hello?").expect("send");
    let (updates, elapsed) = timeout(WAIT, poller)
        .await
        .expect("poll returns")
        .expect("task");

    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0]["message"]["text"], "Hello?");
    assert!(
        elapsed < WAIT,
        "returned after {elapsed:?}, not after the 50 s timeout"
    );
}

#[tokio::test]
async fn a_long_poll_with_nothing_to_return_ends_at_its_timeout() {
    let telegram = start().await;
    let started = Instant::now();

    let updates = get_updates(&telegram, json!({ "timeout": 1 })).await;

    assert!(updates.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn a_second_poller_terminates_the_first_with_409() {
    let telegram = start().await;
    let first = {
        let telegram = telegram.clone();
        tokio::spawn(async move { post(&telegram, "getUpdates", json!({ "timeout": 50 })).await })
    };
    telegram
        .wait_until(WAIT, |t| (t.long_polls_in_progress() == 1).then_some(()))
        .await
        .expect("first poll waits");

    let second = post(&telegram, "getUpdates", json!({ "timeout": 0 })).await;
    let first = timeout(WAIT, first)
        .await
        .expect("first returns")
        .expect("task");

    assert_eq!(second.result(), &json!([]));
    assert_matches_fixture(&first, "tg_resp_409_conflict_other_getupdates.json");
}

#[tokio::test]
async fn get_updates_while_a_webhook_is_set_is_a_conflict() {
    let telegram = start().await;
    let waiting = {
        let telegram = telegram.clone();
        tokio::spawn(async move { post(&telegram, "getUpdates", json!({ "timeout": 50 })).await })
    };
    telegram
        .wait_until(WAIT, |t| (t.long_polls_in_progress() == 1).then_some(()))
        .await
        .expect("poll waits");

    let set = post(
        &telegram,
        "setWebhook",
        json!({ "url": "http://127.0.0.1:9/hook" }),
    )
    .await;
    let waiting = timeout(WAIT, waiting)
        .await
        .expect("poll ends")
        .expect("task");
    let refused = post(&telegram, "getUpdates", json!({})).await;
    post(&telegram, "deleteWebhook", json!({})).await.result();
    let after_delete = post(&telegram, "getUpdates", json!({})).await;

    assert_eq!(set.result(), &json!(true));
    assert_eq!(set.description(), "Webhook was set");
    assert_matches_fixture(&waiting, "tg_resp_409_conflict_webhook_active.json");
    assert_matches_fixture(&refused, "tg_resp_409_conflict_webhook_active.json");
    after_delete.result();
}

#[tokio::test]
async fn allowed_updates_persist_and_filter_new_updates() {
    let telegram = start().await;
    let asha = started_user(&telegram, 5001, "Asha").await;
    let sent = post(&telegram, "sendMessage", json!({ "chat_id": asha.id, "text": "Q", "reply_markup": keyboard(json!([{ "text": "A", "callback_data": "a" }])) })).await;
    let offset = get_updates(&telegram, json!({ "allowed_updates": ["callback_query"] })).await[0]
        ["update_id"]
        .as_i64()
        .expect("id")
        + 1;

    telegram.send_text(&asha, "ignored").expect("send");
    telegram
        .press(
            &asha,
            sent.result()["message_id"].as_i64().expect("id"),
            "a",
        )
        .expect("press");
    let filtered = get_updates(&telegram, json!({ "offset": offset })).await;
    post(
        &telegram,
        "getUpdates",
        json!({ "offset": offset + 10, "allowed_updates": [] }),
    )
    .await
    .result();
    telegram.send_text(&asha, "seen").expect("send");
    let default_again = get_updates(&telegram, json!({})).await;

    assert_eq!(filtered.len(), 1, "only the callback query: {filtered:?}");
    assert!(filtered[0].get("callback_query").is_some());
    assert_eq!(default_again.len(), 1);
    assert_eq!(default_again[0]["message"]["text"], "seen");
}

#[tokio::test]
async fn updates_expire_after_24_hours() {
    let telegram = start_with(|options| options.clock = Clock::manual(chrono::Utc::now())).await;
    let asha = telegram.add_user(5001, "Asha", None);
    telegram.send_text(&asha, "old").expect("send");

    telegram.advance_clock(chrono::Duration::hours(25));
    telegram.send_text(&asha, "new").expect("send");
    let updates = get_updates(&telegram, json!({})).await;

    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0]["message"]["text"], "new");
}

#[tokio::test]
async fn every_fixture_comes_out_of_get_updates_unchanged() {
    let telegram = start().await;
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| {
            name.starts_with("tg") && !name.starts_with("tg_") && name.ends_with(".json")
        })
        .filter(|name| !name.starts_with("tg25"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 24, "{names:?}");

    let mut ids = Vec::new();
    for name in &names {
        ids.push(telegram.send_update(fixture(name)).expect("inject"));
    }
    let updates = get_updates(&telegram, json!({})).await;

    assert_eq!(updates.len(), names.len());
    for ((name, update), id) in names.iter().zip(&updates).zip(&ids) {
        assert_eq!(
            update["update_id"], *id,
            "{name}: update_id reassigned in order"
        );
        assert_eq!(
            without_update_id(update.clone()),
            without_update_id(fixture(name)),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_captured_get_updates_batch_is_reproduced_exactly() {
    let telegram = start().await;
    let batch = fixture("tg25_getupdates_response_batch.json");
    let injected = client()
        .post(format!("{}/_fake/updates?keep_id=true", telegram.api_url()))
        .json(&batch)
        .send()
        .await
        .expect("inject over HTTP");
    assert_eq!(injected.status(), StatusCode::OK);

    let answer = post(&telegram, "getUpdates", json!({})).await;

    assert_eq!(answer.body, batch);
}

// ---- webhooks ---------------------------------------------------------------------------------------------------

#[tokio::test]
async fn webhook_secret_tokens_and_urls_are_validated() {
    let telegram = start().await;
    let set = |params: Value| {
        let telegram = telegram.clone();
        async move { post(&telegram, "setWebhook", params).await }
    };

    let bad_chars =
        set(json!({ "url": "http://127.0.0.1:9/h", "secret_token": "no spaces!" })).await;
    let too_long =
        set(json!({ "url": "http://127.0.0.1:9/h", "secret_token": "a".repeat(257) })).await;
    let longest =
        set(json!({ "url": "http://127.0.0.1:9/h", "secret_token": "A-z_0".repeat(51) + "x" }))
            .await;
    let same_again =
        set(json!({ "url": "http://127.0.0.1:9/h", "secret_token": "A-z_0".repeat(51) + "x" }))
            .await;
    let not_a_url = set(json!({ "url": "ftp://example.org" })).await;
    let removed = set(json!({ "url": "" })).await;

    assert_eq!(bad_chars.status, StatusCode::BAD_REQUEST);
    assert_eq!(too_long.status, StatusCode::BAD_REQUEST);
    longest.result();
    assert_eq!(same_again.description(), "Webhook is already set");
    not_a_url.assert_error(
        400,
        "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
    );
    assert_eq!(removed.description(), "Webhook was deleted");
}

#[tokio::test]
async fn webhook_delivers_each_update_with_the_secret_header() {
    let telegram = start().await;
    let asha = telegram.add_user(5001, "Asha", Some("hi"));
    let (url, mut hits) = bot_endpoint(|_, _| ok_reply()).await;

    post(
        &telegram,
        "setWebhook",
        json!({ "url": url, "secret_token": "s3cr3t_-" }),
    )
    .await
    .result();
    let update_id = telegram.send_text(&asha, "Namaste").expect("send");
    let hit = next_hit(&mut hits).await;
    let info = telegram
        .wait_until(WAIT, |t| {
            let info = t.webhook_info();
            (info.pending_update_count == 0).then_some(info)
        })
        .await
        .expect("delivered");

    assert_eq!(hit.secret.as_deref(), Some("s3cr3t_-"));
    assert_eq!(hit.body["update_id"], update_id);
    assert_eq!(hit.body["message"]["text"], "Namaste");
    assert_eq!(hit.body["message"]["from"]["language_code"], "hi");
    assert_eq!(info.url, url);
    assert_eq!(info.last_error_message, None);
}

#[tokio::test]
async fn webhook_retries_a_failing_bot_and_records_the_error() {
    let telegram = start().await;
    let asha = telegram.add_user(5001, "Asha", None);
    let (url, mut hits) = bot_endpoint(|_, attempt| {
        Box::pin(async move {
            if attempt <= 3 {
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            } else {
                StatusCode::OK.into_response()
            }
        })
    })
    .await;

    post(&telegram, "setWebhook", json!({ "url": url }))
        .await
        .result();
    telegram.send_text(&asha, "Are you there?").expect("send");
    let mut attempts = Vec::new();
    for _ in 0..4 {
        attempts.push(next_hit(&mut hits).await);
    }
    telegram
        .wait_until(WAIT, |t| (t.pending_updates() == 0).then_some(()))
        .await
        .expect("delivered at last");
    let info = post(&telegram, "getWebhookInfo", json!({})).await;

    assert!(
        attempts.iter().all(|hit| hit.body == attempts[0].body),
        "the same update each time"
    );
    // 5 ms units: at once, then 2 and 4 units.
    assert!(attempts[2].at - attempts[1].at >= Duration::from_millis(10));
    assert!(attempts[3].at - attempts[2].at >= Duration::from_millis(20));
    assert_eq!(
        info.result()["last_error_message"],
        "Wrong response from the webhook: 500 Internal Server Error"
    );
    assert!(info.result()["last_error_date"].is_i64());
    assert_eq!(info.result()["pending_update_count"], 0);
}

#[tokio::test]
async fn webhook_honours_the_bots_retry_after() {
    let telegram =
        start_with(|options| options.webhook_backoff_base = Duration::from_millis(20)).await;
    let asha = telegram.add_user(5001, "Asha", None);
    let (url, mut hits) = bot_endpoint(|_, attempt| {
        Box::pin(async move {
            if attempt == 1 {
                (StatusCode::TOO_MANY_REQUESTS, [("Retry-After", "10")]).into_response()
            } else {
                StatusCode::OK.into_response()
            }
        })
    })
    .await;

    post(&telegram, "setWebhook", json!({ "url": url }))
        .await
        .result();
    telegram.send_text(&asha, "hi").expect("send");
    let first = next_hit(&mut hits).await;
    let second = next_hit(&mut hits).await;

    // Without Retry-After the first retry is immediate; with it, 10 units of 20 ms.
    assert!(
        second.at - first.at >= Duration::from_millis(190),
        "{:?}",
        second.at - first.at
    );
    assert_eq!(
        telegram.webhook_info().last_error_message.as_deref(),
        Some("Wrong response from the webhook: 429 Too Many Requests")
    );
}

#[tokio::test]
async fn a_dropped_webhook_connection_is_recorded() {
    let telegram = start().await;
    let asha = telegram.add_user(5001, "Asha", None);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });

    post(&telegram, "setWebhook", json!({ "url": url }))
        .await
        .result();
    telegram.send_text(&asha, "hi").expect("send");
    let message = telegram
        .wait_until(WAIT, |t| t.webhook_info().last_error_message)
        .await
        .expect("an error is recorded");

    assert_eq!(message, "Webhook connection closed");
    assert_eq!(telegram.pending_updates(), 1);
}

#[tokio::test]
async fn webhook_keeps_order_within_a_chat_and_runs_chats_in_parallel() {
    let telegram = start().await;
    let asha = telegram.add_user(5001, "Asha", None);
    let bilal = telegram.add_user(5002, "Bilal", None);
    let bilal_arrived = Arc::new(Notify::new());
    let gate = bilal_arrived.clone();
    let (url, mut hits) = bot_endpoint(move |body, _| {
        let gate = gate.clone();
        Box::pin(async move {
            match body["message"]["text"].as_str() {
                // Asha's first update stays in flight until Bilal's has arrived.
                Some("asha 1") => {
                    let _ = timeout(WAIT, gate.notified()).await;
                }
                Some("bilal 1") => gate.notify_one(),
                _ => {}
            }
            StatusCode::OK.into_response()
        })
    })
    .await;

    post(
        &telegram,
        "setWebhook",
        json!({ "url": url, "max_connections": 40 }),
    )
    .await
    .result();
    telegram.send_text(&asha, "asha 1").expect("send");
    telegram.send_text(&asha, "asha 2").expect("send");
    telegram.send_text(&bilal, "bilal 1").expect("send");
    let mut order = Vec::new();
    for _ in 0..3 {
        order.push(
            next_hit(&mut hits).await.body["message"]["text"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        );
    }

    // Asha's second update waits for her first; Bilal's ran while Asha's first was in flight.
    assert_eq!(order[2], "asha 2", "{order:?}");
    assert!(
        order[..2].contains(&"asha 1".to_owned()) && order[..2].contains(&"bilal 1".to_owned())
    );
}

#[tokio::test]
async fn duplicate_and_out_of_order_deliveries_can_be_injected() {
    let telegram = start().await;
    let asha = telegram.add_user(5001, "Asha", None);
    let bilal = telegram.add_user(5002, "Bilal", None);

    telegram.duplicate_next_updates(1);
    let duplicated = telegram.send_text(&asha, "twice").expect("send");
    let polled = get_updates(&telegram, json!({})).await;
    get_updates(&telegram, json!({ "offset": duplicated + 1 })).await;
    telegram.send_text(&asha, "first").expect("send");
    telegram.send_text(&bilal, "second").expect("send");
    telegram.set_webhook_order(WebhookOrder::NewestChatFirst);
    let (url, mut hits) = bot_endpoint(|_, _| ok_reply()).await;
    post(
        &telegram,
        "setWebhook",
        json!({ "url": url, "max_connections": 1 }),
    )
    .await
    .result();
    let first = next_hit(&mut hits).await;
    let second = next_hit(&mut hits).await;

    assert_eq!(polled.len(), 2);
    assert_eq!(polled[0], polled[1], "same update, same update_id");
    assert_eq!(first.body["message"]["text"], "second");
    assert_eq!(second.body["message"]["text"], "first");
}

#[tokio::test]
async fn a_method_in_the_webhook_answer_is_executed() {
    let telegram = start().await;
    let asha = telegram.add_user(5001, "Asha", None);
    let (url, _hits) = bot_endpoint(|body, _| {
        let chat_id = body["message"]["chat"]["id"].clone();
        Box::pin(async move {
            axum::Json(json!({ "method": "sendMessage", "chat_id": chat_id, "text": "Got it" }))
                .into_response()
        })
    })
    .await;

    post(&telegram, "setWebhook", json!({ "url": url }))
        .await
        .result();
    telegram.send_text(&asha, "hello").expect("send");
    let reply = telegram
        .wait_for(asha.id, |m| m.text.as_deref() == Some("Got it"), WAIT)
        .await
        .expect("the reply is sent");

    assert_eq!(reply.chat_id, asha.id);
    assert_eq!(
        telegram.requests_to("sendMessage")[0].source,
        RequestSource::WebhookReply
    );
}

// ---- faults and flood control -------------------------------------------------------------------------------------

#[tokio::test]
async fn injected_faults_answer_like_an_overloaded_telegram() {
    let telegram = start().await;
    let asha = started_user(&telegram, 5001, "Asha").await;
    let bilal = started_user(&telegram, 5002, "Bilal").await;
    let send = |chat_id: i64| {
        let telegram = telegram.clone();
        async move {
            post(
                &telegram,
                "sendMessage",
                json!({ "chat_id": chat_id, "text": "hi" }),
            )
            .await
        }
    };

    telegram.fail_next("sendMessage", 1, Fault::TooManyRequests { retry_after: 8 });
    let flood = send(asha.id).await;
    telegram.fail_next("*", 1, Fault::server_error());
    let server_error = send(asha.id).await;
    telegram.fail_next("SENDMESSAGE", 1, Fault::bad_gateway_html());
    let html = send(asha.id).await;
    telegram.fail_next_in_chat(
        bilal.id,
        "sendMessage",
        1,
        Fault::Api {
            code: 403,
            description: "Forbidden: user is deactivated".into(),
        },
    );
    let other_chat = send(asha.id).await;
    let deactivated = send(bilal.id).await;
    let recovered = send(bilal.id).await;

    assert_matches_fixture(&flood, "tg_resp_429_retry_after.json");
    assert_eq!(flood.headers["retry-after"], "8");
    server_error.assert_error(500, "Internal Server Error: fake outage");
    assert_eq!(html.status, StatusCode::BAD_GATEWAY);
    assert_eq!(html.headers["content-type"], "text/html");
    assert!(
        html.body
            .as_str()
            .unwrap_or("")
            .contains("<h1>502 Bad Gateway</h1>")
    );
    other_chat.result();
    deactivated.assert_error(403, "Forbidden: user is deactivated");
    recovered.result();
    assert_eq!(
        telegram.sent_to(asha.id).len(),
        1,
        "failed calls had no effect"
    );
}

#[tokio::test]
async fn slow_and_dropped_connections_can_be_injected() {
    let telegram = start().await;
    let asha = started_user(&telegram, 5001, "Asha").await;
    let url = format!("{}/sendMessage", telegram.bot_url());
    let body = json!({ "chat_id": asha.id, "text": "hi" });

    telegram.fail_next("sendMessage", 1, Fault::delay(Duration::from_millis(300)));
    let started = Instant::now();
    let slow = answer(
        client()
            .post(&url)
            .json(&body)
            .send()
            .await
            .expect("slow answer"),
    )
    .await;
    let slow_elapsed = started.elapsed();
    telegram.fail_next("sendMessage", 1, Fault::DropConnection);
    let dropped = client().post(&url).json(&body).send().await;
    telegram.fail_next("sendMessage", 1, Fault::LoseResponse);
    let lost = client().post(&url).json(&body).send().await;

    slow.result();
    assert!(slow_elapsed >= Duration::from_millis(300));
    assert!(dropped.is_err(), "no HTTP answer: {dropped:?}");
    assert!(lost.is_err(), "no HTTP answer: {lost:?}");
    assert_eq!(
        telegram.sent_to(asha.id).len(),
        2,
        "the slow send and the lost-response send went out"
    );
    assert_eq!(
        telegram.requests_to("sendMessage").len(),
        3,
        "every attempt is logged"
    );
}

#[tokio::test]
async fn realistic_flood_control_answers_429_with_retry_after() {
    let telegram = start_with(|options| {
        options.rate_limits = true;
        options.clock = Clock::manual(chrono::Utc::now());
    })
    .await;
    let asha = started_user(&telegram, 5001, "Asha").await;
    let group = telegram.create_supergroup(-1_001_000_000_002, "Teachers");

    let mut private = Vec::new();
    for n in 0..4 {
        private.push(
            post(
                &telegram,
                "sendMessage",
                json!({ "chat_id": asha.id, "text": n.to_string() }),
            )
            .await,
        );
    }
    let mut in_group = Vec::new();
    for n in 0..21 {
        in_group.push(
            post(
                &telegram,
                "sendMessage",
                json!({ "chat_id": group, "text": n.to_string() }),
            )
            .await,
        );
    }
    telegram.advance_clock(chrono::Duration::seconds(1));
    let after_a_second = post(
        &telegram,
        "sendMessage",
        json!({ "chat_id": asha.id, "text": "later" }),
    )
    .await;

    assert!(private[..3].iter().all(|a| a.status == StatusCode::OK));
    private[3].assert_error(429, "Too Many Requests: retry after 1");
    assert_eq!(private[3].body["parameters"]["retry_after"], 1);
    assert_eq!(private[3].headers["retry-after"], "1");
    assert!(in_group[..20].iter().all(|a| a.status == StatusCode::OK));
    assert_eq!(in_group[20].status, StatusCode::TOO_MANY_REQUESTS);
    after_a_second.result();
}

// ---- files -------------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn files_sent_or_received_can_be_fetched() {
    let telegram = start().await;
    let asha = started_user(&telegram, 5001, "Asha").await;
    telegram.add_file("BQACAgIAAxkBAAIBdWR", b"%PDF-1.4 lesson plan".to_vec());
    telegram
        .send_update(fixture("tg09_photo_with_caption.json"))
        .expect("inject");

    let document = post(&telegram, "sendDocument", json!({ "chat_id": asha.id, "document": "BQACAgIAAxkBAAIBdWR", "caption": "<i>Plan</i>", "parse_mode": "HTML" })).await;
    let voice = post(&telegram, "sendVoice", json!({ "chat_id": asha.id })).await;
    let file = post(
        &telegram,
        "getFile",
        json!({ "file_id": "BQACAgIAAxkBAAIBdWR" }),
    )
    .await;
    let path = file.result()["file_path"]
        .as_str()
        .expect("path")
        .to_owned();
    let bytes = client()
        .get(format!(
            "{}/file/bot{}/{path}",
            telegram.api_url(),
            telegram.token()
        ))
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("bytes");
    let photo_id =
        fixture("tg09_photo_with_caption.json")["message"]["photo"][0]["file_id"].clone();
    let photo = post(&telegram, "getFile", json!({ "file_id": photo_id })).await;
    let unknown = post(&telegram, "getFile", json!({ "file_id": "nope" })).await;

    assert_eq!(
        document.result()["document"]["file_id"],
        "BQACAgIAAxkBAAIBdWR"
    );
    assert_eq!(document.result()["caption"], "Plan");
    voice.assert_error(400, "Bad Request: there is no voice in the request");
    assert_eq!(&bytes[..], b"%PDF-1.4 lesson plan");
    assert_eq!(photo.result()["file_unique_id"], "AQADabwxGxJmgVF4");
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    let sent = telegram.sent_to(asha.id);
    assert_eq!(
        sent.last().expect("document").media.as_deref(),
        Some("document")
    );
}

// ---- the HTTP control API --------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_http_control_api_drives_the_same_world() {
    let telegram = start().await;
    let control = |path: &str| format!("{}/_fake/{path}", telegram.api_url());
    let http = client();

    let user: Value = http
        .post(control("users"))
        .json(&json!({ "id": 7001, "first_name": "Chitra", "language_code": "ta" }))
        .send()
        .await
        .expect("add user")
        .json()
        .await
        .expect("json");
    let typed: Value = http
        .post(control("users/7001/messages"))
        .json(&json!({ "text": "/start" }))
        .send()
        .await
        .expect("type")
        .json()
        .await
        .expect("json");
    let updates = get_updates(&telegram, json!({})).await;
    let sent = post(&telegram, "sendMessage", json!({ "chat_id": 7001, "text": "Menu", "reply_markup": keyboard(json!([{ "text": "Help", "callback_data": "help" }])) })).await;
    let pressed = http
        .post(control("users/7001/press"))
        .json(&json!({ "label": "Help" }))
        .send()
        .await
        .expect("press");
    let log: Value = http
        .get(control("chats/7001/sent"))
        .send()
        .await
        .expect("sent log")
        .json()
        .await
        .expect("json");
    let fault = http
        .post(control("faults"))
        .json(&json!({ "method": "sendMessage", "fault": { "kind": "too_many_requests", "retry_after": 3 } }))
        .send()
        .await
        .expect("fault");
    let limited = post(
        &telegram,
        "sendMessage",
        json!({ "chat_id": 7001, "text": "x" }),
    )
    .await;
    let blocked = http
        .post(control("users/7001/block"))
        .send()
        .await
        .expect("block");
    let refused = post(
        &telegram,
        "sendMessage",
        json!({ "chat_id": 7001, "text": "x" }),
    )
    .await;
    let unknown = http
        .post(control("users/9/block"))
        .send()
        .await
        .expect("unknown");
    let requests: Value = http
        .get(control("requests"))
        .send()
        .await
        .expect("requests")
        .json()
        .await
        .expect("json");

    assert_eq!(user["language_code"], "ta");
    assert_eq!(updates[0]["update_id"], typed["update_id"]);
    assert_eq!(updates[0]["message"]["entities"][0]["type"], "bot_command");
    assert_eq!(pressed.status(), StatusCode::OK);
    assert_eq!(log[0]["message_id"], sent.result()["message_id"]);
    assert_eq!(log[0]["text"], "Menu");
    assert_eq!(fault.status(), StatusCode::OK);
    limited.assert_error(429, "Too Many Requests: retry after 3");
    assert_eq!(blocked.status(), StatusCode::OK);
    assert_matches_fixture(&refused, "tg_resp_403_bot_blocked.json");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert_eq!(requests.as_array().map(Vec::len), Some(4));
    assert_eq!(requests[0]["method"], "getUpdates");
}
