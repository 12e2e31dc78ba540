//! Peer practice sharing ("of the teachers, by the teachers, for the teachers"). Pure.
//!
//! Ways in (for other features that want to hand a teacher over to sharing a practice):
//! - the button [`START_BUTTON`] (`pg.practice`, e.g. `programme::button("practice", …)`)
//!   starts the guided dialogue from anywhere;
//! - a dialogue `goto: practice/start` (node `start` of `dialogues/practice.yaml`, an `ask`
//!   node whose text is the first question) does the same from YAML; the main menu's
//!   "🤝 Share a practice" choice goes there.
//! - `pg.potw` (or typing "practice of the week") shows the current practice of the week of
//!   the teacher's district.
//!
//! The dialogue (state in [`PracticeState::draft`]): what did you try (text) → which grade
//! (quick answers from the profile, or typed) → which subject (the same) → what happened
//! (text) → a photo or Skip → the summary with Send / Start again / Cancel. A command
//! (`menu`, `help`, …) leaves it, nothing sent. Send is [`super::Effect::SharePractice`]:
//! a pending practice for staff to review in the console.
//!
//! Endorsements: the practice of the week carries `pg.endorse:{id}`; a teacher's tap is
//! [`super::Effect::Endorse`] once (the state remembers, the table is unique too). The author
//! is told in one digest per practice and day: the first endorsement of a day schedules job
//! [`ENDORSED_KIND`] at 18:00 programme time (after 18:00: the next day's), which says the
//! total so far, and the milestone ([`MILESTONE`] endorsements over all the author's
//! practices) once.

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::{Effect, button};
use crate::dialogue::matching::{Candidates, match_choice, numbers};
use crate::dialogue::{self, Cursor, Input, Node, NodeRef, Stage as DialogueStage};
use crate::helpdesk::{self, Helpdesk};

/// The button (full id) that starts the guided dialogue from anywhere.
pub const START_BUTTON: &str = "pg.practice";
/// The tree and node a dialogue `goto` lands on to start sharing (`practice/start`).
pub const START_NODE: (&str, &str) = ("practice", "start");
/// The scheduler kind of the author's daily endorsement digest.
pub const ENDORSED_KIND: &str = "practice.endorsed";
/// Endorsements over all of a teacher's practices that earn the recognition message.
pub const MILESTONE: i64 = 10;
/// The longest answer kept (characters).
const MAX_CHARS: usize = 1000;
/// Endorsed practices a teacher's state remembers (older ones rely on the table's uniqueness).
const REMEMBERED: usize = 200;
/// When the author's daily digest goes out (programme time).
const DIGEST_AT: (u32, u32) = (18, 0);

/// The practice sharing part of a teacher's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PracticeState {
    /// The practice being written, while the guided dialogue runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft: Option<Draft>,
    /// The latest practice of the week this teacher received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week: Option<Card>,
    /// Practices this teacher endorsed (the latest [`REMEMBERED`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endorsed: Vec<i64>,
    /// Practices this teacher shared.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub shared: u32,
    /// Endorsements of this teacher's practices, as last told.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub endorsements: i64,
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

impl PracticeState {
    /// Whether there is nothing to keep.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == PracticeState::default()
    }
}

/// Where the guided dialogue is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// What did you try?
    #[default]
    What,
    /// Which grade?
    Grade,
    /// Which subject?
    Subject,
    /// What happened?
    Result,
    /// A photo, or Skip.
    Photo,
    /// The summary: Send, Start again, Cancel.
    Confirm,
}

/// A practice being written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    /// The question on screen.
    pub step: Step,
    /// What the teacher tried.
    #[serde(default)]
    pub what: String,
    /// The grade.
    #[serde(default)]
    pub grade: String,
    /// The subject.
    #[serde(default)]
    pub subject: String,
    /// What happened.
    #[serde(default)]
    pub result: String,
    /// The photo's file id on the teacher's channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo: Option<String>,
}

/// A shared practice, for the store (district, school and channel come from the teacher's
/// row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shared {
    /// What the teacher tried.
    pub what: String,
    /// The grade.
    pub grade: String,
    /// The subject.
    pub subject: String,
    /// The class as shown (`Grade 4 · Maths`).
    pub class: String,
    /// What happened.
    pub result: String,
    /// The photo's file id on the teacher's channel.
    pub photo: Option<String>,
}

