//! The command line: `serve` (the default), `chat`, `check`, `bench`, `migrate`.
//! Every subcommand accepts `--content` and `--database-url` (also as environment variables).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::channel::telegram::client::{BotApi, OFFICIAL_API_URL};
use crate::channel::telegram::{Mode, RateLimits, TelegramSettings};
use crate::clock::Clock;
use crate::config::Settings;
use crate::language::Lang;
use crate::startup::Application;

/// Baithak: a chat helpdesk for teachers' continuous professional development.
#[derive(Debug, Parser)]
#[command(name = "baithak", version, about)]
pub struct Cli {
    /// The content root, holding `dialogues/` and `knowledge-base/`.
    #[arg(long, env = "BAITHAK_CONTENT", default_value = ".", global = true)]
    pub content: PathBuf,
    /// The database: `sqlite://FILE` (created if missing) or `postgres://…`.
    #[arg(
        long,
        env = "BAITHAK_DATABASE_URL",
        default_value = "sqlite://baithak.db",
        global = true
    )]
    pub database_url: String,
    /// Database connections in the pool.
    #[arg(long, env = "BAITHAK_DB_CONNECTIONS", global = true)]
    pub db_connections: Option<u32>,
    /// Where Baithak is reached from the internet (certificate pictures and verification
    /// links), e.g. `https://baithak.example.org`.
    #[arg(long, env = "BAITHAK_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// This instance's name among those sharing the database (unique per running instance,
    /// the same across its restarts); default `{hostname}:{port}`.
    #[arg(long, env = "BAITHAK_INSTANCE", global = true)]
    pub instance: Option<String>,
    /// Telegram options (all optional; Telegram is on when a bot token is set).
    #[command(flatten)]
    pub telegram: TelegramArgs,
    /// WhatsApp options (the webhook is on when an app secret is set).
    #[command(flatten)]
    pub whatsapp: WhatsAppArgs,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Telegram options.
#[derive(Debug, clap::Args)]
pub struct TelegramArgs {
    /// The bot token from @BotFather; Telegram is off without one.
    #[arg(
        long = "telegram-bot-token",
        env = "TELEGRAM_BOT_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,
    /// The Bot API base URL (a local Bot API server, or a fake in tests).
    #[arg(long = "telegram-api-url", env = "TELEGRAM_API_URL", default_value = OFFICIAL_API_URL, global = true)]
    pub api_url: String,
    /// How updates arrive.
    #[arg(
        long = "telegram-mode",
        env = "TELEGRAM_MODE",
        value_enum,
        default_value = "polling",
        global = true
    )]
    pub mode: Mode,
    /// The webhook secret (webhook mode): Telegram sends it back in every delivery.
    #[arg(
        long = "telegram-webhook-secret",
        env = "TELEGRAM_WEBHOOK_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub webhook_secret: Option<String>,
    /// Messages per second over all chats (0 = no limit).
    #[arg(
        long = "telegram-rate-global",
        env = "TELEGRAM_RATE_GLOBAL",
        default_value_t = 30,
        global = true
    )]
    pub rate_global: u32,
    /// Messages per second to one chat (0 = no limit).
    #[arg(
        long = "telegram-rate-per-chat",
        env = "TELEGRAM_RATE_PER_CHAT",
        default_value_t = 1,
        global = true
    )]
    pub rate_per_chat: u32,
    /// Messages one chat may get at once.
    #[arg(
        long = "telegram-rate-burst",
        env = "TELEGRAM_RATE_BURST",
        default_value_t = 3,
        global = true
    )]
    pub rate_burst: u32,
    /// The experts' forum supergroup id (e.g. -1001234567890): tickets open topics there.
    #[arg(
        long = "telegram-expert-group",
        env = "TELEGRAM_EXPERT_GROUP",
        global = true
    )]
    pub expert_group: Option<i64>,
}

