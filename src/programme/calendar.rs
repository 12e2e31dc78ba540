//! The CPD-hour calendar (`programme/calendar.yaml`): sessions with a title in each language, a
//! local start time in the programme's time zone, a length, how they are held (online with a
//! link, in person at a place, or both), an audience ([`Segment`] terms), the lesson module
//! linked to them and when they are announced; and the holidays and exam weeks that suppress
//! the sessions falling in them. Pure: parsing with every problem located by file, line and
//! column; what an announcement, an RSVP and a session's follow-up say in a teacher's
//! conversation; the jobs a session needs ([`Calendar::plan`]). The scheduler
//! (`scheduler::calendar`) and the store (`store::calendar`) do the I/O.
//!
//! ```yaml
//! announce: [2d, 1h]
//! breaks:
//!   - { name: Winter break, kind: holiday, from: 2026-12-21, to: 2027-01-03 }
//! sessions:
//!   - id: questioning-1
//!     title: { en: Asking better questions, ur: بہتر سوالات, bn: ভালো প্রশ্ন }
//!     starts: 2026-11-25 16:00
//!     duration: 1h
//!     mode: online
//!     link: https://meet.example.org/cpd
//!     audience: grade=3-5 district=Kasur
//!     module: checking-understanding
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::segment::Segment;
use crate::diagnostic::yaml::{self, pos};
use crate::diagnostic::{Diagnostic, Pos};
use crate::dialogue::{self, Dialogues, Input};
use crate::helpdesk::{self, Helpdesk};
use crate::language::Lang;

/// The file's name in `programme/`.
pub const FILE: &str = "calendar.yaml";
/// The longest session id (button ids carry it, and Telegram allows 64 bytes).
pub const MAX_ID: usize = 40;
/// The longest session.
pub const MAX_DURATION: Duration = Duration::hours(8);
/// The earliest an announcement may come.
pub const MAX_OFFSET: Duration = Duration::days(14);
/// The RSVP buttons' id prefix, after [`super::BUTTON_PREFIX`]: `pg.rsvp:{session}:yes|no`.
pub const RSVP: &str = "rsvp:";
/// The follow-up's button prefix: `pg.lesson:{module}` starts the module.
pub const LESSON: &str = "lesson:";

/// When sessions are announced unless the file or the session says otherwise.
#[must_use]
pub fn default_offsets() -> Vec<Offset> {
    vec![Offset(Duration::days(2)), Offset(Duration::hours(1))]
}

/// The calendar: sessions in start order, breaks, and the file-wide announcement offsets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Calendar {
    /// The sessions, in start order.
    pub sessions: Vec<Session>,
    /// Holidays and exam weeks.
    pub breaks: Vec<Break>,
}

/// How long before a session an announcement goes (`2d`, `1h`, `1h30m`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Offset(pub Duration);

impl fmt::Display for Offset {
    /// The shortest form it parses back from: `2d`, `1h30m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&duration_words(self.0))
    }
}

/// How a session is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// At a link.
    Online,
    /// At a place.
    InPerson,
    /// At a place, and at a link for those who cannot come.
    Hybrid,
}

impl Mode {
    /// Its name for staff.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Mode::Online => "Online",
            Mode::InPerson => "In person",
            Mode::Hybrid => "Hybrid",
        }
    }
}

/// A holiday or an exam week: sessions on its days are not held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Break {
    /// Its name (`Winter break`).
    pub name: String,
    /// `holiday` or `exams`.
    pub kind: String,
    /// The first day.
    pub from: NaiveDate,
    /// The last day (included).
    pub to: NaiveDate,
}

/// One CPD-hour session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Stable id (lowercase letters, digits, hyphens).
    pub id: String,
    /// The title per language code (`en` at least).
    pub title: BTreeMap<String, String>,
    /// Local start time in the programme's time zone.
    pub starts: NaiveDateTime,
    /// How long it lasts.
    pub duration: Duration,
    /// How it is held.
    pub mode: Mode,
    /// The link (online, hybrid).
    pub link: Option<String>,
    /// The place (in person, hybrid).
    pub place: Option<String>,
    /// Who it is for.
    pub audience: Segment,
    /// The lesson module (a module tree id) sent afterwards.
    pub module: String,
    /// When it is announced, longest first.
    pub offsets: Vec<Offset>,
    /// It took place (kept for the record; never announced).
    pub held: bool,
    /// The break it falls in: not announced, not followed up.
    pub suppressed_by: Option<String>,
    /// Where it is written (line of its `- id:` entry).
    pub line: u64,
}

impl Session {
    /// When it starts.
    #[must_use]
    pub fn starts_at(&self, tz: Tz) -> DateTime<Utc> {
        local_instant(tz, self.starts)
    }

