//! `baithak bench chaos`: several instances of the bot (`baithak serve` child processes) on one
//! fresh PostgreSQL database, behind a round-robin [`Balancer`] that the fake Bot API
//! ([`crate::testkit::telegram`]) delivers its webhooks to, under a steady load of simulated
//! teachers while things break: an instance is killed with SIGKILL every few seconds and
//! restarted under its own name (`BAITHAK_INSTANCE`) on a new port, every database connection
//! of the bot is terminated now and then (`pg_terminate_backend`), and the fake answers some
//! `sendMessage` calls with 429 (with `retry_after`) or 500.
//!
//! Each teacher sends numbered messages (`note 1`, `note 2`, …), each after the bot's reply to
//! the one before. At the end the load stops, the instances drain and are stopped with SIGTERM,
//! and the database is read back: every note must be in the inbox (status `done`) and in the
//! teacher's transcript exactly once and in the order sent, no event pending, no lease left;
//! duplicates are the bot's messages beyond what the chat's outbox rows render to (a kill of the
//! sending instance between a send and its `sent` mark resends the message then in flight to
//! each chat: at most one per kill in any chat, though several chats may each get one), and
//! rows never delivered are counted. [`ChaosReport::failures`] names each check that failed.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use sqlx::Connection as _;
use tokio::sync::watch;

use crate::bench_child::BotProcess;
use crate::channel::InboundMessage;
use crate::channel::telegram::CHANNEL;
use crate::channel::telegram::client::BotApi;
use crate::testkit::balancer::Balancer;
use crate::testkit::telegram::{FakeTelegram, FakeTelegramOptions, Fault, UserHandle};

const SECRET: &str = "chaos-secret_1";

/// `baithak bench chaos`.
#[derive(Debug, Clone, clap::Args)]
pub struct Plan {
    /// Instances of the bot on the one database.
    #[arg(long = "instances", id = "chaos_instances", default_value_t = 3)]
    pub instances: usize,
    /// Simulated teachers, each sending numbered messages for the whole run.
    #[arg(long = "teachers", id = "chaos_teachers", default_value_t = 50)]
    pub teachers: usize,
    /// Seconds of load (and of faults).
    #[arg(long = "duration", id = "chaos_duration", default_value_t = 60)]
    pub duration: u64,
    /// Seconds between SIGKILLs of a random instance (each restarted at once).
    #[arg(long = "kill-every", id = "chaos_kill_every", default_value_t = 5.0)]
    pub kill_every: f64,
    /// Seconds between terminations of all the bot's database connections.
    #[arg(
        long = "drop-db-every",
        id = "chaos_drop_db_every",
        default_value_t = 15.0
    )]
    pub drop_db_every: f64,
    /// Seconds between injected Bot API failures on `sendMessage` (429 and 500 in turn).
    #[arg(long = "fault-every", id = "chaos_fault_every", default_value_t = 10.0)]
    pub fault_every: f64,
    /// Milliseconds a teacher pauses (±20 %) after a reply before the next message.
    #[arg(long = "pause-ms", id = "chaos_pause_ms", default_value_t = 500)]
    pub pause_ms: u64,
    /// Append every log line of the instances to this file (each prefixed with its name).
    #[arg(long = "log", id = "chaos_log")]
    pub log: Option<PathBuf>,
    /// Keep the run's database afterwards (its name is printed), to look into a failure.
    #[arg(long = "keep-database", id = "chaos_keep_database")]
    pub keep_database: bool,
    /// The PostgreSQL server (any database on it; a fresh one is created per run and dropped).
    #[arg(
        long = "postgres",
        id = "chaos_postgres",
        env = "BAITHAK_BENCH_POSTGRES"
    )]
    pub postgres: Option<String>,
}

/// One chaos run.
#[derive(Clone, Debug)]
pub struct ChaosOptions {
    /// The `baithak` executable to start as the instances.
    pub exe: PathBuf,
    /// The content root the bot loads.
    pub content_dir: PathBuf,
    /// A PostgreSQL URL with the right to create and drop databases and terminate backends.
    pub postgres: String,
    /// Instances.
    pub instances: usize,
    /// Simulated teachers.
    pub teachers: usize,
    /// How long the load and the faults last.
    pub duration: Duration,
    /// Between kills.
    pub kill_every: Duration,
    /// Between terminations of the bot's database connections.
    pub drop_db_every: Duration,
    /// Between injected Bot API failures.
    pub fault_every: Duration,
    /// A teacher's pause after each reply.
    pub pause: Duration,
    /// How long a teacher waits for one reply (long enough to outlast a failover), and how
    /// long the drain at the end may take.
    pub reply_deadline: Duration,
    /// Keep the database afterwards.
    pub keep_database: bool,
    /// Where the instances' log lines go too.
    pub log_file: Option<PathBuf>,
}

