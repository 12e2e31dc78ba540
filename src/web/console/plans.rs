//! CPD planning: a recurring issue marked planned, linked to a CPD session, and the teachers who asked told about it.
//!
//! - `GET /console/plans`: the sessions, and the plans with where their notices stand (told,
//!   on their way, waiting for the WhatsApp window or for an unreachable teacher, skipped
//!   because the teacher turned notices off, failed).
//! - `GET /console/plans/new?issue=Q123&…`: the issue (from the recurring-issues report of the
//!   same period and filters) and the form: an upcoming session, or a new one (title, date and
//!   time in the programme's time zone, mode, place or link).
//! - `POST /console/plans`: checks the form, marks the issue planned and queues the notices
//!   ([`crate::conversation::Conversations::plan_cpd`]); the form's nonce makes a second post
//!   of the same form land on the plan it made.
//! - `GET /console/plans/{id}`: one plan, teacher by teacher.
//!
//! Staff and admins only ([`Area::Plans`]). Titles and places are shown escaped, and a place
//! becomes a link only when it is an `http(s)` URL.

use std::collections::BTreeMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use super::insights::{self, Filters};
use super::{Console, ConsoleError, MessagePage, Posted, Staff, render};
use crate::helpdesk::notice::Mode;
use crate::insights::issues::Issue;
use crate::reports;
use crate::staff::Area;
use crate::store::{
    CpdSession, NewPlan, NewSession, NoticeState, Plan, PlanTeacher, SessionChoice, StoreError,
};
use crate::web::AppState;

/// Plans the list shows.
const PLANS_SHOWN: i64 = 100;
/// Sessions the list shows, and the form offers.
const SESSIONS_SHOWN: i64 = 50;
/// The longest title kept.
const TITLE_CHARS: usize = 120;
/// The longest place or link kept.
const PLACE_CHARS: usize = 300;

/// This part's routes, merged into the console's.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/plans", get(list).post(create))
        .route("/console/plans/new", get(new))
        .route("/console/plans/{id}", get(plan))
}

/// How many teachers' notices stand where.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    teachers: usize,
    told: usize,
    on_the_way: usize,
    window: usize,
    unreachable: usize,
    skipped: usize,
    failed: usize,
}

impl Tally {
    fn of<'a>(teachers: impl IntoIterator<Item = &'a PlanTeacher>) -> Tally {
        let mut tally = Tally::default();
        for t in teachers {
            tally.teachers += 1;
            match t.state {
                NoticeState::Told => tally.told += 1,
                NoticeState::OnTheWay => tally.on_the_way += 1,
                NoticeState::WaitingWindow => tally.window += 1,
                NoticeState::WaitingUnreachable => tally.unreachable += 1,
                NoticeState::Skipped => tally.skipped += 1,
                NoticeState::Failed => tally.failed += 1,
            }
        }
        tally
    }
}

/// A session as the pages show it.
struct SessionView {
    title: String,
    when: String,
    mode: &'static str,
    place: String,
    /// The place as a link, when it is an `http(s)` URL.
    link: Option<String>,
    plans: i64,
}

fn session_view(session: &CpdSession, tz: Tz, plans: i64) -> SessionView {
    SessionView {
        title: session.title.clone(),
        when: local_time(session.starts_at, tz),
        mode: Mode::parse(&session.mode).map_or("?", Mode::label),
        place: session.place_or_link.clone(),
        link: web_link(&session.place_or_link),
        plans,
    }
}

/// A plan as the list shows it.
struct PlanLine {
    plan: Plan,
    session: SessionView,
    tally: Tally,
}

/// `/console/plans`.
#[derive(Template)]
#[template(path = "console/plans.html")]
struct ListPage {
    staff: Staff,
    sessions: Vec<SessionView>,
    plans: Vec<PlanLine>,
    zone: String,
}

/// `GET /console/plans`.
///
/// # Errors
///
/// Sign-in, role, store.
pub async fn list(state: Console, staff: Staff) -> Result<Response, ConsoleError> {
    staff.require(Area::Plans)?;
    let store = state.conversations.store();
    let tz = state.conversations.content().get().helpdesk.timezone;
    let mut teachers: BTreeMap<i64, Vec<PlanTeacher>> = BTreeMap::new();
    for t in store.plan_teachers(0, PLANS_SHOWN).await? {
        teachers.entry(t.plan_id).or_default().push(t);
    }
    let plans = store
        .plans(PLANS_SHOWN)
        .await?
        .into_iter()
        .map(|plan| PlanLine {
            session: session_view(&plan.session, tz, 0),
            tally: Tally::of(teachers.get(&plan.id).into_iter().flatten()),
            plan,
        })
        .collect();
    let sessions = store
        .cpd_sessions(SESSIONS_SHOWN)
        .await?
        .iter()
        .map(|(s, plans)| session_view(s, tz, *plans))
        .collect();
    Ok(render(&ListPage {
        staff,
        sessions,
        plans,
        zone: tz.name().to_string(),
    }))
}