    /// When it ends.
    #[must_use]
    pub fn ends_at(&self, tz: Tz) -> DateTime<Utc> {
        self.starts_at(tz) + self.duration
    }

    /// Its id with its start (`questioning-1@20261125T1600`): a moved session is a new
    /// occasion, so it is announced again.
    #[must_use]
    pub fn occasion_id(&self) -> String {
        format!("{}@{}", self.id, self.starts.format("%Y%m%dT%H%M"))
    }

    /// The occasion of its announcement `offset` ends (`announce:{id}@{start}:{offset}`).
    #[must_use]
    pub fn announce_occasion(&self, offset: Offset) -> String {
        format!("announce:{}:{offset}", self.occasion_id())
    }

    /// The occasion of its follow-up (`followup:{id}@{start}`).
    #[must_use]
    pub fn followup_occasion(&self) -> String {
        format!("followup:{}", self.occasion_id())
    }

    /// The title for `lang`.
    #[must_use]
    pub fn title_in(&self, lang: Lang) -> String {
        super::pick(&self.title, lang)
    }
}

impl Calendar {
    /// The session with this id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&Session> {
        self.sessions.iter().find(|s| s.id == id)
    }

    /// Errors for the sessions that started before `now` and are not marked `held: true`
    /// (`baithak check` asks with the system clock; a running server only skips them).
    #[must_use]
    pub fn past(&self, path: &Path, now: DateTime<Utc>, tz: Tz) -> Vec<Diagnostic> {
        self.sessions
            .iter()
            .filter(|s| !s.held && s.starts_at(tz) < now)
            .map(|s| {
                Diagnostic::error(
                    path,
                    Pos::new(s.line, 5),
                    format!(
                        "session `{}` starts in the past ({}): move it, or mark it `held: true`",
                        s.id,
                        s.starts.format("%Y-%m-%d %H:%M")
                    ),
                )
            })
            .collect()
    }

    /// The jobs the sessions need at `now`: each announcement still to come at its time; of
    /// those whose time has passed, only the latest, at once (a session added late is still
    /// announced, once); the follow-up at each session's end. Held and suppressed sessions,
    /// and sessions already over, need none.
    #[must_use]
    pub fn plan(&self, now: DateTime<Utc>, tz: Tz) -> Vec<Planned> {
        let mut planned = Vec::new();
        for session in &self.sessions {
            if session.held || session.suppressed_by.is_some() {
                continue;
            }
            let (start, end) = (session.starts_at(tz), session.ends_at(tz));
            if end <= now {
                continue;
            }
            if start > now {
                let dues: Vec<DateTime<Utc>> =
                    session.offsets.iter().map(|o| start - o.0).collect();
                for (i, offset) in session.offsets.iter().enumerate() {
                    let due = dues[i];
                    let superseded = dues.get(i + 1).is_some_and(|next| *next <= now);
                    if due > now || !superseded {
                        planned.push(Planned {
                            session: session.id.clone(),
                            offset: Some(*offset),
                            key: session.announce_occasion(*offset),
                            starts_at: start,
                            due_at: due.max(now),
                        });
                    }
                }
            }
            planned.push(Planned {
                session: session.id.clone(),
                offset: None,
                key: session.followup_occasion(),
                starts_at: start,
                due_at: end,
            });
        }
        planned
    }
}

/// A job a session needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    /// The session's id.
    pub session: String,
    /// The announcement's offset; `None` for the follow-up.
    pub offset: Option<Offset>,
    /// The job's key (and the occasion its messages carry).
    pub key: String,
    /// When the session starts (the job checks the session has not moved).
    pub starts_at: DateTime<Utc>,
    /// When the job is due.
    pub due_at: DateTime<Utc>,
}

