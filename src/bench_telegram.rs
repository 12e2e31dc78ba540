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
    /// Peak resident memory of the last bot process, in MB.
    pub bot_peak_mb: f64,
}

/// `baithak bench telegram`: one row per backend × mode.
///
/// # Errors
///
/// When the fake or the bot cannot start.
pub async fn run(
    content_dir: &Path,
    teachers: usize,
    messages: usize,
    modes: &[Mode],
    postgres: Option<&str>,
    crash: usize,
    pause: Duration,
) -> anyhow::Result<()> {
    let rig = crate::bench_child::Rig::new("telegram", postgres)?;
    println!(
        "Baithak Telegram benchmark · {teachers} teachers · {messages} messages each · {} · bot as a child process · fake Bot API without rate limits{}\n",
        if pause.is_zero() {
            "no pause: saturation, latency is queueing".to_string()
        } else {
            format!(
                "{} ms pause after each reply: offered ≈ {:.0} updates/s",
                pause.as_millis(),
                teachers as f64 / pause.as_secs_f64()
            )
        },
        if crash > 0 {
            format!(" · {crash} SIGKILLs per run")
        } else {
            String::new()
        }
    );
    println!(
        "| what | events | seconds | per second | p50 ms | p95 ms | p99 ms | bot CPU s | bot peak MB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut crash_reports = Vec::new();
    for (name, url) in &rig.backends {
        for &mode in modes {
            let database_url = rig.database_url(url.as_ref());
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
            let mut report = run_load(&options).await?;
            let label = format!(
                "Telegram {}, {name}{}",
                match mode {
                    Mode::Webhook => "webhook",
                    Mode::Polling => "polling",
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
    }
    Ok(())
}

fn print_row(label: &str, report: &mut LoadReport) {
    let events = report.latencies.len();
    #[allow(clippy::cast_precision_loss)] // event counts are far below 2^52
    let rate = events as f64 / report.secs.max(1e-9);
    let l = &mut report.latencies;
    l.sort();
    let pick = |q: f64| crate::bench::percentile_ms(l, q);
    println!(
        "| {label} | {events} | {:.2} | {rate:.0} | {} | {} | {} | {:.2} | {:.1} |",
        report.secs,
        pick(0.5),
        pick(0.95),
        pick(0.99),
        report.bot_cpu_secs,
        report.bot_peak_mb
    );
}

/// Runs one load against a fresh fake Bot API and a bot child process; kills and restarts the
/// bot `options.kills` times at random moments (chosen by replies delivered, not by time).
///
/// # Errors
///
/// When the fake or the bot cannot start, or the webhook cannot be set.
pub async fn run_load(options: &LoadOptions) -> anyhow::Result<LoadReport> {
    let fake = FakeTelegram::start(FakeTelegramOptions {
        rate_limits: false,
        webhook_backoff_base: Duration::from_millis(10),
        webhook_timeout: Duration::from_secs(10),
        ..FakeTelegramOptions::default()
    })
    .await
    .context("the fake Bot API did not start")?;
    let mut bot = start_bot(options, &fake).await?;

    let base: i64 = rand::random_range(1_000_000_000..2_000_000_000);
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
        bot.kill().await;
        bot = start_bot(options, &fake).await?;
        kills += 1;
    }
    let mut report = LoadReport {
        kills,
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
            if fake
                .wait_for_new(user.id, last, options.reply_deadline)
                .await
                .is_err()
            {
                break;
            }
        }
        expected.push(want);
    }
    store.close().await;
    (report.bot_cpu_secs, report.bot_peak_mb) = bot.usage();
    bot.stop().await;
    for (user, want) in users.iter().zip(expected) {
        let delivered = fake.sent_to(user.id).len();
        let dups = delivered.saturating_sub(want);
        report.duplicates += dups;
        report.undelivered += want.saturating_sub(delivered);
        report.max_duplicates_in_a_chat = report.max_duplicates_in_a_chat.max(dups);
    }
    Ok(report)
}

/// How many Telegram messages the chat's outbox rows render to (acknowledgements send none).
async fn expected_messages(store: &crate::store::Store, chat_id: i64) -> anyhow::Result<usize> {
    let rows = store
        .outbox_after(CHANNEL, &chat_id.to_string(), 0, i64::MAX)
        .await
        .context("cannot read the outbox")?;
    Ok(rows
        .iter()
        .map(|row| match serde_json::from_str::<Outbound>(&row.payload) {
            Ok(Outbound::Message(message)) => render(&message.reply).len(),
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
    let mode = match options.mode {
        Mode::Webhook => "webhook",
        Mode::Polling => "polling",
    };
    let env = [
        ("TELEGRAM_BOT_TOKEN", fake.token().to_string()),
        ("TELEGRAM_API_URL", fake.api_url()),
        ("TELEGRAM_MODE", mode.to_string()),
        ("TELEGRAM_WEBHOOK_SECRET", SECRET.to_string()),
        ("TELEGRAM_RATE_GLOBAL", "0".to_string()),
        ("TELEGRAM_RATE_PER_CHAT", "0".to_string()),
    ];
    let (bot, port) = BotProcess::start(
        &options.exe,
        &options.database_url,
        &options.content_dir,
        &env,
        |_| {},
    )
    .await?;
    if options.mode == Mode::Webhook {
        let api = BotApi::new(&fake.api_url(), fake.token())?;
        api.set_webhook(&format!("http://127.0.0.1:{port}/telegram/webhook"), SECRET)
            .await
            .map_err(|e| anyhow::anyhow!("setWebhook failed: {e}"))?;
    }
    Ok(bot)
}
