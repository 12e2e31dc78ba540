//! HTTP: `/bot<token>/<method>` (GET or POST; query, form or JSON), `/file/bot<token>/<path>`, and
//! the control routes under `/_fake/`. Faults are applied here, before a method runs, and
//! `getUpdates` long polling lives here because it waits. Requests with the bot's token are logged
//! before anything else; requests with another token are refused and not logged.
//!
//! Control routes (JSON in, JSON out; unknown users/chats/messages → 404 `{"error":…}`):
//!
//! | route | body | effect |
//! |---|---|---|
//! | `POST /_fake/updates[?keep_id=true]` | an Update, an array, or a getUpdates envelope | queue them; `{"update_ids":[…]}` |
//! | `POST /_fake/users` | `{id, first_name, language_code?}` | create a user |
//! | `POST /_fake/users/{id}/messages` | `{text, chat_id?, message_thread_id?}` | the user writes; `{"update_id"}` |
//! | `POST /_fake/users/{id}/press` | `{message_id, callback_data, chat_id?}` or `{label}` | `{"callback_query_id"}` |
//! | `POST /_fake/users/{id}/block`, `/unblock` | — | `my_chat_member` update; `{"update_id"}` |
//! | `POST /_fake/groups` | `{id, title, kind?: group\|supergroup\|forum}` | create a chat |
//! | `GET /_fake/chats/{id}/sent` | — | the bot's messages there (`SentMessage`s) |
//! | `GET /_fake/requests`, `/_fake/callback_answers`, `/_fake/webhook` | — | logs and webhook status |
//! | `POST /_fake/faults` | `{method?, chat_id?, count?, fault: {"kind": …}}` | fail the next calls |
//! | `POST /_fake/clock/advance` | `{seconds}` | move a manual clock |
//!
//! The listener wraps each connection so a handler can cut it (faults `DropConnection`,
//! `LoseResponse`): the response write then fails and hyper closes the socket without sending a
//! byte.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::time::Instant;

use super::control::{GroupKind, Shared};
use super::error::{ApiError, Reply};
use super::methods;
use super::params::Params;
use super::records::{ControlError, Fault, RequestSource};
use crate::testkit::cuttable::{ConnHandle, CuttableListener};

/// `getUpdates` never waits longer than this (`LONG_POLL_MAX_TIMEOUT`).
const MAX_LONG_POLL_SECONDS: i64 = 50;

/// Serves the fake until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let app = router(shared).into_make_service_with_connect_info::<ConnHandle>();
    if let Err(error) = axum::serve(CuttableListener(listener), app).await {
        tracing::warn!(error = %error, "fake telegram server stopped");
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/_fake/updates", post(inject_updates))
        .route("/_fake/users", post(add_user))
        .route("/_fake/users/{id}/messages", post(user_sends))
        .route("/_fake/users/{id}/press", post(user_presses))
        .route("/_fake/users/{id}/block", post(user_blocks))
        .route("/_fake/users/{id}/unblock", post(user_unblocks))
        .route("/_fake/groups", post(create_group))
        .route("/_fake/chats/{id}/sent", get(sent_log))
        .route("/_fake/requests", get(request_log))
        .route("/_fake/callback_answers", get(callback_answers))
        .route("/_fake/webhook", get(webhook_info))
        .route("/_fake/faults", post(add_fault))
        .route("/_fake/clock/advance", post(advance_clock))
        .fallback(bot_api)
        .with_state(shared)
}

// ---- the Bot API -------------------------------------------------------------------------------

