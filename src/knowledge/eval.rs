//! The labelled question set (`knowledge-base/eval/questions.yaml`) and how well search does on
//! it: top-1 topic accuracy and answer hit rate per language, and whether any administrative
//! question was answered as pedagogy. Pure.
//!
//! Each question also carries a `cluster` label (the specific problem, shared by paraphrases in
//! every language); [`crate::insights::eval`] measures the grouping of similar questions
//! against it.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::KnowledgeBase;
use super::article::Written;
use crate::diagnostic::{Diagnostic, Pos};
use crate::dialogue::SourceFile;

/// The topic of questions that must be routed to an office, never answered as teaching advice.
pub const ADMIN_TOPIC: &str = "admin-non-cpd";

/// One labelled question.
#[derive(Clone, Debug)]
pub struct Labelled {
    /// What the teacher typed.
    pub question: String,
    /// How it is written.
    pub written: Written,
    /// The expected topic.
    pub topic: String,
    /// The expected article, when one fits.
    pub article: Option<String>,
    /// The specific problem (kebab-case): paraphrases in any language share it.
    pub cluster: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    q: String,
    lang: Spanned<String>,
    topic: Spanned<String>,
    #[serde(default)]
    article: Option<Spanned<String>>,
    cluster: Spanned<String>,
}

/// Parses the question set, checking languages, topics and article ids.
pub fn parse(
    file: &SourceFile,
    topics: &HashSet<String>,
    kb: &KnowledgeBase,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Labelled> {
    let raw: Vec<Raw> = match serde_saphyr::from_str(&file.source) {
        Ok(raw) => raw,
        Err(err) => {
            let at = err
                .location()
                .map_or(Pos::new(1, 1), |l| Pos::new(l.line(), l.column()));
            diagnostics.push(Diagnostic::error(
                &file.path,
                at,
                format!(
                    "YAML: {}",
                    err.without_snippet()
                        .to_string()
                        .lines()
                        .next()
                        .unwrap_or("")
                ),
            ));
            return Vec::new();
        }
    };
    let pos = |s: &serde_saphyr::Location| Pos::new(s.line(), s.column());
    let mut out = Vec::new();
    for item in raw {
        let Some(written) = Written::parse(&item.lang.value) else {
            diagnostics.push(Diagnostic::error(
                &file.path,
                pos(&item.lang.referenced),
                format!("unknown lang `{}` (en, ur, roman_ur, bn)", item.lang.value),
            ));
            continue;
        };
        if !topics.contains(&item.topic.value) {
            diagnostics.push(Diagnostic::error(
                &file.path,
                pos(&item.topic.referenced),
                format!("unknown topic `{}`", item.topic.value),
            ));
            continue;
        }
        if let Some(article) = &item.article
            && kb.article(&article.value).is_none()
        {
            diagnostics.push(Diagnostic::error(
                &file.path,
                pos(&article.referenced),
                format!("no article `{}`", article.value),
            ));
            continue;
        }
        if !is_kebab_case(&item.cluster.value) {
            diagnostics.push(Diagnostic::error(
                &file.path,
                pos(&item.cluster.referenced),
                format!(
                    "cluster `{}` is not a kebab-case id (lowercase letters, digits, single dashes)",
                    item.cluster.value
                ),
            ));
            continue;
        }
        out.push(Labelled {
            question: item.q,
            written,
            topic: item.topic.value,
            article: item.article.map(|a| a.value),
            cluster: item.cluster.value,
        });
    }
    out
}

/// `noisy-class`, `salary-not-paid`: lowercase ASCII letters and digits in dash-separated parts.
fn is_kebab_case(id: &str) -> bool {
    !id.is_empty()
        && id.split('-').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// Figures for one language (or all).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    /// Questions.
    pub questions: usize,
    /// Top-1 topic right.
    pub topic_right: usize,
    /// Questions with an expected article.
    pub with_article: usize,
    /// Answered on their own with the expected article.
    pub answered_right: usize,
    /// The expected article ranked first (answered or not).
    pub top1: usize,
    /// The expected article among the top three (answered or not).
    pub in_top3: usize,
    /// Answered on their own with another article.
    pub answered_wrong: usize,
    /// Not answered (escalated to a person).
    pub escalated: usize,
}

impl Figures {
    /// Topic accuracy, 0–1.
    #[must_use]
    pub fn topic_accuracy(&self) -> f64 {
        ratio(self.topic_right, self.questions)
    }

    /// Answer hit rate, 0–1: of the questions that have an article, answered with it.
    #[must_use]
    pub fn hit_rate(&self) -> f64 {
        ratio(self.answered_right, self.with_article)
    }

    fn add(&mut self, other: &Figures) {
        self.questions += other.questions;
        self.topic_right += other.topic_right;
        self.with_article += other.with_article;
        self.answered_right += other.answered_right;
        self.top1 += other.top1;
        self.in_top3 += other.in_top3;
        self.answered_wrong += other.answered_wrong;
        self.escalated += other.escalated;
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        #[allow(clippy::cast_precision_loss)] // counts are small
        let r = a as f64 / b as f64;
        r
    }
}

/// One question the search got wrong, for the report.
#[derive(Clone, Debug)]
pub struct Miss {
    /// The question.
    pub question: Labelled,
    /// The topic found.
    pub topic: Option<String>,
    /// The article answered with, if any.
    pub answered: Option<String>,
    /// The best article, answered or not.
    pub best: Option<String>,
}

/// The whole evaluation.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Per way of writing.
    pub by_language: BTreeMap<Written, Figures>,
    /// Administrative questions answered with a pedagogy article (must be none).
    pub admin_as_pedagogy: Vec<Labelled>,
    /// Questions whose topic or answer was wrong.
    pub misses: Vec<Miss>,
}

