//! Webhook delivery like Meta's: each queued body is POSTed to the webhook URL with
//! `Content-Type: application/json` and `X-Hub-Signature-256` over its exact bytes; only a `200`
//! delivers it (platform facts §2.10: "an HTTP status code other than 200" is retried);
//! anything else, a timeout or a refused connection is retried with exponential backoff until
//! it succeeds or the configured attempts run out. Bodies that share an ordering key go one at
//! a time, in order; the rest go in parallel up to the concurrency limit.

use std::sync::Arc;

use axum::http::header;
use tokio::time::Instant;

use super::control::Shared;
use super::state::{Delivery, DeliveryOutcome};

/// Meta's webhook user agent (as seen in request logs of public webhook receivers).
const USER_AGENT: &str = "facebookexternalua";

/// Runs until aborted: starts deliveries whenever the queue, the URL or a retry timer says so.
pub(crate) async fn run(shared: Arc<Shared>) {
    loop {
        let notified = shared.queue.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (deliveries, next_wake) = shared.lock().plan_deliveries(Instant::now());
        if !deliveries.is_empty() {
            shared.observed.notify_waiters();
        }
        for delivery in deliveries {
            tokio::spawn(deliver(shared.clone(), delivery));
        }
        match next_wake {
            Some(at) => {
                tokio::select! {
                    () = &mut notified => {}
                    () = tokio::time::sleep_until(at) => {}
                }
            }
            None => notified.await,
        }
    }
}

/// One POST, then the bookkeeping.
async fn deliver(shared: Arc<Shared>, delivery: Delivery) {
    let mut request = shared
        .client
        .post(&delivery.url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, USER_AGENT)
        .body(delivery.body.to_vec());
    if let Some(signature) = &delivery.signature {
        request = request.header("X-Hub-Signature-256", signature);
    }
    let outcome: DeliveryOutcome = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            // Read the answer so the connection can be reused; its content does not matter.
            let _ = response.bytes().await;
            Ok(status)
        }
        Err(error) if error.is_timeout() => Err("timeout".to_owned()),
        Err(error) if error.is_connect() => Err(format!("connection failed: {error}")),
        Err(error) => Err(format!("request failed: {error}")),
    };
    shared.mutate(|state| state.finish_delivery(delivery, outcome, Instant::now()));
}