/// A teacher of a plan as its page shows them.
struct TeacherLine {
    name: String,
    channel: String,
    language: String,
    state: &'static str,
}

fn state_label(state: NoticeState) -> &'static str {
    match state {
        NoticeState::Told => "told",
        NoticeState::OnTheWay => "on its way",
        NoticeState::WaitingWindow => "waiting for the WhatsApp window",
        NoticeState::WaitingUnreachable => "waiting: the teacher cannot be reached",
        NoticeState::Skipped => "skipped: notices turned off",
        NoticeState::Failed => "failed",
    }
}

/// `/console/plans/{id}`.
#[derive(Template)]
#[template(path = "console/plans_plan.html")]
struct PlanPage {
    staff: Staff,
    plan: Plan,
    session: SessionView,
    period: String,
    filters: String,
    insights: String,
    created: String,
    tally: Tally,
    teachers: Vec<TeacherLine>,
}

/// `GET /console/plans/{id}`.
///
/// # Errors
///
/// Sign-in, role, no such plan, store.
pub async fn plan(
    state: Console,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    staff.require(Area::Plans)?;
    let id: i64 = id.parse().map_err(|_| ConsoleError::NotFound)?;
    let store = state.conversations.store();
    let tz = state.conversations.content().get().helpdesk.timezone;
    let plan = store.plan(id).await?;
    let teachers = store.plan_teachers(id, 1).await?;
    let filters: Filters = serde_urlencoded::from_str(&plan.filters).unwrap_or_default();
    let described = describe(&plan.filters);
    let page = PlanPage {
        session: session_view(&plan.session, tz, 0),
        period: format!(
            "{} – {}",
            plan.since.format("%Y-%m-%d"),
            (plan.until - Duration::days(1)).format("%Y-%m-%d")
        ),
        filters: if described.is_empty() {
            "none".to_string()
        } else {
            described
        },
        insights: format!("/console/insights?{}", filters.query()),
        created: local_time(plan.created_at, tz),
        tally: Tally::of(&teachers),
        teachers: teachers
            .iter()
            .map(|t| TeacherLine {
                name: t.name.clone().unwrap_or_else(|| "—".to_string()),
                channel: t.channel.clone(),
                language: t.language.clone(),
                state: state_label(t.state),
            })
            .collect(),
        plan,
        staff,
    };
    Ok(render(&page))
}

/// The issue the new-plan page is about: `?issue=Q123` (with the report's filters).
#[derive(Debug, Default, Deserialize)]
pub struct IssueQuery {
    #[serde(default)]
    issue: String,
}

/// The new-plan form, as posted.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PlanForm {
    /// Random per rendered form: the same form posted twice makes one plan.
    #[serde(default)]
    nonce: String,
    /// `Q123`.
    #[serde(default)]
    issue: String,
    /// The report's filters, as a query string.
    #[serde(default)]
    filters: String,
    /// `new`, or an existing session's id.
    #[serde(default)]
    session: String,
    #[serde(default)]
    title: String,
    /// `YYYY-MM-DD`, in the programme's time zone.
    #[serde(default)]
    date: String,
    /// `HH:MM`, in the programme's time zone.
    #[serde(default)]
    time: String,
    /// `in_person`, `online` or `cpd_hour`.
    #[serde(default)]
    mode: String,
    /// A place, or a link.
    #[serde(default)]
    place: String,
}

/// One option of a drop-down.
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

/// A sample question as the form shows it.
struct SampleView {
    text: String,
    lang: &'static str,
}

/// `/console/plans/new`, and the same form again with what was wrong.
#[derive(Template)]
#[template(path = "console/plans_new.html")]
struct NewPage {
    staff: Staff,
    issue: Issue,
    label: String,
    samples: Vec<SampleView>,
    form: PlanForm,
    sessions: Vec<Choice>,
    modes: Vec<Choice>,
    zone: String,
    today: String,
    error: Option<String>,
}

/// The issue of a report, found again from the page's filters.
struct Found {
    issue: Issue,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
}

