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

pub mod calendar;
pub mod pathways;
pub mod practice;
pub mod privacy;
pub mod reminders;
pub mod school;
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
pub struct Programme {
    /// Reminders' settings (`reminders.yaml`; defaults when absent).
    pub reminders: reminders::Settings,
    /// The CPD-hour calendar (`calendar.yaml`; empty when absent).
    pub calendar: calendar::Calendar,
    /// Pathways: sets of modules with a certificate of their own (`pathways.yaml`; none
    /// when absent).
    pub pathways: pathways::Pathways,
    /// How long what teachers write is kept (`privacy.yaml`; defaults when absent).
    pub privacy: privacy::Settings,
}

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
    let _ = (root.join(DIR), dialogues, topics, &diagnostics);
    let reminders = read_reminders(&root.join(DIR), diagnostics);
    let calendar = read_calendar(&root.join(DIR), dialogues, diagnostics);
    let pathways = read_pathways(&root.join(DIR), dialogues, diagnostics);
    let privacy = read_privacy(&root.join(DIR), diagnostics);
    Programme {
        privacy,
        pathways,
        reminders,
        calendar,
    }
}

/// `reminders.yaml` in `dir`, parsed ([`reminders::parse`]); the defaults when it is absent.
fn read_reminders(dir: &Path, diagnostics: &mut Vec<Diagnostic>) -> reminders::Settings {
    let path = dir.join(reminders::FILE);
    match std::fs::read_to_string(&path) {
        Ok(source) => reminders::parse(&path, &source, diagnostics),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => reminders::Settings::default(),
        Err(err) => {
            let at = crate::diagnostic::Pos::new(0, 0);
            diagnostics.push(Diagnostic::error(&path, at, format!("cannot read: {err}")));
            reminders::Settings::default()
        }
    }
}

/// `privacy.yaml` in `dir`, parsed ([`privacy::parse`]); the defaults when it is absent.
fn read_privacy(dir: &Path, diagnostics: &mut Vec<Diagnostic>) -> privacy::Settings {
    let path = dir.join(privacy::FILE);
    match std::fs::read_to_string(&path) {
        Ok(source) => privacy::parse(&path, &source, diagnostics),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => privacy::Settings::default(),
        Err(err) => {
            let at = crate::diagnostic::Pos::new(0, 0);
            diagnostics.push(Diagnostic::error(&path, at, format!("cannot read: {err}")));
            privacy::Settings::default()
        }
    }
}

/// `pathways.yaml` in `dir`, parsed ([`pathways::parse`]); none when it is absent.
fn read_pathways(
    dir: &Path,
    dialogues: Option<&Dialogues>,
    diagnostics: &mut Vec<Diagnostic>,
) -> pathways::Pathways {
    let path = dir.join(pathways::FILE);
    match std::fs::read_to_string(&path) {
        Ok(source) => pathways::parse(&path, &source, dialogues, diagnostics),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => pathways::Pathways::default(),
        Err(err) => {
            let at = crate::diagnostic::Pos::new(0, 0);
            diagnostics.push(Diagnostic::error(&path, at, format!("cannot read: {err}")));
            pathways::Pathways::default()
        }
    }
}

/// `calendar.yaml` in `dir`, parsed ([`calendar::parse`]); empty when it is absent.
fn read_calendar(
    dir: &Path,
    dialogues: Option<&Dialogues>,
    diagnostics: &mut Vec<Diagnostic>,
) -> calendar::Calendar {
    let path = dir.join(calendar::FILE);
    match std::fs::read_to_string(&path) {
        Ok(source) => calendar::parse(&path, &source, dialogues, diagnostics),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => calendar::Calendar::default(),
        Err(err) => {
            let at = crate::diagnostic::Pos::new(0, 0);
            diagnostics.push(Diagnostic::error(&path, at, format!("cannot read: {err}")));
            calendar::Calendar::default()
        }
    }
}

