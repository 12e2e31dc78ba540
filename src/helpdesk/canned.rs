//! The experts' canned replies (`canned-replies.yaml` in the content root): ready answers an
//! expert picks on a ticket's page and edits before sending, each with an id, a title and its
//! text in English and Urdu (Bangla optional; English stands in for it). Pure: parsing with
//! every problem located by file, line and column, and writing the replies back as YAML; the
//! caller reads and writes the file.
//!
//! ```yaml
//! replies:
//!   - id: photo-of-board
//!     title: Please send a photo of the board
//!     text:
//!       en: Could you send a photo of your board…
//!       ur: کیا آپ اپنے بورڈ کی تصویر…
//! ```

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::diagnostic::yaml::{self, pos};
use crate::diagnostic::{Diagnostic, Pos};
use crate::language::Lang;

/// The file's name in the content root.
pub const FILE: &str = "canned-replies.yaml";
/// The longest id.
pub const MAX_ID: usize = 40;
/// The longest title, in characters.
pub const MAX_TITLE: usize = 80;
/// The longest text, in characters: an answer goes out as one chat message (Telegram allows
/// 4,096 characters, WhatsApp 4,096), with room left for the ticket's number around it.
pub const MAX_TEXT: usize = 3_000;

/// The first lines of the file when the console writes it.
const HEADER: &str = "\
# Canned replies for the helpdesk's experts: picked on a ticket's page in the console, they
# fill the answer box in the ticket's language, and the expert edits before sending.
# Each reply: a stable `id` (lowercase letters, digits, hyphens), a `title` experts see, and
# `text` in `en` and `ur` (Urdu script), `bn` optional (English is used when it is missing).
# Edited at /console/replies (which rewrites this file) or by hand; `baithak check` checks it.
";

/// Every canned reply, in the file's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replies {
    /// The replies.
    pub list: Vec<Reply>,
}

/// One canned reply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Reply {
    /// Stable id, used in links (`?reply=<id>`).
    pub id: String,
    /// What experts see in the list.
    pub title: String,
    /// The words, per language.
    pub text: Texts,
}

/// A reply's words.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Texts {
    /// English.
    pub en: String,
    /// Urdu, in Urdu script.
    pub ur: String,
    /// Bangla, when written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bn: Option<String>,
}

impl Reply {
    /// The text for a ticket in `lang` (English when there is no Bangla).
    #[must_use]
    pub fn text_in(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.text.en,
            Lang::Ur => &self.text.ur,
            Lang::Bn => self
                .text
                .bn
                .as_deref()
                .filter(|t| !t.trim().is_empty())
                .unwrap_or(&self.text.en),
        }
    }
}

impl Replies {
    /// The reply with this id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&Reply> {
        self.list.iter().find(|r| r.id == id)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    replies: Vec<Spanned<RawReply>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReply {
    #[serde(default)]
    id: Option<Spanned<String>>,
    #[serde(default)]
    title: Option<Spanned<String>>,
    #[serde(default)]
    text: Option<Spanned<RawTexts>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTexts {
    #[serde(default)]
    en: Option<Spanned<String>>,
    #[serde(default)]
    ur: Option<Spanned<String>>,
    #[serde(default)]
    bn: Option<Spanned<String>>,
}

/// Parses the file; problems go to `diagnostics` (a reply with an error is left out).
pub fn parse(path: &Path, source: &str, diagnostics: &mut Vec<Diagnostic>) -> Replies {
    if yaml::is_blank(source) {
        return Replies::default();
    }
    let Some(raw) = yaml::read::<RawFile>(path, source, diagnostics) else {
        return Replies::default();
    };
    let mut replies = Replies::default();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for (index, raw) in raw.replies.into_iter().enumerate() {
        let at = pos(&raw.referenced);
        let reply = raw.value;
        let mut found: Vec<Diagnostic> = Vec::new();
        let mut error = |at: Pos, message: String| found.push(Diagnostic::error(path, at, message));
        let mut warnings: Vec<Diagnostic> = Vec::new();
        let id = match &reply.id {
            Some(id) => {
                let value = id.value.trim().to_string();
                if let Err(why) = valid_id(&value) {
                    error(pos(&id.referenced), why);
                } else if let Err(twice) =
                    yaml::first_use(&mut seen, "reply", &value, id.referenced.line())
                {
                    error(pos(&id.referenced), twice);
                }
                value
            }
            None => {
                error(at, format!("reply {} has no `id`", index + 1));
                String::new()
            }
        };
        let name = if id.is_empty() {
            format!("reply {}", index + 1)
        } else {
            format!("reply `{id}`")
        };
        let title = match &reply.title {
            Some(t) if t.value.trim().is_empty() => {
                error(pos(&t.referenced), format!("{name}: the title is empty"));
                String::new()
            }
            Some(t) if t.value.trim().chars().count() > MAX_TITLE => {
                error(
                    pos(&t.referenced),
                    format!("{name}: the title is longer than {MAX_TITLE} characters"),
                );
                String::new()
            }
            Some(t) => t.value.trim().to_string(),
            None => {
                error(at, format!("{name} has no `title`"));
                String::new()
            }
        };
        let mut text = Texts::default();
        match &reply.text {
            None => error(
                at,
                format!("{name} has no `text` (with `en` and `ur` at least)"),
            ),
            Some(texts) => {
                let texts_at = pos(&texts.referenced);
                for (lang, field, required) in [
                    (Lang::En, &texts.value.en, true),
                    (Lang::Ur, &texts.value.ur, true),
                    (Lang::Bn, &texts.value.bn, false),
                ] {
                    let value = match field {
                        None if required => {
                            error(
                                texts_at,
                                format!(
                                    "{name}: the {} text (`text.{lang}`) is missing",
                                    language(lang)
                                ),
                            );
                            continue;
                        }
                        None => continue,
                        Some(value) => value,
                    };
                    let words = value.value.trim();
                    let at = pos(&value.referenced);
                    if words.is_empty() {
                        if required {
                            error(
                                at,
                                format!(
                                    "{name}: the {} text (`text.{lang}`) is empty",
                                    language(lang)
                                ),
                            );
                        }
                        continue;
                    }
                    if words.chars().count() > MAX_TEXT {
                        error(
                            at,
                            format!(
                                "{name}: the {} text is longer than {MAX_TEXT} characters (one chat message)",
                                language(lang)
                            ),
                        );
                        continue;
                    }
                    if let Some(warning) = script_warning(lang, words) {
                        warnings.push(Diagnostic::warning(path, at, format!("{name}: {warning}")));
                    }
                    let words = words.to_string();
                    match lang {
                        Lang::En => text.en = words,
                        Lang::Ur => text.ur = words,
                        Lang::Bn => text.bn = Some(words),
                    }
                }
            }
        }
        let failed = !found.is_empty();
        diagnostics.extend(found);
        diagnostics.extend(warnings);
        if !failed {
            replies.list.push(Reply { id, title, text });
        }
    }
    replies
}

/// Whether `id` may name a reply; the reason when not.
///
/// # Errors
///
/// What is wrong with it, in one line.
pub fn valid_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "reply id `{id}` must be 1–{MAX_ID} lowercase letters, digits and hyphens, not starting with a hyphen"
        ))
    }
}