/// The report for `filters`, and the issue `key` in it, if it is still there.
async fn find_issue(
    state: &AppState,
    filters: &Filters,
    key: &str,
) -> Result<Option<Found>, ConsoleError> {
    let now = state.conversations.clock().now();
    let (since, until) = insights::period(filters, now).map_err(ConsoleError::BadRequest)?;
    let filter = insights::report_filter(filters, since, until);
    let content = state.conversations.content().get();
    let report = reports::issues_report(state.conversations.store(), content, &filter, now).await?;
    Ok(report.issue(key.trim()).cloned().map(|issue| Found {
        issue,
        since,
        until,
    }))
}

/// The page saying the issue is not in the report any more.
fn gone(key: &str, filters: &Filters) -> Response {
    let page = MessagePage {
        title: "Issue not found".to_string(),
        text: format!(
            "The issue {key} is no longer among the recurring issues of this period and these \
             filters (new questions may have grouped them differently). Open the recurring \
             issues again and choose it there. Nothing was planned."
        ),
        link: (
            format!("/console/insights?{}", filters.query()),
            "Back to the recurring issues".to_string(),
        ),
    };
    (StatusCode::NOT_FOUND, render(&page)).into_response()
}

/// `GET /console/plans/new`.
///
/// # Errors
///
/// Sign-in, role, dates, store.
pub async fn new(
    state: Console,
    staff: Staff,
    Query(filters): Query<Filters>,
    Query(query): Query<IssueQuery>,
) -> Result<Response, ConsoleError> {
    staff.require(Area::Plans)?;
    let Some(found) = find_issue(&state, &filters, &query.issue).await? else {
        return Ok(gone(&query.issue, &filters));
    };
    let form = PlanForm {
        nonce: hex::encode(rand::random::<[u8; 16]>()),
        issue: found.issue.key.clone(),
        filters: filters.query(),
        session: "new".to_string(),
        mode: Mode::CpdHour.code().to_string(),
        ..PlanForm::default()
    };
    new_page(&state, staff, found.issue, form, None).await
}

async fn new_page(
    state: &AppState,
    staff: Staff,
    issue: Issue,
    form: PlanForm,
    error: Option<String>,
) -> Result<Response, ConsoleError> {
    let now = state.conversations.clock().now();
    let tz = state.conversations.content().get().helpdesk.timezone;
    let upcoming = state
        .conversations
        .store()
        .upcoming_cpd_sessions(now, SESSIONS_SHOWN)
        .await?;
    let mut sessions = vec![Choice {
        value: "new".to_string(),
        label: "A new session (below)".to_string(),
        selected: form.session == "new" || form.session.is_empty(),
    }];
    sessions.extend(upcoming.iter().map(|s| {
        let view = session_view(s, tz, 0);
        Choice {
            value: s.id.to_string(),
            label: format!("{} · {} · {}", view.title, view.when, view.mode),
            selected: form.session == s.id.to_string(),
        }
    }));
    let modes = Mode::ALL
        .iter()
        .map(|m| Choice {
            value: m.code().to_string(),
            label: m.label().to_string(),
            selected: form.mode == m.code(),
        })
        .collect();
    let samples = issue
        .samples
        .iter()
        .map(|s| SampleView {
            text: s.text.clone(),
            lang: match s.written.code() {
                "roman_ur" => "ur-Latn",
                other => other,
            },
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = NewPage {
        label: issue.label(),
        samples,
        issue,
        form,
        sessions,
        modes,
        zone: tz.name().to_string(),
        today: now.with_timezone(&tz).format("%Y-%m-%d").to_string(),
        error,
        staff,
    };
    Ok((status, render(&page)).into_response())
}

/// `POST /console/plans`: marks the issue planned and queues the notices, then shows the plan.
///
/// # Errors
///
/// Sign-in, role, form token, dates, store.
pub async fn create(state: Console, posted: Posted<PlanForm>) -> Result<Response, ConsoleError> {
    let Posted { staff, form } = posted;
    staff.require(Area::Plans)?;
    let store = state.conversations.store();
    let nonce = form.nonce.trim();
    if !(16..=64).contains(&nonce.len()) || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ConsoleError::BadRequest(
            "The form is incomplete; open the page again.".into(),
        ));
    }
    // The same form posted again (a double click, a reload): the plan it made.
    if let Some(id) = store.plan_with_nonce(nonce).await? {
        return Ok(Redirect::to(&format!("/console/plans/{id}")).into_response());
    }
    let filters: Filters = serde_urlencoded::from_str(&form.filters).map_err(|_| {
        ConsoleError::BadRequest("The form is incomplete; open the page again.".into())
    })?;
    let Some(found) = find_issue(&state, &filters, &form.issue).await? else {
        return Ok(gone(&form.issue, &filters));
    };
    let now = state.conversations.clock().now();
    let tz = state.conversations.content().get().helpdesk.timezone;
    let session = match session_choice(&form, tz, now) {
        Ok(session) => session,
        Err(why) => return new_page(&state, staff, found.issue, form, Some(why)).await,
    };
    if let SessionChoice::Existing(id) = &session {
        let upcoming = store.upcoming_cpd_sessions(now, SESSIONS_SHOWN).await?;
        if !upcoming.iter().any(|s| s.id == *id) {
            let why = "That session has passed or no longer exists: choose another, or a new one.";
            return new_page(&state, staff, found.issue, form, Some(why.into())).await;
        }
    }
    let plan = NewPlan {
        nonce: nonce.to_string(),
        issue_key: found.issue.key.clone(),
        label: found.issue.label(),
        topic: found.issue.topic.clone(),
        since: found.since,
        until: found.until,
        filters: filters.query(),
        session,
        created_by: staff.user.id,
        now,
        questions: Vec::new(),
    };
    let created = match state
        .conversations
        .plan_cpd(plan, &found.issue.question_ids)
        .await
    {
        Ok(created) => created,
        Err(StoreError::NotFound) => {
            let why = "That session no longer exists: choose another, or a new one.";
            return new_page(&state, staff, found.issue, form, Some(why.into())).await;
        }
        Err(err) => return Err(err.into()),
    };
    tracing::info!(
        by = staff.user.id,
        plan.id = created.id,
        new = created.new,
        "cpd plan posted"
    );
    Ok(Redirect::to(&format!("/console/plans/{}", created.id)).into_response())
}

