//! The Bot API methods the fake implements, as synchronous functions over [`State`]. Checks run in
//! the real server's order where it is known: parameters the Bot API server parses itself first
//! (text, entities, keyboard), then the chat, then what Telegram's servers decide (permissions,
//! threads, length, flood control). `getUpdates` is asynchronous and lives in `server`.
//!
//! Error texts come from tdlib/telegram-bot-api (`Client.cpp`) and tdlib (`MessageEntity.cpp`);
//! the few marked "inferred" could not be checked against a source.

use serde_json::{Map, Value, json};

use super::error::{ApiError, Reply};
use super::html::{self, Formatted};
use super::markup;
use super::params::Params;
use super::state::{ChatKind, State, Stored, Topic, Webhook};

/// Every method the fake answers, in Bot API spelling. Others get 404 `method not found`.
pub const METHODS: &[&str] = &[
    "getMe",
    "getUpdates",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "deleteMessage",
    "answerCallbackQuery",
    "sendChatAction",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "getChat",
    "createForumTopic",
    "closeForumTopic",
    "reopenForumTopic",
    "deleteForumTopic",
    "sendPhoto",
    "sendDocument",
    "sendVoice",
    "getFile",
    "copyMessage",
    "forwardMessage",
];

/// Longest message text, in characters after entity parsing.
pub(crate) const MAX_TEXT_CHARS: usize = 4096;
/// Longest media caption, in characters after entity parsing.
const MAX_CAPTION_CHARS: usize = 1024;
/// Longest `answerCallbackQuery.text`.
const MAX_CALLBACK_ANSWER_CHARS: usize = 200;
/// Messages older than this cannot be deleted.
const DELETE_WINDOW_HOURS: i64 = 48;
/// Forum topic icon colours the API accepts.
const TOPIC_COLORS: &[i64] = &[
    7_322_096, 16_766_590, 13_338_331, 9_367_192, 16_749_490, 16_478_047,
];
/// `sendChatAction` actions, including legacy spellings the server still maps.
const CHAT_ACTIONS: &[&str] = &[
    "cancel",
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "record_audio",
    "upload_voice",
    "upload_audio",
    "upload_document",
    "choose_sticker",
    "find_location",
    "pick_up_location",
    "record_video_note",
    "upload_video_note",
];

const NOT_MODIFIED: &str = "message is not modified: specified new message content and reply \
                            markup are exactly the same as a current content and reply markup of \
                            the message";
const QUERY_ID_INVALID: &str =
    "query is too old and response timeout expired or query ID is invalid";

/// The Bot API spelling of a method name given in any case.
pub(crate) fn canonical(name: &str) -> Option<&'static str> {
    METHODS
        .iter()
        .copied()
        .find(|method| method.eq_ignore_ascii_case(name))
}

/// Runs one method (everything but `getUpdates`).
///
/// # Errors
///
/// The real server's error for the call.
pub(crate) fn call(state: &mut State, method: &str, params: &Params) -> Result<Reply, ApiError> {
    match method {
        "getMe" => Ok(Reply::new(get_me(state))),
        "setWebhook" => set_webhook(state, params),
        "deleteWebhook" => Ok(delete_webhook(state, params)),
        "getWebhookInfo" => Ok(Reply::new(webhook_info_json(state))),
        "sendMessage" => send_message(state, params).map(Reply::new),
        "editMessageText" => edit_message_text(state, params).map(Reply::new),
        "editMessageReplyMarkup" => edit_message_reply_markup(state, params).map(Reply::new),
        "deleteMessage" => delete_message(state, params).map(Reply::new),
        "answerCallbackQuery" => answer_callback_query(state, params).map(Reply::new),
        "sendChatAction" => send_chat_action(state, params).map(Reply::new),
        "setMyCommands" => set_my_commands(state, params).map(Reply::new),
        "getMyCommands" => Ok(Reply::new(state.commands.clone())),
        "deleteMyCommands" => {
            state.commands = json!([]);
            Ok(Reply::new(json!(true)))
        }
        "getChat" => get_chat(state, params).map(Reply::new),
        "createForumTopic" => create_forum_topic(state, params).map(Reply::new),
        "closeForumTopic" => set_topic_closed(state, params, true).map(Reply::new),
        "reopenForumTopic" => set_topic_closed(state, params, false).map(Reply::new),
        "deleteForumTopic" => delete_forum_topic(state, params).map(Reply::new),
        "sendPhoto" => send_media(state, params, Media::Photo).map(Reply::new),
        "sendDocument" => send_media(state, params, Media::Document).map(Reply::new),
        "sendVoice" => send_media(state, params, Media::Voice).map(Reply::new),
        "getFile" => get_file(state, params).map(Reply::new),
        "copyMessage" => copy_message(state, params, false).map(Reply::new),
        "forwardMessage" => copy_message(state, params, true).map(Reply::new),
        _ => Err(ApiError::method_not_found()),
    }
}