impl ChaosOptions {
    /// The options of `plan`, with this executable as the bot.
    ///
    /// # Errors
    ///
    /// No PostgreSQL URL given, or this executable cannot be found.
    pub fn from_plan(content_dir: &Path, plan: &Plan) -> anyhow::Result<ChaosOptions> {
        let postgres = plan.postgres.clone().context(
            "the chaos run needs PostgreSQL: pass --postgres URL or set BAITHAK_BENCH_POSTGRES",
        )?;
        anyhow::ensure!(plan.instances > 0, "--instances must be at least 1");
        let secs = |s: f64| Duration::try_from_secs_f64(s.max(0.1)).unwrap_or(Duration::MAX);
        Ok(ChaosOptions {
            exe: std::env::current_exe().context("cannot find the baithak executable")?,
            content_dir: content_dir.to_path_buf(),
            postgres,
            instances: plan.instances,
            teachers: plan.teachers,
            duration: Duration::from_secs(plan.duration),
            kill_every: secs(plan.kill_every),
            drop_db_every: secs(plan.drop_db_every),
            fault_every: secs(plan.fault_every),
            pause: Duration::from_millis(plan.pause_ms),
            reply_deadline: Duration::from_secs(90),
            keep_database: plan.keep_database,
            log_file: plan.log.clone(),
        })
    }
}

/// What a chaos run found.
#[derive(Clone, Debug, Default)]
pub struct ChaosReport {
    /// Instances.
    pub instances: usize,
    /// Teachers.
    pub teachers: usize,
    /// Seconds of load.
    pub secs: f64,
    /// Notes the teachers sent.
    pub sent: usize,
    /// Notes answered within the deadline.
    pub answered: usize,
    /// Notes not answered within the deadline (the teacher went on with the next).
    pub unanswered: usize,
    /// Notes found in the inbox.
    pub stored: usize,
    /// Notes sent but not in the inbox, or in it with a status other than `done`.
    pub lost: usize,
    /// Notes in the inbox more than once, or that no teacher sent.
    pub stored_extra: usize,
    /// Notes in their teacher's transcript exactly once.
    pub in_transcript: usize,
    /// Notes missing from their teacher's transcript.
    pub transcript_missing: usize,
    /// Notes in a transcript more than once.
    pub transcript_repeated: usize,
    /// Teachers whose inbox or transcript has their notes in another order than sent.
    pub out_of_order_teachers: usize,
    /// Inbox events still pending at the end (any conversation).
    pub pending_events: usize,
    /// Leases still held after every instance stopped (`name (holder)`).
    pub leases_left: Vec<String>,
    /// Bot messages beyond the outbox rows of their chat.
    pub duplicates: usize,
    /// The most duplicates in one chat.
    pub max_duplicates_in_a_chat: usize,
    /// Chats' outbox rows never delivered (fewer bot messages than rows).
    pub undelivered: usize,
    /// Outbox rows not marked sent at the end.
    pub outbox_unsent: usize,
    /// SIGKILLs done (each followed by a restart).
    pub kills: usize,
    /// Terminations of all the bot's database connections.
    pub db_drops: usize,
    /// Connections terminated over all drops.
    pub connections_dropped: usize,
    /// `sendMessage` calls answered 429.
    pub injected_429: usize,
    /// `sendMessage` calls answered 500.
    pub injected_5xx: usize,
    /// Webhook requests each instance slot answered (by balancer), over the restarts.
    pub served: Vec<usize>,
    /// One round trip per answered note.
    pub latencies: Vec<Duration>,
    /// The last warnings and errors the instances logged.
    pub log_tail: Vec<String>,
}

impl ChaosReport {
    /// Every note is in the inbox as `done` and in its teacher's transcript, exactly once.
    #[must_use]
    pub fn nothing_lost(&self) -> bool {
        self.lost == 0 && self.transcript_missing == 0 && self.stored == self.sent
    }

