//! The Telegram side of the outbox dispatcher: the Bot API calls, Telegram's limits and what
//! each of its errors means. The queue itself (order per chat, parallel chats, group-committed
//! records) is [`crate::channel::dispatch`].
//!
//! - Limits: a global and a per-chat GCRA limiter (`governor`), configurable, off for load tests.
//! - 429: that chat is not sent to again before `retry_after` has passed (and, when Telegram
//!   says so for a flood across chats, no chat is).
//! - 5xx, timeouts: the chat backs off (doubling, at most a minute) and retries the same row;
//!   the parts of a long reply already accepted are not sent again.
//! - Other 4xx: the row is marked failed with Telegram's reason, and the chat moves on.
//! - 403 (blocked, never started, deactivated): the teacher is marked unreachable and the
//!   chat's pending rows fail at once: no retry storm. Rows carrying an expert's answer are held
//!   instead (the experts are told in the ticket's topic) and go out when the teacher writes
//!   again. An unblock marks the teacher reachable again.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::{Value, json};
use tracing::{debug, info, warn};

use super::client::{ApiError, BotApi};
use super::render::render;
use super::{CHANNEL, RateLimits};
use crate::channel::Outbound;
use crate::channel::dispatch::{MAX_BACKOFF, Platform, Queue, Queued, Turn};
use crate::conversation::Conversations;

/// Per-call timeout for sends.
const SEND_TIMEOUT: Duration = Duration::from_secs(20);

/// The dispatcher of one bot.
#[derive(Clone)]
pub struct Dispatcher {
    queue: Queue<Telegram>,
}

/// Telegram's side of sending: the bot and its limiters.
#[derive(Clone)]
pub struct Telegram {
    api: BotApi,
    conversations: Conversations,
    global: Option<Arc<DefaultDirectRateLimiter>>,
    per_chat: Option<Arc<DefaultKeyedRateLimiter<String>>>,
}

/// A chat id as Telegram wants it: a number when it is one.
fn chat_id(chat: &str) -> Value {
    chat.parse::<i64>()
        .map_or_else(|_| Value::from(chat), Value::from)
}

/// Text for the expert group, laid out like a reply without buttons.
fn plain(text: String) -> crate::dialogue::Reply {
    crate::dialogue::Reply {
        text,
        choices: Vec::new(),
        lang: crate::language::Lang::En,
    }
}

impl Dispatcher {
    /// A dispatcher for `api`, reading the outbox of `conversations`.
    #[must_use]
    pub fn new(api: BotApi, conversations: Conversations, limits: RateLimits) -> Dispatcher {
        let global = NonZeroU32::new(limits.global_per_second)
            .map(|n| Arc::new(RateLimiter::direct(Quota::per_second(n))));
        let per_chat = NonZeroU32::new(limits.per_chat_per_second).map(|n| {
            let burst = NonZeroU32::new(limits.per_chat_burst).unwrap_or(n);
            Arc::new(RateLimiter::keyed(Quota::per_second(n).allow_burst(burst)))
        });
        let telegram = Telegram {
            api,
            conversations: conversations.clone(),
            global,
            per_chat,
        };
        Dispatcher {
            queue: Queue::new(telegram, conversations),
        }
    }

    /// Sends until `shutdown` resolves; a chat being sent to finishes its current message.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        self.queue.run(shutdown).await;
    }
}

impl Platform for Telegram {
    const CHANNEL: &'static str = CHANNEL;

    /// Sends one chat's rows in order until done or told to wait.
    async fn send_chat(&self, queue: &Queue<Self>, chat: &str, mut rows: VecDeque<Queued>) -> Turn {
        let store = self.conversations.store();
        let now = || self.conversations.clock().now();
        let hand_back = |wait, everyone, rows| Turn::Wait(wait, everyone, rows);
        while let Some(mut queued) = rows.pop_front() {
            let id = queued.row.id;
            match crate::metrics::timed_send(CHANNEL, self.send_row(chat, &mut queued)).await {
                Ok(()) => {
                    if !queue.record_sent(id, None).await {
                        // Not sent again by this sender (it stays held in `taken`); the
                        // next sender sends it again, the one duplicate a crash may cause.
                        return hand_back(Duration::from_secs(1), false, rows);
                    }
                }
                Err(ApiError::RetryAfter(wait)) => {
                    info!(
                        chat.wait_secs = wait.as_secs(),
                        "Telegram asked to slow down"
                    );
                    rows.push_front(queued);
                    return hand_back(wait, false, rows);
                }
                Err(ApiError::Unreachable(reason)) => {
                    rows.push_front(queued);
                    return queue.unreachable(chat, rows, &reason).await;
                }
                Err(ApiError::Rejected(reason)) => {
                    warn!(outbox.id = id, %reason, "Telegram rejected a message; marked failed");
                    if store.mark_failed(&[id], &reason, now()).await.is_err() {
                        rows.push_front(queued);
                        return hand_back(Duration::from_secs(1), false, rows);
                    }
                    queue.finished_with(1);
                }
                Err(ApiError::Unauthorized) => {
                    warn!("Telegram refused the bot token; sending paused");
                    rows.push_front(queued);
                    return hand_back(MAX_BACKOFF, true, rows);
                }
                Err(err @ (ApiError::Transient(_) | ApiError::Conflict(_))) => {
                    debug!(outbox.id = id, error = %err, "temporary failure; will retry");
                    rows.push_front(queued);
                    return hand_back(queue.backoff(chat), false, rows);
                }
            }
        }
        Turn::Done
    }
}