// ---------------------------------------------------------------------------------------------
// Parsing

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    announce: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    breaks: Vec<Spanned<RawBreak>>,
    #[serde(default)]
    sessions: Vec<Spanned<RawSession>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreak {
    name: Spanned<String>,
    #[serde(default)]
    kind: Option<Spanned<String>>,
    from: Spanned<String>,
    to: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSession {
    #[serde(default)]
    id: Option<Spanned<String>>,
    #[serde(default)]
    title: Option<Spanned<BTreeMap<String, String>>>,
    #[serde(default)]
    starts: Option<Spanned<String>>,
    #[serde(default)]
    duration: Option<Spanned<String>>,
    #[serde(default)]
    mode: Option<Spanned<String>>,
    #[serde(default)]
    link: Option<Spanned<String>>,
    #[serde(default)]
    place: Option<Spanned<String>>,
    #[serde(default)]
    audience: Option<Spanned<String>>,
    #[serde(default)]
    module: Option<Spanned<String>>,
    #[serde(default)]
    announce: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    held: bool,
}

/// Parses the calendar; problems go to `diagnostics` (a session with an error is left out).
/// `dialogues`, when loaded, is checked for each session's module.
pub fn parse(
    path: &Path,
    source: &str,
    dialogues: Option<&Dialogues>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Calendar {
    if yaml::is_blank(source) {
        return Calendar::default();
    }
    let Some(raw) = yaml::read::<RawFile>(path, source, diagnostics) else {
        return Calendar::default();
    };
    let mut error = |at: Pos, message: String| {
        diagnostics.push(Diagnostic::error(path, at, message));
    };
    let defaults = match &raw.announce {
        Some(list) => offsets(&list.value, pos(&list.referenced), &mut error),
        None => default_offsets(),
    };
    let mut calendar = Calendar::default();
    for raw_break in &raw.breaks {
        let b = &raw_break.value;
        let date = |s: &Spanned<String>, error: &mut dyn FnMut(Pos, String)| {
            let parsed = NaiveDate::parse_from_str(s.value.trim(), "%Y-%m-%d");
            if parsed.is_err() {
                error(
                    pos(&s.referenced),
                    format!("`{}` is not a date like 2026-12-21", s.value.trim()),
                );
            }
            parsed.ok()
        };
        let kind = b
            .kind
            .as_ref()
            .map_or_else(|| "holiday".to_string(), |k| k.value.trim().to_lowercase());
        if !matches!(kind.as_str(), "holiday" | "exams") {
            let at = b
                .kind
                .as_ref()
                .map_or(pos(&raw_break.referenced), |k| pos(&k.referenced));
            error(
                at,
                format!("break kind `{kind}` is not `holiday` or `exams`"),
            );
        }
        if let (Some(from), Some(to)) = (date(&b.from, &mut error), date(&b.to, &mut error)) {
            if from > to {
                error(
                    pos(&b.to.referenced),
                    format!("break “{}” ends before it starts", b.name.value.trim()),
                );
                continue;
            }
            calendar.breaks.push(Break {
                name: b.name.value.trim().to_string(),
                kind,
                from,
                to,
            });
        }
    }
    let mut seen: HashMap<String, u64> = HashMap::new();
    for (index, raw_session) in raw.sessions.iter().enumerate() {
        let at = pos(&raw_session.referenced);
        if let Some(session) = session(
            index,
            at,
            &raw_session.value,
            &defaults,
            dialogues,
            &mut seen,
            &mut error,
        ) {
            calendar.sessions.push(session);
        }
    }
    calendar.sessions.sort_by_key(|s| s.starts);
    for session in &mut calendar.sessions {
        let day = session.starts.date();
        if let Some(b) = calendar
            .breaks
            .iter()
            .find(|b| b.from <= day && day <= b.to)
        {
            session.suppressed_by = Some(b.name.clone());
            if !session.held {
                diagnostics.push(Diagnostic::warning(
                    path,
                    Pos::new(session.line, 5),
                    format!(
                        "session `{}` on {} falls in “{}” ({}, {} to {}): it will not be announced",
                        session.id,
                        day.format("%Y-%m-%d"),
                        b.name,
                        b.kind,
                        b.from.format("%Y-%m-%d"),
                        b.to.format("%Y-%m-%d")
                    ),
                ));
            }
        }
    }
    overlaps(path, &calendar.sessions, diagnostics);
    calendar
}

/// Reads one session; `None` when it has an error (reported).
fn session(
    index: usize,
    at: Pos,
    raw: &RawSession,
    defaults: &[Offset],
    dialogues: Option<&Dialogues>,
    seen: &mut HashMap<String, u64>,
    error: &mut dyn FnMut(Pos, String),
) -> Option<Session> {
    let mut ok = true;
    let mut fail = |at: Pos, message: String| {
        ok = false;
        error(at, message);
    };
    let id = match &raw.id {
        Some(id) => {
            let value = id.value.trim().to_string();
            let valid = !value.is_empty()
                && value.len() <= MAX_ID
                && value
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !valid {
                fail(
                    pos(&id.referenced),
                    format!(
                        "session id `{value}`: use 1 to {MAX_ID} lowercase letters, digits and hyphens"
                    ),
                );
            } else if let Err(twice) =
                yaml::first_use(seen, "session", &value, id.referenced.line())
            {
                fail(pos(&id.referenced), twice);
            }
            value
        }
        None => {
            fail(at, format!("session {} has no `id`", index + 1));
            String::new()
        }
    };
    let name = if id.is_empty() {
        format!("session {}", index + 1)
    } else {
        format!("session `{id}`")
    };
    let mut title = BTreeMap::new();
    match &raw.title {
        Some(t) => {
            for (lang, text) in &t.value {
                if Lang::parse(lang).is_none() {
                    fail(
                        pos(&t.referenced),
                        format!("{name}: title language `{lang}` is not en, ur or bn"),
                    );
                } else if !text.trim().is_empty() {
                    title.insert(lang.clone(), text.trim().to_string());
                }
            }
            if !title.contains_key("en") {
                fail(pos(&t.referenced), format!("{name}: the title needs `en`"));
            }
        }
        None => fail(at, format!("{name} has no `title` (en, ur, bn)")),
    }
    let starts = match &raw.starts {
        Some(s) => {
            let text = s.value.trim().replace('T', " ");
            let parsed = NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M");
            if parsed.is_err() {
                fail(
                    pos(&s.referenced),
                    format!(
                        "{name}: `{}` is not a local date and time like 2026-11-25 16:00",
                        s.value.trim()
                    ),
                );
            }
            parsed.ok()
        }
        None => {
            fail(at, format!("{name} has no `starts` (2026-11-25 16:00)"));
            None
        }
    };
    let duration = match &raw.duration {
        Some(d) => match parse_duration(&d.value) {
            Some(v) if v > Duration::zero() && v <= MAX_DURATION => Some(v),
            Some(_) => {
                fail(
                    pos(&d.referenced),
                    format!("{name}: a session lasts more than 0 and at most 8 hours"),
                );
                None
            }
            None => {
                fail(
                    pos(&d.referenced),
                    format!(
                        "{name}: `{}` is not a duration like 1h, 45m or 1h30m",
                        d.value.trim()
                    ),
                );
                None
            }
        },
        None => Some(Duration::hours(1)),
    };
    let text = |v: &Option<Spanned<String>>| {
        v.as_ref()
            .map(|s| s.value.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let (link, place) = (text(&raw.link), text(&raw.place));
    let mode = match &raw.mode {
        Some(m) => {
            let word = m.value.trim().to_lowercase().replace([' ', '-'], "_");
            let mode = match word.as_str() {
                "online" => Some(Mode::Online),
                "in_person" => Some(Mode::InPerson),
                "hybrid" => Some(Mode::Hybrid),
                _ => None,
            };
            match mode {
                None => fail(
                    pos(&m.referenced),
                    format!(
                        "{name}: mode `{}` is not online, in_person or hybrid",
                        m.value.trim()
                    ),
                ),
                Some(mode) => {
                    let needs_link = matches!(mode, Mode::Online | Mode::Hybrid);
                    let needs_place = matches!(mode, Mode::InPerson | Mode::Hybrid);
                    let web = |l: &str| l.starts_with("https://") || l.starts_with("http://");
                    match &link {
                        None if needs_link => {
                            fail(pos(&m.referenced), format!("{name}: {word} needs a `link`"));
                        }
                        Some(l) if !web(l) => {
                            let at = raw.link.as_ref().map_or(at, |s| pos(&s.referenced));
                            fail(at, format!("{name}: the link must start with https://"));
                        }
                        _ => {}
                    }
                    if needs_place && place.is_none() {
                        fail(
                            pos(&m.referenced),
                            format!("{name}: {word} needs a `place`"),
                        );
                    }
                }
            }
            mode
        }
        None => {
            fail(
                at,
                format!("{name} has no `mode` (online, in_person or hybrid)"),
            );
            None
        }
    };
    let audience = match &raw.audience {
        Some(a) => match Segment::parse(&[a.value.as_str()]) {
            Ok(segment) => {
                if let Some(d) = dialogues {
                    for module in segment.modules() {
                        if d.module(module).is_none() {
                            fail(
                                pos(&a.referenced),
                                format!("{name}: the audience names unknown module `{module}`"),
                            );
                        }
                    }
                }
                segment
            }
            Err(err) => {
                fail(pos(&a.referenced), format!("{name}: audience: {err}"));
                Segment::everyone()
            }
        },
        None => Segment::everyone(),
    };
    let module = match &raw.module {
        Some(m) => {
            let value = m.value.trim().to_string();
            if let Some(d) = dialogues
                && d.module(&value).is_none()
            {
                fail(
                    pos(&m.referenced),
                    format!(
                        "{name}: unknown module `{value}` (modules: {})",
                        d.module_order.join(", ")
                    ),
                );
            }
            value
        }
        None => {
            fail(
                at,
                format!("{name} has no `module` (the lesson sent afterwards)"),
            );
            String::new()
        }
    };
    let offsets = match &raw.announce {
        Some(list) => offsets(&list.value, pos(&list.referenced), &mut fail),
        None => defaults.to_vec(),
    };
    if !ok {
        return None;
    }
    Some(Session {
        id,
        title,
        starts: starts?,
        duration: duration?,
        mode: mode?,
        link,
        place,
        audience,
        module,
        offsets,
        held: raw.held,
        suppressed_by: None,
        line: at.line,
    })
}

/// Reads a list of offsets, longest first, without repeats.
fn offsets(list: &[Spanned<String>], at: Pos, error: &mut dyn FnMut(Pos, String)) -> Vec<Offset> {
    let mut out = Vec::new();
    for item in list {
        match parse_duration(&item.value) {
            Some(d) if d > Duration::zero() && d <= MAX_OFFSET => out.push(Offset(d)),
            _ => error(
                pos(&item.referenced),
                format!(
                    "announce `{}` is not an offset like 2d, 1h or 30m (more than 0, at most 14 days)",
                    item.value.trim()
                ),
            ),
        }
    }
    if list.is_empty() {
        error(
            at,
            "announce: give at least one offset, such as [2d, 1h]".to_string(),
        );
    }
    out.sort_unstable_by(|a, b| b.cmp(a));
    out.dedup();
    out
}

/// `2d`, `1h30m`, `45m`, `90 min`: `None` when it is not a duration.
#[must_use]
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text: String = text
        .trim()
        .to_lowercase()
        .replace("min", "m")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if text.is_empty() {
        return None;
    }
    let mut total = Duration::zero();
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: i64 = number.parse().ok().filter(|n| *n <= 100_000)?;
        number.clear();
        total += match c {
            'd' => Duration::days(n),
            'h' => Duration::hours(n),
            'm' => Duration::minutes(n),
            _ => return None,
        };
    }
    number.is_empty().then_some(total)
}

fn duration_words(d: Duration) -> String {
    let minutes = d.num_minutes();
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let mut out = String::new();
    for (n, unit) in [(days, 'd'), (hours, 'h'), (minutes, 'm')] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        out.push_str("0m");
    }
    out
}

/// Errors for sessions that overlap in time and may share teachers.
fn overlaps(path: &Path, sessions: &[Session], diagnostics: &mut Vec<Diagnostic>) {
    for (i, a) in sessions.iter().enumerate() {
        for b in &sessions[i + 1..] {
            let (a_end, b_end) = (a.starts + a.duration, b.starts + b.duration);
            if a.starts < b_end && b.starts < a_end && may_share(&a.audience, &b.audience) {
                diagnostics.push(Diagnostic::error(
                    path,
                    Pos::new(b.line, 5),
                    format!(
                        "session `{}` ({} to {}) overlaps session `{}` (line {}) for the same \
                         teachers ({} / {}): move one, or give them audiences that do not meet",
                        b.id,
                        b.starts.format("%Y-%m-%d %H:%M"),
                        b_end.format("%H:%M"),
                        a.id,
                        a.line,
                        b.audience,
                        a.audience
                    ),
                ));
            }
        }
    }
}

/// Whether a teacher could be in both segments: on every dimension both name, they share a
/// value (subjects and progress are taken as possibly shared).
#[must_use]
pub fn may_share(a: &Segment, b: &Segment) -> bool {
    let meet = |x: &[String], y: &[String]| {
        x.is_empty()
            || y.is_empty()
            || x.iter()
                .any(|v| y.iter().any(|w| v.eq_ignore_ascii_case(w)))
    };
    meet(&a.districts, &b.districts)
        && meet(&a.schools, &b.schools)
        && meet(&a.roles, &b.roles)
        && meet(&a.languages, &b.languages)
        && meet(&a.channels, &b.channels)
        && (a.grades.is_empty()
            || b.grades.is_empty()
            || a.grades.iter().any(|g| b.grades.contains(g)))
}

/// A local wall-clock time as an instant (the earlier of two; just after a DST gap).
fn local_instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => at.with_timezone(&Utc),
        LocalResult::None => tz
            .from_local_datetime(&(local + Duration::hours(1)))
            .earliest()
            .map_or_else(|| local.and_utc(), |at| at.with_timezone(&Utc)),
    }
}

