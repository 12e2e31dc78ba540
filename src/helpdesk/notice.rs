//! CPD notices, and the teacher's switch for them. Pure.
//!
//! When programme staff plan a CPD session on a recurring issue, every teacher who asked about
//! it gets one [`CpdNotice`] in their own conversation (through the inbox, like an expert's
//! answer). [`cpd`] turns it into a message in the teacher's language, with the date in the
//! programme's time zone ([`when`]), or into nothing for a teacher who turned notices off.
//! "stop notices" / "notices on" (the commands `notices_off` and `notices_on` of
//! `_system.yaml`, in every language) set the profile field [`FIELD`] and say so.
//!
//! Neither moves the conversation: in a lesson, a quiz or a question the teacher was answering,
//! the step on screen is shown again after the notice and the teacher carries on there (a quiz
//! keeps its score so far); at a menu, its buttons above still work.

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::{Context, Effect, Helpdesk, Step, TeacherState};
use crate::dialogue::{self, Input, Node, matching};
use crate::language::Lang;

/// The profile field that says whether a teacher wants CPD notices (`off`, or `on`/unset).
pub const FIELD: &str = "notices";

/// The command (in `_system.yaml`) that turns notices off.
pub const OFF_COMMAND: &str = "notices_off";

/// The command (in `_system.yaml`) that turns notices on again.
pub const ON_COMMAND: &str = "notices_on";

/// The command whose words also turn programme messages on again for a teacher who said STOP.
pub const START_COMMAND: &str = "start";

/// How many characters of the teacher's own question a notice quotes.
pub const QUOTED_CHARS: usize = 90;

/// How a CPD session is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Face to face, at a place.
    InPerson,
    /// Online, at a link.
    Online,
    /// The school's weekly CPD hour (a place or a link).
    CpdHour,
}

impl Mode {
    /// Every mode, in the order forms offer them.
    pub const ALL: [Mode; 3] = [Mode::CpdHour, Mode::InPerson, Mode::Online];

    /// The code stored in `cpd_sessions.mode`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Mode::InPerson => "in_person",
            Mode::Online => "online",
            Mode::CpdHour => "cpd_hour",
        }
    }

    /// The mode of a stored code.
    #[must_use]
    pub fn parse(code: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.code() == code)
    }

    /// Its name for programme staff (the console is in English).
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Mode::InPerson => "In person",
            Mode::Online => "Online",
            Mode::CpdHour => "CPD hour",
        }
    }

    /// The system text a notice for a session of this mode is worded with.
    fn text_key(self) -> &'static str {
        match self {
            Mode::InPerson => "cpd_notice_in_person",
            Mode::Online => "cpd_notice_online",
            Mode::CpdHour => "cpd_notice_cpd_hour",
        }
    }
}

/// A CPD session that covers something the teacher asked, for their conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpdNotice {
    /// The plan (a planned issue) it comes from.
    pub plan: i64,
    /// What the teacher asked, in their own words.
    pub question: String,
    /// The session's title, as staff wrote it (plain text).
    pub title: String,
    /// When it starts.
    pub starts_at: DateTime<Utc>,
    /// How it is held.
    pub mode: Mode,
    /// Where: a place, or a link.
    pub place: String,
}

/// The message a notice becomes for this teacher: nothing when they turned notices off; else
/// the notice in their language, then, when they were in the middle of something, the step on
/// screen again. The state is left as it was.
#[must_use]
pub fn cpd(cx: Context<'_>, state: &TeacherState, notice: &CpdNotice, now: DateTime<Utc>) -> Step {
    let mut h = Helpdesk {
        cx,
        s: state.clone(),
        effects: Vec::new(),
        now,
    };
    if wants_notices(state) {
        let lang = h.s.dialogue.lang;
        let when = when(notice.starts_at, cx.config.timezone, lang, now);
        let body = fill(
            &h.text(notice.mode.text_key()),
            &[
                ("question", &clip(&notice.question, QUOTED_CHARS)),
                ("when", &when),
                ("title", notice.title.trim()),
                ("place", notice.place.trim()),
            ],
        );
        let footer = h.text("cpd_notice_footer");
        h.say(format!("{body}\n\n{footer}"), Vec::new());
        h.reshow();
    }
    Step {
        state: h.s,
        effects: h.effects,
    }
}

