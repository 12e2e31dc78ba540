//! `baithak bench`: the engine alone, then end to end through inbox → engine → store → outbox,
//! on SQLite and (when given a URL) PostgreSQL, with simulated teachers. Prints a table.
//!
//! Each simulated teacher answers like a patient tester: it taps the first button of the last
//! reply, or types `3` when there is none (a valid answer to every question the content asks),
//! so it walks onboarding, menus, lessons and quizzes.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;

use crate::channel::{InboundMessage, OutboundMessage};
use crate::clock::Clock;
use crate::config::Settings;
use crate::conversation::{Conversations, NewTeacher};
use crate::dialogue::{self, Effect, Input, State};

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
        concurrency: if url.starts_with("sqlite") { 8 } else { 32 },
        ..settings.clone()
    };
    let conversations = crate::startup::open(&bench_settings, Clock::System).await?;
    let run_id = format!("{:08x}", rand::random::<u32>());
    let started = Instant::now();
    // Like the server's worker pool: a bounded number of conversations in the database at once,
    // the rest queue (their waiting counts in their latency).
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(bench_settings.concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..teachers {
        let conversations = conversations.clone();
        let permits = std::sync::Arc::clone(&permits);
        let user = format!("bench-{run_id}-{t}");
        tasks.spawn(async move { teacher(&conversations, &permits, &user, messages).await });
    }
    let mut latencies = Vec::with_capacity(teachers * messages);
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.context("teacher task panicked")??);
    }
    let secs = started.elapsed().as_secs_f64();
    row(label, latencies.len(), secs, Some(&mut latencies));
    conversations.store().close().await;
    Ok(())
}

/// One teacher: send, wait for the reply, answer it; returns each round trip's latency.
async fn teacher(
    conversations: &Conversations,
    permits: &tokio::sync::Semaphore,
    user: &str,
    messages: usize,
) -> anyhow::Result<Vec<Duration>> {
    const CHANNEL: &str = "bench";
    let store = conversations.store();
    let mut cursor = 0;
    let mut input = InboundMessage::Text {
        text: "/start".into(),
    };
    let mut latencies = Vec::with_capacity(messages);
    for i in 0..messages {
        let sent = Instant::now();
        let permit = permits.acquire().await?;
        conversations
            .receive(CHANNEL, &format!("{user}-{i}"), user, &input)
            .await?;
        conversations
            .process_pending(CHANNEL, user, NewTeacher::default())
            .await?;
        let replies = store.outbox_after(CHANNEL, user, cursor, 100).await?;
        if let Some(last) = replies.last() {
            cursor = last.id;
            store
                .mark_sent_up_to(CHANNEL, user, last.id, Utc::now())
                .await?;
        }
        drop(permit);
        latencies.push(sent.elapsed());
        let button = replies.iter().rev().find_map(|r| {
            let out: OutboundMessage = serde_json::from_str(&r.payload).ok()?;
            out.reply.choices.first().map(|b| b.id.clone())
        });
        input = match button {
            Some(id) => InboundMessage::Choice {
                id,
                label: String::new(),
            },
            None => InboundMessage::Text { text: "3".into() },
        };
    }
    Ok(latencies)
}

fn next_input(button: Option<String>) -> Input {
    button.map_or_else(|| Input::Text("3".into()), Input::Choice)
}

fn row(label: &str, events: usize, secs: f64, latencies: Option<&mut Vec<Duration>>) {
    #[allow(clippy::cast_precision_loss)] // event counts are far below 2^52
    let rate = events as f64 / secs.max(1e-9);
    let (p50, p99) = match latencies {
        Some(l) if !l.is_empty() => {
            l.sort();
            let pick = |q: f64| {
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss
                )]
                let i = ((l.len() - 1) as f64 * q).round() as usize;
                format!("{:.2}", l[i].as_secs_f64() * 1000.0)
            };
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
