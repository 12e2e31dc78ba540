//! The helpdesk policy: what happens to a teacher's own question. Pure.
//!
//! It wraps the dialogue engine. A question (free text the dialogue does not expect, or the
//! "Ask a question" menu) is searched in the knowledge base: a confident match is answered
//! with the article's short version ("read more" for the rest) and "Did this help?"; otherwise,
//! or on "No" / "Ask an expert", a ticket opens with a number and an honest answer time. While
//! the ticket is open, further words go into it. When the helpdesk is done the conversation
//! shows again where the teacher was. Every question is logged with its language, topic,
//! confidence, article and outcome.

pub mod canned;
pub mod config;
pub mod desk;
pub mod notice;
pub mod privacy;
pub mod sla;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use config::{Config, Expect};

use crate::dialogue::{self, Button, Dialogues, Input, Reply, State};
use crate::knowledge::eval::ADMIN_TOPIC;
use crate::knowledge::{Found, KnowledgeBase, Written};
use crate::language::Lang;

/// What the helpdesk needs to decide.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The dialogues (for resuming, and for the system texts).
    pub dialogues: &'a Dialogues,
    /// The knowledge base.
    pub kb: &'a KnowledgeBase,
    /// Office hours and pools.
    pub config: &'a Config,
    /// The programme's content (calendar, pathways, reminders).
    pub programme: &'a crate::programme::Programme,
}

/// Everything kept about one teacher's conversation: the dialogue's state and the helpdesk's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TeacherState {
    /// The dialogue engine's state (its fields at the top level of the JSON).
    #[serde(flatten)]
    pub dialogue: State,
    /// The helpdesk's.
    #[serde(default, skip_serializing_if = "HelpdeskState::is_empty")]
    pub helpdesk: HelpdeskState,
    /// The programme features'.
    #[serde(
        default,
        skip_serializing_if = "crate::programme::ProgrammeState::is_empty"
    )]
    pub programme: crate::programme::ProgrammeState,
}

/// The helpdesk's part of a conversation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HelpdeskState {
    /// Questions asked so far (each question's number is its position).
    #[serde(default)]
    pub asked: u32,
    /// An answer from the knowledge base waiting for "Did this help?".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
    /// The open ticket, which further words join.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<String>,
    /// A ticket whose expert answer waits for a rating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<String>,
    /// A ticket whose rating may get a comment (the next words).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// "/forget" waits for the teacher's yes or no (`privacy`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forget: bool,
}

impl HelpdeskState {
    fn is_empty(&self) -> bool {
        *self == HelpdeskState::default()
    }
}

/// A knowledge-base answer waiting for feedback.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// The question's number.
    pub question: u32,
    /// What the teacher asked.
    pub text: String,
    /// The article sent.
    pub article: String,
}

/// What became of a question.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Answered from the knowledge base; no feedback (yet).
    Answered,
    /// The teacher said the answer helped.
    Helped,
    /// The teacher said it did not (a ticket opened).
    NotHelped,
    /// Sent to an expert without an answer (not confident, or asked for).
    Escalated,
    /// An administrative matter, routed to the right office.
    OutOfScope,
    /// Nothing readable (emoji, empty).
    Unclear,
}

impl Outcome {
    /// The code stored in the question log.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Helped => "helped",
            Outcome::NotHelped => "not_helped",
            Outcome::Escalated => "escalated",
            Outcome::OutOfScope => "out_of_scope",
            Outcome::Unclear => "unclear",
        }
    }
}

/// A question for the log.
#[derive(Clone, Debug, PartialEq)]
pub struct QuestionRecord {
    /// Its number for this teacher.
    pub number: u32,
    /// The words.
    pub text: String,
    /// How they were written.
    pub written: Written,
    /// The detected topic.
    pub topic: Option<String>,
    /// How sure, 0–1.
    pub confidence: f32,
    /// The article sent, if any.
    pub article: Option<String>,
    /// What happened.
    pub outcome: Outcome,
    /// What grouping it with similar questions needs, computed once, now.
    pub signature: crate::insights::Signature,
}

