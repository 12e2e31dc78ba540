//! Webhook delivery, modelled on tdlib/telegram-bot-api `WebhookActor`: each queued update is
//! POSTed as JSON to the webhook URL with `X-Telegram-Bot-Api-Secret-Token`; any 2xx delivers it;
//! anything else records `last_error_date`/`last_error_message` and retries (at once, then after
//! 2, 4, 8 … up to 60 backoff units, or after the bot's `Retry-After`). One update per chat is in
//! flight at a time; chats run in parallel up to `max_connections`. A 2xx body that names a
//! `method` is executed, as the Bot API allows ("Making requests when getting updates").

use std::sync::Arc;

use axum::http::header;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::control::Shared;
use super::methods;
use super::params::Params;
use super::records::RequestSource;
use super::state::{Delivery, DeliveryOutcome};

/// Runs until aborted: starts deliveries whenever the queue, the webhook or a retry timer says so.
pub(crate) async fn run(shared: Arc<Shared>) {
    loop {
        let notified = shared.updates.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (deliveries, next_wake) = shared.lock().plan_deliveries(Instant::now());
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
    let mut request = shared.client.post(&delivery.url).json(&delivery.body);
    if let Some(secret) = &delivery.secret {
        request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
    }
    let outcome = match request.send().await {
        Ok(response) if response.status().is_success() => {
            let reply = response
                .bytes()
                .await
                .ok()
                .and_then(|body| serde_json::from_slice::<Value>(&body).ok());
            DeliveryOutcome::Delivered { reply }
        }
        Ok(response) => {
            let status = response.status();
            let retry_after = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok());
            DeliveryOutcome::Failed {
                message: format!(
                    "Wrong response from the webhook: {} {}",
                    status.as_u16(),
                    status.canonical_reason().unwrap_or("")
                )
                .trim_end()
                .to_owned(),
                retry_after,
            }
        }
        Err(error) => DeliveryOutcome::Failed {
            message: if error.is_timeout() {
                "Timeout expired".to_owned()
            } else {
                "Webhook connection closed".to_owned()
            },
            retry_after: None,
        },
    };
    let reply = shared.mutate(|state| state.finish_delivery(delivery.seq, outcome, Instant::now()));
    if let Some(Value::Object(reply)) = reply {
        run_reply_method(&shared, reply);
    }
}

/// Executes the method call a bot put in its webhook answer (never `get*`, `setWebhook`,
/// `deleteWebhook`, `close`, `logOut`). Its outcome is not reported anywhere, as on Telegram.
fn run_reply_method(shared: &Shared, mut reply: Map<String, Value>) {
    let Some(Value::String(name)) = reply.remove("method") else {
        return;
    };
    let Some(method) = methods::canonical(&name) else {
        return;
    };
    if method.starts_with("get") || method == "setWebhook" || method == "deleteWebhook" {
        return;
    }
    let params = Params::from_map(reply);
    shared.log_request(method, &params, RequestSource::WebhookReply);
    // The result is dropped: "it's not possible to know that such a request was successful".
    let _ = shared.mutate(|state| methods::call(state, method, &params));
    shared.notify_chat(&params);
}
