//! A teacher's own data: what Baithak keeps about them (`/mydata`) and forgetting them
//! (`/forget`). Pure.
//!
//! - "/mydata", or the words of the `my_data` command of `_system.yaml` ("my data", "mera
//!   data", "میرا ڈیٹا", "আমার তথ্য"…), from anywhere: the step cannot read the store, so it
//!   schedules a `mydata` job (`scheduler::mydata`, due at once, keyed by the teacher and the
//!   moment); the job reads [`MyData`] and says it in the conversation
//!   (`programme::Message::MyData`, [`say_my_data`]), with the transcript's retention period
//!   (`programme/privacy.yaml`) and how to ask for deletion.
//! - "/forget", or the words of the `forget` command: asks to confirm, with Yes/No buttons
//!   (typed yes/no also count, in English, Roman Urdu, Urdu and Bangla). On yes the
//!   confirmation is said and [`crate::programme::Effect::Forget`] is written in the same
//!   commit (`store::privacy::forget!`): the teacher's row is anonymised and a fresh
//!   conversation made for the chat, so their next message starts onboarding as a new teacher.
//!   Anything else leaves everything as it was.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{BUTTON_PREFIX, Effect, Helpdesk, TeacherState};
use crate::dialogue::{Button, Input, State, matching};

/// What replaces a forgotten teacher's words in the records that are kept.
pub const REMOVED: &str = "[removed at the teacher's request]";

/// The command (in `_system.yaml`) that asks what Baithak keeps.
pub const MY_DATA_COMMAND: &str = "my_data";

/// The command (in `_system.yaml`) that asks Baithak to forget the teacher.
pub const FORGET_COMMAND: &str = "forget";

/// The kind of the job that answers "/mydata" (`scheduler::mydata`).
pub const MY_DATA_JOB: &str = "mydata";

/// Button ids (after the helpdesk's prefix) of the confirmation.
const YES: &str = "privacy.forget_yes";
const NO: &str = "privacy.forget_no";

/// Typed words that confirm, after normalisation (lower case).
const YES_WORDS: &[&str] = &[
    "yes",
    "y",
    "yes delete",
    "delete",
    "haan",
    "han",
    "ha",
    "haa",
    "ji",
    "jee",
    "ji haan",
    "g",
    "ہاں",
    "ہان",
    "جی",
    "جی ہاں",
    "হ্যাঁ",
    "হ্যা",
    "হাঁ",
    "জি",
    "জি হ্যাঁ",
];

/// Typed words that refuse.
const NO_WORDS: &[&str] = &[
    "no",
    "n",
    "nahi",
    "nahin",
    "nai",
    "na",
    "نہیں",
    "نہ",
    "না",
    "না থাক",
];

/// What Baithak keeps about one teacher, as the `mydata` job read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyData {
    /// The request's job key (`mydata:{teacher}:{millis}`): the occasion.
    pub request: String,
    /// Profile fields (`None`: never given).
    pub name: Option<String>,
    /// Role.
    pub role: Option<String>,
    /// District.
    pub district: Option<String>,
    /// School.
    pub school: Option<String>,
    /// Grades taught.
    pub grades: Option<String>,
    /// Subjects taught.
    pub subjects: Option<String>,
    /// Language code.
    pub language: String,
    /// Consent as given.
    pub consent: Option<String>,
    /// Whether programme messages are on.
    pub notices_on: bool,
    /// telegram, whatsapp, web.
    pub channel: String,
    /// First contact.
    pub since: DateTime<Utc>,
    /// Lines in the conversation's transcript.
    pub messages: u64,
    /// Questions asked.
    pub questions: u64,
    /// Tickets `(code, status)`.
    pub tickets: Vec<(String, String)>,
    /// Lessons started.
    pub lessons_started: u64,
    /// Lessons completed.
    pub lessons_completed: u64,
    /// Quiz attempts.
    pub quiz_attempts: u64,
    /// Reflections written.
    pub reflections: u64,
    /// Practices shared.
    pub practices: u64,
    /// Certificates `(code, module)`.
    pub certificates: Vec<(String, String)>,
}

