//! The state shared by the HTTP handlers, the webhook deliverer and the control API, and the
//! control operations themselves (the Rust API and `/_fake/...` both call these): users typing,
//! pressing buttons, blocking the bot; groups and forums; reading back what the bot did.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Value, json};
use tokio::sync::Notify;

use super::markup;
use super::params::Params;
use super::records::{
    CallbackAnswer, ControlError, Fault, Request, RequestSource, SentMessage, UserHandle,
    WebhookInfo,
};
use super::state::{Chat, ChatKind, FaultRule, FileInfo, State};

/// Shared by every task of one fake server.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    pub token: String,
    /// The update queue or the webhook settings changed: long polls and the deliverer look again.
    pub updates: Notify,
    /// Anything a test may be waiting for changed.
    pub observed: Notify,
    /// Client for webhook deliveries.
    pub client: reqwest::Client,
    /// Per-chat wake-ups for [`FakeTelegram::wait_for_new`](super::FakeTelegram::wait_for_new):
    /// a bot call naming a chat wakes only that chat's waiters, so thousands of waiting chats
    /// cost one wake-up per message instead of one per waiter.
    chat_watchers: Mutex<HashMap<i64, Arc<Notify>>>,
}

impl Shared {
    pub fn new(state: State, token: String, client: reqwest::Client) -> Shared {
        Shared {
            state: Mutex::new(state),
            token,
            updates: Notify::new(),
            observed: Notify::new(),
            client,
            chat_watchers: Mutex::new(HashMap::new()),
        }
    }

    /// The wake-up of one chat (created on first use).
    pub fn chat_watcher(&self, chat_id: i64) -> Arc<Notify> {
        self.chat_watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(chat_id)
            .or_default()
            .clone()
    }