/// A ticket to open.
#[derive(Clone, Debug, PartialEq)]
pub struct TicketRecord {
    /// Its number, shown to the teacher and the experts.
    pub code: String,
    /// The question it comes from.
    pub question: u32,
    /// The teacher's words.
    pub text: String,
    /// The detected topic.
    pub topic: Option<String>,
    /// The teacher's language.
    pub lang: Lang,
    /// What the bot suggested before, if anything.
    pub suggested: Option<String>,
    /// The expert pool.
    pub pool: Option<String>,
    /// Where the teacher was (a node id), for the expert's context.
    pub context: Option<String>,
}

/// What the conversation layer must do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Anything the dialogue engine asked for (messages included).
    Dialogue(dialogue::Effect),
    /// Log a question.
    Question(QuestionRecord),
    /// A logged question's outcome changed.
    Outcome {
        /// The question's number.
        question: u32,
        /// The new outcome.
        outcome: Outcome,
    },
    /// Open a ticket.
    OpenTicket(TicketRecord),
    /// Add the teacher's words, photo or voice note to a ticket.
    TicketMessage {
        /// The ticket.
        code: String,
        /// text, photo, voice, document, …
        kind: String,
        /// The words (a caption for media).
        text: String,
        /// The platform's file id, for media.
        file_id: Option<String>,
    },
    /// The teacher rated the answer to a ticket (1–5).
    Rating {
        /// The ticket.
        code: String,
        /// 1–5.
        rating: u8,
    },
    /// The teacher says the expert's answer did not solve it: the ticket is open again.
    Reopen {
        /// The ticket.
        code: String,
    },
    /// The teacher commented on the answer.
    Comment {
        /// The ticket.
        code: String,
        /// The words.
        text: String,
    },
    /// A programme feature's record (an RSVP, a shared practice, a job to schedule).
    Programme(crate::programme::Effect),
    /// Show a picture with the reply's text as its caption (a certificate): `path` is the
    /// picture's path on Baithak's public site, `link` a page to add to the caption (both
    /// made absolute with the public URL when the message is sent).
    Photo {
        /// The words and buttons (the caption).
        reply: Reply,
        /// `/certificates/{code}.png`.
        path: String,
        /// `/verify/{code}`.
        link: String,
    },
}

/// The result of one step.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The new state.
    pub state: TeacherState,
    /// What to do.
    pub effects: Vec<Effect>,
}

/// Button ids of the helpdesk start with this; the dialogue never makes them.
pub const BUTTON_PREFIX: &str = "hd.";

/// Advances a conversation by one input.
#[must_use]
pub fn step(cx: Context<'_>, state: &TeacherState, input: &Input, now: DateTime<Utc>) -> Step {
    let mut h = Helpdesk {
        cx,
        s: state.clone(),
        effects: Vec::new(),
        now,
    };
    h.handle(input);
    Step {
        state: h.s,
        effects: h.effects,
    }
}

/// The message an expert's answer becomes, with the rating buttons; the teacher's state
/// remembers that a rating is awaited.
#[must_use]
pub fn expert_answer(
    cx: Context<'_>,
    state: &TeacherState,
    code: &str,
    text: &str,
    now: DateTime<Utc>,
) -> Step {
    let mut h = Helpdesk {
        cx,
        s: state.clone(),
        effects: Vec::new(),
        now,
    };
    let body = h
        .text("helpdesk_expert_answer")
        .replace("{code}", code)
        .replace("{text}", text);
    h.say(body, Vec::new());
    let mut buttons: Vec<Button> = (1..=5)
        .map(|n| Button {
            id: format!("{BUTTON_PREFIX}rate.{n}"),
            label: n.to_string(),
            short: None,
        })
        .collect();
    buttons.push(h.button_for("reopen", "helpdesk_still_need_help"));
    let rate = h.text("helpdesk_rate");
    h.say(rate, buttons);
    h.s.helpdesk.rating = Some(code.to_string());
    // Answered: later words are new questions again.
    if h.s.helpdesk.open.as_deref() == Some(code) {
        h.s.helpdesk.open = None;
    }
    Step {
        state: h.s,
        effects: h.effects,
    }
}

