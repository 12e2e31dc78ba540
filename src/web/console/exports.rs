//! CSV exports of the recurring-issues report and of the tickets
//! (`/console/insights/export/{table}.csv`), with the page's period and filters: the same
//! figures as `/console/insights` and `baithak report issues`, as UTF-8 with a byte-order
//! mark and formula-like cells neutralised ([`crate::reports::tables::csv`]).

use axum::Router;
use axum::extract::{Path, Query};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::insights::{Filters, period, report_filter};
use super::{Console, ConsoleError, Staff};
use crate::reports::{self, tables};
use crate::staff::Area;
use crate::web::AppState;

/// The export routes, merged into the console's.
pub fn routes() -> Router<AppState> {
    Router::new().route("/console/insights/export/{file}", get(export))
}

/// `GET /console/insights/export/{table}.csv`: one table of the report, or `tickets.csv`.
///
/// # Errors
///
/// Sign-in, role, an unknown table (404), dates, store.
pub async fn export(
    state: Console,
    staff: Staff,
    Path(file): Path<String>,
    Query(filters): Query<Filters>,
) -> Result<Response, ConsoleError> {
    staff.require(Area::Insights)?;
    let name = file
        .strip_suffix(".csv")
        .filter(|n| *n == "tickets" || tables::NAMES.contains(n))
        .ok_or(ConsoleError::NotFound)?;
    let now = state.conversations.clock().now();
    let (since, until) = period(&filters, now).map_err(ConsoleError::BadRequest)?;
    let filter = report_filter(&filters, since, until);
    let period = format!("{}..{}", since.format("%Y-%m-%d"), until.format("%Y-%m-%d"));
    super::audit::record(&state, &staff, "export.csv", name, &period).await;
    let store = state.conversations.store();
    let table = if name == "tickets" {
        tables::tickets(&store.ticket_lines(&filter).await?)
    } else {
        let content = state.conversations.content().get();
        let report = reports::issues_report(store, content, &filter, now).await?;
        tables::tables(&report)
            .into_iter()
            .find(|t| t.name == name)
            .ok_or(ConsoleError::NotFound)?
    };
    let filename = format!(
        "baithak-{name}-{}-{}.csv",
        since.format("%Y%m%d"),
        (until - chrono::Duration::days(1)).format("%Y%m%d")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
        ],
        tables::csv(&table),
    )
        .into_response())
}
