//! Wiring: open the store, load content, check the Telegram token, bind the listener, start the
//! background tasks (worker, content watcher, scheduler, Telegram polling and dispatcher),
//! serve. Takes the listener address and a shutdown future as arguments so tests run it on
//! port 0.

use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;

use crate::channel::telegram::client::{ApiError, BotApi};
use crate::channel::telegram::dispatch::Dispatcher;
use crate::channel::telegram::{Mode, TelegramSettings, polling};
use crate::clock::Clock;
use crate::config::{Settings, redact};
use crate::content::{self, ContentHandle};
use crate::conversation::Conversations;
use crate::leader;
use crate::scheduler::Scheduler;
use crate::store::Store;
use crate::web::{self, AppState};

/// How long the worker sleeps when idle before looking at the inbox anyway (events left
/// pending by a crash or a failed batch are picked up within this time).
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// How often the content root is checked for edits.
const CONTENT_CHECK_EVERY: Duration = Duration::from_secs(2);

/// A built application, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    conversations: Conversations,
    scheduler: Scheduler,
    telegram: Option<(TelegramSettings, BotApi)>,
    whatsapp: Option<crate::channel::whatsapp::WhatsAppSettings>,
}

impl Application {
    /// Opens the store, loads content and binds the listener.
    ///
    /// # Errors
    ///
    /// A clear message when content is broken (every problem listed), the database is
    /// unreachable, or the address is taken.
    pub async fn build(settings: &Settings, clock: Clock) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let instance = settings
            .instance
            .clone()
            .unwrap_or_else(|| format!("{}:{port}", hostname()));
        tracing::info!(%instance, "instance");
        let conversations = open(settings, clock).await?.with_instance(instance);
        conversations.follow_other_instances();
        // The recurring jobs exist before the app serves, whether or not its runner has looked.
        let scheduler = crate::scheduler::standard(conversations.clone());
        scheduler
            .start_series()
            .await
            .context("cannot schedule the recurring jobs")?;
        let telegram = match &settings.telegram {
            Some(telegram) => {
                let api = connect_telegram(telegram).await?;
                register_commands(&api, &conversations).await;
                Some((telegram.clone(), api))
            }
            None => None,
        };
        Ok(Application {
            listener,
            conversations,
            scheduler,
            telegram,
            whatsapp: settings.whatsapp.clone(),
        })
    }

    /// The port actually bound (useful with port 0).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The conversation service (tests drive it directly).
    #[must_use]
    pub fn conversations(&self) -> &Conversations {
        &self.conversations
    }

    /// Serves until `shutdown` resolves, then shuts down gracefully: stops taking requests
    /// (those in flight finish, so every acknowledged event is stored), lets the worker finish
    /// its batch, stops the singletons this instance leads and the scheduler (a job in hand
    /// finishes), gives every lease back, and returns.
    ///
    /// # Errors
    ///
    /// When the server fails.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = std::sync::Arc::new(tokio::sync::Notify::new());
        let worker = {
            let stop = std::sync::Arc::clone(&stop);
            let idle = self
                .conversations
                .clone()
                .run_worker(SWEEP_EVERY, async move { stop.notified().await });
            tokio::spawn(idle)
        };
        let watcher = tokio::spawn(
            self.conversations
                .content()
                .clone()
                .watch(CONTENT_CHECK_EVERY),
        );
        let (telegram_stop, mut telegram_tasks) = self.start_telegram();
        let mut stopped = telegram_stop.subscribe();
        telegram_tasks.push(tokio::spawn(self.scheduler.clone().run(async move {
            let _ = stopped.wait_for(|s| *s).await;
        })));
        let (whatsapp_tasks, whatsapp_throughput) = self.start_whatsapp(&telegram_stop)?;
        telegram_tasks.extend(whatsapp_tasks);
        let telegram_secret = self
            .telegram
            .as_ref()
            .filter(|(t, _)| t.mode == Mode::Webhook)
            .and_then(|(t, _)| t.webhook_secret.clone());
        let app = web::router(AppState {
            conversations: self.conversations.clone(),
            telegram_secret,
            whatsapp: self.whatsapp.clone(),
            whatsapp_throughput,
            console: web::console::ConsoleSettings::default(),
            telegram_api: self.telegram.as_ref().map(|(_, api)| api.clone()),
        });
        let result = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        // Let the worker finish the batch in hand (its transaction commits or rolls back whole).
        stop.notify_one();
        let _ = worker.await;
        let _ = telegram_stop.send(true);
        for task in telegram_tasks {
            let _ = task.await;
        }
        watcher.abort();
        // Whatever this instance still holds goes back now rather than when it expires, so the
        // other instances carry on at once.
        match self
            .conversations
            .store()
            .release_all_leases(self.conversations.instance())
            .await
        {
            Ok(n) => tracing::info!(leases = n, "stopped; leases given back"),
            Err(err) => {
                tracing::warn!(error = %err, "stopped; leases not given back (they expire)")
            }
        }
        self.conversations.store().close().await;
        result.context("server failed")
    }
}

