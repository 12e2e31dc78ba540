//! Recurring issues for programme staff (`/console/insights`): questions per topic for a
//! period and filters, with the trend against the previous period of the same length, how they
//! were resolved, the recurring issues (clusters of similar questions in any language) and
//! the knowledge-base gaps among them, the quiz items and lessons teachers struggle with, and
//! the helpdesk's figures, all from one [`crate::reports::IssuesReport`]. Bars are inline SVG drawn by the template (no
//! fonts needed: the browser renders Urdu and Bangla labels as text beside them).

use askama::Template;
use axum::extract::Query;
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::{Console, ConsoleError, Staff, render};
use crate::insights::issues::{Issue, LessonLine, QuizItemLine};
use crate::insights::report::{self, HelpdeskFigures, TopicLine};
use crate::reports;
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

impl Filters {
    /// The filters as a query string, for links that keep them (exports, plans).
    #[must_use]
    pub fn query(&self) -> String {
        serde_urlencoded::to_string([
            ("since", &self.since),
            ("until", &self.until),
            ("district", &self.district),
            ("grade", &self.grade),
            ("subject", &self.subject),
            ("role", &self.role),
            ("language", &self.language),
            ("channel", &self.channel),
        ])
        .unwrap_or_default()
    }
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

/// One segment of an issue's outcome bar.
struct Segment {
    x: u32,
    width: u32,
    colour: &'static str,
    name: &'static str,
    count: usize,
}

/// A recurring issue as drawn.
struct IssueView {
    issue: Issue,
    label: String,
    languages: String,
    segments: Vec<Segment>,
    unresolved: String,
    coverage: String,
    rating: String,
}

/// `/console/insights`.
#[derive(Template)]
#[template(path = "console/insights.html")]
struct InsightsPage {
    staff: Staff,
    filters: Filters,
    query: String,
    since: String,
    until: String,
    previous: String,
    bars: Vec<Bar>,
    total: i64,
    previous_total: i64,
    issues: Vec<IssueView>,
    more_issues: usize,
    gaps: Vec<IssueView>,
    analysed: usize,
    truncated: bool,
    quiz_items: Vec<(QuizItemLine, String, String)>,
    lessons: Vec<(LessonLine, String, String)>,
    helpdesk: HelpdeskFigures,
    first_answer: String,
    resolution: String,
    satisfaction: String,
    districts: Vec<String>,
}

/// How many recurring issues the page lists (the CSV has them all).
const ISSUES_SHOWN: usize = 20;

/// How many knowledge-base gaps the page lists.
const GAPS_SHOWN: usize = 10;

/// The width of the outcome bars, in the SVG's units.
const OUTCOME_WIDTH: u32 = 200;

fn issue_view(issue: &Issue) -> IssueView {
    let o = &issue.outcomes;
    let parts = [
        ("helped", o.helped, "#0b6e4f"),
        ("answered", o.answered, "#7fbf9f"),
        ("not helped", o.not_helped, "#e0a458"),
        ("to an expert", o.escalated, "#a33a00"),
        ("elsewhere", o.out_of_scope + o.other, "#c9d6e2"),
    ];
    let total = parts.iter().map(|p| p.1).sum::<usize>().max(1);
    let mut x = 0;
    let segments = parts
        .into_iter()
        .filter(|p| p.1 > 0)
        .map(|(name, count, colour)| {
            let width = u32::try_from(count * OUTCOME_WIDTH as usize / total).unwrap_or(0);
            let segment = Segment {
                x,
                width,
                colour,
                name,
                count,
            };
            x += width;
            segment
        })
        .collect();
    let languages = issue
        .languages
        .iter()
        .map(|(w, n)| format!("{} {n}", w.code()))
        .collect::<Vec<_>>()
        .join(" · ");
    let coverage = match (&issue.article, &issue.article_title) {
        (Some(a), Some(title)) if issue.covered => {
            format!(
                "Covered: “{title}” answers {}",
                percent(f64::from(a.answered))
            )
        }
        (Some(a), Some(title)) => format!(
            "Weak: “{title}” matches, but answers only {}",
            percent(f64::from(a.answered))
        ),
        _ => "Not covered by any article".to_string(),
    };
    IssueView {
        label: issue.label(),
        languages,
        segments,
        unresolved: percent(issue.unresolved_share()),
        coverage,
        rating: issue
            .rating
            .map_or_else(String::new, |(mean, n)| format!("{mean:.1} / 5 ({n})")),
        issue: issue.clone(),
    }
}

/// The period asked for: `[since, until)`, see [`reports::period`].
///
/// # Errors
///
/// A sentence saying what is wrong with the dates.
pub fn period(
    filters: &Filters,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    reports::period(&filters.since, &filters.until, now)
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
    let filter = report_filter(&filters, since, until);
    let content = state.conversations.content().get();
    let report = reports::issues_report(store, content, &filter, now).await?;
    let most = report
        .topics
        .iter()
        .map(|l| l.questions.max(l.previous))
        .max()
        .unwrap_or(1)
        .max(1);
    let width = |n: i64| u32::try_from(n * 300 / most).unwrap_or(300);
    let bars = report
        .topics
        .iter()
        .cloned()
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
    let helpdesk = report.helpdesk.clone();
    let (before_since, before_until) = report.previous;
    let page = InsightsPage {
        query: filters.query(),
        since: since.format("%Y-%m-%d").to_string(),
        until: day_before(until),
        previous: format!(
            "{} – {}",
            before_since.format("%Y-%m-%d"),
            day_before(before_until)
        ),
        total: bars.iter().map(|b| b.line.questions).sum(),
        previous_total: bars.iter().map(|b| b.line.previous).sum(),
        issues: report
            .issues
            .iter()
            .take(ISSUES_SHOWN)
            .map(issue_view)
            .collect(),
        more_issues: report.issues.len().saturating_sub(ISSUES_SHOWN),
        gaps: report
            .gaps()
            .into_iter()
            .take(GAPS_SHOWN)
            .map(issue_view)
            .collect(),
        analysed: report.questions,
        truncated: report.truncated,
        quiz_items: report
            .quiz_items
            .iter()
            .map(|(line, words)| (line.clone(), words.clone(), percent(line.wrong_share)))
            .collect(),
        lessons: report
            .lessons
            .iter()
            .map(|(line, title)| (line.clone(), title.clone(), percent(line.abandoned_share)))
            .collect(),
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
