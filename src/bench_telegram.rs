//! `baithak bench telegram`: the whole bot as a child process (`baithak serve`) against the fake
//! Bot API ([`crate::testkit::telegram`]) running in the bench process, with simulated teachers
//! who each send a message and wait for the bot's reply before the next. Optionally kills the
//! child with SIGKILL at random moments and restarts it on the same database (the crash check).
//!
//! Each teacher answers like the ones in [`crate::bench`]: `/start` first, then the first callback
//! button of the newest bot message, or `3` when it has none. A step is complete when at least one
//! new bot message has arrived in the teacher's chat; a reply of several messages may end up
//! split over two steps, which keeps the teacher going but makes a few latencies look short.
//!
//! **Duplicates** are counted per chat against the bot's own database: every outbox row should
//! become exactly one Telegram message, so the messages the fake holds beyond the chat's outbox
//! rows were sent twice (a crash between sending a row and marking it sent resends it), and
//! rows beyond the messages were never delivered.
//!
//! **Scale** ([`Scale`], `--instances`, `--profiles`): several `baithak serve` children on one
//! PostgreSQL database, each under its own `BAITHAK_INSTANCE`, in webhook mode behind a
//! round-robin [`Balancer`] that the fake's webhook points at; and a database the size of a
//! province, seeded before the run with onboarded teachers ([`seed_profiles`]), of whom the
//! simulated teachers are the first few. Each run then gets a fresh PostgreSQL database, dropped
//! after. Besides latency it reports each instance's CPU and peak memory and, when PostgreSQL
//! runs on this machine, the CPU its processes used.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::Notify;

use crate::bench_child::BotProcess;
use crate::channel::Outbound;
use crate::channel::telegram::client::BotApi;
use crate::channel::telegram::render::render;
use crate::channel::telegram::{CHANNEL, Mode};
use crate::testkit::balancer::Balancer;
use crate::testkit::telegram::{FakeTelegram, FakeTelegramOptions, UserHandle};

const SECRET: &str = "bench-secret_1";

/// One load run.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// The `baithak` executable to start as the bot.
    pub exe: PathBuf,
    /// The content root the bot loads.
    pub content_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; the bot migrates it on start.
    pub database_url: String,
    /// How updates reach the bot.
    pub mode: Mode,
    /// Simulated teachers.
    pub teachers: usize,
    /// Messages each teacher sends.
    pub messages: usize,
    /// SIGKILLs of the bot at random moments (each followed by a restart).
    pub kills: usize,
    /// A teacher's pause after each reply (zero: answer at once, the saturation run).
    pub pause: Duration,
    /// How long a teacher waits for one reply before counting it lost.
    pub reply_deadline: Duration,
}

/// What a load run measured.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Replies received (steps completed over all teachers).
    pub replies: usize,
    /// Steps never answered within the deadline (teachers stop at their first).
    pub lost: usize,
    /// Teachers that completed every step.
    pub completed_teachers: usize,
    /// Wall-clock seconds of the load.
    pub secs: f64,
    /// One round trip per reply.
    pub latencies: Vec<Duration>,
    /// Bot messages beyond the outbox rows of their chat (rows sent twice).
    pub duplicates: usize,
    /// Outbox rows never delivered (fewer bot messages in a chat than rows).
    pub undelivered: usize,
    /// The most duplicates in one chat.
    pub max_duplicates_in_a_chat: usize,
    /// Kills actually done.
    pub kills: usize,
    /// CPU seconds (user + system) of the last bot process.
    pub bot_cpu_secs: f64,
    /// Peak resident memory of the last bot process, in MB (with several instances: the
    /// largest).
    pub bot_peak_mb: f64,
    /// Per instance, in order: CPU seconds and peak resident MB of its last process, read just
    /// before it was stopped (one entry without [`Scale::instances`]).
    pub instances: Vec<(f64, f64)>,
    /// CPU seconds of the PostgreSQL server's processes on this machine during the load (0 when
    /// none run here or the backend is SQLite).
    pub postgres_cpu_secs: f64,
    /// CPU seconds of this process (fake Bot API, simulated teachers, balancer) during the load.
    pub bench_cpu_secs: f64,
    /// Seconds spent seeding [`Scale::profiles`] (0 without).
    pub seed_secs: f64,
}