// ---- bot and webhook -------------------------------------------------------------------------

fn get_me(state: &State) -> Value {
    let mut me = state.bot_json();
    for (key, value) in [
        ("can_join_groups", true),
        ("can_read_all_group_messages", false),
        ("supports_inline_queries", false),
        ("can_connect_to_business", false),
        ("has_main_web_app", false),
    ] {
        me[key] = json!(value);
    }
    me
}

/// setWebhook (Bot API 10.1): `url` (empty removes the webhook), `secret_token` 1–256 of
/// `A-Za-z0-9_-`, `max_connections` clamped to 1–100, `allowed_updates`, `drop_pending_updates`.
/// Plain `http://` is accepted, as the local Bot API server allows.
fn set_webhook(state: &mut State, params: &Params) -> Result<Reply, ApiError> {
    let url = params.str("url").unwrap_or_default();
    if url.is_empty() {
        return Ok(delete_webhook(state, params));
    }
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(ApiError::bad_request(
            "bad webhook: An HTTPS URL must be provided for webhook",
        ));
    }
    let secret = params.non_empty("secret_token");
    if let Some(secret) = &secret {
        if secret.len() > 256 {
            // inferred wording
            return Err(ApiError::bad_request("secret token is too long"));
        }
        if !secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            // inferred wording
            return Err(ApiError::bad_request(
                "secret token contains unallowed characters",
            ));
        }
    }
    let max_connections = params.i64("max_connections").unwrap_or(40).clamp(1, 100);
    let max_connections = usize::try_from(max_connections).unwrap_or(40);
    state.touch_queue();
    state.remember_allowed_updates(params);
    if params.bool("drop_pending_updates") {
        state.queue.clear();
    }
    let unchanged = state.webhook.as_ref().is_some_and(|webhook| {
        webhook.url == url && webhook.secret == secret && webhook.max_connections == max_connections
    });
    if unchanged {
        return Ok(Reply::with_description(
            json!(true),
            "Webhook is already set",
        ));
    }
    let keep_errors = state.webhook.as_ref().filter(|webhook| webhook.url == url);
    let (last_error_date, last_error_message) = keep_errors
        .map(|webhook| (webhook.last_error_date, webhook.last_error_message.clone()))
        .unwrap_or_default();
    state.webhook = Some(Webhook {
        url,
        secret,
        max_connections,
        last_error_date,
        last_error_message,
    });
    Ok(Reply::with_description(json!(true), "Webhook was set"))
}

fn delete_webhook(state: &mut State, params: &Params) -> Reply {
    state.touch_queue();
    if params.bool("drop_pending_updates") {
        state.queue.clear();
    }
    for queued in &mut state.queue {
        queued.not_before = None;
        queued.failures = 0;
    }
    match state.webhook.take() {
        Some(_) => Reply::with_description(json!(true), "Webhook was deleted"),
        None => Reply::with_description(json!(true), "Webhook is already deleted"),
    }
}

fn webhook_info_json(state: &State) -> Value {
    let info = state.webhook_info();
    let mut json = json!({
        "url": info.url,
        "has_custom_certificate": info.has_custom_certificate,
        "pending_update_count": info.pending_update_count,
    });
    if let Some(max) = info.max_connections {
        json["max_connections"] = json!(max);
    }
    if let Some(date) = info.last_error_date {
        json["last_error_date"] = json!(date);
    }
    if let Some(message) = info.last_error_message {
        json["last_error_message"] = json!(message);
    }
    if let Some(kinds) = info.allowed_updates {
        json["allowed_updates"] = json!(kinds);
    }
    json
}

// ---- sending -----------------------------------------------------------------------------------

/// Where a new message goes inside its chat.
#[derive(Debug, Default)]
struct Placement {
    thread_id: Option<i64>,
    is_topic_message: bool,
    reply_to: Option<Value>,
}

