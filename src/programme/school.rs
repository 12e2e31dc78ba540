//! Headteachers' and mentors' tools: the participation summary they ask for from their menu
//! (`dialogues/leaders.yaml`), and the check-in of the practice cycle any teacher runs with
//! colleagues (`dialogues/cycle.yaml`). Pure.
//!
//! The dialogues stay plain YAML: [`watch`] looks at where the teacher's input takes the
//! dialogue (the same pure step the helpdesk is about to make) and, when it arrives at
//! [`SUMMARY_NODE`] or [`DO_NODE`], schedules a job in the same commit:
//! - [`SUMMARY_KIND`], due now (one per teacher and minute): `scheduler::school` counts the
//!   teacher's school (a headteacher, a teacher: same school and district, compared trimmed and
//!   case-insensitively) or district (a mentor) and delivers [`SchoolSummary`], which
//!   [`deliver`] words in the teacher's language. Counts only: no names, no scores.
//! - [`CHECKIN_KIND`], [`CHECKIN_AFTER`] later (one per teacher and day): a gentle
//!   "how did it go?" ([`super::Message::Say`], so STOP silences it).

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::Effect;
use crate::dialogue::{self, Button, Input, Node, NodeRef};
use crate::helpdesk::{self, Helpdesk};

/// The scheduler kind of a participation summary asked for.
pub const SUMMARY_KIND: &str = "school_summary";
/// The scheduler kind of the practice cycle's check-in.
pub const CHECKIN_KIND: &str = "cycle_checkin";
/// The node whose arrival asks for the summary (`leaders/school`).
pub const SUMMARY_NODE: (&str, &str) = ("leaders", "school");
/// The node whose arrival schedules the check-in (`cycle/do`).
pub const DO_NODE: (&str, &str) = ("cycle", "do");
/// How long after "Do" the check-in comes.
pub const CHECKIN_AFTER: Duration = Duration::days(3);
/// The system text of the check-in (`_system.yaml`).
pub const CHECKIN_TEXT: &str = "cycle_checkin";
/// How far back "active" looks.
pub const ACTIVE_DAYS: i64 = 30;

/// What a summary counts: one school, or a mentor's whole district.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum Scope {
    /// The teachers of one school of a district.
    School {
        /// The school's name as the asker wrote it.
        school: String,
        /// Its district.
        district: String,
    },
    /// Every teacher of a district.
    District {
        /// The district.
        district: String,
    },
}

impl Scope {
    /// The scope of a teacher by their role and profile: mentors see their district, everyone
    /// else their school.
    #[must_use]
    pub fn of(role: Option<&str>, district: Option<&str>, school: Option<&str>) -> Scope {
        let district = district.unwrap_or_default().trim().to_string();
        let mentor = role.is_some_and(|r| r.trim().eq_ignore_ascii_case("mentor"));
        match school.map(str::trim).filter(|s| !s.is_empty()) {
            Some(school) if !mentor => Scope::School {
                school: school.to_string(),
                district,
            },
            _ => Scope::District { district },
        }
    }
}

/// The participation figures of a school or district.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchoolSummary {
    /// What was counted.
    #[serde(flatten)]
    pub scope: Scope,
    /// Teachers who finished onboarding there (the asker included).
    pub teachers: i64,
    /// Of them, those who wrote to Baithak in the last [`ACTIVE_DAYS`] days.
    pub active: i64,
    /// Modules whose lesson a teacher started (one per teacher and module).
    pub lessons_started: i64,
    /// Of them, lessons finished.
    pub lessons_completed: i64,
    /// Certificates earned.
    pub certificates: i64,
    /// Questions asked to the helpdesk.
    pub questions: i64,
    /// Practices shared; `None` when this build does not keep them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub practices: Option<i64>,
}

impl SchoolSummary {
    /// The outbox tag of its replies.
    #[must_use]
    pub fn tag(&self) -> String {
        SUMMARY_KIND.to_string()
    }
}

