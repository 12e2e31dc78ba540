//! The SLA watcher: looks at the tickets in the experts' hands every half minute (or whenever a
//! manual clock moves), asks the pure [`helpdesk::sla::due`] which have waited too long, and
//! queues the reminders and escalations for the expert group, marking each ticket so that it is
//! nudged once.

use std::future::Future;
use std::time::Duration;

use tracing::{info, warn};

use crate::channel::{Outbound, OutboundMessage};
use crate::conversation::Conversations;
use crate::dialogue::Reply;
use crate::helpdesk::sla::{self, Nudge};
use crate::language::Lang;
use crate::store::{Mark, Notice, StoreError};

/// How often the tickets are looked at with the system clock.
pub const CHECK_EVERY: Duration = Duration::from_secs(30);
/// Tickets looked at per check at most (the oldest first).
const LIMIT: i64 = 5_000;

/// Checks the SLA until `stop` completes.
pub async fn run(conversations: Conversations, stop: impl Future<Output = ()>) {
    let mut moves = conversations.clock().moves();
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        if let Err(err) = check(&conversations).await {
            warn!(error = %err, "SLA check failed; trying again at the next tick");
        }
        let moved = async {
            match moves.as_mut() {
                Some(moves) => {
                    if moves.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => {}
            () = moved => {}
        }
    }
}

/// One look at the waiting tickets; returns how many nudges were queued.
///
/// # Errors
///
/// [`StoreError`] when the tickets could not be read or the nudges not written.
pub async fn check(conversations: &Conversations) -> Result<usize, StoreError> {
    let Some(group) = conversations.expert_group() else {
        return Ok(0);
    };
    let store = conversations.store();
    let waiting = store.waiting_tickets(LIMIT).await?;
    if waiting.is_empty() {
        return Ok(0);
    }
    let tickets: Vec<sla::Waiting> = waiting.into_iter().map(|(_, w)| w).collect();
    let content = conversations.content().get();
    let nudges = sla::due(&content.helpdesk, &tickets, conversations.clock().now());
    let mut notices = Vec::new();
    for nudge in &nudges {
        let (code, text, mark) = match nudge {
            Nudge::Remind { code, text } => (code, text, Mark::Reminded),
            Nudge::Escalate { code, text } => (code, text, Mark::Escalated),
        };
        notices.push(Notice {
            ticket: code.clone(),
            payload: in_topic(code, text),
            marks: Some(mark),
        });
        if mark == Mark::Escalated {
            // Also in the group's main thread, where the lead looks first.
            notices.push(Notice {
                ticket: code.clone(),
                payload: serde_json::to_string(&OutboundMessage {
                    reply: Reply {
                        text: text.clone(),
                        choices: Vec::new(),
                        lang: Lang::En,
                    },
                })
                .unwrap_or_default(),
                marks: None,
            });
        }
    }
    if notices.is_empty() {
        return Ok(0);
    }
    store
        .commit_notices(group, &notices, conversations.clock().now())
        .await?;
    info!(nudges = nudges.len(), "helpdesk SLA nudges queued");
    conversations.notify_committed();
    Ok(nudges.len())
}

/// A message in a ticket's forum topic.
pub fn in_topic(code: &str, text: &str) -> String {
    serde_json::to_string(&Outbound::InTopic {
        ticket: code.to_string(),
        text: text.to_string(),
        file: None,
    })
    .unwrap_or_default()
}
