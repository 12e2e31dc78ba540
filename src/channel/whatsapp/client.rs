//! A small Graph API client for one business phone number: `POST /{version}/{phone_number_id}/
//! messages` with a bearer token, media downloads, and Meta's error envelope mapped to what
//! the caller must do about it (platform facts §2.6–§2.9).
//!
//! Written on reqwest rather than a WhatsApp SDK crate: we send JSON bodies we already build
//! ([`super::render`]), and what the dispatcher needs from an error is the `code` (Meta says
//! to build logic on it, not on titles), which a thin client exposes directly.

use std::time::Duration;

use serde_json::Value;

/// Where the Graph API lives by default.
pub const OFFICIAL_GRAPH_URL: &str = "https://graph.facebook.com";
/// The API version used unless configured.
pub const DEFAULT_API_VERSION: &str = "v23.0";

/// Per-call timeout.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// What went wrong, shaped by what the caller does next.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// 130429, 4, 80007, 131057: the number (or app) is over its limit; nobody is sent to for
    /// a while.
    #[error("rate limited ({code}); retry after {wait:?}")]
    RateLimited {
        /// Meta's code.
        code: i64,
        /// How long to hold off.
        wait: Duration,
    },
    /// 131056: too many messages to this one recipient; wait before the next.
    #[error("pair rate limit hit for this recipient")]
    PairRate,
    /// 131047: the 24-hour window is closed; only a template may be sent.
    #[error("outside the 24-hour window")]
    WindowClosed,
    /// 131026 and friends: the message cannot reach this person (blocked, not on WhatsApp).
    #[error("undeliverable: {0}")]
    Undeliverable(String),
    /// 190 (or 0) with HTTP 401: the access token is wrong or expired; nothing will work.
    #[error("access token refused: {0}")]
    Unauthorized(String),
    /// Another error: this request will never succeed as it is (a bug or a content problem).
    #[error("rejected: {0}")]
    Rejected(String),
    /// 5xx, 131000, 131016, a timeout or a dropped connection: try again later.
    #[error("temporary failure: {0}")]
    Transient(String),
}

/// A Graph API client for one business phone number.
#[derive(Clone)]
pub struct GraphApi {
    http: reqwest::Client,
    /// `{graph_url}/{version}`.
    base: String,
    phone_number_id: String,
    token: String,
}

impl std::fmt::Debug for GraphApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphApi")
            .field("base", &self.base)
            .field("phone_number_id", &self.phone_number_id)
            .field("token", &"***")
            .finish()
    }
}

impl GraphApi {
    /// A client for `phone_number_id` at `graph_url` (no trailing slash needed), API `version`.
    ///
    /// # Errors
    ///
    /// When the HTTP client cannot be built (no TLS roots, for example).
    pub fn new(
        graph_url: &str,
        version: &str,
        phone_number_id: &str,
        token: &str,
    ) -> Result<GraphApi, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(GraphApi {
            http,
            base: format!("{}/{}", graph_url.trim_end_matches('/'), version),
            phone_number_id: phone_number_id.to_string(),
            token: token.to_string(),
        })
    }

    /// Sends one message object (`messaging_product` is added here); returns its wamid.
    ///
    /// # Errors
    ///
    /// [`GraphError`] per Meta's answer.
    pub async fn send(&self, message: &Value) -> Result<String, GraphError> {
        let mut body = message.clone();
        body["messaging_product"] = Value::from("whatsapp");
        let url = format!("{}/{}/messages", self.base, self.phone_number_id);
        let answer = self
            .call(self.http.post(url).json(&body))
            .await?
            .json::<Value>()
            .await
            .map_err(|_| GraphError::Transient("unreadable answer".into()))?;
        answer
            .pointer("/messages/0/id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| GraphError::Transient("an accepted send without a message id".into()))
    }

    /// Downloads a media file a teacher sent: its metadata by id, then the bytes from the
    /// short-lived URL it gives (with the same bearer token). Returns the bytes and MIME type.
    ///
    /// # Errors
    ///
    /// [`GraphError`] per Meta's answer.
    pub async fn download_media(&self, media_id: &str) -> Result<(Vec<u8>, String), GraphError> {
        let meta: Value = self
            .call(self.http.get(format!("{}/{media_id}", self.base)))
            .await?
            .json()
            .await
            .map_err(|_| GraphError::Transient("unreadable media metadata".into()))?;
        let url = meta["url"]
            .as_str()
            .ok_or_else(|| GraphError::Rejected("media metadata without a url".into()))?;
        let mime = meta["mime_type"]
            .as_str()
            .unwrap_or("application/octet-stream")
            .to_string();
        let bytes = self
            .call(self.http.get(url))
            .await?
            .bytes()
            .await
            .map_err(|e| GraphError::Transient(without_url(&e)))?;
        Ok((bytes.to_vec(), mime))
    }

    /// Makes a request with the token; a non-2xx answer becomes a [`GraphError`].
    async fn call(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, GraphError> {
        let response = request
            .bearer_auth(&self.token)
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| GraphError::Transient(without_url(&e)))?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(response);
        }
        let body: Value = response.json().await.unwrap_or(Value::Null);
        Err(classify(status, &body))
    }
}

