//! The WhatsApp side of the outbox dispatcher: Graph API sends, Meta's limits, the 24-hour
//! window and what each error code means. The queue itself (order per chat, parallel chats,
//! group-committed records) is [`crate::channel::dispatch`].
//!
//! - Each row is rendered ([`super::render`]) and sent to the teacher's latest phone number,
//!   or to their business-scoped user id (`recipient`) when that is all we know. The wamid of
//!   the last message of a row is recorded on it, so status webhooks find it.
//! - **The window.** Before a chat's turn, its window is read ([`super::window`]). Outside it
//!   no normal message is attempted: the rows are held, and a re-engagement template row is
//!   queued (at most one pending); the template goes out if none went in the configured
//!   period, else it is skipped with the reason. The held rows go out, in order, when the
//!   teacher writes again (the conversation commit releases them). A send refused with 131047
//!   is handled the same way; a 131047 `failed` status is handled by the store.
//! - Limits: the business number's throughput (80/s by default, up to 1,000; inbound messages
//!   count too, see [`super::pace`]), served in the order chats asked for it, and a
//!   per-recipient limiter (Meta's 1 per 6 s with a burst of 45). 130429 and its kin pause every chat briefly;
//!   131056 pauses that recipient 6 s; 5xx and 131000 back the chat off (doubling, a minute at
//!   most); the parts of a long reply already accepted are not sent again.
//! - 190 (token refused): logged as an error once per pause, and every chat waits a minute:
//!   loud, and no retry storm.
//! - 131026 (undeliverable: blocked, not on WhatsApp): like Telegram's 403, the teacher is
//!   marked unreachable, expert answers are held, the rest fail.
//! - Other errors: the row fails with Meta's reason and the chat moves on.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::{Value, json};
use tracing::{debug, error, info, warn};

use super::client::{GraphApi, GraphError};
use super::pace::Throughput;
use super::render::render;
use super::window::{is_open, template_due};
use super::{CHANNEL, RESUME_PAYLOAD, SendLimits, Templates};
use crate::channel::Outbound;
use crate::channel::dispatch::{MAX_BACKOFF, Platform, Queue, Queued, Turn};
use crate::conversation::Conversations;
use crate::store::{StoreError, WindowState};

/// How long a recipient waits after 131056 (Meta: one message per 6 s).
const PAIR_WAIT: Duration = Duration::from_secs(6);

/// The dispatcher of one business number.
#[derive(Clone)]
pub struct Dispatcher {
    queue: Queue<WhatsApp>,
}

impl Dispatcher {
    /// A dispatcher sending through `api` with `limits`, reading the outbox of
    /// `conversations`.
    #[must_use]
    pub fn new(
        api: GraphApi,
        conversations: Conversations,
        limits: SendLimits,
        templates: Templates,
    ) -> Dispatcher {
        let global = NonZeroU32::new(limits.per_second).map(|n| Arc::new(Throughput::new(n)));
        Dispatcher::sharing(api, conversations, limits, templates, global)
    }

    /// [`Dispatcher::new`] on a throughput that outlives it: the one the webhook charges, kept
    /// by the instance across its terms as the sending leader.
    #[must_use]
    pub fn sharing(
        api: GraphApi,
        conversations: Conversations,
        limits: SendLimits,
        templates: Templates,
        global: Option<Arc<Throughput>>,
    ) -> Dispatcher {
        let per_recipient = NonZeroU32::new(limits.pair_burst).and_then(|burst| {
            Quota::with_period(limits.pair_period)
                .map(|q| Arc::new(RateLimiter::keyed(q.allow_burst(burst))))
        });
        let whatsapp = WhatsApp {
            api,
            conversations: conversations.clone(),
            global,
            per_recipient,
            templates: Arc::new(templates),
        };
        Dispatcher {
            queue: Queue::new(whatsapp, conversations),
        }
    }

    /// The business number's throughput, which the webhook charges with inbound messages
    /// (Meta counts both ways); `None` when unlimited.
    #[must_use]
    pub fn throughput(&self) -> Option<Arc<Throughput>> {
        self.queue.platform().global.clone()
    }