/// A practice of the week as teachers see it (no phone numbers: a first name and a school).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    /// The practice.
    pub id: i64,
    /// Its week (`2026-W09`).
    pub week: String,
    /// The district it is shown in.
    pub district: String,
    /// The author's first name.
    pub name: String,
    /// The author's school.
    pub school: String,
    /// The class (`Grade 4 · Maths`).
    pub class: String,
    /// What was tried.
    pub what: String,
    /// What happened.
    pub result: String,
}

/// What practice sharing says in a teacher's conversation ([`super::Message::Practice`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Notice {
    /// The practice of the week of the teacher's district (with the endorse button).
    Week {
        /// The practice.
        card: Card,
    },
    /// Staff reviewed the teacher's practice.
    Reviewed {
        /// The practice.
        practice: i64,
        /// The beginning of what was tried, to recognise it.
        what: String,
        /// Approved, else rejected.
        approved: bool,
        /// The reviewer's note.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// Peers endorsed the teacher's practice.
    Endorsed {
        /// The practice.
        practice: i64,
        /// The beginning of what was tried.
        what: String,
        /// Endorsements of this practice.
        count: i64,
        /// Endorsements of all the teacher's practices.
        total: i64,
    },
    /// The teacher's practices reached [`MILESTONE`] endorsements.
    Milestone {
        /// Endorsements of all the teacher's practices.
        total: i64,
    },
}

impl Notice {
    /// The tag its outbox rows carry.
    #[must_use]
    pub fn tag(&self) -> String {
        match self {
            Notice::Week { card } => format!("practice:{}:week", card.id),
            Notice::Reviewed { practice, .. } => format!("practice:{practice}:reviewed"),
            Notice::Endorsed { practice, .. } => format!("practice:{practice}:endorsed"),
            Notice::Milestone { .. } => "practice:milestone".to_string(),
        }
    }
}

/// The endorsements of the teacher's practices for "My progress" (a badge), when there are
/// any: the total as last told to the teacher.
#[must_use]
pub fn endorsed_badge(state: &super::ProgrammeState) -> Option<i64> {
    (state.practice.endorsements > 0).then_some(state.practice.endorsements)
}

/// The ISO week `now` falls in, in the programme's time zone (`2026-W09`).
#[must_use]
pub fn week_key(now: DateTime<Utc>, tz: Tz) -> String {
    let week = now.with_timezone(&tz).iso_week();
    format!("{}-W{:02}", week.year(), week.week())
}

/// The first words of a text (for a notice that names a practice).
#[must_use]
pub fn excerpt(text: &str) -> String {
    const CHARS: usize = 60;
    let text = text.trim();
    if text.chars().count() <= CHARS {
        return text.to_string();
    }
    let cut: String = text.chars().take(CHARS).collect();
    format!("{}…", cut.trim_end())
}

/// When the author's digest for an endorsement made at `now` goes out: today at
/// [`DIGEST_AT`] programme time, or tomorrow's once that has passed.
#[must_use]
pub fn digest_at(now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let local = now.with_timezone(&tz);
    let at = NaiveTime::from_hms_opt(DIGEST_AT.0, DIGEST_AT.1, 0).unwrap_or_default();
    let mut day = local.date_naive();
    if local.time() >= at {
        day += Duration::days(1);
    }
    tz.from_local_datetime(&day.and_time(at))
        .earliest()
        .map_or(now + Duration::hours(1), |t| t.with_timezone(&Utc))
}

/// The replies a notice becomes.
pub(crate) fn deliver(h: &mut Helpdesk<'_>, notice: &Notice) {
    match notice {
        Notice::Week { card } => {
            if !super::wants_messages(&h.s) {
                return;
            }
            h.s.programme.practice.week = Some(card.clone());
            show_card(h, card);
        }
        Notice::Reviewed {
            what,
            approved,
            note,
            ..
        } => {
            let key = if *approved {
                "practice_approved"
            } else {
                "practice_rejected"
            };
            let note = note
                .as_deref()
                .filter(|n| !n.trim().is_empty())
                .map(|n| h.text("practice_note").replace("{note}", n.trim()))
                .unwrap_or_default();
            let text = h.text(key).replace("{what}", what).replace("{note}", &note);
            h.say(text, Vec::new());
        }
        Notice::Endorsed {
            what, count, total, ..
        } => {
            h.s.programme.practice.endorsements = h.s.programme.practice.endorsements.max(*total);
            if !super::wants_messages(&h.s) {
                return;
            }
            let key = if *count == 1 {
                "practice_endorsed_one"
            } else {
                "practice_endorsed_many"
            };
            let text = h
                .text(key)
                .replace("{what}", what)
                .replace("{count}", &count.to_string());
            h.say(text, Vec::new());
        }
        Notice::Milestone { total } => {
            h.s.programme.practice.endorsements = h.s.programme.practice.endorsements.max(*total);
            let text = h
                .text("practice_milestone")
                .replace("{total}", &total.to_string());
            h.say(text, Vec::new());
        }
    }
    h.reshow();
}

