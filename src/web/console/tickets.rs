//! The experts' workspace: the ticket queue with its filters, and a ticket's page (the
//! teacher's profile and progress, the conversation around the question, what the bot
//! suggested, what was said on the ticket, attachments and notes).

use askama::Template;
use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::{Console, ConsoleError, Staff, render};
use crate::staff::{Area, phone_for};
use crate::store::{QueueFilter, QueueRow, TicketMessageRow, TranscriptLine};

/// Tickets on one page of the queue.
const QUEUE_LIMIT: i64 = 200;
/// Lines of conversation shown before and after the question.
const CONTEXT_LINES: i64 = 8;

/// The queue's filters, as the form sends them (empty: any).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    status: String,
    #[serde(default)]
    topic: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    district: String,
    /// Waiting at least this many hours.
    #[serde(default)]
    age: String,
    /// `1`: only the signed-in expert's tickets.
    #[serde(default)]
    mine: String,
}

/// One choice of a filter's drop-down.
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

fn choices(values: &[(String, String)], current: &str) -> Vec<Choice> {
    values
        .iter()
        .map(|(value, label)| Choice {
            value: value.clone(),
            label: label.clone(),
            selected: value == current,
        })
        .collect()
}

fn plain(values: impl IntoIterator<Item = String>) -> Vec<(String, String)> {
    std::iter::once((String::new(), "any".to_string()))
        .chain(values.into_iter().map(|v| (v.clone(), v)))
        .collect()
}

/// A queue line as shown.
struct Line {
    row: QueueRow,
    waiting: String,
}

/// `/console/tickets`.
#[derive(Template)]
#[template(path = "console/tickets.html")]
struct QueuePage {
    staff: Staff,
    lines: Vec<Line>,
    status: Vec<Choice>,
    topic: Vec<Choice>,
    language: Vec<Choice>,
    district: Vec<Choice>,
    age: Vec<Choice>,
    mine: bool,
    limit: i64,
}

/// How long ago, in words a busy expert reads at a glance.
fn ago(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = now - since;
    if d < Duration::minutes(1) {
        "just now".into()
    } else if d < Duration::hours(1) {
        format!("{} min", d.num_minutes())
    } else if d < Duration::days(2) {
        format!("{} h", d.num_hours())
    } else {
        format!("{} days", d.num_days())
    }
}

/// `GET /console/tickets`: the queue, oldest waiting first.
///
/// # Errors
///
/// Sign-in, role, store.
pub async fn queue(
    state: Console,
    staff: Staff,
    Query(filters): Query<Filters>,
) -> Result<Response, ConsoleError> {
    staff.require(Area::Tickets)?;
    let store = state.conversations.store();
    let now = state.conversations.clock().now();
    let hours: Option<i64> = filters.age.parse().ok().filter(|h| *h > 0);
    let mine = filters.mine == "1";
    let filter = QueueFilter {
        status: filters.status.clone(),
        topic: filters.topic.clone(),
        language: filters.language.clone(),
        district: filters.district.clone(),
        waiting_before: hours.map(|h| now - Duration::hours(h)),
        expert: if mine {
            staff.user.name.clone()
        } else {
            String::new()
        },
        limit: QUEUE_LIMIT,
    };
    let lines = store
        .ticket_queue(&filter)
        .await?
        .into_iter()
        .map(|row| Line {
            waiting: ago(row.waiting_since, now),
            row,
        })
        .collect();
    let content = state.conversations.content().get();
    let statuses: Vec<(String, String)> = [
        ("", "waiting or answered"),
        ("open", "open"),
        ("claimed", "claimed"),
        ("answered", "answered"),
        ("closed", "closed"),
        ("all", "all"),
    ]
    .iter()
    .map(|(v, l)| ((*v).to_string(), (*l).to_string()))
    .collect();
    let ages: Vec<(String, String)> = [
        ("", "any age"),
        ("1", "over 1 hour"),
        ("4", "over 4 hours"),
        ("24", "over a day"),
        ("72", "over 3 days"),
    ]
    .iter()
    .map(|(v, l)| ((*v).to_string(), (*l).to_string()))
    .collect();
    let page = QueuePage {
        lines,
        status: choices(&statuses, &filters.status),
        topic: choices(&plain(content.topics.iter().cloned()), &filters.topic),
        language: choices(
            &plain(["en", "ur", "bn"].map(String::from)),
            &filters.language,
        ),
        district: choices(&plain(store.districts().await?), &filters.district),
        age: choices(&ages, &filters.age),
        mine,
        limit: QUEUE_LIMIT,
        staff,
    };
    Ok(render(&page))
}

