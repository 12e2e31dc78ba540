//! `baithak bench whatsapp`: the whole bot as a child process (`baithak serve`) against the fake
//! Graph API ([`crate::testkit::whatsapp`]) running in the bench process, with simulated
//! teachers who each send a message and wait for the bot's reply before the next. Optionally
//! kills the child with SIGKILL at random moments and restarts it on the same database.
//!
//! **What it owns.** The fake (one business number, its throughput limit set to the bot's
//! `--rate` so an overshooting dispatcher meets Meta's 130429, and Meta's pair rate of one
//! message per 6 s with a burst of 45, so it would meet 131056), the bot child wired to it by
//! `WHATSAPP_*` variables, the teachers, and a **tap**: a pass-through HTTP proxy the bot's
//! `WHATSAPP_GRAPH_URL` points at, which forwards every Graph call to the fake unchanged and,
//! when a send was accepted, wakes the one teacher it was for. (The fake can only wake every
//! waiter on every change; with a thousand teachers waiting that is a thousand look-ups per
//! webhook, status and send, which would eat the CPU the bot needs. Bot → tap → fake costs a
//! loopback hop per send instead.)
//!
//! **The teachers.** Each sends `Hi`, then answers the newest of the bot's new messages: the
//! first reply button or the first list row when it has them, else types
//! [`crate::bench::ANSWER`]. A step is complete when at least one new accepted send has
//! reached the teacher (closed loop); a reply of several messages may be split over two steps,
//! which keeps the teacher going but makes a few latencies look short (with `--pause` the
//! teacher reads the whole reply first, so each latency is that of a fresh reply). Status webhooks
//! (`sent`, `delivered`) go to the bot as on Meta unless `--no-statuses`.
//!
//! **How it counts.** Outbound figures come from the fake's record of every send: accepted
//! sends per second (mean from the first to the last, and the busiest second in a sliding
//! window), refusals by code, templates. Duplicates and losses are counted per teacher against
//! the bot's own database: each outbox row marked `sent` should have become exactly the
//! messages its reply renders to ([`crate::channel::whatsapp::render`]; one for a template),
//! and its recorded wamid must be one the fake accepted for that teacher. Accepted sends beyond
//! that are duplicates (a crash between a send and its record resends the row); rows whose
//! wamid the fake never accepted, or fewer sends than rows render to, are lost; rows not `sent`
//! when the run has settled are reported as unsent.
//!
//! Teachers' phone numbers and message texts are never printed; the bot's log lines are only
//! tallied, with digit runs masked.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::bench_child::BotProcess;
use crate::channel::Outbound;
use crate::channel::whatsapp::CHANNEL;
use crate::channel::whatsapp::render::render;
use crate::store::Store;
use crate::testkit::whatsapp::{FakeWhatsApp, FakeWhatsAppOptions, SentWa, StatusMode, WaUser};

const VERIFY_TOKEN: &str = "bench-verify-token";
/// The re-engagement template, approved on the fake in every teacher language.
const TEMPLATE: &str = "baithak_reply_waiting";
const TEMPLATE_LANGUAGES: [&str; 3] = ["en", "ur", "bn"];
/// Meta's pair rate as the fake models it (a bucket of `count` refilled evenly over the
/// period): a burst of 45, then one message every 6 s.
const PAIR_RATE: (u32, Duration) = (45, Duration::from_secs(45 * 6));
/// Meta's throughput refusal.
const THROUGHPUT_CODE: i64 = 130_429;
/// Meta's pair-rate refusal.
const PAIR_RATE_CODE: i64 = 131_056;

