//! Broadcasts in the console ([`Area::Broadcasts`]: staff and admins).
//!
//! - `GET /console/broadcasts`: the broadcasts, newest first.
//! - `GET /console/broadcasts/new`: the form: the segment (district, school, role, grade,
//!   subject, language, channel, progress; comma-separated values) and the message in English
//!   (required), Urdu and Bangla, with an optional lower rate.
//! - `POST /console/broadcasts/preview`: checks the form and shows who it would reach now, in
//!   all and per channel, with a Send button (an empty segment or a wrong term: the form again
//!   with the reason; nothing is written).
//! - `POST /console/broadcasts`: creates and starts it, then its progress page.
//! - `GET /console/broadcasts/{id}`: progress (total, queued, sent, failed, held, pending;
//!   rate; estimated time left), refreshing itself while it sends; Pause, Resume, Cancel.
//! - `POST /console/broadcasts/{id}/{pause|resume|cancel}`.

use askama::Template;
use axum::Router;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Console, ConsoleError, Posted, Staff, render};
use crate::broadcast::{self, Draft, DraftError, Preview, Rates};
use crate::programme::segment::{KEYS, Segment};
use crate::staff::Area;
use crate::store::broadcasts::{Broadcast, ChannelProgress};
use crate::web::AppState;

/// This part's routes, merged into the console's.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/broadcasts", get(list).post(send))
        .route("/console/broadcasts/new", get(new))
        .route("/console/broadcasts/preview", post(preview))
        .route("/console/broadcasts/{id}", get(progress))
        .route("/console/broadcasts/{id}/{action}", post(act))
}

/// The form, as posted (and shown again).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Form {
    #[serde(default)]
    district: String,
    #[serde(default)]
    school: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    grade: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    progress: String,
    #[serde(default)]
    en: String,
    #[serde(default)]
    ur: String,
    #[serde(default)]
    bn: String,
    /// At most this many messages per second per channel (empty: the channels' rates).
    #[serde(default)]
    rate: String,
}

impl Form {
    fn fields(&self) -> [(&'static str, &str); 8] {
        [
            ("district", &self.district),
            ("school", &self.school),
            ("role", &self.role),
            ("grade", &self.grade),
            ("subject", &self.subject),
            ("language", &self.language),
            ("channel", &self.channel),
            ("progress", &self.progress),
        ]
    }

    /// The checked draft and the rates it will go at.
    fn draft(&self) -> Result<(Draft, Rates), String> {
        let mut segment = Segment::default();
        let mut terms = Vec::new();
        for (key, value) in self.fields() {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            segment.add(key, value).map_err(|e| e.to_string())?;
            terms.push(format!("{key}={value}"));
        }
        let ur = Some(self.ur.as_str());
        let bn = Some(self.bn.as_str());
        let mut draft = Draft::new::<&str>(&[], &self.en, ur, bn).map_err(|e| e.to_string())?;
        draft.segment = segment;
        draft.terms = terms.join(" ");
        let max = match self.rate.trim() {
            "" => None,
            r => Some(
                r.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v > 0.0)
                    .ok_or_else(|| format!("`{r}` is not a rate (messages per second)"))?,
            ),
        };
        Ok((draft, Rates::from_env().capped(max)))
    }
}

/// `/console/broadcasts`.
#[derive(Template)]
#[template(path = "console/broadcasts.html")]
struct ListPage {
    staff: Staff,
    rows: Vec<Row>,
}

struct Row {
    id: i64,
    created: String,
    created_by: String,
    terms: String,
    text: String,
    status: String,
    total: i64,
}

/// `/console/broadcasts/new` and a refused preview.
#[derive(Template)]
#[template(path = "console/broadcast_new.html")]
struct NewPage {
    staff: Staff,
    form: Form,
    keys: String,
    rates: String,
    error: Option<String>,
}