    /// Transcripts in send order without repeats, nothing pending, no lease left.
    #[must_use]
    pub fn consistent(&self) -> bool {
        self.out_of_order_teachers == 0
            && self.transcript_repeated == 0
            && self.stored_extra == 0
            && self.pending_events == 0
            && self.leases_left.is_empty()
    }

    /// The checks that failed, in words; empty when the run passed.
    #[must_use]
    pub fn failures(&self) -> Vec<String> {
        let mut failed = Vec::new();
        if !self.nothing_lost() {
            failed.push(format!(
                "lost: {} of {} notes not done in the inbox, {} missing from transcripts",
                self.lost, self.sent, self.transcript_missing
            ));
        }
        if !self.consistent() {
            failed.push(format!(
                "inconsistent: {} teachers out of order, {} notes repeated in transcripts, {} extra in the inbox, {} events pending, leases left: {:?}",
                self.out_of_order_teachers,
                self.transcript_repeated,
                self.stored_extra,
                self.pending_events,
                self.leases_left
            ));
        }
        if self.max_duplicates_in_a_chat > self.kills {
            failed.push(format!(
                "{} duplicate messages in one chat after {} kills",
                self.max_duplicates_in_a_chat, self.kills
            ));
        }
        if self.undelivered > 0 || self.outbox_unsent > 0 {
            failed.push(format!(
                "{} outbox rows undelivered ({} not marked sent)",
                self.undelivered, self.outbox_unsent
            ));
        }
        if self.unanswered > 0 {
            failed.push(format!(
                "{} notes got no reply within the deadline",
                self.unanswered
            ));
        }
        failed
    }

