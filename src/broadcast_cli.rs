//! `baithak broadcast`: staff send a broadcast from the command line, and follow, pause,
//! resume or cancel one.
//!
//! `baithak broadcast --segment district=Kasur --segment role=teacher --message "…"` checks
//! the terms and the message, prints how many teachers it reaches (per channel), asks for
//! confirmation (or takes `--yes`), creates it, and then follows it with a progress bar by
//! reading the database. The running server's scheduler does the sending (any `serve`
//! instance on the same database); this command never sends anything itself. An empty
//! segment, a wrong term or a missing English message is an error: nothing is written and the
//! exit code is 1.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::broadcast::{self, Draft, DraftError, Rates};
use crate::config::Settings;
use crate::store::Store;
use crate::store::broadcasts::Progress;

/// `baithak broadcast`.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "The running server (`baithak serve` on the same database) sends the \
                  broadcast at each channel's broadcast rate (BAITHAK_BROADCAST_RATE_TELEGRAM, \
                  _WHATSAPP, _WEB); this command creates it and watches its progress. Ctrl-C \
                  stops watching, not sending: use `baithak broadcast pause <id>`."
)]
pub struct BroadcastArgs {
    /// What to do instead of sending a new broadcast.
    #[command(subcommand)]
    pub action: Option<BroadcastAction>,
    /// Who gets it: `key=value[,value]` terms, all of which must hold (keys: district,
    /// school, role, grade, subject, language, channel, progress). None: every teacher.
    #[arg(long = "segment", value_name = "KEY=VALUES")]
    pub segment: Vec<String>,
    /// The message in English (required; Urdu and Bangla teachers get it when no translation
    /// is given).
    #[arg(long)]
    pub message: Option<String>,
    /// The message in Urdu.
    #[arg(long = "message-ur")]
    pub message_ur: Option<String>,
    /// The message in Bangla.
    #[arg(long = "message-bn")]
    pub message_bn: Option<String>,
    /// Send without asking.
    #[arg(long)]
    pub yes: bool,
    /// At most this many messages per second per channel (below the channels' rates).
    #[arg(long = "rate", id = "broadcast_rate")]
    pub rate: Option<f64>,
    /// Create it and return without watching.
    #[arg(long)]
    pub detach: bool,
}

/// Actions on existing broadcasts.
#[derive(Debug, Subcommand)]
pub enum BroadcastAction {
    /// The broadcasts, newest first.
    List,
    /// A broadcast's figures.
    Status {
        /// Its id.
        id: i64,
        /// Keep watching with a progress bar until it ends.
        #[arg(long)]
        watch: bool,
    },
    /// Pause a sending broadcast (the server stops at its next tick).
    Pause {
        /// Its id.
        id: i64,
    },
    /// Resume a paused broadcast.
    Resume {
        /// Its id.
        id: i64,
    },
    /// Cancel a broadcast: nobody still pending gets it.
    Cancel {
        /// Its id.
        id: i64,
    },
}

/// Runs `baithak broadcast …`.
///
/// # Errors
///
/// An unreachable database; refusals print their reason and return exit code 1.
pub async fn run(settings: &Settings, args: BroadcastArgs) -> anyhow::Result<ExitCode> {
    let store = Store::open(&settings.database_url, 2)
        .await
        .with_context(|| {
            format!(
                "cannot open database {}",
                crate::config::redact(&settings.database_url)
            )
        })?;
    let code = match args.action {
        Some(action) => act(&store, action).await,
        None => send(&store, &args).await,
    };
    store.close().await;
    code
}

fn refuse(reason: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    eprintln!("error: {reason}");
    Ok(ExitCode::FAILURE)
}

async fn send(store: &Store, args: &BroadcastArgs) -> anyhow::Result<ExitCode> {
    let Some(message) = args.message.as_deref() else {
        return refuse("--message is required (the English text)");
    };
    let draft = match Draft::new(
        &args.segment,
        message,
        args.message_ur.as_deref(),
        args.message_bn.as_deref(),
    ) {
        Ok(d) => d,
        Err(err) => return refuse(err),
    };
    let rates = Rates::from_env().capped(args.rate);
    let preview = broadcast::preview(store, &draft.segment).await?;
    let who = if draft.terms.is_empty() {
        "everyone".to_string()
    } else {
        draft.terms.clone()
    };
    let channels: Vec<String> = preview
        .by_channel
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    println!(
        "Broadcast to {who}: {} teachers ({})",
        preview.total,
        if channels.is_empty() {
            "none".to_string()
        } else {
            channels.join(", ")
        }
    );
    if preview.total == 0 {
        return refuse(DraftError::Empty);
    }
    let rate_text: Vec<String> = rates.0.iter().map(|(c, r)| format!("{c} {r}/s")).collect();
    println!("Rates: {}", rate_text.join(", "));
    if !args.yes && !confirm(preview.total)? {
        println!("Nothing sent.");
        return Ok(ExitCode::FAILURE);
    }
    let now = chrono::Utc::now();
    let user = std::env::var("USER").unwrap_or_else(|_| "cli".into());
    let (id, total) =
        match broadcast::start(store, &draft, &format!("cli:{user}"), &rates, now).await {
            Ok(made) => made,
            Err(err) => return refuse(err),
        };
    println!(
        "Broadcast {id} created for {total} teachers; the server sends it (follow it with \
         `baithak broadcast status {id} --watch`)."
    );
    if args.detach {
        return Ok(ExitCode::SUCCESS);
    }
    watch(store, id).await
}

