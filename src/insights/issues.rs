//! Recurring issues: the logged questions of a period grouped into clusters, each described
//! the way a programme officer plans with it (how many asked, in which languages, samples in
//! the teachers' own words, how the questions ended, whether the knowledge base covers it),
//! the knowledge-base gaps among them, and the quiz items and lessons teachers struggle with.
//! Pure: the store reads the rows, this decides what they say.

use std::collections::{BTreeMap, BTreeSet};

use crate::knowledge::{KnowledgeBase, Written};
use crate::store::{AskedQuestion, LessonCount, QuizItemCount};

use super::cluster::{self, Covered, Item, SIGNATURE_VERSION, Signature};

/// The fewest questions a cluster needs to count as recurring.
pub const RECURRING: usize = 2;

/// How the questions of a cluster ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcomes {
    /// Answered from the knowledge base, no verdict yet.
    pub answered: usize,
    /// The teacher said the answer helped.
    pub helped: usize,
    /// The teacher said it did not help.
    pub not_helped: usize,
    /// Went to an expert.
    pub escalated: usize,
    /// Administrative, pointed elsewhere.
    pub out_of_scope: usize,
    /// Anything else.
    pub other: usize,
}

impl Outcomes {
    fn add(&mut self, outcome: &str) {
        match outcome {
            "answered" => self.answered += 1,
            "helped" => self.helped += 1,
            "not_helped" => self.not_helped += 1,
            "escalated" => self.escalated += 1,
            "out_of_scope" => self.out_of_scope += 1,
            _ => self.other += 1,
        }
    }

    /// The questions the knowledge base did not settle: sent to an expert, or answered with
    /// an article the teacher said did not help.
    #[must_use]
    pub fn unresolved(&self) -> usize {
        self.escalated + self.not_helped
    }
}

/// A question shown as a sample: the teacher's own words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The question's row id.
    pub id: i64,
    /// The words, at most [`SAMPLE_CHARS`] characters.
    pub text: String,
    /// How it is written.
    pub written: Written,
}

/// How many characters of a sample are shown.
pub const SAMPLE_CHARS: usize = 160;

/// One recurring issue: a cluster of similar questions.
#[derive(Clone, Debug, PartialEq)]
pub struct Issue {
    /// A stable name for the issue within this report: the smallest question id, `Q123`.
    pub key: String,
    /// Questions in the cluster.
    pub size: usize,
    /// Different teachers who asked.
    pub teachers: usize,
    /// Up to three questions closest to the cluster's centre, one per language first.
    pub samples: Vec<Sample>,
    /// Questions per way of writing.
    pub languages: Vec<(Written, usize)>,
    /// The most frequent topic.
    pub topic: Option<String>,
    /// Every topic, most first.
    pub topics: Vec<(String, usize)>,
    /// How they ended.
    pub outcomes: Outcomes,
    /// Mean rating of the experts' answers, and how many ratings.
    pub rating: Option<(f64, usize)>,
    /// The article that covers it, if any question matched one.
    pub article: Option<Covered>,
    /// The covering article's English title.
    pub article_title: Option<String>,
    /// Whether the bot answers most of these on its own.
    pub covered: bool,
    /// The member questions' row ids, ascending.
    pub question_ids: Vec<i64>,
    /// The askers' teacher ids, ascending, without repeats.
    pub teacher_ids: Vec<i64>,
}

impl Issue {
    /// Share of the questions the knowledge base did not settle, 0–1.
    #[must_use]
    #[allow(clippy::cast_precision_loss)] // sizes far below 2^52
    pub fn unresolved_share(&self) -> f64 {
        if self.size == 0 {
            0.0
        } else {
            self.outcomes.unresolved() as f64 / self.size as f64
        }
    }

    /// A one-line name: the covering article's title, else the first sample.
    #[must_use]
    pub fn label(&self) -> String {
        match (&self.article_title, self.samples.first()) {
            (Some(title), _) if self.covered => title.clone(),
            (_, Some(sample)) => sample.text.clone(),
            (Some(title), None) => title.clone(),
            (None, None) => self.key.clone(),
        }
    }
}

