//! Reminders: one gentle nudge for a lesson left half-way, or a suggestion to try a failed
//! quiz again, never more than one reminder of any kind per teacher per week, never at night,
//! never to a teacher who said STOP. Pure.
//!
//! - [`Settings`]: `programme/reminders.yaml` ([`parse`]; defaults when the file is absent).
//! - [`due`]: given one teacher's [`Facts`] (lessons started and not finished, failed quiz
//!   attempts not followed by a pass, reminders already sent) and now, the single
//!   [`Reminder`] due, if any. The daily job (`scheduler::reminders`) asks SQL for candidates
//!   (`store::reminders`) and this function for the verdict.
//! - [`deliver`]: the reminder in the teacher's conversation, in their language, with its
//!   buttons; [`button`]: what the buttons do ("▶ Continue" resumes the lesson at the part
//!   on which the teacher stopped; "🔁 Try the quiz again" starts the quiz afresh; "Not now").

use std::path::Path;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::diagnostic::{Diagnostic, Pos};
use crate::dialogue::{self, Dialogues, Node, NodeRef};
use crate::helpdesk::{Effect, Helpdesk};
use crate::schedule::QuietHours;

/// The file in `programme/` that holds the settings.
pub const FILE: &str = "reminders.yaml";

/// Button ids (after [`super::BUTTON_PREFIX`]) of reminders start with this.
const BUTTON: &str = "rem.";

/// How reminders behave (`programme/reminders.yaml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// A lesson left half-way this long ago gets a nudge.
    pub lesson_nudge_after: Duration,
    /// A failed quiz attempt this long ago (and no pass since) gets a retry suggestion.
    pub quiz_retry_after: Duration,
    /// At most one reminder of any kind per teacher in this period.
    pub at_most_every: Duration,
    /// When the daily run sends them, programme time (outside the quiet hours).
    pub send_at: NaiveTime,
}

impl Default for Settings {
    /// A nudge after 3 days, a retry suggestion after 2, at most one a week, at 10:30.
    fn default() -> Settings {
        Settings {
            lesson_nudge_after: Duration::days(3),
            quiz_retry_after: Duration::days(2),
            at_most_every: Duration::days(7),
            send_at: NaiveTime::from_hms_opt(10, 30, 0).unwrap_or_default(),
        }
    }
}

impl Settings {
    /// How late (after downtime) the daily run may still happen: until the night starts the
    /// same day, so a late run reaches teachers in the day it was meant for, never at night.
    #[must_use]
    pub fn late_run_window(&self, quiet: &QuietHours) -> Duration {
        let window = quiet.start - self.send_at;
        if window > Duration::zero() {
            window
        } else {
            Duration::zero()
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    lesson_nudge_after_days: Option<Spanned<i64>>,
    #[serde(default)]
    quiz_retry_after_days: Option<Spanned<i64>>,
    #[serde(default)]
    at_most_every_days: Option<Spanned<i64>>,
    #[serde(default)]
    send_at: Option<Spanned<String>>,
}

/// The longest period a setting in days may have.
const MAX_DAYS: i64 = 365;

/// Parses `reminders.yaml`; every problem goes to `diagnostics` with its line and column, and
/// a field with a problem keeps its default.
pub fn parse(path: &Path, source: &str, diagnostics: &mut Vec<Diagnostic>) -> Settings {
    let mut settings = Settings::default();
    if source.trim().is_empty() {
        return settings;
    }
    let Some(raw) = crate::diagnostic::yaml::read::<Raw>(path, source, diagnostics) else {
        return settings;
    };
    let pos = crate::diagnostic::yaml::pos;
    let mut error =
        |at: Pos, message: String| diagnostics.push(Diagnostic::error(path, at, message));
    for (name, value, target) in [
        (
            "lesson_nudge_after_days",
            &raw.lesson_nudge_after_days,
            &mut settings.lesson_nudge_after,
        ),
        (
            "quiz_retry_after_days",
            &raw.quiz_retry_after_days,
            &mut settings.quiz_retry_after,
        ),
        (
            "at_most_every_days",
            &raw.at_most_every_days,
            &mut settings.at_most_every,
        ),
    ] {
        let Some(value) = value else { continue };
        if (1..=MAX_DAYS).contains(&value.value) {
            *target = Duration::days(value.value);
        } else {
            error(
                pos(&value.referenced),
                format!(
                    "{name}: {} is not a number of days from 1 to {MAX_DAYS}",
                    value.value
                ),
            );
        }
    }
    if let Some(send_at) = &raw.send_at {
        let quiet = QuietHours::default();
        match NaiveTime::parse_from_str(send_at.value.trim(), "%H:%M") {
            Ok(at) if in_quiet_hours(at, &quiet) => error(
                pos(&send_at.referenced),
                format!(
                    "send_at: {} is in the quiet hours ({}–{}), when no teacher is disturbed",
                    send_at.value.trim(),
                    quiet.start.format("%H:%M"),
                    quiet.end.format("%H:%M")
                ),
            ),
            Ok(at) => settings.send_at = at,
            Err(_) => error(
                pos(&send_at.referenced),
                format!(
                    "send_at: `{}` is not a time like 10:30",
                    send_at.value.trim()
                ),
            ),
        }
    }
    settings
}

/// Whether a local time of day falls in the night.
fn in_quiet_hours(at: NaiveTime, quiet: &QuietHours) -> bool {
    if quiet.start <= quiet.end {
        at >= quiet.start && at < quiet.end
    } else {
        at >= quiet.start || at < quiet.end
    }
}

/// Which reminder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum What {
    /// A lesson left half-way.
    Nudge,
    /// A failed quiz, worth another try.
    QuizRetry,
}

impl What {
    /// The code stored in `reminders.kind` and used in occasions and tags.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            What::Nudge => "nudge",
            What::QuizRetry => "quiz_retry",
        }
    }

    /// The kind a stored code names.
    #[must_use]
    pub fn parse(code: &str) -> Option<What> {
        match code {
            "nudge" => Some(What::Nudge),
            "quiz_retry" => Some(What::QuizRetry),
            _ => None,
        }
    }
}

