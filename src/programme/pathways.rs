//! Pathways (`programme/pathways.yaml`): named sets of modules. A teacher whose passed modules
//! cover a pathway gets a pathway certificate too (stored like a module's, with module
//! `pathway:{id}`, once). Pure: parsing with every problem located by file, line and column,
//! and which pathways a set of passed modules completes.
//!
//! ```yaml
//! pathways:
//!   - id: classroom-culture
//!     title: { en: Classroom culture, ur: کلاس کا ماحول, bn: শ্রেণির পরিবেশ }
//!     modules: [supportive-environment, behaviour-management, time-on-task]
//! ```

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::diagnostic::yaml::{self, pos};
use crate::diagnostic::{Diagnostic, Pos};
use crate::dialogue::{Dialogues, Text};
use crate::language::Lang;

/// The file in `programme/` that holds the pathways.
pub const FILE: &str = "pathways.yaml";

/// What a pathway certificate's module column holds before the pathway's id.
pub const PREFIX: &str = "pathway:";

/// Every pathway, in the file's order.
#[derive(Clone, Debug, Default)]
pub struct Pathways {
    /// The pathways.
    pub list: Vec<Pathway>,
}

/// A named set of modules.
#[derive(Clone, Debug)]
pub struct Pathway {
    /// Stable id (lowercase letters, digits, hyphens).
    pub id: String,
    /// Its title in each language (English always).
    pub title: Text,
    /// The modules (dialogue tree ids), each once.
    pub modules: Vec<String>,
}

impl Pathway {
    /// The certificate's module column for this pathway: `pathway:{id}`.
    #[must_use]
    pub fn certificate_key(&self) -> String {
        format!("{PREFIX}{}", self.id)
    }
}