/// The scale part of a run: how many instances, how big a database.
#[derive(Clone, Debug, Default)]
pub struct Scale {
    /// `Some(n)`: `n` instances, each under its own `BAITHAK_INSTANCE`, behind a round-robin
    /// [`Balancer`] that the webhook points at (webhook mode; `Some(1)` puts the balancer in
    /// front of one instance, to compare like with like). `None`: one instance, webhook straight
    /// to it, as before.
    pub instances: Option<usize>,
    /// Onboarded teacher profiles seeded before the load ([`seed_profiles`]); the simulated
    /// teachers are the first of them.
    pub profiles: usize,
}

/// `baithak bench telegram`, all its options.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Simulated teachers.
    pub teachers: usize,
    /// Messages each sends.
    pub messages: usize,
    /// How updates reach the bot (webhook only when [`Scale::instances`] is set).
    pub modes: Vec<Mode>,
    /// Also (with [`Scale::instances`]: only) run on this PostgreSQL database; scale runs
    /// create a fresh database next to it for each run and drop it after.
    pub postgres: Option<String>,
    /// SIGKILLs per run.
    pub crash: usize,
    /// A teacher's pause after each reply.
    pub pause: Duration,
    /// Instances and seeded profiles.
    pub scale: Scale,
}

/// `baithak bench telegram`: one row per backend × mode.
///
/// # Errors
///
/// When the fake or the bot cannot start, or a scale run has no PostgreSQL.
pub async fn run(content_dir: &Path, plan: &Plan) -> anyhow::Result<()> {
    let Plan {
        teachers,
        messages,
        crash,
        pause,
        ref scale,
        ..
    } = *plan;
    let rig = crate::bench_child::Rig::new("telegram", plan.postgres.as_deref())?;
    let mut backends = rig.backends.clone();
    let mut modes = plan.modes.clone();
    if let Some(n) = scale.instances {
        anyhow::ensure!(
            plan.postgres.is_some(),
            "--instances needs --postgres: several instances share one PostgreSQL database"
        );
        anyhow::ensure!(n >= 1, "--instances must be at least 1");
        backends.retain(|(_, url)| url.is_some());
        modes = vec![Mode::Webhook];
    }
    println!(
        "Baithak Telegram benchmark · {teachers} teachers · {messages} messages each · {} · bot as a child process{} · fake Bot API without rate limits{}{}\n",
        if pause.is_zero() {
            "no pause: saturation, latency is queueing".to_string()
        } else {
            format!(
                "{} ms pause after each reply: offered ≈ {:.0} updates/s",
                pause.as_millis(),
                teachers as f64 / pause.as_secs_f64()
            )
        },
        match scale.instances {
            Some(n) => format!(" · {n} instance(s) behind a round-robin balancer"),
            None => String::new(),
        },
        if scale.profiles > 0 {
            format!(
                " · {} onboarded profiles seeded (the teachers are the first of them)",
                scale.profiles
            )
        } else {
            String::new()
        },
        if crash > 0 {
            format!(" · {crash} SIGKILLs per run")
        } else {
            String::new()
        }
    );
    println!(
        "| what | events | seconds | per second | p50 ms | p95 ms | p99 ms | max ms | bot CPU s | bot peak MB | PostgreSQL CPU s | bench CPU s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut crash_reports = Vec::new();
    let fresh = scale.instances.is_some() || scale.profiles > 0;
    for (name, url) in &backends {
        for &mode in &modes {
            let scratch = match url {
                Some(admin) if fresh => Some(ScratchDatabase::create(admin).await?),
                _ => None,
            };
            let database_url = match &scratch {
                Some(db) => db.url.clone(),
                None => rig.database_url(url.as_ref()),
            };
            let options = LoadOptions {
                exe: rig.exe.clone(),
                content_dir: content_dir.to_path_buf(),
                database_url,
                mode,
                teachers,
                messages,
                kills: crash,
                pause,
                reply_deadline: Duration::from_secs(60),
            };
            let outcome = run_load_scaled(&options, scale).await;
            if let Some(db) = scratch {
                db.drop_database().await;
            }
            let mut report = outcome?;
            let label = format!(
                "Telegram {}, {name}{}{}{}",
                match mode {
                    Mode::Webhook => "webhook",
                    Mode::Polling => "polling",
                },
                match scale.instances {
                    Some(n) => format!(", {n} instance{}", if n == 1 { "" } else { "s" }),
                    None => String::new(),
                },
                if scale.profiles > 0 {
                    format!(", {} profiles", scale.profiles)
                } else {
                    String::new()
                },
                if crash > 0 {
                    format!(", {} kills", report.kills)
                } else {
                    String::new()
                }
            );
            print_row(&label, &mut report);
            crash_reports.push((label, report));
        }
    }
    println!();
    for (label, report) in &crash_reports {
        println!(
            "{label}: {} of {teachers} teachers completed all {messages} steps, {} replies lost, {} outbox rows undelivered, {} duplicate bot messages (at most {} in one chat) after {} kills",
            report.completed_teachers,
            report.lost,
            report.undelivered,
            report.duplicates,
            report.max_duplicates_in_a_chat,
            report.kills
        );
        if report.seed_secs > 0.0 {
            println!(
                "{label}: seeding took {:.1} s; per instance CPU s / peak MB: {}",
                report.seed_secs,
                per_instance(&report.instances)
            );
        }
    }
    Ok(())
}

/// `1.23 s / 40.1 MB, 1.10 s / 39.8 MB`.
fn per_instance(usage: &[(f64, f64)]) -> String {
    usage
        .iter()
        .map(|(cpu, mb)| format!("{cpu:.2} s / {mb:.1} MB"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_row(label: &str, report: &mut LoadReport) {
    let events = report.latencies.len();
    #[allow(clippy::cast_precision_loss)] // event counts are far below 2^52
    let rate = events as f64 / report.secs.max(1e-9);
    let l = &mut report.latencies;
    l.sort();
    let pick = |q: f64| crate::bench::percentile_ms(l, q);
    let max = l.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    let peaks = if report.instances.len() > 1 {
        report
            .instances
            .iter()
            .map(|(_, mb)| format!("{mb:.1}"))
            .collect::<Vec<_>>()
            .join(" / ")
    } else {
        format!("{:.1}", report.bot_peak_mb)
    };
    println!(
        "| {label} | {events} | {:.2} | {rate:.0} | {} | {} | {} | {max:.2} | {:.2} | {peaks} | {:.2} | {:.2} |",
        report.secs,
        pick(0.5),
        pick(0.95),
        pick(0.99),
        report.bot_cpu_secs,
        report.postgres_cpu_secs,
        report.bench_cpu_secs
    );
}

/// Runs one load against a fresh fake Bot API and a bot child process; kills and restarts the
/// bot `options.kills` times at random moments (chosen by replies delivered, not by time).
///
/// # Errors
///
/// When the fake or the bot cannot start, or the webhook cannot be set.
pub async fn run_load(options: &LoadOptions) -> anyhow::Result<LoadReport> {
    run_load_scaled(options, &Scale::default()).await
}

/// [`run_load`] with several instances behind a balancer and a seeded database ([`Scale`]);
/// kills go to the instances in turn, each restarted under its own name.
///
/// # Errors
///
/// When the fake, the database or a bot cannot start, or the webhook cannot be set.
pub async fn run_load_scaled(options: &LoadOptions, scale: &Scale) -> anyhow::Result<LoadReport> {
    let base: i64 = rand::random_range(1_000_000_000..2_000_000_000);
    let mut seed_secs = 0.0;
    if scale.profiles > 0 {
        let seeding = Instant::now();
        seed_profiles(&options.database_url, base, scale.profiles).await?;
        seed_secs = seeding.elapsed().as_secs_f64();
    }
    let fake = FakeTelegram::start(FakeTelegramOptions {
        rate_limits: false,
        webhook_backoff_base: Duration::from_millis(10),
        webhook_timeout: Duration::from_secs(10),
        ..FakeTelegramOptions::default()
    })
    .await
    .context("the fake Bot API did not start")?;
    let mut bots = Bots::start(options, scale, &fake).await?;

    let users: Vec<UserHandle> = (0..options.teachers)
        .map(|t| {
            #[allow(clippy::cast_possible_wrap)] // teacher counts are small
            let id = base + t as i64;
            fake.add_user(id, &format!("Teacher {t}"), Some("en"))
        })
        .collect();

    let progress = Arc::new(Progress::default());
    let total = options.teachers * options.messages;
    let mut moments: Vec<usize> = (0..options.kills)
        .map(|_| rand::random_range(total / 10..=(total * 9 / 10).max(total / 10)))
        .collect();
    moments.sort_unstable();

    let on_postgres = options.database_url.starts_with("postgres");
    let postgres_cpu_before = if on_postgres {
        postgres_cpu_secs()
    } else {
        0.0
    };
    let bench_cpu_before = own_cpu_secs();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for user in &users {
        let user = user.clone();
        let fake = fake.clone();
        let progress = progress.clone();
        let messages = options.messages;
        let deadline = options.reply_deadline;
        let pause = options.pause;
        tasks.spawn(
            async move { teacher(&fake, &user, messages, deadline, pause, &progress).await },
        );
    }
    let mut kills = 0;
    for moment in moments {
        if !progress.wait_for(moment, options.teachers).await {
            break;
        }
        bots.restart(kills % bots.procs.len(), options, &fake)
            .await?;
        kills += 1;
    }
    let mut report = LoadReport {
        kills,
        seed_secs,
        ..LoadReport::default()
    };
    while let Some(done) = tasks.join_next().await {
        let latencies = done.context("a teacher task panicked")?;
        if latencies.len() == options.messages {
            report.completed_teachers += 1;
        }
        report.lost += options.messages - latencies.len();
        report.latencies.extend(latencies);
    }
    report.secs = started.elapsed().as_secs_f64();
    report.replies = report.latencies.len();
    report.bench_cpu_secs = own_cpu_secs() - bench_cpu_before;
    if on_postgres {
        report.postgres_cpu_secs = (postgres_cpu_secs() - postgres_cpu_before).max(0.0);
    }

    // A teacher may finish while the bot still works on its last inputs (a reply of several
    // messages can be taken for two). Wait until Telegram has delivered every update, the bot has
    // handled every inbound event and each chat holds as many bot messages as its outbox rows
    // render to, waking on the chat's notifications; then compare.
    let _ = fake
        .wait_until(options.reply_deadline, |f| {
            (f.pending_updates() == 0).then_some(())
        })
        .await;
    let store = crate::store::Store::open(&options.database_url, 2)
        .await
        .context("cannot open the bot's database to count its outbox")?;
    let mut expected = Vec::with_capacity(users.len());
    // One deadline for the whole check, not one per chat: when messages never come (a stuck
    // outbox), the run still ends and reports them undelivered.
    let check_until = Instant::now() + options.reply_deadline;
    for user in &users {
        let chat = user.id.to_string();
        let mut want;
        loop {
            want = expected_messages(&store, user.id).await?;
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
            let left = check_until.saturating_duration_since(Instant::now());
            if left.is_zero() || fake.wait_for_new(user.id, last, left).await.is_err() {
                break;
            }
        }
        expected.push(want);
    }
    store.close().await;
    report.instances = bots.stop().await;
    report.bot_cpu_secs = report.instances.iter().map(|(cpu, _)| cpu).sum();
    report.bot_peak_mb = report
        .instances
        .iter()
        .map(|(_, mb)| *mb)
        .fold(0.0, f64::max);
    for (user, want) in users.iter().zip(expected) {
        let delivered = fake.sent_to(user.id).len();
        let dups = delivered.saturating_sub(want);
        report.duplicates += dups;
        report.undelivered += want.saturating_sub(delivered);
        report.max_duplicates_in_a_chat = report.max_duplicates_in_a_chat.max(dups);
    }
    Ok(report)
}

/// The bot processes of one run and, in a scale run, the balancer in front of them.
struct Bots {
    procs: Vec<BotProcess>,
    balancer: Option<Balancer>,
    /// Each instance's base URL, in slot order.
    urls: Vec<String>,
}

impl Bots {
    /// One bot with the webhook straight to it, or [`Scale::instances`] bots behind a balancer
    /// that the webhook points at (started one after the other, so one of them migrates).
    async fn start(
        options: &LoadOptions,
        scale: &Scale,
        fake: &FakeTelegram,
    ) -> anyhow::Result<Bots> {
        let Some(n) = scale.instances else {
            let bot = start_bot(options, fake).await?;
            return Ok(Bots {
                procs: vec![bot],
                balancer: None,
                urls: Vec::new(),
            });
        };
        let mut procs = Vec::with_capacity(n);
        let mut urls = Vec::with_capacity(n);
        for slot in 0..n {
            let (bot, port) = start_instance(options, fake, Some(&instance_name(slot))).await?;
            procs.push(bot);
            urls.push(format!("http://127.0.0.1:{port}"));
        }
        let balancer = Balancer::start(([127, 0, 0, 1], 0).into(), urls.clone())
            .await
            .context("the balancer did not start")?;
        let api = BotApi::new(&fake.api_url(), fake.token())?;
        api.set_webhook(&balancer.url("/telegram/webhook"), SECRET)
            .await
            .map_err(|e| anyhow::anyhow!("setWebhook failed: {e}"))?;
        Ok(Bots {
            procs,
            balancer: Some(balancer),
            urls,
        })
    }

    /// SIGKILL of the bot in `slot`, then a new one under the same name.
    async fn restart(
        &mut self,
        slot: usize,
        options: &LoadOptions,
        fake: &FakeTelegram,
    ) -> anyhow::Result<()> {
        let old = self.procs.remove(slot);
        old.kill().await;
        match &self.balancer {
            None => self.procs.insert(slot, start_bot(options, fake).await?),
            Some(balancer) => {
                let (bot, port) = start_instance(options, fake, Some(&instance_name(slot))).await?;
                self.procs.insert(slot, bot);
                self.urls[slot] = format!("http://127.0.0.1:{port}");
                balancer.set_instances(self.urls.clone());
            }
        }
        Ok(())
    }

    /// Each bot's CPU seconds and peak MB, read just before a graceful stop.
    async fn stop(self) -> Vec<(f64, f64)> {
        let mut usage = Vec::with_capacity(self.procs.len());
        for bot in self.procs {
            usage.push(bot.usage());
            bot.stop().await;
        }
        usage
    }
}

/// `BAITHAK_INSTANCE` of the instance in `slot` of a scale run (kept across its restarts).
fn instance_name(slot: usize) -> String {
    format!("bench-bot-{}", slot + 1)
}

/// CPU seconds (user + system) this process has used.
fn own_cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| cpu_ticks(&stat, false))
        .map_or(0.0, |ticks| ticks / crate::bench_child::clock_ticks())
}

/// CPU seconds of every `postgres` process on this machine, their reaped children's included
/// (backends that ended are counted in the postmaster's), so a difference over a run is what
/// the server used. 0 when none can be read.
fn postgres_cpu_secs() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let ticks: f64 = dir
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .filter(|stat| stat.contains("(postgres)"))
        .filter_map(|stat| cpu_ticks(&stat, true))
        .sum();
    ticks / crate::bench_child::clock_ticks()
}

/// utime + stime (and cutime + cstime with `children`) from a `/proc/<pid>/stat` line.
fn cpu_ticks(stat: &str, children: bool) -> Option<f64> {
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    let own = field(11)? + field(12)?;
    Some(if children {
        own + field(13)? + field(14)?
    } else {
        own
    })
}

/// A PostgreSQL database created for one run next to the given one, dropped after.
struct ScratchDatabase {
    admin: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    async fn create(admin: &str) -> anyhow::Result<ScratchDatabase> {
        use sqlx::Connection as _;
        let name = format!("baithak_scale_{:08x}", rand::random::<u32>());
        let mut url = reqwest::Url::parse(admin).context("the PostgreSQL URL does not parse")?;
        url.set_path(&format!("/{name}"));
        let mut conn = sqlx::PgConnection::connect(admin)
            .await
            .context("cannot connect to PostgreSQL")?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .with_context(|| format!("cannot create the database {name}"))?;
        let _ = conn.close().await;
        Ok(ScratchDatabase {
            admin: admin.to_string(),
            name,
            url: url.to_string(),
        })
    }

    async fn drop_database(self) {
        use sqlx::Connection as _;
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin).await {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            if let Err(err) = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
            {
                eprintln!("could not drop the scratch database {}: {err}", self.name);
            }
            let _ = conn.close().await;
        }
    }
}

