//! The `getUpdates` loop: long-polls Telegram and stores every update in the inbox before
//! confirming it. <https://core.telegram.org/bots/api#getupdates>
//!
//! An update is confirmed by asking for the next offset, and the next poll starts only after
//! the batch is stored, so a crash can only make Telegram send an update again (the inbox
//! ignores the repeat), never lose one. Nothing about the offset needs to be kept: after a
//! restart Telegram hands back everything not yet confirmed.

use std::time::Duration;

use tracing::{error, info, warn};

use super::CHANNEL;
use super::client::{ApiError, BotApi};
use super::inbound::to_inbound;
use super::update::classify_value;
use crate::conversation::Conversations;

/// Seconds Telegram holds a poll open when there is nothing to deliver (at most 50).
const POLL_SECONDS: u64 = 25;
/// Updates per poll (Telegram's maximum).
const POLL_LIMIT: u32 = 100;
/// Longest pause between failing polls.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Polls until `shutdown` resolves.
pub async fn run(api: BotApi, conversations: Conversations, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut offset = 0;
    let mut backoff = Duration::from_millis(500);
    loop {
        let poll = tokio::select! {
            () = &mut shutdown => return,
            poll = api.get_updates(offset, POLL_SECONDS, POLL_LIMIT) => poll,
        };
        let pause = match poll {
            Ok(updates) => match store(&conversations, &updates).await {
                Ok(next) => {
                    offset = next.unwrap_or(offset);
                    backoff = Duration::from_millis(500);
                    continue;
                }
                Err(err) => {
                    error!(error = %err, "updates not stored; polling the same offset again");
                    backoff
                }
            },
            Err(ApiError::Conflict(description)) => {
                error!(
                    %description,
                    "Telegram refused to poll: another instance is polling, or a webhook is set \
                     (run `baithak telegram delete-webhook`, or set TELEGRAM_MODE=webhook)"
                );
                MAX_BACKOFF
            }
            Err(ApiError::Unauthorized) => {
                error!("Telegram refused the bot token; polling stopped");
                return;
            }
            Err(ApiError::RetryAfter(wait)) => wait,
            Err(err) => {
                warn!(error = %err, "getUpdates failed; retrying");
                backoff
            }
        };
        backoff = (backoff * 2).min(MAX_BACKOFF);
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// Stores a batch of updates; returns the next offset to ask for.
async fn store(
    conversations: &Conversations,
    updates: &[serde_json::Value],
) -> Result<Option<i64>, crate::store::StoreError> {
    let mut next: Option<i64> = None;
    let mut batch = Vec::with_capacity(updates.len());
    for raw in updates {
        let Ok(update) = classify_value(raw) else {
            warn!("an update without update_id was skipped");
            continue;
        };
        next = Some(next.map_or(update.update_id.saturating_add(1), |n| {
            n.max(update.update_id.saturating_add(1))
        }));
        batch.push(to_inbound(&update));
    }
    let stored = conversations
        .receive_many(CHANNEL, &batch)
        .await?
        .into_iter()
        .filter(|new| *new)
        .count();
    if stored > 0 {
        conversations.kick();
        info!(updates = stored, "updates received by polling");
    }
    Ok(next)
}