// ---------------------------------------------------------------------------------------------
// In the conversation

/// Whether an announcement is before the session or its follow-up after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Moment {
    /// Before: the session, and the RSVP buttons.
    Before,
    /// After: the linked lesson, and a button that starts it.
    After,
}

/// A session's announcement (or follow-up) for one teacher's conversation; everything it says
/// travels with it, so a session edited meanwhile does not change what was queued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    /// The occasion (`announce:{id}@{start}:2d`, `followup:{id}@{start}`), the tag of its
    /// outbox rows.
    pub occasion: String,
    /// Before or after the session.
    pub moment: Moment,
    /// The session's id.
    pub session: String,
    /// Its title per language.
    pub title: BTreeMap<String, String>,
    /// When it starts.
    pub starts_at: DateTime<Utc>,
    /// How long it lasts, in minutes.
    pub minutes: i64,
    /// How it is held.
    pub mode: Mode,
    /// Its link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Its place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// The lesson module linked to it.
    pub module: String,
}

impl Announcement {
    /// The announcement (or follow-up) of `session` for `occasion`.
    #[must_use]
    pub fn of(session: &Session, moment: Moment, occasion: String, tz: Tz) -> Announcement {
        Announcement {
            occasion,
            moment,
            session: session.id.clone(),
            title: session.title.clone(),
            starts_at: session.starts_at(tz),
            minutes: session.duration.num_minutes(),
            mode: session.mode,
            link: session.link.clone(),
            place: session.place.clone(),
            module: session.module.clone(),
        }
    }
}

