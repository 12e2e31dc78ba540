//! The validated dialogue graph: what [`super::load`] produces and [`super::step`] walks.
//!
//! Every reference here has been resolved: a [`NodeRef`] always names an existing node, a
//! quiz has exactly one correct option, a lesson lives in a module tree. Code that walks the
//! graph never re-checks.

use std::collections::{BTreeMap, HashMap};

use crate::language::Lang;

/// A text with its translations side by side; English is always present.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text {
    en: String,
    other: BTreeMap<Lang, String>,
}

impl Text {
    /// A text with an English version only.
    #[must_use]
    pub fn en(en: impl Into<String>) -> Text {
        Text {
            en: en.into(),
            other: BTreeMap::new(),
        }
    }

    /// Adds or replaces the translation for `lang`.
    #[must_use]
    pub fn with(mut self, lang: Lang, text: impl Into<String>) -> Text {
        if lang == Lang::En {
            self.en = text.into();
        } else {
            self.other.insert(lang, text.into());
        }
        self
    }

    /// The text in `lang`, falling back to English.
    #[must_use]
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::En => &self.en,
            other => self.other.get(&other).map_or(&self.en, String::as_str),
        }
    }

    /// Whether a translation for `lang` exists (English always does).
    #[must_use]
    pub fn has(&self, lang: Lang) -> bool {
        lang == Lang::En || self.other.contains_key(&lang)
    }

    /// Every version of the text, English first.
    pub fn versions(&self) -> impl Iterator<Item = (Lang, &str)> {
        std::iter::once((Lang::En, self.en.as_str()))
            .chain(self.other.iter().map(|(l, t)| (*l, t.as_str())))
    }
}

/// A resolved reference to a node: tree id and node id, both known to exist.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct NodeRef {
    /// The tree (file name without `.yaml`).
    pub tree: String,
    /// The node inside that tree.
    pub node: String,
}

impl NodeRef {
    /// A reference to `node` in `tree`.
    #[must_use]
    pub fn new(tree: impl Into<String>, node: impl Into<String>) -> NodeRef {
        NodeRef {
            tree: tree.into(),
            node: node.into(),
        }
    }
}

impl std::fmt::Display for NodeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.tree, self.node)
    }
}

/// All dialogue content: trees, global commands and system texts.
#[derive(Clone, Debug, Default)]
pub struct Dialogues {
    /// Trees by id.
    pub trees: HashMap<String, Tree>,
    /// Global commands, in the order they are matched.
    pub commands: Vec<Command>,
    /// System texts by key (see [`super::system`]).
    pub texts: HashMap<String, Text>,
    /// Module tree ids in a stable order (file order), for "My progress".
    pub module_order: Vec<String>,
}

impl Dialogues {
    /// The node a reference points at. References in a loaded tree always resolve.
    #[must_use]
    pub fn node(&self, at: &NodeRef) -> Option<&Node> {
        self.trees.get(&at.tree)?.nodes.get(&at.node)
    }

    /// A system text, or the key itself if content lacks it (`check` reports that).
    #[must_use]
    pub fn text(&self, key: &str, lang: Lang) -> String {
        self.texts
            .get(key)
            .map_or_else(|| key.to_string(), |t| t.get(lang).to_string())
    }

    /// The module a tree teaches, if it is a module tree.
    #[must_use]
    pub fn module(&self, tree: &str) -> Option<&Module> {
        self.trees.get(tree)?.module.as_ref()
    }
}

/// A global command such as `/menu`, reachable from anywhere.
#[derive(Clone, Debug)]
pub struct Command {
    /// `start`, `menu`, `help`, `language`, …
    pub name: String,
    /// Where it goes.
    pub goto: NodeRef,
    /// Normalized words and phrases that trigger it.
    pub words: Vec<String>,
}

/// One dialogue tree (one file).
#[derive(Clone, Debug)]
pub struct Tree {
    /// The tree id.
    pub id: String,
    /// Where a jump to the tree lands.
    pub start: String,
    /// Present when the tree is a lesson module.
    pub module: Option<Module>,
    /// Nodes by id.
    pub nodes: HashMap<String, Node>,
}

/// What makes a tree a lesson module.
#[derive(Clone, Debug)]
pub struct Module {
    /// The module id (= tree id).
    pub id: String,
    /// Its title, shown in progress and on certificates.
    pub title: Text,
    /// A topic id from the taxonomy.
    pub topic: String,
    /// Percentage needed to pass the quiz.
    pub pass_mark: u32,
    /// Number of parts in its lesson, for progress.
    pub parts: usize,
}

/// A node of a tree.
#[derive(Clone, Debug)]
pub enum Node {
    /// Say something and move on.
    Message { text: Text, next: Option<NodeRef> },
    /// Offer choices.
    Menu { text: Text, choices: Vec<Choice> },
    /// Ask a free-text question and store the answer in a profile field.
    Ask {
        text: Text,
        field: String,
        validate: Validation,
        error: Option<Text>,
        choices: Vec<Choice>,
        next: NodeRef,
    },
    /// Invite a question for the helpdesk; the teacher's words go to the helpdesk and the
    /// conversation continues at `next` once the helpdesk is done.
    Question { text: Text, next: NodeRef },
    /// A bite-sized lesson: parts, a classroom task and a reflection prompt.
    Lesson {
        parts: Vec<Text>,
        task: Text,
        reflection: Text,
        next: NodeRef,
    },
    /// One quiz question.
    Quiz {
        text: Text,
        options: Vec<QuizOption>,
        explanation: Text,
        points: u32,
        next: NodeRef,
    },
    /// Close the quiz attempt and branch on the module's pass mark.
    Score {
        text: Option<Text>,
        pass: NodeRef,
        fail: NodeRef,
    },
    /// Issue the module's certificate.
    Certificate { text: Text, next: Option<NodeRef> },
    /// Show "My progress".
    Progress {
        text: Option<Text>,
        next: Option<NodeRef>,
    },
    /// Branch on conditions.
    Check {
        branches: Vec<(Condition, NodeRef)>,
        otherwise: NodeRef,
    },
    /// Continue in another place.
    Jump { to: NodeRef },
    /// End the dialogue.
    End { text: Option<Text> },
}

/// A menu choice or quick answer.
#[derive(Clone, Debug)]
pub struct Choice {
    /// Stable id, unique within its node.
    pub id: String,
    /// The label, in every language.
    pub label: Text,
    /// A label that fits WhatsApp's 20 characters, when `label` does not.
    pub short: Option<Text>,
    /// Normalized extra ways to type this choice.
    pub aliases: Vec<String>,
    /// Profile fields to set when chosen.
    pub set: BTreeMap<String, String>,
    /// Where the choice leads (menus only).
    pub goto: Option<NodeRef>,
}

/// A quiz option.
#[derive(Clone, Debug)]
pub struct QuizOption {
    /// The option text.
    pub label: Text,
    /// Whether it is the right answer (exactly one is).
    pub correct: bool,
}

/// How an `ask` answer is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Validation {
    /// Free text, length in characters within bounds.
    Text { min: usize, max: usize },
    /// One whole number within bounds.
    Number { min: i64, max: i64 },
    /// A list of whole numbers within bounds ("1, 2 and 5", "1-3").
    Numbers { min: i64, max: i64 },
}

/// A condition of a `check` node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// A profile field equals a value (compared normalized).
    FieldEquals { field: String, value: String },
    /// A profile field has a value.
    FieldSet { field: String },
    /// A module's quiz has been passed.
    ModuleCompleted { module: String },
    /// The running quiz's percentage is at least this.
    ScoreAtLeast { percent: u32 },
}