/// A lesson started and not finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenLesson {
    /// The module.
    pub module: String,
    /// The furthest part reached (1-based).
    pub part: u32,
    /// Parts in the lesson.
    pub parts: u32,
    /// When the teacher last moved in it.
    pub last_activity: DateTime<Utc>,
}

/// A module whose last quiz attempt failed, never passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedQuiz {
    /// The module.
    pub module: String,
    /// When the failed attempt ended.
    pub at: DateTime<Utc>,
}

/// A reminder sent before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// Which.
    pub what: What,
    /// About which module.
    pub module: String,
    /// When it was queued (the latest of its kind and module).
    pub at: DateTime<Utc>,
}

/// What is known about one teacher's progress, for [`due`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    /// Whether they take programme messages (false after STOP).
    pub wants_messages: bool,
    /// Lessons started and not finished.
    pub lessons: Vec<OpenLesson>,
    /// Modules whose last quiz attempt failed (and never passed).
    pub failed: Vec<FailedQuiz>,
    /// Reminders sent before.
    pub sent: Vec<Sent>,
}

/// A reminder for one teacher: what `programme::Message::Reminder` carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    /// Which.
    pub what: What,
    /// The module (its tree id).
    pub module: String,
    /// For a nudge: the part on which the teacher stopped (1-based).
    #[serde(default)]
    pub part: u32,
    /// For a nudge: the lesson's parts.
    #[serde(default)]
    pub parts: u32,
}

impl Reminder {
    /// The delivery's occasion on `day` (programme time): a job that runs twice that day
    /// queues it once (`nudge:feedback:2026-11-26`).
    #[must_use]
    pub fn occasion(&self, day: NaiveDate) -> String {
        let what = match self.what {
            What::Nudge => "nudge",
            What::QuizRetry => "retry",
        };
        format!("{what}:{}:{}", self.module, day.format("%Y-%m-%d"))
    }

    /// The tag its outbox rows carry.
    #[must_use]
    pub fn tag(&self) -> String {
        format!("reminder:{}:{}", self.what.code(), self.module)
    }
}

