//! `baithak bench broadcast`: a broadcast to many teachers (200,000 by default, half on
//! Telegram, half on WhatsApp with open 24-hour windows), seeded straight into a fresh
//! database, sent by the bot as a child process (`serve`, see [`crate::bench_child`]) at the
//! configured broadcast rate per channel to two minimal loopback fakes (a Bot API answering
//! `sendMessage`, a Graph API answering `/messages`) that record every send with its time.
//! Part-way through, the bot is killed with SIGKILL and started again on the same database.
//!
//! Reported per channel: the steady rate the fake saw (sends between 10 % and 90 % of the
//! channel's total, with the restart's gap left out) against the configured rate, the
//! teachers reached, those reached twice (split into "fed twice", rows the feeder wrote
//! twice — never allowed — and "sent twice", a send in flight when the bot died, retried by
//! the dispatcher after the restart) and those never reached.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::routing::{any, post};
use serde_json::{Value, json};

use crate::bench_child::{BotProcess, Rig};

/// The benchmark's plan.
#[derive(Debug, Clone, clap::Args)]
pub struct Plan {
    /// Teachers seeded (half Telegram, half WhatsApp).
    #[arg(
        long = "teachers",
        id = "broadcast_teachers",
        default_value_t = 200_000
    )]
    pub teachers: usize,
    /// Broadcast rate per channel (messages per second).
    #[arg(long = "rate", id = "broadcast_bench_rate", default_value_t = 500)]
    pub rate: u32,
    /// Kill the bot with SIGKILL when this share of the teachers has been reached (0: never).
    #[arg(long = "kill-at", default_value_t = 0.4)]
    pub kill_at: f64,
    /// Also run on this PostgreSQL database (its tables are emptied first).
    #[arg(
        long = "postgres",
        id = "broadcast_postgres",
        env = "BAITHAK_BENCH_POSTGRES"
    )]
    pub postgres: Option<String>,
}

const TOKEN: &str = "123456:bench-broadcast";
const PHONE_ID: &str = "1000001";
const TG_BASE: i64 = 7_000_000_000;
const TEXT: &str = "Bench broadcast: the CPD hour moves to Thursday.";

/// What the fakes saw: per channel, each recipient's send times (since the start).
#[derive(Default)]
struct Seen {
    sends: HashMap<(&'static str, String), u32>,
    times: HashMap<&'static str, Vec<f64>>,
}

#[derive(Clone)]
struct Fakes {
    seen: Arc<Mutex<Seen>>,
    start: Instant,
}

impl Fakes {
    fn record(&self, channel: &'static str, to: String) {
        let at = self.start.elapsed().as_secs_f64();
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *seen.sends.entry((channel, to)).or_default() += 1;
        seen.times.entry(channel).or_default().push(at);
    }
}

async fn telegram(
    State(fakes): State<Fakes>,
    UrlPath((_bot, method)): UrlPath<(String, String)>,
    body: axum::body::Bytes,
) -> axum::Json<Value> {
    let params: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let result = match method.to_lowercase().as_str() {
        "getme" => {
            json!({"id": 123_456, "is_bot": true, "first_name": "Bench", "username": "bench_bot"})
        }
        "getupdates" => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            json!([])
        }
        "sendmessage" => {
            let chat = params["chat_id"].as_i64().map_or_else(
                || params["chat_id"].as_str().unwrap_or("").to_string(),
                |c| c.to_string(),
            );
            fakes.record("telegram", chat.clone());
            json!({"message_id": 1, "date": 0, "chat": {"id": chat.parse::<i64>().unwrap_or(0), "type": "private"}, "text": "ok"})
        }
        _ => json!(true),
    };
    axum::Json(json!({"ok": true, "result": result}))
}

async fn whatsapp(
    State(fakes): State<Fakes>,
    UrlPath((_version, _phone)): UrlPath<(String, String)>,
    axum::Json(body): axum::Json<Value>,
) -> axum::Json<Value> {
    let to = body["to"].as_str().unwrap_or("").to_string();
    fakes.record("whatsapp", to.clone());
    let id = format!("wamid.{:016x}", rand::random::<u64>());
    axum::Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to}],
        "messages": [{"id": id}]
    }))
}

