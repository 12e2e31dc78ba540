//! One knowledge-base article: a Markdown file with YAML front matter, parsed and checked.
//! Pure: the caller reads the file.
//!
//! ```text
//! ---
//! id: noisy-class
//! title: { en: "...", ur: "..." }
//! topics: [behaviour-management]
//! languages: [en, ur]
//! examples: { en: [...], ur: [...], roman_ur: [...], bn: [...] }
//! draft: true            # optional: checked, never served
//! ---
//!
//! ## en
//! Short answer.
//! <!-- more -->
//! The rest.
//!
//! ## ur
//! ...
//! ```
//!
//! Every problem is reported with `file:line:column`; front-matter positions are shifted to the
//! line they have in the file.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::diagnostic::{Diagnostic, Pos};
use crate::dialogue::{SourceFile, Text};
use crate::language::Lang;

/// The marker between an article's short answer and the rest.
pub const MORE: &str = "<!-- more -->";
/// A short answer longer than this is not short on a phone (warning).
pub const SHORT_MAX: usize = 700;

/// The language an example question is written in. Roman Urdu is Urdu typed in Latin letters,
/// a first-class input of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Written {
    /// English.
    En,
    /// Urdu in Urdu script.
    Ur,
    /// Urdu in Latin letters.
    RomanUr,
    /// Bangla.
    Bn,
}

impl Written {
    /// Every way of writing, in report order.
    pub const ALL: [Written; 4] = [Written::En, Written::Ur, Written::RomanUr, Written::Bn];

    /// The code used in files and reports.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Written::En => "en",
            Written::Ur => "ur",
            Written::RomanUr => "roman_ur",
            Written::Bn => "bn",
        }
    }

    /// Reads a code as used in files.
    #[must_use]
    pub fn parse(code: &str) -> Option<Written> {
        Written::ALL.into_iter().find(|w| w.code() == code)
    }

    /// The language a reply to this writer should be in, when the teacher chose none.
    #[must_use]
    pub fn lang(self) -> Lang {
        match self {
            Written::En => Lang::En,
            Written::Ur | Written::RomanUr => Lang::Ur,
            Written::Bn => Lang::Bn,
        }
    }
}

/// A checked article.
#[derive(Clone, Debug)]
pub struct Article {
    /// Stable id, the file name without `.md`.
    pub id: String,
    /// Title per language.
    pub title: Text,
    /// Topic ids, the main one first.
    pub topics: Vec<String>,
    /// Languages the body is written in.
    pub languages: Vec<Lang>,
    /// Example questions as teachers type them.
    pub examples: Vec<(Written, String)>,
    /// The short answer per language (sent first).
    pub short: Text,
    /// The rest per language ("read more"); empty when the article is all short.
    pub more: Text,
    /// Drafts are checked but never served.
    pub draft: bool,
    /// Where it came from.
    pub path: PathBuf,
}