/// WhatsApp Cloud API options.
#[derive(Debug, clap::Args)]
pub struct WhatsAppArgs {
    /// The token Meta's webhook subscription handshake must present.
    #[arg(
        long = "whatsapp-verify-token",
        env = "WHATSAPP_VERIFY_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub verify_token: Option<String>,
    /// The Meta app secret that signs webhook bodies; the WhatsApp webhook is off without it.
    #[arg(
        long = "whatsapp-app-secret",
        env = "WHATSAPP_APP_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub app_secret: Option<String>,
    /// The system user's access token; sending is off without it.
    #[arg(
        long = "whatsapp-access-token",
        env = "WHATSAPP_ACCESS_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub access_token: Option<String>,
    /// The business phone number's id, the sender of every message.
    #[arg(
        long = "whatsapp-phone-number-id",
        env = "WHATSAPP_PHONE_NUMBER_ID",
        global = true
    )]
    pub phone_number_id: Option<String>,
    /// The Graph API's address (a fake in tests).
    #[arg(
        long = "whatsapp-graph-url",
        env = "WHATSAPP_GRAPH_URL",
        default_value = crate::channel::whatsapp::client::OFFICIAL_GRAPH_URL,
        global = true
    )]
    pub graph_url: String,
    /// The Graph API version.
    #[arg(
        long = "whatsapp-api-version",
        env = "WHATSAPP_API_VERSION",
        default_value = crate::channel::whatsapp::client::DEFAULT_API_VERSION,
        global = true
    )]
    pub api_version: String,
    /// Messages per second for the business number (Meta: 80 by default, up to 1,000).
    #[arg(
        long = "whatsapp-rate",
        env = "WHATSAPP_MESSAGES_PER_SECOND",
        default_value_t = 80,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::channel::whatsapp::MAX_MESSAGES_PER_SECOND)),
        global = true
    )]
    pub rate: u32,
    /// The approved template that tells a teacher outside the 24-hour window that something
    /// waits for them (one quick-reply button).
    #[arg(
        long = "whatsapp-reengage-template",
        env = "WHATSAPP_REENGAGE_TEMPLATE",
        default_value = "baithak_reply_waiting",
        global = true
    )]
    pub reengage_template: String,
    /// The template's language code per teacher language.
    #[arg(
        long = "whatsapp-template-languages",
        env = "WHATSAPP_TEMPLATE_LANGUAGES",
        default_value = "en=en,ur=ur,bn=bn",
        global = true
    )]
    pub template_languages: String,
    /// At most one re-engagement template per teacher in this many hours.
    #[arg(
        long = "whatsapp-reengage-every-hours",
        env = "WHATSAPP_REENGAGE_EVERY_HOURS",
        default_value_t = 72,
        value_parser = clap::value_parser!(u32).range(1..=24 * 365),
        global = true
    )]
    pub reengage_every_hours: u32,
}

impl WhatsAppArgs {
    fn settings(&self) -> anyhow::Result<Option<crate::channel::whatsapp::WhatsAppSettings>> {
        use crate::channel::whatsapp::{SendLimits, SendSettings, Templates, WhatsAppSettings};
        let Some(app_secret) = self.app_secret.clone().filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let token = self.access_token.clone().filter(|s| !s.is_empty());
        let phone = self.phone_number_id.clone().filter(|s| !s.is_empty());
        let sending = match (token, phone) {
            (Some(access_token), Some(phone_number_id)) => Some(SendSettings {
                access_token,
                phone_number_id,
                graph_url: self.graph_url.clone(),
                api_version: self.api_version.clone(),
                limits: SendLimits {
                    per_second: self.rate,
                    ..SendLimits::default()
                },
                templates: Templates {
                    reengage: self.reengage_template.clone(),
                    languages: Templates::parse_languages(&self.template_languages)
                        .map_err(|e| anyhow::anyhow!("WHATSAPP_TEMPLATE_LANGUAGES: {e}"))?,
                    reengage_every: chrono::Duration::hours(i64::from(self.reengage_every_hours)),
                },
            }),
            (None, None) => None,
            (Some(_), None) => {
                anyhow::bail!("WHATSAPP_ACCESS_TOKEN is set but WHATSAPP_PHONE_NUMBER_ID is not")
            }
            (None, Some(_)) => {
                anyhow::bail!("WHATSAPP_PHONE_NUMBER_ID is set but WHATSAPP_ACCESS_TOKEN is not")
            }
        };
        Ok(Some(WhatsAppSettings {
            verify_token: self.verify_token.clone().unwrap_or_default(),
            app_secret,
            sending,
        }))
    }
}