fn language(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "English",
        Lang::Ur => "Urdu",
        Lang::Bn => "Bangla",
    }
}

/// A warning when Urdu has no Urdu letters or Bangla no Bangla ones (typed in the wrong
/// script, or English pasted in).
fn script_warning(lang: Lang, words: &str) -> Option<String> {
    let (range, script): (std::ops::RangeInclusive<char>, &str) = match lang {
        Lang::En => return None,
        Lang::Ur => ('\u{0600}'..='\u{06FF}', "Urdu"),
        Lang::Bn => ('\u{0980}'..='\u{09FF}', "Bangla"),
    };
    (!words.chars().any(|c| range.contains(&c))).then(|| {
        format!(
            "the {} text has no {script} letters (write it in {script} script)",
            language(lang)
        )
    })
}

/// The file's text for `replies`: a comment header, then the replies as YAML. Not checked:
/// parse the text to check it (what reads back must equal `replies`).
///
/// # Errors
///
/// When the YAML writer fails.
pub fn render(replies: &Replies) -> Result<String, String> {
    #[derive(Serialize)]
    struct File<'a> {
        replies: &'a [Reply],
    }
    let yaml = serde_saphyr::to_string(&File {
        replies: &replies.list,
    })
    .map_err(|err| format!("cannot write the replies as YAML: {err}"))?;
    Ok(format!("{HEADER}{yaml}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(source: &str) -> (Replies, Vec<String>) {
        let mut diagnostics = Vec::new();
        let replies = parse(Path::new(FILE), source, &mut diagnostics);
        (
            replies,
            diagnostics.iter().map(ToString::to_string).collect(),
        )
    }

    const GOOD: &str = "\
# a comment
replies:
  - id: thanks
    title: Thanks, an expert will follow up
    text:
      en: Thank you. An expert will write to you soon.
      ur: شکریہ۔ ایک ماہر جلد آپ کو جواب دیں گے۔
  - id: photo-of-board
    title: Please send a photo of the board
    text:
      en: |
        Could you send a photo of the board?
        It helps us see what the class sees.
      ur: کیا آپ بورڈ کی تصویر بھیج سکتی ہیں؟
      bn: আপনি কি বোর্ডের একটি ছবি পাঠাতে পারেন?
";

    #[test]
    fn replies_read_in_order_with_their_texts_per_language() {
        let (replies, problems) = parsed(GOOD);
        assert!(problems.is_empty(), "{problems:?}");
        let ids: Vec<&str> = replies.list.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["thanks", "photo-of-board"]);
        let thanks = replies.get("thanks").expect("thanks");
        assert!(thanks.text_in(Lang::Ur).starts_with("شکریہ"));
        assert_eq!(
            thanks.text_in(Lang::Bn),
            thanks.text_in(Lang::En),
            "English stands in"
        );
        let photo = replies.get("photo-of-board").expect("photo");
        assert!(photo.text_in(Lang::Bn).contains("বোর্ডের"));
        assert!(
            photo.text.en.contains("board?\nIt helps"),
            "{:?}",
            photo.text.en
        );
    }

    #[test]
    fn the_shipped_replies_are_clean_and_in_every_required_language() {
        let (replies, problems) = parsed(include_str!("../../canned-replies.yaml"));
        assert!(problems.is_empty(), "{problems:?}");
        assert!(
            (6..=8).contains(&replies.list.len()),
            "{}",
            replies.list.len()
        );
        for reply in &replies.list {
            assert!(
                !reply.text.en.is_empty() && !reply.text.ur.is_empty(),
                "{reply:?}"
            );
        }
        let routine = replies.get("quiet-signal-routine").expect("a routine");
        assert!(
            routine.text_in(Lang::Ur).lines().count() >= 4,
            "{routine:?}"
        );
    }

    #[test]
    fn an_empty_file_has_no_replies_and_no_problems() {
        for source in ["", "# only a comment\n", "---\n"] {
            let (replies, problems) = parsed(source);
            assert!(
                replies.list.is_empty() && problems.is_empty(),
                "{source:?}: {problems:?}"
            );
        }
    }

    #[test]
    fn broken_yaml_is_an_error_with_its_line_and_column() {
        let (replies, problems) = parsed("replies:\n  - id: thanks\n    title: [unclosed\n");
        assert!(replies.list.is_empty());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("canned-replies.yaml:"),
            "{problems:?}"
        );
        assert!(problems[0].contains("error: YAML"), "{problems:?}");
        assert!(
            !problems[0].starts_with("canned-replies.yaml:0:"),
            "{problems:?}"
        );
    }

    #[test]
    fn every_problem_is_reported_where_it_is() {
        let source = "\
replies:
  - id: Thanks!
    title: T
    text: {en: a, ur: ب}
  - id: same
    title: ''
    text: {en: a, ur: ب}
  - id: same
    title: Second
    text:
      en: ok
  - title: No id
    text: {en: a, ur: ب}
";
        let (replies, problems) = parsed(source);
        assert!(replies.list.is_empty(), "{replies:?}");
        let all = problems.join("\n");
        assert!(
            all.contains("canned-replies.yaml:2:9: error: reply id `Thanks!` must be"),
            "{all}"
        );
        assert!(
            all.contains("canned-replies.yaml:6:12: error: reply `same`: the title is empty"),
            "{all}"
        );
        assert!(
            all.contains(
                "canned-replies.yaml:8:9: error: reply id `same` is used twice (first on line 5)"
            ),
            "{all}"
        );
        assert!(
            all.contains("the Urdu text (`text.ur`) is missing"),
            "{all}"
        );
        assert!(
            all.contains("canned-replies.yaml:12:5: error: reply 4 has no `id`"),
            "{all}"
        );
        assert_eq!(problems.len(), 5, "{all}");
    }

    #[test]
    fn an_unknown_language_is_named() {
        let source = "replies:\n  - id: a\n    title: A\n    text: {en: a, ur: ب, fr: c}\n";
        let (_, problems) = parsed(source);
        assert_eq!(
            problems,
            [
                "canned-replies.yaml:4:26: error: YAML: unknown field `fr`, expected one of en, ur, bn"
            ]
        );
    }

    #[test]
    fn urdu_in_latin_letters_is_a_warning() {
        let source = "replies:\n  - id: a\n    title: A\n    text: {en: Thanks, ur: shukriya}\n";
        let (replies, problems) = parsed(source);
        assert_eq!(replies.list.len(), 1);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("warning: reply `a`: the Urdu text has no Urdu letters"),
            "{problems:?}"
        );
    }

    #[test]
    fn written_replies_read_back_the_same_even_with_awkward_text() {
        let awkward = [
            "yes",
            "null",
            "12",
            "a: b # not a comment",
            "'quoted' and \"double\"",
            "line one\nline two\n\n  indented line",
            "  leading spaces",
            "<script>alert(1)</script> & more",
            "- looks like a list",
            "ends with a colon:",
            "{ not: a map }",
            "tab\there",
        ];
        let list = awkward
            .iter()
            .enumerate()
            .map(|(n, text)| Reply {
                id: format!("r{n}"),
                title: format!("Title {n}: {}", text.lines().next().unwrap_or_default())
                    .trim()
                    .to_string(),
                text: Texts {
                    en: text.trim().to_string(),
                    ur: format!("اردو {}", text.trim()),
                    bn: (n % 2 == 0).then(|| format!("বাংলা {}", text.trim())),
                },
            })
            .collect();
        let replies = Replies { list };
        let text = render(&replies).expect("written");
        assert!(text.starts_with("# Canned replies"), "{text}");
        let (again, problems) = parsed(&text);
        assert!(
            problems.iter().all(|p| p.contains("warning")),
            "{problems:?}\n{text}"
        );
        assert_eq!(again, replies, "{text}");
    }
}