impl MyData {
    /// The outbox tag of its reply.
    #[must_use]
    pub fn tag(&self) -> String {
        self.request.clone()
    }
}

/// The command a text is: `Some(true)` for "/mydata", `Some(false)` for "/forget".
fn command(h: &Helpdesk<'_>, text: &str) -> Option<bool> {
    let trimmed = text.trim();
    if let Some(slash) = trimmed.strip_prefix('/') {
        let name = slash.split('@').next().unwrap_or_default().to_lowercase();
        match name.as_str() {
            "mydata" | "my_data" => return Some(true),
            "forget" | "forget_me" | "forgetme" => return Some(false),
            _ => {}
        }
    }
    let words = |name: &str| {
        h.cx.dialogues
            .commands
            .iter()
            .find(|c| c.name == name)
            .map_or(&[][..], |c| c.words.as_slice())
    };
    if matching::is_word(text, words(MY_DATA_COMMAND)) {
        return Some(true);
    }
    if matching::is_word(text, words(FORGET_COMMAND)) {
        return Some(false);
    }
    None
}

/// A typed yes (`Some(true)`) or no (`Some(false)`) to the confirmation.
fn typed_answer(text: &str) -> Option<bool> {
    let typed = crate::language::normalize(text);
    let typed = typed.trim_matches(|c: char| c.is_ascii_punctuation() || c == '۔' || c == '।');
    if YES_WORDS
        .iter()
        .any(|w| crate::language::normalize(w) == typed)
    {
        return Some(true);
    }
    if NO_WORDS
        .iter()
        .any(|w| crate::language::normalize(w) == typed)
    {
        return Some(false);
    }
    None
}

/// Handles "/mydata", "/forget" and the confirmation; `false` leaves the input to the rest.
pub(super) fn handled(h: &mut Helpdesk<'_>, input: &Input) -> bool {
    let pending = std::mem::take(&mut h.s.helpdesk.forget);
    let answer = match input {
        Input::Choice(id) if id.strip_prefix(BUTTON_PREFIX) == Some(YES) => Some(true),
        Input::Choice(id) if id.strip_prefix(BUTTON_PREFIX) == Some(NO) => Some(false),
        Input::Text(text) if pending => typed_answer(text),
        _ => None,
    };
    match answer {
        Some(true) if pending => {
            forget(h);
            return true;
        }
        Some(false) if pending => {
            let kept = h.text("forget_kept");
            h.say(kept, Vec::new());
            h.reshow();
            return true;
        }
        // A button of a question no longer asked: nothing changes.
        Some(_) if matches!(input, Input::Choice(_)) => {
            let kept = h.text("forget_kept");
            h.say(kept, Vec::new());
            h.reshow();
            return true;
        }
        _ => {}
    }
    let Input::Text(text) = input else {
        return false;
    };
    match command(h, text) {
        Some(true) => {
            let payload = r#"{"teacher": {teacher}}"#.to_string();
            h.effects
                .push(Effect::Programme(crate::programme::Effect::ScheduleJob {
                    kind: MY_DATA_JOB.to_string(),
                    key: format!("{MY_DATA_JOB}:{{teacher}}:{}", h.now.timestamp_millis()),
                    payload,
                    due_at: h.now,
                }));
            true
        }
        Some(false) => {
            h.s.helpdesk.forget = true;
            let ask = h.text("forget_confirm");
            let buttons = vec![
                Button {
                    id: format!("{BUTTON_PREFIX}{YES}"),
                    label: h.text("forget_yes"),
                    short: None,
                },
                Button {
                    id: format!("{BUTTON_PREFIX}{NO}"),
                    label: h.text("forget_no"),
                    short: None,
                },
            ];
            h.say(ask, buttons);
            true
        }
        None => false,
    }
}