/// What the teachers do and what the bot and the fake are allowed.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Simulated teachers.
    pub teachers: usize,
    /// Messages each teacher sends.
    pub messages: usize,
    /// The dispatcher's limit (`WHATSAPP_MESSAGES_PER_SECOND`) and the fake's throughput.
    pub rate: u32,
    /// Whether the fake posts `sent` and `delivered` status webhooks for every accepted send.
    pub statuses: bool,
    /// SIGKILLs of the bot at random moments (each followed by a restart).
    pub kills: usize,
    /// How long a teacher waits after each reply before the next message (zero: saturation).
    /// Teachers start at random moments within one pause, so the offered load is even.
    pub pause: Duration,
}

/// One load run.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// The `baithak` executable to start as the bot.
    pub exe: PathBuf,
    /// The content root the bot loads.
    pub content_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; the bot migrates it on start.
    pub database_url: String,
    /// The load.
    pub plan: Plan,
    /// How long a teacher waits for one reply before counting it lost.
    pub reply_deadline: Duration,
}

/// What a load run measured.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Steps completed over all teachers (each one inbound message answered).
    pub steps: usize,
    /// Steps never answered within the deadline (teachers stop at their first).
    pub lost_replies: usize,
    /// Teachers that completed every step.
    pub completed_teachers: usize,
    /// Teachers who could not act (the fake refused a tap); they stop there.
    pub stuck_teachers: usize,
    /// Wall-clock seconds until the last teacher finished.
    pub secs: f64,
    /// One round trip per step: from the teacher's message to the first new accepted send.
    pub latencies: Vec<Duration>,
    /// Status webhooks the fake queued for the bot.
    pub statuses: usize,
    /// Accepted sends (templates included).
    pub sends: usize,
    /// Accepted template sends.
    pub templates: usize,
    /// Accepted sends per second, from the first accepted send to the last.
    pub sends_per_second: f64,
    /// Accepted sends per second between the 10th and the 90th percentile send: the steady
    /// rate, without the opening burst and the closing trickle.
    pub steady_sends_per_second: f64,
    /// The most accepted sends within any one second (a sliding window).
    pub peak_second: usize,
    /// Sends refused with 130429 (throughput).
    pub throughput_refusals: usize,
    /// Sends refused with 131056 (pair rate).
    pub pair_refusals: usize,
    /// Sends refused with any other code.
    pub other_refusals: usize,
    /// When the 130429 and 131056 refusals came, in seconds after the first accepted send.
    pub refusal_offsets: Vec<f64>,
    /// Accepted sends beyond what the teacher's `sent` outbox rows render to.
    pub duplicates: usize,
    /// The most duplicates for one teacher.
    pub max_duplicates_for_a_teacher: usize,
    /// `sent` rows without their messages on the fake (wamid unknown, or too few sends).
    pub lost_rows: usize,
    /// Outbox rows not `sent` once the run settled, by status.
    pub unsent_rows: BTreeMap<String, usize>,
    /// Kills actually done.
    pub kills: usize,
    /// CPU seconds (user + system) of the last bot process.
    pub bot_cpu_secs: f64,
    /// Peak resident memory of the last bot process, in MB.
    pub bot_peak_mb: f64,
    /// The bot's warning and error log lines, by level and message (digit runs masked).
    pub bot_log: BTreeMap<(String, String), usize>,
}