/// Meta's error envelope `{"error":{"message","code","error_data":{"details"}}}` → what to do.
#[must_use]
pub fn classify(status: u16, body: &Value) -> GraphError {
    let error = &body["error"];
    let code = error["code"].as_i64();
    let message = error["message"].as_str().unwrap_or("no message");
    let reason = match error.pointer("/error_data/details").and_then(Value::as_str) {
        Some(details) => format!("{message}: {details}"),
        None => message.to_string(),
    };
    match code {
        Some(0 | 190) => GraphError::Unauthorized(reason),
        _ if status == 401 => GraphError::Unauthorized(reason),
        Some(131_047) => GraphError::WindowClosed,
        Some(131_056) => GraphError::PairRate,
        Some(code @ (4 | 80_007 | 130_429)) => GraphError::RateLimited {
            code,
            wait: Duration::from_secs(1),
        },
        // The number is being moved to a higher throughput; Meta says about a minute.
        Some(code @ 131_057) => GraphError::RateLimited {
            code,
            wait: Duration::from_secs(60),
        },
        Some(131_026) => GraphError::Undeliverable(reason),
        Some(131_000 | 131_016 | 2) => GraphError::Transient(reason),
        _ if status >= 500 || status == 429 => GraphError::Transient(reason),
        _ if code.is_none() => GraphError::Transient(format!("HTTP {status} without an error")),
        _ => GraphError::Rejected(reason),
    }
}

/// A reqwest error's text without the URL (which holds nothing secret here, but keeps logs
/// short and alike).
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "<graph>");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(status: u16, code: i64, message: &str) -> GraphError {
        classify(
            status,
            &json!({"error": {"message": message, "type": "OAuthException", "code": code,
                "error_data": {"messaging_product": "whatsapp", "details": "d"}, "fbtrace_id": "x"}}),
        )
    }

    #[test]
    fn codes_map_to_what_the_dispatcher_does() {
        assert!(matches!(
            error(401, 190, "Error validating access token"),
            GraphError::Unauthorized(_)
        ));
        assert_eq!(
            error(400, 131_047, "(#131047) Re-engagement message"),
            GraphError::WindowClosed
        );
        assert_eq!(error(400, 131_056, "pair"), GraphError::PairRate);
        assert!(matches!(
            error(400, 130_429, "(#130429) Rate limit hit"),
            GraphError::RateLimited { code: 130_429, .. }
        ));
        assert!(matches!(
            error(400, 131_026, "(#131026) Message undeliverable"),
            GraphError::Undeliverable(_)
        ));
        assert!(matches!(
            error(500, 131_000, "(#131000) Something went wrong"),
            GraphError::Transient(_)
        ));
        assert!(matches!(
            error(400, 131_009, "(#131009) Parameter value is not valid"),
            GraphError::Rejected(r) if r.contains("131009") && r.ends_with(": d")
        ));
        assert!(matches!(
            classify(502, &Value::Null),
            GraphError::Transient(_)
        ));
    }
}