/// The programme's part of a teacher's conversation state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgrammeState {
    /// Pathway certificates issued: pathway id → code (`certificate::award`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pathways: BTreeMap<String, String>,
    /// Practice sharing: the practice being written, endorsements (`practice`).
    #[serde(default, skip_serializing_if = "practice::PracticeState::is_empty")]
    pub practice: practice::PracticeState,
}

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
    /// A lesson nudge or a quiz-retry suggestion (`reminders`).
    Reminder(reminders::Reminder),
    /// Practice sharing: the practice of the week, a review, endorsements (`practice`).
    Practice(practice::Notice),
    /// A CPD-hour session's announcement (with RSVP buttons) or follow-up (with its lesson)
    /// (`calendar`).
    Announcement(calendar::Announcement),
    /// The participation summary a headteacher or mentor asked for (`school`); said even
    /// after STOP.
    SchoolSummary(school::SchoolSummary),
    /// The answer to the teacher's `/verify CODE` (`certificate::award`); said even after
    /// STOP (the teacher asked).
    VerifyResult(crate::certificate::award::VerifyResult),
    /// What Baithak keeps about the teacher, for their "/mydata" (`helpdesk::privacy`); said
    /// even after STOP (the teacher asked).
    MyData(Box<crate::helpdesk::privacy::MyData>),
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
            Message::Reminder(reminder) => reminder.tag(),
            Message::Practice(notice) => notice.tag(),
            Message::Announcement(a) => a.occasion.clone(),
            Message::SchoolSummary(summary) => summary.tag(),
            Message::VerifyResult(result) => result.tag(),
            Message::MyData(data) => data.tag(),
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
        /// Its unique key; `{teacher}` in it (and in `payload`) is replaced by the
        /// teacher's id when it is written.
        key: String,
        /// JSON for the handler.
        payload: String,
        /// When.
        due_at: DateTime<Utc>,
    },
    /// A teacher shared a practice (pending review; district and school from their row).
    SharePractice(practice::Shared),
    /// A teacher endorsed a practice (once; never their own).
    Endorse {
        /// The practice.
        practice: i64,
    },
    /// The teacher asked whether a certificate code is valid: a `verify` job (keyed by the
    /// teacher and the moment) answers in their conversation (`scheduler::verify`).
    Verify {
        /// The code as typed (trimmed).
        code: String,
    },
    /// The teacher confirmed "/forget": their records are anonymised in the commit's
    /// transaction (`store::privacy::forget!`), and the chat gets a fresh conversation.
    Forget {
        /// The fresh conversation's state, as JSON.
        state: String,
        /// Its profile, as JSON.
        profile: String,
    },
    /// A teacher answered a CPD-hour session's invitation (a later answer replaces it).
    Rsvp {
        /// The session's id.
        session: String,
        /// "I'll attend" (else "Can't make it").
        attend: bool,
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
        Message::Reminder(reminder) => {
            if wants_messages(state) {
                reminders::deliver(&mut h, reminder);
            }
        }
        Message::Practice(notice) => practice::deliver(&mut h, notice),
        Message::Announcement(a) => calendar::announce(&mut h, a),
        Message::SchoolSummary(summary) => school::deliver(&mut h, summary),
        Message::VerifyResult(result) => crate::certificate::award::verify_result(&mut h, result),
        Message::MyData(data) => crate::helpdesk::privacy::say_my_data(&mut h, data),
    }
    h.finish()
}

/// Handles the teacher's input when it belongs to a programme feature; `false` leaves it to
/// the helpdesk and the dialogue.
pub(crate) fn handle(h: &mut Helpdesk<'_>, input: &Input) -> bool {
    // A reminder's "Continue", "Try the quiz again" or "Not now".
    if let Input::Choice(id) = input
        && let Some(button) = id.strip_prefix(BUTTON_PREFIX)
        && reminders::button(h, button)
    {
        return true;
    }
    // The CPD-hour calendar: RSVPs, and the lesson offered after a session.
    if let Input::Choice(id) = input
        && let Some(button) = id.strip_prefix(BUTTON_PREFIX)
        && calendar::handle(h, button)
    {
        return true;
    }
    // Practice sharing: its guided dialogue, endorsements, the practice of the week.
    if practice::handle(h, input) {
        return true;
    }
    // Certificates: "/verify CODE", "verify CODE", "tasdeeq CODE".
    if crate::certificate::award::verify_command(h, input) {
        return true;
    }
    if let Input::Choice(id) = input
        && let Some(_button) = id.strip_prefix(BUTTON_PREFIX)
    {
        // A button of a feature this build no longer has: say nothing new, show where we were.
        h.reshow();
        return true;
    }
    // Headteachers and mentors: the summary asked for, the practice cycle's check-in (they
    // watch where the dialogue goes; the dialogue still takes the input).
    school::watch(h, input);
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