/// `/console/tickets/{code}`.
#[derive(Template)]
#[template(path = "console/ticket.html")]
struct TicketPage {
    staff: Staff,
    ticket: crate::store::Ticket,
    waiting: String,
    created: String,
    channel: String,
    contact: String,
    profile: crate::store::TeacherProfile,
    modules_done: usize,
    modules_started: usize,
    suggested: Option<Suggested>,
    context: Vec<TranscriptLine>,
    messages: Vec<TicketMessageRow>,
    expert: Option<String>,
    topics: Vec<String>,
    nonce: String,
}

/// What the bot offered before the ticket opened.
struct Suggested {
    title: String,
    id: String,
    confidence: String,
}

/// `GET /console/tickets/{code}`.
///
/// # Errors
///
/// Sign-in, role, no such ticket, store.
pub async fn ticket(
    state: Console,
    staff: Staff,
    Path(code): Path<String>,
) -> Result<Response, ConsoleError> {
    staff.require(Area::Tickets)?;
    let store = state.conversations.store();
    let now = state.conversations.clock().now();
    let ticket = store.ticket(&code).await?;
    let profile = store.teacher_profile(ticket.teacher_id).await?;
    let (channel, contact) = store.teacher_contact(ticket.teacher_id).await?;
    let progress = store.lesson_progress(ticket.teacher_id).await?;
    let question = store
        .questions_of(ticket.teacher_id)
        .await?
        .into_iter()
        .find(|q| q.ticket.as_deref() == Some(code.as_str()));
    let content = state.conversations.content().get();
    let suggested = ticket.suggested.as_ref().map(|id| Suggested {
        title: content.knowledge.article(id).map_or_else(
            || id.clone(),
            |a| {
                let lang = crate::language::Lang::parse(&ticket.language).unwrap_or_default();
                a.title.get(lang).to_string()
            },
        ),
        id: id.clone(),
        confidence: question
            .as_ref()
            .map_or_else(String::new, |q| format!("{:.0} %", q.confidence * 100.0)),
    });
    let context = store
        .transcript_around(
            ticket.teacher_id,
            ticket.created_at,
            CONTEXT_LINES,
            CONTEXT_LINES,
        )
        .await?;
    let messages = store.ticket_messages(&code).await?;
    let expert = ticket.expert.clone();
    let page = TicketPage {
        waiting: ago(ticket.waiting_since, now),
        created: ticket.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        contact: phone_for(staff.role, &contact),
        channel,
        profile,
        modules_done: progress.iter().filter(|p| p.3).count(),
        modules_started: progress.len(),
        suggested,
        context,
        messages,
        expert,
        topics: {
            let mut topics: Vec<String> = content.topics.iter().cloned().collect();
            topics.sort();
            topics
        },
        nonce: format!("{:016x}", rand::random::<u64>()),
        ticket,
        staff,
    };
    Ok(render(&page))
}

/// A ticket action's form: the text of an answer or note, or the topic.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    text: String,
    #[serde(default)]
    topic: String,
    /// Random per rendered form: the same form posted twice relays its answer once.
    #[serde(default)]
    nonce: String,
}

/// `POST /console/tickets/{code}/{action}`: claim, answer, note, topic, close, reopen. Back to
/// the ticket on success; a refusal (someone claimed it first, the ticket is closed) is shown
/// as a 409 page that says why.
///
/// # Errors
///
/// Sign-in, role, form token, unknown ticket or action, refusals, store.
pub async fn act(
    state: Console,
    Path((code, action)): Path<(String, String)>,
    posted: super::Posted<ActionForm>,
) -> Result<Response, ConsoleError> {
    use crate::conversation::desk::{DeskError, Origin};
    use crate::helpdesk::desk::Action;
    let super::Posted { staff, form } = posted;
    staff.require(Area::Tickets)?;
    let action = match action.as_str() {
        "claim" => Action::Claim,
        "answer" => Action::Answer(form.text),
        "note" => Action::Note(form.text),
        "topic" => Action::Topic(form.topic),
        "close" => Action::Close,
        "reopen" => Action::Reopen,
        _ => return Err(ConsoleError::NotFound),
    };
    let nonce = u64::from_str_radix(form.nonce.trim(), 16).unwrap_or_else(|_| rand::random());
    match state
        .conversations
        .expert_act(&code, &staff.user.name, &action, Origin::Console { nonce })
        .await
    {
        Ok(_) => {
            tracing::info!(user = staff.user.id, ticket = %code, "console ticket action");
            Ok(axum::response::Redirect::to(&format!("/console/tickets/{code}")).into_response())
        }
        Err(DeskError::Refused(why)) => Err(ConsoleError::Conflict(why.to_string())),
        Err(DeskError::Busy) => Err(ConsoleError::Conflict(
            "The ticket kept changing while you acted; open it again and retry.".into(),
        )),
        Err(DeskError::Store(err)) => Err(err.into()),
    }
}
