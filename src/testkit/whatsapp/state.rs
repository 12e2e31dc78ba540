//! Everything the fake remembers, behind one mutex: the business settings, users and their
//! 24-hour windows, approved templates, every send with its record, media, the request log,
//! faults, rate-limit buckets, and the webhook queue with its delivery log.
//!
//! The webhook queue: each webhook body waits as an [`Outgoing`] with ordering keys (the user's
//! address for their messages, `status:` + address for statuses of messages to them). A body is
//! posted only when no earlier undelivered body shares a key, so each user's messages arrive in
//! order while users run in parallel. Before a body is built, held items (`reorder_next`,
//! `batch_next`) wait in a [`Hold`]; `duplicate_next` queues a finished body twice.
//!
//! Locking rule: a `std::sync::Mutex`, held for short synchronous sections, never across an
//! `.await`. The user actions live in `inbound`, the Graph send logic in `outbound`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::limits::Limits;
use super::payloads::{self, Business, Change};
use super::records::{
    ErrorTiming, Fault, PostedStatus, Request, SentWa, StatusMode, Tamper, WaUser, WebhookAttempt,
};
use super::wire;
use crate::clock::Clock;

/// Settings fixed at start (the modes can change later).
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub business: Business,
    pub app_secret: String,
    pub api_version: String,
    /// `http://127.0.0.1:PORT`, for media URLs.
    pub base_url: String,
    pub statuses: StatusMode,
    pub window_errors: ErrorTiming,
    pub blocked_errors: ErrorTiming,
    pub status_delay: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub max_attempts: Option<u32>,
    pub concurrency: usize,
}

/// A user and what WhatsApp knows about them.
#[derive(Clone, Debug)]
pub(crate) struct User {
    pub handle: WaUser,
    /// When they last wrote: the 24-hour customer service window runs from here.
    pub last_inbound: Option<DateTime<Utc>>,
    pub blocked: bool,
    /// Conversation id and expiry, for status payloads of versions before v24.0.
    pub conversation: Option<(String, DateTime<Utc>)>,
}

/// An approved template.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Template {
    /// Body parameters it takes, when the test said so (else any count passes).
    pub body_parameters: Option<usize>,
}

/// Media the fake serves.
#[derive(Clone, Debug)]
pub(crate) struct Media {
    pub bytes: Vec<u8>,
    pub mime_type: String,
    pub sha256: String,
    pub created: DateTime<Utc>,
}

/// A download URL handed out: `…/whatsapp_business/attachments/?mid=…&ext=…&hash=…`.
#[derive(Clone, Debug)]
pub(crate) struct MediaUrl {
    pub media_id: String,
    pub expires: DateTime<Utc>,
}

/// A send and what the statuses of it need.
#[derive(Clone, Debug)]
pub(crate) struct SendEntry {
    pub record: SentWa,
    pub by_user_id: bool,
    pub callback_data: Option<String>,
    /// `pricing.category`.
    pub category: &'static str,
}

/// A webhook `changes[]` item (or a raw body) not yet turned into a POST body.
#[derive(Clone, Debug)]
pub(crate) enum Pending {
    Change {
        keys: Vec<String>,
        change: Change,
        delay: Duration,
    },
    Raw {
        keys: Vec<String>,
        bytes: Vec<u8>,
    },
}

/// What a hold does with its items once full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HoldMode {
    /// Queue them in reverse order.
    Reorder,
    /// Queue them as one POST.
    Batch,
}

/// Items held back for reordering or batching.
#[derive(Clone, Debug)]
pub(crate) struct Hold {
    pub mode: HoldMode,
    /// Items still to take before releasing; `None`: until released by hand.
    pub remaining: Option<u32>,
    pub items: Vec<Pending>,
}

/// A webhook body waiting for delivery.
#[derive(Clone, Debug)]
pub(crate) struct Outgoing {
    pub seq: u64,
    pub keys: Vec<String>,
    pub body: Arc<[u8]>,
    pub attempts: u32,
    pub not_before: Option<Instant>,
    pub in_flight: bool,
}

/// One POST to make.
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    pub seq: u64,
    pub attempt: u32,
    pub url: String,
    pub body: Arc<[u8]>,
    pub signature: Option<String>,
    pub started: DateTime<Utc>,
}

/// How a POST ended: the webhook's status, or why there is none.
pub(crate) type DeliveryOutcome = Result<u16, String>;

/// An attempt in the log (the body shared with the queue, not copied).
#[derive(Clone, Debug)]
pub(crate) struct AttemptLog {
    pub delivery: Delivery,
    pub outcome: DeliveryOutcome,
}