fn send_message(state: &mut State, params: &Params) -> Result<Value, ApiError> {
    require_chat_id(params)?;
    let (formatted, raw, parse_mode) = message_text(params)?;
    let markup = markup::inline_keyboard(params, state.settings.strict_buttons)?;
    let chat_id = state.resolve_chat(params)?;
    state.check_can_send(chat_id)?;
    if formatted.len() > MAX_TEXT_CHARS {
        return Err(ApiError::bad_request("message is too long"));
    }
    let placement = placement(state, chat_id, params)?;
    take_flood_token(state, chat_id, params)?;
    let mut content = Map::new();
    content.insert("text".into(), json!(formatted.text));
    if let Some(entities) = formatted.entities_json() {
        content.insert("entities".into(), entities);
    }
    store_bot_message(
        state,
        chat_id,
        placement,
        content,
        markup,
        Some(raw),
        parse_mode,
    )
}

/// The media kinds the fake sends by `file_id` or URL.
#[derive(Clone, Copy, Debug)]
enum Media {
    Photo,
    Document,
    Voice,
}

impl Media {
    fn field(self) -> &'static str {
        match self {
            Media::Photo => "photo",
            Media::Document => "document",
            Media::Voice => "voice",
        }
    }
}

fn send_media(state: &mut State, params: &Params, media: Media) -> Result<Value, ApiError> {
    require_chat_id(params)?;
    let field = media.field();
    let Some(file) = params.non_empty(field) else {
        return Err(ApiError::bad_request(format!(
            "there is no {field} in the request"
        )));
    };
    let parse_mode = params.non_empty("parse_mode");
    let raw_caption = params.str("caption").unwrap_or_default();
    let caption = html::format(&raw_caption, parse_mode.as_deref())?;
    let markup = markup::inline_keyboard(params, state.settings.strict_buttons)?;
    let chat_id = state.resolve_chat(params)?;
    state.check_can_send(chat_id)?;
    if caption.len() > MAX_CAPTION_CHARS {
        // inferred wording
        return Err(ApiError::bad_request("message caption is too long"));
    }
    let placement = placement(state, chat_id, params)?;
    take_flood_token(state, chat_id, params)?;
    let (folder, extension) = match media {
        Media::Photo => ("photos", ".jpg"),
        Media::Document => ("documents", ""),
        Media::Voice => ("voice", ".oga"),
    };
    let file_id = state.register_file(Some(&file), folder, extension);
    let unique_id = state
        .files
        .get(&file_id)
        .map(|info| info.unique_id.clone())
        .unwrap_or_default();
    let object = json!({ "file_id": file_id, "file_unique_id": unique_id, "file_size": 1024 });
    let mut content = Map::new();
    let value = match media {
        Media::Photo => {
            let mut size = object;
            size["width"] = json!(320);
            size["height"] = json!(320);
            json!([size])
        }
        Media::Document => {
            let mut document = object;
            document["file_name"] = json!("document");
            document
        }
        Media::Voice => {
            let mut voice = object;
            voice["duration"] = json!(1);
            voice["mime_type"] = json!("audio/ogg");
            voice
        }
    };
    content.insert(field.into(), value);
    if !caption.text.is_empty() {
        content.insert("caption".into(), json!(caption.text));
        if let Some(entities) = caption.entities_json() {
            content.insert("caption_entities".into(), entities);
        }
    }
    let raw = (!raw_caption.is_empty()).then_some(raw_caption);
    store_bot_message(state, chat_id, placement, content, markup, raw, parse_mode)
}