/// The one reminder due for a teacher with `facts` at `now`, if any.
///
/// Nothing for a teacher who said STOP, or who had a reminder of any kind within
/// `at_most_every`. Otherwise a nudge for the lesson most recently left, idle for at least
/// `lesson_nudge_after` and not nudged since the teacher last moved in it; else a retry
/// suggestion for the quiz most recently failed at least `quiz_retry_after` ago and not
/// suggested since.
#[must_use]
pub fn due(settings: &Settings, facts: &Facts, now: DateTime<Utc>) -> Option<Reminder> {
    if !facts.wants_messages {
        return None;
    }
    let recent = facts
        .sent
        .iter()
        .any(|s| now - s.at < settings.at_most_every);
    if recent {
        return None;
    }
    let sent_since = |what: What, module: &str, since: DateTime<Utc>| {
        facts
            .sent
            .iter()
            .any(|s| s.what == what && s.module == module && s.at >= since)
    };
    let lesson = facts
        .lessons
        .iter()
        .filter(|l| now - l.last_activity >= settings.lesson_nudge_after)
        .filter(|l| !sent_since(What::Nudge, &l.module, l.last_activity))
        .max_by(|a, b| (a.last_activity, &b.module).cmp(&(b.last_activity, &a.module)));
    if let Some(lesson) = lesson {
        return Some(Reminder {
            what: What::Nudge,
            module: lesson.module.clone(),
            part: lesson.part.max(1),
            parts: lesson.parts.max(lesson.part).max(1),
        });
    }
    facts
        .failed
        .iter()
        .filter(|f| now - f.at >= settings.quiz_retry_after)
        .filter(|f| !sent_since(What::QuizRetry, &f.module, f.at))
        .max_by(|a, b| (a.at, &b.module).cmp(&(b.at, &a.module)))
        .map(|f| Reminder {
            what: What::QuizRetry,
            module: f.module.clone(),
            part: 0,
            parts: 0,
        })
}

/// The lesson node of `module`: its start when that is a lesson, else its first lesson node
/// by id.
#[must_use]
pub fn lesson_node(dialogues: &Dialogues, module: &str) -> Option<NodeRef> {
    let tree = dialogues.trees.get(module)?;
    tree.module.as_ref()?;
    if matches!(tree.nodes.get(&tree.start), Some(Node::Lesson { .. })) {
        return Some(NodeRef::new(module, tree.start.clone()));
    }
    tree.nodes
        .iter()
        .filter(|(_, n)| matches!(n, Node::Lesson { .. }))
        .map(|(id, _)| id)
        .min()
        .map(|id| NodeRef::new(module, id.clone()))
}

/// The first question of `module`'s quiz: the first quiz node reached from its lesson
/// (through messages, checks and jumps inside the tree).
#[must_use]
pub fn quiz_start(dialogues: &Dialogues, module: &str) -> Option<NodeRef> {
    let lesson = lesson_node(dialogues, module)?;
    let mut at = match dialogues.node(&lesson)? {
        Node::Lesson { next, .. } => next.clone(),
        _ => return None,
    };
    for _ in 0..32 {
        if at.tree != module {
            return None;
        }
        at = match dialogues.node(&at)? {
            Node::Quiz { .. } => return Some(at),
            Node::Message { next, .. } | Node::Certificate { next, .. } => next.clone()?,
            Node::Check { otherwise, .. } => otherwise.clone(),
            Node::Jump { to } => to.clone(),
            _ => return None,
        };
    }
    None
}

/// Says `reminder` in the teacher's conversation (the caller checked STOP): nothing when it
/// no longer applies (the lesson was finished or the quiz passed meanwhile, or the module is
/// gone). The teacher's place is kept: a lesson step or question they were on is shown again,
/// unless it is the very lesson the nudge offers to continue.
pub(crate) fn deliver(h: &mut Helpdesk<'_>, reminder: &Reminder) {
    let lang = h.s.dialogue.lang;
    let Some(module) = h.cx.dialogues.module(&reminder.module) else {
        return;
    };
    let title = module.title.get(lang).to_string();
    let progress =
        h.s.dialogue
            .modules
            .get(&reminder.module)
            .cloned()
            .unwrap_or_default();
    let name =
        h.s.dialogue
            .profile
            .get("name")
            .cloned()
            .unwrap_or_default();
    let fill = |text: String| {
        text.replace("{module}", &title)
            .replace("{name}", &name)
            .replace("{part}", &reminder.part.to_string())
            .replace("{parts}", &reminder.parts.to_string())
    };
    let on_it = match reminder.what {
        What::Nudge => {
            if progress.lesson_done || lesson_node(h.cx.dialogues, &reminder.module).is_none() {
                return;
            }
            let text = fill(h.text("reminder_nudge"));
            let buttons = vec![
                super::button(
                    &format!("{BUTTON}continue.{}", reminder.module),
                    h.text("reminder_continue"),
                    None,
                ),
                super::button(&format!("{BUTTON}later"), h.text("reminder_not_now"), None),
            ];
            h.say(text, buttons);
            let at = h.s.dialogue.at.as_ref();
            at.is_some_and(|c| c.node.tree == reminder.module)
        }
        What::QuizRetry => {
            if progress.passed || quiz_start(h.cx.dialogues, &reminder.module).is_none() {
                return;
            }
            let text = fill(h.text("reminder_quiz_retry"));
            let buttons = vec![
                super::button(
                    &format!("{BUTTON}retry.{}", reminder.module),
                    h.text("reminder_try_again"),
                    Some(h.text("reminder_try_again_short")),
                ),
                super::button(&format!("{BUTTON}later"), h.text("reminder_not_now"), None),
            ];
            h.say(text, buttons);
            false
        }
    };
    if !on_it {
        h.reshow();
    }
}