/// Says an announcement or a follow-up (nothing to a teacher who said STOP), then shows again
/// the lesson or quiz step the teacher was on.
pub(crate) fn announce(h: &mut Helpdesk<'_>, a: &Announcement) {
    if !super::wants_messages(&h.s) {
        return;
    }
    let lang = h.s.dialogue.lang;
    let title = super::pick(&a.title, lang);
    let footer = h.text("cpd_notice_footer");
    match a.moment {
        Moment::Before => {
            let when = helpdesk::notice::when(a.starts_at, h.cx.config.timezone, lang, h.now);
            let place = a.place.clone().unwrap_or_default();
            let link = a.link.clone().unwrap_or_default();
            let key = match a.mode {
                Mode::Online => "calendar_online",
                Mode::InPerson => "calendar_in_person",
                Mode::Hybrid => "calendar_hybrid",
            };
            let at = h
                .text(key)
                .replace("{place}", &place)
                .replace("{link}", &link);
            let body = h
                .text("calendar_announce")
                .replace("{title}", &title)
                .replace("{when}", &when)
                .replace("{length}", &length(a.minutes, lang))
                .replace("{where}", &at);
            let buttons = vec![
                super::button(
                    &format!("{RSVP}{}:yes", a.session),
                    h.text("calendar_attend"),
                    None,
                ),
                super::button(
                    &format!("{RSVP}{}:no", a.session),
                    h.text("calendar_decline"),
                    None,
                ),
            ];
            h.say(format!("{body}\n\n{footer}"), buttons);
        }
        Moment::After => {
            let module = module_title(h, &a.module);
            let body = h
                .text("calendar_followup")
                .replace("{title}", &title)
                .replace("{module}", &module);
            let start = super::button(
                &format!("{LESSON}{}", a.module),
                h.text("calendar_start_lesson"),
                None,
            );
            h.say(format!("{body}\n\n{footer}"), vec![start]);
        }
    }
    h.reshow();
}