    /// Sends until `shutdown` resolves; a chat being sent to finishes its current message.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        self.queue.run(shutdown).await;
    }
}

/// WhatsApp's side of sending.
#[derive(Clone)]
pub struct WhatsApp {
    api: GraphApi,
    conversations: Conversations,
    global: Option<Arc<Throughput>>,
    per_recipient: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    templates: Arc<Templates>,
}

/// What a row is, for WhatsApp.
enum Row {
    /// A reply for the teacher.
    Message(crate::dialogue::Reply),
    /// A picture with its caption (sent as the caption alone without a public URL).
    Photo(crate::channel::OutboundPhoto),
    /// A template asking the teacher to reply (the window is closed).
    Reengage,
    /// Not something WhatsApp sends (a Telegram acknowledgement or forum post), or unreadable.
    Foreign(&'static str),
}

fn classify_row(payload: &str) -> Row {
    if payload == crate::store::REENGAGE_PAYLOAD {
        return Row::Reengage;
    }
    match serde_json::from_str::<Outbound>(payload) {
        Ok(Outbound::Message(message)) => Row::Message(message.reply),
        Ok(Outbound::Photo(photo)) => Row::Photo(photo),
        Ok(_) => Row::Foreign("not a message WhatsApp can carry"),
        Err(_) => Row::Foreign("unreadable outbox payload"),
    }
}

impl Platform for WhatsApp {
    const CHANNEL: &'static str = CHANNEL;

    async fn send_chat(&self, queue: &Queue<Self>, chat: &str, mut rows: VecDeque<Queued>) -> Turn {
        let store = self.conversations.store();
        let now = || self.conversations.clock().now();
        let retry_soon = |rows| Turn::Wait(Duration::from_secs(1), false, rows);
        let window = match store.window_state(CHANNEL, chat).await {
            Ok(window) => window.unwrap_or_default(),
            Err(err) => {
                warn!(error = %err, "cannot read the teacher's window");
                return retry_soon(rows);
            }
        };
        let address = match self.address(chat).await {
            Ok(address) => address,
            Err(err) => {
                warn!(error = %err, "cannot read the teacher's address");
                return retry_soon(rows);
            }
        };
        while let Some(mut queued) = rows.pop_front() {
            let id = queued.row.id;
            let result = match classify_row(&queued.row.payload) {
                Row::Foreign(reason) => {
                    warn!(
                        outbox.id = id,
                        reason, "outbox row not for WhatsApp; marked failed"
                    );
                    if store.mark_failed(&[id], reason, now()).await.is_err() {
                        rows.push_front(queued);
                        return retry_soon(rows);
                    }
                    queue.finished_with(1);
                    continue;
                }
                Row::Reengage => {
                    match self.reengage(queue, chat, &address, &window, &queued).await {
                        Ok(()) => continue,
                        Err(err) => Err(err),
                    }
                }
                Row::Message(reply) => {
                    if !is_open(window.last_inbound_at, now()) {
                        rows.push_front(queued);
                        return self.hold(queue, chat, &window, rows).await;
                    }
                    crate::metrics::timed_send(
                        CHANNEL,
                        self.send_parts(&address, &reply, &mut queued),
                    )
                    .await
                }
                Row::Photo(photo) => {
                    if !is_open(window.last_inbound_at, now()) {
                        rows.push_front(queued);
                        return self.hold(queue, chat, &window, rows).await;
                    }
                    crate::metrics::timed_send(
                        CHANNEL,
                        self.send_photo(&address, &photo, &mut queued),
                    )
                    .await
                }
            };
            match result {
                Ok(wamid) => {
                    if !queue.record_sent(id, wamid).await {
                        // Not sent again by this process; the next start sends it again, the
                        // one duplicate a crash may cause.
                        return retry_soon(rows);
                    }
                }
                Err(GraphError::WindowClosed) => {
                    debug!(outbox.id = id, "131047: the window is closed; holding");
                    rows.push_front(queued);
                    return self.hold(queue, chat, &window, rows).await;
                }
                Err(GraphError::RateLimited { code, wait }) => {
                    info!(
                        code,
                        wait_secs = wait.as_secs(),
                        "WhatsApp throughput limit hit"
                    );
                    rows.push_front(queued);
                    return Turn::Wait(wait, true, rows);
                }
                Err(GraphError::PairRate) => {
                    debug!("pair rate limit hit; this recipient waits");
                    rows.push_front(queued);
                    return Turn::Wait(PAIR_WAIT, false, rows);
                }
                Err(GraphError::Unauthorized(reason)) => {
                    error!(%reason, "WhatsApp refused the access token; sending paused for a minute (check WHATSAPP_ACCESS_TOKEN)");
                    rows.push_front(queued);
                    return Turn::Wait(MAX_BACKOFF, true, rows);
                }
                Err(GraphError::Undeliverable(reason)) => {
                    rows.push_front(queued);
                    return queue.unreachable(chat, rows, &reason).await;
                }
                Err(GraphError::Rejected(reason)) => {
                    warn!(outbox.id = id, %reason, "WhatsApp rejected a message; marked failed");
                    if store.mark_failed(&[id], &reason, now()).await.is_err() {
                        rows.push_front(queued);
                        return retry_soon(rows);
                    }
                    queue.finished_with(1);
                }
                Err(err @ GraphError::Transient(_)) => {
                    debug!(outbox.id = id, error = %err, "temporary failure; will retry");
                    rows.push_front(queued);
                    return Turn::Wait(queue.backoff(chat), false, rows);
                }
            }
        }
        Turn::Done
    }
}

/// Where a teacher's messages go: a phone number (`to`) or a business-scoped user id
/// (`recipient`).
struct Address {
    field: &'static str,
    id: String,
}

impl WhatsApp {
    async fn address(&self, chat: &str) -> Result<Address, StoreError> {
        let known = self
            .conversations
            .store()
            .send_address(CHANNEL, chat)
            .await?;
        Ok(match known {
            Some((kind, id)) if kind == "bsuid" => Address {
                field: "recipient",
                id,
            },
            Some((_, id)) => Address { field: "to", id },
            // Keyed before aliases were recorded: the key is what the teacher wrote from.
            None if chat.bytes().all(|b| b.is_ascii_digit()) => Address {
                field: "to",
                id: chat.to_string(),
            },
            None => Address {
                field: "recipient",
                id: chat.to_string(),
            },
        })
    }