/// The rating button a typed answer stands for: `1`–`5` in Latin, Arabic-Indic, Urdu or Bangla
/// digits, 👍 (5) and 👎 (the answer did not help).
fn typed_rating(text: &str) -> Option<&'static str> {
    let text = text.trim();
    let mut chars = text.chars();
    let first = chars.next()?;
    // A thumb may carry a variation selector or a skin tone.
    let rest = chars.as_str().trim_start_matches([
        '\u{fe0f}',
        '\u{1f3fb}',
        '\u{1f3fc}',
        '\u{1f3fd}',
        '\u{1f3fe}',
        '\u{1f3ff}',
    ]);
    if !rest.is_empty() {
        return None;
    }
    match first {
        '👍' => Some("rate.5"),
        '👎' => Some("reopen"),
        c => match crate::language::digit_value(c)? {
            1 => Some("rate.1"),
            2 => Some("rate.2"),
            3 => Some("rate.3"),
            4 => Some("rate.4"),
            5 => Some("rate.5"),
            _ => None,
        },
    }
}

/// A ticket's number: `HD-` and six characters that cannot be confused (no 0/O, 1/I/L), from
/// the teacher's seed and the question's number.
#[must_use]
pub fn ticket_code(seed: u64, question: u32) -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    let mut hasher = Sha256::new();
    hasher.update(b"ticket");
    hasher.update(seed.to_le_bytes());
    hasher.update(question.to_le_bytes());
    let digest = hasher.finalize();
    let mut code = String::from("HD-");
    for byte in digest.iter().take(6) {
        code.push(char::from(ALPHABET[usize::from(*byte) % ALPHABET.len()]));
    }
    code
}

/// One step in the making: the state so far and the effects gathered. Programme features
/// ([`crate::programme`]) build their steps with it too.
pub(crate) struct Helpdesk<'a> {
    pub(crate) cx: Context<'a>,
    pub(crate) s: TeacherState,
    pub(crate) effects: Vec<Effect>,
    pub(crate) now: DateTime<Utc>,
}

impl<'a> Helpdesk<'a> {
    /// A step starting from `state`.
    pub(crate) fn new(cx: Context<'a>, state: &TeacherState, now: DateTime<Utc>) -> Helpdesk<'a> {
        Helpdesk {
            cx,
            s: state.clone(),
            effects: Vec::new(),
            now,
        }
    }

    /// The step made.
    pub(crate) fn finish(self) -> Step {
        Step {
            state: self.s,
            effects: self.effects,
        }
    }
}

impl Helpdesk<'_> {
    fn handle(&mut self, input: &Input) {
        // The teacher's own data: "/mydata", "/forget" and its confirmation (`privacy`).
        if privacy::handled(self, input) {
            return;
        }
        if let Input::Choice(id) = input
            && let Some(button) = id.strip_prefix(BUTTON_PREFIX)
        {
            self.button(button);
            return;
        }
        // CPD notices: "stop notices" / "notices on" from anywhere, the place kept (`notice`).
        if notice::handled(self, input) {
            return;
        }
        // Programme features: their buttons, commands and guided dialogues.
        if crate::programme::handle(self, input) {
            return;
        }
        // While a rating is awaited, a typed 1–5 (in any script), 👍 or 👎 is the rating.
        if self.s.helpdesk.rating.is_some()
            && let Input::Text(text) = input
            && let Some(button) = typed_rating(text)
        {
            self.button(button);
            return;
        }
        // Anything but the feedback buttons leaves a pending answer as it is ("answered").
        self.s.helpdesk.pending = None;
        if let Some(code) = self.s.helpdesk.comment.take()
            && let Input::Text(text) = input
            && !self.is_command(text)
        {
            self.effects.push(Effect::Comment {
                code,
                text: text.clone(),
            });
            let saved = self.text("helpdesk_comment_saved");
            self.say(saved, Vec::new());
            self.resume();
            return;
        }
        self.s.helpdesk.rating = None;
        // A photo or voice note while a question is open is for the expert.
        if let Input::Media {
            kind,
            file_id,
            caption,
        } = input
            && let Some(code) = self.s.helpdesk.open.clone()
        {
            self.effects.push(Effect::TicketMessage {
                code: code.clone(),
                kind: kind.clone(),
                text: caption.clone().unwrap_or_default(),
                file_id: Some(file_id.clone()),
            });
            let added = self
                .text("helpdesk_followup_added")
                .replace("{code}", &code);
            self.say(added, Vec::new());
            return;
        }
        let step = dialogue::step(self.cx.dialogues, &self.s.dialogue, input, self.now);
        self.s.dialogue = step.state;
        let from = self.effects.len();
        for effect in step.effects {
            match effect {
                dialogue::Effect::Question { text } => self.question(&text),
                other => self.effects.push(Effect::Dialogue(other)),
            }
        }
        // Certificates issued in this step: the picture, pathways, milestones; badges in
        // "My progress" (`certificate::award`).
        crate::certificate::award::after_step(self, from);
    }