/// Handles a reminder's button (`id` without [`super::BUTTON_PREFIX`]); `false` when it is
/// not one.
pub(crate) fn button(h: &mut Helpdesk<'_>, id: &str) -> bool {
    let Some(rest) = id.strip_prefix(BUTTON) else {
        return false;
    };
    let target = if let Some(module) = rest.strip_prefix("continue.") {
        lesson_node(h.cx.dialogues, module)
    } else if let Some(module) = rest.strip_prefix("retry.") {
        quiz_start(h.cx.dialogues, module)
    } else {
        let later = h.text("reminder_later");
        h.say(later, Vec::new());
        h.reshow();
        return true;
    };
    match target {
        Some(target) => {
            let step = dialogue::enter_node(h.cx.dialogues, &h.s.dialogue, &target, h.now);
            h.s.dialogue = step.state;
            h.effects
                .extend(step.effects.into_iter().map(Effect::Dialogue));
        }
        // The module is gone from the content: show where the teacher was.
        None => h.reshow(),
    }
    true
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap()
    }

    fn lesson(module: &str, part: u32, last: DateTime<Utc>) -> OpenLesson {
        OpenLesson {
            module: module.into(),
            part,
            parts: 5,
            last_activity: last,
        }
    }

    fn facts() -> Facts {
        Facts {
            wants_messages: true,
            ..Facts::default()
        }
    }

    fn parsed(source: &str) -> (Settings, Vec<Diagnostic>) {
        let mut diagnostics = Vec::new();
        let settings = parse(
            Path::new("programme/reminders.yaml"),
            source,
            &mut diagnostics,
        );
        (settings, diagnostics)
    }

    #[test]
    fn a_lesson_left_half_way_is_nudged_after_n_days_not_before() {
        let settings = Settings::default();
        let mut f = facts();
        f.lessons.push(lesson("feedback", 3, at(20, 10)));
        assert_eq!(due(&settings, &f, at(23, 9)), None, "not yet three days");
        let reminder = due(&settings, &f, at(23, 10)).expect("due after three days");
        assert_eq!(
            reminder,
            Reminder {
                what: What::Nudge,
                module: "feedback".into(),
                part: 3,
                parts: 5
            }
        );
        assert_eq!(
            reminder.occasion(NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()),
            "nudge:feedback:2026-11-23"
        );
    }

    #[test]
    fn at_most_one_reminder_a_week_of_any_kind() {
        let settings = Settings::default();
        let mut f = facts();
        f.lessons.push(lesson("feedback", 2, at(1, 10)));
        f.failed.push(FailedQuiz {
            module: "collaboration".into(),
            at: at(1, 10),
        });
        f.sent.push(Sent {
            what: What::QuizRetry,
            module: "perseverance".into(),
            at: at(20, 5),
        });
        assert_eq!(due(&settings, &f, at(26, 10)), None, "six days after one");
        assert!(due(&settings, &f, at(27, 5)).is_some(), "seven days after");
    }

    #[test]
    fn a_lesson_is_nudged_once_until_the_teacher_moves_in_it_again() {
        let settings = Settings::default();
        let mut f = facts();
        f.lessons.push(lesson("feedback", 2, at(1, 10)));
        f.sent.push(Sent {
            what: What::Nudge,
            module: "feedback".into(),
            at: at(4, 10),
        });
        assert_eq!(due(&settings, &f, at(20, 10)), None);
        // She came back to it after the nudge and left again: it may be nudged once more.
        f.lessons[0].last_activity = at(5, 10);
        assert!(due(&settings, &f, at(20, 10)).is_some());
    }

    #[test]
    fn a_nudge_comes_before_a_retry_and_the_latest_lesson_first() {
        let settings = Settings::default();
        let mut f = facts();
        f.failed.push(FailedQuiz {
            module: "collaboration".into(),
            at: at(10, 10),
        });
        f.lessons.push(lesson("feedback", 2, at(5, 10)));
        f.lessons.push(lesson("perseverance", 4, at(9, 10)));
        let r = due(&settings, &f, at(20, 10)).expect("due");
        assert_eq!(
            (r.what, r.module.as_str(), r.part),
            (What::Nudge, "perseverance", 4)
        );
    }

    #[test]
    fn a_failed_quiz_gets_a_retry_suggestion_after_m_days_once() {
        let settings = Settings::default();
        let mut f = facts();
        f.failed.push(FailedQuiz {
            module: "collaboration".into(),
            at: at(20, 10),
        });
        assert_eq!(due(&settings, &f, at(22, 9)), None);
        let r = due(&settings, &f, at(22, 10)).expect("due");
        assert_eq!(
            (r.what, r.module.as_str()),
            (What::QuizRetry, "collaboration")
        );
        assert_eq!(
            r.occasion(at(22, 10).date_naive()),
            "retry:collaboration:2026-11-22"
        );
        f.sent.push(Sent {
            what: What::QuizRetry,
            module: "collaboration".into(),
            at: at(22, 10),
        });
        assert_eq!(due(&settings, &f, at(30, 10)), None, "suggested once");
    }

    #[test]
    fn nothing_for_a_teacher_who_said_stop() {
        let settings = Settings::default();
        let mut f = facts();
        f.lessons.push(lesson("feedback", 2, at(1, 10)));
        f.wants_messages = false;
        assert_eq!(due(&settings, &f, at(20, 10)), None);
    }

    #[test]
    fn settings_parse_with_defaults_for_what_is_missing() {
        let (settings, diagnostics) = parsed("lesson_nudge_after_days: 4\nsend_at: \"09:15\"\n");
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(settings.lesson_nudge_after, Duration::days(4));
        assert_eq!(settings.quiz_retry_after, Duration::days(2));
        assert_eq!(settings.at_most_every, Duration::days(7));
        assert_eq!(settings.send_at, NaiveTime::from_hms_opt(9, 15, 0).unwrap());
        assert_eq!(parsed("").0, Settings::default());
    }

    #[test]
    fn a_send_time_at_night_or_a_bad_number_is_an_error_with_its_position() {
        let (settings, diagnostics) =
            parsed("lesson_nudge_after_days: 0\nat_most_every_days: 7\nsend_at: \"22:30\"\n");
        let shown: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(
            shown[0].starts_with("programme/reminders.yaml:1:")
                && shown[0].contains("lesson_nudge_after_days"),
            "{shown:?}"
        );
        assert!(
            shown[1].starts_with("programme/reminders.yaml:3:") && shown[1].contains("quiet hours"),
            "{shown:?}"
        );
        assert_eq!(settings, Settings::default());
        let (_, diagnostics) = parsed("send_at: \"7:59\"\n");
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        let (_, diagnostics) = parsed("send_at: half past ten\n");
        assert!(
            diagnostics[0].message.contains("not a time"),
            "{diagnostics:?}"
        );
        let (_, diagnostics) = parsed("nudge_days: 3\n");
        assert!(
            diagnostics[0].message.starts_with("YAML"),
            "{diagnostics:?}"
        );
    }

    mod conversation {
        use std::collections::HashSet;
        use std::path::PathBuf;
        use std::sync::LazyLock;

        use super::*;
        use crate::dialogue::{Cursor, Input, SourceFile, Stage, load};
        use crate::helpdesk::{Config, Context, TeacherState};
        use crate::knowledge::KnowledgeBase;
        use crate::language::Lang;
        use crate::programme::{Message, Programme};

        static DIALOGUES: LazyLock<Dialogues> = LazyLock::new(|| {
            let file = |path: &str, text: &str| SourceFile {
                path: PathBuf::from(path),
                source: text.to_string(),
            };
            let trees = [
                file(
                    "dialogues/onboarding.yaml",
                    include_str!("../../tests/fixtures/dialogues/onboarding.yaml"),
                ),
                file(
                    "dialogues/main.yaml",
                    include_str!("../../tests/fixtures/dialogues/main.yaml"),
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
            load(&system, &trees, &HashSet::new())
                .dialogues
                .expect("the fixture loads")
        });
        static KB: LazyLock<KnowledgeBase> = LazyLock::new(KnowledgeBase::default);
        static CONFIG: LazyLock<Config> = LazyLock::new(Config::default);
        static PROGRAMME: LazyLock<Programme> = LazyLock::new(Programme::default);

        fn cx() -> Context<'static> {
            Context {
                dialogues: &DIALOGUES,
                kb: &KB,
                config: &CONFIG,
                programme: &PROGRAMME,
            }
        }

        /// A teacher in `lang` who stopped on part 2 of the demo lesson.
        fn half_way(lang: Lang) -> TeacherState {
            let mut state = TeacherState::default();
            state.dialogue.lang = lang;
            state.dialogue.at = Some(Cursor {
                node: NodeRef::new("demo", "lesson"),
                stage: Stage::Part(1),
            });
            state
                .dialogue
                .modules
                .entry("demo".into())
                .or_default()
                .part = 2;
            state
        }

        fn replies(effects: &[Effect]) -> Vec<dialogue::Reply> {
            effects
                .iter()
                .filter_map(|e| match e {
                    Effect::Dialogue(dialogue::Effect::Say(reply)) => Some(reply.clone()),
                    _ => None,
                })
                .collect()
        }

        fn nudge() -> Message {
            Message::Reminder(Reminder {
                what: What::Nudge,
                module: "demo".into(),
                part: 2,
                parts: 2,
            })
        }

        #[test]
        fn the_nudge_names_the_module_and_part_in_the_teachers_language() {
            let now = at(26, 5);
            for (lang, words) in [
                (Lang::En, "part 2 of 2 of *Demo module*"),
                (Lang::Ur, "ڈیمو ماڈیول"),
                (Lang::Bn, "ডেমো মডিউল"),
            ] {
                let step = crate::programme::deliver(cx(), &half_way(lang), &nudge(), now);
                let said = replies(&step.effects);
                assert_eq!(said.len(), 1, "no reshow of the lesson it offers: {said:?}");
                assert!(said[0].text.contains(words), "{lang:?}: {}", said[0].text);
                let ids: Vec<&str> = said[0].choices.iter().map(|b| b.id.as_str()).collect();
                assert_eq!(ids, ["pg.rem.continue.demo", "pg.rem.later"]);
                assert!(
                    said[0]
                        .choices
                        .iter()
                        .all(|b| b.label.chars().count() <= 20)
                );
            }
        }

        #[test]
        fn continue_resumes_at_the_part_and_nothing_for_a_finished_lesson_or_stop() {
            let now = at(26, 5);
            let state = half_way(Lang::En);
            let tap = Input::Choice("pg.rem.continue.demo".into());
            let step = crate::helpdesk::step(cx(), &state, &tap, now);
            let said: Vec<String> = replies(&step.effects).into_iter().map(|r| r.text).collect();
            assert!(said.iter().any(|t| t.contains("part 2 of 2")), "{said:?}");
            assert_eq!(
                step.state.dialogue.at.map(|c| c.stage),
                Some(Stage::Part(1))
            );

            let mut done = half_way(Lang::En);
            done.dialogue
                .modules
                .entry("demo".into())
                .or_default()
                .lesson_done = true;
            let step = crate::programme::deliver(cx(), &done, &nudge(), now);
            assert!(replies(&step.effects).is_empty());

            let mut stopped = half_way(Lang::En);
            stopped
                .dialogue
                .profile
                .insert(crate::helpdesk::notice::FIELD.into(), "off".into());
            let step = crate::programme::deliver(cx(), &stopped, &nudge(), now);
            assert!(replies(&step.effects).is_empty());
        }

        #[test]
        fn try_again_starts_the_quiz_afresh() {
            let mut state = TeacherState::default();
            state.dialogue.at = Some(Cursor {
                node: NodeRef::new("main", "menu"),
                stage: Stage::Waiting,
            });
            assert_eq!(
                quiz_start(&DIALOGUES, "demo"),
                Some(NodeRef::new("demo", "q1"))
            );
            let tap = Input::Choice("pg.rem.retry.demo".into());
            let step = crate::helpdesk::step(cx(), &state, &tap, at(26, 5));
            let said: Vec<String> = replies(&step.effects).into_iter().map(|r| r.text).collect();
            assert!(
                said.iter().any(|t| t.contains("The class is noisy")),
                "{said:?}"
            );
            assert_eq!(
                step.state.dialogue.quiz.map(|q| (q.score, q.max)),
                Some((0, 0))
            );
        }
    }

    #[test]
    fn a_late_run_may_happen_until_the_night() {
        let settings = Settings::default();
        assert_eq!(
            settings.late_run_window(&QuietHours::default()),
            Duration::minutes(10 * 60 + 30)
        );
    }
}