/// copyMessage (returns a `MessageId`) and forwardMessage (returns the `Message`).
fn copy_message(state: &mut State, params: &Params, forward: bool) -> Result<Value, ApiError> {
    require_chat_id(params)?;
    let markup = markup::inline_keyboard(params, state.settings.strict_buttons)?;
    let chat_id = state.resolve_chat(params)?;
    let Some(from_raw) = params.non_empty("from_chat_id") else {
        return Err(ApiError::bad_request("chat_id is empty"));
    };
    let from_chat_id = from_raw
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|id| state.chats.contains_key(id))
        .ok_or_else(ApiError::chat_not_found)?;
    let verb = if forward { "forward" } else { "copy" };
    let not_found = || ApiError::bad_request(format!("message to {verb} not found"));
    let message_id = params.i64("message_id").ok_or_else(not_found)?;
    let original = state
        .chat(from_chat_id)?
        .messages
        .get(&message_id)
        .ok_or_else(not_found)?
        .clone();
    state.check_can_send(chat_id)?;
    let placement = placement(state, chat_id, params)?;
    take_flood_token(state, chat_id, params)?;
    const CONTENT: &[&str] = &[
        "text",
        "entities",
        "photo",
        "document",
        "voice",
        "caption",
        "caption_entities",
        "sticker",
        "location",
        "contact",
    ];
    let mut content: Map<String, Value> = CONTENT
        .iter()
        .filter_map(|key| {
            original
                .json
                .get(*key)
                .map(|v| ((*key).to_owned(), v.clone()))
        })
        .collect();
    if content.is_empty() {
        return Err(ApiError::bad_request(format!("message can't be {verb}ed")));
    }
    if forward {
        content.insert(
            "forward_origin".into(),
            json!({ "type": "user", "sender_user": original.json["from"], "date": original.date }),
        );
    } else if let Some(caption) = params.str("caption") {
        content.insert("caption".into(), json!(caption));
    }
    let markup = if forward {
        original.json.get("reply_markup").cloned()
    } else {
        markup
    };
    let message = store_bot_message(
        state,
        chat_id,
        placement,
        content,
        markup,
        original.raw_text,
        original.parse_mode,
    )?;
    Ok(if forward {
        message
    } else {
        json!({ "message_id": message["message_id"] })
    })
}

fn send_chat_action(state: &mut State, params: &Params) -> Result<Value, ApiError> {
    require_chat_id(params)?;
    let action = params
        .str("action")
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !CHAT_ACTIONS.contains(&action.as_str()) {
        return Err(ApiError::bad_request("wrong parameter action in request"));
    }
    let chat_id = state.resolve_chat(params)?;
    state.check_can_send(chat_id)?;
    placement(state, chat_id, params)?;
    Ok(json!(true))
}

/// `text` and `parse_mode`, parsed.
fn message_text(params: &Params) -> Result<(Formatted, String, Option<String>), ApiError> {
    let Some(raw) = params.non_empty("text") else {
        return Err(ApiError::bad_request("message text is empty"));
    };
    let parse_mode = params.non_empty("parse_mode");
    let formatted = html::format(&raw, parse_mode.as_deref())?;
    if formatted.text.is_empty() {
        // Only markup or white space: refused by TDLib after parsing.
        return Err(ApiError::bad_request("message must be non-empty"));
    }
    Ok((formatted, raw, parse_mode))
}

fn require_chat_id(params: &Params) -> Result<(), ApiError> {
    if params.has("chat_id") {
        Ok(())
    } else {
        Err(ApiError::bad_request("chat_id is empty"))
    }
}

/// `message_thread_id` and `reply_parameters` (or the legacy `reply_to_message_id`).
fn placement(state: &State, chat_id: i64, params: &Params) -> Result<Placement, ApiError> {
    let chat = state.chat(chat_id)?;
    let mut placement = Placement::default();
    if let Some(thread_id) = params.i64("message_thread_id").filter(|&id| id != 0) {
        let thread_not_found = || ApiError::bad_request("message thread not found");
        if chat.is_forum {
            let topic = chat.topics.get(&thread_id).ok_or_else(thread_not_found)?;
            if topic.closed {
                return Err(ApiError::bad_request("TOPIC_CLOSED"));
            }
            placement.is_topic_message = true;
            placement.reply_to = chat
                .messages
                .get(&thread_id)
                .map(|root| reply_copy(&root.json));
        } else if chat.kind != ChatKind::Supergroup || !chat.messages.contains_key(&thread_id) {
            return Err(thread_not_found());
        }
        placement.thread_id = Some(thread_id);
    }
    let (reply_id, allow_missing) = match params.json("reply_parameters") {
        Ok(Some(reply)) => (
            reply["message_id"].as_i64(),
            reply["allow_sending_without_reply"]
                .as_bool()
                .unwrap_or(false),
        ),
        Ok(None) => (
            params.i64("reply_to_message_id"),
            params.bool("allow_sending_without_reply"),
        ),
        Err(()) => {
            return Err(ApiError::bad_request(
                "can't parse reply parameters JSON object",
            ));
        }
    };
    if let Some(reply_id) = reply_id.filter(|&id| id != 0) {
        match chat.messages.get(&reply_id) {
            Some(replied) => placement.reply_to = Some(reply_copy(&replied.json)),
            None if allow_missing => {}
            None => return Err(ApiError::bad_request("message to be replied not found")),
        }
    }
    Ok(placement)
}

