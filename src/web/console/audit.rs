//! The console's audit log: [`record`] is called by handlers when staff see or change
//! something that touches teachers or accounts (a ticket and its transcript, a CSV export, a
//! broadcast started, an account added, signing in and out); `/console/audit` (admins only)
//! lists the latest entries, filtered by account and action. Entries name ids and codes only:
//! never a phone number or a teacher's words.

use askama::Template;
use axum::extract::Query;
use axum::response::Response;
use serde::Deserialize;

use super::{Console, ConsoleError, Staff, render};
use crate::staff::Area;
use crate::store::{AuditEntry, AuditFilter};

/// How many entries the page shows.
const SHOWN: i64 = 200;

/// Records that `staff` did `action` on `target`; a failure is logged and does not stop the
/// request (the page the staff member asked for is theirs to see).
pub async fn record(state: &Console, staff: &Staff, action: &str, target: &str, detail: &str) {
    record_as(
        state,
        (staff.user.id, &staff.user.name),
        action,
        target,
        detail,
    )
    .await;
}

/// [`record`] for an account known by id and name (signing in, before a session exists).
pub async fn record_as(
    state: &Console,
    staff: (i64, &str),
    action: &str,
    target: &str,
    detail: &str,
) {
    let now = state.conversations.clock().now();
    if let Err(err) = state
        .conversations
        .store()
        .audit(staff, action, target, detail, now)
        .await
    {
        tracing::warn!(error = %err, user = staff.0, action, "audit entry not written");
    }
}

/// The page's filters.
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    staff: String,
    #[serde(default)]
    action: String,
}

/// `/console/audit`.
#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    staff: Staff,
    entries: Vec<AuditEntry>,
    accounts: Vec<String>,
    actions: Vec<String>,
    filter: AuditFilter,
}

/// `GET /console/audit` (admins only).
///
/// # Errors
///
/// Sign-in, role, store.
pub async fn page(
    state: Console,
    staff: Staff,
    filters: Result<Query<Filters>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ConsoleError> {
    staff.require(Area::Accounts)?;
    let filters = filters.map(|Query(f)| f).unwrap_or_default();
    let filter = AuditFilter {
        staff: filters.staff.trim().to_string(),
        action: filters.action.trim().to_string(),
    };
    let store = state.conversations.store();
    let entries = store.audit_entries(&filter, SHOWN).await?;
    let (accounts, actions) = store.audit_choices().await?;
    Ok(render(&AuditPage {
        staff,
        entries,
        accounts,
        actions,
        filter,
    }))
}
