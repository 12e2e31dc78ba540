//! Recurring issues for programme staff (`/console/insights`): questions per topic for a
//! period and filters, with the trend against the previous period of the same length, how they
//! were resolved, and the helpdesk's figures. Bars are inline SVG drawn by the template (no
//! fonts needed: the browser renders Urdu and Bangla labels as text beside them).

use askama::Template;
use axum::extract::Query;
use axum::response::Response;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde::Deserialize;

use super::{Console, ConsoleError, Staff, render};
use crate::insights::report::{self, HelpdeskFigures, TopicLine};
use crate::staff::Area;
use crate::store::ReportFilter;

/// The report's filters, as the form sends them (empty: any; dates as `YYYY-MM-DD`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    district: String,
    #[serde(default)]
    grade: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    channel: String,
}

/// A topic line as drawn: the bar's width in the SVG's units.
struct Bar {
    line: TopicLine,
    width: u32,
    previous_width: u32,
    change: String,
    answered: String,
    escalated: String,
}

/// `/console/insights`.
#[derive(Template)]
#[template(path = "console/insights.html")]
struct InsightsPage {
    staff: Staff,
    filters: Filters,
    since: String,
    until: String,
    previous: String,
    bars: Vec<Bar>,
    total: i64,
    previous_total: i64,
    helpdesk: HelpdeskFigures,
    first_answer: String,
    resolution: String,
    satisfaction: String,
    districts: Vec<String>,
}

/// Midnight UTC of a `YYYY-MM-DD` date.
fn day(text: &str) -> Option<DateTime<Utc>> {
    let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?))
}

/// The period asked for: `[since, until)`, the 30 days up to and including today by default;
/// dates are whole days, `until` included.
///
/// # Errors
///
/// A sentence saying what is wrong with the dates.
pub fn period(
    filters: &Filters,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let until = match filters.until.trim() {
        // Today, whole: up to midnight tonight.
        "" => {
            Utc.from_utc_datetime(&now.date_naive().and_hms_opt(0, 0, 0).unwrap_or_default())
                + Duration::days(1)
        }
        text => {
            day(text).ok_or_else(|| format!("`{text}` is not a date (YYYY-MM-DD)."))?
                + Duration::days(1)
        }
    };
    let since = match filters.since.trim() {
        "" => until - Duration::days(30),
        text => day(text).ok_or_else(|| format!("`{text}` is not a date (YYYY-MM-DD)."))?,
    };
    if since >= until {
        return Err("The period ends before it starts.".into());
    }
    if until - since > Duration::days(3 * 366) {
        return Err("Choose a period of at most three years.".into());
    }
    Ok((since, until))
}

/// The store's filter for `[since, until)` and the form's choices.
#[must_use]
pub fn report_filter(
    filters: &Filters,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> ReportFilter {
    ReportFilter {
        since,
        until,
        district: filters.district.trim().to_string(),
        grade: filters.grade.trim().to_string(),
        subject: filters.subject.trim().to_string(),
        role: filters.role.trim().to_string(),
        language: filters.language.trim().to_string(),
        channel: filters.channel.trim().to_string(),
    }
}

fn percent(share: f64) -> String {
    format!("{:.0} %", share * 100.0)
}

/// `GET /console/insights`.
///
/// # Errors
///
/// Sign-in, role, dates, store.
pub async fn page(
    state: Console,
    staff: Staff,
    Query(filters): Query<Filters>,
) -> Result<Response, ConsoleError> {
    staff.require(Area::Insights)?;
    let store = state.conversations.store();
    let now = state.conversations.clock().now();
    let (since, until) = period(&filters, now).map_err(ConsoleError::BadRequest)?;
    let length = until - since;
    let current = report_filter(&filters, since, until);
    let before = report_filter(&filters, since - length, since);
    let lines = report::topic_lines(
        &store.topic_counts(&current).await?,
        &store.topic_counts(&before).await?,
    );
    let helpdesk = report::helpdesk_figures(&store.ticket_times(&current).await?);
    let most = lines
        .iter()
        .map(|l| l.questions.max(l.previous))
        .max()
        .unwrap_or(1)
        .max(1);
    let width = |n: i64| u32::try_from(n * 300 / most).unwrap_or(300);
    let bars = lines
        .into_iter()
        .map(|line| Bar {
            width: width(line.questions),
            previous_width: width(line.previous),
            change: line
                .change
                .map_or_else(|| "new".to_string(), |c| format!("{c:+.0} %")),
            answered: percent(line.answered),
            escalated: percent(line.escalated),
            line,
        })
        .collect::<Vec<_>>();
    let day_before = |t: DateTime<Utc>| (t - Duration::days(1)).format("%Y-%m-%d").to_string();
    let page = InsightsPage {
        since: since.format("%Y-%m-%d").to_string(),
        until: day_before(until),
        previous: format!(
            "{} – {}",
            (since - length).format("%Y-%m-%d"),
            day_before(since)
        ),
        total: bars.iter().map(|b| b.line.questions).sum(),
        previous_total: bars.iter().map(|b| b.line.previous).sum(),
        first_answer: helpdesk
            .median_first_answer
            .map_or_else(|| "–".to_string(), report::readable),
        resolution: helpdesk
            .median_resolution
            .map_or_else(|| "–".to_string(), report::readable),
        satisfaction: helpdesk.satisfaction.map_or_else(
            || "–".to_string(),
            |(mean, n)| format!("{mean:.1} / 5 ({n} ratings)"),
        ),
        helpdesk,
        bars,
        districts: store.districts().await?,
        filters,
        staff,
    };
    Ok(render(&page))
}
