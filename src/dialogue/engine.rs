//! The step function: one teacher input in, the new state and what to do out. Pure.
//!
//! `step` never fails. Input it cannot use re-prompts with the valid options; a reply to an old
//! menu is treated as typed text for the current node; a global command works from anywhere.
//! Everything the outside world must do (send a reply, save a profile field, record quiz
//! answers and certificates) comes back as [`Effect`] values for the conversation layer to
//! persist in one transaction.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::matching::{Candidates, is_word, match_choice, matches_word, number, numbers};
use super::tree::{Choice, Condition, Dialogues, Node, NodeRef, QuizOption, Text, Validation};
use crate::language::{Lang, normalize};

/// How many nodes one step may pass through before it stops: a guard against content that
/// loops through `check` and `jump` nodes without ever waiting for the teacher.
const MAX_HOPS: usize = 64;

/// Everything the engine knows about one teacher's conversation. Stored as JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The chosen language (English until chosen).
    #[serde(default)]
    pub lang: Lang,
    /// Where the dialogue waits for input; `None` when no dialogue runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<Cursor>,
    /// Profile answers by field (`name`, `role`, `district`, …).
    #[serde(default)]
    pub profile: BTreeMap<String, String>,
    /// Progress per module id.
    #[serde(default)]
    pub modules: BTreeMap<String, ModuleProgress>,
    /// The quiz attempt in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiz: Option<QuizRun>,
    /// A per-teacher random number, so that certificate codes are unique yet computed purely.
    #[serde(default)]
    pub seed: u64,
}

/// Where in the dialogue a conversation waits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The node waiting for input.
    pub node: NodeRef,
    /// For lessons: which part or closing step is on screen.
    #[serde(default, skip_serializing_if = "Stage::is_waiting")]
    pub stage: Stage,
}

/// The step of a lesson on screen; `Waiting` for every other node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// A menu, question or quiz waits for its answer.
    #[default]
    Waiting,
    /// Lesson part `n` (0-based) is shown.
    Part(usize),
    /// The classroom task is shown.
    Task,
    /// The reflection prompt waits for the teacher's answer.
    Reflection,
}

impl Stage {
    fn is_waiting(&self) -> bool {
        *self == Stage::Waiting
    }
}

/// One teacher's progress in one module.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleProgress {
    /// The furthest lesson part reached (1-based; 0 = not started).
    pub part: usize,
    /// Whether the lesson (parts, task and reflection) was finished.
    #[serde(default)]
    pub lesson_done: bool,
    /// Best quiz percentage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_percent: Option<u32>,
    /// Quiz attempts finished.
    #[serde(default)]
    pub attempts: u32,
    /// Whether the quiz was passed.
    #[serde(default)]
    pub passed: bool,
    /// The certificate code, once issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// The last finished attempt, `(score, max)`, for texts shown after it (a re-prompt of
    /// the "try again" menu still says the score).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_score: Option<(u32, u32)>,
}

/// A quiz attempt in progress.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuizRun {
    /// The module whose quiz it is.
    pub module: String,
    /// Points scored so far.
    pub score: u32,
    /// Points possible so far.
    pub max: u32,
}

impl QuizRun {
    fn percent(&self) -> u32 {
        (self.score * 100).checked_div(self.max).unwrap_or(0)
    }
}

/// What the teacher did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Typed text (commands such as `/start` included).
    Text(String),
    /// A tapped button, by the id the engine gave it.
    Choice(String),
    /// Something the engine cannot read (a sticker, a location).
    Unsupported,
    /// A photo, voice note or document: the helpdesk keeps it for an expert; to the dialogue
    /// it is as unreadable as [`Input::Unsupported`].
    Media {
        /// photo, voice, document, …
        kind: String,
        /// The platform's file id.
        file_id: String,
        /// Words sent with it.
        caption: Option<String>,
    },
}

/// The result of one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The conversation's new state.
    pub state: State,
    /// What to do, in order.
    pub effects: Vec<Effect>,
}

/// Something the conversation layer must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Send a message to the teacher.
    Say(Reply),
    /// A profile field got a value.
    SetProfile { field: String, value: String },
    /// The teacher reached lesson part `part` of `parts` (`done` after the reflection).
    LessonProgress {
        module: String,
        part: usize,
        parts: usize,
        done: bool,
    },
    /// The teacher's reflection on a lesson.
    Reflection { module: String, text: String },
    /// One quiz answer.
    QuizAnswer {
        module: String,
        question: String,
        chosen: usize,
        correct: bool,
    },
    /// A quiz attempt ended.
    QuizFinished {
        module: String,
        score: u32,
        max: u32,
        passed: bool,
    },
    /// A certificate was issued.
    Certificate { module: String, code: String },
    /// The teacher asked something in their own words: for the helpdesk. The conversation
    /// waits where it is; the helpdesk shows it again with [`resume`] when it is done.
    Question { text: String },
}