/// The session the form asks for, checked: an existing one by id, or a new one with a title,
/// a date and time to come (in the programme's time zone `tz`), a mode, and a place, or for
/// an online session an `http(s)` link.
///
/// # Errors
///
/// What is wrong, in a sentence for the form.
fn session_choice(form: &PlanForm, tz: Tz, now: DateTime<Utc>) -> Result<SessionChoice, String> {
    let chosen = form.session.trim();
    if !chosen.is_empty() && chosen != "new" {
        return chosen
            .parse::<i64>()
            .map(SessionChoice::Existing)
            .map_err(|_| "Choose a session from the list, or a new one.".to_string());
    }
    let title = form.title.trim();
    if title.is_empty() {
        return Err("Give the session a title.".into());
    }
    if title.chars().count() > TITLE_CHARS {
        return Err(format!("Keep the title under {TITLE_CHARS} characters."));
    }
    let date = NaiveDate::parse_from_str(form.date.trim(), "%Y-%m-%d")
        .map_err(|_| format!("“{}” is not a date (YYYY-MM-DD).", form.date.trim()))?;
    let time = NaiveTime::parse_from_str(form.time.trim(), "%H:%M")
        .map_err(|_| format!("“{}” is not a time (HH:MM, 24-hour).", form.time.trim()))?;
    let starts_at = tz
        .from_local_datetime(&date.and_time(time))
        .earliest()
        .ok_or_else(|| format!("{date} {time} does not exist in {}.", tz.name()))?
        .with_timezone(&Utc);
    if starts_at <= now {
        return Err(format!(
            "{date} at {} has passed ({} time): choose a date and time to come.",
            time.format("%H:%M"),
            tz.name()
        ));
    }
    let mode = Mode::parse(form.mode.trim()).ok_or("Choose how the session is held.")?;
    let place = form.place.trim();
    if place.is_empty() {
        return Err(match mode {
            Mode::Online => "Give the link teachers join the session with.".into(),
            _ => "Say where the session is held (a place or a link).".into(),
        });
    }
    if place.chars().count() > PLACE_CHARS {
        return Err(format!(
            "Keep the place or link under {PLACE_CHARS} characters."
        ));
    }
    if mode == Mode::Online && web_link(place).is_none() {
        return Err(
            "An online session needs a link that starts with https:// (or http://).".into(),
        );
    }
    if looks_like_other_link(place) {
        return Err(
            "Only links that start with https:// or http:// can be sent to teachers.".into(),
        );
    }
    Ok(SessionChoice::New(NewSession {
        title: title.to_string(),
        starts_at,
        mode: mode.code().to_string(),
        place_or_link: place.to_string(),
    }))
}

/// `text` as a link, when it is one `http(s)` URL with a host.
fn web_link(text: &str) -> Option<String> {
    let text = text.trim();
    if text.chars().any(char::is_whitespace) {
        return None;
    }
    let url = reqwest::Url::parse(text).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty()))
        .then(|| url.to_string())
}

