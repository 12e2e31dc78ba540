//! The programme in a teacher's conversation: what makes CPD continuous rather than one-off
//! (CPD-hour announcements and RSVPs, reminders, broadcasts, certificates, practice sharing,
//! headteachers' and mentors' tools). Pure.
//!
//! Two ways in, both through the helpdesk's step so every reply, state change and record is
//! one commit like any other:
//! - [`Message`]: something the programme (a scheduled job, staff) starts in one teacher's
//!   conversation. It arrives as an inbox event of that teacher ([`crate::channel::InboundMessage::Programme`],
//!   external id unique per teacher and occasion, so it is delivered once) and [`deliver`]
//!   turns it into replies. Messages a teacher can refuse are dropped for a teacher who said
//!   STOP ([`wants_messages`]).
//! - [`handle`]: the teacher's own input that belongs to a programme feature (a tap on one of
//!   its buttons, whose ids start with [`BUTTON_PREFIX`]; a command such as `/verify`; the
//!   answers of one of its guided dialogues). It runs before the helpdesk and the dialogue.
//!
//! Whatever must be written besides replies and profile fields is an [`Effect`], written in
//! the same transaction by `store::programme`. Content (`programme/*.yaml` in the content
//! root) is [`Programme`], loaded and checked with the rest ([`load`]).
//!
//! - [`segment`]: audiences (district, school, role, grade, subject, language, channel,
//!   progress).

pub mod segment;

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::diagnostic::Diagnostic;
use crate::dialogue::{Button, Dialogues, Input};
use crate::helpdesk::{Context, Helpdesk, Step, TeacherState};
use crate::language::Lang;

/// Button ids of programme features start with this; the dialogue and the helpdesk never make
/// them.
pub const BUTTON_PREFIX: &str = "pg.";

/// The folder of the content root that holds the programme's files.
pub const DIR: &str = "programme";

/// The programme's content: `programme/*.yaml`, checked at load like dialogues.
#[derive(Clone, Debug, Default)]
pub struct Programme {}

/// Reads `programme/` under `root` (each file is optional), adding every problem to
/// `diagnostics` with its file, line and column. `dialogues` and `topics` are the rest of the
/// content, for cross-references (a session's linked module must exist).
#[must_use]
pub fn load(
    root: &Path,
    dialogues: Option<&Dialogues>,
    topics: &std::collections::HashSet<String>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Programme {
    let _ = (root.join(DIR), dialogues, topics, diagnostics);
    Programme {}
}

/// The programme's part of a teacher's conversation state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgrammeState {}

impl ProgrammeState {
    /// Whether there is nothing to keep (it is then left out of the JSON).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == ProgrammeState::default()
    }
}

/// Something the programme says in one teacher's conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Message {
    /// Words written by staff, in each language (a broadcast; anything without a feature of
    /// its own).
    Say(Say),
}

/// Words from the programme, in the teacher's language.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Say {
    /// The outbox tag its replies carry (`broadcast:12`), so what became of them can be
    /// counted per occasion.
    pub tag: String,
    /// The text per language code; English (or the first) for a language without one.
    pub texts: BTreeMap<String, String>,
    /// Sent even to a teacher who said STOP (the teacher asked for it).
    #[serde(default)]
    pub always: bool,
}

impl Message {
    /// The tag its outbox rows carry (`outbox.ticket`): they follow the occasion, and they
    /// are not the teacher writing.
    #[must_use]
    pub fn tag(&self) -> String {
        match self {
            Message::Say(say) => say.tag.clone(),
        }
    }

    /// How the transcript shows it arrived (no words: they are in the replies).
    #[must_use]
    pub fn transcript_text(&self) -> String {
        format!("<programme: {}>", self.tag())
    }
}

/// What a programme step writes besides replies and profile fields (same transaction).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Schedule a job (a key already scheduled is left alone); the scheduler is woken.
    ScheduleJob {
        /// The handler's kind.
        kind: String,
        /// Its unique key.
        key: String,
        /// JSON for the handler.
        payload: String,
        /// When.
        due_at: DateTime<Utc>,
    },
}

/// Whether the teacher takes programme messages they did not ask for (they do unless they
/// said STOP).
#[must_use]
pub fn wants_messages(state: &TeacherState) -> bool {
    crate::helpdesk::notice::wants_notices(state)
}

/// The replies (and effects) a programme message becomes for this teacher; nothing for one
/// who said STOP, unless the message is one they asked for. The conversation stays where it
/// was (a lesson, a quiz: the step on screen is shown again).
#[must_use]
pub fn deliver(
    cx: Context<'_>,
    state: &TeacherState,
    message: &Message,
    now: DateTime<Utc>,
) -> Step {
    let mut h = Helpdesk::new(cx, state, now);
    match message {
        Message::Say(say) => {
            if say.always || wants_messages(state) {
                let text = pick(&say.texts, h.s.dialogue.lang);
                h.say(text, Vec::new());
                h.reshow();
            }
        }
    }
    h.finish()
}

/// Handles the teacher's input when it belongs to a programme feature; `false` leaves it to
/// the helpdesk and the dialogue.
pub(crate) fn handle(h: &mut Helpdesk<'_>, input: &Input) -> bool {
    if let Input::Choice(id) = input
        && let Some(_button) = id.strip_prefix(BUTTON_PREFIX)
    {
        // A button of a feature this build no longer has: say nothing new, show where we were.
        h.reshow();
        return true;
    }
    false
}

/// A programme button: its id carries [`BUTTON_PREFIX`]; `short` is a label of at most 20
/// characters for WhatsApp when `label` is longer.
#[must_use]
pub fn button(id: &str, label: String, short: Option<String>) -> Button {
    Button {
        id: format!("{BUTTON_PREFIX}{id}"),
        label,
        short,
    }
}

/// The text for `lang` in a per-language map: the language's own, else English, else the
/// first.
#[must_use]
pub fn pick(texts: &BTreeMap<String, String>, lang: Lang) -> String {
    texts
        .get(lang.code())
        .or_else(|| texts.get("en"))
        .or_else(|| texts.values().next())
        .cloned()
        .unwrap_or_default()
}