/// Whether the teacher wants CPD notices (they do unless they turned them off).
#[must_use]
pub fn wants_notices(state: &TeacherState) -> bool {
    state.dialogue.profile.get(FIELD).map(String::as_str) != Some("off")
}

/// When a session starts, in the teacher's language and the programme's time zone, worded to
/// open a sentence: "On Thursday 26 November at 16:00", "جمعرات 26 نومبر کو شام 4:00 بجے",
/// "২৬ নভেম্বর, বৃহস্পতিবার বিকেল ৪:০০টায়". The year is said only when it is not this year.
#[must_use]
pub fn when(at: DateTime<Utc>, tz: Tz, lang: Lang, now: DateTime<Utc>) -> String {
    let local = at.with_timezone(&tz);
    let weekday = local.weekday().num_days_from_monday() as usize;
    let month = local.month0() as usize;
    let day = local.day();
    let (hour, minute) = (local.hour(), local.minute());
    let year = if local.year() == now.with_timezone(&tz).year() {
        String::new()
    } else {
        format!(" {}", local.year())
    };
    let twelve = match hour % 12 {
        0 => 12,
        h => h,
    };
    match lang {
        Lang::En => format!(
            "On {} {day} {}{year} at {hour:02}:{minute:02}",
            EN_DAYS[weekday], EN_MONTHS[month]
        ),
        Lang::Ur => {
            let period = match hour {
                5..=11 => "صبح",
                12..=15 => "دوپہر",
                16..=19 => "شام",
                _ => "رات",
            };
            format!(
                "{} {day} {}{year} کو {period} {twelve}:{minute:02} بجے",
                UR_DAYS[weekday], UR_MONTHS[month]
            )
        }
        Lang::Bn => {
            let period = match hour {
                5..=11 => "সকাল",
                12..=14 => "দুপুর",
                15..=17 => "বিকেল",
                18..=19 => "সন্ধ্যা",
                _ => "রাত",
            };
            bangla_digits(&format!(
                "{day} {}{year}, {} {period} {twelve}:{minute:02}টায়",
                BN_MONTHS[month], BN_DAYS[weekday]
            ))
        }
    }
}

/// `Some(false)` for "stop notices", `Some(true)` for "notices on", in any of their words.
/// While the teacher is typing free text (a name, a reflection, a question) only the words as
/// written count, as for every command; elsewhere Roman Urdu spelled differently too.
#[must_use]
pub fn command(cx: Context<'_>, state: &TeacherState, text: &str) -> Option<bool> {
    let words = |name: &str| {
        cx.dialogues
            .commands
            .iter()
            .find(|c| c.name == name)
            .map_or(&[][..], |c| c.words.as_slice())
    };
    let (off, on) = (words(OFF_COMMAND), words(ON_COMMAND));
    if matching::is_word(text, off) {
        return Some(false);
    }
    if matching::is_word(text, on) {
        return Some(true);
    }
    // "START" after STOP turns messages on again (otherwise it is the `start` command).
    if !wants_notices(state) && matching::is_word(text, words(START_COMMAND)) {
        return Some(true);
    }
    if awaits_free_text(cx, state) {
        return None;
    }
    if matching::matches_word(text, off) {
        return Some(false);
    }
    matching::matches_word(text, on).then_some(true)
}

fn awaits_free_text(cx: Context<'_>, state: &TeacherState) -> bool {
    let Some(cursor) = &state.dialogue.at else {
        return false;
    };
    match cx.dialogues.node(&cursor.node) {
        Some(Node::Ask { .. } | Node::Question { .. }) => true,
        Some(Node::Lesson { .. }) => cursor.stage == dialogue::Stage::Reflection,
        _ => false,
    }
}

