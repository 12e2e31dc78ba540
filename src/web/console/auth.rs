//! Signing in and out of the console: the sign-in page, password checks (Argon2id, off the
//! async threads), throttling of repeated failures per account name, and the session cookie.

use askama::Template;
use axum::Form;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{
    Console, ConsoleError, Posted, Staff, random_token, render, safe_next, session_cookie,
    token_hash,
};
use crate::staff::{Role, decoy_hash, password_matches};

/// The sign-in page.
#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    name: String,
    next: String,
    error: Option<String>,
}

/// `?next=` of the sign-in page.
#[derive(Deserialize)]
pub struct Next {
    #[serde(default)]
    next: String,
}

/// `GET /console/login`: the form, or the home page when already signed in.
pub async fn login_page(staff: Result<Staff, ConsoleError>, Query(next): Query<Next>) -> Response {
    if let Ok(staff) = staff {
        return Redirect::to(staff.role.home()).into_response();
    }
    render(&LoginPage {
        name: String::new(),
        next: if safe_next(&next.next) {
            next.next
        } else {
            String::new()
        },
        error: None,
    })
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct Credentials {
    name: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// `POST /console/login`: checks the password and starts a session.
///
/// # Errors
///
/// [`ConsoleError::Throttled`] after repeated failures for the name; store failures.
pub async fn login(
    state: Console,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Result<Response, ConsoleError> {
    let store = state.conversations.store();
    let clock = state.conversations.clock();
    let throttle = state.console.throttle;
    let name = form.name.trim().to_string();
    let subject = format!("name:{}", name.to_lowercase());
    let now = clock.now();
    let (failures, last) = store
        .login_failures(&subject, now - throttle.window)
        .await?;
    if let Some(until) = throttle.locked_until(failures, last, now) {
        tracing::warn!("console sign-in refused: too many failures for the account");
        return Err(ConsoleError::Throttled(until));
    }
    let user = store.staff_user(&name).await?;
    let hash = user
        .as_ref()
        .map_or_else(|| decoy_hash().to_string(), |u| u.password_hash.clone());
    let password = form.password;
    // Argon2id takes tens of milliseconds of CPU: not on the async threads.
    let matches = tokio::task::spawn_blocking(move || password_matches(&password, &hash))
        .await
        .unwrap_or(false);
    let user = user.filter(|u| matches && u.disabled_at.is_none());
    let Some((user, role)) = user.and_then(|u| u.role.parse::<Role>().ok().map(|r| (u, r))) else {
        store.record_login_failure(&[&subject], now).await?;
        tracing::info!("console sign-in failed");
        let page = LoginPage {
            name,
            next: form.next,
            error: Some("That name and password do not match an account.".into()),
        };
        return Ok((StatusCode::UNAUTHORIZED, render(&page)).into_response());
    };
    store
        .clear_login_failures(&subject, now - throttle.window)
        .await?;
    // Always a new token: a session id planted before sign-in is never promoted.
    let token = random_token();
    let rules = state.console.sessions;
    store
        .start_staff_session(
            &token_hash(&token),
            user.id,
            &random_token(),
            now,
            now + rules.lifetime,
        )
        .await?;
    tracing::info!(user = user.id, role = %role, "console sign-in");
    super::audit::record_as(&state, (user.id, &user.name), "sign_in", "", "").await;
    let to = if safe_next(&form.next) {
        form.next
    } else {
        role.home().to_string()
    };
    Ok((
        [(
            header::SET_COOKIE,
            session_cookie(Some(&token), rules.lifetime, super::over_https(&headers)),
        )],
        Redirect::to(&to),
    )
        .into_response())
}

/// `POST /console/logout`: ends the session and clears the cookie.
///
/// # Errors
///
/// Store failures.
pub async fn logout(
    state: Console,
    headers: HeaderMap,
    posted: Posted<super::accounts::Nothing>,
) -> Result<Response, ConsoleError> {
    let now = state.conversations.clock().now();
    state
        .conversations
        .store()
        .end_staff_session(&posted.staff.token_hash, now)
        .await?;
    tracing::info!(user = posted.staff.user.id, "console sign-out");
    super::audit::record(&state, &posted.staff, "sign_out", "", "").await;
    Ok((
        [(
            header::SET_COOKIE,
            session_cookie(None, chrono::Duration::zero(), super::over_https(&headers)),
        )],
        Redirect::to("/console/login"),
    )
        .into_response())
}
