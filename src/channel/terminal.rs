//! The terminal chat: `baithak chat`. A channel like any other: each line goes into the inbox,
//! the conversation processes it, and the replies come out of the outbox.
//!
//! Buttons print as numbered options; typing the number (or the label) answers them. With
//! piped input it echoes each line, so the output reads as a transcript, and exits at the end
//! of input. A second run with the same `--user` continues the same conversation.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context as _;

use super::OutboundMessage;
use crate::channel::InboundMessage;
use crate::conversation::{Conversations, NewTeacher};
use crate::language::Lang;

/// The channel name in the store.
pub const CHANNEL: &str = "terminal";

/// Runs the chat over stdin/stdout until end of input.
///
/// # Errors
///
/// When the store fails or stdout cannot be written.
pub async fn run(
    conversations: &Conversations,
    user: &str,
    lang: Option<Lang>,
) -> anyhow::Result<()> {
    let interactive = std::io::stdin().is_terminal();
    let new_teacher = NewTeacher { lang };
    let mut out = std::io::stdout().lock();
    let mut cursor = 0;
    let history = conversations
        .store()
        .outbox_after(CHANNEL, user, 0, i64::MAX)
        .await?;
    match history.last() {
        Some(last) => {
            // Coming back: show where the conversation waits.
            writeln!(out, "(continuing your conversation)")?;
            print_message(&mut out, &last.payload)?;
            cursor = last.id;
        }
        None => {
            cursor = send(conversations, user, "/start", new_teacher, cursor, &mut out).await?;
        }
    }
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            write!(out, "> ")?;
            out.flush()?;
        }
        let Some(line) = lines.next() else { break };
        let line = line.context("cannot read standard input")?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if !interactive {
            writeln!(out, "> {line}")?;
        }
        cursor = send(conversations, user, line, new_teacher, cursor, &mut out).await?;
    }
    Ok(())
}

async fn send(
    conversations: &Conversations,
    user: &str,
    text: &str,
    new_teacher: NewTeacher,
    cursor: i64,
    out: &mut impl Write,
) -> anyhow::Result<i64> {
    let external_id = format!(
        "{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    );
    let message = InboundMessage::Text {
        text: text.to_string(),
    };
    conversations
        .receive(CHANNEL, &external_id, user, &message)
        .await?;
    conversations
        .process_pending(CHANNEL, user, new_teacher)
        .await?;
    let store = conversations.store();
    let replies = store.outbox_after(CHANNEL, user, cursor, i64::MAX).await?;
    let Some(last) = replies.last() else {
        return Ok(cursor);
    };
    for reply in &replies {
        print_message(out, &reply.payload)?;
    }
    store
        .mark_sent_up_to(CHANNEL, user, last.id, conversations.clock().now())
        .await?;
    Ok(last.id)
}

fn print_message(out: &mut impl Write, payload: &str) -> std::io::Result<()> {
    let Ok(message) = serde_json::from_str::<OutboundMessage>(payload) else {
        return writeln!(out, "(unreadable message)");
    };
    writeln!(out)?;
    for line in message.reply.text.lines() {
        writeln!(out, "  {line}")?;
    }
    for (i, choice) in message.reply.choices.iter().enumerate() {
        writeln!(out, "    [{}] {}", i + 1, choice.label)?;
    }
    writeln!(out)
}
