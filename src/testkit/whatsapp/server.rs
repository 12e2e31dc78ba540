//! HTTP: the Graph API endpoints the fake serves, and media downloads.
//!
//! | route | answer |
//! |---|---|
//! | `POST /{version}/{phone_number_id}/messages` | send or mark as read (`outbound`, `validate`) |
//! | `GET /{version}/{media_id}` | media metadata with a download URL valid 5 minutes (fixture `wa_resp_media_url.json`) |
//! | `GET /{version}/{phone_number_id}` | the number's profile |
//! | `GET /whatsapp_business/attachments/?mid=…&ext=…&hash=…` | the media bytes |
//!
//! `{version}` is any `v<digits>.<digits>` (Graph answers every version it serves, and
//! unversioned paths too). Every call needs the access token as `Authorization: Bearer …` (or
//! `access_token=` in the query) → else 401 with code 190; downloads too. Every request is
//! logged first, with the status it got. Faults are applied after authentication.
//!
//! The listener wraps each connection so a handler can cut it (faults `Drop`, `LoseResponse`):
//! the response write then fails and hyper closes the socket without sending a byte.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::control::Shared;
use super::error::{GraphError, json_response};
use super::inbound::MEDIA_ID_TTL_DAYS;
use super::records::{Fault, Request};
use super::validate;
use crate::testkit::cuttable::{ConnHandle, CuttableListener};

/// How long a media download URL works (platform facts §2.6: "temporary (~5 min)").
const MEDIA_URL_TTL_MINUTES: i64 = 5;

/// Serves the fake until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let app = Router::new()
        .fallback(graph)
        .with_state(shared)
        .into_make_service_with_connect_info::<ConnHandle>();
    if let Err(error) = axum::serve(CuttableListener(listener), app).await {
        tracing::warn!(error = %error, "fake whatsapp server stopped");
    }
}

/// What a request is for, once the path is parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Endpoint {
    Messages { phone_number_id: String },
    Node { id: String },
    Download,
    Unknown,
}

impl Endpoint {
    fn parse(method: &Method, path: &str) -> Endpoint {
        if path.trim_end_matches('/') == "/whatsapp_business/attachments" {
            return if method == Method::GET {
                Endpoint::Download
            } else {
                Endpoint::Unknown
            };
        }
        let mut segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if segments.first().is_some_and(|first| is_version(first)) {
            segments.remove(0);
        }
        match (method, segments.as_slice()) {
            (&Method::POST, [id, "messages"]) => Endpoint::Messages {
                phone_number_id: (*id).to_owned(),
            },
            (&Method::GET, [id]) => Endpoint::Node {
                id: (*id).to_owned(),
            },
            _ => Endpoint::Unknown,
        }
    }

    /// The name `fail_next` matches.
    fn name(&self) -> &'static str {
        match self {
            Endpoint::Messages { .. } => "messages",
            Endpoint::Node { .. } => "media",
            Endpoint::Download => "download",
            Endpoint::Unknown => "unknown",
        }
    }
}

/// `v23.0` and the like.
fn is_version(segment: &str) -> bool {
    segment.strip_prefix('v').is_some_and(|rest| {
        rest.split_once('.').is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major.bytes().all(|b| b.is_ascii_digit())
                && minor.bytes().all(|b| b.is_ascii_digit())
        })
    })
}

/// The token of the request: `Authorization: Bearer …` or `?access_token=…`.
fn bearer(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth"))
                .then(|| token.trim().to_owned())
        });
    from_header.or_else(|| query_param(uri, "access_token"))
}

fn query_param(uri: &Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| value.to_owned())
    })
}

async fn graph(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(connection): ConnectInfo<ConnHandle>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let json_body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let token = bearer(&headers, &uri);
    let (log_index, auth) = shared.mutate(|state| {
        let auth = match token.as_deref() {
            Some(token) if token == state.token && state.token_expired => {
                Err(GraphError::token_expired())
            }
            Some(token) if token == state.token => Ok(()),
            _ => Err(GraphError::invalid_token()),
        };
        let index = state.log_request(Request {
            method: method.to_string(),
            path: path.clone(),
            body: json_body.clone(),
            authorized: auth.is_ok(),
            status: None,
            at: state.now(),
        });
        (index, auth)
    });
    let response = match auth {
        Err(error) => error.into_response(),
        Ok(()) => {
            let endpoint = Endpoint::parse(&method, &path);
            let to = match endpoint {
                Endpoint::Messages { .. } => validate::recipient(&json_body)
                    .ok()
                    .map(|recipient| recipient.address),
                _ => None,
            };
            let fault =
                shared.mutate(|state| state.take_fault(endpoint.name(), &path, to.as_deref()));
            match fault {
                None => handle(&shared, &endpoint, &uri, &json_body),
                Some(Fault::Delay { millis }) => {
                    tokio::time::sleep(Duration::from_millis(millis)).await;
                    handle(&shared, &endpoint, &uri, &json_body)
                }
                Some(Fault::Drop) => {
                    connection.cut();
                    // Never written: the log keeps no status for it.
                    return StatusCode::OK.into_response();
                }
                Some(Fault::LoseResponse) => {
                    let response = handle(&shared, &endpoint, &uri, &json_body);
                    connection.cut();
                    return response;
                }
                Some(Fault::Api {
                    http_status,
                    code,
                    title,
                    message,
                }) => {
                    let mut error = GraphError::whatsapp(code, &title, Some(&message));
                    error.http_status = http_status;
                    error.into_response()
                }
                Some(Fault::Raw { http_status, body }) => json_response(
                    StatusCode::from_u16(http_status).unwrap_or(StatusCode::BAD_REQUEST),
                    &body,
                ),
                Some(Fault::Http5xx { status, json }) => {
                    let status =
                        StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                    if json {
                        GraphError::transient(status.as_u16()).into_response()
                    } else {
                        let text = format!(
                            "{} {}",
                            status.as_u16(),
                            status.canonical_reason().unwrap_or("Error")
                        );
                        (status, [(header::CONTENT_TYPE, "text/html")], text).into_response()
                    }
                }
            }
        }
    };
    let status = response.status().as_u16();
    shared.mutate(|state| state.set_request_status(log_index, status));
    response
}

