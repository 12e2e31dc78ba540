//! A faithful fake of Meta's WhatsApp Cloud API (Graph API), for tests and benchmarks.
//!
//! **What it owns.** One business phone number on an axum server at `127.0.0.1:0`, with what
//! Meta would remember for it: the access token, approved templates, users (phone-number users
//! and BSUID-only users with a username) with their 24-hour customer service windows and
//! blocks, every send with its wamid and statuses, media, rate-limit buckets, the webhook URL
//! with a queue of signed webhook bodies and the log of every delivery attempt, and a log of
//! every request.
//!
//! **What it fakes, faithfully** (platform facts §2, §4).
//! - `POST /{version}/{phone_number_id}/messages` with `Authorization: Bearer`: 401/190 for a
//!   wrong, missing or expired token; code 100 for an unknown phone number id; the body checks
//!   and limits of `validate` (text, reply buttons, lists, templates, media by id or link,
//!   reactions, locations, contacts, mark-as-read); 132001/132000 for templates; 130429 and
//!   131056 rate limits; 131047 outside the 24-hour window and 131026 for users who blocked
//!   the business, either at once or as an accepted send followed by a `failed` status.
//!   Accepted sends answer like fixture `wa_resp_send_accepted.json`; sends by BSUID use
//!   `recipient` and answer with `user_id`.
//! - `GET /{version}/{media_id}` and the download URL it returns (bearer required, 5 minutes).
//! - Webhooks: Meta's envelope, minified with non-ASCII as `\uXXXX` and `/` as `\/`, signed
//!   with `X-Hub-Signature-256`, POSTed in order per user, retried with exponential backoff
//!   until Baithak answers exactly `200`; status webhooks (`sent` → `delivered` → `read`) for
//!   accepted sends; duplicates, reordering, batching and bad signatures on demand.
//! - Faults: Graph errors, 5xx, slow answers, dropped connections, lost responses.
//!
//! **What it does not do.** No TLS, media upload (`POST /{phone_number_id}/media`), groups,
//! flows, calling, or template management endpoints; media sent by id is not checked against
//! uploads; mark-as-read accepts any message id; inbound traffic does not count towards
//! throughput. Error texts no source pins down are marked "inferred" in `validate` and `error`.
//!
//! **Time.** Windows, rate limits, media expiry and timestamps read an injectable [`Clock`]; a
//! manual clock lets a test close a window by moving 24 hours. Webhook retries and the status
//! delay use real (short, configurable) time.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use baithak::testkit::whatsapp::{FakeWhatsApp, FakeWhatsAppOptions};
//!
//! let whatsapp = FakeWhatsApp::start(FakeWhatsAppOptions {
//!     webhook_url: Some("http://127.0.0.1:8080/whatsapp/webhook".to_owned()),
//!     ..FakeWhatsAppOptions::default()
//! })
//! .await?;
//! let asha = whatsapp.add_user("923001234567", "Asha");
//! whatsapp.send_text(&asha, "Hello")?;
//! // … Baithak gets the signed webhook and answers through `{graph_url}/v23.0/{id}/messages` …
//! let reply = whatsapp
//!     .wait_for(asha.address(), |m| m.visible_text().contains("Welcome"), Duration::from_secs(5))
//!     .await?;
//! whatsapp.press_button(&asha, &reply.buttons[0].id, &reply.buttons[0].title)?;
//! # Ok(()) }
//! ```

mod control;
mod error;
mod inbound;
mod limits;
mod outbound;
mod payloads;
mod records;
mod server;
mod state;
mod validate;
mod webhook;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::clock::Clock;
use control::Shared;
use limits::Limits;
use payloads::Business;
use state::{FaultRule, HoldMode, Settings, State, Template};

pub use records::{
    ControlError, ErrorTiming, Fault, MediaKind, PostedStatus, Request, SendOutcome, SentWa,
    StatusMode, Tamper, VerifyOutcome, WaButton, WaListRow, WaMedia, WaReaction, WaStatus,
    WaTemplate, WaUser, WaitError, WebhookAttempt, WindowMode,
};