    /// Wakes the waiters of the chat a bot call named in `chat_id`, if any.
    pub fn notify_chat(&self, params: &Params) {
        let Some(chat_id) = params.i64("chat_id") else {
            return;
        };
        let watcher = self
            .chat_watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&chat_id)
            .cloned();
        if let Some(watcher) = watcher {
            watcher.notify_waiters();
        }
    }

    /// The state; a panic elsewhere while holding it does not make it unusable.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes everything that waits on the state.
    pub fn changed(&self) {
        self.updates.notify_waiters();
        self.observed.notify_waiters();
    }

    /// Runs `change` on the state, then wakes the tests that wait on it, and long polls and the
    /// deliverer when the queue or the webhook changed.
    pub fn mutate<T>(&self, change: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self.lock();
        let epoch = state.queue_epoch;
        let result = change(&mut state);
        let queue_changed = state.queue_epoch != epoch;
        drop(state);
        if queue_changed {
            self.updates.notify_waiters();
        }
        self.observed.notify_waiters();
        result
    }

    /// Appends to the request log.
    pub fn log_request(&self, method: &str, params: &Params, source: RequestSource) {
        self.mutate(|state| {
            let at = state.now();
            state.requests.push(Request {
                method: method.to_owned(),
                params: params.to_json(),
                at,
                source,
            });
        });
    }

    // ---- users and chats ----------------------------------------------------------------------

    pub fn add_user(&self, id: i64, first_name: &str, language_code: Option<&str>) -> UserHandle {
        self.mutate(|state| state.add_user(id, first_name, language_code));
        UserHandle {
            id,
            first_name: first_name.to_owned(),
            language_code: language_code.map(str::to_owned),
        }
    }

    pub fn create_group(&self, id: i64, title: &str, kind: GroupKind) -> i64 {
        self.mutate(|state| {
            let chat = state.chats.entry(id).or_insert_with(|| {
                let chat_kind = match kind {
                    GroupKind::Basic => ChatKind::Group,
                    GroupKind::Supergroup | GroupKind::Forum => ChatKind::Supergroup,
                };
                Chat::new(id, chat_kind)
            });
            chat.title = Some(title.to_owned());
            chat.is_forum = kind == GroupKind::Forum;
        });
        id
    }

    pub fn set_topic_rights(
        &self,
        chat_id: i64,
        can_manage_topics: bool,
    ) -> Result<(), ControlError> {
        self.mutate(|state| {
            let chat = state
                .chats
                .get_mut(&chat_id)
                .ok_or(ControlError::UnknownChat(chat_id))?;
            chat.bot_can_manage_topics = can_manage_topics;
            Ok(())
        })
    }

    pub fn add_file(&self, file_id: &str, bytes: Vec<u8>) {
        self.mutate(|state| {
            let id = state.register_file(Some(file_id), "documents", "");
            if let Some(info) = state.files.get_mut(&id) {
                info.size = bytes.len();
                info.bytes = Some(bytes);
            }
        });
    }

    pub fn file_by_path(&self, path: &str) -> Option<FileInfo> {
        self.lock()
            .files
            .values()
            .find(|info| info.path == path)
            .cloned()
    }

    // ---- what users do ---------------------------------------------------------------------------

    /// The user types `text` in their private chat with the bot.
    pub fn send_text(&self, user_id: i64, text: &str) -> Result<i64, ControlError> {
        self.send_text_in(user_id, user_id, text, None)
    }

    /// The user types `text` in a chat (their private chat, a group, or a forum topic).
    /// A user who blocked the bot unblocks it first, as Telegram's "Restart" button does.
    pub fn send_text_in(
        &self,
        chat_id: i64,
        user_id: i64,
        text: &str,
        thread_id: Option<i64>,
    ) -> Result<i64, ControlError> {
        if chat_id == user_id && self.lock().users.get(&user_id).is_some_and(|u| u.blocked) {
            self.set_blocked(user_id, false)?;
        }
        self.mutate(|state| {
            if !state.users.contains_key(&user_id) {
                return Err(ControlError::UnknownUser(user_id));
            }
            let from = state.user_json(user_id);
            let date = state.unix_now();
            let chat = state
                .chats
                .get_mut(&chat_id)
                .ok_or(ControlError::UnknownChat(chat_id))?;
            let message_id = chat.allocate_message_id();
            let mut message = json!({
                "message_id": message_id,
                "from": from,
                "chat": chat.json(),
                "date": date,
                "text": text,
            });
            if let Some(thread_id) = thread_id {
                message["message_thread_id"] = json!(thread_id);
                if chat.is_forum {
                    message["is_topic_message"] = json!(true);
                }
                if let Some(root) = chat.messages.get(&thread_id) {
                    let mut root = root.json.clone();
                    if let Some(object) = root.as_object_mut() {
                        object.remove("reply_to_message");
                    }
                    message["reply_to_message"] = root;
                }
            }
            if let Some(command) = text
                .split_whitespace()
                .next()
                .filter(|w| w.starts_with('/'))
            {
                message["entities"] = json!([{
                    "offset": 0,
                    "length": command.encode_utf16().count(),
                    "type": "bot_command",
                }]);
            }
            Ok(state.enqueue(json!({ "message": message }), false))
        })
    }

    /// Injects a raw update (a fixture, or one built by hand).
    pub fn send_update(&self, update: Value, keep_id: bool) -> Result<i64, ControlError> {
        if !update.is_object() {
            return Err(ControlError::NotAnUpdate);
        }
        Ok(self.mutate(|state| state.enqueue(update, keep_id)))
    }

    /// The user presses the inline button with `callback_data` under the bot's message.
    pub fn press(
        &self,
        chat_id: i64,
        user_id: i64,
        message_id: i64,
        callback_data: &str,
    ) -> Result<String, ControlError> {
        self.mutate(|state| {
            if !state.users.contains_key(&user_id) {
                return Err(ControlError::UnknownUser(user_id));
            }
            let from = state.user_json(user_id);
            let chat = state
                .chats
                .get(&chat_id)
                .ok_or(ControlError::UnknownChat(chat_id))?;
            let message = chat
                .messages
                .get(&message_id)
                .filter(|stored| stored.by_bot)
                .ok_or(ControlError::UnknownMessage {
                    chat_id,
                    message_id,
                })?
                .json
                .clone();
            let has_button = message.get("reply_markup").is_some_and(|markup| {
                markup::buttons(markup)
                    .any(|button| button.get("callback_data") == Some(&json!(callback_data)))
            });
            if !has_button {
                return Err(ControlError::NoSuchButton {
                    chat_id,
                    message_id,
                    button: callback_data.to_owned(),
                });
            }
            let id = rand::random_range(1_000_000_000_000_000_000_u64..9_000_000_000_000_000_000)
                .to_string();
            let chat_instance = chat_id
                .wrapping_mul(7_919)
                .wrapping_add(state.bot.id)
                .to_string();
            state.enqueue(
                json!({ "callback_query": {
                    "id": id,
                    "from": from,
                    "message": message,
                    "chat_instance": chat_instance,
                    "data": callback_data,
                }}),
                false,
            );
            Ok(id)
        })
    }

    /// The user presses the button labelled `label` under the newest bot message that has it.
    pub fn press_label(&self, user_id: i64, label: &str) -> Result<String, ControlError> {
        let found = {
            let state = self.lock();
            let chat = state
                .chats
                .get(&user_id)
                .ok_or(ControlError::UnknownChat(user_id))?;
            chat.messages
                .iter()
                .rev()
                .filter(|(_, s)| s.by_bot)
                .find_map(|(&id, stored)| {
                    let markup = stored.json.get("reply_markup")?;
                    markup::buttons(markup)
                        .find(|button| button.get("text") == Some(&json!(label)))
                        .and_then(|button| button.get("callback_data")?.as_str().map(str::to_owned))
                        .map(|data| (id, data))
                })
        };
        let (message_id, data) = found.ok_or(ControlError::NoSuchButton {
            chat_id: user_id,
            message_id: 0,
            button: label.to_owned(),
        })?;
        self.press(user_id, user_id, message_id, &data)
    }

    /// The user blocks or unblocks the bot: the flag changes and the bot gets `my_chat_member`
    /// (member → kicked, or back), as in fixtures tg14/tg15.
    pub fn set_blocked(&self, user_id: i64, blocked: bool) -> Result<i64, ControlError> {
        self.mutate(|state| {
            if !state.users.contains_key(&user_id) {
                return Err(ControlError::UnknownUser(user_id));
            }
            let chat = state
                .chats
                .get(&user_id)
                .ok_or(ControlError::UnknownChat(user_id))?
                .json();
            let bot = state.bot_json();
            let member = json!({ "user": bot, "status": "member" });
            let kicked = json!({ "user": bot, "status": "kicked", "until_date": 0 });
            let (old, new) = if blocked {
                (member, kicked)
            } else {
                (kicked, member)
            };
            let update = json!({ "my_chat_member": {
                "chat": chat,
                "from": state.user_json(user_id),
                "date": state.unix_now(),
                "old_chat_member": old,
                "new_chat_member": new,
            }});
            Ok(state.enqueue(update, false))
        })
    }

    // ---- what the bot did -------------------------------------------------------------------------

    pub fn sent_to(&self, chat_id: i64) -> Vec<SentMessage> {
        self.lock().sent_to(chat_id)
    }

    pub fn sent_after(&self, chat_id: i64, after: i64) -> Vec<SentMessage> {
        self.lock().sent_after(chat_id, after)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    pub fn callback_answers(&self) -> Vec<CallbackAnswer> {
        self.lock().answers.clone()
    }

    pub fn webhook_info(&self) -> WebhookInfo {
        self.lock().webhook_info()
    }

    // ---- faults and time ----------------------------------------------------------------------------

    /// The next `count` calls of `method` (`"*"`: any), optionally only in `chat_id`, fail with
    /// `fault`.
    pub fn fail_next(&self, method: &str, chat_id: Option<i64>, count: u32, fault: Fault) {
        let method = (method != "*").then(|| method.to_ascii_lowercase());
        self.mutate(|state| {
            state.faults.push(FaultRule {
                method,
                chat_id,
                remaining: count,
                fault,
            });
        });
    }

    pub fn advance_clock(&self, by: chrono::Duration) {
        self.mutate(|state| state.clock.advance(by));
    }
}

/// Kinds of group chat the control API creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GroupKind {
    Basic,
    Supergroup,
    Forum,
}