/// District, grades, subjects, role, language and name parts the seeded profiles cycle
/// through (a province's mix; most teachers in Urdu, some in English, a few in Bangla).
const DISTRICTS: &[&str] = &[
    "Kasur",
    "Lahore",
    "Okara",
    "Sheikhupura",
    "Sahiwal",
    "Multan",
    "Faisalabad",
    "Jhang",
    "Sialkot",
    "Gujranwala",
    "Rahim Yar Khan",
    "Bahawalpur",
    "Muzaffargarh",
    "Attock",
];
const GRADES: &[&str] = &[
    "1, 2", "3, 4", "4, 5", "0", "1, 2, 3", "5", "3", "2, 3, 4", "6, 7, 8", "0, 1",
];
const SUBJECTS: &[&str] = &[
    "All subjects",
    "Maths",
    "Languages",
    "English",
    "Urdu",
    "Science",
    "Maths, Science",
    "English, Urdu",
];
const ROLES: &[&str] = &[
    "teacher",
    "teacher",
    "teacher",
    "teacher",
    "teacher",
    "teacher",
    "teacher",
    "teacher",
    "headteacher",
    "mentor",
];
const LANGUAGES: &[&str] = &["ur", "ur", "en", "ur", "ur", "en", "ur", "ur", "en", "bn"];
const FIRST_NAMES: &[&str] = &[
    "Ayesha", "Fatima", "Sana", "Hina", "Asma", "Rabia", "Nadia", "Saima", "Imran", "Bilal",
    "Tariq", "Asif", "Shazia", "Kiran", "Naveed", "Uzma",
];
const LAST_NAMES: &[&str] = &[
    "Khan", "Ahmed", "Malik", "Butt", "Chaudhry", "Iqbal", "Hussain", "Akhtar", "Raza", "Bibi",
    "Javed",
];
/// The onboarding exchange each seeded teacher's transcript holds: direction, node, text.
const TRANSCRIPT: &[(&str, &str, &str)] = &[
    ("in", "", "/start"),
    (
        "out",
        "onboarding/language",
        "Which language would you like?",
    ),
    ("in", "onboarding/language", "1"),
    ("out", "onboarding/ask_name", "What is your name?"),
    ("in", "onboarding/ask_name", "(name)"),
    ("out", "onboarding/ask_role", "What is your role at school?"),
    ("in", "onboarding/ask_role", "1"),
    (
        "out",
        "onboarding/ask_district",
        "Which district is your school in?",
    ),
    ("in", "onboarding/ask_district", "(district)"),
    ("out", "main/home", "Main menu: what would you like to do?"),
];