/// The default access token.
pub const DEFAULT_ACCESS_TOKEN: &str = "EAAFakeBaithakWhatsAppAccessToken0123456789";

/// How to start a [`FakeWhatsApp`].
#[derive(Clone, Debug)]
pub struct FakeWhatsAppOptions {
    /// The access token clients must send as `Authorization: Bearer …`.
    pub access_token: String,
    /// The business phone number's id, in the send URL and `metadata.phone_number_id`.
    pub phone_number_id: String,
    /// `metadata.display_phone_number`, and `context.from` of replies.
    pub display_phone_number: String,
    /// The WhatsApp Business Account id: `entry[].id` of webhooks.
    pub business_account_id: String,
    /// The app secret that signs webhooks (`X-Hub-Signature-256`).
    pub app_secret: String,
    /// The version the app is set to; statuses carry `conversation` before `v24.0`. Requests
    /// to any version work, as on Graph.
    pub api_version: String,
    /// Where webhooks go; settable later with [`FakeWhatsApp::set_webhook`]. Until then they
    /// wait.
    pub webhook_url: Option<String>,
    /// Messages per second for the number (`None`: unlimited); over it → 130429.
    pub throughput_per_second: Option<u32>,
    /// Messages per user per period (`None`: unlimited); over it → 131056.
    pub pair_rate: Option<(u32, Duration)>,
    /// Status webhooks after an accepted send.
    pub statuses: StatusMode,
    /// How a free-form send outside the 24-hour window fails (131047).
    pub window_errors: WindowMode,
    /// How a send to a user who blocked the business (or to a number not on WhatsApp) fails
    /// (131026).
    pub blocked_errors: ErrorTiming,
    /// Where "now" comes from: windows, rate limits, timestamps, media expiry.
    pub clock: Clock,
    /// Status webhooks of a send wait this long, so Baithak usually has the send's answer
    /// before its first status (on Meta they may race; set zero to make them).
    pub status_delay: Duration,
    /// One webhook backoff unit: retries go at once, then after 1, 2, 4 … units.
    pub webhook_backoff_base: Duration,
    /// The longest pause between retries.
    pub webhook_backoff_max: Duration,
    /// Attempts per webhook before giving up (`None`: until delivered; Meta tries for 7 days).
    pub webhook_max_attempts: Option<u32>,
    /// How long Baithak may take to answer a webhook POST (undocumented on Meta's side).
    pub webhook_timeout: Duration,
    /// Webhook POSTs in flight at once, across users.
    pub webhook_concurrency: usize,
}

impl Default for FakeWhatsAppOptions {
    /// The ids of Meta's official examples (fixture wa01), the fixtures' app secret
    /// (`test_app_secret`), `v23.0`, no limits, `sent` and `delivered` statuses, immediate
    /// errors, the system clock, and webhook retries in seconds.
    fn default() -> Self {
        FakeWhatsAppOptions {
            access_token: DEFAULT_ACCESS_TOKEN.to_owned(),
            phone_number_id: "106540352242922".to_owned(),
            display_phone_number: "15550783881".to_owned(),
            business_account_id: "102290129340398".to_owned(),
            app_secret: "test_app_secret".to_owned(),
            api_version: "v23.0".to_owned(),
            webhook_url: None,
            throughput_per_second: None,
            pair_rate: None,
            statuses: StatusMode::SentDelivered,
            window_errors: WindowMode::Immediate,
            blocked_errors: ErrorTiming::Immediate,
            clock: Clock::System,
            status_delay: Duration::from_millis(50),
            webhook_backoff_base: Duration::from_secs(1),
            webhook_backoff_max: Duration::from_secs(3600),
            webhook_max_attempts: None,
            webhook_timeout: Duration::from_secs(10),
            webhook_concurrency: 64,
        }
    }
}