impl TelegramArgs {
    fn settings(&self) -> Option<TelegramSettings> {
        let token = self.token.clone().filter(|t| !t.is_empty())?;
        Some(TelegramSettings {
            token,
            api_url: self.api_url.clone(),
            mode: self.mode,
            webhook_secret: self.webhook_secret.clone(),
            limits: RateLimits {
                global_per_second: self.rate_global,
                per_chat_per_second: self.rate_per_chat,
                per_chat_burst: self.rate_burst,
            },
            expert_group: self.expert_group,
        })
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web chat and the webhooks.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "BAITHAK_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Chat in the terminal, as a teacher would on a phone.
    Chat {
        /// Who you are; the same id continues the same conversation.
        #[arg(long, default_value = "local")]
        user: String,
        /// Start in this language (en, ur or bn) instead of being asked.
        #[arg(long, value_parser = parse_lang)]
        lang: Option<Lang>,
    },
    /// Validate the dialogues and knowledge base; print every problem as file:line:column.
    Check,
    /// Telegram set-up: point the bot at our webhook, or back to polling.
    Telegram {
        /// What to do.
        #[command(subcommand)]
        action: TelegramAction,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Staff accounts of the web console.
    User {
        /// What to do.
        #[command(subcommand)]
        action: crate::user_cli::UserAction,
    },
    /// Reports for programme staff: `report issues` (recurring issues of a period).
    Report {
        /// What to print.
        #[command(subcommand)]
        action: crate::report_cli::ReportAction,
    },
    /// The knowledge base: search it, measure its accuracy and speed.
    Kb {
        /// What to do.
        #[command(subcommand)]
        action: crate::kb_cli::KbAction,
    },
    /// Broadcasts to segments of teachers: send one (preview, confirm, watch), or list,
    /// follow, pause, resume, cancel. The running server sends; this command only watches.
    Broadcast(crate::broadcast_cli::BroadcastArgs),
    /// A round-robin HTTP load balancer in front of several instances, for trying the
    /// multi-instance topology without Docker (`scripts/topology`); not for production, where
    /// a real proxy terminates HTTPS.
    Balance {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// An instance's base URL (`http://127.0.0.1:8081`); repeat for each.
        #[arg(long = "to", required = true)]
        to: Vec<String>,
    },
    /// Measure the engine and the end-to-end pipeline; print a table.
    Bench {
        /// Benchmark a channel end to end instead (`bench telegram`).
        #[command(subcommand)]
        channel: Option<BenchChannel>,
        /// Simulated teachers.
        #[arg(long, default_value_t = 1000)]
        teachers: usize,
        /// Messages each teacher sends in the end-to-end run.
        #[arg(long, default_value_t = 20)]
        messages: usize,
        /// Also run end to end on this PostgreSQL database (e.g. postgres://postgres@127.0.0.1/test).
        #[arg(long, env = "BAITHAK_BENCH_POSTGRES")]
        postgres: Option<String>,
    },
}

/// Channel benchmarks.
#[derive(Debug, Subcommand)]
pub enum BenchChannel {
    /// A broadcast to many teachers seeded in the database, sent by the bot as a child process
    /// to the fake Bot API and Graph API: the rate each fake sees, duplicates and losses
    /// across a kill and restart.
    Broadcast(crate::bench_broadcast::Plan),
    /// Several instances on one PostgreSQL database behind a balancer, with simulated
    /// teachers, while instances are killed and restarted, database connections dropped and the
    /// Bot API fails some sends; checks nothing was lost, duplicated or left stuck (issue 8).
    Chaos(crate::bench_chaos::Plan),
    /// The bot as a child process against the fake Bot API, with simulated teachers.
    Telegram {
        /// Simulated teachers.
        #[arg(long, default_value_t = 1000)]
        teachers: usize,
        /// Messages each teacher sends (each waits for the bot's reply).
        #[arg(long, default_value_t = 20)]
        messages: usize,
        /// How updates reach the bot.
        #[arg(long = "mode", id = "bench_mode", value_enum, default_value = "both")]
        mode: BenchMode,
        /// Also run on this PostgreSQL database (e.g. postgres://postgres@127.0.0.1/test).
        #[arg(long, env = "BAITHAK_BENCH_POSTGRES")]
        postgres: Option<String>,
        /// Crash check: kill the bot with SIGKILL this many times per run at random moments,
        /// restart it, then report lost replies and duplicate messages.
        #[arg(long, default_value_t = 0)]
        crash: usize,
        /// Each teacher pauses this long (±20 %) after a reply before the next message, like a
        /// person reading: N teachers then offer about N / pause updates per second (e.g. 5,000
        /// teachers with 2,000 ms offer ~2,500/s), the load at which latency is measured.
        #[arg(long, default_value_t = 0)]
        pause_ms: u64,
        /// Scale run: this many `serve` instances on one PostgreSQL database (needs --postgres;
        /// a fresh database per run, dropped after), webhook mode, behind a round-robin
        /// balancer (1: one instance behind it, to compare like with like).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
        instances: Option<u16>,
        /// Seed this many onboarded teacher profiles (with transcripts) before each run, so
        /// the database is the size of a province; the simulated teachers are the first of them.
        #[arg(long, default_value_t = 0)]
        profiles: usize,
    },
    /// The bot as a child process against the fake Graph API, with simulated teachers.
    Whatsapp {
        /// Simulated teachers.
        #[arg(long, default_value_t = 1000)]
        teachers: usize,
        /// Messages each teacher sends (each waits for the bot's reply).
        #[arg(long, default_value_t = 20)]
        messages: usize,
        /// Messages per second: the dispatcher's limit and the fake's throughput (Meta: 80 by
        /// default, up to 1,000).
        #[arg(
            long = "rate",
            id = "bench_rate",
            default_value_t = 80,
            value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::channel::whatsapp::MAX_MESSAGES_PER_SECOND))
        )]
        rate: u32,
        /// Crash check: kill the bot with SIGKILL this many times per run at random moments,
        /// restart it, then report lost replies and duplicate messages.
        #[arg(long, default_value_t = 0)]
        kills: usize,
        /// Also run on this PostgreSQL database (e.g. postgres://postgres@127.0.0.1/test).
        #[arg(long, env = "BAITHAK_BENCH_POSTGRES")]
        postgres: Option<String>,
        /// No status webhooks (by default the fake posts `sent` and `delivered` for every send).
        #[arg(long)]
        no_statuses: bool,
        /// Milliseconds each teacher pauses after a reply before the next message (0: closed
        /// loop at saturation). Offered load ≈ teachers / pause.
        #[arg(long, default_value_t = 0)]
        pause_ms: u64,
    },
}

