//! The recurring-issues report, assembled from counts the store read: questions per topic with
//! the trend against the previous period of the same length, how they were resolved, and the
//! helpdesk's figures (first answer and resolution times, SLA breaches, satisfaction). Pure.

use chrono::Duration;

use crate::store::{TicketTimes, TopicCount};

/// One topic's line of the report.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicLine {
    /// The topic id (`—` when none was detected).
    pub topic: String,
    /// Questions in the period.
    pub questions: i64,
    /// Questions in the previous period.
    pub previous: i64,
    /// Change against the previous period, in percent (`None`: nothing before).
    pub change: Option<f64>,
    /// Share answered from the knowledge base, 0–1.
    pub answered: f64,
    /// Share that went to an expert, 0–1.
    pub escalated: f64,
    /// Share of knowledge-base answers the teacher said did not help, 0–1.
    pub not_helped: f64,
}

/// The helpdesk's figures for the tickets of a period.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HelpdeskFigures {
    /// Tickets opened.
    pub tickets: usize,
    /// Answered at least once.
    pub answered: usize,
    /// Closed.
    pub closed: usize,
    /// Median time to the first answer.
    pub median_first_answer: Option<Duration>,
    /// Median time to closing.
    pub median_resolution: Option<Duration>,
    /// Reminded or escalated by the SLA watch.
    pub breaches: usize,
    /// Mean rating, 1–5, and how many ratings.
    pub satisfaction: Option<(f64, usize)>,
}

#[allow(clippy::cast_precision_loss)] // counts far below 2^52
fn share(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Topic lines, most asked first; topics asked only in the previous period come last with 0.
#[must_use]
#[allow(clippy::cast_precision_loss)] // counts far below 2^52
pub fn topic_lines(current: &[TopicCount], previous: &[TopicCount]) -> Vec<TopicLine> {
    let name = |t: &TopicCount| t.topic.clone().unwrap_or_else(|| "—".to_string());
    let before = |topic: &str| {
        previous
            .iter()
            .find(|p| name(p) == topic)
            .map_or(0, |p| p.questions)
    };
    let mut lines: Vec<TopicLine> = current
        .iter()
        .map(|c| {
            let topic = name(c);
            let prev = before(&topic);
            TopicLine {
                change: (prev > 0).then(|| (c.questions - prev) as f64 * 100.0 / prev as f64),
                previous: prev,
                questions: c.questions,
                answered: share(c.answered, c.questions),
                escalated: share(c.escalated, c.questions),
                not_helped: share(c.not_helped, c.answered + c.not_helped),
                topic,
            }
        })
        .collect();
    for p in previous {
        let topic = name(p);
        if !lines.iter().any(|l| l.topic == topic) {
            lines.push(TopicLine {
                topic,
                questions: 0,
                previous: p.questions,
                change: Some(-100.0),
                answered: 0.0,
                escalated: 0.0,
                not_helped: 0.0,
            });
        }
    }
    lines.sort_by(|a, b| b.questions.cmp(&a.questions).then(a.topic.cmp(&b.topic)));
    lines
}

fn median(mut values: Vec<Duration>) -> Option<Duration> {
    values.sort();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2),
    }
}

/// The helpdesk's figures for `tickets`.
#[must_use]
#[allow(clippy::cast_precision_loss)] // counts far below 2^52
pub fn helpdesk_figures(tickets: &[TicketTimes]) -> HelpdeskFigures {
    let answered: Vec<Duration> = tickets
        .iter()
        .filter_map(|t| t.answered_at.map(|a| a - t.created_at))
        .collect();
    let closed: Vec<Duration> = tickets
        .iter()
        .filter_map(|t| t.closed_at.map(|c| c - t.created_at))
        .collect();
    let ratings: Vec<i64> = tickets.iter().filter_map(|t| t.rating).collect();
    HelpdeskFigures {
        tickets: tickets.len(),
        answered: answered.len(),
        closed: closed.len(),
        median_first_answer: median(answered),
        median_resolution: median(closed),
        breaches: tickets.iter().filter(|t| t.breached).count(),
        satisfaction: (!ratings.is_empty()).then(|| {
            (
                ratings.iter().sum::<i64>() as f64 / ratings.len() as f64,
                ratings.len(),
            )
        }),
    }
}

/// A duration as a planner reads it: `45 min`, `3.5 h`, `2.1 days`.
#[must_use]
#[allow(clippy::cast_precision_loss)] // minutes far below 2^52
pub fn readable(d: Duration) -> String {
    let minutes = d.num_minutes();
    if minutes < 90 {
        format!("{minutes} min")
    } else if minutes < 48 * 60 {
        format!("{:.1} h", minutes as f64 / 60.0)
    } else {
        format!("{:.1} days", minutes as f64 / 1440.0)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn count(topic: &str, questions: i64, answered: i64, escalated: i64) -> TopicCount {
        TopicCount {
            topic: Some(topic.into()),
            questions,
            answered,
            helped: 0,
            not_helped: 0,
            escalated,
        }
    }

    #[test]
    fn trends_compare_with_the_previous_period() {
        let now = [
            count("assessment", 12, 9, 3),
            count("behaviour-management", 5, 5, 0),
        ];
        let before = [count("assessment", 8, 8, 0), count("inclusion", 4, 4, 0)];
        let lines = topic_lines(&now, &before);
        assert_eq!(lines[0].topic, "assessment");
        assert_eq!(lines[0].change, Some(50.0));
        assert!((lines[0].escalated - 0.25).abs() < 1e-9);
        assert_eq!(lines[1].change, None, "nothing before");
        assert_eq!(lines[2].topic, "inclusion");
        assert_eq!(lines[2].change, Some(-100.0));
    }

    #[test]
    fn helpdesk_figures_take_medians_and_means() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
        let ticket = |answer_min: Option<i64>, rating| TicketTimes {
            created_at: t0,
            answered_at: answer_min.map(|m| t0 + Duration::minutes(m)),
            closed_at: None,
            breached: answer_min.is_none(),
            rating,
        };
        let figures = helpdesk_figures(&[
            ticket(Some(30), Some(5)),
            ticket(Some(90), Some(4)),
            ticket(Some(600), None),
            ticket(None, None),
        ]);
        assert_eq!(figures.tickets, 4);
        assert_eq!(figures.answered, 3);
        assert_eq!(figures.median_first_answer, Some(Duration::minutes(90)));
        assert_eq!(figures.breaches, 1);
        assert_eq!(figures.satisfaction, Some((4.5, 2)));
        assert_eq!(readable(Duration::minutes(90)), "1.5 h");
    }
}