    /// Holds a chat's message rows (this turn's and any that arrived meanwhile) for the
    /// teacher's next message; a re-engagement template row is queued by the store.
    async fn hold(
        &self,
        queue: &Queue<Self>,
        chat: &str,
        window: &WindowState,
        rows: VecDeque<Queued>,
    ) -> Turn {
        let store = self.conversations.store();
        let later = queue.take_later(chat);
        let (templates, messages): (Vec<Queued>, Vec<Queued>) = rows
            .into_iter()
            .chain(later)
            .partition(|q| q.row.payload == crate::store::REENGAGE_PAYLOAD);
        let ids: Vec<i64> = messages.iter().map(|q| q.row.id).collect();
        let now = self.conversations.clock().now();
        let held = store
            .hold_for_window(CHANNEL, chat, &ids, window.last_inbound_at, now)
            .await;
        let wait = match held {
            Ok(true) => None,
            // The teacher wrote meanwhile: the window is open again, send at once.
            Ok(false) => Some(Duration::ZERO),
            Err(err) => {
                warn!(error = %err, "cannot hold messages outside the window; will retry");
                Some(Duration::from_secs(1))
            }
        };
        if let Some(wait) = wait {
            let rows: VecDeque<Queued> = messages.into_iter().chain(templates).collect();
            return Turn::Wait(wait, false, rows);
        }
        debug!(
            outbox.rows = ids.len(),
            "outside the 24-hour window; messages held"
        );
        queue.finished_with(ids.len());
        crate::metrics::sends(CHANNEL, "held", ids.len() as u64);
        if templates.is_empty() {
            Turn::Done
        } else {
            // A template row already read: send it at once rather than wait for the next read.
            Turn::Wait(Duration::ZERO, false, templates.into())
        }
    }

