//! The knowledge base: articles that answer teachers' questions, the search over them, and the
//! labelled questions that measure it. Pure: [`crate::content`] reads the files.
//!
//! - [`article`]: one Markdown file with front matter → a checked [`Article`].
//! - [`draft`]: a new article drafted from an answered ticket.
//! - [`search`]: the multilingual tokenizer, the BM25 index and topic detection.
//! - [`eval`]: the labelled question set and the accuracy report of `baithak kb eval`.

pub mod article;
pub mod draft;
pub mod eval;
pub mod search;

use std::collections::{HashMap, HashSet};

pub use article::{Article, MORE, Written};
pub use search::{Found, Hit, Index};

use crate::diagnostic::{Diagnostic, Pos};
use crate::dialogue::SourceFile;

/// A search answers on its own only when the best article scores at least this much …
pub const MIN_SCORE: f32 = 2.0;
/// … and the detected topic is at least this sure.
pub const MIN_CONFIDENCE: f32 = 0.17;

/// The loaded knowledge base.
#[derive(Debug, Default)]
pub struct KnowledgeBase {
    /// The search index over the servable articles.
    pub index: Index,
    /// Drafts, checked but not served.
    pub drafts: usize,
}

impl KnowledgeBase {
    /// Searches; see [`Index::search`].
    #[must_use]
    pub fn search(&self, question: &str, limit: usize) -> Found {
        self.index.search(question, limit)
    }

    /// The article to answer with, when the search is confident enough to answer without a
    /// person.
    #[must_use]
    pub fn answer<'a>(&'a self, found: &Found) -> Option<&'a Article> {
        let best = found.hits.first()?;
        (best.score >= MIN_SCORE && found.confidence >= MIN_CONFIDENCE)
            .then(|| &self.index.articles[best.article])
    }

    /// The article with this id.
    #[must_use]
    pub fn article(&self, id: &str) -> Option<&Article> {
        self.index.article(id)
    }
}

/// Parses and checks every article (`files` sorted by path) against the topic ids; duplicate
/// ids are errors. Returns the knowledge base even when some articles have problems (those
/// are left out); the caller decides from the diagnostics whether to use it.
pub fn load(
    files: &[SourceFile],
    topics: &HashSet<String>,
    diagnostics: &mut Vec<Diagnostic>,
) -> KnowledgeBase {
    let mut articles = Vec::new();
    let mut seen: HashMap<String, &SourceFile> = HashMap::new();
    for file in files {
        let Some(article) = article::parse(file, topics, diagnostics) else {
            continue;
        };
        if let Some(first) = seen.get(&article.id) {
            diagnostics.push(Diagnostic::error(
                &file.path,
                Pos::new(2, 1),
                format!(
                    "article id `{}` is also used by {}",
                    article.id,
                    first.path.display()
                ),
            ));
            continue;
        }
        seen.insert(article.id.clone(), file);
        articles.push(article);
    }
    let drafts = articles.iter().filter(|a| a.draft).count();
    KnowledgeBase {
        index: Index::build(articles),
        drafts,
    }
}