fn show_card(h: &mut Helpdesk<'_>, card: &Card) {
    let text = h
        .text("practice_week")
        .replace("{district}", &card.district)
        .replace("{name}", &card.name)
        .replace("{school}", &card.school)
        .replace("{class}", &card.class)
        .replace("{what}", &card.what)
        .replace("{result}", &card.result);
    let label = h.text("practice_endorse");
    let endorse = button(&format!("endorse:{}", card.id), label, None);
    h.say(text, vec![endorse]);
}

/// Handles input that belongs to practice sharing; `false` leaves it to the rest.
pub(crate) fn handle(h: &mut Helpdesk<'_>, input: &Input) -> bool {
    if let Input::Choice(id) = input {
        if id == START_BUTTON {
            start(h);
            return true;
        }
        if id == "pg.potw" {
            show_week(h);
            return true;
        }
        if let Some(practice) = id.strip_prefix("pg.endorse:") {
            endorse(h, practice.parse().unwrap_or(0));
            return true;
        }
    }
    if let Input::Text(text) = input
        && is_week_command(text)
        && h.s.programme.practice.draft.is_none()
    {
        show_week(h);
        return true;
    }
    if at_start_node(h) {
        return from_start_node(h, input);
    }
    if h.s.programme.practice.draft.is_some() {
        if let Input::Text(text) = input
            && h.is_command(text)
        {
            // `menu`, `help`, …: the practice is dropped and the command runs.
            h.s.programme.practice.draft = None;
            return false;
        }
        answer(h, input);
        return true;
    }
    false
}

fn is_week_command(text: &str) -> bool {
    const WORDS: &[&str] = &[
        "practice of the week",
        "/practice",
        "potw",
        "hafte ki practice",
        "is hafte ki practice",
        "ہفتے کی پریکٹس",
        "اس ہفتے کی پریکٹس",
        "সপ্তাহের অনুশীলন",
    ];
    let typed = crate::language::normalize(text);
    WORDS.iter().any(|w| crate::language::normalize(w) == typed)
}

fn at_start_node(h: &Helpdesk<'_>) -> bool {
    h.s.dialogue
        .at
        .as_ref()
        .is_some_and(|c| c.node.tree == START_NODE.0 && c.node.node == START_NODE.1)
}

/// The teacher answered the first question of `practice/start` (or tapped one of its quick
/// answers: `week` shows the practice of the week, `menu` goes back).
fn from_start_node(h: &mut Helpdesk<'_>, input: &Input) -> bool {
    if let Input::Text(text) = input
        && h.is_command(text)
    {
        return false;
    }
    let node = NodeRef::new(START_NODE.0, START_NODE.1);
    let choices = match h.cx.dialogues.node(&node) {
        Some(Node::Ask { choices, .. }) => choices.clone(),
        _ => Vec::new(),
    };
    let picked = match input {
        Input::Choice(id) => id
            .strip_prefix(&format!("{node}."))
            .and_then(|own| choices.iter().find(|c| c.id == own)),
        Input::Text(text) if !choices.is_empty() => {
            let candidates: Vec<Candidates> = choices
                .iter()
                .map(|c| {
                    let labels = c.label.versions().map(|(_, t)| t);
                    Candidates::new(labels, &c.aliases)
                })
                .collect();
            // A number typed is not a choice here (an answer may be "4 groups").
            let typed = crate::language::normalize(text);
            if crate::dialogue::matching::number(&typed).is_some() {
                None
            } else {
                match_choice(text, &candidates).map(|i| &choices[i])
            }
        }
        _ => None,
    };
    // Whatever happens next, the dialogue waits on the main menu, not on this question.
    h.s.dialogue.at = Some(Cursor {
        node: NodeRef::new("main", "menu"),
        stage: DialogueStage::Waiting,
    });
    match picked.map(|c| c.id.as_str()) {
        Some("week") => show_week(h),
        Some(_) => back(h),
        None => {
            h.s.programme.practice.draft = Some(Draft::default());
            if matches!(input, Input::Choice(_)) {
                ask(h);
            } else {
                answer(h, input);
            }
        }
    }
    true
}