/// The signatures of `questions`: the logged one when it is current, else computed now with
/// `kb` (questions logged before signatures existed, or under an older version). Returns them
/// in order, and the newly computed ones as `(id, json)` for the store to keep.
#[must_use]
pub fn signatures(
    kb: &KnowledgeBase,
    questions: &[AskedQuestion],
) -> (Vec<Signature>, Vec<(i64, String)>) {
    let mut fresh = Vec::new();
    let signed = questions
        .iter()
        .map(|q| {
            let logged = q
                .signature
                .as_deref()
                .and_then(|json| serde_json::from_str::<Signature>(json).ok())
                .filter(|s| s.version == SIGNATURE_VERSION);
            logged.unwrap_or_else(|| {
                let signature = cluster::signature(kb, &q.body);
                if let Ok(json) = serde_json::to_string(&signature) {
                    fresh.push((q.id, json));
                }
                signature
            })
        })
        .collect();
    (signed, fresh)
}

fn clip(text: &str, chars: usize) -> String {
    let mut clipped: String = text.chars().take(chars).collect();
    if text.chars().nth(chars).is_some() {
        clipped.push('…');
    }
    clipped
}

/// The recurring issues among `questions` (signed by [`signatures`]): clusters of at least
/// [`RECURRING`] questions, biggest first.
#[must_use]
#[allow(clippy::cast_precision_loss)] // counts far below 2^52
pub fn issues(kb: &KnowledgeBase, questions: &[AskedQuestion], signed: &[Signature]) -> Vec<Issue> {
    let items: Vec<Item> = questions
        .iter()
        .zip(signed)
        .map(|(q, signature)| Item {
            id: q.id,
            text: q.body.clone(),
            written: Written::parse(&q.written).unwrap_or(Written::En),
            signature: signature.clone(),
        })
        .collect();
    let by_id: BTreeMap<i64, &AskedQuestion> = questions.iter().map(|q| (q.id, q)).collect();
    cluster::cluster(&items)
        .into_iter()
        .filter(|c| c.size >= RECURRING)
        .map(|c| {
            let members: Vec<&AskedQuestion> = c
                .ids
                .iter()
                .filter_map(|id| by_id.get(id).copied())
                .collect();
            let mut outcomes = Outcomes::default();
            let mut teachers = BTreeSet::new();
            let mut ratings = Vec::new();
            let mut rated_tickets = BTreeSet::new();
            for q in &members {
                outcomes.add(&q.outcome);
                teachers.insert(q.teacher_id);
                if let (Some(ticket), Some(rating)) = (&q.ticket, q.rating)
                    && rated_tickets.insert(ticket.clone())
                {
                    ratings.push(rating);
                }
            }
            let samples = c
                .samples
                .iter()
                .filter_map(|id| by_id.get(id))
                .map(|q| Sample {
                    id: q.id,
                    text: clip(&q.body, SAMPLE_CHARS),
                    written: Written::parse(&q.written).unwrap_or(Written::En),
                })
                .collect();
            let covered = c.is_answered();
            let article_title = c
                .article
                .as_ref()
                .and_then(|a| kb.article(&a.id))
                .map(|a| a.title.get(crate::language::Lang::En).to_string());
            Issue {
                key: format!("Q{}", c.ids[0]),
                size: c.size,
                teachers: teachers.len(),
                samples,
                languages: c.languages,
                topic: c.topic,
                topics: c.topics,
                outcomes,
                rating: (!ratings.is_empty()).then(|| {
                    (
                        ratings.iter().sum::<i64>() as f64 / ratings.len() as f64,
                        ratings.len(),
                    )
                }),
                article: c.article,
                article_title,
                covered,
                question_ids: c.ids,
                teacher_ids: teachers.into_iter().collect(),
            }
        })
        .collect()
}

/// The knowledge-base gaps: recurring issues the knowledge base does not settle (most of
/// their questions went to an expert or were answered unhelpfully, or no article covers
/// them), most unresolved questions first.
#[must_use]
pub fn gaps(issues: &[Issue]) -> Vec<&Issue> {
    let mut gaps: Vec<&Issue> = issues
        .iter()
        .filter(|i| !i.covered || i.unresolved_share() >= 0.5)
        .filter(|i| i.outcomes.unresolved() > 0)
        .collect();
    gaps.sort_by(|a, b| {
        b.outcomes
            .unresolved()
            .cmp(&a.outcomes.unresolved())
            .then(b.size.cmp(&a.size))
            .then(a.key.cmp(&b.key))
    });
    gaps
}

/// A quiz item teachers get wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct QuizItemLine {
    /// The module.
    pub module: String,
    /// The quiz question's id.
    pub question: String,
    /// Answers given.
    pub answers: i64,
    /// Wrong ones.
    pub wrong: i64,
    /// Share wrong, 0–1.
    pub wrong_share: f64,
    /// Teachers who answered it.
    pub teachers: i64,
}

/// The fewest answers a quiz item needs before its failure rate means something.
pub const QUIZ_MIN_ANSWERS: i64 = 3;

