//! A small Bot API client: `POST {api_url}/bot{token}/{method}` with JSON, and Telegram's
//! errors mapped to what the caller must do about them.
//!
//! Written on reqwest rather than teloxide's `Bot`: we call seven methods with parameters we
//! already build as JSON ([`super::render`]), and what the dispatcher needs from an error is the
//! HTTP status, the `description` and `parameters.retry_after`, which a thin client exposes
//! directly. <https://core.telegram.org/bots/api#making-requests>

use std::time::Duration;

use serde_json::{Value, json};

/// Where the Bot API lives by default.
pub const OFFICIAL_API_URL: &str = "https://api.telegram.org";

/// What went wrong, shaped by what the caller does next.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 429: wait this long before sending again (to this chat, or at all).
    #[error("rate limited; retry after {0:?}")]
    RetryAfter(Duration),
    /// 403: the teacher blocked the bot, never started it, or the account is gone.
    #[error("recipient unreachable: {0}")]
    Unreachable(String),
    /// 401: the token is wrong or revoked; nothing will work until it is fixed.
    #[error("unauthorized: the bot token was refused")]
    Unauthorized,
    /// 409: another poller, or a webhook, is active.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Another 4xx: this request will never succeed as it is.
    #[error("rejected: {0}")]
    Rejected(String),
    /// 5xx, a timeout, a dropped connection or an unreadable answer: try again later.
    #[error("temporary failure: {0}")]
    Transient(String),
}

impl ApiError {
    /// Whether trying again later may succeed.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(self, ApiError::RetryAfter(_) | ApiError::Transient(_))
    }
}

/// A Bot API client for one bot.
#[derive(Clone)]
pub struct BotApi {
    http: reqwest::Client,
    base: String,
    /// Where files are downloaded: `{api_url}/file/bot{token}`.
    files: String,
}

impl BotApi {
    /// A client for the bot with `token` at `api_url` (no trailing slash needed).
    ///
    /// # Errors
    ///
    /// When the HTTP client cannot be built (no TLS roots, for example).
    pub fn new(api_url: &str, token: &str) -> Result<BotApi, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .build()?;
        let api_url = api_url.trim_end_matches('/');
        Ok(BotApi {
            http,
            base: format!("{api_url}/bot{token}"),
            files: format!("{api_url}/file/bot{token}"),
        })
    }

    /// Calls `method` with JSON `params`; returns `result`. `timeout` bounds the whole call
    /// (long polls pass their poll time plus a margin).
    ///
    /// # Errors
    ///
    /// [`ApiError`] per Telegram's answer.
    pub async fn call(
        &self,
        method: &str,
        params: &Value,
        timeout: Duration,
    ) -> Result<Value, ApiError> {
        let response = self
            .http
            .post(format!("{}/{method}", self.base))
            .json(params)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| ApiError::Transient(without_url(&e)))?;
        let status = response.status().as_u16();
        let header_retry = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body: Value = match response.json().await {
            Ok(body) => body,
            Err(_) if status >= 500 => {
                return Err(ApiError::Transient(format!("HTTP {status} without JSON")));
            }
            Err(_) => {
                return Err(ApiError::Transient(format!(
                    "HTTP {status}: unreadable answer"
                )));
            }
        };
        if body.get("ok").and_then(Value::as_bool) == Some(true) {
            return Ok(body.get("result").cloned().unwrap_or(Value::Null));
        }
        let description = body
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("no description")
            .to_string();
        let code = body
            .get("error_code")
            .and_then(Value::as_u64)
            .map_or(status, |c| c as u16);
        Err(match code {
            429 => {
                let secs = body
                    .pointer("/parameters/retry_after")
                    .and_then(Value::as_u64)
                    .or(header_retry)
                    .unwrap_or(1);
                ApiError::RetryAfter(Duration::from_secs(secs))
            }
            401 => ApiError::Unauthorized,
            403 => ApiError::Unreachable(description),
            409 => ApiError::Conflict(description),
            400..=499 => ApiError::Rejected(description),
            _ => ApiError::Transient(description),
        })
    }

    /// `getMe`: checks the token; returns the bot's username.
    ///
    /// # Errors
    ///
    /// [`ApiError::Unauthorized`] for a wrong token, or any other failure.
    pub async fn get_me(&self) -> Result<String, ApiError> {
        let me = self
            .call("getMe", &json!({}), Duration::from_secs(15))
            .await?;
        Ok(me
            .get("username")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string())
    }

    /// `getUpdates` long poll from `offset`, waiting up to `timeout_secs`.
    ///
    /// # Errors
    ///
    /// [`ApiError`]; a 409 means a webhook or another poller is active.
    pub async fn get_updates(
        &self,
        offset: i64,
        timeout_secs: u64,
        limit: u32,
    ) -> Result<Vec<Value>, ApiError> {
        let params = json!({ "offset": offset, "timeout": timeout_secs, "limit": limit });
        let result = self
            .call(
                "getUpdates",
                &params,
                Duration::from_secs(timeout_secs + 15),
            )
            .await?;
        match result {
            Value::Array(updates) => Ok(updates),
            _ => Err(ApiError::Transient(
                "getUpdates result is not a list".into(),
            )),
        }
    }

    /// `setWebhook` with a secret token that Telegram echoes in every delivery.
    ///
    /// # Errors
    ///
    /// [`ApiError`].
    pub async fn set_webhook(&self, url: &str, secret: &str) -> Result<(), ApiError> {
        let params = json!({ "url": url, "secret_token": secret, "allowed_updates": ["message", "edited_message", "callback_query", "my_chat_member"] });
        self.call("setWebhook", &params, Duration::from_secs(30))
            .await
            .map(drop)
    }

    /// `deleteWebhook` (back to polling).
    ///
    /// # Errors
    ///
    /// [`ApiError`].
    pub async fn delete_webhook(&self) -> Result<(), ApiError> {
        self.call("deleteWebhook", &json!({}), Duration::from_secs(30))
            .await
            .map(drop)
    }
}

/// Without the URLs, which hold the bot token.
impl std::fmt::Debug for BotApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotApi").finish_non_exhaustive()
    }
}

impl BotApi {
    /// `getFile`: the file's path for [`BotApi::download`] (valid for at least an hour).
    ///
    /// # Errors
    ///
    /// [`ApiError`]; a file id the bot never saw is [`ApiError::Rejected`].
    pub async fn get_file(&self, file_id: &str) -> Result<String, ApiError> {
        let file = self
            .call(
                "getFile",
                &json!({ "file_id": file_id }),
                Duration::from_secs(15),
            )
            .await?;
        file.get("file_path")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ApiError::Rejected("the file cannot be downloaded".into()))
    }

    /// Downloads a file by its path from [`BotApi::get_file`] (Telegram serves bots files up
    /// to 20 MB).
    ///
    /// # Errors
    ///
    /// [`ApiError::Transient`] for a failure that may pass, [`ApiError::Rejected`] otherwise.
    pub async fn download(&self, file_path: &str) -> Result<Vec<u8>, ApiError> {
        let response = self
            .http
            .get(format!("{}/{file_path}", self.files))
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .map_err(|e| ApiError::Transient(without_url(&e)))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(ApiError::Transient(format!("HTTP {}", status.as_u16())));
        }
        if !status.is_success() {
            return Err(ApiError::Rejected(format!("HTTP {}", status.as_u16())));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ApiError::Transient(without_url(&e)))?;
        Ok(bytes.to_vec())
    }
}

/// A reqwest error without the URL, which holds the bot token.
fn without_url(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "transport error"
    };
    let mut message = kind.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    message
}
