//! The Bot API's error reply: `{"ok":false,"error_code":N,"description":"…","parameters":{…}}`,
//! HTTP status = `error_code`, and a `Retry-After` header on 429 (tdlib `Query::set_error`,
//! `Query::set_retry_after_error`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A failed Bot API call, exactly as the real server words it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub code: u16,
    pub description: String,
    pub retry_after: Option<u64>,
    pub migrate_to_chat_id: Option<i64>,
}

impl ApiError {
    fn new(code: u16, description: String) -> ApiError {
        ApiError {
            code,
            description,
            retry_after: None,
            migrate_to_chat_id: None,
        }
    }

    /// 400 `Bad Request: {message}`.
    pub fn bad_request(message: impl AsRef<str>) -> ApiError {
        ApiError::new(400, format!("Bad Request: {}", message.as_ref()))
    }

    /// 403 `Forbidden: {message}`.
    pub fn forbidden(message: impl AsRef<str>) -> ApiError {
        ApiError::new(403, format!("Forbidden: {}", message.as_ref()))
    }

    /// 409 `Conflict: {message}`.
    pub fn conflict(message: impl AsRef<str>) -> ApiError {
        ApiError::new(409, format!("Conflict: {}", message.as_ref()))
    }

    /// 429 `Too Many Requests: retry after N` with `parameters.retry_after`.
    pub fn too_many_requests(retry_after: u64) -> ApiError {
        let mut error = ApiError::new(429, format!("Too Many Requests: retry after {retry_after}"));
        error.retry_after = Some(retry_after);
        error
    }

    /// Any code with a description given in full (fault injection).
    pub fn raw(code: u16, description: impl Into<String>) -> ApiError {
        ApiError::new(code, description.into())
    }

    /// 401 for a well-formed token that is not the bot's.
    pub fn unauthorized() -> ApiError {
        ApiError::new(401, "Unauthorized".to_owned())
    }

    /// 401 for a token that cannot be a bot token at all.
    pub fn invalid_token() -> ApiError {
        ApiError::new(401, "Unauthorized: invalid token specified".to_owned())
    }

    /// 404 for a path that is not `/bot<token>/<method>`.
    pub fn not_found() -> ApiError {
        ApiError::new(404, "Not Found".to_owned())
    }

    /// 404 for a method the server does not know.
    pub fn method_not_found() -> ApiError {
        ApiError::new(404, "Not Found: method not found".to_owned())
    }

    /// `chat not found`, the most common 400.
    pub fn chat_not_found() -> ApiError {
        ApiError::bad_request("chat not found")
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "ok": false,
            "error_code": self.code,
            "description": self.description,
        });
        let mut parameters = serde_json::Map::new();
        if let Some(seconds) = self.retry_after {
            parameters.insert("retry_after".into(), json!(seconds));
        }
        if let Some(chat_id) = self.migrate_to_chat_id {
            parameters.insert("migrate_to_chat_id".into(), json!(chat_id));
        }
        if !parameters.is_empty() {
            body["parameters"] = Value::Object(parameters);
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = (status, axum::Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A successful call: `{"ok":true,"result":…}` plus the optional `description` that
/// setWebhook/deleteWebhook carry ("Webhook was set").
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub result: Value,
    pub description: Option<&'static str>,
}

impl Reply {
    pub fn new(result: Value) -> Reply {
        Reply {
            result,
            description: None,
        }
    }

    pub fn with_description(result: Value, description: &'static str) -> Reply {
        Reply {
            result,
            description: Some(description),
        }
    }

    pub fn body(&self) -> Value {
        let mut body = json!({ "ok": true, "result": self.result });
        if let Some(description) = self.description {
            body["description"] = json!(description);
        }
        body
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        axum::Json(self.body()).into_response()
    }
}