/// `CASE (expr) % n WHEN 0 THEN 'a' … END` over `values`.
fn cycle(values: &[&str], expr: &str) -> String {
    let arms: String = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!(" WHEN {i} THEN '{}'", v.replace('\'', "''")))
        .collect();
    format!("CASE ({expr}) % {}{arms} END", values.len())
}

/// Seeds `n` onboarded Telegram teachers (chat ids `base`, `base + 1`, …) into a migrated
/// database, each with the columns and the `profile`/`state` JSON an onboarded teacher's row
/// holds (waiting at the main menu) and a ten-line onboarding transcript: one `INSERT … SELECT`
/// each (`generate_series` on PostgreSQL, a recursive CTE on SQLite), then `ANALYZE`.
///
/// # Errors
///
/// When the database cannot be opened or a statement fails.
pub async fn seed_profiles(url: &str, base: i64, n: usize) -> anyhow::Result<()> {
    let store = crate::store::Store::open(url, 2).await?;
    store.close().await;
    let postgres = url.starts_with("postgres");
    let now = chrono::Utc::now().timestamp_millis();
    let day = 86_400_000_i64;
    let last = i64::try_from(n).unwrap_or(i64::MAX) - 1;
    let (series, obj) = if postgres {
        (
            format!("generate_series(CAST(0 AS BIGINT), {last}) AS seq(i)"),
            "json_build_object",
        )
    } else {
        ("seq".to_string(), "json_object")
    };
    let with = if postgres {
        String::new()
    } else {
        format!(
            "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < {last}) "
        )
    };
    let profile = format!(
        "{obj}('consent', 'yes', 'district', district, 'grades', grades, 'language', lang, \
         'name', name, 'onboarded', 'yes', 'role', role, 'school', school, 'subjects', subjects)"
    );
    let teachers = format!(
        "{with}INSERT INTO teachers (channel, channel_user, language, name, role, district, school, \
         grades, subjects, consent, profile, state, version, created_at, updated_at, \
         last_inbound_at) \
         SELECT 'telegram', CAST({base} + i AS TEXT), lang, name, role, district, school, grades, \
         subjects, 'yes', CAST({profile} AS TEXT), \
         CAST({obj}('lang', lang, 'at', {obj}('node', {obj}('tree', 'main', 'node', 'home')), \
         'profile', {profile}, 'modules', {obj}(), 'seed', (i * 2654435761) % 9007199254740991) AS TEXT), \
         17, {now} - (i % 300) * {day} - {day}, {now} - (i % 30) * {day}, {now} - (i % 30) * {day} \
         FROM (SELECT i, {lang} AS lang, {first} || ' ' || {last_name} AS name, {role} AS role, \
         {district} AS district, 'GPS ' || {district} || ' No. ' || CAST(i % 40 + 1 AS TEXT) AS school, \
         {grades} AS grades, {subjects} AS subjects FROM {series}) AS s",
        lang = cycle(LANGUAGES, "i"),
        first = cycle(FIRST_NAMES, "i / 3"),
        last_name = cycle(LAST_NAMES, "i / 7"),
        role = cycle(ROLES, "i / 11"),
        district = cycle(DISTRICTS, "i / 5"),
        grades = cycle(GRADES, "i / 2"),
        subjects = cycle(SUBJECTS, "i / 13"),
    );
    let values: Vec<String> = TRANSCRIPT
        .iter()
        .enumerate()
        .map(|(k, _)| format!("({k})"))
        .collect();
    let pick = |column: usize| {
        let arms: String = TRANSCRIPT
            .iter()
            .enumerate()
            .map(|(k, line)| {
                let value = match column {
                    0 => line.0.to_string(),
                    1 => line.1.to_string(),
                    _ => line
                        .2
                        .replace("(name)", "' || t.name || '")
                        .replace("(district)", "' || t.district || '"),
                };
                format!(" WHEN {k} THEN '{value}'")
            })
            .collect();
        format!("CASE k{arms} END")
    };
    let transcript = format!(
        "WITH lines(k) AS (VALUES {}) \
         INSERT INTO transcript (teacher_id, at, direction, node, body) \
         SELECT t.id, t.created_at + k * 20000, {}, NULLIF({}, ''), {} \
         FROM teachers AS t CROSS JOIN lines ORDER BY t.id, k",
        values.join(", "),
        pick(0),
        pick(1),
        pick(2),
    );
    let statements = [teachers, transcript, "ANALYZE".to_string()];
    if postgres {
        let pool = sqlx::PgPool::connect(url).await?;
        for sql in statements {
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await?;
        }
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(url).await?;
        for sql in statements {
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await?;
        }
        pool.close().await;
    }
    Ok(())
}