/// A running fake Cloud API. Cheap to clone; the server stops when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct FakeWhatsApp {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    addr: SocketAddr,
    clock: Clock,
    token: String,
    phone_number_id: String,
    display_phone_number: String,
    business_account_id: String,
    app_secret: String,
    api_version: String,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl FakeWhatsApp {
    /// Binds `127.0.0.1:0` and starts serving (and delivering webhooks). Needs a Tokio runtime.
    ///
    /// # Errors
    ///
    /// When the port cannot be bound.
    pub async fn start(options: FakeWhatsAppOptions) -> std::io::Result<FakeWhatsApp> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let settings = Settings {
            business: Business {
                waba_id: options.business_account_id.clone(),
                phone_number_id: options.phone_number_id.clone(),
                display_phone_number: options.display_phone_number.clone(),
            },
            app_secret: options.app_secret.clone(),
            api_version: options.api_version.clone(),
            base_url: format!("http://{addr}"),
            statuses: options.statuses,
            window_errors: options.window_errors,
            blocked_errors: options.blocked_errors,
            status_delay: options.status_delay,
            backoff_base: options.webhook_backoff_base,
            backoff_max: options.webhook_backoff_max,
            max_attempts: options.webhook_max_attempts,
            concurrency: options.webhook_concurrency,
        };
        let mut state = State::new(
            settings,
            options.clock.clone(),
            options.access_token.clone(),
            Limits::new(options.throughput_per_second, options.pair_rate),
        );
        state.webhook_url = options.webhook_url;
        // Webhooks go to loopback bots over plain HTTP; never through a proxy from the environment.
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(options.webhook_timeout)
            .build()
            .unwrap_or_default();
        let shared = Arc::new(Shared::new(state, client));
        let tasks = vec![
            tokio::spawn(server::serve(listener, shared.clone())),
            tokio::spawn(webhook::run(shared.clone())),
        ];
        Ok(FakeWhatsApp {
            inner: Arc::new(Inner {
                shared,
                addr,
                clock: options.clock,
                token: options.access_token,
                phone_number_id: options.phone_number_id,
                display_phone_number: options.display_phone_number,
                business_account_id: options.business_account_id,
                app_secret: options.app_secret,
                api_version: options.api_version,
                tasks,
            }),
        })
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    // ---- identity -------------------------------------------------------------------------------

    /// The Graph base URL without a trailing slash (`http://127.0.0.1:PORT`), standing in for
    /// `https://graph.facebook.com`: clients call `{graph_url}/{version}/{phone_number_id}/messages`.
    pub fn graph_url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// `{graph_url}/{api_version}/{phone_number_id}/messages`.
    pub fn messages_url(&self) -> String {
        format!(
            "{}/{}/{}/messages",
            self.graph_url(),
            self.inner.api_version,
            self.inner.phone_number_id
        )
    }

    /// The access token the fake was started with (see also [`set_token`](Self::set_token)).
    pub fn token(&self) -> &str {
        &self.inner.token
    }

    /// The business phone number id.
    pub fn phone_number_id(&self) -> &str {
        &self.inner.phone_number_id
    }

    /// The business display phone number.
    pub fn display_phone_number(&self) -> &str {
        &self.inner.display_phone_number
    }

    /// The WhatsApp Business Account id (`entry[].id`).
    pub fn business_account_id(&self) -> &str {
        &self.inner.business_account_id
    }

    /// The app secret that signs webhooks.
    pub fn app_secret(&self) -> &str {
        &self.inner.app_secret
    }

    /// The configured API version (`v23.0`).
    pub fn api_version(&self) -> &str {
        &self.inner.api_version
    }

    /// The clock the fake reads.
    pub fn clock(&self) -> Clock {
        self.inner.clock.clone()
    }

    // ---- configuration ------------------------------------------------------------------------------

    /// Sets the webhook URL; queued webhooks start going there.
    pub fn set_webhook(&self, url: &str) {
        self.shared().mutate(|state| {
            state.webhook_url = Some(url.to_owned());
            state.touch_queue();
        });
    }

    /// Removes the webhook URL; webhooks wait until one is set again.
    pub fn clear_webhook(&self) {
        self.shared().mutate(|state| state.webhook_url = None);
    }

    /// Approves template `name` in `language` (e.g. `en_US`), with any parameters.
    pub fn approve_template(&self, name: &str, language: &str) {
        self.shared().mutate(|state| {
            state.templates.insert(
                (name.to_owned(), language.to_owned()),
                Template {
                    body_parameters: None,
                },
            );
        });
    }

    /// Approves a template whose body takes exactly `body_parameters` parameters (others → 132000).
    pub fn approve_template_with_params(&self, name: &str, language: &str, body_parameters: usize) {
        self.shared().mutate(|state| {
            state.templates.insert(
                (name.to_owned(), language.to_owned()),
                Template {
                    body_parameters: Some(body_parameters),
                },
            );
        });
    }

    /// Changes which status webhooks accepted sends get.
    pub fn set_statuses(&self, mode: StatusMode) {
        self.shared().mutate(|state| state.settings.statuses = mode);
    }

    /// Changes how sends outside the window fail.
    pub fn set_window_errors(&self, mode: WindowMode) {
        self.shared()
            .mutate(|state| state.settings.window_errors = mode);
    }

    /// Changes how sends to users who blocked the business fail.
    pub fn set_blocked_errors(&self, mode: ErrorTiming) {
        self.shared()
            .mutate(|state| state.settings.blocked_errors = mode);
    }

    /// Changes the throughput limit (`None`: unlimited).
    pub fn set_throughput(&self, per_second: Option<u32>) {
        self.shared()
            .mutate(|state| state.limits.throughput = per_second);
    }

    /// Changes the pair rate limit (`None`: unlimited).
    pub fn set_pair_rate(&self, rate: Option<(u32, Duration)>) {
        self.shared().mutate(|state| state.limits.pair_rate = rate);
    }

    /// Makes the token expire: every call answers 401 like fixture
    /// `wa_resp_error_190_token_expired.json` until [`set_token`](Self::set_token).
    pub fn expire_token(&self) {
        self.shared().mutate(|state| state.token_expired = true);
    }

    /// Replaces the valid token (a rotated token); the old one is refused from now on.
    pub fn set_token(&self, token: &str) {
        self.shared().mutate(|state| {
            state.token = token.to_owned();
            state.token_expired = false;
        });
    }

    /// Moves a manual clock forward (windows, rate limits, media expiry); the system clock
    /// ignores this.
    pub fn advance_clock(&self, by: chrono::Duration) {
        self.shared().mutate(|state| state.clock.advance(by));
    }

    // ---- the world -------------------------------------------------------------------------------

    /// Creates (or renames) a user with a phone number. They have not written yet, so only
    /// templates reach them until they do.
    pub fn add_user(&self, wa_id: &str, name: &str) -> WaUser {
        self.shared().mutate(|state| {
            state.add_user(WaUser {
                wa_id: Some(wa_id.to_owned()),
                bsuid: None,
                name: name.to_owned(),
                username: None,
            })
        })
    }

    /// Creates a user who hides their phone number behind `username`: known only by the
    /// business-scoped user id `bsuid` (fixture wa20); sends to them use `recipient`.
    pub fn add_bsuid_user(&self, bsuid: &str, username: &str) -> WaUser {
        let name = username.trim_start_matches('@').to_owned();
        self.shared().mutate(|state| {
            state.add_user(WaUser {
                wa_id: None,
                bsuid: Some(bsuid.to_owned()),
                name,
                username: Some(username.to_owned()),
            })
        })
    }

    /// The user with this phone number or BSUID.
    pub fn user(&self, id: &str) -> Option<WaUser> {
        self.shared()
            .lock()
            .user(id)
            .map(|user| user.handle.clone())
    }

    /// The user blocks the business: sends to them fail with 131026 (see
    /// [`FakeWhatsAppOptions::blocked_errors`]). Meta sends no webhook for this.
    ///
    /// # Errors
    ///
    /// Unknown user.
    pub fn block(&self, user: &WaUser) -> Result<(), ControlError> {
        self.set_blocked(user, true)
    }

    /// The user unblocks the business (writing to it also does).
    ///
    /// # Errors
    ///
    /// Unknown user.
    pub fn unblock(&self, user: &WaUser) -> Result<(), ControlError> {
        self.set_blocked(user, false)
    }

    fn set_blocked(&self, user: &WaUser, blocked: bool) -> Result<(), ControlError> {
        self.shared().mutate(|state| {
            let found = state
                .user_mut(user.address())
                .ok_or_else(|| ControlError::UnknownUser(user.address().to_owned()))?;
            found.blocked = blocked;
            Ok(())
        })
    }

    /// Stores media the fake serves under the returned id (`GET /{version}/{id}`).
    pub fn add_media(&self, bytes: Vec<u8>, mime_type: &str) -> String {
        self.shared()
            .mutate(|state| state.register_media(bytes, mime_type))
    }

    /// The bytes of media the fake serves.
    pub fn media(&self, media_id: &str) -> Option<Vec<u8>> {
        self.shared()
            .lock()
            .media
            .get(media_id)
            .map(|media| media.bytes.clone())
    }

    // ---- users acting (each returns the inbound message's wamid) --------------------------------------

    /// The user writes `text` (fixture wa01). Opens their 24-hour window.
    ///
    /// # Errors
    ///
    /// Unknown user.
    pub fn send_text(&self, user: &WaUser, text: &str) -> Result<String, ControlError> {
        self.shared()
            .mutate(|state| state.send_text(user.address(), text))
    }

    /// The user taps reply button `id` titled `title` on the newest accepted message to them
    /// that has it: `interactive.button_reply` with `context` naming that message (fixture wa02).
    ///
    /// # Errors
    ///
    /// Unknown user, or no accepted message offers that button (the error lists those offered).
    pub fn press_button(
        &self,
        user: &WaUser,
        id: &str,
        title: &str,
    ) -> Result<String, ControlError> {
        self.shared()
            .mutate(|state| state.press_button(user.address(), id, title))
    }

    /// The user picks row `id` titled `title` of the newest accepted list that has it:
    /// `interactive.list_reply` with the row's description (fixture wa03).
    ///
    /// # Errors
    ///
    /// Unknown user, or no accepted list offers that row.
    pub fn choose_list_row(
        &self,
        user: &WaUser,
        id: &str,
        title: &str,
    ) -> Result<String, ControlError> {
        self.shared()
            .mutate(|state| state.choose_list_row(user.address(), id, title))
    }

    /// The user taps a template's quick-reply button: `type: "button"`, `button{payload,text}`,
    /// in reply to the newest accepted template (fixtures wa04, wa04b).
    ///
    /// # Errors
    ///
    /// Unknown user.
    pub fn press_template_button(
        &self,
        user: &WaUser,
        payload: &str,
        text: &str,
    ) -> Result<String, ControlError> {
        self.shared()
            .mutate(|state| state.press_template_button(user.address(), payload, text))
    }

    /// The user sends media (a few placeholder bytes the fake then serves; fixtures wa05–wa07,
    /// wa21). Captions go only on images, videos and documents, as in WhatsApp.
    ///
    /// # Errors
    ///
    /// Unknown user.
    pub fn send_media(
        &self,
        user: &WaUser,
        kind: MediaKind,
        caption: Option<&str>,
    ) -> Result<String, ControlError> {
        let bytes = format!("fake {} from {}", kind.message_type(), user.address()).into_bytes();
        self.send_media_bytes(user, kind, bytes, caption)
    }

    /// Like [`send_media`](Self::send_media) with given bytes.
    ///
    /// # Errors
    ///
    /// Unknown user.
    pub fn send_media_bytes(
        &self,
        user: &WaUser,
        kind: MediaKind,
        bytes: Vec<u8>,
        caption: Option<&str>,
    ) -> Result<String, ControlError> {
        self.shared()
            .mutate(|state| state.send_media(user.address(), kind, bytes, caption))
    }

    /// The user shares a location (fixture wa08).
    ///
    /// # Errors
    ///
    /// Unknown user.
    pub fn send_location(
        &self,
        user: &WaUser,
        latitude: f64,
        longitude: f64,
        name: Option<&str>,
        address: Option<&str>,
    ) -> Result<String, ControlError> {
        self.shared()
            .mutate(|state| state.send_location(user.address(), latitude, longitude, name, address))
    }

    /// The user reacts to message `message_id` with `emoji`; `""` removes it (wa09, wa09b).
    ///
    /// # Errors
    ///
    /// Unknown user.
    pub fn send_reaction(
        &self,
        user: &WaUser,
        message_id: &str,
        emoji: &str,
    ) -> Result<String, ControlError> {
        self.shared()
            .mutate(|state| state.send_reaction(user.address(), message_id, emoji))
    }

    /// The user changes their phone number: a `system` message `user_changed_number` from the
    /// old number, without `contacts` (fixture wa18). From then on the user is
    /// [`user`](Self::user)`(new_wa_id)`; their window and block carry over.
    ///
    /// # Errors
    ///
    /// Unknown user, a BSUID-only user, or the new number is taken.
    pub fn change_number(&self, user: &WaUser, new_wa_id: &str) -> Result<String, ControlError> {
        self.shared()
            .mutate(|state| state.change_number(user.address(), new_wa_id))
    }

    /// Delivers any webhook body (a fixture) as given, encoded like Meta (escaped, Meta's key
    /// order) and signed. Its senders become users with their window opened now. Returns the
    /// message ids in it.
    ///
    /// # Errors
    ///
    /// Not a JSON object.
    pub fn send_raw(&self, body: &Value) -> Result<Vec<String>, ControlError> {
        self.shared().mutate(|state| state.send_raw(body))
    }

    /// Like [`send_raw`](Self::send_raw) after re-addressing the body to `user`: the fake's
    /// WABA and number, the user's contact and `from`, fresh wamids, timestamps of now.
    ///
    /// # Errors
    ///
    /// Unknown user, or not a JSON object.
    pub fn send_raw_as(&self, user: &WaUser, body: Value) -> Result<Vec<String>, ControlError> {
        self.shared()
            .mutate(|state| state.send_raw_as(user.address(), body))
    }

    /// Delivers exactly these bytes, signed (e.g. fixture wa24's raw body). Returns the message
    /// ids in it, if it parses.
    pub fn send_raw_bytes(&self, bytes: impl Into<Vec<u8>>) -> Vec<String> {
        let bytes = bytes.into();
        self.shared().mutate(|state| state.send_raw_bytes(bytes))
    }

    // ---- statuses -------------------------------------------------------------------------------------

    /// Posts a status for an accepted send now, e.g. `Read` when the user opens it later
    /// (`Failed` gets error 131000; see [`fail_message`](Self::fail_message)).
    ///
    /// # Errors
    ///
    /// No accepted send has this wamid.
    pub fn post_status(&self, wamid: &str, status: WaStatus) -> Result<(), ControlError> {
        self.shared()
            .mutate(|state| state.post_status(wamid, status))
    }

    /// Posts a `failed` status with error `code` (with its real title and details when the fake
    /// knows the code: 131047, 131026, 131049, 130429, 131056 …).
    ///
    /// # Errors
    ///
    /// No accepted send has this wamid.
    pub fn fail_message(&self, wamid: &str, code: i64) -> Result<(), ControlError> {
        self.shared()
            .mutate(|state| state.fail_message(wamid, code))
    }

    // ---- delivery on purpose: duplicates, order, batches, signatures -------------------------------------

    /// The next `count` webhook bodies are each delivered twice (same body, same ids), as
    /// Meta's retries can (platform facts §2.10).
    pub fn duplicate_next(&self, count: u32) {
        self.shared().mutate(|state| state.duplicate_next += count);
    }

    /// The next `count` webhook items (messages or statuses) are held back, then queued in
    /// reverse order: e.g. `read` before `delivered` before `sent`. Items still held when a test
    /// ends can be let go with [`release_held`](Self::release_held).
    pub fn reorder_next(&self, count: u32) {
        self.shared()
            .mutate(|state| state.start_hold(HoldMode::Reorder, Some(count)));
    }

    /// The next `count` webhook items are posted together as one body (fixture wa15).
    pub fn batch_next(&self, count: u32) {
        self.shared()
            .mutate(|state| state.start_hold(HoldMode::Batch, Some(count)));
    }

    /// Everything `actions` makes the fake post goes out as one batched body. Items from other
    /// tasks at the same moment join the batch too.
    pub fn deliver_batch<T>(&self, actions: impl FnOnce(&FakeWhatsApp) -> T) -> T {
        self.shared()
            .mutate(|state| state.start_hold(HoldMode::Batch, None));
        let result = actions(self);
        self.release_held();
        result
    }

    /// Queues whatever a reorder or batch is still holding.
    pub fn release_held(&self) {
        self.shared().mutate(State::release_hold);
    }

    /// The next `count` webhook POST attempts carry a bad signature; retries after them are
    /// signed correctly.
    pub fn tamper_next(&self, count: u32, tamper: Tamper) {
        self.shared().mutate(|state| {
            state
                .tamper
                .extend(std::iter::repeat_n(tamper, count as usize));
        });
    }

    /// Runs the subscription handshake against the webhook URL:
    /// `GET ?hub.mode=subscribe&hub.challenge=<int>&hub.verify_token=<token>` (platform facts
    /// §2.1).
    ///
    /// # Errors
    ///
    /// No webhook URL, or the request failed.
    pub async fn verify_webhook(&self, verify_token: &str) -> Result<VerifyOutcome, ControlError> {
        let url = self
            .shared()
            .lock()
            .webhook_url
            .clone()
            .ok_or(ControlError::NoWebhook)?;
        let challenge = rand::random_range(1_000_000_000_u64..2_000_000_000).to_string();
        let response = self
            .shared()
            .client
            .get(&url)
            .query(&[
                ("hub.mode", "subscribe"),
                ("hub.challenge", challenge.as_str()),
                ("hub.verify_token", verify_token),
            ])
            .send()
            .await
            .map_err(|error| ControlError::Http(error.to_string()))?;
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .map_err(|error| ControlError::Http(error.to_string()))?;
        Ok(VerifyOutcome {
            status,
            body,
            challenge,
        })
    }

    // ---- faults ------------------------------------------------------------------------------------

    /// The next `count` calls of `endpoint` fail with `fault`. `endpoint` is `"messages"`
    /// (sends), `"media"` (`GET /{version}/{id}`), `"download"`, `"*"` (any call), or a path
    /// suffix such as `"/messages"`.
    pub fn fail_next(&self, endpoint: &str, count: u32, fault: Fault) {
        self.add_fault(endpoint, None, count, fault);
    }

    /// Like [`fail_next`](Self::fail_next), only for sends to `address` (phone or BSUID).
    pub fn fail_next_to(&self, address: &str, count: u32, fault: Fault) {
        self.add_fault("messages", Some(address), count, fault);
    }

    fn add_fault(&self, endpoint: &str, to: Option<&str>, count: u32, fault: Fault) {
        if count == 0 {
            return;
        }
        let what = (endpoint != "*").then(|| endpoint.to_owned());
        self.shared().mutate(|state| {
            state.faults.push(FaultRule {
                what,
                to: to.map(str::to_owned),
                remaining: count,
                fault,
            });
        });
    }

    // ---- what the business did ----------------------------------------------------------------------

    /// Every send to the user with this phone number or BSUID, oldest first, refused ones
    /// included (check [`SentWa::outcome`]).
    pub fn sent_to(&self, id: &str) -> Vec<SentWa> {
        let state = self.shared().lock();
        let address = state.address_of(id).unwrap_or_else(|| id.to_owned());
        state
            .by_address
            .get(&address)
            .into_iter()
            .flatten()
            .map(|&index| state.sends[index].record.clone())
            .collect()
    }

    /// Every send, oldest first.
    pub fn sent(&self) -> Vec<SentWa> {
        self.shared()
            .lock()
            .sends
            .iter()
            .map(|entry| entry.record.clone())
            .collect()
    }

    /// Every request, oldest first.
    pub fn requests(&self) -> Vec<Request> {
        self.shared().lock().requests.clone()
    }

    /// Requests whose path ends with `path_suffix` (e.g. `"/messages"`).
    pub fn requests_to(&self, path_suffix: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|request| request.path.ends_with(path_suffix))
            .collect()
    }

    /// Message ids Baithak marked as read, in order.
    pub fn marked_read(&self) -> Vec<String> {
        self.shared().lock().marked_read.clone()
    }

    /// Every webhook POST attempt, in the order they ended.
    pub fn webhook_attempts(&self) -> Vec<WebhookAttempt> {
        self.shared().lock().webhook_attempts()
    }

    /// Every status webhook queued, in order.
    pub fn statuses_posted(&self) -> Vec<PostedStatus> {
        self.shared().lock().statuses.clone()
    }

    /// Webhook bodies not yet delivered (queued, in flight or backing off; held ones excluded).
    pub fn pending_webhooks(&self) -> usize {
        self.shared().lock().queue.len()
    }

    // ---- waiting --------------------------------------------------------------------------------------

    /// Waits until a send to the user (phone or BSUID) satisfies `predicate`, refused sends
    /// included. Wakes on every change, never polls.
    ///
    /// # Errors
    ///
    /// None came within `deadline`; the error lists what was there.
    pub async fn wait_for(
        &self,
        id: &str,
        mut predicate: impl FnMut(&SentWa) -> bool,
        deadline: Duration,
    ) -> Result<SentWa, WaitError> {
        self.wait_until(deadline, |whatsapp| {
            whatsapp
                .sent_to(id)
                .into_iter()
                .find(|sent| predicate(sent))
        })
        .await
        .map_err(|error| {
            let seen: Vec<String> = self
                .sent_to(id)
                .iter()
                .map(|sent| {
                    format!(
                        "{} {:?} ({:?})",
                        sent.message_type,
                        sent.visible_text(),
                        sent.outcome
                    )
                })
                .collect();
            WaitError {
                what: format!("a matching send to {id}; there were [{}]", seen.join(", ")),
                waited: error.waited,
            }
        })
    }

    /// Waits until every queued webhook was delivered (or given up) and nothing is held.
    ///
    /// # Errors
    ///
    /// Webhooks still pending after `deadline`.
    pub async fn wait_webhooks_idle(&self, deadline: Duration) -> Result<(), WaitError> {
        self.wait_until(deadline, |whatsapp| {
            let state = whatsapp.shared().lock();
            (state.queue.is_empty() && state.hold.is_none()).then_some(())
        })
        .await
        .map_err(|error| WaitError {
            what: format!(
                "{} pending webhooks to be delivered",
                self.pending_webhooks()
            ),
            waited: error.waited,
        })
    }

    /// Waits until `check` returns `Some`, re-checking after every change to the fake.
    ///
    /// # Errors
    ///
    /// `check` still says `None` after `deadline`.
    pub async fn wait_until<T>(
        &self,
        deadline: Duration,
        mut check: impl FnMut(&FakeWhatsApp) -> Option<T>,
    ) -> Result<T, WaitError> {
        let end = Instant::now() + deadline;
        loop {
            let notified = self.shared().observed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(found) = check(self) {
                return Ok(found);
            }
            if tokio::time::timeout_at(end, notified).await.is_err() {
                return check(self).ok_or_else(|| WaitError {
                    what: "a condition on the fake WhatsApp".to_owned(),
                    waited: deadline,
                });
            }
        }
    }
}