/// Schedules what arriving at [`SUMMARY_NODE`] or [`DO_NODE`] asks for, when `input` takes the
/// teacher there (the dialogue then goes on as usual: nothing else changes).
pub(crate) fn watch(h: &mut Helpdesk<'_>, input: &Input) {
    let Some(before) = h.s.dialogue.at.as_ref() else {
        return;
    };
    let watched = [SUMMARY_NODE.0, DO_NODE.0];
    if !watched.contains(&before.node.tree.as_str()) {
        return;
    }
    // Where the helpdesk itself takes the words (a comment, a rating, a photo for a ticket),
    // the dialogue does not move.
    let helpdesk = &h.s.helpdesk;
    if helpdesk.comment.is_some()
        || helpdesk.rating.is_some()
        || matches!(input, Input::Media { .. })
    {
        return;
    }
    let step = dialogue::step(h.cx.dialogues, &h.s.dialogue, input, h.now);
    let Some(after) = step.state.at else {
        return;
    };
    if after.node == before.node {
        return;
    }
    let job = if is(&after.node, SUMMARY_NODE) {
        let minute = h.now.timestamp().div_euclid(60);
        Effect::ScheduleJob {
            kind: SUMMARY_KIND.to_string(),
            key: format!("{SUMMARY_KIND}:{{teacher}}:{minute}"),
            payload: "{\"teacher\":{teacher}}".to_string(),
            due_at: h.now,
        }
    } else if is(&after.node, DO_NODE) {
        let day = h.now.date_naive();
        Effect::ScheduleJob {
            kind: CHECKIN_KIND.to_string(),
            key: format!("{CHECKIN_KIND}:{{teacher}}:{day}"),
            payload: "{\"teacher\":{teacher}}".to_string(),
            due_at: h.now + CHECKIN_AFTER,
        }
    } else {
        return;
    };
    h.effects.push(helpdesk::Effect::Programme(job));
}

/// Says the summary in the teacher's language (even after STOP: they asked for it), with the
/// buttons of the menu they wait at; a lesson or quiz on screen is shown again.
pub(crate) fn deliver(h: &mut Helpdesk<'_>, summary: &SchoolSummary) {
    let heading = match &summary.scope {
        Scope::School { school, district } => h
            .text("school_summary_school")
            .replace("{school}", school)
            .replace("{district}", district),
        Scope::District { district } => h
            .text("school_summary_district")
            .replace("{district}", district),
    };
    let mut body = h
        .text("school_summary_counts")
        .replace("{teachers}", &summary.teachers.to_string())
        .replace("{active}", &summary.active.to_string())
        .replace("{days}", &ACTIVE_DAYS.to_string())
        .replace("{started}", &summary.lessons_started.to_string())
        .replace("{completed}", &summary.lessons_completed.to_string())
        .replace("{certificates}", &summary.certificates.to_string())
        .replace("{questions}", &summary.questions.to_string());
    if let Some(practices) = summary.practices {
        body.push('\n');
        body.push_str(
            &h.text("school_summary_practices")
                .replace("{practices}", &practices.to_string()),
        );
    }
    let footer = h.text("school_summary_footer");
    let buttons = menu_buttons(h);
    let text = digits(&format!("{heading}\n\n{body}\n\n{footer}"), h);
    h.say(text, buttons);
    h.reshow();
}

/// The buttons of the menu the teacher waits at (they still work: the ids are the menu's).
fn menu_buttons(h: &Helpdesk<'_>) -> Vec<Button> {
    let Some(cursor) = &h.s.dialogue.at else {
        return Vec::new();
    };
    let Some(Node::Menu { choices, .. }) = h.cx.dialogues.node(&cursor.node) else {
        return Vec::new();
    };
    let lang = h.s.dialogue.lang;
    choices
        .iter()
        .map(|c| Button {
            id: format!("{}.{}", cursor.node.node, c.id),
            label: c.label.get(lang).to_string(),
            short: c.short.as_ref().map(|s| s.get(lang).to_string()),
        })
        .collect()
}

/// Bangla texts get Bangla digits; others keep theirs.
fn digits(text: &str, h: &Helpdesk<'_>) -> String {
    if h.s.dialogue.lang != crate::language::Lang::Bn {
        return text.to_string();
    }
    text.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) if c.is_ascii_digit() => char::from_u32(0x09E6 + d).unwrap_or(c),
            _ => c,
        })
        .collect()
}

fn is(at: &NodeRef, (tree, node): (&str, &str)) -> bool {
    at.tree == tree && at.node == node
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentors_see_their_district_and_everyone_else_their_school() {
        assert_eq!(
            Scope::of(Some("mentor"), Some(" Kasur "), Some("GGPS 12")),
            Scope::District {
                district: "Kasur".into()
            }
        );
        assert_eq!(
            Scope::of(Some("headteacher"), Some("Kasur"), Some(" GGPS 12 ")),
            Scope::School {
                school: "GGPS 12".into(),
                district: "Kasur".into()
            }
        );
        assert_eq!(
            Scope::of(Some("headteacher"), Some("Kasur"), Some("  ")),
            Scope::District {
                district: "Kasur".into()
            }
        );
    }

    #[test]
    fn a_summary_round_trips_through_json_with_its_scope_flat() {
        let summary = SchoolSummary {
            scope: Scope::School {
                school: "GGPS".into(),
                district: "Kasur".into(),
            },
            teachers: 3,
            active: 2,
            lessons_started: 4,
            lessons_completed: 1,
            certificates: 1,
            questions: 5,
            practices: None,
        };
        let json = serde_json::to_string(&summary).expect("json");
        assert!(json.contains("\"scope\":\"school\""), "{json}");
        let back: SchoolSummary = serde_json::from_str(&json).expect("back");
        assert_eq!(back, summary);
    }
}