/// Whether `text` starts like a link of another kind (`javascript:`, `data:`, `file://`…),
/// which teachers must never be sent. A place such as "Hall: 2nd floor" is fine.
fn looks_like_other_link(text: &str) -> bool {
    // Browsers ignore tabs and line breaks inside a scheme; so do we.
    let squeezed: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace() || *c == ' ')
        .collect::<String>()
        .to_ascii_lowercase();
    let Some((scheme, rest)) = squeezed.split_once(':') else {
        return false;
    };
    let scheme_like = !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let dangerous = matches!(scheme, "javascript" | "data" | "vbscript" | "file" | "blob");
    scheme_like && !matches!(scheme, "http" | "https") && (dangerous || rest.starts_with("//"))
}

/// A time in the programme's zone, as staff read it: `Thu 26 Nov 2026, 16:00`.
fn local_time(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz)
        .format("%a %d %b %Y, %H:%M")
        .to_string()
}

/// The report's filters in words (`district Lahore, grade 3`), the empty ones left out.
fn describe(query: &str) -> String {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, v)| !v.trim().is_empty() && k != "since" && k != "until")
        .map(|(k, v)| format!("{k} {}", v.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn form(date: &str, time: &str, mode: &str, place: &str) -> PlanForm {
        PlanForm {
            session: "new".into(),
            title: "Quiet signals".into(),
            date: date.into(),
            time: time.into(),
            mode: mode.into(),
            place: place.into(),
            ..PlanForm::default()
        }
    }

    /// Monday 23 November 2026, 10:00 in Karachi.
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 5, 0, 0).unwrap()
    }

    #[test]
    fn a_new_session_is_read_in_the_programmes_zone() {
        let karachi = chrono_tz::Asia::Karachi;
        let ok = session_choice(
            &form("2026-11-26", "16:00", "cpd_hour", "Staff room"),
            karachi,
            now(),
        );
        let Ok(SessionChoice::New(session)) = ok else {
            panic!("{ok:?}");
        };
        assert_eq!(
            session.starts_at,
            Utc.with_ymd_and_hms(2026, 11, 26, 11, 0, 0).unwrap()
        );
        assert_eq!(session.mode, "cpd_hour");
    }

    #[test]
    fn bad_dates_past_times_and_other_links_are_refused_with_a_reason() {
        let karachi = chrono_tz::Asia::Karachi;
        let cases = [
            (
                form("2026-02-30", "16:00", "cpd_hour", "Hall"),
                "is not a date",
            ),
            (
                form("next thursday", "16:00", "cpd_hour", "Hall"),
                "is not a date",
            ),
            (
                form("2026-11-26", "4pm", "cpd_hour", "Hall"),
                "is not a time",
            ),
            (
                form("2026-11-23", "09:59", "cpd_hour", "Hall"),
                "has passed",
            ),
            (
                form("2026-11-26", "16:00", "online", "javascript:alert(1)"),
                "https://",
            ),
            (
                form("2026-11-26", "16:00", "online", "meet.example.org/x"),
                "https://",
            ),
            (
                form("2026-11-26", "16:00", "cpd_hour", "java\tscript:alert(1)"),
                "https://",
            ),
            (
                form("2026-11-26", "16:00", "in_person", "data:text/html,x"),
                "https://",
            ),
            (form("2026-11-26", "16:00", "in_person", ""), "where"),
            (
                form("2026-11-26", "16:00", "by pigeon", "Hall"),
                "how the session is held",
            ),
        ];
        for (form, expected) in cases {
            let why = session_choice(&form, karachi, now()).expect_err("refused");
            assert!(why.contains(expected), "{form:?}: {why}");
        }
        let untitled = PlanForm {
            title: "  ".into(),
            ..form("2026-11-26", "16:00", "cpd_hour", "Hall")
        };
        assert!(session_choice(&untitled, karachi, now()).is_err());
        for place in ["Hall: 2nd floor", "https://meet.example.org/cpd?x=1"] {
            let fine = form("2026-11-26", "16:00", "cpd_hour", place);
            assert!(session_choice(&fine, karachi, now()).is_ok(), "{place}");
        }
    }

    #[test]
    fn only_web_links_become_links() {
        assert!(web_link("https://meet.example.org/x").is_some());
        assert!(web_link("javascript:alert(1)").is_none());
        assert!(web_link("https://").is_none());
        assert!(web_link("Staff room").is_none());
    }
}