/// A message as it appears in `reply_to_message` (one level deep).
fn reply_copy(message: &Value) -> Value {
    let mut copy = message.clone();
    if let Some(object) = copy.as_object_mut() {
        object.remove("reply_to_message");
    }
    copy
}

fn take_flood_token(state: &mut State, chat_id: i64, params: &Params) -> Result<(), ApiError> {
    let is_group = state.chat(chat_id)?.is_group();
    let now = state.now();
    let paid = params.bool("allow_paid_broadcast");
    state
        .limiter
        .take(chat_id, is_group, paid, now)
        .map_err(ApiError::too_many_requests)
}

fn store_bot_message(
    state: &mut State,
    chat_id: i64,
    placement: Placement,
    content: Map<String, Value>,
    markup: Option<Value>,
    raw_text: Option<String>,
    parse_mode: Option<String>,
) -> Result<Value, ApiError> {
    let date = state.unix_now();
    let from = state.bot_json();
    let chat = state.chat_mut(chat_id)?;
    let message_id = chat.allocate_message_id();
    let mut message = json!({
        "message_id": message_id,
        "from": from,
        "chat": chat.json(),
        "date": date,
    });
    if let Some(thread_id) = placement.thread_id {
        message["message_thread_id"] = json!(thread_id);
        if placement.is_topic_message {
            message["is_topic_message"] = json!(true);
        }
    }
    if let Some(reply_to) = placement.reply_to {
        message["reply_to_message"] = reply_to;
    }
    for (key, value) in content {
        message[key] = value;
    }
    if let Some(markup) = markup {
        message["reply_markup"] = markup;
    }
    chat.messages.insert(
        message_id,
        Stored {
            by_bot: true,
            date,
            json: message.clone(),
            raw_text,
            parse_mode,
        },
    );
    Ok(message)
}

// ---- editing and deleting -------------------------------------------------------------------------

/// The bot's message addressed by `chat_id` + `message_id`, for editing.
fn editable(state: &State, params: &Params) -> Result<(i64, i64), ApiError> {
    if params.has("inline_message_id") {
        // The fake has no inline messages.
        return Err(ApiError::bad_request("MESSAGE_ID_INVALID"));
    }
    require_chat_id(params)?;
    let chat_id = state.resolve_chat(params)?;
    let Some(message_id) = params.i64("message_id") else {
        return Err(ApiError::bad_request("message identifier is not specified"));
    };
    if state.users.get(&chat_id).is_some_and(|user| user.blocked) {
        return Err(ApiError::forbidden("bot was blocked by the user"));
    }
    let Some(stored) = state.chat(chat_id)?.messages.get(&message_id) else {
        return Err(ApiError::bad_request("message to edit not found"));
    };
    if !stored.by_bot {
        return Err(ApiError::bad_request("message can't be edited"));
    }
    Ok((chat_id, message_id))
}

fn edit_message_text(state: &mut State, params: &Params) -> Result<Value, ApiError> {
    let (formatted, raw, parse_mode) = message_text(params)?;
    let markup = markup::inline_keyboard(params, state.settings.strict_buttons)?;
    let (chat_id, message_id) = editable(state, params)?;
    if formatted.len() > MAX_TEXT_CHARS {
        return Err(ApiError::bad_request("message is too long"));
    }
    let now = state.unix_now();
    let stored = stored_mut(state, chat_id, message_id)?;
    if stored.json.get("text").is_none() {
        return Err(ApiError::bad_request(
            "there is no text in the message to edit",
        ));
    }
    let entities = formatted.entities_json();
    if stored.json["text"] == json!(formatted.text)
        && stored.json.get("entities") == entities.as_ref()
        && stored.json.get("reply_markup") == markup.as_ref()
    {
        return Err(ApiError::bad_request(NOT_MODIFIED));
    }
    stored.json["text"] = json!(formatted.text);
    set_or_remove(&mut stored.json, "entities", entities);
    set_or_remove(&mut stored.json, "reply_markup", markup);
    stored.json["edit_date"] = json!(now);
    stored.raw_text = Some(raw);
    stored.parse_mode = parse_mode;
    Ok(stored.json.clone())
}

