//! HTTP: the web chat, the Telegram and WhatsApp webhooks, the staff console, health checks. No SQL and no business rules here: handlers call
//! [`Conversations`] and the [`crate::store::Store`] read methods.

pub mod chat;
pub mod console;
pub mod telegram;
pub mod verify;
pub mod whatsapp;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use tower_http::limit::RequestBodyLimitLayer;

use crate::conversation::Conversations;

/// The largest request body accepted: a WhatsApp webhook batch may be up to 3 MB.
const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// Shared state of every handler.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The conversation service.
    pub conversations: Conversations,
    /// The Telegram webhook secret; the webhook route answers 404 without one.
    pub telegram_secret: Option<String>,
    /// The WhatsApp webhook's verify token and app secret; its routes answer 404 without them.
    pub whatsapp: Option<crate::channel::whatsapp::WhatsAppSettings>,
    /// The business number's throughput, charged with every inbound WhatsApp message (Meta
    /// counts both ways); `None` when the bot does not send on WhatsApp.
    pub whatsapp_throughput: Option<std::sync::Arc<crate::channel::whatsapp::pace::Throughput>>,
    /// Sessions and sign-in throttling of the web console.
    pub console: console::ConsoleSettings,
    /// The Bot API, for the console to fetch Telegram teachers' files on demand; `None`
    /// without Telegram.
    pub telegram_api: Option<crate::channel::telegram::client::BotApi>,
}

/// The application's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(chat::routes())
        .merge(console::routes())
        .merge(telegram::routes())
        .merge(whatsapp::routes())
        .merge(verify::routes())
        .route("/metrics", get(crate::metrics::scrape))
        // After every route: counts requests by the matched pattern, never the raw path.
        .route_layer(axum::middleware::from_fn(crate::metrics::track_http))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .with_state(state)
}

/// Alive: the process answers HTTP (a load balancer's liveness probe; never touches the
/// database, so a database outage does not get every instance restarted).
async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok")
}

/// Ready to take traffic: the database answers and content is loaded (a load balancer sends
/// webhooks only to ready instances).
async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> impl IntoResponse {
    if let Err(err) = state.conversations.store().ping().await {
        tracing::warn!(error = %err, "readiness: database unreachable");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unreachable".to_string(),
        );
    }
    let content = state.conversations.content().get();
    if content.dialogues.trees.is_empty() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "no content loaded".to_string(),
        );
    }
    (
        StatusCode::OK,
        format!(
            "ready: {} dialogue trees, {} articles",
            content.dialogues.trees.len(),
            content.knowledge.index.articles.len()
        ),
    )
}