async fn start_fakes() -> anyhow::Result<(Fakes, u16)> {
    let fakes = Fakes {
        seen: Arc::default(),
        start: Instant::now(),
    };
    let app = Router::new()
        .route("/bot{token}/{method}", any(telegram))
        .route("/{version}/{phone}/messages", post(whatsapp))
        .with_state(fakes.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((fakes, port))
}

/// Seeds `n` onboarded teachers in one statement each for Telegram and WhatsApp.
async fn seed(url: &str, n: usize) -> anyhow::Result<()> {
    let store = crate::store::Store::open(url, 2).await?;
    store.close().await;
    let now = chrono::Utc::now().timestamp_millis();
    let half = i64::try_from(n / 2).unwrap_or(0);
    let other = i64::try_from(n).unwrap_or(0) - half;
    let rows = |channel: &str, user: &str, count: i64| {
        format!(
            "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < {count}) \
             INSERT INTO teachers (channel, channel_user, language, name, role, district, grades, \
             consent, created_at, updated_at, last_inbound_at) \
             SELECT '{channel}', {user}, CASE i % 3 WHEN 0 THEN 'en' WHEN 1 THEN 'ur' ELSE 'bn' END, \
             'Teacher', 'teacher', 'Kasur', '4', 'yes', {now}, {now}, {now} FROM seq"
        )
    };
    let tg = rows("telegram", &format!("CAST({TG_BASE} + i AS TEXT)"), half);
    let wa = rows("whatsapp", "'92300' || CAST(1000000 + i AS TEXT)", other);
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await?;
        sqlx::query(sqlx::AssertSqlSafe(tg)).execute(&pool).await?;
        sqlx::query(sqlx::AssertSqlSafe(wa)).execute(&pool).await?;
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(url).await?;
        sqlx::query(sqlx::AssertSqlSafe(tg)).execute(&pool).await?;
        sqlx::query(sqlx::AssertSqlSafe(wa)).execute(&pool).await?;
        pool.close().await;
    }
    Ok(())
}

/// Empties a PostgreSQL database (public schema) so a run starts fresh.
async fn reset_postgres(url: &str) -> anyhow::Result<()> {
    let pool = sqlx::PgPool::connect(url).await?;
    sqlx::query("DROP SCHEMA public CASCADE")
        .execute(&pool)
        .await?;
    sqlx::query("CREATE SCHEMA public").execute(&pool).await?;
    pool.close().await;
    Ok(())
}

async fn start_bot(
    rig: &Rig,
    url: &str,
    content: &Path,
    port: u16,
    rate: u32,
) -> anyhow::Result<BotProcess> {
    let base = format!("http://127.0.0.1:{port}");
    let env = [
        ("TELEGRAM_BOT_TOKEN", TOKEN.to_string()),
        ("TELEGRAM_API_URL", base.clone()),
        ("TELEGRAM_MODE", "polling".to_string()),
        ("TELEGRAM_RATE_GLOBAL", (rate * 2).to_string()),
        ("TELEGRAM_RATE_PER_CHAT", "0".to_string()),
        ("WHATSAPP_APP_SECRET", "bench-secret".to_string()),
        ("WHATSAPP_VERIFY_TOKEN", "bench".to_string()),
        ("WHATSAPP_ACCESS_TOKEN", "bench-token".to_string()),
        ("WHATSAPP_PHONE_NUMBER_ID", PHONE_ID.to_string()),
        ("WHATSAPP_GRAPH_URL", base),
        (
            "WHATSAPP_MESSAGES_PER_SECOND",
            (rate * 2)
                .min(crate::channel::whatsapp::MAX_MESSAGES_PER_SECOND)
                .to_string(),
        ),
        ("BAITHAK_BROADCAST_RATE_TELEGRAM", rate.to_string()),
        ("BAITHAK_BROADCAST_RATE_WHATSAPP", rate.to_string()),
    ];
    let (bot, _) = BotProcess::start(&rig.exe, url, content, &env, |_| {}).await?;
    Ok(bot)
}

/// One row of the table.
struct Row {
    backend: &'static str,
    channel: &'static str,
    teachers: usize,
    rate: u32,
    steady: f64,
    reached: usize,
    fed_twice: i64,
    sent_twice: usize,
    lost: usize,
    seconds: f64,
    gap: f64,
}

/// Runs the benchmark on SQLite (and PostgreSQL when given) and prints a table.
///
/// # Errors
///
/// When the fakes, the database or the bot cannot be started.
pub async fn run(content: &Path, plan: Plan) -> anyhow::Result<()> {
    let rig = Rig::new("broadcast", plan.postgres.as_deref())?;
    let mut rows = Vec::new();
    for (backend, postgres) in &rig.backends {
        let url = rig.database_url(postgres.as_ref());
        if postgres.is_some() {
            reset_postgres(&url).await?;
        }
        rows.extend(one(&rig, backend, &url, content, &plan).await?);
    }
    println!(
        "| backend | channel | teachers | configured /s | steady /s | off by | reached | fed twice | sent twice (in flight at the kill) | never reached | seconds | restart gap s |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let off = (r.steady - f64::from(r.rate)) / f64::from(r.rate) * 100.0;
        println!(
            "| {} | {} | {} | {} | {:.1} | {:+.2} % | {} | {} | {} | {} | {:.1} | {:.1} |",
            r.backend,
            r.channel,
            r.teachers,
            r.rate,
            r.steady,
            off,
            r.reached,
            r.fed_twice,
            r.sent_twice,
            r.lost,
            r.seconds,
            r.gap
        );
    }
    Ok(())
}