    pub(crate) fn is_command(&self, text: &str) -> bool {
        let normalized = crate::language::normalize(text);
        self.cx
            .dialogues
            .commands
            .iter()
            .any(|c| c.words.contains(&normalized))
            || text.trim_start().starts_with('/')
    }

    fn question(&mut self, text: &str) {
        if !text.chars().any(char::is_alphanumeric) {
            let empty = self.text("helpdesk_empty");
            self.say(empty, Vec::new());
            return;
        }
        if let Some(code) = self.s.helpdesk.open.clone() {
            self.effects.push(Effect::TicketMessage {
                code: code.clone(),
                kind: "text".into(),
                text: text.to_string(),
                file_id: None,
            });
            let added = self
                .text("helpdesk_followup_added")
                .replace("{code}", &code);
            self.say(added, Vec::new());
            return;
        }
        self.s.helpdesk.asked += 1;
        let number = self.s.helpdesk.asked;
        // As many hits as a clustering signature keeps, so logging reuses this search.
        let found = self
            .cx
            .kb
            .search(text, crate::insights::cluster::TOP_ARTICLES);
        let answer = self.cx.kb.answer(&found).cloned();
        let mut record = QuestionRecord {
            number,
            text: text.to_string(),
            written: found.written,
            topic: found.topic.clone(),
            confidence: found.confidence,
            article: answer.as_ref().map(|a| a.id.clone()),
            outcome: Outcome::Answered,
            signature: crate::insights::cluster::signature_with(self.cx.kb, text, &found),
        };
        let Some(article) = answer else {
            record.outcome = Outcome::Escalated;
            self.effects.push(Effect::Question(record));
            self.escalate(number, text, &found, None);
            return;
        };
        let lang = self.s.dialogue.lang;
        let heading = self
            .text("helpdesk_answer")
            .replace("{title}", article.title.get(lang))
            .replace("{text}", article.short.get(lang));
        if article.topic() == ADMIN_TOPIC {
            // Not ours to answer: the article says where to go, in full.
            record.outcome = Outcome::OutOfScope;
            self.effects.push(Effect::Question(record));
            let more = article.more.get(lang);
            let body = if more.is_empty() {
                heading
            } else {
                format!("{heading}\n\n{more}")
            };
            self.say(body, Vec::new());
            self.resume();
            return;
        }
        self.effects.push(Effect::Question(record));
        let mut buttons = Vec::new();
        if !article.more.get(lang).is_empty() {
            buttons.push(self.button_for("more", "helpdesk_read_more"));
        }
        buttons.extend(self.feedback_buttons());
        let ask = self.text("helpdesk_did_it_help");
        self.say(format!("{heading}\n\n{ask}"), buttons);
        self.s.helpdesk.pending = Some(Pending {
            question: number,
            text: text.to_string(),
            article: article.id.clone(),
        });
    }