/// A message for the teacher, already in their language.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// The text, with `*bold*` and `_italic_` marks for the channel to render.
    pub text: String,
    /// Buttons, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Button>,
    /// The language the text is in.
    pub lang: Lang,
}

/// A button: a stable id for the channel to send back, and its labels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    /// Sent back as [`Input::Choice`]; at most 64 bytes for Telegram.
    pub id: String,
    /// The full label.
    pub label: String,
    /// A label of at most 20 characters for WhatsApp, when the content gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub short: Option<String>,
}

/// Advances one conversation by one input.
#[must_use]
pub fn step(dialogues: &Dialogues, state: &State, input: &Input, now: DateTime<Utc>) -> Step {
    let mut m = Machine {
        d: dialogues,
        s: state.clone(),
        effects: Vec::new(),
        now,
        vars: BTreeMap::new(),
        here: None,
    };
    m.handle(input);
    Step {
        state: m.s,
        effects: m.effects,
    }
}

/// Shows again where the conversation waits (after the helpdesk answered a question asked in
/// the middle of it), or starts over when it waits nowhere.
#[must_use]
pub fn resume(dialogues: &Dialogues, state: &State, now: DateTime<Utc>) -> Step {
    let mut m = Machine {
        d: dialogues,
        s: state.clone(),
        effects: Vec::new(),
        now,
        vars: BTreeMap::new(),
        here: None,
    };
    m.s.quiz = None;
    match m.s.at.clone() {
        Some(cursor) => match m.d.node(&cursor.node) {
            // A lesson shows again the very part, task or reflection on screen.
            Some(
                node @ Node::Lesson {
                    parts,
                    task,
                    reflection,
                    ..
                },
            ) => match cursor.stage {
                Stage::Part(p) if p < parts.len() => {
                    m.show_part(&cursor.node, node, p);
                }
                Stage::Task => m.show_task(&cursor.node, task),
                Stage::Reflection => m.show_reflection(&cursor.node, reflection),
                _ => m.enter(cursor.node),
            },
            Some(_) => m.enter(cursor.node),
            None => m.start_over(),
        },
        None => m.start_over(),
    }
    Step {
        state: m.s,
        effects: m.effects,
    }
}

/// Goes to `target` as a jump would, from wherever the conversation waits: says what it says
/// and waits where it waits. A lesson resumes at the part the teacher reached; a quiz
/// attempt in progress is abandoned, so entering a quiz's first question starts a new one.
/// For programme features that take the teacher somewhere (a reminder's "Continue").
#[must_use]
pub fn enter_node(
    dialogues: &Dialogues,
    state: &State,
    target: &NodeRef,
    now: DateTime<Utc>,
) -> Step {
    let mut m = Machine {
        d: dialogues,
        s: state.clone(),
        effects: Vec::new(),
        now,
        vars: BTreeMap::new(),
        here: None,
    };
    m.s.quiz = None;
    m.enter(target.clone());
    Step {
        state: m.s,
        effects: m.effects,
    }
}

/// Starts tree `tree` at its start node (a programme's button that opens a lesson module);
/// over from the start command when there is no such tree. A lesson shows the furthest part
/// the teacher reached, as when it is chosen from the menu.
#[must_use]
pub fn start_tree(dialogues: &Dialogues, state: &State, tree: &str, now: DateTime<Utc>) -> Step {
    let mut m = Machine {
        d: dialogues,
        s: state.clone(),
        effects: Vec::new(),
        now,
        vars: BTreeMap::new(),
        here: None,
    };
    m.s.quiz = None;
    match dialogues.trees.get(tree) {
        Some(t) => m.enter(NodeRef::new(tree, t.start.clone())),
        None => m.start_over(),
    }
    Step {
        state: m.s,
        effects: m.effects,
    }
}

/// Whether typed text reads like a question of its own rather than a mistyped choice: two
/// words or more with letters in them ("ok", "3", "hmm" are not).
fn looks_like_a_question(text: &str) -> bool {
    let normalized = normalize(text);
    let words = crate::language::words(&normalized)
        .into_iter()
        .filter(|w| w.chars().any(char::is_alphabetic))
        .count();
    words >= 2
}

struct Machine<'d> {
    d: &'d Dialogues,
    s: State,
    effects: Vec<Effect>,
    now: DateTime<Utc>,
    /// Placeholder values set during this step (`{score}`, `{code}`, …).
    vars: BTreeMap<&'static str, String>,
    /// The node being shown, for placeholders that depend on it.
    here: Option<NodeRef>,
}