    /// The report as a table.
    #[must_use]
    pub fn table(&self) -> String {
        use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
        let ok = |pass: bool| if pass { "ok" } else { "FAILED" };
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let p = |q| crate::bench::percentile_ms(&sorted, q);
        let mut table = Table::new();
        table
            .load_preset(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(vec!["what", "figure", "check"]);
        let rows: Vec<[String; 3]> = vec![
            [
                "messages sent by teachers".into(),
                format!(
                    "{} ({} teachers, {:.0} s, {:.1}/s)",
                    self.sent,
                    self.teachers,
                    self.secs,
                    rate(self.sent, self.secs)
                ),
                String::new(),
            ],
            [
                "answered within the deadline".into(),
                format!("{} ({} unanswered)", self.answered, self.unanswered),
                ok(self.unanswered == 0).into(),
            ],
            [
                "inbound events stored / sent".into(),
                format!(
                    "{} / {} ({} lost, {} extra)",
                    self.stored, self.sent, self.lost, self.stored_extra
                ),
                ok(self.lost == 0 && self.stored == self.sent && self.stored_extra == 0).into(),
            ],
            [
                "in the transcript exactly once".into(),
                format!(
                    "{} ({} missing, {} repeated)",
                    self.in_transcript, self.transcript_missing, self.transcript_repeated
                ),
                ok(self.transcript_missing == 0 && self.transcript_repeated == 0).into(),
            ],
            [
                "conversations in send order".into(),
                format!(
                    "{} of {} teachers",
                    self.teachers.saturating_sub(self.out_of_order_teachers),
                    self.teachers
                ),
                ok(self.out_of_order_teachers == 0).into(),
            ],
            [
                "events pending / leases left".into(),
                format!("{} / {}", self.pending_events, self.leases_left.len()),
                ok(self.pending_events == 0 && self.leases_left.is_empty()).into(),
            ],
            [
                "duplicate bot messages (most in a chat)".into(),
                format!(
                    "{} ({} ≤ {} kills)",
                    self.duplicates, self.max_duplicates_in_a_chat, self.kills
                ),
                ok(self.max_duplicates_in_a_chat <= self.kills).into(),
            ],
            [
                "outbox rows undelivered".into(),
                format!(
                    "{} ({} not marked sent)",
                    self.undelivered, self.outbox_unsent
                ),
                ok(self.undelivered == 0 && self.outbox_unsent == 0).into(),
            ],
            [
                "SIGKILLs + restarts".into(),
                format!("{} of {} instances", self.kills, self.instances),
                String::new(),
            ],
            [
                "database connection drops".into(),
                format!(
                    "{} ({} connections terminated)",
                    self.db_drops, self.connections_dropped
                ),
                String::new(),
            ],
            [
                "injected sendMessage faults".into(),
                format!("{} × 429, {} × 500", self.injected_429, self.injected_5xx),
                String::new(),
            ],
            [
                "webhooks answered per instance".into(),
                self.served
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(" / "),
                String::new(),
            ],
            [
                "reply latency p50 / p99 / max ms".into(),
                format!("{} / {} / {}", p(0.5), p(0.99), p(1.0)),
                String::new(),
            ],
        ];
        for row in rows {
            table.add_row(row.to_vec());
        }
        table.to_string()
    }
}

#[allow(clippy::cast_precision_loss)] // counts are far below 2^52
fn rate(n: usize, secs: f64) -> f64 {
    n as f64 / secs.max(1e-9)
}

/// `baithak bench chaos`: runs once, prints the table; `false` when a check failed.
///
/// # Errors
///
/// When the run cannot be set up (no PostgreSQL, the fake or an instance cannot start).
pub async fn run(content_dir: &Path, plan: &Plan) -> anyhow::Result<bool> {
    let options = ChaosOptions::from_plan(content_dir, plan)?;
    println!(
        "Baithak chaos run · {} instances on one PostgreSQL database behind a round-robin balancer · Telegram webhooks · {} teachers, {} ms pause · {} s · SIGKILL every {:.1} s, database connections dropped every {:.1} s, 429/500 on sendMessage every {:.1} s\n",
        options.instances,
        options.teachers,
        options.pause.as_millis(),
        options.duration.as_secs(),
        options.kill_every.as_secs_f64(),
        options.drop_db_every.as_secs_f64(),
        options.fault_every.as_secs_f64(),
    );
    let report = run_chaos(&options).await?;
    println!("{}", report.table());
    let failures = report.failures();
    if failures.is_empty() {
        println!("\nall checks passed");
        return Ok(true);
    }
    println!();
    for failure in &failures {
        println!("FAILED: {failure}");
    }
    if !report.log_tail.is_empty() {
        println!("\nlast warnings of the instances:");
        for line in &report.log_tail {
            println!("  {line}");
        }
    }
    Ok(false)
}

/// Runs the chaos on a fresh database, which is dropped afterwards whatever happened.
///
/// # Errors
///
/// When the database cannot be created or the run cannot be set up.
pub async fn run_chaos(options: &ChaosOptions) -> anyhow::Result<ChaosReport> {
    let name = format!("baithak_chaos_{:016x}", rand::random::<u64>());
    let mut admin = connect(&options.postgres).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .context("cannot create the chaos database")?;
    let _ = admin.close().await;
    let url = replace_db_name(&options.postgres, &name);
    let outcome = run_on(options, &url, &name).await;
    if options.keep_database {
        eprintln!("the chaos database is kept: {name}");
        return outcome;
    }
    match connect(&options.postgres).await {
        Ok(mut admin) => {
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            if let Err(err) = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut admin)
                .await
            {
                eprintln!("the chaos database {name} was not dropped: {err}");
            }
            let _ = admin.close().await;
        }
        Err(err) => eprintln!("the chaos database {name} was not dropped: {err}"),
    }
    outcome
}

async fn connect(url: &str) -> anyhow::Result<sqlx::PgConnection> {
    tokio::time::timeout(Duration::from_secs(10), sqlx::PgConnection::connect(url))
        .await
        .context("PostgreSQL did not answer within 10 s")?
        .context("cannot connect to PostgreSQL")
}

/// `url` with its database name replaced by `name` (the query string kept).
fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host}/{name}?{q}"),
        None => format!("{host}/{name}"),
    }
}

/// The instances, their balancer and what they log.
struct Fleet {
    options: ChaosOptions,
    database_url: String,
    fake: FakeTelegram,
    balancer: Balancer,
    bots: Vec<Option<(BotProcess, String)>>,
    /// Requests each slot's earlier incarnations answered.
    served_before: Vec<usize>,
    log_tail: Arc<Mutex<VecDeque<String>>>,
}

impl Fleet {
    fn name(slot: usize) -> String {
        format!("chaos-{}", slot + 1)
    }