/// `baithak bench whatsapp`: one run on SQLite, and one on PostgreSQL when given.
///
/// # Errors
///
/// When the fake, the tap or the bot cannot start, or the bot's database cannot be read.
pub async fn run(content_dir: &Path, plan: Plan, postgres: Option<&str>) -> anyhow::Result<()> {
    let Plan {
        teachers,
        messages,
        rate,
        statuses,
        kills,
        pause,
    } = plan;
    let rig = crate::bench_child::Rig::new("whatsapp", postgres)?;
    println!(
        "Baithak WhatsApp benchmark · {teachers} teachers · {messages} messages each · closed loop, {} · bot as a child process · dispatcher limit and fake throughput {rate}/s · {}{}\n",
        if pause.is_zero() {
            "no pause".to_string()
        } else {
            format!(
                "{} ms pause (offered ≈ {:.0} inbound msgs/s)",
                pause.as_millis(),
                teachers as f64 / pause.as_secs_f64()
            )
        },
        if statuses {
            "sent + delivered status webhooks"
        } else {
            "no status webhooks"
        },
        if kills > 0 {
            format!(" · {kills} SIGKILLs per run")
        } else {
            String::new()
        }
    );
    let mut reports = Vec::new();
    for (name, url) in &rig.backends {
        let database_url = rig.database_url(url.as_ref());
        eprintln!("running on {name}…");
        let options = LoadOptions {
            exe: rig.exe.clone(),
            content_dir: content_dir.to_path_buf(),
            database_url,
            plan,
            reply_deadline: Duration::from_secs(90),
        };
        let report = run_load(&options).await?;
        let label = format!(
            "WhatsApp, {name}{}",
            if kills > 0 {
                format!(", {} kills", report.kills)
            } else {
                String::new()
            }
        );
        reports.push((label, report));
    }
    print_tables(&mut reports, teachers, messages, rate);
    Ok(())
}

#[allow(clippy::cast_precision_loss)] // counts are far below 2^52
fn print_tables(reports: &mut [(String, LoadReport)], teachers: usize, messages: usize, rate: u32) {
    println!(
        "| what | steps | seconds | inbound msgs/s | status webhooks/s | sends | sends/s mean | sends/s steady (limit {rate}) | busiest second | p50 ms | p95 ms | p99 ms | bot CPU s | bot peak MB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (label, report) in reports.iter_mut() {
        let secs = report.secs.max(1e-9);
        let l = &mut report.latencies;
        l.sort();
        let pick = |q: f64| crate::bench::percentile_ms(l, q);
        println!(
            "| {label} | {} | {:.2} | {:.0} | {:.0} | {} | {:.1} | {:.1} | {} | {} | {} | {} | {:.2} | {:.1} |",
            report.steps,
            report.secs,
            report.steps as f64 / secs,
            report.statuses as f64 / secs,
            report.sends,
            report.sends_per_second,
            report.steady_sends_per_second,
            report.peak_second,
            pick(0.5),
            pick(0.95),
            pick(0.99),
            report.bot_cpu_secs,
            report.bot_peak_mb
        );
    }
    println!();
    println!(
        "| what | teachers done | replies lost | rows lost | rows unsent | duplicates (most for one teacher) | 130429 | 131056 | other refusals | templates |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (label, report) in reports.iter() {
        let unsent: usize = report.unsent_rows.values().sum();
        let unsent = if unsent == 0 {
            "0".to_string()
        } else {
            let detail: Vec<String> = report
                .unsent_rows
                .iter()
                .map(|(status, n)| format!("{n} {status}"))
                .collect();
            format!("{unsent} ({})", detail.join(", "))
        };
        println!(
            "| {label} | {} / {teachers} | {} | {} | {unsent} | {} ({}) | {} | {} | {} | {} |",
            report.completed_teachers,
            report.lost_replies,
            report.lost_rows,
            report.duplicates,
            report.max_duplicates_for_a_teacher,
            report.throughput_refusals,
            report.pair_refusals,
            report.other_refusals,
            report.templates
        );
    }
    println!();
    for (label, report) in reports.iter() {
        if report.stuck_teachers > 0 {
            println!(
                "{label}: {} teachers stopped because the fake refused their tap",
                report.stuck_teachers
            );
        }
        if !report.refusal_offsets.is_empty() {
            println!(
                "{label}: 130429/131056 refusals, in seconds after the first send: {}",
                bursts(&report.refusal_offsets)
            );
        }
        let sent_per_step = report.sends as f64 / (report.steps.max(1) as f64);
        println!(
            "{label}: {messages} steps × {teachers} teachers need ≥ {} sends; {:.2} sends per step, so the limit alone allows ≈ {:.0} steps/s",
            teachers * messages,
            sent_per_step,
            f64::from(rate) / sent_per_step.max(1e-9)
        );
        if report.bot_log.is_empty() {
            println!("{label}: the bot logged no warnings or errors");
        } else {
            for ((level, message), n) in &report.bot_log {
                println!("{label}: bot log {level} ×{n}: {message}");
            }
        }
    }
}