impl Article {
    /// The main topic.
    #[must_use]
    pub fn topic(&self) -> &str {
        self.topics.first().map_or("", String::as_str)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    id: Spanned<String>,
    title: Spanned<BTreeMap<String, String>>,
    topics: Spanned<Vec<Spanned<String>>>,
    languages: Spanned<Vec<Spanned<String>>>,
    examples: Spanned<HashMap<Spanned<String>, Vec<String>>>,
    #[serde(default)]
    draft: bool,
}

/// Parses and checks one article. Problems go to `diagnostics`; `None` when it cannot be used.
pub fn parse(
    file: &SourceFile,
    topics: &HashSet<String>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Article> {
    let path = file.path.as_path();
    let errors_before = count_errors(diagnostics);
    let mut error = |at: Pos, message: String| {
        diagnostics.push(Diagnostic::error(path, at, message));
    };
    let source = file.source.strip_prefix('\u{feff}').unwrap_or(&file.source);
    let Some(rest) = source
        .strip_prefix("---\n")
        .or_else(|| source.strip_prefix("---\r\n"))
    else {
        error(
            Pos::new(1, 1),
            "an article starts with a `---` line and YAML front matter".into(),
        );
        return None;
    };
    let Some(end) = find_closing(rest) else {
        error(
            Pos::new(1, 1),
            "the front matter has no closing `---` line".into(),
        );
        return None;
    };
    let yaml = &rest[..end];
    let body = rest[end..].split_once('\n').map_or("", |(_, body)| body);
    let body_first_line = 2 + line_count(yaml) + 1;

    // Front matter positions are relative to the YAML: it starts on line 2.
    let shift = |line: u64, column: u64| Pos::new(line + 1, column);
    let front: FrontMatter = match serde_saphyr::from_str(yaml) {
        Ok(front) => front,
        Err(err) => {
            let at = err
                .location()
                .map_or(Pos::new(2, 1), |l| shift(l.line(), l.column()));
            error(at, yaml_message(&err));
            return None;
        }
    };
    let at = |s: &serde_saphyr::Location| shift(s.line(), s.column());

    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if front.id.value != stem {
        error(
            at(&front.id.referenced),
            format!(
                "id `{}` differs from the file name `{stem}.md` (the id is the file name)",
                front.id.value
            ),
        );
    }
    if !valid_id(&front.id.value) {
        error(
            at(&front.id.referenced),
            format!(
                "id `{}`: use lowercase letters, digits and `-`",
                front.id.value
            ),
        );
    }

    let mut languages = Vec::new();
    for lang in &front.languages.value {
        match Lang::parse(&lang.value) {
            Some(l) if !languages.contains(&l) => languages.push(l),
            Some(_) => error(
                at(&lang.referenced),
                format!("language `{}` listed twice", lang.value),
            ),
            None => error(
                at(&lang.referenced),
                format!("unknown language `{}` (en, ur, bn)", lang.value),
            ),
        }
    }
    if !languages.contains(&Lang::En) {
        // A draft is work in progress (one drafted from an Urdu ticket starts in Urdu); it
        // must have English before it is served.
        let message = "every article has English (`en`), the fallback for every teacher";
        if front.draft {
            diagnostics.push(Diagnostic::warning(
                path,
                at(&front.languages.referenced),
                format!("draft: {message}; add it before removing `draft: true`"),
            ));
        } else {
            error(at(&front.languages.referenced), message.into());
        }
    }
    if !languages.contains(&Lang::Ur) {
        diagnostics.push(Diagnostic::warning(
            path,
            at(&front.languages.referenced),
            "no Urdu (`ur`) version",
        ));
    }

    let mut title = Text::en("");
    for (code, text) in &front.title.value {
        match Lang::parse(code) {
            Some(lang) => title = title.with(lang, text.trim()),
            None => diagnostics.push(Diagnostic::error(
                path,
                at(&front.title.referenced),
                format!("title: unknown language `{code}`"),
            )),
        }
    }
    for lang in &languages {
        if !front.title.value.contains_key(lang.code()) {
            diagnostics.push(Diagnostic::error(
                path,
                at(&front.title.referenced),
                format!(
                    "title: no `{}` version, yet the article is in that language",
                    lang.code()
                ),
            ));
        }
    }

    let mut article_topics = Vec::new();
    if front.topics.value.is_empty() {
        let at = at(&front.topics.referenced);
        diagnostics.push(if front.draft {
            Diagnostic::warning(path, at, "draft: no topic yet; add one before serving it")
        } else {
            Diagnostic::error(path, at, "at least one topic")
        });
    }
    for topic in &front.topics.value {
        if topics.contains(&topic.value) {
            article_topics.push(topic.value.clone());
        } else {
            diagnostics.push(Diagnostic::error(
                path,
                at(&topic.referenced),
                format!(
                    "unknown topic `{}` (see knowledge-base/topics.yaml)",
                    topic.value
                ),
            ));
        }
    }

    let mut examples = Vec::new();
    let mut by_code: Vec<_> = front.examples.value.iter().collect();
    by_code.sort_by(|a, b| a.0.value.cmp(&b.0.value));
    for (code, questions) in by_code {
        let Some(written) = Written::parse(&code.value) else {
            diagnostics.push(Diagnostic::error(
                path,
                at(&code.referenced),
                format!(
                    "examples: unknown language `{}` (en, ur, roman_ur, bn)",
                    code.value
                ),
            ));
            continue;
        };
        for q in questions {
            if !q.trim().is_empty() {
                examples.push((written, q.trim().to_string()));
            }
        }
    }
    if examples.is_empty() {
        diagnostics.push(Diagnostic::error(
            path,
            at(&front.examples.referenced),
            "at least one example question (what a teacher would type)",
        ));
    }

    let (short, more) = sections(path, body, body_first_line, &languages, diagnostics);

    if count_errors(diagnostics) > errors_before {
        return None;
    }
    Some(Article {
        id: front.id.value,
        title,
        topics: article_topics,
        languages,
        examples,
        short,
        more,
        draft: front.draft,
        path: path.to_path_buf(),
    })
}

/// Splits the body into `## <lang>` sections and each at its `<!-- more -->` marker.
fn sections(
    path: &Path,
    body: &str,
    first_line: u64,
    languages: &[Lang],
    diagnostics: &mut Vec<Diagnostic>,
) -> (Text, Text) {
    let mut found: Vec<(Lang, u64, Vec<&str>)> = Vec::new();
    for (i, line) in body.lines().enumerate() {
        let number = first_line + i as u64;
        if let Some(code) = line.strip_prefix("## ") {
            let code = code.trim();
            match Lang::parse(code) {
                Some(lang) if found.iter().any(|(l, _, _)| *l == lang) => {
                    diagnostics.push(Diagnostic::error(
                        path,
                        Pos::new(number, 4),
                        format!("a second `## {code}` section"),
                    ));
                }
                Some(lang) => found.push((lang, number, Vec::new())),
                None => diagnostics.push(Diagnostic::error(
                    path,
                    Pos::new(number, 4),
                    format!("`## {code}`: sections are named by language (en, ur, bn)"),
                )),
            }
            continue;
        }
        match found.last_mut() {
            Some((_, _, lines)) => lines.push(line),
            None if line.trim().is_empty() => {}
            None => diagnostics.push(Diagnostic::error(
                path,
                Pos::new(number, 1),
                "text before the first `## en` section",
            )),
        }
    }
    let mut short = Text::en("");
    let mut more = Text::en("");
    for (lang, line, lines) in &found {
        if !languages.contains(lang) {
            diagnostics.push(Diagnostic::error(
                path,
                Pos::new(*line, 4),
                format!(
                    "`## {}` is not in the front matter's languages",
                    lang.code()
                ),
            ));
            continue;
        }
        let text = lines.join("\n");
        let markers = text.matches(MORE).count();
        let (s, m) = match text.split_once(MORE) {
            Some((s, m)) => (s.trim(), m.trim()),
            None => (text.trim(), ""),
        };
        if markers > 1 {
            diagnostics.push(Diagnostic::error(
                path,
                Pos::new(*line, 1),
                format!("`## {}` has {markers} `{MORE}` markers; one splits the short answer from the rest", lang.code()),
            ));
        }
        if s.is_empty() {
            diagnostics.push(Diagnostic::error(
                path,
                Pos::new(*line, 1),
                format!("`## {}` is empty", lang.code()),
            ));
        }
        if s.chars().count() > SHORT_MAX {
            diagnostics.push(Diagnostic::warning(
                path,
                Pos::new(*line, 1),
                format!(
                    "`## {}`: the short answer has {} characters (a phone screen holds about {SHORT_MAX}); put `{MORE}` earlier",
                    lang.code(),
                    s.chars().count()
                ),
            ));
        }
        short = short.with(*lang, s);
        more = more.with(*lang, m);
    }
    for lang in languages {
        if !found.iter().any(|(l, _, _)| l == lang) {
            diagnostics.push(Diagnostic::error(
                path,
                Pos::new(first_line, 1),
                format!(
                    "no `## {}` section, yet the front matter lists `{}`",
                    lang.code(),
                    lang.code()
                ),
            ));
        }
    }
    (short, more)
}

/// The byte offset of the closing `---` line of the front matter within `rest`.
fn find_closing(rest: &str) -> Option<usize> {
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

fn line_count(text: &str) -> u64 {
    text.lines().count() as u64
}

fn count_errors(diagnostics: &[Diagnostic]) -> usize {
    diagnostics.iter().filter(|d| d.is_error()).count()
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn yaml_message(err: &serde_saphyr::Error) -> String {
    let rendered = err.without_snippet().to_string();
    let first = rendered.lines().next().unwrap_or("invalid YAML").trim();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let without_pos = match first.find(": ") {
        Some(i) if first.starts_with("line ") => &first[i + 2..],
        _ => first,
    };
    format!("YAML: {without_pos}")
}