async fn one(
    rig: &Rig,
    backend: &'static str,
    url: &str,
    content: &Path,
    plan: &Plan,
) -> anyhow::Result<Vec<Row>> {
    eprintln!("{backend}: seeding {} teachers…", plan.teachers);
    seed(url, plan.teachers).await.context("seeding")?;
    let (fakes, port) = start_fakes().await?;
    let mut bot = start_bot(rig, url, content, port, plan.rate).await?;
    let store = crate::store::Store::open(url, 2).await?;
    let draft = crate::broadcast::Draft::new(&["district=Kasur"], TEXT, None, None)?;
    let rates = crate::broadcast::Rates::from_env();
    let mut rates = rates;
    for r in rates.0.values_mut() {
        *r = f64::from(plan.rate);
    }
    let started = fakes.start.elapsed().as_secs_f64();
    let (id, total) =
        crate::broadcast::start(&store, &draft, "bench", &rates, chrono::Utc::now()).await?;
    eprintln!("{backend}: broadcast {id} to {total} teachers");
    let total_usize = usize::try_from(total).unwrap_or(0);
    let reached = |f: &Fakes| {
        f.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .sends
            .len()
    };
    let mut killed: Option<(f64, f64)> = None;
    let limit = Instant::now() + Duration::from_secs(3600);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let n = reached(&fakes);
        #[allow(clippy::cast_precision_loss)]
        let share = n as f64 / total_usize.max(1) as f64;
        if killed.is_none() && plan.kill_at > 0.0 && share >= plan.kill_at {
            let at = fakes.start.elapsed().as_secs_f64();
            bot.kill().await;
            eprintln!("{backend}: killed at {n} reached; restarting");
            bot = start_bot(rig, url, content, port, plan.rate).await?;
            killed = Some((at, fakes.start.elapsed().as_secs_f64()));
        }
        if n >= total_usize {
            // A last look for late duplicates.
            tokio::time::sleep(Duration::from_secs(2)).await;
            break;
        }
        anyhow::ensure!(
            Instant::now() < limit,
            "the broadcast did not finish within an hour"
        );
    }
    bot.stop().await;
    let fed_twice = fed_twice(url, id).await?;
    store.close().await;
    let seen = fakes
        .seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut rows = Vec::new();
    let half = plan.teachers / 2;
    for (channel, teachers) in [("telegram", half), ("whatsapp", plan.teachers - half)] {
        let mut times = seen.times.get(channel).cloned().unwrap_or_default();
        times.sort_by(f64::total_cmp);
        let reached = seen.sends.keys().filter(|(c, _)| *c == channel).count();
        let sent_twice = seen
            .sends
            .iter()
            .filter(|((c, _), n)| *c == channel && **n > 1)
            .count();
        let (steady, gap) = steady_rate(&times, killed);
        rows.push(Row {
            backend,
            channel,
            teachers,
            rate: plan.rate,
            steady,
            reached,
            fed_twice,
            sent_twice,
            lost: teachers.saturating_sub(reached),
            seconds: times.last().copied().unwrap_or(started) - started,
            gap,
        });
    }
    Ok(rows)
}

/// Sends per second between the 10 % and 90 % marks of `times`, the restart's gap (from the
/// kill to the first send after it) left out of the time; and that gap.
fn steady_rate(times: &[f64], killed: Option<(f64, f64)>) -> (f64, f64) {
    if times.len() < 10 {
        return (0.0, 0.0);
    }
    let (a, b) = (times.len() / 10, times.len() * 9 / 10);
    let (from, to) = (times[a], times[b]);
    let gap = killed.map_or(0.0, |(at, _)| {
        let next = times.iter().find(|t| **t > at).copied().unwrap_or(at);
        next - at
    });
    let inside = killed.is_some_and(|(at, _)| at > from && at < to);
    let span = (to - from) - if inside { gap } else { 0.0 };
    #[allow(clippy::cast_precision_loss)]
    let rate = (b - a) as f64 / span.max(0.001);
    (rate, gap)
}

/// Teachers with more than one outbox row of broadcast `id` (the feeder's guarantee: none).
async fn fed_twice(url: &str, id: i64) -> anyhow::Result<i64> {
    let sql = "SELECT COUNT(*) FROM (SELECT teacher_id FROM outbox WHERE ticket = $1 \
               AND status <> 'released' GROUP BY teacher_id HAVING COUNT(*) > 1) twice";
    let tag = crate::store::broadcasts::broadcast_tag(id);
    Ok(if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await?;
        let n: i64 = sqlx::query_scalar(sql).bind(&tag).fetch_one(&pool).await?;
        pool.close().await;
        n
    } else {
        let pool = sqlx::SqlitePool::connect(url).await?;
        let n: i64 = sqlx::query_scalar(sql).bind(&tag).fetch_one(&pool).await?;
        pool.close().await;
        n
    })
}