/// The WhatsApp dispatcher's and media keeper's tasks, and the throughput the webhook charges.
type WhatsAppTasks = (
    Vec<tokio::task::JoinHandle<()>>,
    Option<std::sync::Arc<crate::channel::whatsapp::pace::Throughput>>,
);

impl Application {
    /// Starts the WhatsApp dispatcher and media keeper when sending is configured; they stop
    /// with `stop`.
    fn start_whatsapp(
        &self,
        stop: &tokio::sync::watch::Sender<bool>,
    ) -> anyhow::Result<WhatsAppTasks> {
        let Some(sending) = self.whatsapp.as_ref().and_then(|w| w.sending.as_ref()) else {
            return Ok((Vec::new(), None));
        };
        let api = crate::channel::whatsapp::client::GraphApi::new(
            &sending.graph_url,
            &sending.api_version,
            &sending.phone_number_id,
            &sending.access_token,
        )
        .context("cannot build the WhatsApp client")?;
        // One throughput for the instance's terms as the sender: the webhook charges it.
        let throughput = std::num::NonZeroU32::new(sending.limits.per_second)
            .map(|n| std::sync::Arc::new(crate::channel::whatsapp::pace::Throughput::new(n)));
        let stopped = |stop: &tokio::sync::watch::Sender<bool>| {
            let mut stopped = stop.subscribe();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        };
        tracing::info!(rate = sending.limits.per_second, "whatsapp sending on");
        let (conversations, limits, templates) = (
            self.conversations.clone(),
            sending.limits,
            sending.templates.clone(),
        );
        let (send_api, shared) = (api.clone(), throughput.clone());
        let dispatch = leader::run(
            self.conversations.clone(),
            "whatsapp-dispatch",
            move |term| {
                crate::channel::whatsapp::dispatch::Dispatcher::sharing(
                    send_api.clone(),
                    conversations.clone(),
                    limits,
                    templates.clone(),
                    shared.clone(),
                )
                .run(term)
            },
            stopped(stop),
        );
        let conversations = self.conversations.clone();
        let media = leader::run(
            self.conversations.clone(),
            "whatsapp-media",
            move |term| {
                crate::channel::whatsapp::media::run(api.clone(), conversations.clone(), term)
            },
            stopped(stop),
        );
        Ok((
            vec![tokio::spawn(dispatch), tokio::spawn(media)],
            throughput,
        ))
    }