async fn bot_api(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(connection): ConnectInfo<ConnHandle>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    if let Some(rest) = path.strip_prefix("/file/bot") {
        return download(&shared, rest);
    }
    let Some((token, method)) = path
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
    else {
        return ApiError::not_found().into_response();
    };
    if method.is_empty() || method.contains('/') {
        return ApiError::not_found().into_response();
    }
    if let Err(error) = check_token(&shared, token) {
        return error.into_response();
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let canonical = methods::canonical(method);
    let params = match Params::decode(uri.query(), content_type, &body) {
        Ok(params) => params,
        Err(error) => {
            let logged = canonical.unwrap_or(method);
            shared.log_request(logged, &Params::default(), RequestSource::Http);
            return error.into_response();
        }
    };
    shared.log_request(canonical.unwrap_or(method), &params, RequestSource::Http);
    let Some(method) = canonical else {
        return ApiError::method_not_found().into_response();
    };

    let fault = shared
        .lock()
        .take_fault(&method.to_ascii_lowercase(), params.i64("chat_id"));
    match fault {
        None => handle(&shared, method, &params).await,
        Some(Fault::Delay { millis }) => {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            handle(&shared, method, &params).await
        }
        Some(Fault::DropConnection) => {
            connection.cut();
            StatusCode::OK.into_response()
        }
        Some(Fault::LoseResponse) => {
            let response = handle(&shared, method, &params).await;
            connection.cut();
            response
        }
        Some(Fault::TooManyRequests { retry_after }) => {
            ApiError::too_many_requests(retry_after).into_response()
        }
        Some(Fault::Api { code, description }) => ApiError::raw(code, description).into_response(),
        Some(Fault::Html { status }) => html_error(status),
    }
}

async fn handle(shared: &Shared, method: &str, params: &Params) -> Response {
    if method == "getUpdates" {
        return get_updates(shared, params).await;
    }
    let result = shared.mutate(|state| methods::call(state, method, params));
    shared.notify_chat(params);
    match result {
        Ok(reply) => reply.into_response(),
        Err(error) => error.into_response(),
    }
}

/// getUpdates: confirm by `offset`, then answer at once if updates wait, else hold the request
/// until one is queued or `timeout` passes. A newer getUpdates ends an older one with 409.
async fn get_updates(shared: &Shared, params: &Params) -> Response {
    let limit = usize::try_from(params.i64("limit").unwrap_or(100).clamp(1, 100)).unwrap_or(100);
    let timeout = params
        .i64("timeout")
        .unwrap_or(0)
        .clamp(0, MAX_LONG_POLL_SECONDS);
    let deadline = Instant::now() + Duration::from_secs(timeout.unsigned_abs());
    let webhook_active = || {
        ApiError::conflict(
            "can't use getUpdates method while webhook is active; use deleteWebhook to delete \
             the webhook first",
        )
    };
    let generation = {
        let mut state = shared.lock();
        if state.webhook.is_some() {
            return webhook_active().into_response();
        }
        state.remember_allowed_updates(params);
        state.confirm(params.i64("offset").unwrap_or(0));
        state.poll_generation += 1;
        state.polls_in_progress += 1;
        state.touch_queue();
        state.poll_generation
    };
    let _in_progress = PollInProgress(shared);
    shared.changed();

    loop {
        let notified = shared.updates.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let mut state = shared.lock();
            if state.poll_generation != generation {
                return ApiError::conflict(
                    "terminated by other getUpdates request; make sure that only one bot \
                     instance is running",
                )
                .into_response();
            }
            if state.webhook.is_some() {
                return webhook_active().into_response();
            }
            let updates = state.peek_updates(limit);
            if !updates.is_empty() || Instant::now() >= deadline {
                return Reply::new(Value::Array(updates)).into_response();
            }
        }
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
}

/// Counts a getUpdates call until it answers or its client goes away.
struct PollInProgress<'a>(&'a Shared);

impl Drop for PollInProgress<'_> {
    fn drop(&mut self) {
        self.0
            .mutate(|state| state.polls_in_progress = state.polls_in_progress.saturating_sub(1));
    }
}

fn check_token(shared: &Shared, token: &str) -> Result<(), ApiError> {
    if token == shared.token {
        return Ok(());
    }
    let well_formed = token.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_digit())
            && !secret.is_empty()
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    Err(if well_formed {
        ApiError::unauthorized()
    } else {
        ApiError::invalid_token()
    })
}

/// `/file/bot<token>/<file_path>`: the registered bytes, or a placeholder.
fn download(shared: &Shared, rest: &str) -> Response {
    let Some((token, path)) = rest.split_once('/') else {
        return ApiError::not_found().into_response();
    };
    if let Err(error) = check_token(shared, token) {
        return error.into_response();
    }
    match shared.file_by_path(path) {
        Some(info) => info
            .bytes
            .unwrap_or_else(|| b"fake telegram file".to_vec())
            .into_response(),
        None => ApiError::not_found().into_response(),
    }
}

/// The error page nginx in front of the Bot API serves when the backend fails.
fn html_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let line = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let page = format!(
        "<html>\r\n<head><title>{line}</title></head>\r\n<body>\r\n<center><h1>{line}</h1></center>\r\n\
         <hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"
    );
    (status, [(header::CONTENT_TYPE, "text/html")], page).into_response()
}

// ---- control routes ------------------------------------------------------------------------------

fn control_error(error: &ControlError) -> Response {
    let status = match error {
        ControlError::UnknownUser(_)
        | ControlError::UnknownChat(_)
        | ControlError::UnknownMessage { .. } => StatusCode::NOT_FOUND,
        ControlError::NoSuchButton { .. } | ControlError::NotAnUpdate => StatusCode::BAD_REQUEST,
    };
    (status, axum::Json(json!({ "error": error.to_string() }))).into_response()
}

fn control_result(result: Result<Value, ControlError>) -> Response {
    match result {
        Ok(body) => axum::Json(body).into_response(),
        Err(error) => control_error(&error),
    }
}

#[derive(Deserialize)]
struct KeepId {
    #[serde(default)]
    keep_id: bool,
}

/// POST `/_fake/updates[?keep_id=true]`: one Update, an array of them, or a getUpdates envelope.
async fn inject_updates(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<KeepId>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let updates = match body {
        Value::Array(updates) => updates,
        Value::Object(ref envelope) if envelope.contains_key("result") => {
            envelope["result"].as_array().cloned().unwrap_or_default()
        }
        update => vec![update],
    };
    let ids: Result<Vec<i64>, ControlError> = updates
        .into_iter()
        .map(|update| shared.send_update(update, query.keep_id))
        .collect();
    control_result(ids.map(|ids| json!({ "update_ids": ids })))
}