    async fn start_bot(&self, slot: usize) -> anyhow::Result<(BotProcess, String)> {
        let env = [
            ("TELEGRAM_BOT_TOKEN", self.fake.token().to_string()),
            ("TELEGRAM_API_URL", self.fake.api_url()),
            ("TELEGRAM_MODE", "webhook".to_string()),
            ("TELEGRAM_WEBHOOK_SECRET", SECRET.to_string()),
            ("TELEGRAM_RATE_GLOBAL", "0".to_string()),
            ("TELEGRAM_RATE_PER_CHAT", "0".to_string()),
            ("BAITHAK_INSTANCE", Fleet::name(slot)),
            (
                "BAITHAK_LOG",
                "warn,baithak::leader=info,baithak::cli=info".to_string(),
            ),
        ];
        let tail = Arc::clone(&self.log_tail);
        let log_file = self.options.log_file.clone();
        let me = Fleet::name(slot);
        let (bot, port) = BotProcess::start(
            &self.options.exe,
            &self.database_url,
            &self.options.content_dir,
            &env,
            move |line| {
                if let Some(path) = &log_file {
                    use std::io::Write as _;
                    if let Ok(mut f) = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                    {
                        let _ = writeln!(f, "{me} {line}");
                    }
                }
                let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
                if tail.len() >= 20 {
                    tail.pop_front();
                }
                tail.push_back(line.to_string());
            },
        )
        .await
        .with_context(|| format!("instance {} did not start", Fleet::name(slot)))?;
        Ok((bot, format!("http://127.0.0.1:{port}")))
    }

    fn publish(&self) {
        let urls = self
            .bots
            .iter()
            .filter_map(|b| b.as_ref().map(|(_, url)| url.clone()))
            .collect();
        self.balancer.set_instances(urls);
    }

    /// Requests the balancer saw answered by `url`.
    fn served_by(&self, url: &str) -> usize {
        self.balancer
            .served()
            .into_iter()
            .find(|(base, _)| base == url)
            .map_or(0, |(_, n)| n)
    }

    /// SIGKILL of `slot`, then a restart under the same name on a new port.
    async fn kill_and_restart(&mut self, slot: usize) -> anyhow::Result<()> {
        if let Some((bot, url)) = self.bots[slot].take() {
            bot.kill().await;
            self.served_before[slot] += self.served_by(&url);
        }
        self.publish();
        let started = self.start_bot(slot).await?;
        self.bots[slot] = Some(started);
        self.publish();
        Ok(())
    }

    /// SIGTERM to every instance (a graceful stop, which gives the leases back).
    async fn stop_all(&mut self) -> Vec<usize> {
        let mut stops = Vec::new();
        for slot in 0..self.bots.len() {
            if let Some((bot, url)) = self.bots[slot].take() {
                self.served_before[slot] += self.served_by(&url);
                stops.push(bot.stop());
            }
        }
        futures_join_all(stops).await;
        self.served_before.clone()
    }
}

/// Awaits every future, concurrently.
async fn futures_join_all<F: std::future::Future<Output = ()> + Send + 'static>(all: Vec<F>) {
    let mut set = tokio::task::JoinSet::new();
    for f in all {
        set.spawn(f);
    }
    while set.join_next().await.is_some() {}
}

/// What one teacher did.
#[derive(Debug, Default)]
struct Sent {
    notes: usize,
    latencies: Vec<Duration>,
    unanswered: usize,
}