/// An authenticated call without faults.
fn handle(shared: &Shared, endpoint: &Endpoint, uri: &Uri, body: &Value) -> Response {
    match endpoint {
        Endpoint::Messages { phone_number_id } => {
            let result = shared.mutate(|state| {
                if *phone_number_id != state.settings.business.phone_number_id {
                    return Err(GraphError::unknown_object("post", phone_number_id));
                }
                state.handle_send(body)
            });
            match result {
                Ok(answer) => json_response(StatusCode::OK, &answer),
                Err(error) => error.into_response(),
            }
        }
        Endpoint::Node { id } => match shared.mutate(|state| node(state, id)) {
            Ok(answer) => json_response(StatusCode::OK, &answer),
            Err(error) => error.into_response(),
        },
        Endpoint::Download => download(shared, uri),
        Endpoint::Unknown => GraphError::unknown_path(uri.path()).into_response(),
    }
}

/// `GET /{version}/{id}`: a media id (metadata with a fresh 5-minute URL) or the phone number.
fn node(state: &mut super::state::State, id: &str) -> Result<Value, GraphError> {
    let now = state.now();
    if id == state.settings.business.phone_number_id {
        return Ok(json!({
            "verified_name": "Baithak Helpdesk",
            "display_phone_number": state.settings.business.display_phone_number,
            "quality_rating": "GREEN",
            "platform_type": "CLOUD_API",
            "id": id,
        }));
    }
    let media = state
        .media
        .get(id)
        .filter(|media| media.created + chrono::Duration::days(MEDIA_ID_TTL_DAYS) > now)
        .cloned()
        .ok_or_else(|| GraphError::unknown_object("get", id))?;
    let url = state.media_url(id, now + chrono::Duration::minutes(MEDIA_URL_TTL_MINUTES));
    Ok(json!({
        "messaging_product": "whatsapp",
        "url": url,
        "mime_type": media.mime_type,
        "sha256": media.sha256,
        "file_size": media.bytes.len().to_string(),
        "id": id,
    }))
}

/// `GET /whatsapp_business/attachments/?mid=…&ext=…&hash=…` (after authentication): the bytes,
/// or 404 for an unknown or expired URL (the real host's answer to those is not documented).
fn download(shared: &Shared, uri: &Uri) -> Response {
    let hash = query_param(uri, "hash").unwrap_or_default();
    let mid = query_param(uri, "mid").unwrap_or_default();
    let found = {
        let state = shared.lock();
        let now = state.now();
        state
            .media_urls
            .get(&hash)
            .filter(|url| url.media_id == mid && url.expires > now)
            .and_then(|url| state.media.get(&url.media_id))
            .cloned()
    };
    match found {
        Some(media) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, media.mime_type)],
            media.bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "Not Found").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_paths_parse_like_graph() {
        assert!(is_version("v23.0"));
        assert!(is_version("v26.1"));
        assert!(!is_version("23.0"));
        assert!(!is_version("v23"));
        assert_eq!(
            Endpoint::parse(&Method::POST, "/v23.0/123/messages"),
            Endpoint::Messages {
                phone_number_id: "123".to_owned()
            }
        );
        assert_eq!(
            Endpoint::parse(&Method::POST, "/123/messages"),
            Endpoint::Messages {
                phone_number_id: "123".to_owned()
            }
        );
        assert_eq!(
            Endpoint::parse(&Method::GET, "/v19.0/987"),
            Endpoint::Node {
                id: "987".to_owned()
            }
        );
        assert_eq!(
            Endpoint::parse(&Method::GET, "/whatsapp_business/attachments/"),
            Endpoint::Download
        );
        assert_eq!(
            Endpoint::parse(&Method::GET, "/v23.0/1/2/3"),
            Endpoint::Unknown
        );
    }
}