fn module_title(h: &Helpdesk<'_>, module: &str) -> String {
    h.cx.dialogues.module(module).map_or_else(
        || module.to_string(),
        |m| m.title.get(h.s.dialogue.lang).to_string(),
    )
}

/// A session's length in words: `1 hour`, `45 minutes`, `1 h 30 min`.
fn length(minutes: i64, lang: Lang) -> String {
    let (h, m) = (minutes / 60, minutes % 60);
    let text = match (lang, h, m) {
        (Lang::En, 1, 0) => "1 hour".to_string(),
        (Lang::En, h, 0) => format!("{h} hours"),
        (Lang::En, 0, m) => format!("{m} minutes"),
        (Lang::En, h, m) => format!("{h} h {m} min"),
        (Lang::Ur, 1, 0) => "1 گھنٹہ".to_string(),
        (Lang::Ur, h, 0) => format!("{h} گھنٹے"),
        (Lang::Ur, 0, m) => format!("{m} منٹ"),
        (Lang::Ur, h, m) => format!("{h} گھنٹے {m} منٹ"),
        (Lang::Bn, h, 0) => format!("{h} ঘণ্টা"),
        (Lang::Bn, 0, m) => format!("{m} মিনিট"),
        (Lang::Bn, h, m) => format!("{h} ঘণ্টা {m} মিনিট"),
    };
    if lang == Lang::Bn {
        text.chars()
            .map(|c| match c.to_digit(10) {
                Some(d) => char::from_u32(0x09E6 + d).unwrap_or(c),
                None => c,
            })
            .collect()
    } else {
        text
    }
}

/// The calendar's buttons: an RSVP (recorded, confirmed) or the follow-up's lesson (started).
/// `button` is the id after [`super::BUTTON_PREFIX`]; `false` when it is not one of ours.
pub(crate) fn handle(h: &mut Helpdesk<'_>, button: &str) -> bool {
    if let Some(rest) = button.strip_prefix(RSVP) {
        let Some((session, answer)) = rest.rsplit_once(':') else {
            h.reshow();
            return true;
        };
        let attend = answer == "yes";
        let Some(found) = h.cx.programme.calendar.get(session).cloned() else {
            let gone = h.text("calendar_gone");
            h.say(gone, Vec::new());
            h.reshow();
            return true;
        };
        h.effects
            .push(helpdesk::Effect::Programme(super::Effect::Rsvp {
                session: session.to_string(),
                attend,
            }));
        let lang = h.s.dialogue.lang;
        let reply = if attend {
            h.text("calendar_rsvp_yes")
                .replace("{title}", &found.title_in(lang))
        } else {
            let module = module_title(h, &found.module);
            h.text("calendar_rsvp_no").replace("{module}", &module)
        };
        h.say(reply, Vec::new());
        h.reshow();
        return true;
    }
    if let Some(module) = button.strip_prefix(LESSON) {
        if h.cx.dialogues.module(module).is_none() {
            h.reshow();
            return true;
        }
        let step = dialogue::engine::start_tree(h.cx.dialogues, &h.s.dialogue, module, h.now);
        h.s.dialogue = step.state;
        h.effects
            .extend(step.effects.into_iter().map(helpdesk::Effect::Dialogue));
        return true;
    }
    false
}