async fn run_on(options: &ChaosOptions, url: &str, db_name: &str) -> anyhow::Result<ChaosReport> {
    // Migrate once before the instances start, so they do not race for it.
    crate::store::Store::open(url, 1)
        .await
        .context("cannot migrate the chaos database")?
        .close()
        .await;
    let fake = FakeTelegram::start(FakeTelegramOptions {
        rate_limits: false,
        webhook_backoff_base: Duration::from_millis(10),
        webhook_timeout: Duration::from_secs(10),
        ..FakeTelegramOptions::default()
    })
    .await
    .context("the fake Bot API did not start")?;
    let balancer = Balancer::start(([127, 0, 0, 1], 0).into(), Vec::new())
        .await
        .context("the balancer did not start")?;
    let mut fleet = Fleet {
        options: options.clone(),
        database_url: url.to_string(),
        fake: fake.clone(),
        balancer,
        bots: (0..options.instances).map(|_| None).collect(),
        served_before: vec![0; options.instances],
        log_tail: Arc::default(),
    };
    for slot in 0..options.instances {
        let started = fleet.start_bot(slot).await?;
        fleet.bots[slot] = Some(started);
    }
    fleet.publish();
    let api = BotApi::new(&fake.api_url(), fake.token())?;
    api.set_webhook(&fleet.balancer.url("/telegram/webhook"), SECRET)
        .await
        .map_err(|e| anyhow::anyhow!("setWebhook failed: {e}"))?;

    let base: i64 = rand::random_range(1_000_000_000..2_000_000_000);
    let users: Vec<UserHandle> = (0..options.teachers)
        .map(|t| {
            #[allow(clippy::cast_possible_wrap)] // teacher counts are small
            let id = base + t as i64;
            fake.add_user(id, &format!("Teacher {t}"), Some("en"))
        })
        .collect();

    // The load.
    let (stop_load, load_stopped) = watch::channel(false);
    let started = Instant::now();
    let mut teachers = tokio::task::JoinSet::new();
    for (index, user) in users.iter().enumerate() {
        let user = user.clone();
        let fake = fake.clone();
        let stopped = load_stopped.clone();
        let (deadline, pause) = (options.reply_deadline, options.pause);
        teachers
            .spawn(async move { (index, teacher(&fake, &user, deadline, pause, stopped).await) });
    }

    // The faults, on a schedule.
    let mut report = ChaosReport {
        instances: options.instances,
        teachers: options.teachers,
        ..ChaosReport::default()
    };
    let end = started + options.duration;
    let mut next_kill = started + options.kill_every;
    let mut next_drop = started + options.drop_db_every;
    let mut next_fault = started + options.fault_every;
    loop {
        let next = next_kill.min(next_drop).min(next_fault);
        if next >= end {
            break;
        }
        tokio::time::sleep_until(next.into()).await;
        if next == next_kill {
            let slot = rand::random_range(0..options.instances);
            fleet.kill_and_restart(slot).await?;
            report.kills += 1;
            next_kill += options.kill_every;
        } else if next == next_drop {
            report.connections_dropped += drop_connections(&options.postgres, db_name).await?;
            report.db_drops += 1;
            next_drop += options.drop_db_every;
        } else {
            // 429 and 500 in turn (429 first), a few calls each.
            if report.injected_429 <= report.injected_5xx {
                let retry_after = rand::random_range(1..=3);
                fake.fail_next("sendMessage", 3, Fault::TooManyRequests { retry_after });
                report.injected_429 += 3;
            } else {
                fake.fail_next(
                    "sendMessage",
                    3,
                    Fault::Api {
                        code: 500,
                        description: "Internal Server Error".to_string(),
                    },
                );
                report.injected_5xx += 3;
            }
            next_fault += options.fault_every;
        }
    }
    tokio::time::sleep_until(end.into()).await;
    let _ = stop_load.send(true);
    let mut sent: Vec<Sent> = users.iter().map(|_| Sent::default()).collect();
    while let Some(done) = teachers.join_next().await {
        let (index, outcome) = done.context("a teacher task panicked")?;
        sent[index] = outcome;
    }
    report.secs = started.elapsed().as_secs_f64();

    // The drain: every update delivered, every event handled, every reply sent.
    let drain_end = tokio::time::Instant::now() + options.reply_deadline;
    let _ = fake
        .wait_until(options.reply_deadline, |f| {
            (f.pending_updates() == 0).then_some(())
        })
        .await;
    let store = crate::store::Store::open(url, 2)
        .await
        .context("cannot open the chaos database to drain it")?;
    let mut expected = Vec::with_capacity(users.len());
    for user in &users {
        let chat = user.id.to_string();
        let mut want;
        loop {
            want = crate::bench_telegram::expected_messages(&store, user.id).await?;
            let have = fake.sent_to(user.id);
            let handled = store
                .pending_for(CHANNEL, &chat)
                .await
                .context("cannot read the inbox")?
                .is_empty();
            if handled && have.len() >= want {
                break;
            }
            let last = have.last().map_or(0, |m| m.message_id);
            let left = drain_end.saturating_duration_since(tokio::time::Instant::now());
            if fake.wait_for_new(user.id, last, left).await.is_err() {
                break;
            }
        }
        expected.push(want);
    }
    store.close().await;
    report.served = fleet.stop_all().await;
    report.log_tail = fleet
        .log_tail
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .cloned()
        .collect();

    for (user, want) in users.iter().zip(&expected) {
        let delivered = fake.sent_to(user.id).len();
        let dups = delivered.saturating_sub(*want);
        report.duplicates += dups;
        report.undelivered += want.saturating_sub(delivered);
        report.max_duplicates_in_a_chat = report.max_duplicates_in_a_chat.max(dups);
    }
    for outcome in &sent {
        report.sent += outcome.notes;
        report.answered += outcome.latencies.len();
        report.unanswered += outcome.unanswered;
        report.latencies.extend(&outcome.latencies);
    }
    verify(url, &users, &sent, &mut report).await?;
    Ok(report)
}