impl Report {
    /// All languages together.
    #[must_use]
    pub fn total(&self) -> Figures {
        let mut total = Figures::default();
        for figures in self.by_language.values() {
            total.add(figures);
        }
        total
    }
}

/// Runs every question through search and the answer decision.
#[must_use]
pub fn evaluate(kb: &KnowledgeBase, questions: &[Labelled]) -> Report {
    let mut report = Report::default();
    for labelled in questions {
        let found = kb.search(&labelled.question, 3);
        let answered = kb.answer(&found).map(|a| a.id.clone());
        let best = found
            .hits
            .first()
            .map(|h| kb.index.articles[h.article].id.clone());
        let figures = report.by_language.entry(labelled.written).or_default();
        figures.questions += 1;
        let topic_right = found.topic.as_deref() == Some(labelled.topic.as_str());
        figures.topic_right += usize::from(topic_right);
        let mut answer_right = true;
        if let Some(expected) = &labelled.article {
            figures.with_article += 1;
            answer_right = answered.as_deref() == Some(expected.as_str());
            figures.answered_right += usize::from(answer_right);
            figures.top1 += usize::from(best.as_deref() == Some(expected.as_str()));
            figures.in_top3 += usize::from(
                found
                    .hits
                    .iter()
                    .any(|h| kb.index.articles[h.article].id == *expected),
            );
        }
        match &answered {
            Some(id) if Some(id) != labelled.article.as_ref() => figures.answered_wrong += 1,
            None => figures.escalated += 1,
            _ => {}
        }
        if labelled.topic == ADMIN_TOPIC
            && let Some(id) = &answered
            && kb.article(id).is_some_and(|a| a.topic() != ADMIN_TOPIC)
        {
            report.admin_as_pedagogy.push(labelled.clone());
        }
        if !topic_right || !answer_right {
            report.misses.push(Miss {
                question: labelled.clone(),
                topic: found.topic.clone(),
                answered,
                best,
            });
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_source(source: &str) -> (Vec<Labelled>, Vec<String>) {
        let file = SourceFile {
            path: "questions.yaml".into(),
            source: source.to_string(),
        };
        let topics: HashSet<String> = ["behaviour-management".to_string()].into();
        let mut diagnostics = Vec::new();
        let questions = parse(&file, &topics, &KnowledgeBase::default(), &mut diagnostics);
        (
            questions,
            diagnostics.iter().map(ToString::to_string).collect(),
        )
    }

    #[test]
    fn a_question_carries_its_cluster_label() {
        let (questions, diagnostics) = parse_source(
            "- q: noise problem\n  lang: en\n  topic: behaviour-management\n  cluster: noisy-class\n",
        );

        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(questions[0].cluster, "noisy-class");
    }

    #[test]
    fn a_missing_cluster_is_an_error_with_its_position() {
        let (questions, diagnostics) =
            parse_source("- q: noise problem\n  lang: en\n  topic: behaviour-management\n");

        assert!(questions.is_empty());
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert!(
            diagnostics[0].starts_with("questions.yaml:3:3: error: YAML: missing field `cluster`"),
            "{diagnostics:?}"
        );
    }

    #[test]
    fn a_cluster_that_is_not_kebab_case_is_located_at_its_value() {
        let (questions, diagnostics) = parse_source(
            "- q: noise problem\n  lang: en\n  topic: behaviour-management\n  cluster: Noisy Class\n",
        );

        assert!(questions.is_empty());
        assert_eq!(
            diagnostics,
            [
                "questions.yaml:4:12: error: cluster `Noisy Class` is not a kebab-case id (lowercase letters, digits, single dashes)"
            ]
        );
    }

    #[test]
    fn kebab_case_ids() {
        for good in ["noisy-class", "a", "grade-3-reading"] {
            assert!(is_kebab_case(good), "{good}");
        }
        for bad in ["", "-a", "a-", "a--b", "Noisy", "a_b", "a b", "شور"] {
            assert!(!is_kebab_case(bad), "{bad}");
        }
    }
}
