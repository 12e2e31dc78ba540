//! The report as named tables of text cells: what the CSV exports, `baithak report issues`
//! (as a terminal table, CSV or JSON) and the tests read, so every output shows the same
//! figures. Also the CSV encoding itself: UTF-8 with a byte-order mark (spreadsheet programs
//! then show Urdu and Bangla), and cells that a spreadsheet would run as a formula
//! neutralised.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::IssuesReport;
use crate::insights::report::readable;
use crate::store::TicketLine;

/// One table of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// Its file name without `.csv`: `topics`, `issues`, `gaps`, `quiz-items`, `lessons`,
    /// `helpdesk`, `tickets`.
    pub name: &'static str,
    /// Its heading.
    pub title: &'static str,
    /// Column names.
    pub header: Vec<&'static str>,
    /// Rows, each as long as the header.
    pub rows: Vec<Vec<String>>,
}

/// The names of the report's tables, in order (the tickets are exported apart).
pub const NAMES: [&str; 6] = [
    "topics",
    "issues",
    "gaps",
    "quiz-items",
    "lessons",
    "helpdesk",
];

fn pct(share: f64) -> String {
    format!("{:.1}", share * 100.0)
}

fn opt(value: Option<&str>) -> String {
    value.unwrap_or_default().to_string()
}

fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// Every table of `report`, in [`NAMES`] order.
#[must_use]
pub fn tables(report: &IssuesReport) -> Vec<Table> {
    let topics = Table {
        name: "topics",
        title: "Questions per topic",
        header: vec![
            "topic",
            "questions",
            "previous period",
            "change %",
            "answered from the knowledge base %",
            "to an expert %",
            "answers that did not help %",
        ],
        rows: report
            .topics
            .iter()
            .map(|l| {
                vec![
                    l.topic.clone(),
                    l.questions.to_string(),
                    l.previous.to_string(),
                    l.change.map_or_else(|| "new".into(), |c| format!("{c:.1}")),
                    pct(l.answered),
                    pct(l.escalated),
                    pct(l.not_helped),
                ]
            })
            .collect(),
    };
    let issue_header = vec![
        "issue",
        "label",
        "questions",
        "teachers",
        "languages",
        "topic",
        "helped",
        "answered",
        "not helped",
        "to an expert",
        "elsewhere",
        "unsettled %",
        "article",
        "article answers %",
        "covered",
        "expert answers rating",
        "samples",
    ];
    let issue_row = |i: &crate::insights::issues::Issue| {
        vec![
            i.key.clone(),
            i.label(),
            i.size.to_string(),
            i.teachers.to_string(),
            i.languages
                .iter()
                .map(|(w, n)| format!("{} {n}", w.code()))
                .collect::<Vec<_>>()
                .join(", "),
            opt(i.topic.as_deref()),
            i.outcomes.helped.to_string(),
            i.outcomes.answered.to_string(),
            i.outcomes.not_helped.to_string(),
            i.outcomes.escalated.to_string(),
            (i.outcomes.out_of_scope + i.outcomes.other).to_string(),
            pct(i.unresolved_share()),
            i.article.as_ref().map(|a| a.id.clone()).unwrap_or_default(),
            i.article
                .as_ref()
                .map(|a| pct(f64::from(a.answered)))
                .unwrap_or_default(),
            if i.covered { "yes" } else { "no" }.to_string(),
            i.rating
                .map(|(mean, n)| format!("{mean:.1} ({n})"))
                .unwrap_or_default(),
            i.samples
                .iter()
                .map(|s| s.text.clone())
                .collect::<Vec<_>>()
                .join(" | "),
        ]
    };
    let issues = Table {
        name: "issues",
        title: "Recurring issues",
        header: issue_header.clone(),
        rows: report.issues.iter().map(issue_row).collect(),
    };
    let gaps = Table {
        name: "gaps",
        title: "Knowledge-base gaps",
        header: issue_header,
        rows: report.gaps().into_iter().map(issue_row).collect(),
    };
    let quiz = Table {
        name: "quiz-items",
        title: "Quiz items most often failed",
        header: vec![
            "module",
            "question id",
            "question",
            "answers",
            "wrong",
            "wrong %",
            "teachers",
        ],
        rows: report
            .quiz_items
            .iter()
            .map(|(l, words)| {
                vec![
                    l.module.clone(),
                    l.question.clone(),
                    words.clone(),
                    l.answers.to_string(),
                    l.wrong.to_string(),
                    pct(l.wrong_share),
                    l.teachers.to_string(),
                ]
            })
            .collect(),
    };
    let lessons = Table {
        name: "lessons",
        title: "Lessons most often abandoned",
        header: vec![
            "module",
            "lesson",
            "started",
            "completed",
            "abandoned",
            "abandoned %",
            "most stopped at part",
            "parts",
        ],
        rows: report
            .lessons
            .iter()
            .map(|(l, title)| {
                vec![
                    l.module.clone(),
                    title.clone(),
                    l.started.to_string(),
                    l.completed.to_string(),
                    l.abandoned.to_string(),
                    pct(l.abandoned_share),
                    l.stopped_at.map(|(p, _)| p.to_string()).unwrap_or_default(),
                    l.stopped_at.map(|(_, n)| n.to_string()).unwrap_or_default(),
                ]
            })
            .collect(),
    };
    let h = &report.helpdesk;
    let helpdesk = Table {
        name: "helpdesk",
        title: "Helpdesk",
        header: vec!["figure", "value"],
        rows: vec![
            vec!["tickets opened".into(), h.tickets.to_string()],
            vec!["answered".into(), h.answered.to_string()],
            vec!["closed".into(), h.closed.to_string()],
            vec![
                "median first answer".into(),
                h.median_first_answer.map(readable).unwrap_or_default(),
            ],
            vec![
                "median resolution".into(),
                h.median_resolution.map(readable).unwrap_or_default(),
            ],
            vec![
                "SLA reminders or escalations".into(),
                h.breaches.to_string(),
            ],
            vec![
                "satisfaction (1-5)".into(),
                h.satisfaction
                    .map(|(m, _)| format!("{m:.2}"))
                    .unwrap_or_default(),
            ],
            vec![
                "ratings".into(),
                h.satisfaction
                    .map(|(_, n)| n.to_string())
                    .unwrap_or_default(),
            ],
        ],
    };
    vec![topics, issues, gaps, quiz, lessons, helpdesk]
}