/// Terminates every connection to `db_name` but this one; returns how many.
async fn drop_connections(admin_url: &str, db_name: &str) -> anyhow::Result<usize> {
    let mut admin = connect(admin_url).await?;
    let (terminated,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) AS gone FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()) AS t WHERE gone",
    )
    .bind(db_name)
    .fetch_one(&mut admin)
    .await
    .context("cannot terminate the bot's connections")?;
    let _ = admin.close().await;
    Ok(usize::try_from(terminated).unwrap_or(0))
}

/// One teacher: `note 1`, `note 2`, … each after the bot's reply to the one before (or after
/// the deadline), until the load stops.
async fn teacher(
    fake: &FakeTelegram,
    user: &UserHandle,
    deadline: Duration,
    pause: Duration,
    stopped: watch::Receiver<bool>,
) -> Sent {
    let mut sent = Sent::default();
    let think = || pause.mul_f64(rand::random_range(0.8..1.2));
    if !pause.is_zero() {
        tokio::time::sleep(pause.mul_f64(rand::random_range(0.0..1.0))).await;
    }
    let mut last_seen = 0;
    while !*stopped.borrow() {
        let at = Instant::now();
        if let Err(err) = fake.send_text(user, &format!("note {}", sent.notes + 1)) {
            tracing::error!(error = %err, "a simulated teacher could not write");
            break;
        }
        sent.notes += 1;
        match fake.wait_for_new(user.id, last_seen, deadline).await {
            Ok(_) => sent.latencies.push(at.elapsed()),
            Err(_) => sent.unanswered += 1,
        }
        if !pause.is_zero() {
            tokio::time::sleep(think()).await;
        }
        // Whatever came while reading (the later parts of a long reply) is read too, so the
        // next wait is for the next reply.
        last_seen = fake
            .sent_to(user.id)
            .last()
            .map_or(last_seen, |m| m.message_id);
    }
    sent
}