/// Quiz items most often failed: items with at least [`QUIZ_MIN_ANSWERS`] answers and at
/// least one wrong, highest share wrong first, at most `limit`.
#[must_use]
#[allow(clippy::cast_precision_loss)] // counts far below 2^52
pub fn hardest_quiz_items(counts: &[QuizItemCount], limit: usize) -> Vec<QuizItemLine> {
    let mut lines: Vec<QuizItemLine> = counts
        .iter()
        .filter(|c| c.answers >= QUIZ_MIN_ANSWERS && c.wrong > 0)
        .map(|c| QuizItemLine {
            module: c.module.clone(),
            question: c.question.clone(),
            answers: c.answers,
            wrong: c.wrong,
            wrong_share: c.wrong as f64 / c.answers as f64,
            teachers: c.teachers,
        })
        .collect();
    lines.sort_by(|a, b| {
        b.wrong_share
            .total_cmp(&a.wrong_share)
            .then(b.wrong.cmp(&a.wrong))
            .then(a.module.cmp(&b.module))
            .then(a.question.cmp(&b.question))
    });
    lines.truncate(limit);
    lines
}

/// A lesson teachers leave unfinished.
#[derive(Clone, Debug, PartialEq)]
pub struct LessonLine {
    /// The module.
    pub module: String,
    /// Started in the period.
    pub started: i64,
    /// Completed.
    pub completed: i64,
    /// Abandoned.
    pub abandoned: i64,
    /// Share abandoned, 0–1.
    pub abandoned_share: f64,
    /// Where most stopped: the furthest part they reached (1-based), of how many.
    pub stopped_at: Option<(i64, i64)>,
}

/// Lessons most often abandoned, highest share first, only those with an abandoned start.
#[must_use]
#[allow(clippy::cast_precision_loss)] // counts far below 2^52
pub fn abandoned_lessons(counts: &[LessonCount]) -> Vec<LessonLine> {
    let mut lines: Vec<LessonLine> = counts
        .iter()
        .filter(|c| c.abandoned > 0 && c.started > 0)
        .map(|c| LessonLine {
            module: c.module.clone(),
            started: c.started,
            completed: c.completed,
            abandoned: c.abandoned,
            abandoned_share: c.abandoned as f64 / c.started as f64,
            stopped_at: c.stopped_at.map(|(part, _)| (part, c.parts)),
        })
        .collect();
    lines.sort_by(|a, b| {
        b.abandoned_share
            .total_cmp(&a.abandoned_share)
            .then(b.abandoned.cmp(&a.abandoned))
            .then(a.module.cmp(&b.module))
    });
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quiz(question: &str, answers: i64, wrong: i64) -> QuizItemCount {
        QuizItemCount {
            module: "m".into(),
            question: question.into(),
            answers,
            wrong,
            teachers: answers,
        }
    }

    #[test]
    fn hardest_quiz_items_need_enough_answers() {
        let lines = hardest_quiz_items(
            &[
                quiz("q1", 10, 2),
                quiz("q2", 4, 3),
                quiz("q3", 2, 2),
                quiz("q4", 9, 0),
            ],
            10,
        );
        let order: Vec<&str> = lines.iter().map(|l| l.question.as_str()).collect();
        assert_eq!(order, ["q2", "q1"], "q3 has too few answers, q4 none wrong");
    }

    #[test]
    fn abandoned_lessons_say_where_teachers_stopped() {
        let lines = abandoned_lessons(&[
            LessonCount {
                module: "a".into(),
                parts: 5,
                started: 10,
                completed: 8,
                abandoned: 2,
                stopped_at: Some((3, 2)),
            },
            LessonCount {
                module: "b".into(),
                parts: 4,
                started: 4,
                completed: 1,
                abandoned: 3,
                stopped_at: Some((1, 2)),
            },
            LessonCount {
                module: "c".into(),
                parts: 4,
                started: 4,
                completed: 4,
                abandoned: 0,
                stopped_at: None,
            },
        ]);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].module, "b");
        assert_eq!(lines[0].stopped_at, Some((1, 4)), "the first part, of four");
    }

    #[test]
    fn outcomes_count_what_the_knowledge_base_did_not_settle() {
        let mut outcomes = Outcomes::default();
        for o in [
            "answered",
            "helped",
            "not_helped",
            "escalated",
            "escalated",
            "unclear",
        ] {
            outcomes.add(o);
        }
        assert_eq!(outcomes.unresolved(), 3);
        assert_eq!(outcomes.other, 1);
    }
}