/// The teacher confirmed: the confirmation in their language, the erasure in the same
/// commit, and a fresh conversation (same language) for whatever they write next.
fn forget(h: &mut Helpdesk<'_>) {
    let done = h.text("forget_done");
    h.say(done, Vec::new());
    let fresh = fresh_state(&h.s);
    let profile = serde_json::to_string(&fresh.dialogue.profile).unwrap_or_else(|_| "{}".into());
    let state = serde_json::to_string(&fresh).unwrap_or_else(|_| "{}".into());
    h.effects
        .push(Effect::Programme(crate::programme::Effect::Forget {
            state,
            profile,
        }));
    h.s = fresh;
}

/// A new teacher's state for the same chat: nothing but the language they chose, and a seed
/// of its own (derived, since the step draws no random numbers).
fn fresh_state(old: &TeacherState) -> TeacherState {
    let lang = old.dialogue.lang;
    let mut profile = BTreeMap::new();
    profile.insert("language".to_string(), lang.code().to_string());
    TeacherState {
        dialogue: State {
            lang,
            profile,
            seed: old
                .dialogue
                .seed
                .rotate_left(17)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(1),
            ..State::default()
        },
        ..TeacherState::default()
    }
}

/// Says what Baithak keeps (the `mydata` job's answer; even after STOP: the teacher asked),
/// and shows again where the conversation was.
pub(crate) fn say_my_data(h: &mut Helpdesk<'_>, data: &MyData) {
    let lang = h.s.dialogue.lang;
    let none = h.text("mydata_none");
    let or_none = |v: &Option<String>| {
        v.as_deref()
            .filter(|s| !s.trim().is_empty())
            .map_or_else(|| none.clone(), str::to_string)
    };
    let list = |items: &[(String, String)], none: &str| {
        if items.is_empty() {
            none.to_string()
        } else {
            items
                .iter()
                .map(|(a, b)| format!("{a} ({b})"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let since = h
        .now
        .signed_duration_since(data.since)
        .num_days()
        .max(0)
        .to_string();
    let date = crate::certificate::format_date(
        data.since.with_timezone(&h.cx.config.timezone).date_naive(),
        lang,
    );
    let notices = h.text(if data.notices_on {
        "mydata_notices_on"
    } else {
        "mydata_notices_off"
    });
    let days = h.cx.programme.privacy.transcript_days.to_string();
    let values: [(&str, String); 20] = [
        ("name", or_none(&data.name)),
        ("role", or_none(&data.role)),
        ("district", or_none(&data.district)),
        ("school", or_none(&data.school)),
        ("grades", or_none(&data.grades)),
        ("subjects", or_none(&data.subjects)),
        ("language", data.language.clone()),
        ("consent", or_none(&data.consent)),
        ("notices", notices),
        ("channel", data.channel.clone()),
        ("since", date),
        ("since_days", since),
        ("messages", data.messages.to_string()),
        ("questions", data.questions.to_string()),
        ("tickets", list(&data.tickets, &none)),
        ("started", data.lessons_started.to_string()),
        ("completed", data.lessons_completed.to_string()),
        ("attempts", data.quiz_attempts.to_string()),
        ("certificates", list(&data.certificates, &none)),
        ("days", days),
    ];
    let text = fill(&h.text("mydata_report"), &values);
    h.say(text, Vec::new());
    h.reshow();
}

/// `template` with each `{name}` replaced, in one pass (a value holding braces stays as it is).
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let found = after.find('}').and_then(|close| {
            values
                .iter()
                .find(|(n, _)| *n == &after[..close])
                .map(|(_, v)| (v, close))
        });
        match found {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::{fill, typed_answer};

    #[test]
    fn yes_and_no_are_read_in_every_language() {
        for yes in ["yes", "Haan", "ہاں", "হ্যাঁ", "ji!", "JEE"] {
            assert_eq!(typed_answer(yes), Some(true), "{yes}");
        }
        for no in ["no", "Nahi", "نہیں", "না", "nahin."] {
            assert_eq!(typed_answer(no), Some(false), "{no}");
        }
        assert_eq!(typed_answer("what is this"), None);
    }

    #[test]
    fn placeholders_are_filled_once() {
        let values = [("name", "{days}".to_string()), ("days", "365".to_string())];
        assert_eq!(fill("{name} / {days} / {x}", &values), "{days} / 365 / {x}");
    }
}
