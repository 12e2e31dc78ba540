//! Keeping the files teachers attach to their questions on WhatsApp: Meta hands us only a
//! media id, whose download URL lives five minutes and whose id expires after seven days, so
//! each file attached to a ticket is downloaded through the Graph API (with the bearer token)
//! and kept in the database for the experts. Durable: what to fetch is read from the tickets,
//! so a restart picks up where it stopped; a failed download is retried a few times, a minute
//! apart per attempt, then left with its reason.

use std::time::Duration;

use tracing::{debug, warn};

use super::CHANNEL;
use super::client::GraphApi;
use crate::conversation::Conversations;
use crate::store::StoreError;

/// Files looked at per pass.
const BATCH: i64 = 20;
/// How often the keeper looks even without new commits.
const EVERY: Duration = Duration::from_secs(30);

/// Keeps files until `stop` resolves, looking whenever a commit attached a file to a ticket and
/// every half minute (retries, and files attached by another instance).
pub async fn run(api: GraphApi, conversations: Conversations, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut attached = conversations.subscribe_attachments();
    loop {
        if let Err(err) = keep_pending(&api, &conversations).await {
            warn!(error = %err, "cannot keep WhatsApp media");
        }
        tokio::select! {
            () = &mut stop => return,
            _ = attached.changed() => {}
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}

/// One pass: downloads the files waiting; returns how many were kept.
///
/// # Errors
///
/// [`StoreError`] when the database cannot be read or written.
pub async fn keep_pending(
    api: &GraphApi,
    conversations: &Conversations,
) -> Result<usize, StoreError> {
    let store = conversations.store();
    let waiting = store
        .media_to_keep(CHANNEL, conversations.clock().now(), BATCH)
        .await?;
    let mut kept = 0;
    for file_id in waiting {
        let result = api
            .download_media(&file_id)
            .await
            .map_err(|e| e.to_string());
        match &result {
            Ok((bytes, _)) => {
                kept += 1;
                debug!(bytes = bytes.len(), "whatsapp media kept");
            }
            Err(reason) => warn!(%reason, "whatsapp media download failed; will retry"),
        }
        store
            .keep_media(CHANNEL, &file_id, result, conversations.clock().now())
            .await?;
    }
    Ok(kept)
}