impl Machine<'_> {
    fn handle(&mut self, input: &Input) {
        let input = if matches!(input, Input::Media { .. }) {
            &Input::Unsupported
        } else {
            input
        };
        // A quiz attempt lives while its questions are answered one after another. Leaving it
        // (a command, a stale cursor) abandons it, so that coming back starts a new attempt
        // instead of counting the questions answered before twice.
        let at_quiz = self
            .s
            .at
            .as_ref()
            .and_then(|c| self.d.node(&c.node))
            .is_some_and(|n| matches!(n, Node::Quiz { .. }));
        if let Input::Text(text) = input
            && let Some(target) = self.command(text)
        {
            self.s.quiz = None;
            self.enter(target);
            return;
        }
        if !at_quiz {
            self.s.quiz = None;
        }
        let Some(cursor) = self.s.at.clone() else {
            self.start_over();
            return;
        };
        let Some(node) = self.d.node(&cursor.node) else {
            // Content changed under a waiting conversation: begin again, politely.
            self.start_over();
            return;
        };
        match node {
            Node::Menu { choices, .. } => self.answer_menu(&cursor.node, node, choices, input),
            Node::Ask { .. } => self.answer_ask(&cursor.node, node, input),
            Node::Question { next, .. } => self.answer_question(&cursor.node, node, next, input),
            Node::Lesson { .. } => self.answer_lesson(&cursor, node, input),
            Node::Quiz { options, .. } => self.answer_quiz(&cursor.node, node, options, input),
            _ => self.start_over(),
        }
    }

    fn command(&self, text: &str) -> Option<NodeRef> {
        let first = text.split_whitespace().next().unwrap_or("");
        // While free text is awaited (an `ask` answer, a reflection), only a command word typed
        // as written counts: loose Roman Urdu matching would read the name "Saleem" as `salam`
        // (start) and "Meena" as `menu`.
        let matches: fn(&str, &[String]) -> bool = if self.awaits_free_text() {
            is_word
        } else {
            matches_word
        };
        self.d.commands.iter().find_map(|c| {
            let hit =
                matches(text, &c.words) || (first.starts_with('/') && matches(first, &c.words));
            hit.then(|| c.goto.clone())
        })
    }

    fn awaits_free_text(&self) -> bool {
        let Some(cursor) = &self.s.at else {
            return false;
        };
        match self.d.node(&cursor.node) {
            Some(Node::Ask { .. } | Node::Question { .. }) => true,
            Some(Node::Lesson { .. }) => cursor.stage == Stage::Reflection,
            _ => false,
        }
    }

    fn start_over(&mut self) {
        if let Some(start) = self.d.commands.iter().find(|c| c.name == "start") {
            self.enter(start.goto.clone());
        }
    }

    // -----------------------------------------------------------------------------------------
    // Entering nodes: say what the node says, then wait or move on.

    fn enter(&mut self, target: NodeRef) {
        let mut next = Some(target);
        let mut hops = 0;
        while let Some(at) = next.take() {
            hops += 1;
            let Some(node) = self.d.node(&at).filter(|_| hops <= MAX_HOPS) else {
                self.s.at = None;
                return;
            };
            next = self.visit(&at, node);
        }
    }

    /// Shows one node; returns where to continue, or `None` when it waits or ends.
    fn visit(&mut self, at: &NodeRef, node: &Node) -> Option<NodeRef> {
        self.s.at = None;
        // `{module}` in any node of a module tree (score and certificate texts included).
        if let Some(module) = self.d.module(&at.tree) {
            self.vars
                .insert("module", module.title.get(self.s.lang).to_string());
        } else {
            self.vars.remove("module");
        }
        self.here = Some(at.clone());
        match node {
            Node::Message { text, next } => {
                self.say(text, Vec::new());
                next.clone()
            }
            Node::Menu { text, choices } => {
                let buttons = self.buttons(&at.node, choices);
                self.say(text, buttons);
                self.wait(at, Stage::Waiting)
            }
            Node::Ask { text, choices, .. } => {
                let buttons = self.buttons(&at.node, choices);
                self.say(text, buttons);
                self.wait(at, Stage::Waiting)
            }
            Node::Question { text, .. } => {
                self.say(text, Vec::new());
                self.wait(at, Stage::Waiting)
            }
            Node::Lesson { .. } => {
                let progress = self.s.modules.get(&at.tree).cloned().unwrap_or_default();
                let parts = match node {
                    Node::Lesson { parts, .. } => parts.len(),
                    _ => 1,
                };
                // Progress saved before the lesson got shorter resumes at its last part.
                let resume = if progress.lesson_done {
                    0
                } else {
                    progress.part.saturating_sub(1)
                };
                let resume = resume.min(parts.saturating_sub(1));
                if resume > 0 {
                    self.vars.insert("part", (resume + 1).to_string());
                    self.say_system("lesson_resume", Vec::new());
                }
                self.show_part(at, node, resume)
            }
            Node::Quiz { text, options, .. } => {
                if self.s.quiz.as_ref().is_none_or(|q| q.module != at.tree) {
                    self.s.quiz = Some(QuizRun {
                        module: at.tree.clone(),
                        ..QuizRun::default()
                    });
                }
                let heading = self.system("quiz_question");
                let question = format!("{heading}\n\n{}", self.render(text));
                let buttons = options
                    .iter()
                    .enumerate()
                    .map(|(i, o)| Button {
                        id: format!("{}.{}", at.node, i + 1),
                        label: self.render(&o.label),
                        short: None,
                    })
                    .collect();
                self.say_raw(question, buttons);
                self.wait(at, Stage::Waiting)
            }
            Node::Score { text, pass, fail } => self.score(at, text.as_ref(), pass, fail),
            Node::Certificate { text, next } => {
                self.certificate(&at.tree);
                self.say(text, Vec::new());
                next.clone()
            }
            Node::Progress { text, next } => {
                let summary = self.progress_summary(text.as_ref());
                self.say_raw(summary, Vec::new());
                next.clone()
            }
            Node::Check {
                branches,
                otherwise,
            } => Some(
                branches
                    .iter()
                    .find(|(c, _)| self.holds(c))
                    .map_or_else(|| otherwise.clone(), |(_, t)| t.clone()),
            ),
            Node::Jump { to } => Some(to.clone()),
            Node::End { text } => {
                if let Some(text) = text {
                    self.say(text, Vec::new());
                }
                None
            }
        }
    }

    fn wait(&mut self, at: &NodeRef, stage: Stage) -> Option<NodeRef> {
        self.s.at = Some(Cursor {
            node: at.clone(),
            stage,
        });
        None
    }

    fn show_part(&mut self, at: &NodeRef, node: &Node, part: usize) -> Option<NodeRef> {
        let Node::Lesson { parts, .. } = node else {
            return None;
        };
        let module = self
            .d
            .module(&at.tree)
            .map(|m| m.title.get(self.s.lang).to_string());
        self.vars.insert("module", module.unwrap_or_default());
        self.vars.insert("part", (part + 1).to_string());
        self.vars.insert("parts", parts.len().to_string());
        let heading = self.system("lesson_part");
        let body = self.render(&parts[part]);
        let next = self.button(&format!("{}.next.{}", at.node, part + 1), "next");
        self.say_raw(format!("{heading}\n\n{body}"), vec![next]);
        let progress = self.s.modules.entry(at.tree.clone()).or_default();
        if part + 1 > progress.part {
            progress.part = part + 1;
        }
        self.effects.push(Effect::LessonProgress {
            module: at.tree.clone(),
            part: part + 1,
            parts: parts.len(),
            done: false,
        });
        self.wait(at, Stage::Part(part))
    }

    fn score(
        &mut self,
        at: &NodeRef,
        text: Option<&Text>,
        pass: &NodeRef,
        fail: &NodeRef,
    ) -> Option<NodeRef> {
        let run = self.s.quiz.take().unwrap_or_default();
        let pass_mark = self.d.module(&at.tree).map_or(100, |m| m.pass_mark);
        let percent = run.percent();
        let passed = run.max > 0 && percent >= pass_mark;
        self.set_score_vars(&run, pass_mark);
        let progress = self.s.modules.entry(at.tree.clone()).or_default();
        progress.attempts += 1;
        progress.last_score = Some((run.score, run.max));
        progress.best_percent = Some(progress.best_percent.map_or(percent, |b| b.max(percent)));
        progress.passed |= passed;
        self.effects.push(Effect::QuizFinished {
            module: at.tree.clone(),
            score: run.score,
            max: run.max,
            passed,
        });
        match text {
            Some(text) => self.say(text, Vec::new()),
            None => self.say_system("quiz_score", Vec::new()),
        }
        Some(if passed { pass.clone() } else { fail.clone() })
    }

    fn certificate(&mut self, module: &str) {
        let existing = self
            .s
            .modules
            .get(module)
            .and_then(|p| p.certificate.clone());
        let code = match existing {
            Some(code) => code,
            None => {
                let code = certificate_code(self.s.seed, module, self.now);
                self.s
                    .modules
                    .entry(module.to_string())
                    .or_default()
                    .certificate = Some(code.clone());
                self.effects.push(Effect::Certificate {
                    module: module.to_string(),
                    code: code.clone(),
                });
                code
            }
        };
        self.vars.insert("code", code);
    }

    // -----------------------------------------------------------------------------------------
    // Answering the node that waits.

    fn answer_menu(&mut self, at: &NodeRef, node: &Node, choices: &[Choice], input: &Input) {
        match self.pick(at, choices, input) {
            Some(choice) => {
                self.apply_set(choice);
                if let Some(goto) = &choice.goto {
                    self.enter(goto.clone());
                }
            }
            None => self.reprompt(at, node, input),
        }
    }

    /// The teacher's question goes to the helpdesk; the conversation waits at `next`, shown
    /// when the helpdesk hands back ([`resume`]).
    fn answer_question(&mut self, at: &NodeRef, node: &Node, next: &NodeRef, input: &Input) {
        match input {
            Input::Text(text) => {
                self.effects.push(Effect::Question { text: text.clone() });
                self.s.at = Some(Cursor {
                    node: next.clone(),
                    stage: Stage::Waiting,
                });
            }
            _ => self.reprompt(at, node, input),
        }
    }

    fn answer_ask(&mut self, at: &NodeRef, node: &Node, input: &Input) {
        let Node::Ask {
            field,
            validate,
            error,
            choices,
            next,
            ..
        } = node
        else {
            return;
        };
        let answer = match (self.pick(at, choices, input), input) {
            (Some(choice), _) => {
                self.apply_set(choice);
                Ok(choice
                    .set
                    .get(field)
                    .cloned()
                    .unwrap_or_else(|| choice.label.get(Lang::En).to_string()))
            }
            (None, Input::Text(text)) => validate_answer(validate, text),
            (None, _) => Err("unsupported_input"),
        };
        match answer {
            Ok(value) => {
                self.set_profile(field, value);
                self.enter(next.clone());
            }
            Err(key) => {
                match (error, key) {
                    (Some(text), "invalid_answer" | "invalid_number") => self.say(text, Vec::new()),
                    _ => self.say_system(key, Vec::new()),
                }
                self.visit(at, node);
            }
        }
    }

    fn answer_lesson(&mut self, cursor: &Cursor, node: &Node, input: &Input) {
        let Node::Lesson {
            parts,
            task,
            reflection,
            next,
        } = node
        else {
            return;
        };
        let at = &cursor.node;
        let module = at.tree.clone();
        if cursor.stage == Stage::Reflection {
            match input {
                Input::Text(text) if !self.is_button(input, at, "skip") => {
                    self.effects.push(Effect::Reflection {
                        module: module.clone(),
                        text: text.clone(),
                    });
                    self.say_system("reflection_thanks", Vec::new());
                }
                Input::Unsupported | Input::Media { .. } => {
                    self.say_system("unsupported_input", Vec::new());
                    self.show_reflection(at, reflection);
                    return;
                }
                _ => {}
            }
            let progress = self.s.modules.entry(module.clone()).or_default();
            progress.lesson_done = true;
            self.effects.push(Effect::LessonProgress {
                module,
                part: parts.len(),
                parts: parts.len(),
                done: true,
            });
            self.enter(next.clone());
            return;
        }
        let expected_id = match cursor.stage {
            Stage::Part(p) => format!("{}.next.{}", at.node, p + 1),
            _ => format!("{}.next.task", at.node),
        };
        let wants_next = match input {
            Input::Choice(id) => *id == expected_id,
            Input::Text(text) => self.typed_next(text),
            Input::Unsupported | Input::Media { .. } => false,
        };
        if !wants_next {
            if let Input::Text(text) = input
                && self.own_question(text)
            {
                return;
            }
            let on_screen = match cursor.stage {
                Stage::Part(p) => p,
                _ => parts.len(),
            };
            self.say_system("fallback", Vec::new());
            if on_screen < parts.len() {
                self.show_part(at, node, on_screen);
            } else {
                self.show_task(at, task);
            }
            return;
        }
        match cursor.stage {
            Stage::Part(p) if p + 1 < parts.len() => {
                self.show_part(at, node, p + 1);
            }
            Stage::Part(_) => self.show_task(at, task),
            _ => self.show_reflection(at, reflection),
        }
    }

    fn show_task(&mut self, at: &NodeRef, task: &Text) {
        let heading = self.system("lesson_task");
        let body = self.render(task);
        let next = self.button(&format!("{}.next.task", at.node), "next");
        self.say_raw(format!("{heading}\n\n{body}"), vec![next]);
        self.wait(at, Stage::Task);
    }

    fn show_reflection(&mut self, at: &NodeRef, reflection: &Text) {
        let heading = self.system("lesson_reflection");
        let body = self.render(reflection);
        let skip = self.button(&format!("{}.skip", at.node), "skip");
        self.say_raw(format!("{heading}\n\n{body}"), vec![skip]);
        self.wait(at, Stage::Reflection);
    }

    fn answer_quiz(&mut self, at: &NodeRef, node: &Node, options: &[QuizOption], input: &Input) {
        let Node::Quiz {
            explanation,
            points,
            next,
            ..
        } = node
        else {
            return;
        };
        let chosen = match input {
            Input::Choice(id) => id
                .strip_prefix(&format!("{}.", at.node))
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|n| (1..=options.len()).contains(n))
                .map(|n| n - 1),
            Input::Text(text) => {
                let candidates: Vec<Candidates> = options
                    .iter()
                    .map(|o| Candidates::new(o.label.versions().map(|(_, t)| t), &[]))
                    .collect();
                match_choice(text, &candidates).or_else(|| letter_choice(text, options.len()))
            }
            Input::Unsupported | Input::Media { .. } => None,
        };
        let Some(chosen) = chosen else {
            self.reprompt(at, node, input);
            return;
        };
        let correct = options[chosen].correct;
        let run = self.s.quiz.get_or_insert_with(|| QuizRun {
            module: at.tree.clone(),
            ..QuizRun::default()
        });
        run.max += points;
        if correct {
            run.score += points;
        }
        self.effects.push(Effect::QuizAnswer {
            module: at.tree.clone(),
            question: at.node.clone(),
            chosen: chosen + 1,
            correct,
        });
        let right = options
            .iter()
            .find(|o| o.correct)
            .map(|o| self.render(&o.label))
            .unwrap_or_default();
        self.vars.insert("answer", right);
        let verdict = self.system(if correct {
            "quiz_correct"
        } else {
            "quiz_wrong"
        });
        let why = self.render(explanation);
        self.say_raw(format!("{verdict}\n\n{why}"), Vec::new());
        self.enter(next.clone());
    }

    /// The choice an input means: a tapped button of this node, or typed text.
    fn pick<'c>(&self, at: &NodeRef, choices: &'c [Choice], input: &Input) -> Option<&'c Choice> {
        match input {
            Input::Choice(id) => {
                let own = id.strip_prefix(&format!("{}.", at.node))?;
                choices.iter().find(|c| c.id == own)
            }
            Input::Text(text) => {
                let candidates: Vec<Candidates> = choices
                    .iter()
                    .map(|c| {
                        let labels = c
                            .label
                            .versions()
                            .chain(c.short.iter().flat_map(Text::versions));
                        Candidates::new(labels.map(|(_, t)| t), &c.aliases)
                    })
                    .collect();
                match_choice(text, &candidates).map(|i| &choices[i])
            }
            Input::Unsupported | Input::Media { .. } => None,
        }
    }

    fn reprompt(&mut self, at: &NodeRef, node: &Node, input: &Input) {
        // Words that answer nothing on a menu or in a lesson are most likely a question of the
        // teacher's own: the helpdesk takes them, and the conversation stays where it was.
        // Only once the teacher is onboarded (the content sets the profile field `onboarded`):
        // before that there is no helpdesk to speak of yet.
        if let Input::Text(text) = input
            && matches!(node, Node::Menu { .. } | Node::Lesson { .. })
            && self.own_question(text)
        {
            return;
        }
        let key = if *input == Input::Unsupported {
            "unsupported_input"
        } else {
            "fallback"
        };
        self.say_system(key, Vec::new());
        self.visit(at, node);
    }

    /// Passes `text` to the helpdesk as the teacher's own question when it reads like one and
    /// the teacher is onboarded (the content sets the profile field `onboarded`; before that
    /// there is no helpdesk to speak of yet). The conversation stays where it is.
    fn own_question(&mut self, text: &str) -> bool {
        if !self.s.profile.contains_key("onboarded") || !looks_like_a_question(text) {
            return false;
        }
        self.effects.push(Effect::Question {
            text: text.to_string(),
        });
        true
    }

    fn typed_next(&self, text: &str) -> bool {
        let next = self.d.texts.get("next");
        let candidates = [Candidates::new(
            next.into_iter().flat_map(|t| t.versions().map(|(_, v)| v)),
            &[
                "next",
                "agla",
                "aage",
                "age",
                "continue",
                "ok",
                "aglā",
                "آگے",
                "اگلا",
                "পরের",
                "পরবর্তী",
            ]
            .map(normalize),
        )];
        match_choice(text, &candidates) == Some(0)
    }

    fn is_button(&self, input: &Input, at: &NodeRef, name: &str) -> bool {
        match input {
            Input::Choice(id) => *id == format!("{}.{name}", at.node),
            // The only button on screen, so its number is `1`.
            Input::Text(text) => {
                normalize(text) == "1"
                    || self
                        .d
                        .texts
                        .get(name)
                        .is_some_and(|t| t.versions().any(|(_, v)| normalize(v) == normalize(text)))
            }
            Input::Unsupported | Input::Media { .. } => false,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Profile, conditions and progress.

    fn apply_set(&mut self, choice: &Choice) {
        for (field, value) in &choice.set {
            self.set_profile(field, value.clone());
        }
    }

    fn set_profile(&mut self, field: &str, value: String) {
        if field == "language"
            && let Some(lang) = Lang::parse(&value)
        {
            self.s.lang = lang;
        }
        self.s.profile.insert(field.to_string(), value.clone());
        self.effects.push(Effect::SetProfile {
            field: field.to_string(),
            value,
        });
    }

    fn holds(&self, condition: &Condition) -> bool {
        match condition {
            Condition::FieldEquals { field, value } => self
                .s
                .profile
                .get(field)
                .is_some_and(|v| normalize(v) == *value),
            Condition::FieldSet { field } => {
                self.s.profile.get(field).is_some_and(|v| !v.is_empty())
            }
            Condition::ModuleCompleted { module } => {
                self.s.modules.get(module).is_some_and(|p| p.passed)
            }
            Condition::ScoreAtLeast { percent } => self
                .s
                .quiz
                .as_ref()
                .is_some_and(|q| q.percent() >= *percent),
        }
    }

    fn set_score_vars(&mut self, run: &QuizRun, pass_mark: u32) {
        self.vars.insert("score", run.score.to_string());
        self.vars.insert("max", run.max.to_string());
        self.vars.insert("percent", run.percent().to_string());
        self.vars.insert("pass_mark", pass_mark.to_string());
    }

    fn progress_summary(&mut self, heading: Option<&Text>) -> String {
        let mut out = match heading {
            Some(text) => self.render(text),
            None => self.system("progress_heading"),
        };
        let started: Vec<(String, ModuleProgress)> = self
            .d
            .module_order
            .iter()
            .filter_map(|id| self.s.modules.get(id).map(|p| (id.clone(), p.clone())))
            .filter(|(_, p)| p.part > 0 || p.attempts > 0)
            .collect();
        if started.is_empty() {
            let empty = self.system("progress_empty");
            let _ = write!(out, "\n\n{empty}");
            return out;
        }
        for (id, p) in started {
            let Some(module) = self.d.module(&id) else {
                continue;
            };
            self.vars
                .insert("module", module.title.get(self.s.lang).to_string());
            self.vars.insert("part", p.part.to_string());
            self.vars.insert("parts", module.parts.to_string());
            let _ = write!(out, "\n\n*{}*", module.title.get(self.s.lang));
            let status = if p.lesson_done {
                "progress_lesson_done"
            } else {
                "progress_in_lesson"
            };
            let _ = write!(out, "\n• {}", self.system(status));
            if let Some(best) = p.best_percent {
                self.vars.insert("percent", best.to_string());
                let _ = write!(out, "\n• {}", self.system("progress_best_score"));
            }
            if p.passed {
                let _ = write!(out, "\n• {}", self.system("progress_passed"));
            }
            if let Some(code) = &p.certificate {
                self.vars.insert("code", code.clone());
                let _ = write!(out, "\n• {}", self.system("progress_certificate"));
            }
        }
        out
    }

    // -----------------------------------------------------------------------------------------
    // Saying things.

    fn buttons(&self, node: &str, choices: &[Choice]) -> Vec<Button> {
        choices
            .iter()
            .map(|c| Button {
                id: format!("{node}.{}", c.id),
                label: self.render(&c.label),
                short: c.short.as_ref().map(|s| self.render(s)),
            })
            .collect()
    }

    fn button(&self, id: &str, text_key: &str) -> Button {
        Button {
            id: id.to_string(),
            label: self.system(text_key),
            short: None,
        }
    }

    fn say(&mut self, text: &Text, choices: Vec<Button>) {
        let rendered = self.render(text);
        self.say_raw(rendered, choices);
    }

    fn say_system(&mut self, key: &str, choices: Vec<Button>) {
        let rendered = self.system(key);
        self.say_raw(rendered, choices);
    }

    fn say_raw(&mut self, text: String, choices: Vec<Button>) {
        // A text that fell back to English is marked English, so channels lay it out left to
        // right even for an Urdu reader.
        let lang = match self.s.lang {
            Lang::Ur if !text.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c)) => Lang::En,
            Lang::Bn if !text.chars().any(|c| ('\u{0980}'..='\u{09FF}').contains(&c)) => Lang::En,
            lang => lang,
        };
        self.effects.push(Effect::Say(Reply {
            text,
            choices,
            lang,
        }));
    }

    fn system(&self, key: &str) -> String {
        let text = self.d.text(key, self.s.lang);
        self.fill(&text)
    }

    fn render(&self, text: &Text) -> String {
        self.fill(text.get(self.s.lang))
    }

    /// Replaces `{placeholder}`s with step variables, the current module, or profile fields.
    fn fill(&self, template: &str) -> String {
        if !template.contains('{') {
            return template.to_string();
        }
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            match after.find('}') {
                Some(close)
                    if close > 0
                        && after[..close]
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
                {
                    let key = &after[..close];
                    match self.lookup(key) {
                        Some(value) => out.push_str(&value),
                        None => out.push_str(&rest[open..=open + close + 1]),
                    }
                    rest = &after[close + 1..];
                }
                _ => {
                    out.push('{');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }

    fn lookup(&self, key: &str) -> Option<String> {
        if let Some(v) = self.vars.get(key) {
            return Some(v.clone());
        }
        if key == "module" {
            let tree = self.s.at.as_ref().map(|c| c.node.tree.as_str()).or(self
                .s
                .quiz
                .as_ref()
                .map(|q| q.module.as_str()));
            return tree
                .and_then(|t| self.d.module(t))
                .map(|m| m.title.get(self.s.lang).to_string());
        }
        if let Some(value) = self.last_score_var(key) {
            return Some(value);
        }
        self.s.profile.get(key).cloned()
    }

    /// `{score}`, `{max}`, `{percent}` and `{pass_mark}` of the current module's last attempt.
    fn last_score_var(&self, key: &str) -> Option<String> {
        let tree = &self.here.as_ref()?.tree;
        let (score, max) = self.s.modules.get(tree)?.last_score?;
        match key {
            "score" => Some(score.to_string()),
            "max" => Some(max.to_string()),
            "percent" => Some((score * 100).checked_div(max).unwrap_or(0).to_string()),
            "pass_mark" => self.d.module(tree).map(|m| m.pass_mark.to_string()),
            _ => None,
        }
    }
}

/// Checks an `ask` answer; `Err` carries the system text key of the complaint.
fn validate_answer(validation: &Validation, text: &str) -> Result<String, &'static str> {
    let trimmed = text.trim();
    match *validation {
        Validation::Text { min, max } => {
            let len = trimmed.chars().count();
            let has_letters = trimmed.chars().any(char::is_alphanumeric);
            if (min..=max).contains(&len) && has_letters {
                Ok(trimmed.to_string())
            } else {
                Err("invalid_answer")
            }
        }
        Validation::Number { min, max } => {
            match number(&normalize(trimmed)).and_then(|n| i64::try_from(n).ok()) {
                Some(n) if (min..=max).contains(&n) => Ok(n.to_string()),
                _ => Err("invalid_number"),
            }
        }
        Validation::Numbers { min, max } => {
            let mut found = numbers(trimmed);
            found.sort_unstable();
            found.dedup();
            if found.is_empty() || found.iter().any(|n| !(min..=max).contains(n)) {
                return Err("invalid_number");
            }
            Ok(found
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", "))
        }
    }
}

/// `a`, `b`, `c` (or `A)`) for quiz options.
fn letter_choice(text: &str, count: usize) -> Option<usize> {
    let t = normalize(text);
    let mut chars = t.chars();
    let (Some(c), None) = (chars.next(), chars.next()) else {
        return None;
    };
    let index = (c as usize).checked_sub('a' as usize)?;
    (index < count).then_some(index)
}

/// A short verification code, unique per teacher, module and moment: `XXXX-XXXX` from an
/// alphabet without look-alike characters (no 0/O, 1/I/L).
#[must_use]
pub fn certificate_code(seed: u64, module: &str, now: DateTime<Utc>) -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    let mut hasher = Sha256::new();
    hasher.update(seed.to_le_bytes());
    hasher.update(module.as_bytes());
    hasher.update(now.timestamp_micros().to_le_bytes());
    let digest = hasher.finalize();
    let mut code = String::with_capacity(9);
    for (i, byte) in digest.iter().take(8).enumerate() {
        if i == 4 {
            code.push('-');
        }
        code.push(char::from(ALPHABET[usize::from(*byte) % ALPHABET.len()]));
    }
    code
}
