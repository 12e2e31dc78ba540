//! YAML dialogue files → validated [`Dialogues`]. Pure: the caller reads the files.
//!
//! Parsing happens in two passes. First each file is deserialized into raw structs that keep
//! the source position of every value (`serde_saphyr::Spanned`); a syntax or type error stops
//! that file only. Then every tree is resolved against all the others: references, quiz
//! answers, translations, label lengths and reachability. All problems from both passes are
//! returned together, each with `file:line:column`.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::system::{COMMANDS, TEXT_KEYS};
use super::tree::{
    Choice, Command, Condition, Dialogues, Module, Node, NodeRef, QuizOption, Text, Tree,
    Validation,
};
use crate::diagnostic::yaml::pos;
use crate::diagnostic::{Diagnostic, Pos};
use crate::language::{Lang, normalize};

/// WhatsApp reply-button titles are at most 20 characters (platform-facts §2).
pub const BUTTON_LABEL_MAX: usize = 20;
/// WhatsApp list-row titles are at most 24 characters.
pub const LIST_ROW_MAX: usize = 24;

/// One file handed to the loader.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// Path used in diagnostics (and, for trees, the tree id from its stem).
    pub path: PathBuf,
    /// The file's text.
    pub source: String,
}

/// The result of loading: the dialogues when there is no error, and every problem found.
#[derive(Debug)]
pub struct Loaded {
    /// `Some` when no diagnostic is an error.
    pub dialogues: Option<Dialogues>,
    /// Errors and warnings, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

/// Loads `_system.yaml` (`system`) and every tree file, checking module topics against
/// `topics` (the ids of `knowledge-base/topics.yaml`; empty to skip that check).
#[must_use]
pub fn load(system: &SourceFile, trees: &[SourceFile], topics: &HashSet<String>) -> Loaded {
    let mut cx = Cx::default();
    let raw_system = cx.parse::<RawSystem>(system);
    let mut raw_trees = Vec::new();
    for file in trees {
        let id = tree_id(&file.path);
        if let Some(raw) = cx.parse::<RawTree>(file) {
            if let Some(declared) = &raw.id
                && declared.value != id
            {
                cx.error(
                    &file.path,
                    pos(&declared.referenced),
                    format!(
                        "tree id `{}` differs from the file name `{id}`",
                        declared.value
                    ),
                );
            }
            if raw_trees
                .iter()
                .any(|(other, _, _): &(String, _, _)| *other == id)
            {
                cx.error(
                    &file.path,
                    Pos::new(1, 1),
                    format!("a second tree is named `{id}`"),
                );
                continue;
            }
            raw_trees.push((id, file.path.clone(), raw));
        }
    }

    let ids: HashMap<&str, HashSet<&str>> = raw_trees
        .iter()
        .map(|(id, _, raw)| {
            let nodes = raw.nodes.keys().map(|k| k.value.as_str()).collect();
            (id.as_str(), nodes)
        })
        .collect();
    let mut dialogues = Dialogues::default();
    for (id, path, raw) in &raw_trees {
        let langs = tree_languages(&mut cx, path, raw);
        let mut resolver = Resolver {
            cx: &mut cx,
            ids: &ids,
            tree: id,
            file: path,
            langs,
        };
        if let Some(tree) = resolver.tree(raw, topics) {
            if tree.module.is_some() {
                dialogues.module_order.push(tree.id.clone());
            }
            dialogues.trees.insert(tree.id.clone(), tree);
        }
    }
    if let Some(raw) = raw_system {
        let empty_ids = HashMap::new();
        let ids = if raw_trees.is_empty() {
            &empty_ids
        } else {
            &ids
        };
        let langs = Lang::ALL.to_vec();
        let mut resolver = Resolver {
            cx: &mut cx,
            ids,
            tree: "_system",
            file: &system.path,
            langs,
        };
        let (commands, texts) = resolver.system(&raw);
        dialogues.commands = commands;
        dialogues.texts = texts;
    }
    if !cx.has_errors() {
        check_reachability(&mut cx, &dialogues, &raw_trees);
    }

    let mut diagnostics = cx.diagnostics;
    let failed = crate::diagnostic::sort(&mut diagnostics);
    Loaded {
        dialogues: (!failed).then_some(dialogues),
        diagnostics,
    }
}

/// The languages a tree declares (`languages: [en, ur]`), all three by default. A tree that
/// leaves one out gets one warning here instead of one per text.
fn tree_languages(cx: &mut Cx, path: &Path, raw: &RawTree) -> Vec<Lang> {
    let Some(declared) = &raw.languages else {
        return Lang::ALL.to_vec();
    };
    let at = spos(declared);
    let mut langs = vec![Lang::En];
    for code in &declared.value {
        match Lang::parse(code) {
            Some(lang) if !langs.contains(&lang) => langs.push(lang),
            Some(_) => {}
            None => cx.error(
                path,
                at,
                format!("unknown language `{code}` (expected en, ur or bn)"),
            ),
        }
    }
    let missing: Vec<&str> = Lang::ALL
        .iter()
        .filter(|l| !langs.contains(l))
        .map(|l| l.code())
        .collect();
    if !missing.is_empty() {
        let message = format!(
            "tree is not translated to {}; English is shown where a text lacks it",
            missing.join(", ")
        );
        cx.warning(path, at, message);
    }
    langs
}

/// The tree id of a file: its name without `.yaml`.
#[must_use]
pub fn tree_id(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Raw shapes, as written in YAML.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSystem {
    commands: HashMap<Spanned<String>, Spanned<RawCommand>>,
    texts: HashMap<Spanned<String>, Spanned<RawText>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommand {
    goto: Spanned<String>,
    words: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTree {
    id: Option<Spanned<String>>,
    languages: Option<Spanned<Vec<String>>>,
    start: Spanned<String>,
    module: Option<Spanned<RawModule>>,
    nodes: HashMap<Spanned<String>, Spanned<RawNode>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    title: Spanned<RawText>,
    topic: Spanned<String>,
    pass_mark: Spanned<u32>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawText {
    Plain(String),
    Translated(BTreeMap<String, String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    kind: Spanned<String>,
    text: Option<Spanned<RawText>>,
    next: Option<Spanned<String>>,
    choices: Option<Vec<Spanned<RawChoice>>>,
    field: Option<Spanned<String>>,
    validate: Option<Spanned<RawValidate>>,
    error: Option<Spanned<RawText>>,
    parts: Option<Vec<Spanned<RawText>>>,
    task: Option<Spanned<RawText>>,
    reflection: Option<Spanned<RawText>>,
    options: Option<Vec<Spanned<RawOption>>>,
    explanation: Option<Spanned<RawText>>,
    points: Option<u32>,
    pass: Option<Spanned<String>>,
    fail: Option<Spanned<String>>,
    branches: Option<Vec<Spanned<RawBranch>>>,
    #[serde(rename = "else")]
    otherwise: Option<Spanned<String>>,
    to: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChoice {
    id: Spanned<String>,
    label: Spanned<RawText>,
    short: Option<Spanned<RawText>>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    set: BTreeMap<String, String>,
    goto: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOption {
    label: Spanned<RawText>,
    #[serde(default)]
    correct: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawValidate {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    min: Option<i64>,
    max: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBranch {
    #[serde(rename = "if")]
    condition: Spanned<RawCondition>,
    goto: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    field: Option<String>,
    equals: Option<String>,
    is_set: Option<bool>,
    module_completed: Option<Spanned<String>>,
    score_at_least: Option<u32>,
}

// ---------------------------------------------------------------------------------------------
// The checking context.

#[derive(Default)]
struct Cx {
    diagnostics: Vec<Diagnostic>,
}

impl Cx {
    fn parse<T: for<'de> Deserialize<'de>>(&mut self, file: &SourceFile) -> Option<T> {
        match serde_saphyr::from_str::<T>(&file.source) {
            Ok(value) => Some(value),
            Err(err) => {
                let at = err.location().map_or(Pos::new(1, 1), |l| pos(&l));
                let message = yaml_message(&err);
                self.error(&file.path, at, message);
                None
            }
        }
    }

    fn error(&mut self, file: &Path, at: Pos, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::error(file, at, message));
    }

    fn warning(&mut self, file: &Path, at: Pos, message: impl Into<String>) {
        self.diagnostics
            .push(Diagnostic::warning(file, at, message));
    }

    fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// The first line of serde-saphyr's message, without its `line N column M:` prefix and snippet
/// (our diagnostic carries the position itself).
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

fn spos<T>(spanned: &Spanned<T>) -> Pos {
    pos(&spanned.referenced)
}

/// Resolves one tree's raw nodes against the ids of all trees.
struct Resolver<'a> {
    cx: &'a mut Cx,
    ids: &'a HashMap<&'a str, HashSet<&'a str>>,
    tree: &'a str,
    file: &'a Path,
    /// The languages every text of this file should have.
    langs: Vec<Lang>,
}

impl Resolver<'_> {
    fn error(&mut self, at: Pos, message: impl Into<String>) {
        self.cx.error(self.file, at, message);
    }

    fn tree(&mut self, raw: &RawTree, topics: &HashSet<String>) -> Option<Tree> {
        let errors_before = self.cx.diagnostics.iter().filter(|d| d.is_error()).count();
        if !raw.nodes.keys().any(|k| k.value == raw.start.value) {
            let message = format!("start node `{}` does not exist", raw.start.value);
            self.error(spos(&raw.start), message);
        }
        let module = raw.module.as_ref().map(|m| self.module(m, raw, topics));
        let mut keys: Vec<_> = raw.nodes.keys().collect();
        keys.sort_by_key(|k| spos(k));
        let mut nodes = HashMap::new();
        for key in keys {
            if !valid_id(&key.value) {
                let message = format!("node id `{}` may use only a-z, 0-9, `_` and `-`", key.value);
                self.error(spos(key), message);
            }
            let raw_node = &raw.nodes[key];
            if let Some(node) = self.node(&key.value, raw_node, module.is_some()) {
                nodes.insert(key.value.clone(), node);
            }
        }
        let errors_after = self.cx.diagnostics.iter().filter(|d| d.is_error()).count();
        (errors_after == errors_before).then(|| Tree {
            id: self.tree.to_string(),
            start: raw.start.value.clone(),
            module,
            nodes,
        })
    }

    fn module(
        &mut self,
        raw: &Spanned<RawModule>,
        tree: &RawTree,
        topics: &HashSet<String>,
    ) -> Module {
        let m = &raw.value;
        if !topics.is_empty() && !topics.contains(&m.topic.value) {
            let message = format!(
                "topic `{}` is not in knowledge-base/topics.yaml",
                m.topic.value
            );
            self.error(spos(&m.topic), message);
        }
        if m.pass_mark.value == 0 || m.pass_mark.value > 100 {
            self.error(
                spos(&m.pass_mark),
                "pass_mark is a percentage from 1 to 100",
            );
        }
        let parts = tree
            .nodes
            .values()
            .filter_map(|n| n.value.parts.as_ref().map(Vec::len))
            .sum();
        Module {
            id: self.tree.to_string(),
            title: self.text(&m.title, "module title"),
            topic: m.topic.value.clone(),
            pass_mark: m.pass_mark.value,
            parts,
        }
    }

    #[allow(clippy::too_many_lines)] // one arm per node kind reads best as one match
    fn node(&mut self, id: &str, raw: &Spanned<RawNode>, in_module: bool) -> Option<Node> {
        let n = &raw.value;
        let at = spos(raw);
        let kind = n.kind.value.as_str();
        let allowed: &[&str] = match kind {
            "message" => &["text", "next"],
            "menu" => &["text", "choices"],
            "ask" => &["text", "field", "validate", "error", "choices", "next"],
            "question" => &["text", "next"],
            "lesson" => &["parts", "task", "reflection", "next"],
            "quiz" => &["text", "options", "explanation", "points", "next"],
            "score" => &["text", "pass", "fail"],
            "certificate" | "progress" => &["text", "next"],
            "check" => &["branches", "else"],
            "jump" => &["to"],
            "end" => &["text"],
            other => {
                let message = format!(
                    "node `{id}` has unknown kind `{other}` (expected message, menu, ask, question, lesson, \
                     quiz, score, certificate, progress, check, jump or end)"
                );
                self.error(spos(&n.kind), message);
                return None;
            }
        };
        for field in n.present_fields() {
            if !allowed.contains(&field) {
                self.error(at, format!("a `{kind}` node has no field `{field}`"));
            }
        }
        if matches!(kind, "lesson" | "quiz" | "score" | "certificate") && !in_module {
            self.error(
                at,
                format!("a `{kind}` node belongs in a module tree (one with `module:`)"),
            );
        }
        let node = match kind {
            "message" => Node::Message {
                text: self.required_text(at, &n.text, "text")?,
                next: self.opt_ref(&n.next),
            },
            "menu" => {
                let text = self.required_text(at, &n.text, "text")?;
                let choices = self.choices(at, n.choices.as_deref(), true)?;
                Node::Menu { text, choices }
            }
            "ask" => Node::Ask {
                text: self.required_text(at, &n.text, "text")?,
                field: self.required(at, n.field.as_ref(), "field")?.value.clone(),
                validate: self.validation(n.validate.as_ref()),
                error: n.error.as_ref().map(|t| self.text(t, "error")),
                choices: match &n.choices {
                    Some(c) => self.choices(at, Some(c), false)?,
                    None => Vec::new(),
                },
                next: self.required_ref(at, &n.next, "next")?,
            },
            "question" => Node::Question {
                text: self.required_text(at, &n.text, "text")?,
                next: self.required_ref(at, &n.next, "next")?,
            },
            "lesson" => {
                let parts = self.required(at, n.parts.as_ref(), "parts")?;
                if !(1..=8).contains(&parts.len()) {
                    self.error(
                        at,
                        "a lesson has 1 to 8 parts (3 to 6 read best on a phone)",
                    );
                }
                Node::Lesson {
                    parts: parts.iter().map(|p| self.text(p, "lesson part")).collect(),
                    task: self.required_text(at, &n.task, "task")?,
                    reflection: self.required_text(at, &n.reflection, "reflection")?,
                    next: self.required_ref(at, &n.next, "next")?,
                }
            }
            "quiz" => Node::Quiz {
                text: self.required_text(at, &n.text, "text")?,
                options: self.quiz_options(at, n.options.as_deref())?,
                explanation: self.required_text(at, &n.explanation, "explanation")?,
                points: n.points.unwrap_or(1),
                next: self.required_ref(at, &n.next, "next")?,
            },
            "score" => Node::Score {
                text: n.text.as_ref().map(|t| self.text(t, "text")),
                pass: self.required_ref(at, &n.pass, "pass")?,
                fail: self.required_ref(at, &n.fail, "fail")?,
            },
            "certificate" => Node::Certificate {
                text: self.required_text(at, &n.text, "text")?,
                next: self.opt_ref(&n.next),
            },
            "progress" => Node::Progress {
                text: n.text.as_ref().map(|t| self.text(t, "text")),
                next: self.opt_ref(&n.next),
            },
            "check" => {
                let raw_branches = self.required(at, n.branches.as_ref(), "branches")?;
                let mut branches = Vec::new();
                for b in raw_branches {
                    let condition = self.condition(&b.value.condition);
                    let target = self.reference(&b.value.goto);
                    if let (Some(c), Some(t)) = (condition, target) {
                        branches.push((c, t));
                    }
                }
                Node::Check {
                    branches,
                    otherwise: self.required_ref(at, &n.otherwise, "else")?,
                }
            }
            "jump" => Node::Jump {
                to: self.required_ref(at, &n.to, "to")?,
            },
            _ => Node::End {
                text: n.text.as_ref().map(|t| self.text(t, "text")),
            },
        };
        Some(node)
    }

    fn required<'r, T>(&mut self, at: Pos, value: Option<&'r T>, field: &str) -> Option<&'r T> {
        if value.is_none() {
            self.error(at, format!("missing field `{field}`"));
        }
        value
    }

    fn required_text(
        &mut self,
        at: Pos,
        value: &Option<Spanned<RawText>>,
        field: &str,
    ) -> Option<Text> {
        let raw = self.required(at, value.as_ref(), field)?;
        Some(self.text(raw, field))
    }

    fn required_ref(
        &mut self,
        at: Pos,
        value: &Option<Spanned<String>>,
        field: &str,
    ) -> Option<NodeRef> {
        let raw = self.required(at, value.as_ref(), field)?;
        self.reference(raw)
    }

    fn opt_ref(&mut self, value: &Option<Spanned<String>>) -> Option<NodeRef> {
        value.as_ref().and_then(|r| self.reference(r))
    }

    /// Resolves `node` or `tree/node`; reports a dangling reference.
    fn reference(&mut self, raw: &Spanned<String>) -> Option<NodeRef> {
        let (tree, node) = match raw.value.split_once('/') {
            Some((tree, node)) => (tree, node),
            None => (self.tree, raw.value.as_str()),
        };
        let exists = self.ids.get(tree).is_some_and(|nodes| nodes.contains(node));
        if exists {
            return Some(NodeRef::new(tree, node));
        }
        let message = if self.ids.contains_key(tree) {
            format!(
                "`{}` refers to node `{node}`, which tree `{tree}` does not have",
                raw.value
            )
        } else {
            format!(
                "`{}` refers to tree `{tree}`, which does not exist",
                raw.value
            )
        };
        self.error(spos(raw), message);
        None
    }

    /// Converts a text; warns about missing translations and unknown language codes.
    fn text(&mut self, raw: &Spanned<RawText>, what: &str) -> Text {
        let at = spos(raw);
        let map = match &raw.value {
            RawText::Plain(s) => {
                let mut map = BTreeMap::new();
                map.insert("en".to_string(), s.clone());
                map
            }
            RawText::Translated(map) => map.clone(),
        };
        let Some(en) = map.get("en").filter(|s| !s.trim().is_empty()) else {
            self.error(at, format!("{what} has no English (`en`) text"));
            return Text::default();
        };
        let mut text = Text::en(en.trim_end());
        for (code, value) in &map {
            match Lang::parse(code) {
                Some(Lang::En) => {}
                Some(lang) if value.trim().is_empty() => {
                    self.cx
                        .warning(self.file, at, format!("{what} has an empty `{lang}` text"));
                }
                Some(lang) => text = text.with(lang, value.trim_end()),
                None => self.error(
                    at,
                    format!("unknown language `{code}` (expected en, ur or bn)"),
                ),
            }
        }
        let missing: Vec<&str> = self
            .langs
            .iter()
            .copied()
            .filter(|l| !text.has(*l))
            .map(Lang::code)
            .collect();
        if !missing.is_empty() {
            let message = format!(
                "{what} has no translation for {} (English is shown)",
                missing.join(", ")
            );
            self.cx.warning(self.file, at, message);
        }
        text
    }

    fn choices(
        &mut self,
        at: Pos,
        raw: Option<&[Spanned<RawChoice>]>,
        menu: bool,
    ) -> Option<Vec<Choice>> {
        let Some(raw) = raw.filter(|c| !c.is_empty()) else {
            self.error(at, "missing field `choices` (at least one)");
            return None;
        };
        let mut seen = HashSet::new();
        let mut choices = Vec::new();
        for c in raw {
            let cat = spos(c);
            let c = &c.value;
            if !valid_id(&c.id.value) {
                let message = format!(
                    "choice id `{}` may use only a-z, 0-9, `_` and `-`",
                    c.id.value
                );
                self.error(spos(&c.id), message);
            }
            if !seen.insert(c.id.value.clone()) {
                self.error(
                    spos(&c.id),
                    format!("choice id `{}` is used twice in this node", c.id.value),
                );
            }
            let goto = match (&c.goto, menu) {
                (Some(g), true) => self.reference(g),
                (None, true) => {
                    self.error(cat, format!("choice `{}` has no `goto`", c.id.value));
                    None
                }
                (Some(g), false) => {
                    self.error(spos(g), "quick answers of an `ask` node take no `goto`");
                    None
                }
                (None, false) => None,
            };
            let label = self.text(&c.label, &format!("label of choice `{}`", c.id.value));
            let short = c
                .short
                .as_ref()
                .map(|s| self.text(s, &format!("short label of `{}`", c.id.value)));
            self.check_label_length(cat, &c.id.value, &label, short.as_ref());
            choices.push(Choice {
                id: c.id.value.clone(),
                label,
                short,
                aliases: c.aliases.iter().map(|a| normalize(a)).collect(),
                set: c.set.clone(),
                goto,
            });
        }
        Some(choices)
    }

    /// Warns when a label will not fit a WhatsApp reply button and no short label does.
    fn check_label_length(&mut self, at: Pos, id: &str, label: &Text, short: Option<&Text>) {
        for lang in Lang::ALL {
            if !label.has(lang) && short.is_none_or(|s| !s.has(lang)) {
                continue;
            }
            let shown = short
                .filter(|s| s.has(lang) || lang == Lang::En)
                .unwrap_or(label);
            let len = shown.get(lang).chars().count();
            if len > BUTTON_LABEL_MAX {
                let message = format!(
                    "label of choice `{id}` in {lang} is {len} characters; WhatsApp buttons show at \
                     most {BUTTON_LABEL_MAX} (add a `short:` label)"
                );
                self.cx.warning(self.file, at, message);
            }
        }
    }

    fn quiz_options(
        &mut self,
        at: Pos,
        raw: Option<&[Spanned<RawOption>]>,
    ) -> Option<Vec<QuizOption>> {
        let Some(raw) = raw else {
            self.error(at, "missing field `options`");
            return None;
        };
        if raw.len() < 2 {
            self.error(at, "a quiz question needs at least two options");
        }
        let correct = raw.iter().filter(|o| o.value.correct).count();
        if correct != 1 {
            self.error(
                at,
                format!("a quiz question needs exactly one correct option, found {correct}"),
            );
        }
        let options = raw
            .iter()
            .map(|o| QuizOption {
                label: self.text(&o.value.label, "quiz option"),
                correct: o.value.correct,
            })
            .collect();
        Some(options)
    }

    fn validation(&mut self, raw: Option<&Spanned<RawValidate>>) -> Validation {
        let Some(raw) = raw else {
            return Validation::Text { min: 1, max: 200 };
        };
        let v = &raw.value;
        let min = v.min;
        let max = v.max;
        match v.kind.value.as_str() {
            "text" => Validation::Text {
                min: usize::try_from(min.unwrap_or(1)).unwrap_or(1),
                max: usize::try_from(max.unwrap_or(200)).unwrap_or(200),
            },
            "number" => Validation::Number {
                min: min.unwrap_or(i64::MIN),
                max: max.unwrap_or(i64::MAX),
            },
            "numbers" => Validation::Numbers {
                min: min.unwrap_or(i64::MIN),
                max: max.unwrap_or(i64::MAX),
            },
            other => {
                let message =
                    format!("unknown validation `{other}` (expected text, number or numbers)");
                self.error(spos(&v.kind), message);
                Validation::Text { min: 1, max: 200 }
            }
        }
    }

    fn condition(&mut self, raw: &Spanned<RawCondition>) -> Option<Condition> {
        let c = &raw.value;
        let at = spos(raw);
        let condition = match (c, &c.field) {
            (
                RawCondition {
                    equals: Some(v), ..
                },
                Some(field),
            ) => Condition::FieldEquals {
                field: field.clone(),
                value: normalize(v),
            },
            (
                RawCondition {
                    is_set: Some(true), ..
                },
                Some(field),
            ) => Condition::FieldSet {
                field: field.clone(),
            },
            (
                RawCondition {
                    module_completed: Some(m),
                    ..
                },
                None,
            ) => {
                if !self.ids.contains_key(m.value.as_str()) {
                    self.error(spos(m), format!("module `{}` does not exist", m.value));
                    return None;
                }
                Condition::ModuleCompleted {
                    module: m.value.clone(),
                }
            }
            (
                RawCondition {
                    score_at_least: Some(p),
                    ..
                },
                None,
            ) => Condition::ScoreAtLeast { percent: *p },
            _ => {
                self.error(
                    at,
                    "a condition is one of {field, equals}, {field, is_set: true}, {module_completed} \
                     or {score_at_least}",
                );
                return None;
            }
        };
        Some(condition)
    }

    fn system(&mut self, raw: &RawSystem) -> (Vec<Command>, HashMap<String, Text>) {
        let mut commands = Vec::new();
        let mut names: Vec<_> = raw.commands.keys().collect();
        names.sort_by_key(|k| spos(k));
        for name in names {
            let c = &raw.commands[name];
            let Some(goto) = self.reference(&c.value.goto) else {
                continue;
            };
            commands.push(Command {
                name: name.value.clone(),
                goto,
                words: c.value.words.iter().map(|w| normalize(w)).collect(),
            });
        }
        for required in COMMANDS {
            if !commands.iter().any(|c| c.name == *required) {
                self.error(Pos::new(1, 1), format!("command `{required}` is missing"));
            }
        }
        let mut texts = HashMap::new();
        for (key, value) in &raw.texts {
            let text = self.text(value, &format!("system text `{}`", key.value));
            texts.insert(key.value.clone(), text);
        }
        for required in TEXT_KEYS {
            if !texts.contains_key(*required) {
                self.error(
                    Pos::new(1, 1),
                    format!("system text `{required}` is missing"),
                );
            }
        }
        (commands, texts)
    }
}

impl RawNode {
    /// The names of the optional fields present, for per-kind checks.
    fn present_fields(&self) -> Vec<&'static str> {
        let flags = [
            ("text", self.text.is_some()),
            ("next", self.next.is_some()),
            ("choices", self.choices.is_some()),
            ("field", self.field.is_some()),
            ("validate", self.validate.is_some()),
            ("error", self.error.is_some()),
            ("parts", self.parts.is_some()),
            ("task", self.task.is_some()),
            ("reflection", self.reflection.is_some()),
            ("options", self.options.is_some()),
            ("explanation", self.explanation.is_some()),
            ("points", self.points.is_some()),
            ("pass", self.pass.is_some()),
            ("fail", self.fail.is_some()),
            ("branches", self.branches.is_some()),
            ("else", self.otherwise.is_some()),
            ("to", self.to.is_some()),
        ];
        flags
            .into_iter()
            .filter(|(_, present)| *present)
            .map(|(name, _)| name)
            .collect()
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Reports nodes that no command, start or reference leads to.
fn check_reachability(cx: &mut Cx, dialogues: &Dialogues, raw: &[(String, PathBuf, RawTree)]) {
    let mut seen: HashSet<NodeRef> = HashSet::new();
    let mut queue: VecDeque<NodeRef> = dialogues.commands.iter().map(|c| c.goto.clone()).collect();
    while let Some(at) = queue.pop_front() {
        if !seen.insert(at.clone()) {
            continue;
        }
        if let Some(node) = dialogues.node(&at) {
            queue.extend(successors(node));
        }
    }
    for (tree, path, raw_tree) in raw {
        for (key, node) in &raw_tree.nodes {
            if !seen.contains(&NodeRef::new(tree, &key.value)) {
                let message = format!(
                    "node `{}` is unreachable: no command, menu or `next` leads to it",
                    key.value
                );
                cx.error(path, spos(node), message);
            }
        }
    }
}

/// The nodes a node can lead to.
pub(super) fn successors(node: &Node) -> Vec<NodeRef> {
    match node {
        Node::Message { next, .. }
        | Node::Certificate { next, .. }
        | Node::Progress { next, .. } => next.iter().cloned().collect(),
        Node::Menu { choices, .. } => choices.iter().filter_map(|c| c.goto.clone()).collect(),
        Node::Ask { next, .. }
        | Node::Question { next, .. }
        | Node::Lesson { next, .. }
        | Node::Quiz { next, .. } => {
            vec![next.clone()]
        }
        Node::Score { pass, fail, .. } => vec![pass.clone(), fail.clone()],
        Node::Check {
            branches,
            otherwise,
        } => branches
            .iter()
            .map(|(_, t)| t.clone())
            .chain(std::iter::once(otherwise.clone()))
            .collect(),
        Node::Jump { to } => vec![to.clone()],
        Node::End { .. } => Vec::new(),
    }
}