    /// Starts the Telegram polling loop (polling mode) and dispatcher; returns their stop
    /// signal and handles.
    fn start_telegram(
        &self,
    ) -> (
        tokio::sync::watch::Sender<bool>,
        Vec<tokio::task::JoinHandle<()>>,
    ) {
        // A watch, not a Notify: the stop must hold even for a task that has not yet started
        // waiting for it.
        let (stop, _) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        let Some((settings, api)) = &self.telegram else {
            return (stop, tasks);
        };
        let stopped = |stop: &tokio::sync::watch::Sender<bool>| {
            let mut stopped = stop.subscribe();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        };
        // Each of these runs on one instance at a time (see `leader`).
        if settings.mode == Mode::Polling {
            let (api, conversations) = (api.clone(), self.conversations.clone());
            let polling = leader::run(
                self.conversations.clone(),
                "telegram-polling",
                move |term| polling::run(api.clone(), conversations.clone(), term),
                stopped(&stop),
            );
            tasks.push(tokio::spawn(polling));
        }
        let (send_api, conversations, limits) =
            (api.clone(), self.conversations.clone(), settings.limits);
        let dispatch = leader::run(
            self.conversations.clone(),
            "telegram-dispatch",
            move |term| Dispatcher::new(send_api.clone(), conversations.clone(), limits).run(term),
            stopped(&stop),
        );
        tasks.push(tokio::spawn(dispatch));
        if self.conversations.expert_group().is_some() {
            let conversations = self.conversations.clone();
            let sla = leader::run(
                self.conversations.clone(),
                "sla-watch",
                move |term| crate::sla_watch::run(conversations.clone(), term),
                stopped(&stop),
            );
            tasks.push(tokio::spawn(sla));
        }
        (stop, tasks)
    }
}

/// The machine's name (a container's, under Docker), for the default instance name.
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Registers the "/" command menu in every language (English as the default); a failure is
/// logged, not fatal: the commands work when typed anyway.
async fn register_commands(api: &BotApi, conversations: &Conversations) {
    let content = conversations.content().get();
    for lang in crate::language::Lang::ALL {
        let params = crate::channel::telegram::render::commands(&content.dialogues, lang);
        if let Err(err) = api
            .call("setMyCommands", &params, Duration::from_secs(15))
            .await
        {
            tracing::warn!(error = %err, %lang, "setMyCommands failed");
        }
    }
}

/// Checks the token with `getMe` so a wrong one is a clear start-up error, not a retry loop.
///
/// # Errors
///
/// A wrong token, an unreachable API, or webhook mode without a secret.
pub async fn connect_telegram(settings: &TelegramSettings) -> anyhow::Result<BotApi> {
    if settings.mode == Mode::Webhook
        && settings.webhook_secret.as_deref().is_none_or(str::is_empty)
    {
        anyhow::bail!(
            "TELEGRAM_MODE=webhook needs TELEGRAM_WEBHOOK_SECRET (1-256 of A-Z a-z 0-9 _ -)"
        );
    }
    let api = BotApi::new(&settings.api_url, &settings.token)
        .context("cannot build the Telegram client")?;
    match api.get_me().await {
        Ok(username) => {
            tracing::info!(bot = %username, mode = ?settings.mode, "telegram bot connected");
            Ok(api)
        }
        Err(ApiError::Unauthorized) => {
            anyhow::bail!("Telegram refused TELEGRAM_BOT_TOKEN (401 Unauthorized)")
        }
        Err(err) => Err(anyhow::anyhow!(
            "cannot reach the Telegram Bot API at {}: {err}",
            settings.api_url
        )),
    }
}

/// Loads content and opens the store: what `serve`, `chat` and `bench` share.
///
/// # Errors
///
/// Broken content (every diagnostic in the message) or an unreachable database.
pub async fn open(settings: &Settings, clock: Clock) -> anyhow::Result<Conversations> {
    let root = &settings.content_dir;
    let loaded = content::load(root).map_err(|diagnostics| {
        let list: Vec<String> = diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(ToString::to_string)
            .collect();
        anyhow::anyhow!(
            "content in {} has errors:\n{}",
            root.display(),
            list.join("\n")
        )
    })?;
    let store = Store::open(&settings.database_url, settings.max_connections)
        .await
        .with_context(|| format!("cannot open database {}", redact(&settings.database_url)))?;
    let handle = ContentHandle::new(root.clone(), loaded);
    if settings.public_url.is_none() {
        tracing::info!(
            "BAITHAK_PUBLIC_URL is not set: certificates are sent as text, without their picture"
        );
    }
    Ok(Conversations::new(store, handle, clock)
        .with_expert_group(settings.telegram.as_ref().and_then(|t| t.expert_group))
        .with_public_url(settings.public_url.clone()))
}