fn edit_message_reply_markup(state: &mut State, params: &Params) -> Result<Value, ApiError> {
    let markup = markup::inline_keyboard(params, state.settings.strict_buttons)?;
    let (chat_id, message_id) = editable(state, params)?;
    let now = state.unix_now();
    let stored = stored_mut(state, chat_id, message_id)?;
    if stored.json.get("reply_markup") == markup.as_ref() {
        return Err(ApiError::bad_request(NOT_MODIFIED));
    }
    set_or_remove(&mut stored.json, "reply_markup", markup);
    stored.json["edit_date"] = json!(now);
    Ok(stored.json.clone())
}

fn stored_mut(state: &mut State, chat_id: i64, message_id: i64) -> Result<&mut Stored, ApiError> {
    state
        .chat_mut(chat_id)?
        .messages
        .get_mut(&message_id)
        .ok_or_else(|| ApiError::bad_request("message to edit not found"))
}

fn set_or_remove(object: &mut Value, key: &str, value: Option<Value>) {
    match (object.as_object_mut(), value) {
        (Some(map), Some(value)) => {
            map.insert(key.to_owned(), value);
        }
        (Some(map), None) => {
            map.remove(key);
        }
        (None, _) => {}
    }
}

fn delete_message(state: &mut State, params: &Params) -> Result<Value, ApiError> {
    require_chat_id(params)?;
    let chat_id = state.resolve_chat(params)?;
    let Some(message_id) = params.i64("message_id") else {
        return Err(ApiError::bad_request("message identifier is not specified"));
    };
    let now = state.unix_now();
    let chat = state.chat_mut(chat_id)?;
    let Some(stored) = chat.messages.get(&message_id) else {
        return Err(ApiError::bad_request("message to delete not found"));
    };
    if now - stored.date > DELETE_WINDOW_HOURS * 3600 {
        return Err(ApiError::bad_request("message can't be deleted"));
    }
    chat.messages.remove(&message_id);
    Ok(json!(true))
}

// ---- callbacks, commands, chats, files ------------------------------------------------------------

fn answer_callback_query(state: &mut State, params: &Params) -> Result<Value, ApiError> {
    let id = params.str("callback_query_id").unwrap_or_default();
    let now = state.now();
    let ttl = state.settings.callback_query_ttl;
    let pending = state
        .callbacks
        .get_mut(&id)
        .filter(|pending| !pending.answered)
        .filter(|pending| {
            ttl.is_none_or(|ttl| (now - pending.created).to_std().unwrap_or_default() <= ttl)
        })
        .ok_or_else(|| ApiError::bad_request(QUERY_ID_INVALID))?;
    let text = params.non_empty("text");
    if text
        .as_ref()
        .is_some_and(|text| text.chars().count() > MAX_CALLBACK_ANSWER_CHARS)
    {
        return Err(ApiError::bad_request("MESSAGE_TOO_LONG"));
    }
    pending.answered = true;
    state.answers.push(super::records::CallbackAnswer {
        callback_query_id: id,
        text,
        show_alert: params.bool("show_alert"),
        url: params.non_empty("url"),
        cache_time: params.i64("cache_time").unwrap_or(0),
    });
    Ok(json!(true))
}

/// setMyCommands: 1–32 characters of `a-z0-9_` per command, a 1–256 character description.
fn set_my_commands(state: &mut State, params: &Params) -> Result<Value, ApiError> {
    let commands = match params.json("commands") {
        Ok(Some(commands)) => commands,
        Ok(None) => json!([]),
        Err(()) => return Err(ApiError::bad_request("can't parse commands JSON object")),
    };
    let Some(list) = commands.as_array() else {
        return Err(ApiError::bad_request("expected an Array of BotCommand"));
    };
    for command in list {
        let field = |name: &str| -> Result<String, ApiError> {
            match command.get(name) {
                Some(Value::String(text)) => Ok(text.clone()),
                Some(_) => Err(ApiError::bad_request(format!(
                    "can't parse BotCommand: Field \"{name}\" must be of type String"
                ))),
                None => Err(ApiError::bad_request(format!(
                    "can't parse BotCommand: Can't find field \"{name}\""
                ))),
            }
        };
        let name = field("command")?;
        let description = field("description")?;
        let name = name.strip_prefix('/').unwrap_or(&name);
        if name.is_empty()
            || name.len() > 32
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(ApiError::bad_request("BOT_COMMAND_INVALID"));
        }
        let length = description.trim().chars().count();
        if length == 0 || length > 256 {
            // inferred wording
            return Err(ApiError::bad_request("BOT_COMMAND_DESCRIPTION_INVALID"));
        }
    }
    state.commands = commands;
    Ok(json!(true))
}