/// Reads the database back: the notes in the inbox and the transcripts, pending events,
/// leases, unsent outbox rows.
async fn verify(
    url: &str,
    users: &[UserHandle],
    sent: &[Sent],
    report: &mut ChaosReport,
) -> anyhow::Result<()> {
    let mut db = connect(url).await?;
    let inbox: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT channel_user, status, payload FROM inbox WHERE channel = 'telegram' ORDER BY id",
    )
    .fetch_all(&mut db)
    .await
    .context("cannot read the inbox")?;
    let transcript: Vec<(String, String)> = sqlx::query_as(
        "SELECT te.channel_user, t.body FROM transcript t JOIN teachers te ON te.id = t.teacher_id \
         WHERE te.channel = 'telegram' AND t.direction = 'in' ORDER BY t.id",
    )
    .fetch_all(&mut db)
    .await
    .context("cannot read the transcripts")?;
    let (pending,): (i64,) = sqlx::query_as("SELECT count(*) FROM inbox WHERE status = 'pending'")
        .fetch_one(&mut db)
        .await
        .context("cannot count pending events")?;
    let leases: Vec<(String, String)> = sqlx::query_as("SELECT name, holder FROM leases")
        .fetch_all(&mut db)
        .await
        .context("cannot read the leases")?;
    let (unsent,): (i64,) = sqlx::query_as("SELECT count(*) FROM outbox WHERE status <> 'sent'")
        .fetch_one(&mut db)
        .await
        .context("cannot count unsent outbox rows")?;
    let _ = db.close().await;
    report.pending_events = usize::try_from(pending).unwrap_or(usize::MAX);
    report.outbox_unsent = usize::try_from(unsent).unwrap_or(usize::MAX);
    report.leases_left = leases
        .into_iter()
        .map(|(name, holder)| format!("{name} ({holder})"))
        .collect();

    // Note numbers per chat, in the order the database holds them.
    let mut stored: HashMap<String, Vec<(usize, bool)>> = HashMap::new();
    for (chat, status, payload) in inbox {
        let Ok(InboundMessage::Text { text }) = serde_json::from_str::<InboundMessage>(&payload)
        else {
            continue;
        };
        if let Some(k) = note_number(&text) {
            stored.entry(chat).or_default().push((k, status == "done"));
        }
    }
    let mut written: HashMap<String, Vec<usize>> = HashMap::new();
    for (chat, body) in transcript {
        if let Some(k) = note_number(&body) {
            written.entry(chat).or_default().push(k);
        }
    }
    for (user, outcome) in users.iter().zip(sent) {
        let chat = user.id.to_string();
        let in_inbox = stored.remove(&chat).unwrap_or_default();
        let numbers: Vec<usize> = in_inbox.iter().map(|(k, _)| *k).collect();
        let mut inbox_count = vec![0usize; outcome.notes + 1];
        for &(k, done) in &in_inbox {
            match inbox_count.get_mut(k) {
                Some(n) if k > 0 => {
                    *n += 1;
                    if *n == 1 {
                        report.stored += 1;
                        if !done {
                            report.lost += 1;
                        }
                    } else {
                        report.stored_extra += 1;
                    }
                }
                _ => report.stored_extra += 1,
            }
        }
        report.lost += inbox_count.iter().skip(1).filter(|n| **n == 0).count();
        let in_transcript = written.remove(&chat).unwrap_or_default();
        let mut transcript_count = vec![0usize; outcome.notes + 1];
        for &k in &in_transcript {
            match transcript_count.get_mut(k) {
                Some(n) if k > 0 => *n += 1,
                _ => report.transcript_repeated += 1,
            }
        }
        for n in transcript_count.iter().skip(1) {
            match n {
                0 => report.transcript_missing += 1,
                1 => report.in_transcript += 1,
                more => {
                    report.in_transcript += 1;
                    report.transcript_repeated += more - 1;
                }
            }
        }
        let backwards = |ks: &[usize]| ks.windows(2).any(|w| w[0] > w[1]);
        if backwards(&numbers) || backwards(&in_transcript) {
            report.out_of_order_teachers += 1;
        }
    }
    // Notes in chats no teacher of this run had.
    report.stored_extra += stored.values().map(Vec::len).sum::<usize>();
    report.transcript_repeated += written.values().map(Vec::len).sum::<usize>();
    Ok(())
}

/// `k` of `note k`.
fn note_number(text: &str) -> Option<usize> {
    text.strip_prefix("note ")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_and_the_query_kept() {
        assert_eq!(
            replace_db_name("postgres://u@h:5432/test?sslmode=disable", "x"),
            "postgres://u@h:5432/x?sslmode=disable"
        );
        assert_eq!(replace_db_name("postgres://u@h", "x"), "postgres://u@h/x");
    }

    #[test]
    fn notes_are_numbered() {
        assert_eq!(note_number("note 12"), Some(12));
        assert_eq!(note_number("note"), None);
        assert_eq!(note_number("3"), None);
    }

    #[test]
    fn a_clean_run_passes_and_each_broken_check_is_named() {
        let clean = ChaosReport {
            sent: 10,
            stored: 10,
            in_transcript: 10,
            kills: 2,
            duplicates: 5,
            max_duplicates_in_a_chat: 2,
            ..ChaosReport::default()
        };
        assert!(clean.failures().is_empty(), "{:?}", clean.failures());
        let broken = ChaosReport {
            lost: 1,
            duplicates: 6,
            max_duplicates_in_a_chat: 3,
            leases_left: vec!["conversation:telegram:1 (chaos-1)".into()],
            undelivered: 1,
            ..clean.clone()
        };
        let failures = broken.failures();
        assert_eq!(failures.len(), 4, "{failures:?}");
        assert!(broken.table().contains("FAILED"));
    }
}
