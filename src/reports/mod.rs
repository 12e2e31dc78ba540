//! The recurring-issues report, gathered: reads the store and the content for a period and
//! filters and hands the rows to the pure [`crate::insights`] functions. One report serves the
//! console's page, its CSV exports and `baithak report issues`, so all three show the same
//! figures. Owns only the gathering; what the figures mean is decided in `insights`.
//! [`tables`] turns a report into the tables the exports and the CLI print.

pub mod tables;

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use crate::content::Content;
use crate::dialogue::{Node, NodeRef};
use crate::insights::issues::{self, Issue, LessonLine, QuizItemLine};
use crate::insights::report::{self, HelpdeskFigures, TopicLine};
use crate::language::Lang;
use crate::store::{ReportFilter, Store, StoreError};

/// The most questions one report clusters; a longer period is cut to its first ones (said on
/// the page). Clustering 100,000 takes about two seconds on two cores.
pub const MAX_QUESTIONS: i64 = 200_000;

/// A lesson untouched this long, and not finished, counts as abandoned.
pub const ABANDONED_AFTER: Duration = Duration::days(7);

/// How many quiz items the report lists.
pub const QUIZ_ITEMS: usize = 15;

/// Everything the recurring-issues report shows.
#[derive(Clone, Debug)]
pub struct IssuesReport {
    /// The filter, with the period `[since, until)`.
    pub filter: ReportFilter,
    /// The previous period of the same length, `[since, until)`.
    pub previous: (DateTime<Utc>, DateTime<Utc>),
    /// Questions per topic with their trend.
    pub topics: Vec<TopicLine>,
    /// Recurring issues, biggest first.
    pub issues: Vec<Issue>,
    /// Questions analysed for the issues.
    pub questions: usize,
    /// Whether the period had more than [`MAX_QUESTIONS`].
    pub truncated: bool,
    /// Quiz items most often failed, with the question's words.
    pub quiz_items: Vec<(QuizItemLine, String)>,
    /// Lessons most often abandoned, with the module's title.
    pub lessons: Vec<(LessonLine, String)>,
    /// The helpdesk's figures.
    pub helpdesk: HelpdeskFigures,
}

impl IssuesReport {
    /// The knowledge-base gaps among the issues, most unresolved first.
    #[must_use]
    pub fn gaps(&self) -> Vec<&Issue> {
        issues::gaps(&self.issues)
    }

    /// The issue with `key` (`Q123`).
    #[must_use]
    pub fn issue(&self, key: &str) -> Option<&Issue> {
        self.issues.iter().find(|i| i.key == key)
    }
}

/// Midnight UTC of a `YYYY-MM-DD` date.
fn day(text: &str) -> Option<DateTime<Utc>> {
    let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?))
}

/// The period `[since, until)` of two `YYYY-MM-DD` dates, both whole days included; empty
/// `until` is today, empty `since` 30 days before `until`.
///
/// # Errors
///
/// A sentence saying what is wrong with the dates.
pub fn period(
    since: &str,
    until: &str,
    now: DateTime<Utc>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let until = match until.trim() {
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
    let since = match since.trim() {
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

/// Gathers the report for `filter` at `now`. Questions logged without a signature (before
/// signatures existed) get one computed now, and kept.
///
/// # Errors
///
/// [`StoreError::Database`].
pub async fn issues_report(
    store: &Store,
    content: Arc<Content>,
    filter: &ReportFilter,
    now: DateTime<Utc>,
) -> Result<IssuesReport, StoreError> {
    let length = filter.until - filter.since;
    let before = ReportFilter {
        since: filter.since - length,
        until: filter.since,
        ..filter.clone()
    };
    let topics = report::topic_lines(
        &store.topic_counts(filter).await?,
        &store.topic_counts(&before).await?,
    );
    let helpdesk = report::helpdesk_figures(&store.ticket_times(filter).await?);

    let mut asked = store.logged_questions(filter, MAX_QUESTIONS + 1).await?;
    let most = usize::try_from(MAX_QUESTIONS).unwrap_or(usize::MAX);
    let truncated = asked.len() > most;
    asked.truncate(most);
    let questions = asked.len();
    // Searching and clustering take seconds for a big period: off the async threads.
    let shared = Arc::clone(&content);
    let (found, fresh) = tokio::task::spawn_blocking(move || {
        let kb = &shared.knowledge;
        let (signed, fresh) = issues::signatures(kb, &asked);
        (issues::issues(kb, &asked, &signed), fresh)
    })
    .await
    .map_err(|err| {
        // Only a bug gets here; the page says "try again" and the log says why.
        tracing::error!(error = %err, "clustering stopped");
        StoreError::Unavailable
    })?;
    if !fresh.is_empty() {
        // Kept so the next report need not search again; a failure only costs time.
        if let Err(err) = store.set_signatures(&fresh).await {
            tracing::warn!(error = %err, questions = fresh.len(), "signatures not kept");
        }
    }

    let quiz_items = issues::hardest_quiz_items(&store.quiz_item_counts(filter).await?, QUIZ_ITEMS)
        .into_iter()
        .map(|line| {
            let words = quiz_words(&content, &line.module, &line.question);
            (line, words)
        })
        .collect();
    let lessons =
        issues::abandoned_lessons(&store.lesson_counts(filter, now - ABANDONED_AFTER).await?)
            .into_iter()
            .map(|line| {
                let title = module_title(&content, &line.module);
                (line, title)
            })
            .collect();

    Ok(IssuesReport {
        filter: filter.clone(),
        previous: (before.since, before.until),
        topics,
        questions,
        truncated,
        issues: found,
        quiz_items,
        lessons,
        helpdesk,
    })
}

/// The English words of a quiz question, or its id when the content no longer has it.
fn quiz_words(content: &Content, module: &str, question: &str) -> String {
    let at = NodeRef {
        tree: module.to_string(),
        node: question.to_string(),
    };
    match content.dialogues.node(&at) {
        Some(Node::Quiz { text, .. }) => text.get(Lang::En).to_string(),
        _ => question.to_string(),
    }
}

/// A module's English title, or its id.
fn module_title(content: &Content, module: &str) -> String {
    content
        .dialogues
        .trees
        .get(module)
        .and_then(|tree| tree.module.as_ref())
        .map_or_else(|| module.to_string(), |m| m.title.get(Lang::En).to_string())
}