    fn feedback_buttons(&self) -> Vec<Button> {
        vec![
            self.button_for("yes", "helpdesk_yes"),
            self.button_for("no", "helpdesk_no"),
            self.button_for("expert", "helpdesk_expert"),
        ]
    }

    fn button_for(&self, id: &str, key: &str) -> Button {
        Button {
            id: format!("{BUTTON_PREFIX}{id}"),
            label: self.text(key),
            short: None,
        }
    }

    fn button(&mut self, button: &str) {
        let pending = self.s.helpdesk.pending.clone();
        match (button, pending) {
            ("more", Some(pending)) => {
                let lang = self.s.dialogue.lang;
                let more = self
                    .cx
                    .kb
                    .article(&pending.article)
                    .map(|a| a.more.get(lang).to_string())
                    .unwrap_or_default();
                let ask = self.text("helpdesk_did_it_help");
                let buttons = self.feedback_buttons();
                self.say(format!("{more}\n\n{ask}"), buttons);
            }
            ("yes", Some(pending)) => {
                self.s.helpdesk.pending = None;
                self.effects.push(Effect::Outcome {
                    question: pending.question,
                    outcome: Outcome::Helped,
                });
                let glad = self.text("helpdesk_glad");
                self.say(glad, Vec::new());
                self.resume();
            }
            (no @ ("no" | "expert"), Some(pending)) => {
                self.s.helpdesk.pending = None;
                self.effects.push(Effect::Outcome {
                    question: pending.question,
                    outcome: if no == "no" {
                        Outcome::NotHelped
                    } else {
                        Outcome::Escalated
                    },
                });
                let found = self.cx.kb.search(&pending.text, 3);
                self.escalate(
                    pending.question,
                    &pending.text,
                    &found,
                    Some(pending.article),
                );
            }
            ("reopen", _) => {
                let Some(code) = self.s.helpdesk.rating.take() else {
                    self.resume();
                    return;
                };
                self.effects.push(Effect::Reopen { code: code.clone() });
                let reopened = self.text("helpdesk_reopened").replace("{code}", &code);
                self.say(reopened, Vec::new());
                self.s.helpdesk.open = Some(code);
            }
            (rate, _) if rate.starts_with("rate.") => {
                let Some(code) = self.s.helpdesk.rating.take() else {
                    self.resume();
                    return;
                };
                let rating = rate["rate.".len()..].parse::<u8>().unwrap_or(0).clamp(1, 5);
                self.effects.push(Effect::Rating {
                    code: code.clone(),
                    rating,
                });
                let thanks = self.text("helpdesk_rated");
                self.say(thanks, Vec::new());
                self.s.helpdesk.comment = Some(code);
            }
            // A button of an answer already dealt with (tapped twice, or long after).
            _ => self.resume(),
        }
    }

    fn escalate(&mut self, question: u32, text: &str, found: &Found, suggested: Option<String>) {
        let code = ticket_code(self.s.dialogue.seed, question);
        let lang = self.s.dialogue.lang;
        let pool = self
            .cx
            .config
            .pool(found.topic.as_deref(), lang)
            .map(|p| p.name.clone());
        self.effects.push(Effect::OpenTicket(TicketRecord {
            code: code.clone(),
            question,
            text: text.to_string(),
            topic: found.topic.clone(),
            lang,
            suggested,
            pool,
            context: self.s.dialogue.at.as_ref().map(|c| c.node.to_string()),
        }));
        self.s.helpdesk.open = Some(code.clone());
        let when = match self.cx.config.expect(self.now) {
            Expect::Within(hours) => self
                .text("helpdesk_when_hours")
                .replace("{hours}", &hours.to_string()),
            Expect::Opens(opens) => self
                .text("helpdesk_when_closed")
                .replace("{opens}", &opens.format("%a %d %b %H:%M").to_string())
                .replace("{schedule}", &self.cx.config.schedule()),
        };
        let open = self
            .text("helpdesk_ticket_open")
            .replace("{code}", &code)
            .replace("{when}", &when);
        self.say(open, Vec::new());
        self.resume();
    }