    /// Sends the re-engagement template of a row, or skips it when it is not needed (the
    /// window is open again) or not allowed (one went out within the period). Returns the
    /// template's wamid, the row recorded by the caller.
    async fn reengage(
        &self,
        queue: &Queue<Self>,
        chat: &str,
        address: &Address,
        window: &WindowState,
        queued: &Queued,
    ) -> Result<(), GraphError> {
        let store = self.conversations.store();
        let now = self.conversations.clock().now();
        let skip = if is_open(window.last_inbound_at, now) {
            Some("the teacher wrote again; nothing waits".to_string())
        } else if !template_due(window.reengaged_at, now, self.templates.reengage_every) {
            Some(format!(
                "a re-engagement template went out less than {} h ago",
                self.templates.reengage_every.num_hours()
            ))
        } else {
            None
        };
        if let Some(reason) = skip {
            store
                .mark_skipped(&[queued.row.id], &reason, now)
                .await
                .map_err(|e| GraphError::Transient(e.to_string()))?;
            queue.finished_with(1);
            return Ok(());
        }
        let language = self.templates.language_for(&window.language);
        let mut message = json!({
            "type": "template",
            "template": {
                "name": self.templates.reengage,
                "language": { "code": language },
                "components": [{
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "0",
                    "parameters": [{ "type": "payload", "payload": RESUME_PAYLOAD }],
                }],
            },
        });
        message[address.field] = Value::from(address.id.as_str());
        self.wait_for_turn(&address.id).await;
        let wamid = crate::metrics::timed_send(CHANNEL, self.api.send(&message)).await?;
        // Recorded before the row, so a crash between the two cannot send a second template
        // within the period.
        store
            .record_reengaged(CHANNEL, chat, now)
            .await
            .map_err(|e| GraphError::Transient(e.to_string()))?;
        info!("re-engagement template sent");
        if !queue.record_sent(queued.row.id, Some(wamid)).await {
            return Err(GraphError::Transient(
                "template sent but not recorded".into(),
            ));
        }
        Ok(())
    }

    /// Sends a reply in as many messages as it takes, skipping the parts accepted on an
    /// earlier try; returns the wamid of the last.
    async fn send_parts(
        &self,
        address: &Address,
        reply: &crate::dialogue::Reply,
        queued: &mut Queued,
    ) -> Result<Option<String>, GraphError> {
        let mut last = None;
        for mut message in render(reply).into_iter().skip(queued.parts_sent) {
            message["recipient_type"] = Value::from("individual");
            message[address.field] = Value::from(address.id.as_str());
            self.wait_for_turn(&address.id).await;
            last = Some(self.api.send(&message).await?);
            queued.parts_sent += 1;
        }
        Ok(last)
    }

    /// A picture by its public URL with its caption; the caption alone without a public URL.
    async fn send_photo(
        &self,
        address: &Address,
        photo: &crate::channel::OutboundPhoto,
        queued: &mut Queued,
    ) -> Result<Option<String>, GraphError> {
        let public = self.conversations.public_url().map(str::to_string);
        let caption = photo.caption(public.as_deref());
        let messages = match public {
            Some(base) => super::render::render_image(&photo.photo_url(&base), &caption),
            None => render(&caption),
        };
        let mut last = None;
        for mut message in messages.into_iter().skip(queued.parts_sent) {
            message["recipient_type"] = Value::from("individual");
            message[address.field] = Value::from(address.id.as_str());
            self.wait_for_turn(&address.id).await;
            last = Some(self.api.send(&message).await?);
            queued.parts_sent += 1;
        }
        Ok(last)
    }

    async fn wait_for_turn(&self, recipient: &str) {
        if let Some(per_recipient) = &self.per_recipient {
            per_recipient.until_key_ready(&recipient.to_string()).await;
        }
        if let Some(global) = &self.global {
            global.until_ready().await;
        }
    }
}
