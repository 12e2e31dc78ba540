//! `baithak bench`: the engine alone, then end to end through inbox → engine → store → outbox,
//! on SQLite and (when given a URL) PostgreSQL, with simulated teachers. Prints a table.
//!
//! Each simulated teacher answers like a patient tester: it taps the first button of the last
//! reply, or types [`ANSWER`] when there is none (a valid answer to every question the content
//! asks: a name, a district, grades), so it walks onboarding, menus, lessons and quizzes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use anyhow::Context as _;
use chrono::Utc;

use crate::channel::{InboundMessage, OutboundMessage};
use crate::clock::Clock;
use crate::config::Settings;
use crate::conversation::Conversations;
use crate::dialogue::{self, Effect, Input, State};

/// What a simulated teacher types when a question has no buttons: valid as a name, a school
/// and a list of grades alike.
pub const ANSWER: &str = "Amina 3";

/// Runs every benchmark and prints the table.
///
/// # Errors
///
/// When content does not load or a database cannot be opened.
pub async fn run(
    settings: &Settings,
    teachers: usize,
    messages: usize,
    postgres: Option<&str>,
) -> anyhow::Result<()> {
    let loading = Instant::now();
    let content = crate::content::load(&settings.content_dir)
        .map_err(|d| anyhow::anyhow!("content has {} problems; run `baithak check`", d.len()))?;
    let load_secs = loading.elapsed().as_secs_f64();
    println!("Baithak benchmark · {teachers} teachers · {messages} messages each (end to end)\n");
    println!("| what | events | seconds | per second | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    let files = content.dialogues.trees.len() + 2;
    row(
        "load and validate all content (start-up)",
        files,
        load_secs,
        None,
    );

    let started = Instant::now();
    let mut steps = 0usize;
    let now = Utc::now();
    for t in 0..teachers {
        let mut state = State {
            seed: t as u64,
            ..State::default()
        };
        let mut input = Input::Text("/start".into());
        for _ in 0..200 {
            let step = dialogue::step(&content.dialogues, &state, &input, now);
            steps += 1;
            input = next_input(step.effects.iter().rev().find_map(|e| match e {
                Effect::Say(r) => r.choices.first().map(|b| b.id.clone()),
                _ => None,
            }));
            state = step.state;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    row("engine step (pure)", steps, secs, None);

    let dir = tempfile_dir()?;
    let sqlite_url = format!("sqlite://{}/bench.db", dir.display());
    end_to_end(
        "end to end, SQLite",
        settings,
        &sqlite_url,
        teachers,
        messages,
    )
    .await?;
    if let Some(url) = postgres {
        end_to_end("end to end, PostgreSQL", settings, url, teachers, messages).await?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

async fn end_to_end(
    label: &str,
    settings: &Settings,
    url: &str,
    teachers: usize,
    messages: usize,
) -> anyhow::Result<()> {
    let bench_settings = Settings {
        database_url: url.to_string(),
        max_connections: if url.starts_with("sqlite") { 4 } else { 16 },
        ..settings.clone()
    };
    let conversations = crate::startup::open(&bench_settings, Clock::System).await?;
    let run_id = format!("{:08x}", rand::random::<u32>());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(conversations.clone().run_worker(
        Duration::from_millis(500),
        async {
            let _ = stop_rx.await;
        },
    ));
    let mut inboxes = HashMap::new();
    let mut receivers = Vec::with_capacity(teachers);
    for t in 0..teachers {
        let user = format!("bench-{run_id}-{t}");
        let (tx, rx) = mpsc::unbounded_channel();
        inboxes.insert(user.clone(), tx);
        receivers.push((user, rx));
    }
    let (dispatch_stop, dispatch_stopped) = tokio::sync::oneshot::channel::<()>();
    let dispatcher = tokio::spawn(dispatch(conversations.clone(), inboxes, dispatch_stopped));

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (user, replies) in receivers {
        let conversations = conversations.clone();
        tasks.spawn(async move { teacher(&conversations, &user, replies, messages).await });
    }
    let mut latencies = Vec::with_capacity(teachers * messages);
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.context("teacher task panicked")??);
    }
    let secs = started.elapsed().as_secs_f64();
    row(label, latencies.len(), secs, Some(&mut latencies));
    let _ = stop_tx.send(());
    let _ = dispatch_stop.send(());
    let _ = worker.await;
    let _ = dispatcher.await;
    conversations.store().close().await;
    Ok(())
}

/// The simulated channel: takes pending outbox rows in order, hands each teacher its replies
/// and marks them sent, like a platform dispatcher with no rate limit.
async fn dispatch(
    conversations: Conversations,
    inboxes: HashMap<String, mpsc::UnboundedSender<Vec<String>>>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let store = conversations.store();
    let mut committed = conversations.subscribe();
    loop {
        let pending = match store.pending_outbox(CHANNEL, 2_000).await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::error!(error = %err, "bench dispatcher read failed");
                Vec::new()
            }
        };
        if pending.is_empty() {
            tokio::select! {
                _ = &mut stop => return,
                _ = committed.changed() => continue,
            }
        }
        let ids: Vec<i64> = pending.iter().map(|m| m.id).collect();
        let mut by_user: HashMap<&str, Vec<String>> = HashMap::new();
        for m in &pending {
            by_user
                .entry(m.channel_user.as_str())
                .or_default()
                .push(m.payload.clone());
        }
        if let Err(err) = store.mark_sent(&ids, Utc::now()).await {
            tracing::error!(error = %err, "bench dispatcher mark failed");
        }
        for (user, payloads) in by_user {
            if let Some(tx) = inboxes.get(user) {
                let _ = tx.send(payloads);
            }
        }
    }
}

/// The channel name of the simulated teachers.
const CHANNEL: &str = "bench";

/// One teacher: send, wait for the reply, answer it; returns each round trip's latency.
async fn teacher(
    conversations: &Conversations,
    user: &str,
    mut replies: mpsc::UnboundedReceiver<Vec<String>>,
    messages: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut input = InboundMessage::Text {
        text: "/start".into(),
    };
    let mut latencies = Vec::with_capacity(messages);
    for i in 0..messages {
        let sent = Instant::now();
        conversations
            .receive(CHANNEL, &format!("{user}-{i}"), user, &input)
            .await?;
        conversations.kick();
        let Some(payloads) = replies.recv().await else {
            anyhow::bail!("the dispatcher stopped");
        };
        latencies.push(sent.elapsed());
        let button = payloads.iter().rev().find_map(|p| {
            let out: OutboundMessage = serde_json::from_str(p).ok()?;
            out.reply.choices.first().map(|b| b.id.clone())
        });
        input = match button {
            Some(id) => InboundMessage::Choice {
                id,
                label: String::new(),
                ack: None,
            },
            None => InboundMessage::Text {
                text: ANSWER.into(),
            },
        };
    }
    Ok(latencies)
}

fn next_input(button: Option<String>) -> Input {
    button.map_or_else(|| Input::Text(ANSWER.into()), Input::Choice)
}

/// The `q` quantile (0.0–1.0) of sorted latencies, in milliseconds, as table text (`–` when
/// there are none).
#[must_use]
pub fn percentile_ms(sorted: &[Duration], q: f64) -> String {
    if sorted.is_empty() {
        return "–".to_string();
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    format!("{:.2}", sorted[i].as_secs_f64() * 1000.0)
}

fn row(label: &str, events: usize, secs: f64, latencies: Option<&mut Vec<Duration>>) {
    #[allow(clippy::cast_precision_loss)] // event counts are far below 2^52
    let rate = events as f64 / secs.max(1e-9);
    let (p50, p99) = match latencies {
        Some(l) if !l.is_empty() => {
            l.sort();
            let pick = |q: f64| percentile_ms(l, q);
            (pick(0.5), pick(0.99))
        }
        _ => ("–".to_string(), "–".to_string()),
    };
    println!("| {label} | {events} | {secs:.2} | {rate:.0} | {p50} | {p99} |");
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("baithak-bench-{:08x}", rand::random::<u32>()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}
