//! The web console for experts and programme staff: sessions, the cross-site checks, the role
//! check of every page, the error pages, and the routes. Server-rendered HTML from askama
//! templates (`templates/console/`, checked at compile time and escaped by default), no
//! JavaScript. No SQL and no business rules here: handlers call the store's read methods,
//! [`crate::staff`] for who may do what, and the conversation service for anything that
//! reaches a teacher.
//!
//! **Sessions.** Signing in sets one cookie, `baithak_session`: a random 256-bit token
//! (`HttpOnly`, `SameSite=Lax`, `Path=/console`, `Secure` when the request came over HTTPS,
//! directly or through a proxy's `X-Forwarded-Proto`). The database keeps only the token's
//! SHA-256, the session's form token, and its times; a session ends at sign-out, after
//! [`crate::staff::SessionRules`]'s lifetime or idle limit, or when the account is disabled.
//!
//! **Cross-site requests.** Every state-changing request must (1) not come from another site,
//! by the browser's `Sec-Fetch-Site` or else `Origin` header (the check of Go's
//! `CrossOriginProtection`), and (2) carry the session's form token ([`Posted`]); the cookie's
//! `SameSite=Lax` is a third wall. GET requests never change anything.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod broadcasts;
pub mod calendar;
pub mod canned;
pub mod exports;
pub mod insights;
pub mod plans;
pub mod practices;
pub mod tickets;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::AppState;
use crate::staff::{Area, Role, SessionRules, Throttle};
use crate::store::{StaffUser, StoreError};

/// The session cookie's name.
pub const COOKIE: &str = "baithak_session";

/// How the console treats sessions and sign-ins.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConsoleSettings {
    /// Session lifetimes.
    pub sessions: SessionRules,
    /// Failed sign-ins allowed per account name.
    pub throttle: Throttle,
}

/// The console's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(home))
        .route("/console/", get(home))
        .route("/console/login", get(auth::login_page).post(auth::login))
        .route("/console/logout", post(auth::logout))
        .route("/console/insights", get(insights::page))
        .route("/console/tickets", get(tickets::queue))
        .route("/console/tickets/{code}", get(tickets::ticket))
        .route("/console/tickets/{code}/{action}", post(tickets::act))
        .route("/console/tickets/{code}/files/{number}", get(tickets::file))
        .route("/console/audit", get(audit::page))
        .route(
            "/console/accounts",
            get(accounts::list).post(accounts::create),
        )
        .merge(canned::routes())
        .merge(exports::routes())
        .merge(plans::routes())
        .merge(practices::routes())
        .merge(broadcasts::routes())
        .merge(calendar::routes())
        .layer(middleware::from_fn(same_site_only))
}

/// `/console`: the signed-in user's home, else the sign-in page.
async fn home(staff: Result<Staff, ConsoleError>) -> Response {
    match staff {
        Ok(staff) => Redirect::to(staff.role.home()).into_response(),
        Err(_) => Redirect::to("/console/login").into_response(),
    }
}

/// Someone signed in, from the session cookie: what every console page starts with.
#[derive(Clone, Debug)]
pub struct Staff {
    /// The account.
    pub user: StaffUser,
    /// Its role.
    pub role: Role,
    /// The session's form token.
    pub csrf: String,
    /// The SHA-256 of the session's token.
    token_hash: String,
}