/// How many Telegram messages the chat's outbox rows render to (acknowledgements send none).
pub(crate) async fn expected_messages(
    store: &crate::store::Store,
    chat_id: i64,
) -> anyhow::Result<usize> {
    let rows = store
        .outbox_after(CHANNEL, &chat_id.to_string(), 0, i64::MAX)
        .await
        .context("cannot read the outbox")?;
    Ok(rows
        .iter()
        .map(|row| match serde_json::from_str::<Outbound>(&row.payload) {
            Ok(Outbound::Message(message)) => render(&message.reply).len(),
            // A certificate: the bench bot has no public URL, so its caption goes as text.
            Ok(Outbound::Photo(photo)) => render(&photo.reply).len(),
            _ => 0,
        })
        .sum())
}

/// Replies delivered so far and teachers finished, with a wake-up for the killer.
#[derive(Debug, Default)]
struct Progress {
    replies: AtomicUsize,
    finished: AtomicUsize,
    changed: Notify,
}

impl Progress {
    /// Waits until `replies` replies were delivered; `false` when every teacher finished first.
    async fn wait_for(&self, replies: usize, teachers: usize) -> bool {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.replies.load(Ordering::SeqCst) >= replies {
                return true;
            }
            if self.finished.load(Ordering::SeqCst) >= teachers {
                return false;
            }
            notified.await;
        }
    }
}