    /// Shows again where the conversation waits.
    pub(crate) fn resume(&mut self) {
        if self.s.dialogue.at.is_none() {
            return;
        }
        let step = dialogue::resume(self.cx.dialogues, &self.s.dialogue, self.now);
        self.s.dialogue = step.state;
        let line = self.text("helpdesk_continue");
        self.say(line, Vec::new());
        self.effects
            .extend(step.effects.into_iter().map(Effect::Dialogue));
    }

    /// A system text (`_system.yaml`) in the teacher's language; the key itself when missing.
    pub(crate) fn text(&self, key: &str) -> String {
        self.cx.dialogues.texts.get(key).map_or_else(
            || key.to_string(),
            |t| t.get(self.s.dialogue.lang).to_string(),
        )
    }

    /// Says `text` with `choices` as buttons.
    pub(crate) fn say(&mut self, text: String, choices: Vec<Button>) {
        self.effects
            .push(Effect::Dialogue(dialogue::Effect::Say(Reply {
                text,
                choices,
                lang: self.s.dialogue.lang,
            })));
    }
}

/// What an expert's message in a ticket's topic means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpertCommand {
    /// `/claim`: the expert takes the ticket.
    Claim,
    /// `/close`: done.
    Close,
    /// `/note <text>`: an internal note, never sent to the teacher.
    Note(String),
    /// `/topic <id>`: the question is about another topic.
    Topic(String),
    /// `/queue`: list the open tickets.
    Queue,
    /// Any other words: the answer, relayed to the teacher.
    Answer(String),
}

/// Reads an expert's message (`/claim@BaithakBot` works like `/claim`).
#[must_use]
pub fn expert_command(text: &str) -> ExpertCommand {
    let text = text.trim();
    let (first, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let command = first.split('@').next().unwrap_or(first).to_lowercase();
    let rest = rest.trim().to_string();
    match command.as_str() {
        "/claim" => ExpertCommand::Claim,
        "/close" => ExpertCommand::Close,
        "/note" => ExpertCommand::Note(rest),
        "/topic" => ExpertCommand::Topic(rest),
        "/queue" => ExpertCommand::Queue,
        _ => ExpertCommand::Answer(text.to_string()),
    }
}

/// The opening post of a ticket's topic in the expert group: the question and its context,
/// with the teacher's number masked.
#[must_use]
pub fn topic_post(
    ticket: &TicketRecord,
    profile: &std::collections::BTreeMap<String, String>,
    address: &str,
) -> (String, String) {
    let topic = ticket.topic.as_deref().unwrap_or("no topic");
    let name = format!("{} · {} · {}", ticket.code, topic, ticket.lang.code());
    let field = |key: &str| profile.get(key).map_or("—", String::as_str);
    let masked: String = {
        let chars: Vec<char> = address.chars().collect();
        // The last three characters at most (a third of a short id), so experts can tell two
        // teachers apart without learning a number.
        let keep = chars.len() - (chars.len() / 3).min(3);
        chars
            .iter()
            .enumerate()
            .map(|(i, c)| if i < keep { '•' } else { *c })
            .collect()
    };
    let text = format!(
        "🆕 *{code}* · {topic} · {lang}\n\n*Question:* {question}\n\n*Teacher:* {name}, {role}, {district}, grades {grades} ({masked})\n*Suggested before:* {suggested}\n*Was at:* {context}\n*Pool:* {pool}\n\nReply in this topic to answer the teacher. /claim to take it, /note <text> for an internal note, /topic <id> to correct the topic, /close when done.",
        code = ticket.code,
        lang = ticket.lang.code(),
        question = ticket.text,
        name = field("name"),
        role = field("role"),
        district = field("district"),
        grades = field("grades"),
        suggested = ticket.suggested.as_deref().unwrap_or("—"),
        context = ticket.context.as_deref().unwrap_or("—"),
        pool = ticket.pool.as_deref().unwrap_or("—"),
    );
    (name, text)
}
