//! Staff accounts (admins only): the list, and adding an account with a one-time password
//! shown once.

use askama::Template;
use axum::response::Response;
use serde::Deserialize;

use super::{Console, ConsoleError, Posted, Staff, render};
use crate::staff::{Area, Role, hash_password, one_time_password};

/// A form with no fields but its token.
#[derive(Debug, Deserialize)]
pub struct Nothing {}

/// An account as the list shows it.
struct Row {
    name: String,
    role: String,
    disabled: bool,
}

/// `/console/accounts`.
#[derive(Template)]
#[template(path = "console/accounts.html")]
struct AccountsPage {
    staff: Staff,
    rows: Vec<Row>,
    roles: Vec<&'static str>,
    /// A just-created account's name and one-time password.
    created: Option<(String, String)>,
    error: Option<String>,
}

async fn page(
    state: &Console,
    staff: Staff,
    created: Option<(String, String)>,
    error: Option<String>,
) -> Result<Response, ConsoleError> {
    let rows = state
        .conversations
        .store()
        .staff_users()
        .await?
        .into_iter()
        .map(|u| Row {
            name: u.name,
            role: u.role,
            disabled: u.disabled_at.is_some(),
        })
        .collect();
    Ok(render(&AccountsPage {
        staff,
        rows,
        roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
        created,
        error,
    }))
}

/// `GET /console/accounts`.
///
/// # Errors
///
/// Sign-in, role, store.
pub async fn list(state: Console, staff: Staff) -> Result<Response, ConsoleError> {
    staff.require(Area::Accounts)?;
    page(&state, staff, None, None).await
}

/// The new-account form.
#[derive(Debug, Deserialize)]
pub struct NewAccount {
    name: String,
    role: String,
}

/// `POST /console/accounts`: adds an account and shows its one-time password once.
///
/// # Errors
///
/// Sign-in, role, form token, store.
pub async fn create(state: Console, posted: Posted<NewAccount>) -> Result<Response, ConsoleError> {
    let Posted { staff, form } = posted;
    staff.require(Area::Accounts)?;
    let name = form.name.trim().to_string();
    let Ok(role) = form.role.parse::<Role>() else {
        return page(
            &state,
            staff,
            None,
            Some(format!("Unknown role `{}`.", form.role)),
        )
        .await;
    };
    if let Err(why) = crate::staff::valid_account_name(&name) {
        return page(&state, staff, None, Some(why.to_string())).await;
    }
    let password = one_time_password();
    let to_hash = password.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(&to_hash))
        .await
        .map_err(|_| ConsoleError::Unavailable)?
        .map_err(|_| ConsoleError::Unavailable)?;
    let now = state.conversations.clock().now();
    let added = state
        .conversations
        .store()
        .add_staff_user(&name, role.as_str(), &hash, now)
        .await?;
    if added.is_none() {
        return page(
            &state,
            staff,
            None,
            Some(format!("An account `{name}` exists already.")),
        )
        .await;
    }
    tracing::info!(by = staff.user.id, role = %role, "console account added");
    let detail = format!("role {role}");
    super::audit::record(&state, &staff, "account.add", &name, &detail).await;
    page(&state, staff, Some((name, password)), None).await
}