/// One teacher: send, wait for the bot's reply, answer it. Returns each step's latency; stops
/// at the first reply that does not come.
async fn teacher(
    fake: &FakeTelegram,
    user: &UserHandle,
    messages: usize,
    deadline: Duration,
    pause: Duration,
    progress: &Progress,
) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(messages);
    // A person reading: the pause varies ±20 %, and teachers start spread over one pause, so
    // the offered load is steady rather than in waves.
    let think = || pause.mul_f64(rand::random_range(0.8..1.2));
    if !pause.is_zero() {
        tokio::time::sleep(pause.mul_f64(rand::random_range(0.0..1.0))).await;
    }
    let mut last_seen = 0;
    let mut press: Option<(i64, String)> = None;
    for step in 0..messages {
        let sent = Instant::now();
        let acted = match (&press, step) {
            (_, 0) => fake.send_text(user, "/start").map(|_| ()),
            (Some((message_id, data)), _) => fake.press(user, *message_id, data).map(|_| ()),
            (None, _) => fake.send_text(user, crate::bench::ANSWER).map(|_| ()),
        };
        if let Err(err) = acted {
            tracing::error!(error = %err, "a simulated teacher could not act");
            break;
        }
        let Ok(mut new) = fake.wait_for_new(user.id, last_seen, deadline).await else {
            break;
        };
        latencies.push(sent.elapsed());
        if !pause.is_zero() {
            tokio::time::sleep(think()).await;
            // Read what else came while reading (the later parts of a long reply), so the
            // next wait is for the next reply.
            new.extend(fake.sent_after(user.id, new.last().map_or(last_seen, |m| m.message_id)));
        }
        progress.replies.fetch_add(1, Ordering::SeqCst);
        progress.changed.notify_waiters();
        let Some(newest) = new.last() else { break };
        last_seen = newest.message_id;
        press = newest
            .buttons()
            .into_iter()
            .find_map(|b| b.callback_data)
            .map(|data| (newest.message_id, data));
    }
    progress.finished.fetch_add(1, Ordering::SeqCst);
    progress.changed.notify_waiters();
    latencies
}