impl Helpdesk<'_> {
    /// The teacher turned notices on or off: kept in the profile, confirmed, and the
    /// conversation goes on where it was.
    pub(super) fn switch_notices(&mut self, on: bool) {
        let value = if on { "on" } else { "off" };
        // Like any command, it ends a pending answer's feedback, rating or comment.
        self.s.helpdesk.pending = None;
        self.s.helpdesk.rating = None;
        self.s.helpdesk.comment = None;
        self.s
            .dialogue
            .profile
            .insert(FIELD.to_string(), value.to_string());
        self.effects
            .push(Effect::Dialogue(dialogue::Effect::SetProfile {
                field: FIELD.to_string(),
                value: value.to_string(),
            }));
        let said = self.text(if on { "notices_on" } else { "notices_off" });
        self.say(said, Vec::new());
        self.reshow();
    }

    /// Shows again the step on screen when the teacher is in the middle of a lesson, a quiz or
    /// a question they were answering, without changing anything (unlike `resume`,
    /// which starts a quiz's attempt over).
    pub(crate) fn reshow(&mut self) {
        let Some(cursor) = &self.s.dialogue.at else {
            return;
        };
        let busy = matches!(
            self.cx.dialogues.node(&cursor.node),
            Some(Node::Lesson { .. } | Node::Quiz { .. } | Node::Ask { .. })
        );
        if !busy {
            return;
        }
        let step = dialogue::resume(self.cx.dialogues, &self.s.dialogue, self.now);
        let line = self.text("helpdesk_continue");
        self.say(line, Vec::new());
        self.effects.extend(
            step.effects
                .into_iter()
                .filter(|e| matches!(e, dialogue::Effect::Say(_)))
                .map(Effect::Dialogue),
        );
    }
}

/// Whether `input` is one of the notice commands, handled (for [`super::step`]).
pub(super) fn handled(h: &mut Helpdesk<'_>, input: &Input) -> bool {
    let Input::Text(text) = input else {
        return false;
    };
    match command(h.cx, &h.s, text) {
        Some(on) => {
            h.switch_notices(on);
            true
        }
        None => false,
    }
}

/// `template` with each `{name}` replaced once, in one pass (a title that contains `{place}`
/// stays as written).
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            values
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v, close))
        });
        match value {
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

fn clip(text: &str, chars: usize) -> String {
    let text = text.trim();
    let mut clipped: String = text.chars().take(chars).collect();
    if text.chars().nth(chars).is_some() {
        clipped = clipped.trim_end().to_string();
        clipped.push('…');
    }
    clipped
}

fn bangla_digits(text: &str) -> String {
    text.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) => char::from_u32(0x09E6 + d).unwrap_or(c),
            None => c,
        })
        .collect()
}