/// Moments grouped into bursts of at most a second: `0.65 s ×1, 16.52–16.90 s ×39`.
fn bursts(offsets: &[f64]) -> String {
    let mut sorted = offsets.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut groups: Vec<(f64, f64, usize)> = Vec::new();
    for at in sorted {
        match groups.last_mut() {
            Some((first, last, n)) if at - *first < 1.0 => {
                *last = at;
                *n += 1;
            }
            _ => groups.push((at, at, 1)),
        }
    }
    groups
        .iter()
        .map(|(first, last, n)| {
            if n > &1 {
                format!("{first:.2}–{last:.2} s ×{n}")
            } else {
                format!("{first:.2} s ×1")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs one load against a fresh fake Graph API and a bot child process; kills and restarts
/// the bot `options.plan.kills` times at random moments (chosen by steps completed, not by time).
///
/// # Errors
///
/// When the fake, the tap or the bot cannot start, the webhook handshake fails, or the bot's
/// database cannot be read afterwards.
pub async fn run_load(options: &LoadOptions) -> anyhow::Result<LoadReport> {
    let fake = FakeWhatsApp::start(FakeWhatsAppOptions {
        throughput_per_second: Some(options.plan.rate),
        pair_rate: Some(PAIR_RATE),
        statuses: if options.plan.statuses {
            StatusMode::SentDelivered
        } else {
            StatusMode::None
        },
        webhook_backoff_base: Duration::from_millis(10),
        webhook_backoff_max: Duration::from_secs(1),
        webhook_timeout: Duration::from_secs(10),
        ..FakeWhatsAppOptions::default()
    })
    .await
    .context("the fake Graph API did not start")?;
    for language in TEMPLATE_LANGUAGES {
        fake.approve_template(TEMPLATE, language);
    }

    let base: u64 = rand::random_range(3_000_000_000..3_900_000_000);
    let users: Vec<WaUser> = (0..options.plan.teachers)
        .map(|t| fake.add_user(&format!("92{}", base + t as u64), &format!("Teacher {t}")))
        .collect();
    let tap = Tap::start(
        fake.graph_url(),
        users.iter().map(|u| u.address().to_string()),
    )
    .await?;

    let log = Arc::new(LogTally::default());
    let mut bot = start_bot(options, &fake, &tap.url, &log).await?;
    let check = fake
        .verify_webhook(VERIFY_TOKEN)
        .await
        .map_err(|e| anyhow::anyhow!("the webhook handshake failed: {e}"))?;
    anyhow::ensure!(
        check.accepted(),
        "the bot refused the webhook handshake (HTTP {})",
        check.status
    );

    let progress = Arc::new(Progress::default());
    let total = options.plan.teachers * options.plan.messages;
    let mut moments: Vec<usize> = (0..options.plan.kills)
        .map(|_| rand::random_range(total / 10..=(total * 9 / 10).max(total / 10)))
        .collect();
    moments.sort_unstable();

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for user in &users {
        let user = user.clone();
        let fake = fake.clone();
        let watcher = tap.watcher(user.address())?;
        let progress = progress.clone();
        let plan = options.plan;
        let deadline = options.reply_deadline;
        tasks
            .spawn(async move { teacher(&fake, &user, &watcher, plan, deadline, &progress).await });
    }
    let mut kills = 0;
    for moment in moments {
        if !progress.wait_for(moment, options.plan.teachers).await {
            break;
        }
        bot.kill().await;
        bot = start_bot(options, &fake, &tap.url, &log).await?;
        kills += 1;
    }
    let mut report = LoadReport {
        kills,
        ..LoadReport::default()
    };
    while let Some(done) = tasks.join_next().await {
        let latencies = done.context("a teacher task panicked")?;
        if latencies.len() == options.plan.messages {
            report.completed_teachers += 1;
        }
        report.lost_replies += options.plan.messages - latencies.len();
        report.latencies.extend(latencies);
    }
    report.secs = started.elapsed().as_secs_f64();
    report.steps = report.latencies.len();
    report.stuck_teachers = progress.stuck.load(Ordering::SeqCst);

    // A teacher may finish while the bot still works on its last inputs (the later parts of a
    // reply, rows queued behind the rate limit). Let every webhook land, then wait per teacher
    // until the inbox is handled, no outbox row is pending and the fake holds at least the
    // messages the sent rows render to.
    let _ = fake.wait_webhooks_idle(options.reply_deadline).await;
    let store = Store::open(&options.database_url, 2)
        .await
        .context("cannot open the bot's database to count its outbox")?;
    let settle_until = Instant::now() + options.reply_deadline;
    let mut settled = Vec::with_capacity(users.len());
    for user in &users {
        let address = user.address();
        let watcher = tap.watcher(address)?;
        let rows = loop {
            let notified = watcher.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let rows = store
                .deliveries(CHANNEL, address)
                .await
                .context("cannot read the outbox")?;
            let handled = store
                .pending_for(CHANNEL, address)
                .await
                .context("cannot read the inbox")?
                .is_empty();
            let pending = rows.iter().any(|r| r.status == "pending");
            let have = accepted(&fake, address).len();
            if (handled && !pending && have >= expected_sends(&rows))
                || Instant::now() >= settle_until
            {
                break rows;
            }
            // Sends wake the tap's watcher; a row's record lands a little after its send.
            let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
        };
        settled.push(rows);
    }
    let _ = fake.wait_webhooks_idle(Duration::from_secs(10)).await;
    store.close().await;
    (report.bot_cpu_secs, report.bot_peak_mb) = bot.usage();
    bot.stop().await;
    tap.stop();

    for (user, rows) in users.iter().zip(settled) {
        let sends = accepted(&fake, user.address());
        let wamids: HashSet<&str> = sends.iter().filter_map(|s| s.wamid.as_deref()).collect();
        let want = expected_sends(&rows);
        let dups = sends.len().saturating_sub(want);
        report.duplicates += dups;
        report.max_duplicates_for_a_teacher = report.max_duplicates_for_a_teacher.max(dups);
        let unknown_wamid = rows
            .iter()
            .filter(|r| r.status == "sent")
            .filter(|r| r.provider_id.as_deref().is_none_or(|w| !wamids.contains(w)))
            .count();
        report.lost_rows += unknown_wamid.max(want.saturating_sub(sends.len()));
        for row in rows.iter().filter(|r| r.status != "sent") {
            *report.unsent_rows.entry(row.status.clone()).or_default() += 1;
        }
    }
    outbound_figures(&fake, &mut report);
    report.statuses = fake.statuses_posted().len();
    report.bot_log = log.take();
    Ok(report)
}

/// The fake's accepted sends to one teacher, oldest first.
fn accepted(fake: &FakeWhatsApp, address: &str) -> Vec<SentWa> {
    fake.sent_to(address)
        .into_iter()
        .filter(SentWa::is_accepted)
        .collect()
}

/// How many Cloud API messages a teacher's `sent` rows stand for: a reply renders to one or
/// more messages, a template row is one.
fn expected_sends(rows: &[crate::store::SentRow]) -> usize {
    rows.iter()
        .filter(|row| row.status == "sent")
        .map(|row| {
            if row.payload == crate::store::REENGAGE_PAYLOAD {
                return 1;
            }
            match serde_json::from_str::<Outbound>(&row.payload) {
                Ok(Outbound::Message(message)) => render(&message.reply).len(),
                _ => 0,
            }
        })
        .sum()
}

/// Sends, templates, refusals and the outbound rate, from the fake's record of every send.
#[allow(clippy::cast_precision_loss)] // counts and microseconds are far below 2^52
fn outbound_figures(fake: &FakeWhatsApp, report: &mut LoadReport) {
    let mut times = Vec::new();
    let mut limited = Vec::new();
    for send in fake.sent() {
        if send.is_accepted() {
            report.sends += 1;
            if send.message_type == "template" {
                report.templates += 1;
            }
            times.push(send.at);
        } else {
            match send.error_code() {
                Some(THROUGHPUT_CODE) => report.throughput_refusals += 1,
                Some(PAIR_RATE_CODE) => report.pair_refusals += 1,
                _ => report.other_refusals += 1,
            }
            if matches!(send.error_code(), Some(THROUGHPUT_CODE | PAIR_RATE_CODE)) {
                limited.push(send.at);
            }
        }
    }
    times.sort_unstable();
    let secs = |from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>| {
        (to - from).num_microseconds().unwrap_or(0) as f64 / 1e6
    };
    let rate = |from: usize, to: usize| (to - from) as f64 / secs(times[from], times[to]).max(1e-6);
    if times.len() > 1 {
        report.sends_per_second = rate(0, times.len() - 1);
        let (p10, p90) = (times.len() / 10, times.len() * 9 / 10);
        if p90 > p10 {
            report.steady_sends_per_second = rate(p10, p90);
        }
    }
    if let Some(first) = times.first() {
        report.refusal_offsets = limited.iter().map(|at| secs(*first, *at)).collect();
    }
    let second = chrono::Duration::seconds(1);
    let mut start = 0;
    for (end, at) in times.iter().enumerate() {
        while *at - times[start] >= second {
            start += 1;
        }
        report.peak_second = report.peak_second.max(end - start + 1);
    }
}

/// Steps completed so far and teachers finished, with a wake-up for the killer. (The same as
/// `bench_telegram`'s, which is private there.)
#[derive(Debug, Default)]
struct Progress {
    steps: AtomicUsize,
    finished: AtomicUsize,
    stuck: AtomicUsize,
    changed: Notify,
}

impl Progress {
    /// Waits until `steps` steps were completed; `false` when every teacher finished first.
    async fn wait_for(&self, steps: usize, teachers: usize) -> bool {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.steps.load(Ordering::SeqCst) >= steps {
                return true;
            }
            if self.finished.load(Ordering::SeqCst) >= teachers {
                return false;
            }
            notified.await;
        }
    }
}

/// What a teacher does next.
enum Act {
    Say(&'static str),
    Press { id: String, title: String },
    Choose { id: String, title: String },
}

impl Act {
    /// The answer to the newest message: its first button or row, else typed text.
    fn answering(newest: &SentWa) -> Act {
        if let Some(button) = newest.buttons.first() {
            Act::Press {
                id: button.id.clone(),
                title: button.title.clone(),
            }
        } else if let Some(row) = newest.rows.first() {
            Act::Choose {
                id: row.id.clone(),
                title: row.title.clone(),
            }
        } else {
            Act::Say(crate::bench::ANSWER)
        }
    }
}

/// One teacher: send, wait for the bot's reply, answer it. Returns each step's latency; stops
/// at the first reply that does not come.
async fn teacher(
    fake: &FakeWhatsApp,
    user: &WaUser,
    watcher: &Notify,
    plan: Plan,
    deadline: Duration,
    progress: &Progress,
) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(plan.messages);
    let mut seen = 0;
    let mut next = Act::Say("Hi");
    if !plan.pause.is_zero() {
        // Spread the teachers' first messages over one pause.
        tokio::time::sleep(plan.pause.mul_f64(rand::random::<f64>())).await;
    }
    for step in 0..plan.messages {
        if step > 0 && !plan.pause.is_zero() {
            // A teacher reading the reply: the offered load, not waiting for work.
            tokio::time::sleep(plan.pause).await;
            // The rest of a reply of several messages arrived meanwhile: the teacher answers
            // the newest, and the next step waits for what comes after it.
            let all = accepted(fake, user.address());
            if let Some(newest) = all.get(seen..).and_then(<[SentWa]>::last) {
                next = Act::answering(newest);
            }
            seen = all.len();
        }
        let sent = Instant::now();
        let acted = match &next {
            Act::Say(text) => fake.send_text(user, text),
            Act::Press { id, title } => fake.press_button(user, id, title),
            Act::Choose { id, title } => fake.choose_list_row(user, id, title),
        };
        if acted.is_err() {
            // The error names the teacher's number: counted, not printed.
            progress.stuck.fetch_add(1, Ordering::SeqCst);
            break;
        }
        let Some(new) = wait_for_new(fake, user.address(), watcher, seen, deadline).await else {
            break;
        };
        latencies.push(sent.elapsed());
        progress.steps.fetch_add(1, Ordering::SeqCst);
        progress.changed.notify_waiters();
        seen += new.len();
        let Some(newest) = new.last() else { break };
        next = Act::answering(newest);
    }
    progress.finished.fetch_add(1, Ordering::SeqCst);
    progress.changed.notify_waiters();
    latencies
}

/// The accepted sends to `address` after the first `seen`, once there is at least one; `None`
/// after `deadline`. Woken by the tap, never by unrelated changes to the fake.
async fn wait_for_new(
    fake: &FakeWhatsApp,
    address: &str,
    watcher: &Notify,
    seen: usize,
    deadline: Duration,
) -> Option<Vec<SentWa>> {
    let end = Instant::now() + deadline;
    loop {
        let notified = watcher.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let new: Vec<SentWa> = accepted(fake, address).into_iter().skip(seen).collect();
        if !new.is_empty() {
            return Some(new);
        }
        if tokio::time::timeout_at(end, notified).await.is_err() {
            let new: Vec<SentWa> = accepted(fake, address).into_iter().skip(seen).collect();
            return (!new.is_empty()).then_some(new);
        }
    }
}

/// The pass-through between the bot and the fake's Graph API: forwards every call unchanged
/// and wakes the teacher an accepted send was for.
struct Tap {
    url: String,
    watchers: Arc<HashMap<String, Arc<Notify>>>,
    server: JoinHandle<()>,
}

/// What the tap's handler needs.
struct TapState {
    upstream: String,
    client: reqwest::Client,
    watchers: Arc<HashMap<String, Arc<Notify>>>,
}

impl Tap {
    async fn start(
        upstream: String,
        addresses: impl Iterator<Item = String>,
    ) -> anyhow::Result<Tap> {
        let watchers: Arc<HashMap<String, Arc<Notify>>> = Arc::new(
            addresses
                .map(|address| (address, Arc::new(Notify::new())))
                .collect(),
        );
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .context("cannot build the tap's HTTP client")?;
        let state = Arc::new(TapState {
            upstream,
            client,
            watchers: watchers.clone(),
        });
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("the tap cannot listen")?;
        let addr = listener.local_addr().context("the tap has no address")?;
        let router = Router::new().fallback(forward).with_state(state);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Tap {
            url: format!("http://{addr}"),
            watchers,
            server,
        })
    }

    fn watcher(&self, address: &str) -> anyhow::Result<Arc<Notify>> {
        self.watchers
            .get(address)
            .cloned()
            .context("a teacher without a watcher")
    }

    fn stop(self) {
        self.server.abort();
    }
}

/// Forwards one Graph call to the fake and its answer back.
async fn forward(
    State(tap): State<Arc<TapState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let is_send = method == Method::POST && uri.path().ends_with("/messages");
    let mut request = tap
        .client
        .request(method, format!("{}{path}", tap.upstream))
        .body(body.clone());
    for name in [AUTHORIZATION, CONTENT_TYPE] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value.clone());
        }
    }
    let Ok(answer) = request.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = answer.status();
    let content_type = answer.headers().get(CONTENT_TYPE).cloned();
    let Ok(bytes) = answer.bytes().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    if is_send
        && status.is_success()
        && let Ok(sent) = serde_json::from_slice::<Value>(&body)
        && let Some(to) = sent
            .get("to")
            .or_else(|| sent.get("recipient"))
            .and_then(Value::as_str)
        && let Some(watcher) = tap.watchers.get(to)
    {
        watcher.notify_waiters();
    }
    let mut response = (status, bytes).into_response();
    if let Some(content_type) = content_type {
        response.headers_mut().insert(CONTENT_TYPE, content_type);
    }
    response
}