/// A fault waiting for a matching call.
#[derive(Clone, Debug)]
pub(crate) struct FaultRule {
    /// Endpoint name or path suffix; `None` matches every call.
    pub what: Option<String>,
    /// Only sends to this address.
    pub to: Option<String>,
    pub remaining: u32,
    pub fault: Fault,
}

/// The whole fake.
#[derive(Debug)]
pub(crate) struct State {
    pub settings: Settings,
    pub clock: Clock,
    pub token: String,
    pub token_expired: bool,
    pub users: HashMap<String, User>,
    pub templates: HashMap<(String, String), Template>,
    pub sends: Vec<SendEntry>,
    pub by_wamid: HashMap<String, usize>,
    pub by_address: HashMap<String, Vec<usize>>,
    pub requests: Vec<Request>,
    pub marked_read: Vec<String>,
    pub media: HashMap<String, Media>,
    pub media_urls: HashMap<String, MediaUrl>,
    pub webhook_url: Option<String>,
    pub queue: VecDeque<Outgoing>,
    pub hold: Option<Hold>,
    pub duplicate_next: u32,
    pub tamper: VecDeque<Tamper>,
    pub attempts: Vec<AttemptLog>,
    pub statuses: Vec<PostedStatus>,
    pub faults: Vec<FaultRule>,
    pub limits: Limits,
    /// Bumped whenever the deliverer must look again.
    pub queue_epoch: u64,
    next_seq: u64,
    serial: u64,
}