impl Staff {
    /// `Ok` when this role may open `area`, else the 403 page.
    ///
    /// # Errors
    ///
    /// [`ConsoleError::Forbidden`].
    pub fn require(&self, area: Area) -> Result<(), ConsoleError> {
        if self.role.may_open(area) {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden)
        }
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Staff, ConsoleError> {
        let sign_in = || ConsoleError::SignIn {
            next: next_of(parts.method == Method::GET, parts.uri.path_and_query()),
        };
        let token = session_token(&parts.headers).ok_or_else(sign_in)?;
        let token_hash = token_hash(&token);
        let store = state.conversations.store();
        let now = state.conversations.clock().now();
        let session = store
            .staff_session(&token_hash)
            .await?
            .ok_or_else(sign_in)?;
        let rules = state.console.sessions;
        let role = session.user.role.parse::<Role>();
        let alive = rules.alive(session.expires_at, session.last_seen_at, now)
            && session.user.disabled_at.is_none();
        let Ok(role) = role
            .map_err(drop)
            .and_then(|r| alive.then_some(r).ok_or(()))
        else {
            store.end_staff_session(&token_hash, now).await?;
            return Err(sign_in());
        };
        if rules.worth_touching(session.last_seen_at, now) {
            store.touch_staff_session(&token_hash, now).await?;
        }
        Ok(Staff {
            user: session.user,
            role,
            csrf: session.csrf,
            token_hash,
        })
    }
}

/// Where to return after signing in: the page asked for, when it is a console page read with
/// GET (never another site: a `next` that is not a plain console path is dropped).
fn next_of(get: bool, path: Option<&axum::http::uri::PathAndQuery>) -> String {
    path.filter(|_| get)
        .map(axum::http::uri::PathAndQuery::as_str)
        .filter(|p| safe_next(p))
        .unwrap_or("")
        .to_string()
}

/// A path the sign-in may send the browser back to: a console page on this site.
#[must_use]
pub fn safe_next(path: &str) -> bool {
    path.starts_with("/console/")
        && !path.starts_with("/console/login")
        && !path.contains("//")
        && !path.contains('\\')
}

/// The session cookie's token, when the request has one.
fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty())
}

/// The hex SHA-256 of a session token, as the database keeps it.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh random token (256 bits, hex).
fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Whether the request reached us over HTTPS (directly, or through a proxy that says so).
fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value for a session token (`None`: clears it).
fn session_cookie(token: Option<&str>, max_age: chrono::Duration, secure: bool) -> String {
    let mut cookie = cookie::Cookie::build((COOKIE, token.unwrap_or("").to_string()))
        .path("/console")
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(secure);
    cookie = match token {
        Some(_) => cookie.max_age(cookie::time::Duration::seconds(max_age.num_seconds())),
        None => cookie.max_age(cookie::time::Duration::ZERO),
    };
    cookie.build().to_string()
}

/// Refuses state-changing requests that a browser says come from another site.
async fn same_site_only(request: Request, next: Next) -> Response {
    let unsafe_method = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if unsafe_method && from_another_site(request.headers()) {
        tracing::warn!(path = %request.uri().path(), "cross-site console request refused");
        return ConsoleError::Csrf.into_response();
    }
    next.run(request).await
}

/// The browser's word on where a request comes from: `Sec-Fetch-Site` when sent (every
/// current browser), else `Origin` against `Host`. Neither: not a browser form, let through
/// (the form token still has to match).
fn from_another_site(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return !matches!(site, "same-origin" | "none");
    }
    match (text("origin"), text("host")) {
        (Some(origin), Some(host)) => {
            let bare = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            bare != Some(host)
        }
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// A console form posted by someone signed in, with the session's form token checked: every
/// state-changing console route takes one of these, so none can forget the check.
#[derive(Debug)]
pub struct Posted<T> {
    /// Who posted it.
    pub staff: Staff,
    /// The form's fields.
    pub form: T,
}

#[derive(Deserialize)]
struct Token {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for Posted<T> {
    type Rejection = ConsoleError;

    async fn from_request(request: Request, state: &AppState) -> Result<Posted<T>, ConsoleError> {
        let (mut parts, body) = request.into_parts();
        let staff = Staff::from_request_parts(&mut parts, state).await?;
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|_| ConsoleError::BadRequest("The form could not be read.".into()))?;
        let token: Token = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| ConsoleError::BadRequest("The form could not be read.".into()))?;
        if !bool::from(token.csrf.as_bytes().ct_eq(staff.csrf.as_bytes())) {
            tracing::warn!(
                user = staff.user.id,
                "console form without its session's token"
            );
            return Err(ConsoleError::Csrf);
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|err| {
            ConsoleError::BadRequest(format!("The form is incomplete or wrong: {err}."))
        })?;
        Ok(Posted { staff, form })
    }
}