fn start(h: &mut Helpdesk<'_>) {
    h.s.programme.practice.draft = Some(Draft::default());
    let text = h.text("practice_what");
    h.say(text, Vec::new());
}

fn show_week(h: &mut Helpdesk<'_>) {
    match h.s.programme.practice.week.clone() {
        Some(card) => show_card(h, &card),
        None => {
            let text = h.text("practice_no_week");
            let share = button("practice", h.text("practice_share_button"), None);
            h.say(text, vec![share]);
        }
    }
}

fn endorse(h: &mut Helpdesk<'_>, practice: i64) {
    let state = &mut h.s.programme.practice;
    if practice <= 0 {
        h.reshow();
        return;
    }
    if state.endorsed.contains(&practice) {
        let text = h.text("practice_endorse_again");
        h.say(text, Vec::new());
        return;
    }
    state.endorsed.push(practice);
    if state.endorsed.len() > REMEMBERED {
        state.endorsed.remove(0);
    }
    let tz = h.cx.config.timezone;
    let due_at = digest_at(h.now, tz);
    let day = due_at.with_timezone(&tz).date_naive();
    h.effects
        .push(helpdesk::Effect::Programme(Effect::Endorse { practice }));
    h.effects
        .push(helpdesk::Effect::Programme(Effect::ScheduleJob {
            kind: ENDORSED_KIND.to_string(),
            key: format!("{ENDORSED_KIND}:{practice}:{day}"),
            payload: format!("{{\"practice\":{practice}}}"),
            due_at,
        }));
    let text = h.text("practice_endorse_thanks");
    h.say(text, Vec::new());
}

/// Asks the draft's current question again.
fn ask(h: &mut Helpdesk<'_>) {
    let Some(draft) = h.s.programme.practice.draft.clone() else {
        return;
    };
    match draft.step {
        Step::What => {
            let text = h.text("practice_what");
            h.say(text, Vec::new());
        }
        Step::Grade => {
            let grades =
                h.s.dialogue
                    .profile
                    .get("grades")
                    .map(|g| numbers(g))
                    .unwrap_or_default();
            let mut buttons = Vec::new();
            for g in grades.iter().filter(|g| (0..=12).contains(*g)).take(6) {
                let label = h
                    .text("practice_grade_label")
                    .replace("{grade}", &g.to_string());
                buttons.push(button(&format!("practice.grade:{g}"), label, None));
            }
            let text = h.text("practice_grade");
            h.say(text, buttons);
        }
        Step::Subject => {
            let subjects: Vec<String> =
                h.s.dialogue
                    .profile
                    .get("subjects")
                    .map(|s| {
                        s.split([',', '،', '/'])
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(|s| s.chars().take(20).collect())
                            .collect()
                    })
                    .unwrap_or_default();
            let buttons = subjects
                .iter()
                .take(3)
                .enumerate()
                .map(|(i, s)| button(&format!("practice.subject:{i}"), s.clone(), None))
                .collect();
            let text = h.text("practice_subject");
            h.say(text, buttons);
        }
        Step::Result => {
            let text = h.text("practice_result");
            h.say(text, Vec::new());
        }
        Step::Photo => {
            let text = h.text("practice_photo");
            let skip = button("practice.skip", h.text("practice_skip"), None);
            h.say(text, vec![skip]);
        }
        Step::Confirm => {
            let photo = if draft.photo.is_some() {
                h.text("practice_photo_yes")
            } else {
                h.text("practice_photo_no")
            };
            let text = h
                .text("practice_summary")
                .replace("{what}", &draft.what)
                .replace("{class}", &class_of(h, &draft))
                .replace("{result}", &draft.result)
                .replace("{photo}", &photo);
            let buttons = vec![
                button("practice.send", h.text("practice_send"), None),
                button("practice.again", h.text("practice_again"), None),
                button("practice.cancel", h.text("practice_cancel"), None),
            ];
            h.say(text, buttons);
        }
    }
}