/// The tickets of a period as a table.
#[must_use]
pub fn tickets(lines: &[TicketLine]) -> Table {
    Table {
        name: "tickets",
        title: "Tickets",
        header: vec![
            "ticket",
            "opened (UTC)",
            "status",
            "topic",
            "language",
            "district",
            "channel",
            "expert",
            "first answer (UTC)",
            "closed (UTC)",
            "SLA breached",
            "rating",
            "question",
        ],
        rows: lines
            .iter()
            .map(|t| {
                vec![
                    t.code.clone(),
                    time(t.created_at),
                    t.status.clone(),
                    opt(t.topic.as_deref()),
                    t.language.clone(),
                    opt(t.district.as_deref()),
                    t.channel.clone(),
                    opt(t.expert.as_deref()),
                    t.answered_at.map(time).unwrap_or_default(),
                    t.closed_at.map(time).unwrap_or_default(),
                    if t.breached { "yes" } else { "no" }.into(),
                    t.rating.map(|r| r.to_string()).unwrap_or_default(),
                    t.body.clone(),
                ]
            })
            .collect(),
    }
}

/// A cell a spreadsheet would take for a formula (`= + - @`, or a tab or carriage return
/// before one) gets a leading apostrophe, the OWASP advice against CSV injection. Numbers
/// we wrote ourselves, such as `-12.5`, stay numbers.
#[must_use]
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    let risky = cell
        .chars()
        .next()
        .is_some_and(|c| matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r'));
    if risky && cell.parse::<f64>().is_err() {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The UTF-8 byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// `table` as CSV: a byte-order mark, the header, the rows, every cell [`neutralise`]d.
#[must_use]
pub fn csv(table: &Table) -> Vec<u8> {
    let mut out = BOM.to_vec();
    let mut writer = csv::Writer::from_writer(&mut out);
    // Writing into a Vec cannot fail; a failure would only cut the export short.
    let _ = writer.write_record(&table.header);
    for row in &table.rows {
        let _ = writer.write_record(row.iter().map(|c| neutralise(c).into_owned()));
    }
    let _ = writer.flush();
    drop(writer);
    out
}

/// `tables` as one JSON object: each table's name → its rows as objects keyed by column.
#[must_use]
pub fn json(tables: &[Table]) -> Value {
    let mut all = Map::new();
    for table in tables {
        let rows = table
            .rows
            .iter()
            .map(|row| {
                Value::Object(
                    table
                        .header
                        .iter()
                        .zip(row)
                        .map(|(k, v)| ((*k).to_string(), Value::String(v.clone())))
                        .collect(),
                )
            })
            .collect();
        all.insert(table.name.to_string(), Value::Array(rows));
    }
    Value::Object(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_numbers_kept() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise("+92 300"), "'+92 300");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("-cmd"), "'-cmd");
        assert_eq!(neutralise("\t=1"), "'\t=1");
        assert_eq!(neutralise("-12.5"), "-12.5");
        assert_eq!(neutralise("میری کلاس"), "میری کلاس");
    }

    #[test]
    fn csv_starts_with_a_byte_order_mark_and_quotes_what_needs_it() {
        let table = Table {
            name: "t",
            title: "T",
            header: vec!["a", "b"],
            rows: vec![
                vec!["x, y".into(), "=1+1".into()],
                vec!["শোর".into(), "-3".into()],
            ],
        };
        let bytes = csv(&table);
        assert!(bytes.starts_with(BOM));
        let text = String::from_utf8(bytes[3..].to_vec()).expect("utf-8");
        assert_eq!(text, "a,b\n\"x, y\",'=1+1\nশোর,-3\n");
    }
}