/// The preview with its Send button.
#[derive(Template)]
#[template(path = "console/broadcast_preview.html")]
struct PreviewPage {
    staff: Staff,
    form: Form,
    terms: String,
    preview: Preview,
    rates: String,
    eta: String,
}

/// `/console/broadcasts/{id}`.
#[derive(Template)]
#[template(path = "console/broadcast.html")]
struct ProgressPage {
    staff: Staff,
    b: Broadcast,
    rows: Vec<(String, ChannelProgress)>,
    all: ChannelProgress,
    rates: String,
    eta: String,
    refresh: bool,
    texts: Vec<(String, String)>,
}

fn rates_text(rates: &Rates) -> String {
    rates
        .0
        .iter()
        .map(|(c, r)| format!("{c} {r}/s"))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// Seconds to send `pending` per channel at `rates`, as "about N min".
fn eta_text(rates: &Rates, pending: &[(String, i64)]) -> String {
    let seconds = pending
        .iter()
        .map(|(c, n)| {
            let rate = rates.0.get(c).copied().unwrap_or(1.0).max(0.001);
            #[allow(clippy::cast_precision_loss)]
            let s = *n as f64 / rate;
            s
        })
        .fold(0.0_f64, f64::max);
    if seconds < 1.0 {
        "—".into()
    } else if seconds < 120.0 {
        format!("about {seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("about {:.0} min", seconds / 60.0)
    } else {
        format!("about {:.1} h", seconds / 3600.0)
    }
}

fn short(text: &str) -> String {
    let mut s: String = text.chars().take(60).collect();
    if text.chars().count() > 60 {
        s.push('…');
    }
    s
}

/// `GET /console/broadcasts`.
///
/// # Errors
///
/// Sign-in, role, the store.
pub async fn list(state: Console, staff: Staff) -> Result<Response, ConsoleError> {
    staff.require(Area::Broadcasts)?;
    let rows = state
        .conversations
        .store()
        .broadcasts(100)
        .await?
        .into_iter()
        .map(|b| Row {
            id: b.id,
            created: b.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            created_by: b.created_by,
            terms: if b.terms.is_empty() {
                "everyone".into()
            } else {
                b.terms
            },
            text: short(b.texts.get("en").map_or("", String::as_str)),
            status: b.status,
            total: b.total,
        })
        .collect();
    Ok(render(&ListPage { staff, rows }))
}

fn new_page(staff: Staff, form: Form, error: Option<String>) -> NewPage {
    NewPage {
        staff,
        form,
        keys: KEYS.join(", "),
        rates: rates_text(&Rates::from_env()),
        error,
    }
}

/// `GET /console/broadcasts/new`.
///
/// # Errors
///
/// Sign-in, role.
pub async fn new(staff: Staff) -> Result<Response, ConsoleError> {
    staff.require(Area::Broadcasts)?;
    Ok(render(&new_page(staff, Form::default(), None)))
}

/// `POST /console/broadcasts/preview`.
///
/// # Errors
///
/// Sign-in, role, the form token, the store.
pub async fn preview(
    state: Console,
    Posted { staff, form }: Posted<Form>,
) -> Result<Response, ConsoleError> {
    staff.require(Area::Broadcasts)?;
    let (draft, rates) = match form.draft() {
        Ok(d) => d,
        Err(error) => return Ok(render(&new_page(staff, form, Some(error)))),
    };
    let preview = broadcast::preview(state.conversations.store(), &draft.segment).await?;
    if preview.total == 0 {
        let error = DraftError::Empty.to_string();
        return Ok(render(&new_page(staff, form, Some(error))));
    }
    let pending: Vec<(String, i64)> = preview.by_channel.clone().into_iter().collect();
    Ok(render(&PreviewPage {
        staff,
        terms: if draft.terms.is_empty() {
            "everyone".into()
        } else {
            draft.terms.clone()
        },
        preview,
        eta: eta_text(&rates, &pending),
        rates: rates_text(&rates),
        form,
    }))
}

/// `POST /console/broadcasts`: create and start.
///
/// # Errors
///
/// Sign-in, role, the form token, the store.
pub async fn send(
    state: Console,
    Posted { staff, form }: Posted<Form>,
) -> Result<Response, ConsoleError> {
    staff.require(Area::Broadcasts)?;
    let (draft, rates) = match form.draft() {
        Ok(d) => d,
        Err(error) => return Ok(render(&new_page(staff, form, Some(error)))),
    };
    let store = state.conversations.store();
    let now = state.conversations.clock().now();
    match broadcast::start(store, &draft, &staff.user.name, &rates, now).await {
        Ok((id, _)) => {
            state.conversations.jobs_scheduled();
            let target = format!("broadcast:{id}");
            super::audit::record(&state, &staff, "broadcast.start", &target, "").await;
            Ok(Redirect::to(&format!("/console/broadcasts/{id}")).into_response())
        }
        Err(DraftError::Store(err)) => Err(err.into()),
        Err(err) => Ok(render(&new_page(staff, form, Some(err.to_string())))),
    }
}

/// `GET /console/broadcasts/{id}`.
///
/// # Errors
///
/// Sign-in, role, an unknown broadcast, the store.
pub async fn progress(
    state: Console,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    staff.require(Area::Broadcasts)?;
    let store = state.conversations.store();
    let b = store.broadcast(id).await?;
    let progress = store.broadcast_progress(id).await?;
    let rates = Rates(b.rates.clone());
    let pending: Vec<(String, i64)> = progress
        .channels
        .iter()
        .map(|(c, p)| (c.clone(), p.pending))
        .collect();
    let eta = if b.status == "sending" {
        eta_text(&rates, &pending)
    } else {
        "—".into()
    };
    let all = progress.all.clone();
    // Refresh while anything still moves: feeding, or rows waiting for their dispatcher.
    let refresh = b.status == "sending" || all.waiting > 0;
    Ok(render(&ProgressPage {
        staff,
        texts: b
            .texts
            .iter()
            .map(|(l, t)| (l.clone(), t.clone()))
            .collect(),
        rates: rates_text(&rates),
        rows: progress.channels.into_iter().collect(),
        all,
        eta,
        refresh,
        b,
    }))
}

/// The action form carries only its token.
#[derive(Debug, Default, Deserialize)]
pub struct Empty {}

/// `POST /console/broadcasts/{id}/{pause|resume|cancel}`.
///
/// # Errors
///
/// Sign-in, role, the form token, an unknown action or broadcast, a broadcast not in a state
/// the action applies to, the store.
pub async fn act(
    state: Console,
    Path((id, action)): Path<(i64, String)>,
    Posted { staff, .. }: Posted<Empty>,
) -> Result<Response, ConsoleError> {
    staff.require(Area::Broadcasts)?;
    let store = state.conversations.store();
    let now = state.conversations.clock().now();
    let b = store.broadcast(id).await?;
    let done = match action.as_str() {
        "pause" => store.pause_broadcast(id).await?,
        "resume" => store.resume_broadcast(id, now).await?,
        "cancel" => store.cancel_broadcast(id, now).await?,
        _ => return Err(ConsoleError::NotFound),
    };
    if !done {
        return Err(ConsoleError::Conflict(format!(
            "Broadcast {id} is {}: it cannot be {} now.",
            b.status,
            match action.as_str() {
                "pause" => "paused",
                "resume" => "resumed",
                _ => "cancelled",
            }
        )));
    }
    if action == "resume" {
        state.conversations.jobs_scheduled();
    }
    tracing::info!(broadcast.id = id, user = staff.user.id, %action, "broadcast changed");
    let target = format!("broadcast:{id}");
    super::audit::record(&state, &staff, &format!("broadcast.{action}"), &target, "").await;
    Ok(Redirect::to(&format!("/console/broadcasts/{id}")).into_response())
}