fn confirm(total: i64) -> anyhow::Result<bool> {
    print!("Send it to {total} teachers? [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim().to_lowercase().as_str(), "y" | "yes"))
}

fn figures(p: &Progress) -> String {
    let a = &p.all;
    format!(
        "pending {} · queued {} · sent {} · held {} · failed {} · skipped {}",
        a.pending, a.queued, a.sent, a.held, a.failed, a.skipped
    )
}

/// Follows a broadcast with a progress bar (sent, held, failed and skipped count as reached)
/// until it ends, or stops when it is paused.
async fn watch(store: &Store, id: i64) -> anyhow::Result<ExitCode> {
    let b = store.broadcast(id).await?;
    let bar = indicatif::ProgressBar::new(u64::try_from(b.total).unwrap_or(0));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} ({per_sec}, {eta} left) {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    loop {
        let b = store.broadcast(id).await?;
        let p = store.broadcast_progress(id).await?;
        let a = &p.all;
        let reached = a.sent + a.held + a.failed + a.skipped;
        bar.set_position(u64::try_from(reached).unwrap_or(0));
        bar.set_message(format!("{} · {}", b.status, figures(&p)));
        let settled = a.pending == 0 && a.waiting == 0;
        if b.status == "paused" {
            bar.abandon_with_message(format!(
                "paused · {} (resume with `baithak broadcast resume {id}`)",
                figures(&p)
            ));
            return Ok(ExitCode::SUCCESS);
        }
        if (b.status == "done" && settled) || (b.status == "cancelled" && a.waiting == 0) {
            bar.finish_with_message(format!("{} · {}", b.status, figures(&p)));
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn act(store: &Store, action: BroadcastAction) -> anyhow::Result<ExitCode> {
    let now = chrono::Utc::now();
    match action {
        BroadcastAction::List => {
            println!(
                "{:>5}  {:<10} {:>8}  {:<17} {:<14} segment",
                "id", "status", "teachers", "created (UTC)", "by"
            );
            for b in store.broadcasts(100).await? {
                println!(
                    "{:>5}  {:<10} {:>8}  {:<17} {:<14} {}",
                    b.id,
                    b.status,
                    b.total,
                    b.created_at.format("%Y-%m-%d %H:%M"),
                    b.created_by,
                    if b.terms.is_empty() {
                        "everyone"
                    } else {
                        &b.terms
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        BroadcastAction::Status { id, watch: follow } => {
            let Ok(b) = store.broadcast(id).await else {
                return refuse(format!("no broadcast {id}"));
            };
            let p = store.broadcast_progress(id).await?;
            println!("Broadcast {id}: {} · {} teachers", b.status, b.total);
            for (channel, c) in &p.channels {
                println!(
                    "  {channel:<9} total {} · pending {} · queued {} · sent {} · held {} · failed {} · skipped {}",
                    c.total, c.pending, c.queued, c.sent, c.held, c.failed, c.skipped
                );
            }
            if follow {
                return watch(store, id).await;
            }
            Ok(ExitCode::SUCCESS)
        }
        BroadcastAction::Pause { id } => {
            changed(store, id, store.pause_broadcast(id).await?, "paused").await
        }
        BroadcastAction::Resume { id } => {
            changed(store, id, store.resume_broadcast(id, now).await?, "resumed").await
        }
        BroadcastAction::Cancel { id } => {
            changed(
                store,
                id,
                store.cancel_broadcast(id, now).await?,
                "cancelled",
            )
            .await
        }
    }
}

async fn changed(store: &Store, id: i64, done: bool, what: &str) -> anyhow::Result<ExitCode> {
    if done {
        println!("Broadcast {id} {what}.");
        return Ok(ExitCode::SUCCESS);
    }
    match store.broadcast(id).await {
        Ok(b) => refuse(format!(
            "broadcast {id} is {}: it cannot be {what} now",
            b.status
        )),
        Err(_) => refuse(format!("no broadcast {id}")),
    }
}