impl State {
    pub fn new(settings: Settings, clock: Clock, token: String, limits: Limits) -> State {
        State {
            settings,
            clock,
            token,
            token_expired: false,
            users: HashMap::new(),
            templates: HashMap::new(),
            sends: Vec::new(),
            by_wamid: HashMap::new(),
            by_address: HashMap::new(),
            requests: Vec::new(),
            marked_read: Vec::new(),
            media: HashMap::new(),
            media_urls: HashMap::new(),
            webhook_url: None,
            queue: VecDeque::new(),
            hold: None,
            duplicate_next: 0,
            tamper: VecDeque::new(),
            attempts: Vec::new(),
            statuses: Vec::new(),
            faults: Vec::new(),
            limits,
            queue_epoch: 0,
            next_seq: 0,
            serial: 0,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn unix_now(&self) -> i64 {
        self.now().timestamp()
    }

    /// A number never handed out before (wamid uniqueness).
    pub fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    /// Marks a change the deliverer must look at.
    pub fn touch_queue(&mut self) {
        self.queue_epoch += 1;
    }

    // ---- users ----------------------------------------------------------------------------------

    /// Adds a user, or renames one with the same address (their window and blocks stay).
    pub fn add_user(&mut self, handle: WaUser) -> WaUser {
        let address = handle.address().to_owned();
        self.users
            .entry(address)
            .and_modify(|user| {
                user.handle.name.clone_from(&handle.name);
                user.handle.username.clone_from(&handle.username);
            })
            .or_insert_with(|| User {
                handle: handle.clone(),
                last_inbound: None,
                blocked: false,
                conversation: None,
            })
            .handle
            .clone()
    }

    /// The address a user is filed under, found by phone number or BSUID.
    pub fn address_of(&self, id: &str) -> Option<String> {
        if self.users.contains_key(id) {
            return Some(id.to_owned());
        }
        self.users
            .iter()
            .find(|(_, user)| user.handle.bsuid.as_deref() == Some(id))
            .map(|(address, _)| address.clone())
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.address_of(id)
            .and_then(|address| self.users.get(&address))
    }

    pub fn user_mut(&mut self, id: &str) -> Option<&mut User> {
        let address = self.address_of(id)?;
        self.users.get_mut(&address)
    }

    // ---- media -------------------------------------------------------------------------------------

    /// Stores media the fake will serve; returns its id.
    pub fn register_media(&mut self, bytes: Vec<u8>, mime_type: &str) -> String {
        let id = wire::media_id();
        let created = self.now();
        self.media.insert(
            id.clone(),
            Media {
                sha256: wire::sha256_base64(&bytes),
                bytes,
                mime_type: mime_type.to_owned(),
                created,
            },
        );
        id
    }

    /// A download URL for media, valid until `expires`.
    pub fn media_url(&mut self, media_id: &str, expires: DateTime<Utc>) -> String {
        let hash = wire::hex32();
        self.media_urls.insert(
            hash.clone(),
            MediaUrl {
                media_id: media_id.to_owned(),
                expires,
            },
        );
        format!(
            "{}/whatsapp_business/attachments/?mid={media_id}&ext={}&hash={hash}",
            self.settings.base_url,
            expires.timestamp()
        )
    }

    // ---- the request log and faults -------------------------------------------------------------------

    /// Logs a request; returns its index for [`set_request_status`](Self::set_request_status).
    pub fn log_request(&mut self, request: Request) -> usize {
        self.requests.push(request);
        self.requests.len() - 1
    }

    pub fn set_request_status(&mut self, index: usize, status: u16) {
        if let Some(request) = self.requests.get_mut(index) {
            request.status = Some(status);
        }
    }

    /// Takes the first fault matching a call to endpoint `name` at `path`, sending to `to`.
    pub fn take_fault(&mut self, name: &str, path: &str, to: Option<&str>) -> Option<Fault> {
        let index = self.faults.iter().position(|rule| {
            rule.remaining > 0
                && rule
                    .what
                    .as_deref()
                    .is_none_or(|what| what == name || path.ends_with(what))
                && rule.to.as_deref().is_none_or(|only| Some(only) == to)
        })?;
        let rule = &mut self.faults[index];
        rule.remaining -= 1;
        let fault = rule.fault.clone();
        if rule.remaining == 0 {
            self.faults.remove(index);
        }
        Some(fault)
    }

    // ---- the webhook queue -----------------------------------------------------------------------------

    /// Queues a webhook item, through the hold when one is active.
    pub fn push(&mut self, pending: Pending) {
        if let Some(hold) = &mut self.hold {
            hold.items.push(pending);
            if let Some(remaining) = &mut hold.remaining {
                *remaining = remaining.saturating_sub(1);
                if *remaining == 0 {
                    self.release_hold();
                }
            }
            return;
        }
        self.finish_item(pending);
    }

    /// Starts holding the next `count` items (`None`: until [`release_hold`](Self::release_hold)).
    /// Items held by an earlier hold are released first.
    pub fn start_hold(&mut self, mode: HoldMode, count: Option<u32>) {
        self.release_hold();
        if count == Some(0) {
            return;
        }
        self.hold = Some(Hold {
            mode,
            remaining: count,
            items: Vec::new(),
        });
    }

    /// Queues what a hold kept: reversed, or as one batch.
    pub fn release_hold(&mut self) {
        let Some(hold) = self.hold.take() else {
            return;
        };
        match hold.mode {
            HoldMode::Reorder => {
                for item in hold.items.into_iter().rev() {
                    self.finish_item(item);
                }
            }
            HoldMode::Batch => self.finish_batch(hold.items),
        }
    }

    fn finish_item(&mut self, pending: Pending) {
        match pending {
            Pending::Change {
                keys,
                change,
                delay,
            } => {
                let body = payloads::envelope(&self.settings.business, &[change]);
                self.enqueue(keys, wire::encode(&body).into_bytes(), delay);
            }
            Pending::Raw { keys, bytes } => self.enqueue(keys, bytes, Duration::ZERO),
        }
    }

    /// One POST with every held change, merged like Meta's aggregated posts. Raw bodies cannot
    /// be merged and go on their own, after the batch.
    fn finish_batch(&mut self, items: Vec<Pending>) {
        let mut keys = Vec::new();
        let mut changes = Vec::new();
        let mut raws = Vec::new();
        let mut delay = Duration::ZERO;
        for item in items {
            match item {
                Pending::Change {
                    keys: item_keys,
                    change,
                    delay: item_delay,
                } => {
                    for key in item_keys {
                        if !keys.contains(&key) {
                            keys.push(key);
                        }
                    }
                    changes.push(change);
                    delay = delay.max(item_delay);
                }
                raw @ Pending::Raw { .. } => raws.push(raw),
            }
        }
        if !changes.is_empty() {
            let body = payloads::envelope(&self.settings.business, &payloads::merge(changes));
            self.enqueue(keys, wire::encode(&body).into_bytes(), delay);
        }
        for raw in raws {
            self.finish_item(raw);
        }
    }

    /// Puts a finished body in the queue (twice when a duplicate is due).
    fn enqueue(&mut self, keys: Vec<String>, body: Vec<u8>, delay: Duration) {
        let copies = if self.duplicate_next > 0 {
            self.duplicate_next -= 1;
            2
        } else {
            1
        };
        let body: Arc<[u8]> = body.into();
        let not_before = (!delay.is_zero()).then(|| Instant::now() + delay);
        for _ in 0..copies {
            self.next_seq += 1;
            self.queue.push_back(Outgoing {
                seq: self.next_seq,
                keys: keys.clone(),
                body: body.clone(),
                attempts: 0,
                not_before,
                in_flight: false,
            });
        }
        self.touch_queue();
    }

    /// The POSTs to start now: every body whose keys no earlier body holds, that is not in
    /// flight or backing off, up to the concurrency limit. Also says when to look again.
    pub fn plan_deliveries(&mut self, now: Instant) -> (Vec<Delivery>, Option<Instant>) {
        let Some(url) = self.webhook_url.clone() else {
            return (Vec::new(), None);
        };
        let in_flight = self.queue.iter().filter(|item| item.in_flight).count();
        let mut capacity = self.settings.concurrency.max(1).saturating_sub(in_flight);
        let mut deliveries = Vec::new();
        let mut next_wake: Option<Instant> = None;
        let mut taken: HashSet<String> = HashSet::new();
        let started = self.now();
        for index in 0..self.queue.len() {
            if capacity == 0 {
                break;
            }
            let item = &self.queue[index];
            let blocked = item.keys.iter().any(|key| taken.contains(key));
            taken.extend(item.keys.iter().cloned());
            if blocked || item.in_flight {
                continue;
            }
            if let Some(at) = item.not_before
                && at > now
            {
                next_wake = Some(next_wake.map_or(at, |wake| wake.min(at)));
                continue;
            }
            let signature = match self.tamper.pop_front() {
                None => Some(wire::signature(&self.settings.app_secret, &item.body)),
                Some(Tamper::WrongSignature) => Some(wire::signature(
                    &format!("{}-not", self.settings.app_secret),
                    &item.body,
                )),
                Some(Tamper::MissingSignature) => None,
            };
            let item = &mut self.queue[index];
            item.in_flight = true;
            item.attempts += 1;
            capacity -= 1;
            deliveries.push(Delivery {
                seq: item.seq,
                attempt: item.attempts,
                url: url.clone(),
                body: item.body.clone(),
                signature,
                started,
            });
        }
        (deliveries, next_wake)
    }

    /// Records how a POST ended: a `200` removes the body from the queue; anything else
    /// schedules a retry (at once, then after 1, 2, 4 … backoff units up to the maximum), or
    /// drops the body when the attempts are used up.
    pub fn finish_delivery(&mut self, delivery: Delivery, outcome: DeliveryOutcome, now: Instant) {
        let seq = delivery.seq;
        let delivered = outcome == Ok(200);
        self.attempts.push(AttemptLog { delivery, outcome });
        self.touch_queue();
        let Some(position) = self.queue.iter().position(|item| item.seq == seq) else {
            return;
        };
        if delivered {
            self.queue.remove(position);
            return;
        }
        let attempts = self.queue[position].attempts;
        if self
            .settings
            .max_attempts
            .is_some_and(|max| attempts >= max)
        {
            self.queue.remove(position);
            return;
        }
        let delay = retry_delay(
            self.settings.backoff_base,
            self.settings.backoff_max,
            attempts,
        );
        let item = &mut self.queue[position];
        item.in_flight = false;
        item.not_before = Some(now + delay);
    }

    /// The attempts log, for tests.
    pub fn webhook_attempts(&self) -> Vec<WebhookAttempt> {
        self.attempts
            .iter()
            .map(|log| {
                let delivery = &log.delivery;
                WebhookAttempt {
                    delivery: delivery.seq,
                    attempt: delivery.attempt,
                    url: delivery.url.clone(),
                    body: String::from_utf8_lossy(&delivery.body).into_owned(),
                    signature: delivery.signature.clone(),
                    status: log.outcome.as_ref().ok().copied(),
                    error: log.outcome.as_ref().err().cloned(),
                    at: delivery.started,
                }
            })
            .collect()
    }
}

/// Pause before the next attempt after `failures` failed ones: Meta "retries immediately, then
/// … with decreasing frequency" (Graph webhooks page), with exponential backoff (throughput
/// page); the schedule itself is not published. Here: at once, then 1, 2, 4 … units, capped.
pub(crate) fn retry_delay(base: Duration, max: Duration, failures: u32) -> Duration {
    if failures <= 1 {
        return Duration::ZERO;
    }
    let units = 2u32.saturating_pow(failures.saturating_sub(2).min(30));
    base.saturating_mul(units).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap() {
        let unit = Duration::from_secs(1);
        let max = Duration::from_secs(60);
        let delays: Vec<u64> = (1..=9)
            .map(|n| retry_delay(unit, max, n).as_secs())
            .collect();
        assert_eq!(delays, vec![0, 1, 2, 4, 8, 16, 32, 60, 60]);
    }
}