/// Starts the bot wired to the fake Bot API (and registers its webhook in webhook mode).
async fn start_bot(options: &LoadOptions, fake: &FakeTelegram) -> anyhow::Result<BotProcess> {
    let (bot, port) = start_instance(options, fake, None).await?;
    if options.mode == Mode::Webhook {
        let api = BotApi::new(&fake.api_url(), fake.token())?;
        api.set_webhook(&format!("http://127.0.0.1:{port}/telegram/webhook"), SECRET)
            .await
            .map_err(|e| anyhow::anyhow!("setWebhook failed: {e}"))?;
    }
    Ok(bot)
}

/// Starts one bot wired to the fake Bot API, under `name` (`BAITHAK_INSTANCE`) when given;
/// returns it with its port. Leaves the webhook alone.
async fn start_instance(
    options: &LoadOptions,
    fake: &FakeTelegram,
    name: Option<&str>,
) -> anyhow::Result<(BotProcess, u64)> {
    let mode = match options.mode {
        Mode::Webhook => "webhook",
        Mode::Polling => "polling",
    };
    let mut env = vec![
        ("TELEGRAM_BOT_TOKEN", fake.token().to_string()),
        ("TELEGRAM_API_URL", fake.api_url()),
        ("TELEGRAM_MODE", mode.to_string()),
        ("TELEGRAM_WEBHOOK_SECRET", SECRET.to_string()),
        ("TELEGRAM_RATE_GLOBAL", "0".to_string()),
        ("TELEGRAM_RATE_PER_CHAT", "0".to_string()),
    ];
    if let Some(name) = name {
        env.push(("BAITHAK_INSTANCE", name.to_string()));
    }
    BotProcess::start(
        &options.exe,
        &options.database_url,
        &options.content_dir,
        &env,
        |_| {},
    )
    .await
}