/// Which Telegram modes `bench telegram` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchMode {
    /// Webhook only.
    Webhook,
    /// Polling only.
    Polling,
    /// Webhook, then polling.
    Both,
}

/// Telegram set-up actions.
#[derive(Debug, Subcommand)]
pub enum TelegramAction {
    /// Register `URL` (ending in /telegram/webhook) with the webhook secret.
    SetWebhook {
        /// The public HTTPS URL of `/telegram/webhook`.
        #[arg(long)]
        url: String,
    },
    /// Remove the webhook (to use polling).
    DeleteWebhook,
}

fn parse_lang(s: &str) -> Result<Lang, String> {
    Lang::parse(s).ok_or_else(|| format!("unknown language `{s}` (expected en, ur or bn)"))
}

/// Parses the command line and runs it.
#[must_use]
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let command = cli.command.unwrap_or(Command::Serve {
        listen: std::env::var("BAITHAK_LISTEN")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
    });
    // SQLite writes one at a time and each connection is a thread: a few readers are enough
    // (measured: 4 beats 8 on two cores). PostgreSQL works in parallel.
    let db_connections = cli
        .db_connections
        .unwrap_or(if cli.database_url.starts_with("sqlite") {
            4
        } else {
            8
        });
    let mut settings = Settings {
        content_dir: cli.content,
        database_url: cli.database_url,
        max_connections: db_connections,
        listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        telegram: cli.telegram.settings(),
        whatsapp: cli.whatsapp.settings()?,
        public_url: cli.public_url,
        instance: cli.instance,
    };
    match command {
        Command::Serve { listen } => {
            crate::telemetry::init("info");
            settings.listen = listen;
            let app = Application::build(&settings, Clock::System).await?;
            tracing::info!(
                port = app.port(),
                "baithak is listening; open http://{listen}/"
            );
            app.run_until_stopped(shutdown_signal()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Chat { user, lang } => {
            crate::telemetry::init("warn");
            let conversations = crate::startup::open(&settings, Clock::System).await?;
            crate::channel::terminal::run(&conversations, &user, lang).await?;
            conversations.store().close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => Ok(check(&settings.content_dir)),
        Command::Kb { action } => crate::kb_cli::run(&settings, action).await,
        Command::User { action } => crate::user_cli::run(&settings, action).await,
        Command::Report { action } => crate::report_cli::run(&settings, action).await,
        Command::Broadcast(args) => crate::broadcast_cli::run(&settings, args).await,
        Command::Bench {
            channel: Some(BenchChannel::Broadcast(plan)),
            ..
        } => {
            crate::telemetry::init("error");
            crate::bench_broadcast::run(&settings.content_dir, plan).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            channel: Some(BenchChannel::Chaos(plan)),
            ..
        } => {
            crate::telemetry::init("error");
            let passed = crate::bench_chaos::run(&settings.content_dir, &plan).await?;
            Ok(if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Telegram { action } => telegram(&settings, action).await,
        Command::Balance { listen, to } => {
            crate::telemetry::init("info");
            let balancer = crate::testkit::balancer::Balancer::start(listen, to.clone())
                .await
                .map_err(|err| anyhow::anyhow!("cannot listen on {listen}: {err}"))?;
            tracing::info!(address = %balancer.address(), instances = to.len(), "balancing");
            shutdown_signal().await;
            for (instance, served) in balancer.served() {
                tracing::info!(%instance, served, "requests served");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            crate::telemetry::init("info");
            let store = crate::store::Store::open(&settings.database_url, 1).await?;
            store.close().await;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            channel:
                Some(BenchChannel::Telegram {
                    teachers,
                    messages,
                    mode,
                    postgres,
                    crash,
                    pause_ms,
                    instances,
                    profiles,
                }),
            ..
        } => {
            crate::telemetry::init("error");
            let modes: &[Mode] = match mode {
                BenchMode::Webhook => &[Mode::Webhook],
                BenchMode::Polling => &[Mode::Polling],
                BenchMode::Both => &[Mode::Webhook, Mode::Polling],
            };
            let plan = crate::bench_telegram::Plan {
                teachers,
                messages,
                modes: modes.to_vec(),
                postgres,
                crash,
                pause: Duration::from_millis(pause_ms),
                scale: crate::bench_telegram::Scale {
                    instances: instances.map(usize::from),
                    profiles,
                },
            };
            crate::bench_telegram::run(&settings.content_dir, &plan).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            channel:
                Some(BenchChannel::Whatsapp {
                    teachers,
                    messages,
                    rate,
                    kills,
                    postgres,
                    no_statuses,
                    pause_ms,
                }),
            ..
        } => {
            crate::telemetry::init("error");
            let plan = crate::bench_whatsapp::Plan {
                teachers,
                messages,
                rate,
                statuses: !no_statuses,
                kills,
                pause: std::time::Duration::from_millis(pause_ms),
            };
            crate::bench_whatsapp::run(&settings.content_dir, plan, postgres.as_deref()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            channel: None,
            teachers,
            messages,
            postgres,
        } => {
            crate::telemetry::init("error");
            crate::bench::run(&settings, teachers, messages, postgres.as_deref()).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `baithak telegram set-webhook|delete-webhook`.
async fn telegram(settings: &Settings, action: TelegramAction) -> anyhow::Result<ExitCode> {
    let Some(telegram) = &settings.telegram else {
        anyhow::bail!("set TELEGRAM_BOT_TOKEN first");
    };
    let api = BotApi::new(&telegram.api_url, &telegram.token)?;
    match action {
        TelegramAction::SetWebhook { url } => {
            let Some(secret) = telegram.webhook_secret.as_deref().filter(|s| !s.is_empty()) else {
                anyhow::bail!("set TELEGRAM_WEBHOOK_SECRET first (1-256 of A-Z a-z 0-9 _ -)");
            };
            api.set_webhook(&url, secret).await?;
            println!("webhook set: {url}");
        }
        TelegramAction::DeleteWebhook => {
            api.delete_webhook().await?;
            println!("webhook deleted; the bot can poll now");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `baithak check`: prints every problem, then a summary; fails on any error.
fn check(root: &std::path::Path) -> ExitCode {
    let (diagnostics, summary) = match crate::content::load(root) {
        Ok(content) => {
            let d = &content.dialogues;
            let nodes: usize = d.trees.values().map(|t| t.nodes.len()).sum();
            let summary = format!(
                "{} trees, {} nodes, {} lesson modules, {} topics, {} articles ({} drafts)",
                d.trees.len(),
                nodes,
                d.module_order.len(),
                content.topics.len(),
                content.knowledge.index.articles.len() + content.knowledge.drafts,
                content.knowledge.drafts
            );
            // Sessions in the past are an error here only: a running server skips them.
            let calendar = root
                .join(crate::programme::DIR)
                .join(crate::programme::calendar::FILE);
            let past = content.programme.calendar.past(
                &calendar,
                chrono::Utc::now(),
                content.helpdesk.timezone,
            );
            let mut diagnostics = content.warnings;
            let summary = past.is_empty().then_some(summary);
            diagnostics.extend(past);
            (diagnostics, summary)
        }
        Err(diagnostics) => (diagnostics, None),
    };
    for d in &diagnostics {
        println!("{d}");
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    match summary {
        Some(summary) => {
            println!("ok: {summary}; {warnings} warnings");
            ExitCode::SUCCESS
        }
        None => {
            println!("failed: {errors} errors, {warnings} warnings");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