/// Why a console request did not get its page; each becomes the page the browser sees.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// Not signed in (or the session ended): to the sign-in page, then back to `next`.
    #[error("sign in first")]
    SignIn {
        /// The page to return to (empty: the role's home).
        next: String,
    },
    /// Signed in, but this role may not open the page.
    #[error("not allowed for this role")]
    Forbidden,
    /// A form from another site, or without the session's form token.
    #[error("cross-site or stale form")]
    Csrf,
    /// No such thing.
    #[error("not found")]
    NotFound,
    /// The request itself is wrong; the text says how.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Someone else acted first; the text says what happened.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Too many failed sign-ins; try again after this time.
    #[error("too many failed sign-ins")]
    Throttled(DateTime<Utc>),
    /// The database failed (logged where it happened).
    #[error("store unavailable")]
    Unavailable,
}

impl From<StoreError> for ConsoleError {
    fn from(err: StoreError) -> ConsoleError {
        match err {
            StoreError::NotFound => ConsoleError::NotFound,
            err => {
                tracing::error!(error = %err, "console request failed in the store");
                ConsoleError::Unavailable
            }
        }
    }
}

/// A page that only says something: errors, confirmations.
#[derive(Template)]
#[template(path = "console/message.html")]
pub struct MessagePage {
    /// The page's title.
    pub title: String,
    /// What happened.
    pub text: String,
    /// Where to go from here `(href, label)`.
    pub link: (String, String),
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, title, text, link) = match &self {
            ConsoleError::SignIn { next } => {
                let to = if next.is_empty() {
                    "/console/login".to_string()
                } else {
                    format!("/console/login?next={}", urlencode(next))
                };
                return Redirect::to(&to).into_response();
            }
            ConsoleError::Forbidden => (
                StatusCode::FORBIDDEN,
                "Not for your role",
                "Your account's role does not open this page. Ask an admin if you need it."
                    .to_string(),
                ("/console", "Back to the console"),
            ),
            ConsoleError::Csrf => (
                StatusCode::FORBIDDEN,
                "Form refused",
                "This form came from another site or an old page, so nothing was changed. \
                 Open the page again and retry."
                    .to_string(),
                ("/console", "Back to the console"),
            ),
            ConsoleError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here.".to_string(),
                ("/console", "Back to the console"),
            ),
            ConsoleError::BadRequest(text) => (
                StatusCode::BAD_REQUEST,
                "Not understood",
                text.clone(),
                ("/console", "Back to the console"),
            ),
            ConsoleError::Conflict(text) => (
                StatusCode::CONFLICT,
                "Someone was quicker",
                text.clone(),
                ("/console", "Back to the console"),
            ),
            ConsoleError::Throttled(until) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed sign-ins",
                format!(
                    "Signing in to this account is paused after repeated failures. Try again \
                     after {} UTC.",
                    until.format("%H:%M")
                ),
                ("/console/login", "Back to sign-in"),
            ),
            ConsoleError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "The console cannot reach its database just now. Nothing was changed.".to_string(),
                ("/console", "Back to the console"),
            ),
        };
        let page = MessagePage {
            title: title.to_string(),
            text,
            link: (link.0.to_string(), link.1.to_string()),
        };
        (status, render(&page)).into_response()
    }
}

/// Renders a page; a template that fails at run time (it cannot fail to compile) is a 500.
pub fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "console page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "page failed to render").into_response()
        }
    }
}

/// Percent-encodes a query value.
fn urlencode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_string())
        .unwrap_or_default()
}

/// The state the console handlers read: shortcut for their signatures.
type Console = State<AppState>;