fn get_chat(state: &State, params: &Params) -> Result<Value, ApiError> {
    let chat_id = state.resolve_chat(params)?;
    let mut info = state.chat(chat_id)?.json();
    info["accent_color_id"] = json!(0);
    info["max_reaction_count"] = json!(11);
    Ok(info)
}

fn get_file(state: &State, params: &Params) -> Result<Value, ApiError> {
    let file_id = params.str("file_id").unwrap_or_default();
    let Some(info) = state.files.get(&file_id) else {
        // inferred wording
        return Err(ApiError::bad_request("invalid file_id"));
    };
    Ok(json!({
        "file_id": file_id,
        "file_unique_id": info.unique_id,
        "file_size": info.bytes.as_ref().map_or(info.size, Vec::len),
        "file_path": info.path,
    }))
}

// ---- forum topics -------------------------------------------------------------------------------

/// createForumTopic: a forum supergroup where the bot may manage topics; `name` 1–128 characters;
/// `icon_color` one of six values. The topic's id is the id of its service message.
fn create_forum_topic(state: &mut State, params: &Params) -> Result<Value, ApiError> {
    require_chat_id(params)?;
    let chat_id = state.resolve_chat(params)?;
    let Some(name) = params.non_empty("name") else {
        return Err(ApiError::bad_request("parameter \"name\" is required"));
    };
    if name.chars().count() > 128 {
        // inferred wording
        return Err(ApiError::bad_request("TOPIC_TITLE_TOO_LONG"));
    }
    let icon_color = params.i64("icon_color").unwrap_or(TOPIC_COLORS[0]);
    if !TOPIC_COLORS.contains(&icon_color) {
        // inferred wording
        return Err(ApiError::bad_request("invalid icon_color specified"));
    }
    let chat = state.chat(chat_id)?;
    if !chat.is_forum {
        return Err(ApiError::bad_request("the chat is not a forum"));
    }
    if !chat.bot_can_manage_topics {
        // inferred wording
        return Err(ApiError::bad_request("not enough rights to create a topic"));
    }
    let date = state.unix_now();
    let from = state.bot_json();
    let chat = state.chat_mut(chat_id)?;
    let thread_id = chat.allocate_message_id();
    let service = json!({
        "message_id": thread_id,
        "from": from,
        "chat": chat.json(),
        "date": date,
        "message_thread_id": thread_id,
        "is_topic_message": true,
        "forum_topic_created": { "name": name, "icon_color": icon_color },
    });
    chat.messages.insert(
        thread_id,
        Stored {
            by_bot: true,
            date,
            json: service,
            raw_text: None,
            parse_mode: None,
        },
    );
    chat.topics.insert(thread_id, Topic { closed: false });
    Ok(json!({ "message_thread_id": thread_id, "name": name, "icon_color": icon_color }))
}

fn topic_mut<'a>(state: &'a mut State, params: &Params) -> Result<&'a mut Topic, ApiError> {
    require_chat_id(params)?;
    let chat_id = state.resolve_chat(params)?;
    let thread_id = params.i64("message_thread_id").unwrap_or(0);
    state
        .chat_mut(chat_id)?
        .topics
        .get_mut(&thread_id)
        .ok_or_else(|| ApiError::bad_request("message thread not found"))
}

fn set_topic_closed(state: &mut State, params: &Params, closed: bool) -> Result<Value, ApiError> {
    let topic = topic_mut(state, params)?;
    if topic.closed == closed {
        // inferred wording
        return Err(ApiError::bad_request("TOPIC_NOT_MODIFIED"));
    }
    topic.closed = closed;
    Ok(json!(true))
}

fn delete_forum_topic(state: &mut State, params: &Params) -> Result<Value, ApiError> {
    topic_mut(state, params)?;
    let chat_id = state.resolve_chat(params)?;
    let thread_id = params.i64("message_thread_id").unwrap_or(0);
    let chat = state.chat_mut(chat_id)?;
    chat.topics.remove(&thread_id);
    chat.messages.retain(|&id, stored| {
        id != thread_id && stored.json["message_thread_id"].as_i64() != Some(thread_id)
    });
    Ok(json!(true))
}