impl Telegram {
    /// Sends one outbox row (a reply may take several messages when it is long), skipping the
    /// parts Telegram accepted on an earlier try.
    async fn send_row(&self, chat: &str, queued: &mut Queued) -> Result<(), ApiError> {
        let outbound: Outbound = serde_json::from_str(&queued.row.payload)
            .map_err(|_| ApiError::Rejected("unreadable outbox payload".into()))?;
        match outbound {
            Outbound::Ack { answer_callback } => {
                // Not a message: no rate limit applies.
                let params = json!({ "callback_query_id": answer_callback });
                self.api
                    .call("answerCallbackQuery", &params, SEND_TIMEOUT)
                    .await
                    .map(drop)
            }
            Outbound::Message(message) => self.send_parts(chat, &message.reply, None, queued).await,
            Outbound::Photo(photo) => self.send_photo(chat, &photo, queued).await,
            Outbound::Topic { ticket, name, text } => {
                let thread = match self.thread_of(&ticket).await? {
                    Some(thread) => thread,
                    None => {
                        self.wait_for_turn(chat).await;
                        // Telegram's limit for a topic name is 128 characters.
                        let name: String = name.chars().take(128).collect();
                        let params = json!({ "chat_id": chat_id(chat), "name": name });
                        let topic = self
                            .api
                            .call("createForumTopic", &params, SEND_TIMEOUT)
                            .await?;
                        let thread = topic["message_thread_id"].as_i64().ok_or_else(|| {
                            ApiError::Rejected("createForumTopic gave no message_thread_id".into())
                        })?;
                        self.conversations
                            .store()
                            .set_ticket_thread(&ticket, thread)
                            .await
                            .map_err(|e| ApiError::Transient(e.to_string()))?;
                        thread
                    }
                };
                self.send_parts(chat, &plain(text), Some(thread), queued)
                    .await
            }
            Outbound::InTopic { ticket, text, file } => {
                let Some(thread) = self.thread_of(&ticket).await? else {
                    return Err(ApiError::Transient(
                        "the ticket's topic is not created yet".into(),
                    ));
                };
                match file {
                    Some((kind, file_id)) => {
                        let method = match kind.as_str() {
                            "photo" => "sendPhoto",
                            "voice" => "sendVoice",
                            "audio" => "sendAudio",
                            "video" => "sendVideo",
                            _ => "sendDocument",
                        };
                        let field = match kind.as_str() {
                            "photo" | "voice" | "audio" | "video" => kind.as_str(),
                            _ => "document",
                        };
                        let caption: String = text.chars().take(1024).collect();
                        let mut params = json!({
                            "chat_id": chat_id(chat),
                            "message_thread_id": thread,
                            "caption": caption,
                        });
                        params[field] = Value::from(file_id);
                        self.wait_for_turn(chat).await;
                        self.api.call(method, &params, SEND_TIMEOUT).await.map(drop)
                    }
                    None => {
                        self.send_parts(chat, &plain(text), Some(thread), queued)
                            .await
                    }
                }
            }
        }
    }

    /// Sends a reply in as many messages as it takes, into a forum topic when `thread` is set.
    async fn send_parts(
        &self,
        chat: &str,
        reply: &crate::dialogue::Reply,
        thread: Option<i64>,
        queued: &mut Queued,
    ) -> Result<(), ApiError> {
        for mut params in render(reply).into_iter().skip(queued.parts_sent) {
            self.wait_for_turn(chat).await;
            params["chat_id"] = chat_id(chat);
            if let Some(thread) = thread {
                params["message_thread_id"] = Value::from(thread);
            }
            self.api.call("sendMessage", &params, SEND_TIMEOUT).await?;
            queued.parts_sent += 1;
        }
        Ok(())
    }

    /// Sends a picture by its public URL with its caption (`sendPhoto`); without a public
    /// URL, or with a caption too long for a photo, the caption goes as text.
    async fn send_photo(
        &self,
        chat: &str,
        photo: &crate::channel::OutboundPhoto,
        queued: &mut Queued,
    ) -> Result<(), ApiError> {
        let public = self.conversations.public_url().map(str::to_string);
        let caption = photo.caption(public.as_deref());
        let Some(base) = public else {
            return self.send_parts(chat, &caption, None, queued).await;
        };
        let url = photo.photo_url(&base);
        match super::render::render_photo(&url, &caption) {
            Some(mut params) if queued.parts_sent == 0 => {
                self.wait_for_turn(chat).await;
                params["chat_id"] = chat_id(chat);
                self.api.call("sendPhoto", &params, SEND_TIMEOUT).await?;
                queued.parts_sent = 1;
                Ok(())
            }
            Some(_) => Ok(()),
            None => {
                if queued.parts_sent == 0 {
                    self.wait_for_turn(chat).await;
                    let params = json!({ "chat_id": chat_id(chat), "photo": url });
                    self.api.call("sendPhoto", &params, SEND_TIMEOUT).await?;
                    queued.parts_sent = 1;
                }
                // The text's parts follow the picture: skip those already sent.
                queued.parts_sent -= 1;
                let result = self.send_parts(chat, &caption, None, queued).await;
                queued.parts_sent += 1;
                result
            }
        }
    }

    /// The forum topic of a ticket, if created.
    async fn thread_of(&self, ticket: &str) -> Result<Option<i64>, ApiError> {
        match self.conversations.store().ticket_thread(ticket).await {
            Ok(thread) => Ok(thread),
            Err(crate::store::StoreError::NotFound) => {
                Err(ApiError::Rejected(format!("no ticket {ticket}")))
            }
            Err(err) => Err(ApiError::Transient(err.to_string())),
        }
    }

    async fn wait_for_turn(&self, chat: &str) {
        if let Some(per_chat) = &self.per_chat {
            per_chat.until_key_ready(&chat.to_string()).await;
        }
        if let Some(global) = &self.global {
            global.until_ready().await;
        }
    }
}