/// The bot's warning and error lines, tallied by level and message.
#[derive(Debug, Default)]
struct LogTally(Mutex<BTreeMap<(String, String), usize>>);

impl LogTally {
    fn add(&self, line: &str) {
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            return;
        };
        let level = event["level"].as_str().unwrap_or_default();
        if level != "WARN" && level != "ERROR" {
            return;
        }
        let message = mask_digits(event["fields"]["message"].as_str().unwrap_or_default());
        *self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((level.to_string(), message))
            .or_default() += 1;
    }

    fn take(&self) -> BTreeMap<(String, String), usize> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Replaces runs of seven or more digits (phone numbers) with `#`, and cuts long lines.
fn mask_digits(text: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if digits.len() >= 7 {
            out.push('#');
        } else {
            out.push_str(&digits);
        }
        digits.clear();
        out.push(c);
    }
    out.pop();
    if out.chars().count() > 160 {
        out = out.chars().take(160).chain(std::iter::once('…')).collect();
    }
    out
}

/// Starts the bot wired to the fake through the tap, its log tallied in `log`.
async fn start_bot(
    options: &LoadOptions,
    fake: &FakeWhatsApp,
    graph_url: &str,
    log: &Arc<LogTally>,
) -> anyhow::Result<BotProcess> {
    let env = [
        ("WHATSAPP_APP_SECRET", fake.app_secret().to_string()),
        ("WHATSAPP_VERIFY_TOKEN", VERIFY_TOKEN.to_string()),
        ("WHATSAPP_ACCESS_TOKEN", fake.token().to_string()),
        (
            "WHATSAPP_PHONE_NUMBER_ID",
            fake.phone_number_id().to_string(),
        ),
        ("WHATSAPP_GRAPH_URL", graph_url.to_string()),
        ("WHATSAPP_API_VERSION", fake.api_version().to_string()),
        (
            "WHATSAPP_MESSAGES_PER_SECOND",
            options.plan.rate.to_string(),
        ),
        ("WHATSAPP_REENGAGE_TEMPLATE", TEMPLATE.to_string()),
    ];
    let log = Arc::clone(log);
    let (bot, port) = BotProcess::start(
        &options.exe,
        &options.database_url,
        &options.content_dir,
        &env,
        move |line| log.add(line),
    )
    .await?;
    fake.set_webhook(&format!("http://127.0.0.1:{port}/whatsapp/webhook"));
    Ok(bot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_group_into_bursts() {
        assert_eq!(
            bursts(&[16.9, 0.65, 16.5, 16.7]),
            "0.65 s ×1, 16.50–16.90 s ×3"
        );
        assert_eq!(bursts(&[]), "");
    }

    #[test]
    fn long_digit_runs_are_masked() {
        assert_eq!(
            mask_digits("sent to 923001234567 in 3 ms"),
            "sent to # in 3 ms"
        );
        assert_eq!(mask_digits("code 1234"), "code 1234");
        assert_eq!(mask_digits("(#130429) 16505551234"), "(#130429) #");
    }
}