/// Whether `input` is a tap on one of the calendar's buttons (for tests and callers that
/// route by id).
#[must_use]
pub fn is_calendar_button(input: &Input) -> bool {
    matches!(input, Input::Choice(id)
        if id.strip_prefix(super::BUTTON_PREFIX)
            .is_some_and(|b| b.starts_with(RSVP) || b.starts_with(LESSON)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(source: &str) -> (Calendar, Vec<Diagnostic>) {
        let mut diagnostics = Vec::new();
        let dialogues = Dialogues {
            module_order: vec!["demo".into()],
            ..Dialogues::default()
        };
        let calendar = parse(
            Path::new("programme/calendar.yaml"),
            source,
            Some(&with_demo(dialogues)),
            &mut diagnostics,
        );
        (calendar, diagnostics)
    }

    fn with_demo(mut d: Dialogues) -> Dialogues {
        d.trees.insert(
            "demo".into(),
            crate::dialogue::tree::Tree {
                id: "demo".into(),
                start: "lesson".into(),
                module: Some(crate::dialogue::Module {
                    id: "demo".into(),
                    title: crate::dialogue::Text::en("Demo module"),
                    topic: "t".into(),
                    pass_mark: 50,
                    parts: 1,
                }),
                nodes: HashMap::new(),
            },
        );
        d
    }

    fn errors(diagnostics: &[Diagnostic]) -> Vec<String> {
        diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(ToString::to_string)
            .collect()
    }

    const GOOD: &str = "\
announce: [2d, 1h]
breaks:
  - { name: Winter break, kind: holiday, from: 2026-12-21, to: 2027-01-03 }
sessions:
  - id: one
    title: { en: One, ur: ایک }
    starts: 2026-11-25 16:00
    duration: 1h
    mode: online
    link: https://meet.example.org/one
    audience: grade=3-5
    module: demo
  - id: two
    title: { en: Two }
    starts: 2026-11-25 16:30
    duration: 45m
    mode: hybrid
    link: https://meet.example.org/two
    place: GGHS Kasur
    audience: grade=8
    module: demo
    announce: [1d]
  - id: three
    title: { en: Three }
    starts: 2026-12-23 16:00
    mode: in_person
    place: Lahore
    module: demo
";

    #[test]
    fn a_good_calendar_parses_with_defaults_and_suppressions() {
        let (calendar, diagnostics) = parse_str(GOOD);
        assert!(errors(&diagnostics).is_empty(), "{diagnostics:?}");
        assert_eq!(calendar.sessions.len(), 3);
        let one = calendar.get("one").unwrap();
        assert_eq!(one.offsets, default_offsets());
        assert_eq!(one.duration, Duration::hours(1));
        assert_eq!(
            calendar.get("two").unwrap().offsets,
            [Offset(Duration::days(1))]
        );
        let three = calendar.get("three").unwrap();
        assert_eq!(three.suppressed_by.as_deref(), Some("Winter break"));
        let warning = diagnostics
            .iter()
            .find(|d| !d.is_error())
            .unwrap()
            .to_string();
        assert!(
            warning.contains("programme/calendar.yaml:23:5"),
            "{warning}"
        );
        assert!(warning.contains("“Winter break”"), "{warning}");
        assert_eq!(
            one.announce_occasion(Offset(Duration::days(2))),
            "announce:one@20261125T1600:2d"
        );
    }

    #[test]
    fn overlapping_sessions_for_the_same_teachers_are_errors() {
        let source = GOOD.replace("audience: grade=8", "audience: grade=4-8");
        let (_, diagnostics) = parse_str(&source);
        let errors = errors(&diagnostics);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("programme/calendar.yaml:13:5: error"),
            "{}",
            errors[0]
        );
        assert!(errors[0].contains("session `two`"), "{}", errors[0]);
        assert!(
            errors[0].contains("overlaps session `one` (line 5)"),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn past_sessions_are_errors_unless_held() {
        let (calendar, _) = parse_str(GOOD);
        let tz = chrono_tz::Asia::Karachi;
        let now = tz
            .with_ymd_and_hms(2026, 11, 26, 9, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let path = Path::new("programme/calendar.yaml");
        let past: Vec<String> = calendar
            .past(path, now, tz)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(past.len(), 2, "{past:?}");
        assert!(
            past[0].starts_with("programme/calendar.yaml:5:5: error"),
            "{}",
            past[0]
        );
        assert!(
            past[0].contains("`one` starts in the past (2026-11-25 16:00)"),
            "{}",
            past[0]
        );
        let held = GOOD.replace(
            "    module: demo\n  - id: two",
            "    module: demo\n    held: true\n  - id: two",
        );
        let (calendar, _) = parse_str(&held);
        assert_eq!(calendar.past(path, now, tz).len(), 1);
    }

    #[test]
    fn unknown_segments_modules_and_bad_durations_are_located() {
        let source = GOOD
            .replace("audience: grade=3-5", "audience: colour=blue")
            .replace("module: demo\n  - id: two", "module: nope\n  - id: two")
            .replace("duration: 45m", "duration: soon")
            .replace("announce: [1d]", "announce: [1d, 20d]");
        let (calendar, diagnostics) = parse_str(&source);
        let errors = errors(&diagnostics);
        assert!(calendar.get("one").is_none() && calendar.get("two").is_none());
        let find = |needle: &str| {
            errors
                .iter()
                .find(|e| e.contains(needle))
                .unwrap_or_else(|| panic!("no `{needle}` in {errors:?}"))
                .clone()
        };
        assert!(find("unknown segment key `colour`").starts_with("programme/calendar.yaml:11:15:"));
        assert!(
            find("unknown module `nope` (modules: demo)")
                .starts_with("programme/calendar.yaml:12:13:")
        );
        assert!(find("`soon` is not a duration").starts_with("programme/calendar.yaml:16:15:"));
        assert!(find("announce `20d`").starts_with("programme/calendar.yaml:22:20:"));
    }

    #[test]
    fn missing_links_places_and_bad_times_are_errors() {
        let source = GOOD
            .replace("    link: https://meet.example.org/one\n", "")
            .replace("starts: 2026-12-23 16:00", "starts: 23/12/2026")
            .replace("place: GGHS Kasur", "place: \"\"");
        let (_, diagnostics) = parse_str(&source);
        let errors = errors(&diagnostics).join("\n");
        assert!(
            errors.contains("session `one`: online needs a `link`"),
            "{errors}"
        );
        assert!(
            errors.contains("session `two`: hybrid needs a `place`"),
            "{errors}"
        );
        assert!(
            errors.contains("`23/12/2026` is not a local date and time"),
            "{errors}"
        );
    }

    #[test]
    fn plans_announcements_late_ones_once_and_the_follow_up() {
        let (calendar, _) = parse_str(GOOD);
        let tz = chrono_tz::Asia::Karachi;
        let at = |d, h| {
            tz.with_ymd_and_hms(2026, 11, d, h, 0, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        let keys = |now| {
            calendar
                .plan(now, tz)
                .into_iter()
                .filter(|p| p.session == "one")
                .map(|p| (p.key, p.due_at))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(at(23, 10)),
            [
                ("announce:one@20261125T1600:2d".to_string(), at(23, 16)),
                ("announce:one@20261125T1600:1h".to_string(), at(25, 15)),
                ("followup:one@20261125T1600".to_string(), at(25, 17)),
            ]
        );
        // Added a day before: the 2-day announcement at once.
        assert_eq!(
            keys(at(24, 16))[0],
            ("announce:one@20261125T1600:2d".to_string(), at(24, 16))
        );
        // Half an hour before: only the last one, at once.
        let late = tz
            .with_ymd_and_hms(2026, 11, 25, 15, 30, 0)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            keys(late)[0],
            ("announce:one@20261125T1600:1h".to_string(), late)
        );
        assert_eq!(keys(late).len(), 2);
        assert!(
            calendar
                .plan(at(23, 10), tz)
                .iter()
                .all(|p| p.session != "three")
        );
    }

    #[test]
    fn durations_and_segments_meet_as_expected() {
        assert_eq!(parse_duration("1h30m"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("90 min"), Some(Duration::minutes(90)));
        assert_eq!(parse_duration("2d"), Some(Duration::days(2)));
        assert_eq!(parse_duration("2x"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(Offset(Duration::minutes(90)).to_string(), "1h30m");
        let s = |t: &str| Segment::parse(&[t]).unwrap();
        assert!(may_share(&s("grade=3-5"), &s("district=Kasur")));
        assert!(!may_share(&s("grade=3-5"), &s("grade=8")));
        assert!(!may_share(&s("district=Kasur"), &s("district=Lahore")));
        assert!(may_share(&s("district=kasur"), &s("district=Kasur,Lahore")));
    }
}