fn class_of(h: &Helpdesk<'_>, draft: &Draft) -> String {
    let grade = if draft.grade.chars().all(|c| c.is_ascii_digit()) && !draft.grade.is_empty() {
        h.text("practice_grade_label")
            .replace("{grade}", &draft.grade)
    } else {
        draft.grade.clone()
    };
    [grade, draft.subject.clone()]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The words of a free-text answer, when there are some.
fn words(text: &str) -> Option<String> {
    let text = text.trim();
    (text.chars().filter(|c| c.is_alphanumeric()).count() >= 1)
        .then(|| text.chars().take(MAX_CHARS).collect())
}

/// Which of `labels` the teacher typed, if any.
fn typed_button(text: &str, labels: &[Vec<String>]) -> Option<usize> {
    let candidates: Vec<Candidates> = labels
        .iter()
        .map(|l| Candidates::new(l.iter().map(String::as_str), &[]))
        .collect();
    match_choice(text, &candidates)
}

/// Every language's version of a system text (a typed button label in any language).
fn all_versions(h: &Helpdesk<'_>, key: &str) -> Vec<String> {
    h.cx.dialogues
        .texts
        .get(key)
        .map(|t| t.versions().map(|(_, s)| s.to_string()).collect())
        .unwrap_or_default()
}

/// Takes the answer to the draft's current question.
fn answer(h: &mut Helpdesk<'_>, input: &Input) {
    let Some(mut draft) = h.s.programme.practice.draft.clone() else {
        return;
    };
    let text = match input {
        Input::Text(t) => Some(t.clone()),
        Input::Media { caption, .. } => caption.clone(),
        _ => None,
    };
    let tapped = match input {
        Input::Choice(id) => id.strip_prefix("pg.practice."),
        _ => None,
    };
    match draft.step {
        Step::What => {
            if let Input::Media { kind, file_id, .. } = input
                && kind == "photo"
            {
                draft.photo = Some(file_id.clone());
            }
            match text.as_deref().and_then(words) {
                Some(what) => {
                    draft.what = what;
                    draft.step = Step::Grade;
                }
                None => {
                    if draft.photo.is_some() {
                        // A photo first: kept; the words are still to come.
                        h.s.programme.practice.draft = Some(draft);
                    }
                    let again = h.text("practice_too_short");
                    h.say(again, Vec::new());
                    return;
                }
            }
        }
        Step::Grade => {
            let grade = match (tapped, text.as_deref()) {
                (Some(t), _) => t.strip_prefix("grade:").map(str::to_string),
                (None, Some(t)) => {
                    let n = numbers(t);
                    if n.len() == 1 && (0..=12).contains(&n[0]) {
                        Some(n[0].to_string())
                    } else {
                        words(t).map(|w| w.chars().take(40).collect())
                    }
                }
                _ => None,
            };
            let Some(grade) = grade else {
                ask(h);
                return;
            };
            draft.grade = grade;
            draft.step = Step::Subject;
        }
        Step::Subject => {
            let subjects: Vec<String> =
                h.s.dialogue
                    .profile
                    .get("subjects")
                    .map(|s| {
                        s.split([',', '،', '/'])
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
            let subject = match (tapped, text.as_deref()) {
                (Some(t), _) => t
                    .strip_prefix("subject:")
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| subjects.get(i).cloned()),
                (None, Some(t)) => words(t).map(|w| w.chars().take(60).collect()),
                _ => None,
            };
            let Some(subject) = subject else {
                ask(h);
                return;
            };
            draft.subject = subject;
            draft.step = Step::Result;
        }
        Step::Result => {
            let Some(result) = text.as_deref().and_then(words) else {
                ask(h);
                return;
            };
            draft.result = result;
            draft.step = Step::Photo;
        }
        Step::Photo => {
            let skip_words = all_versions(h, "practice_skip")
                .into_iter()
                .chain(["skip", "no", "nahi", "nahin", "نہیں", "না", "বাদ"].map(String::from))
                .collect::<Vec<_>>();
            match (input, tapped) {
                (Input::Media { kind, file_id, .. }, _) if kind == "photo" => {
                    draft.photo = Some(file_id.clone());
                }
                (_, Some("skip")) => {}
                (Input::Text(t), _)
                    if skip_words.iter().any(|w| {
                        crate::language::normalize(w) == crate::language::normalize(t)
                    }) || typed_button(t, std::slice::from_ref(&skip_words)).is_some() => {}
                _ => {
                    let again = h.text("practice_photo_again");
                    let skip = button("practice.skip", h.text("practice_skip"), None);
                    h.say(again, vec![skip]);
                    return;
                }
            }
            draft.step = Step::Confirm;
        }
        Step::Confirm => {
            let chosen = match (tapped, text.as_deref()) {
                (Some(t), _) => Some(t.to_string()),
                (None, Some(t)) => {
                    let labels = [
                        all_versions(h, "practice_send"),
                        all_versions(h, "practice_again"),
                        all_versions(h, "practice_cancel"),
                    ];
                    let mut labels = labels.to_vec();
                    labels[0].extend(
                        ["send", "bhejo", "bhej do", "بھیجیں", "بھیج دیں", "পাঠান"].map(String::from),
                    );
                    labels[1].extend(["again", "dobara", "دوبارہ", "আবার"].map(String::from));
                    labels[2].extend(["cancel", "rehne do", "نہیں", "বাতিল"].map(String::from));
                    typed_button(t, &labels).map(|i| ["send", "again", "cancel"][i].to_string())
                }
                _ => None,
            };
            match chosen.as_deref() {
                Some("send") => {
                    let shared = Shared {
                        class: class_of(h, &draft),
                        what: draft.what,
                        grade: draft.grade,
                        subject: draft.subject,
                        result: draft.result,
                        photo: draft.photo,
                    };
                    h.effects
                        .push(helpdesk::Effect::Programme(Effect::SharePractice(shared)));
                    h.s.programme.practice.draft = None;
                    h.s.programme.practice.shared += 1;
                    let thanks = h.text("practice_sent");
                    h.say(thanks, Vec::new());
                    back(h);
                    return;
                }
                Some("again") => {
                    h.s.programme.practice.draft = Some(Draft::default());
                    ask(h);
                    return;
                }
                Some("cancel") => {
                    h.s.programme.practice.draft = None;
                    let text = h.text("practice_cancelled");
                    h.say(text, Vec::new());
                    back(h);
                    return;
                }
                _ => {}
            }
        }
    }
    h.s.programme.practice.draft = Some(draft);
    ask(h);
}

/// Shows where the conversation waits (the main menu after the start node), without the
/// "let's continue" line.
fn back(h: &mut Helpdesk<'_>) {
    let step = dialogue::resume(h.cx.dialogues, &h.s.dialogue, h.now);
    h.s.dialogue = step.state;
    h.effects.extend(
        step.effects
            .into_iter()
            .filter(|e| matches!(e, dialogue::Effect::Say(_)))
            .map(helpdesk::Effect::Dialogue),
    );
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::LazyLock;

    use chrono::{DateTime, TimeZone, Utc};

    use super::*;
    use crate::dialogue::{SourceFile, load};
    use crate::helpdesk::{Config, Context, Effect as HdEffect, TeacherState, step};
    use crate::knowledge::KnowledgeBase;
    use crate::language::Lang;

    fn file(path: &str, source: &str) -> SourceFile {
        SourceFile {
            path: path.into(),
            source: source.into(),
        }
    }

    static DIALOGUES: LazyLock<crate::dialogue::Dialogues> = LazyLock::new(|| {
        let trees = vec![
            // The fixture's main menu with the shipped menu's way to share a practice.
            file(
                "dialogues/main.yaml",
                &include_str!("../../tests/fixtures/dialogues/main.yaml").replace(
                    "      - { id: help,",
                    "      - { id: practice, label: { en: Share }, goto: practice/start }\n      - { id: help,",
                ),
            ),
            file(
                "dialogues/practice.yaml",
                include_str!("../../dialogues/practice.yaml"),
            ),
            file(
                "dialogues/onboarding.yaml",
                include_str!("../../tests/fixtures/dialogues/onboarding.yaml"),
            ),
            file(
                "dialogues/modules/demo.yaml",
                include_str!("../../tests/fixtures/dialogues/modules/demo.yaml"),
            ),
        ];
        let system = file(
            "dialogues/_system.yaml",
            include_str!("../../tests/fixtures/dialogues/_system.yaml"),
        );
        let loaded = load(&system, &trees, &HashSet::new());
        let problems = format!("{:?}", loaded.diagnostics);
        loaded.dialogues.expect(&problems)
    });
    static KB: LazyLock<KnowledgeBase> = LazyLock::new(KnowledgeBase::default);
    static CONFIG: LazyLock<Config> = LazyLock::new(Config::default);
    static PROGRAMME: LazyLock<crate::programme::Programme> =
        LazyLock::new(crate::programme::Programme::default);

    fn cx() -> Context<'static> {
        Context {
            dialogues: &DIALOGUES,
            kb: &KB,
            config: &CONFIG,
            programme: &PROGRAMME,
        }
    }

    fn now() -> DateTime<Utc> {
        // 10:00 in Karachi.
        Utc.with_ymd_and_hms(2026, 3, 2, 5, 0, 0).unwrap()
    }

    fn teacher(lang: Lang) -> TeacherState {
        let mut s = TeacherState::default();
        s.dialogue.lang = lang;
        s.dialogue.profile.insert("grades".into(), "3, 4".into());
        s.dialogue
            .profile
            .insert("subjects".into(), "Maths, English".into());
        s.dialogue.at = Some(Cursor {
            node: NodeRef::new("main", "menu"),
            stage: DialogueStage::Waiting,
        });
        s
    }

    /// Runs inputs one after the other; the last state and every effect.
    fn run(mut state: TeacherState, inputs: &[Input]) -> (TeacherState, Vec<HdEffect>) {
        let mut all = Vec::new();
        for input in inputs {
            let step = step(cx(), &state, input, now());
            state = step.state;
            all.extend(step.effects);
        }
        (state, all)
    }

    fn said(effects: &[HdEffect]) -> Vec<String> {
        effects
            .iter()
            .filter_map(|e| match e {
                HdEffect::Dialogue(dialogue::Effect::Say(reply)) => Some(reply.text.clone()),
                _ => None,
            })
            .collect()
    }

    fn shared(effects: &[HdEffect]) -> Vec<Shared> {
        effects
            .iter()
            .filter_map(|e| match e {
                HdEffect::Programme(Effect::SharePractice(s)) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    fn text(t: &str) -> Input {
        Input::Text(t.into())
    }

    fn tap(id: &str) -> Input {
        Input::Choice(id.into())
    }

    #[test]
    fn a_practice_with_a_photo_is_shared_through_the_button() {
        let (state, effects) = run(
            teacher(Lang::En),
            &[
                tap(START_BUTTON),
                text("Think-pair-share before answers"),
                tap("pg.practice.grade:4"),
                tap("pg.practice.subject:0"),
                text("Every child talked; shy ones too"),
                Input::Media {
                    kind: "photo".into(),
                    file_id: "AgAD-photo".into(),
                    caption: None,
                },
                tap("pg.practice.send"),
            ],
        );
        let shared = shared(&effects);
        assert_eq!(shared.len(), 1);
        assert_eq!(shared[0].what, "Think-pair-share before answers");
        assert_eq!(shared[0].grade, "4");
        assert_eq!(shared[0].subject, "Maths");
        assert_eq!(shared[0].class, "Grade 4 · Maths");
        assert_eq!(shared[0].photo.as_deref(), Some("AgAD-photo"));
        assert!(state.programme.practice.draft.is_none());
        assert_eq!(state.programme.practice.shared, 1);
        let said = said(&effects);
        assert!(
            said.iter().any(|s| s.contains("*Photo:* 📷 attached")),
            "{said:?}"
        );
        assert!(
            said.iter().any(|s| s.contains("A mentor will review")),
            "{said:?}"
        );
    }

    #[test]
    fn roman_urdu_and_urdu_answers_are_free_text_from_the_menu_entry() {
        let mut state = teacher(Lang::Ur);
        state.dialogue.at = Some(Cursor {
            node: NodeRef::new("practice", "start"),
            stage: DialogueStage::Waiting,
        });
        let (state, effects) = run(
            state,
            &[
                text("Maine bachon ko jodiyon mein parhne diya"),
                text("chothi jamat"),
                text("اردو"),
                text("بچے بہت خوش ہوئے اور سب نے پڑھا"),
                text("nahi"),
                text("bhejo"),
            ],
        );
        let shared = shared(&effects);
        assert_eq!(shared.len(), 1, "{:?}", said(&effects));
        assert_eq!(shared[0].what, "Maine bachon ko jodiyon mein parhne diya");
        assert_eq!(shared[0].grade, "chothi jamat");
        assert_eq!(shared[0].subject, "اردو");
        assert_eq!(shared[0].result, "بچے بہت خوش ہوئے اور سب نے پڑھا");
        assert_eq!(shared[0].photo, None);
        // Back on the main menu, not on the first question.
        assert_eq!(
            state.dialogue.at.map(|c| c.node.tree),
            Some("main".to_string())
        );
    }

    #[test]
    fn menu_leaves_the_dialogue_and_nothing_is_sent() {
        let (state, effects) = run(
            teacher(Lang::En),
            &[tap(START_BUTTON), text("Exit tickets"), text("menu")],
        );
        assert!(shared(&effects).is_empty());
        assert!(state.programme.practice.draft.is_none());
    }

    #[test]
    fn start_again_and_cancel() {
        let answers = [
            tap(START_BUTTON),
            text("Exit tickets"),
            text("5"),
            text("Science"),
            text("I knew who needed help"),
            tap("pg.practice.skip"),
        ];
        let (state, effects) = run(teacher(Lang::En), &answers);
        assert_eq!(
            state.programme.practice.draft.as_ref().map(|d| d.step),
            Some(Step::Confirm)
        );
        assert!(
            said(&effects)
                .iter()
                .any(|s| s.contains("Grade 5 · Science"))
        );
        let (again, _) = run(state.clone(), &[tap("pg.practice.again")]);
        assert_eq!(again.programme.practice.draft, Some(Draft::default()));
        let (cancelled, effects) = run(state, &[text("3")]);
        assert!(cancelled.programme.practice.draft.is_none());
        assert!(shared(&effects).is_empty());
        assert!(
            said(&effects)
                .iter()
                .any(|s| s.contains("nothing was sent"))
        );
    }

    #[test]
    fn an_empty_answer_asks_again() {
        let (state, effects) = run(teacher(Lang::En), &[tap(START_BUTTON), text("👍")]);
        assert_eq!(
            state.programme.practice.draft.as_ref().map(|d| d.step),
            Some(Step::What)
        );
        assert!(said(&effects).iter().any(|s| s.contains("a few words")));
    }

    #[test]
    fn an_endorsement_counts_once_and_schedules_the_digest() {
        let (state, effects) = run(teacher(Lang::En), &[tap("pg.endorse:7")]);
        let endorse: Vec<_> = effects
            .iter()
            .filter(|e| matches!(e, HdEffect::Programme(Effect::Endorse { practice: 7 })))
            .collect();
        assert_eq!(endorse.len(), 1);
        let job = effects.iter().find_map(|e| match e {
            HdEffect::Programme(Effect::ScheduleJob { key, due_at, .. }) => Some((key, due_at)),
            _ => None,
        });
        let (key, due_at) = job.expect("a digest job");
        assert_eq!(key, "practice.endorsed:7:2026-03-02");
        assert_eq!(*due_at, Utc.with_ymd_and_hms(2026, 3, 2, 13, 0, 0).unwrap());
        let (_, again) = run(state, &[tap("pg.endorse:7")]);
        assert!(!again.iter().any(|e| matches!(e, HdEffect::Programme(_))));
        assert!(said(&again).iter().any(|s| s.contains("already counted")));
    }

    #[test]
    fn the_digest_after_six_goes_out_the_next_day() {
        let tz = chrono_tz::Asia::Karachi;
        let evening = Utc.with_ymd_and_hms(2026, 3, 2, 14, 0, 0).unwrap();
        assert_eq!(
            digest_at(evening, tz),
            Utc.with_ymd_and_hms(2026, 3, 3, 13, 0, 0).unwrap()
        );
        assert_eq!(week_key(evening, tz), "2026-W10");
    }

    fn card() -> Card {
        Card {
            id: 3,
            week: "2026-W10".into(),
            district: "Kasur".into(),
            name: "Ayesha".into(),
            school: "GGPS Kasur".into(),
            class: "Grade 4 · Maths".into(),
            what: "Counting with bottle caps".into(),
            result: "Everyone counted".into(),
        }
    }

    #[test]
    fn the_practice_of_the_week_is_kept_and_shown_again() {
        let state = teacher(Lang::En);
        let message = super::super::Message::Practice(Notice::Week { card: card() });
        let step = super::super::deliver(cx(), &state, &message, now());
        let said_now = said(&step.effects);
        assert!(
            said_now[0].contains("*Ayesha* (GGPS Kasur)"),
            "{said_now:?}"
        );
        let (_, effects) = run(step.state, &[text("practice of the week")]);
        assert!(said(&effects)[0].contains("Counting with bottle caps"));
        // Someone who said STOP is not sent it.
        let mut stopped = teacher(Lang::En);
        stopped
            .dialogue
            .profile
            .insert("notices".into(), "off".into());
        let step = super::super::deliver(cx(), &stopped, &message, now());
        assert!(said(&step.effects).is_empty());
        assert!(endorsed_badge(&step.state.programme).is_none());
    }

    #[test]
    fn milestones_and_counts_reach_my_progress() {
        let state = teacher(Lang::Bn);
        let message = super::super::Message::Practice(Notice::Endorsed {
            practice: 3,
            what: "x".into(),
            count: 3,
            total: 4,
        });
        let step = super::super::deliver(cx(), &state, &message, now());
        assert!(said(&step.effects)[0].contains('3'));
        assert_eq!(endorsed_badge(&step.state.programme), Some(4));
    }
}