const EN_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const UR_DAYS: [&str; 7] = ["پیر", "منگل", "بدھ", "جمعرات", "جمعہ", "ہفتہ", "اتوار"];
const UR_MONTHS: [&str; 12] = [
    "جنوری",
    "فروری",
    "مارچ",
    "اپریل",
    "مئی",
    "جون",
    "جولائی",
    "اگست",
    "ستمبر",
    "اکتوبر",
    "نومبر",
    "دسمبر",
];
const BN_DAYS: [&str; 7] = [
    "সোমবার",
    "মঙ্গলবার",
    "বুধবার",
    "বৃহস্পতিবার",
    "শুক্রবার",
    "শনিবার",
    "রবিবার",
];
const BN_MONTHS: [&str; 12] = [
    "জানুয়ারি",
    "ফেব্রুয়ারি",
    "মার্চ",
    "এপ্রিল",
    "মে",
    "জুন",
    "জুলাই",
    "আগস্ট",
    "সেপ্টেম্বর",
    "অক্টোবর",
    "নভেম্বর",
    "ডিসেম্বর",
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::PathBuf;
    use std::sync::LazyLock;

    use chrono::TimeZone;

    use super::*;
    use crate::dialogue::engine::QuizRun;
    use crate::dialogue::load::{SourceFile, load};
    use crate::dialogue::{Cursor, Dialogues, NodeRef, Stage};
    use crate::helpdesk::Config;
    use crate::knowledge::KnowledgeBase;

    /// The test content's dialogues.
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

    /// A teacher in `lang` waiting at `tree/node`.
    fn at(tree: &str, node: &str, lang: Lang) -> TeacherState {
        let mut state = TeacherState::default();
        state.dialogue.lang = lang;
        state.dialogue.at = Some(Cursor {
            node: NodeRef::new(tree, node),
            stage: Stage::Waiting,
        });
        state
    }

    fn said(effects: &[Effect]) -> Vec<String> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Dialogue(dialogue::Effect::Say(reply)) => Some(reply.text.clone()),
                _ => None,
            })
            .collect()
    }

    fn notice() -> CpdNotice {
        CpdNotice {
            plan: 7,
            question: "my class is too noisy".into(),
            title: "Quiet signals".into(),
            starts_at: thursday(),
            mode: Mode::Online,
            place: "https://meet.example.org/cpd".into(),
        }
    }

    #[test]
    fn the_switch_is_understood_in_every_language() {
        let menu = at("main", "menu", Lang::En);
        let off = [
            "stop notices",
            "Stop notices!",
            "/notices_off",
            "notice band karo",
            "notice bund karo",
            "نوٹس بند کریں",
            "নোটিশ বন্ধ",
        ];
        for words in off {
            assert_eq!(command(cx(), &menu, words), Some(false), "{words}");
        }
        for words in ["notices on", "/notices_on", "نوٹس چالو کریں", "নোটিশ চালু"]
        {
            assert_eq!(command(cx(), &menu, words), Some(true), "{words}");
        }
        for words in ["notices", "my class is too noisy", "menu"] {
            assert_eq!(command(cx(), &menu, words), None, "{words}");
        }
        // While a name is typed, only the words as written count.
        let naming = at("onboarding", "ask_name", Lang::En);
        assert_eq!(command(cx(), &naming, "notice bund karo"), None);
        assert_eq!(command(cx(), &naming, "stop notices"), Some(false));
    }

    #[test]
    fn stop_and_start_in_every_language() {
        let mut menu = at("main", "menu", Lang::En);
        for words in ["STOP", "stop", "band karo", "Band kar do", "بند کرو", "বন্ধ"] {
            assert_eq!(command(cx(), &menu, words), Some(false), "{words}");
        }
        for words in ["shuru karo", "چالو کریں", "চালু"] {
            assert_eq!(command(cx(), &menu, words), Some(true), "{words}");
        }
        // START is the start command for everyone else; after STOP it turns messages on.
        assert_eq!(command(cx(), &menu, "START"), None);
        menu.dialogue
            .profile
            .insert(FIELD.to_string(), "off".to_string());
        assert_eq!(command(cx(), &menu, "START"), Some(true));
        assert_eq!(command(cx(), &menu, "/start"), Some(true));
    }

    #[test]
    fn turning_notices_off_keeps_the_place_and_says_so_in_the_teachers_language() {
        let mut state = at("demo", "q1", Lang::Ur);
        state.dialogue.quiz = Some(QuizRun {
            module: "demo".into(),
            score: 1,
            max: 1,
        });
        let step = super::super::step(cx(), &state, &Input::Text("نوٹس بند کریں".into()), monday());
        assert_eq!(
            step.state.dialogue.profile.get(FIELD).map(String::as_str),
            Some("off")
        );
        assert_eq!(step.state.dialogue.at, state.dialogue.at);
        assert_eq!(
            step.state.dialogue.quiz, state.dialogue.quiz,
            "the score so far is kept"
        );
        let texts = said(&step.effects);
        assert!(
            texts[0].contains("اطلاعات یا عمومی پیغامات نہیں ملیں گے"),
            "{texts:?}"
        );
        assert!(
            texts.iter().any(|t| t.contains("کلاس میں شور ہے")),
            "the question again: {texts:?}"
        );
        assert!(
            step.effects
                .contains(&Effect::Dialogue(dialogue::Effect::SetProfile {
                    field: FIELD.into(),
                    value: "off".into(),
                }))
        );

        // A notice to her now says nothing; on again, it speaks Urdu.
        let quiet = cpd(cx(), &step.state, &notice(), monday());
        assert!(quiet.effects.is_empty());
        assert_eq!(quiet.state, step.state);
        let on = super::super::step(
            cx(),
            &step.state,
            &Input::Text("notices on".into()),
            monday(),
        );
        let told = cpd(cx(), &on.state, &notice(), monday());
        let texts = said(&told.effects);
        assert!(
            texts[0].contains("آن لائن سی پی ڈی سیشن “Quiet signals”"),
            "{texts:?}"
        );
        assert!(
            texts[0].contains("جمعرات 26 نومبر کو شام 4:00 بجے"),
            "{texts:?}"
        );
        assert!(
            texts[0].contains("https://meet.example.org/cpd"),
            "{texts:?}"
        );
        assert_eq!(told.state, on.state, "a notice changes nothing");
    }

    #[test]
    fn a_notice_at_a_menu_is_said_alone() {
        let state = at("main", "menu", Lang::Bn);
        let step = cpd(cx(), &state, &notice(), monday());
        let texts = said(&step.effects);
        assert_eq!(texts.len(), 1, "{texts:?}");
        assert!(
            texts[0].contains("আপনি জানতে চেয়েছিলেন: “my class is too noisy”"),
            "{texts:?}"
        );
        assert!(
            texts[0].contains("২৬ নভেম্বর, বৃহস্পতিবার বিকেল ৪:০০টায়"),
            "{texts:?}"
        );
        assert!(texts[0].contains("STOP বা “বন্ধ”"), "how to stop: {texts:?}");
    }

    /// Thursday 26 November 2026, 16:00 in Karachi.
    fn thursday() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 11, 0, 0).unwrap()
    }

    fn monday() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 5, 0, 0).unwrap()
    }

    #[test]
    fn dates_are_said_in_the_teachers_language_and_the_programmes_zone() {
        let karachi = chrono_tz::Asia::Karachi;
        let cases = [
            (Lang::En, "On Thursday 26 November at 16:00"),
            (Lang::Ur, "جمعرات 26 نومبر کو شام 4:00 بجے"),
            (Lang::Bn, "২৬ নভেম্বর, বৃহস্পতিবার বিকেল ৪:০০টায়"),
        ];
        for (lang, expected) in cases {
            assert_eq!(when(thursday(), karachi, lang, monday()), expected);
        }
        // Dhaka is an hour ahead; next year's date says its year.
        let dhaka = chrono_tz::Asia::Dhaka;
        assert_eq!(
            when(thursday(), dhaka, Lang::En, monday()),
            "On Thursday 26 November at 17:00"
        );
        let january = Utc.with_ymd_and_hms(2027, 1, 4, 4, 30, 0).unwrap();
        assert_eq!(
            when(january, karachi, Lang::Ur, monday()),
            "پیر 4 جنوری 2027 کو صبح 9:30 بجے"
        );
    }

    #[test]
    fn placeholders_are_filled_once_and_words_inside_values_stay() {
        let filled = fill(
            "{title} at {place} ({unknown})",
            &[("title", "{place} talk"), ("place", "Hall")],
        );
        assert_eq!(filled, "{place} talk at Hall ({unknown})");
    }

    #[test]
    fn long_questions_are_clipped() {
        let long = "word ".repeat(40);
        let quoted = clip(&long, QUOTED_CHARS);
        assert!(quoted.ends_with('…'));
        assert!(quoted.chars().count() <= QUOTED_CHARS + 1);
        assert_eq!(clip(" short ", QUOTED_CHARS), "short");
    }

    #[test]
    fn modes_round_trip_their_codes() {
        for mode in Mode::ALL {
            assert_eq!(Mode::parse(mode.code()), Some(mode));
        }
        assert_eq!(Mode::parse("javascript"), None);
    }
}
