//! From answer to knowledge: a new article drafted from an answered ticket, so that questions
//! that keep coming back grow the knowledge base. Pure: `baithak kb draft` reads the ticket and
//! writes the file.
//!
//! The draft has the teacher's question as its example, the expert's answer as its body and
//! `draft: true`, so `baithak check` checks it and the bot never serves it. A person rewrites it
//! in our own words, adds English and Urdu, and removes the mark.

use crate::language::Lang;

use super::Written;

/// What a draft is made from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source<'a> {
    /// The ticket's number (`HD-…`).
    pub ticket: &'a str,
    /// Its topic, if one was detected or set by an expert.
    pub topic: Option<&'a str>,
    /// The language the teacher chatted in (the answer's language).
    pub lang: Lang,
    /// The question as typed.
    pub question: &'a str,
    /// How the question was written (Roman Urdu is an example language of its own).
    pub written: Written,
    /// The expert's answers, in order.
    pub answers: Vec<&'a str>,
    /// Who answered, for the provenance note.
    pub expert: Option<&'a str>,
    /// The teacher's rating of the answer, 1–5.
    pub rating: Option<i64>,
}

/// The article's id (and file name without `.md`) for a ticket: `draft-hd-abc234`.
#[must_use]
pub fn id_for(ticket: &str) -> String {
    format!("draft-{}", ticket.to_lowercase())
}

/// The Markdown of the draft.
#[must_use]
pub fn render(source: &Source<'_>) -> String {
    // JSON strings are valid YAML double-quoted scalars: any quote, colon or newline a teacher
    // typed is escaped correctly.
    let quoted = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let lang = source.lang.code();
    let title: String = source
        .question
        .split_whitespace()
        .take(10)
        .collect::<Vec<_>>()
        .join(" ");
    let topics = source
        .topic
        .map(|t| format!("[{t}]"))
        .unwrap_or_else(|| "[]".into());
    let answer = if source.answers.is_empty() {
        "(No expert answer on the ticket yet: write the answer here.)".to_string()
    } else {
        source.answers.join("\n\n")
    };
    let mut note = format!("Drafted from ticket {}", source.ticket);
    if let Some(expert) = source.expert {
        note.push_str(&format!(", answered by {expert}"));
    }
    if let Some(rating) = source.rating {
        note.push_str(&format!(", rated {rating}/5 by the teacher"));
    }
    format!(
        "---\n\
         # {note}.\n\
         # Before serving: check the facts, rewrite the title and the answer in our own words,\n\
         # add English and Urdu (and Bangla for common topics), more example questions, a\n\
         # `<!-- more -->` break after a short first answer, then delete `draft: true`.\n\
         id: {id}\n\
         title:\n  {lang}: {title}\n\
         topics: {topics}\n\
         languages: [{lang}]\n\
         examples:\n  {written}:\n    - {question}\n\
         draft: true\n\
         ---\n\
         \n\
         ## {lang}\n\
         \n\
         {answer}\n",
        id = id_for(source.ticket),
        title = quoted(&title),
        written = source.written.code(),
        question = quoted(source.question.trim()),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::PathBuf;

    use super::*;
    use crate::diagnostic::Diagnostic;
    use crate::dialogue::SourceFile;
    use crate::knowledge::article;

    fn parse(text: String, name: &str) -> (Option<article::Article>, Vec<Diagnostic>) {
        let topics: HashSet<String> = ["behaviour-management".to_string()].into();
        let file = SourceFile {
            path: PathBuf::from(format!("knowledge-base/articles/{name}.md")),
            source: text,
        };
        let mut diagnostics = Vec::new();
        let parsed = article::parse(&file, &topics, &mut diagnostics);
        (parsed, diagnostics)
    }

    #[test]
    fn a_draft_from_an_english_ticket_parses_as_a_draft_article() {
        let source = Source {
            ticket: "HD-ABC234",
            topic: Some("behaviour-management"),
            lang: Lang::En,
            question: "my class is too noisy: what do I do? \"please\" help",
            written: Written::En,
            answers: vec!["Agree on a quiet signal.", "Praise the first quiet row."],
            expert: Some("Zainab"),
            rating: Some(4),
        };
        let text = render(&source);
        assert!(text.contains("rated 4/5"), "{text}");
        let (article, diagnostics) = parse(text, "draft-hd-abc234");
        let article = article.unwrap_or_else(|| panic!("{diagnostics:?}"));
        assert!(article.draft);
        assert_eq!(article.id, "draft-hd-abc234");
        assert_eq!(article.topics, ["behaviour-management"]);
        assert_eq!(
            article.examples,
            [(
                Written::En,
                "my class is too noisy: what do I do? \"please\" help".to_string()
            )]
        );
        assert!(
            article
                .short
                .get(Lang::En)
                .contains("Praise the first quiet row.")
        );
        assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
    }

    #[test]
    fn a_draft_from_a_roman_urdu_ticket_without_topic_is_checked_with_warnings_only() {
        let source = Source {
            ticket: "HD-XYZ789",
            topic: None,
            lang: Lang::Ur,
            question: "bachay homework nahi kartay",
            written: Written::RomanUr,
            answers: vec!["ہوم ورک چھوٹا اور روزانہ دیں۔"],
            expert: None,
            rating: None,
        };
        let (article, diagnostics) = parse(render(&source), "draft-hd-xyz789");
        let article = article.unwrap_or_else(|| panic!("{diagnostics:?}"));
        assert_eq!(article.examples[0].0, Written::RomanUr);
        assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
        assert!(
            diagnostics
                .iter()
                .any(|d| d.to_string().contains("English")),
            "{diagnostics:?}"
        );
    }
}