impl Pathways {
    /// The pathway with this id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&Pathway> {
        self.list.iter().find(|p| p.id == id)
    }

    /// The pathways every module of which `passed` says is passed, in the file's order.
    pub fn completed<'a>(
        &'a self,
        passed: impl Fn(&str) -> bool + 'a,
    ) -> impl Iterator<Item = &'a Pathway> + 'a {
        self.list
            .iter()
            .filter(move |p| !p.modules.is_empty() && p.modules.iter().all(|m| passed(m)))
    }

    /// The title of a certificate's subject in `lang`: a pathway's (`pathway:{id}`) or a
    /// module's; the key itself when neither is known.
    #[must_use]
    pub fn title_of(&self, key: &str, dialogues: &Dialogues, lang: Lang) -> String {
        if let Some(id) = key.strip_prefix(PREFIX) {
            return self
                .get(id)
                .map_or_else(|| id.to_string(), |p| p.title.get(lang).to_string());
        }
        dialogues
            .module(key)
            .map_or_else(|| key.to_string(), |m| m.title.get(lang).to_string())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    pathways: Vec<Spanned<RawPathway>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPathway {
    #[serde(default)]
    id: Option<Spanned<String>>,
    #[serde(default)]
    title: Option<Spanned<RawTitle>>,
    #[serde(default)]
    modules: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTitle {
    #[serde(default)]
    en: Option<String>,
    #[serde(default)]
    ur: Option<String>,
    #[serde(default)]
    bn: Option<String>,
}

/// Parses the file; problems go to `diagnostics` (a pathway with an error is left out).
/// `dialogues`, when given, is checked for every module named.
pub fn parse(
    path: &Path,
    source: &str,
    dialogues: Option<&Dialogues>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Pathways {
    if yaml::is_blank(source) {
        return Pathways::default();
    }
    let Some(raw) = yaml::read::<RawFile>(path, source, diagnostics) else {
        return Pathways::default();
    };
    let mut pathways = Pathways::default();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for (index, raw) in raw.pathways.into_iter().enumerate() {
        let at = pos(&raw.referenced);
        let pathway = raw.value;
        let before = diagnostics.len();
        let mut error = |at: Pos, message: String| {
            diagnostics.push(Diagnostic::error(path, at, message));
        };
        let id = match &pathway.id {
            Some(id) => {
                let value = id.value.trim().to_string();
                let valid = !value.is_empty()
                    && value.len() <= 40
                    && value
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
                if !valid {
                    error(
                        pos(&id.referenced),
                        format!(
                            "pathway id `{value}`: use 1–40 lowercase letters, digits and hyphens"
                        ),
                    );
                } else if let Err(twice) =
                    yaml::first_use(&mut seen, "pathway", &value, id.referenced.line())
                {
                    error(pos(&id.referenced), twice);
                }
                value
            }
            None => {
                error(at, format!("pathway {} has no `id`", index + 1));
                String::new()
            }
        };
        let name = if id.is_empty() {
            format!("pathway {}", index + 1)
        } else {
            format!("pathway `{id}`")
        };
        let mut title = Text::en("");
        match &pathway.title {
            Some(t) => match t.value.en.as_deref().map(str::trim) {
                Some(en) if !en.is_empty() => {
                    title = Text::en(en);
                    for (lang, value) in [(Lang::Ur, &t.value.ur), (Lang::Bn, &t.value.bn)] {
                        if let Some(value) =
                            value.as_deref().map(str::trim).filter(|v| !v.is_empty())
                        {
                            title = title.with(lang, value);
                        }
                    }
                }
                _ => error(pos(&t.referenced), format!("{name}: the title needs `en`")),
            },
            None => error(at, format!("{name} has no `title`")),
        }
        if pathway.modules.is_empty() {
            error(at, format!("{name} lists no `modules`"));
        }
        let mut modules: Vec<String> = Vec::new();
        for module in &pathway.modules {
            let value = module.value.trim().to_string();
            let at = pos(&module.referenced);
            if modules.contains(&value) {
                error(at, format!("{name}: module `{value}` is listed twice"));
            } else if dialogues.is_some_and(|d| d.module(&value).is_none()) {
                error(at, format!("{name}: unknown module `{value}`"));
            } else {
                modules.push(value);
            }
        }
        if diagnostics.len() == before {
            pathways.list.push(Pathway { id, title, modules });
        }
    }
    pathways
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::parse;
    use crate::language::Lang;

    const GOOD: &str = "\
pathways:
  - id: basics
    title: { en: Basics, ur: بنیادی باتیں, bn: মৌলিক বিষয় }
    modules: [a, b]
  - id: all
    title: { en: Everything }
    modules: [a, b, c]
";

    #[test]
    fn a_good_file_gives_its_pathways_and_what_completes_them() {
        let mut diagnostics = Vec::new();
        let pathways = parse(Path::new("pathways.yaml"), GOOD, None, &mut diagnostics);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(pathways.list.len(), 2);
        let basics = pathways.get("basics").expect("basics");
        assert_eq!(basics.title.get(Lang::Ur), "بنیادی باتیں");
        assert_eq!(basics.certificate_key(), "pathway:basics");
        let passed = ["a", "b"];
        let done: Vec<&str> = pathways
            .completed(|m| passed.contains(&m))
            .map(|p| p.id.as_str())
            .collect();
        assert_eq!(done, ["basics"]);
        assert_eq!(pathways.completed(|_| false).count(), 0);
    }

    #[test]
    fn duplicate_ids_and_repeated_modules_are_located() {
        let source = "\
pathways:
  - id: one
    title: { en: One }
    modules: [a, a]
  - id: one
    title: { en: Again }
    modules: [b]
  - title: { ur: صرف اردو }
    modules: []
";
        let mut diagnostics = Vec::new();
        let pathways = parse(Path::new("p.yaml"), source, None, &mut diagnostics);
        let text: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        assert!(pathways.list.is_empty(), "{text:?}");
        assert!(
            text.iter()
                .any(|d| d.contains("p.yaml:4:") && d.contains("listed twice")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|d| d.contains("p.yaml:5:") && d.contains("used twice (first on line 2)")),
            "{text:?}"
        );
        assert!(text.iter().any(|d| d.contains("has no `id`")), "{text:?}");
        assert!(text.iter().any(|d| d.contains("needs `en`")), "{text:?}");
        assert!(
            text.iter().any(|d| d.contains("lists no `modules`")),
            "{text:?}"
        );
    }

    #[test]
    fn unknown_modules_are_errors_at_their_position() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let Ok(content) = crate::content::load(&root) else {
            panic!("fixture content loads");
        };
        let source = "pathways:\n  - id: p\n    title: { en: P }\n    modules: [demo, nowhere]\n";
        let mut diagnostics = Vec::new();
        let pathways = parse(
            Path::new("p.yaml"),
            source,
            Some(&content.dialogues),
            &mut diagnostics,
        );
        let text: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        assert!(pathways.list.is_empty());
        assert!(
            text.iter()
                .any(|d| d.contains("p.yaml:4:") && d.contains("unknown module `nowhere`")),
            "{text:?}"
        );
    }

    #[test]
    fn bad_yaml_is_one_located_error() {
        let mut diagnostics = Vec::new();
        let pathways = parse(
            Path::new("p.yaml"),
            "pathways: [ {id: x",
            None,
            &mut diagnostics,
        );
        assert!(pathways.list.is_empty());
        assert_eq!(diagnostics.len(), 1);
        assert!(diagnostics[0].to_string().contains("YAML"));
    }
}