#[derive(Deserialize)]
struct NewUser {
    id: i64,
    first_name: String,
    #[serde(default)]
    language_code: Option<String>,
}

async fn add_user(
    State(shared): State<Arc<Shared>>,
    axum::Json(user): axum::Json<NewUser>,
) -> Response {
    let handle = shared.add_user(user.id, &user.first_name, user.language_code.as_deref());
    axum::Json(handle).into_response()
}

#[derive(Deserialize)]
struct Typed {
    text: String,
    #[serde(default)]
    chat_id: Option<i64>,
    #[serde(default)]
    message_thread_id: Option<i64>,
}

async fn user_sends(
    State(shared): State<Arc<Shared>>,
    Path(user_id): Path<i64>,
    axum::Json(typed): axum::Json<Typed>,
) -> Response {
    let chat_id = typed.chat_id.unwrap_or(user_id);
    control_result(
        shared
            .send_text_in(chat_id, user_id, &typed.text, typed.message_thread_id)
            .map(|id| json!({ "update_id": id })),
    )
}

#[derive(Deserialize)]
struct Press {
    #[serde(default)]
    chat_id: Option<i64>,
    #[serde(default)]
    message_id: Option<i64>,
    #[serde(default)]
    callback_data: Option<String>,
    #[serde(default)]
    label: Option<String>,
}

/// POST `/_fake/users/{id}/press`: `{message_id, callback_data[, chat_id]}` or `{label}`.
async fn user_presses(
    State(shared): State<Arc<Shared>>,
    Path(user_id): Path<i64>,
    axum::Json(press): axum::Json<Press>,
) -> Response {
    let result = match (press.message_id, press.callback_data, press.label) {
        (Some(message_id), Some(data), _) => {
            let chat_id = press.chat_id.unwrap_or(user_id);
            shared.press(chat_id, user_id, message_id, &data)
        }
        (_, _, Some(label)) => shared.press_label(user_id, &label),
        _ => Err(ControlError::NoSuchButton {
            chat_id: user_id,
            message_id: 0,
            button: "(give message_id and callback_data, or label)".to_owned(),
        }),
    };
    control_result(result.map(|id| json!({ "callback_query_id": id })))
}

async fn user_blocks(State(shared): State<Arc<Shared>>, Path(user_id): Path<i64>) -> Response {
    control_result(
        shared
            .set_blocked(user_id, true)
            .map(|id| json!({ "update_id": id })),
    )
}

async fn user_unblocks(State(shared): State<Arc<Shared>>, Path(user_id): Path<i64>) -> Response {
    control_result(
        shared
            .set_blocked(user_id, false)
            .map(|id| json!({ "update_id": id })),
    )
}

#[derive(Deserialize)]
struct NewGroup {
    id: i64,
    title: String,
    /// `group`, `supergroup` or `forum` (default).
    #[serde(default)]
    kind: Option<String>,
}

async fn create_group(
    State(shared): State<Arc<Shared>>,
    axum::Json(group): axum::Json<NewGroup>,
) -> Response {
    let kind = match group.kind.as_deref() {
        Some("group") => GroupKind::Basic,
        Some("supergroup") => GroupKind::Supergroup,
        _ => GroupKind::Forum,
    };
    let id = shared.create_group(group.id, &group.title, kind);
    axum::Json(json!({ "chat_id": id })).into_response()
}

async fn sent_log(State(shared): State<Arc<Shared>>, Path(chat_id): Path<i64>) -> Response {
    axum::Json(shared.sent_to(chat_id)).into_response()
}

async fn request_log(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.requests()).into_response()
}

async fn callback_answers(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.callback_answers()).into_response()
}

async fn webhook_info(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.webhook_info()).into_response()
}

#[derive(Deserialize)]
struct NewFault {
    /// Bot API method, any case; `*` or absent: every method.
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    chat_id: Option<i64>,
    #[serde(default = "one")]
    count: u32,
    fault: Fault,
}

fn one() -> u32 {
    1
}

async fn add_fault(
    State(shared): State<Arc<Shared>>,
    axum::Json(fault): axum::Json<NewFault>,
) -> Response {
    let method = fault.method.unwrap_or_else(|| "*".to_owned());
    shared.fail_next(&method, fault.chat_id, fault.count, fault.fault);
    axum::Json(json!({ "ok": true })).into_response()
}

#[derive(Deserialize)]
struct Advance {
    seconds: i64,
}

async fn advance_clock(
    State(shared): State<Arc<Shared>>,
    axum::Json(advance): axum::Json<Advance>,
) -> Response {
    shared.advance_clock(chrono::Duration::seconds(advance.seconds));
    axum::Json(json!({ "ok": true })).into_response()
}
