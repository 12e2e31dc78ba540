//! The CPD-hour calendar for staff (`GET /console/calendar`, read-only): every session of the
//! current content's `programme/calendar.yaml`, upcoming, held (over) or suppressed by a break,
//! with the size of its audience now, how many teachers each announcement and the follow-up
//! reached (their tagged outbox rows), and the RSVPs so far. Staff and admins
//! ([`Area::Calendar`]). Titles, places and links are shown escaped; a link is a link only when
//! it is an `http(s)` URL (the calendar's check insists on it).

use askama::Template;
use axum::Router;
use axum::response::Response;
use axum::routing::get;

use super::{Console, ConsoleError, Staff, render};
use crate::programme::calendar::Session;
use crate::staff::Area;
use crate::web::AppState;

/// This part's routes, merged into the console's.
pub fn routes() -> Router<AppState> {
    Router::new().route("/console/calendar", get(page))
}

/// One announcement's reach.
struct Reach {
    label: String,
    teachers: i64,
}

/// A session as the page shows it.
struct Line {
    id: String,
    title: String,
    when: String,
    length: String,
    mode: &'static str,
    place: String,
    link: String,
    audience: String,
    module: String,
    /// `upcoming`, `held` or `suppressed: <break>`.
    state: String,
    audience_now: i64,
    announced: Vec<Reach>,
    yes: i64,
    no: i64,
}

/// `/console/calendar`.
#[derive(Template)]
#[template(path = "console/calendar.html")]
struct CalendarPage {
    staff: Staff,
    lines: Vec<Line>,
    breaks: Vec<(String, String, String)>,
    zone: String,
}

/// `GET /console/calendar`.
///
/// # Errors
///
/// Sign-in, role, store.
pub async fn page(state: Console, staff: Staff) -> Result<Response, ConsoleError> {
    staff.require(Area::Calendar)?;
    let store = state.conversations.store();
    let content = state.conversations.content().get();
    let tz = content.helpdesk.timezone;
    let now = state.conversations.clock().now();
    let calendar = &content.programme.calendar;
    let rsvps = store.rsvp_counts().await?;
    let mut lines = Vec::new();
    for session in &calendar.sessions {
        let state_word = match (
            &session.suppressed_by,
            session.held || session.ends_at(tz) <= now,
        ) {
            (Some(b), _) => format!("suppressed: {b}"),
            (None, true) => "held".to_string(),
            (None, false) => "upcoming".to_string(),
        };
        let mut announced = Vec::new();
        for offset in &session.offsets {
            announced.push(Reach {
                label: format!("{offset} before"),
                teachers: store.tag_reach(&session.announce_occasion(*offset)).await?,
            });
        }
        announced.push(Reach {
            label: "follow-up".to_string(),
            teachers: store.tag_reach(&session.followup_occasion()).await?,
        });
        let count = rsvps.get(&session.id).copied().unwrap_or_default();
        lines.push(Line {
            id: session.id.clone(),
            title: session.title.get("en").cloned().unwrap_or_default(),
            when: session.starts.format("%a %d %b %Y %H:%M").to_string(),
            length: format!("{} min", session.duration.num_minutes()),
            mode: session.mode.label(),
            place: session.place.clone().unwrap_or_default(),
            link: session.link.clone().unwrap_or_default(),
            audience: session.audience.to_string(),
            module: module_title(&content.dialogues, session),
            state: state_word,
            audience_now: store.segment_count(&session.audience).await?,
            announced,
            yes: count.yes,
            no: count.no,
        });
    }
    let breaks = calendar
        .breaks
        .iter()
        .map(|b| {
            (
                b.name.clone(),
                b.kind.clone(),
                format!(
                    "{} to {}",
                    b.from.format("%d %b %Y"),
                    b.to.format("%d %b %Y")
                ),
            )
        })
        .collect();
    Ok(render(&CalendarPage {
        staff,
        lines,
        breaks,
        zone: tz.name().to_string(),
    }))
}

fn module_title(dialogues: &crate::dialogue::Dialogues, session: &Session) -> String {
    dialogues.module(&session.module).map_or_else(
        || session.module.clone(),
        |m| {
            format!(
                "{} ({})",
                m.title.get(crate::language::Lang::En),
                session.module
            )
        },
    )
}
