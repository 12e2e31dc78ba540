//! The experts' workspace: the ticket queue with its filters, and a ticket's page (the
//! teacher's profile and progress, the conversation around the question, what the bot
//! suggested, what was said on the ticket, attachments and notes), with the canned replies
//! that fill its answer box and the button that turns its answer into a knowledge-base draft.
//!
//! **Attachments.** A ticket's files are served at `/console/tickets/{code}/files/{n}`, looked
//! up only through their ticket: WhatsApp files from the bytes the media keeper downloaded,
//! Telegram files fetched from the Bot API on demand (Telegram keeps them; we do not). A file
//! is served as its own type only when that type is on a short list of images, sound, video
//! and PDF; anything else is a download of unknown type. Every file response says `nosniff`,
//! `private`, and carries a sandboxing content policy, so a file can never run as a page of
//! the console.

use std::time::Duration as StdDuration;

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::{Console, ConsoleError, MessagePage, Staff, render};
use crate::channel::telegram::client::{ApiError, BotApi};
use crate::language::Lang;
use crate::staff::{Area, phone_for};
use crate::store::{QueueFilter, QueueRow, TicketMessageRow, TranscriptLine};
use crate::web::AppState;

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
    messages: Vec<Said>,
    expert: Option<String>,
    topics: Vec<String>,
    nonce: String,
    /// The canned replies to pick from.
    canned: Vec<Canned>,
    /// The answer box's text: the canned reply picked, in the ticket's language.
    prefill: String,
    /// The title of the canned reply picked, if one was.
    picked: Option<String>,
    /// A `?reply=` that names no canned reply.
    unknown_reply: bool,
    /// Whether the ticket has an expert answer a draft can be made from.
    can_draft: bool,
    /// The draft's file, relative to the content root.
    draft_file: String,
    /// Whether that file exists already.
    draft_exists: bool,
}

/// What the bot offered before the ticket opened.
struct Suggested {
    title: String,
    id: String,
    confidence: String,
}

/// Something said on the ticket, with its file when it has one.
struct Said {
    m: TicketMessageRow,
    file: Option<FileView>,
}

/// A file on the ticket as the page shows it.
struct FileView {
    /// `/console/tickets/{code}/files/{n}`.
    href: String,
    /// `image`, `audio` or `link`: an `<img>`, an `<audio controls>`, or a download.
    show: &'static str,
    /// Whether it can be served now (kept, or fetchable from Telegram).
    available: bool,
}

/// A canned reply offered on the page.
struct Canned {
    title: String,
    /// The link that fills the answer box with it.
    href: String,
    /// Whether it is the one picked.
    picked: bool,
}

/// The ticket page's query: `?reply=<id>` fills the answer box with a canned reply.
#[derive(Debug, Default, Deserialize)]
pub struct TicketQuery {
    #[serde(default)]
    reply: String,
}

/// How long the page waits for Telegram to say whether its files can be fetched.
const TELEGRAM_PROBE: StdDuration = StdDuration::from_secs(5);

/// `GET /console/tickets/{code}`.
///
/// # Errors
///
/// Sign-in, role, no such ticket, store.
pub async fn ticket(
    state: Console,
    staff: Staff,
    Path(code): Path<String>,
    Query(query): Query<TicketQuery>,
) -> Result<Response, ConsoleError> {
    staff.require(Area::Tickets)?;
    let store = state.conversations.store();
    let now = state.conversations.clock().now();
    let ticket = store.ticket(&code).await?;
    // The page shows the teacher's profile and transcript: both are recorded.
    let teacher = format!("teacher:{}", ticket.teacher_id);
    super::audit::record(&state, &staff, "ticket.view", &code, &teacher).await;
    let profile = store.teacher_profile(ticket.teacher_id).await?;
    let (channel, contact) = store.teacher_contact(ticket.teacher_id).await?;
    let progress = store.lesson_progress(ticket.teacher_id).await?;
    let question = store
        .questions_of(ticket.teacher_id)
        .await?
        .into_iter()
        .find(|q| q.ticket.as_deref() == Some(code.as_str()));
    let content = state.conversations.content().get();
    let lang = Lang::parse(&ticket.language).unwrap_or_default();
    let suggested = ticket.suggested.as_ref().map(|id| Suggested {
        title: content
            .knowledge
            .article(id)
            .map_or_else(|| id.clone(), |a| a.title.get(lang).to_string()),
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
    let files = file_views(&state, &code).await?;
    let mut files = files.into_iter();
    let messages: Vec<Said> = messages
        .into_iter()
        .map(|m| Said {
            file: m.file_id.as_ref().and_then(|_| files.next()),
            m,
        })
        .collect();
    let can_draft = messages.iter().any(|s| s.m.author == "expert");
    let draft_file = std::path::Path::new("knowledge-base/articles")
        .join(format!("{}.md", crate::knowledge::draft::id_for(&code)));
    let draft_exists = can_draft
        && state
            .conversations
            .content()
            .root()
            .join(&draft_file)
            .exists();
    let picked = content.canned.get(query.reply.trim());
    let canned = content
        .canned
        .list
        .iter()
        .map(|r| Canned {
            title: r.title.clone(),
            href: format!("/console/tickets/{code}?reply={}#answer", r.id),
            picked: picked.is_some_and(|p| p.id == r.id),
        })
        .collect();
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
        canned,
        prefill: picked.map_or_else(String::new, |r| r.text_in(lang).to_string()),
        picked: picked.map(|r| r.title.clone()),
        unknown_reply: !query.reply.trim().is_empty() && picked.is_none(),
        can_draft,
        draft_file: draft_file.display().to_string(),
        draft_exists,
        ticket,
        staff,
    };
    Ok(render(&page))
}

/// The ticket's files as the page shows them, in order. Telegram files are asked about
/// (`getFile`) all at once; one Telegram cannot find in time shows as not available yet.
async fn file_views(state: &AppState, code: &str) -> Result<Vec<FileView>, ConsoleError> {
    let attachments = state.conversations.store().ticket_attachments(code).await?;
    let probes: Vec<_> = attachments
        .iter()
        .map(|a| {
            let api = state.telegram_api.clone();
            let on_telegram = !a.kept && a.channel == crate::channel::telegram::CHANNEL;
            let file_id = a.file_id.clone();
            tokio::spawn(async move {
                match api {
                    Some(api) if on_telegram => {
                        tokio::time::timeout(TELEGRAM_PROBE, api.get_file(&file_id))
                            .await
                            .is_ok_and(|r| r.is_ok())
                    }
                    _ => false,
                }
            })
        })
        .collect();
    let mut views = Vec::with_capacity(attachments.len());
    for (a, probe) in attachments.iter().zip(probes) {
        let fetchable = probe.await.unwrap_or(false);
        views.push(FileView {
            href: format!("/console/tickets/{code}/files/{}", a.number),
            show: match a.kind.as_str() {
                "photo" => "image",
                "voice" | "audio" => "audio",
                _ => "link",
            },
            available: a.kept || fetchable,
        });
    }
    Ok(views)
}

/// Types served as themselves; any other file is served as `application/octet-stream`, to
/// download.
const SERVED_AS_IS: &[(&str, &str)] = &[
    ("image/jpeg", "jpg"),
    ("image/png", "png"),
    ("image/webp", "webp"),
    ("image/gif", "gif"),
    ("audio/ogg", "ogg"),
    ("audio/mpeg", "mp3"),
    ("audio/mp4", "m4a"),
    ("audio/aac", "aac"),
    ("audio/amr", "amr"),
    ("video/mp4", "mp4"),
    ("video/3gpp", "3gp"),
    ("application/pdf", "pdf"),
];

/// The type to serve a file as, from the type the platform declared, else (Telegram, which
/// declares none for a download) the extension of its path, else what kind of message it
/// came in; `None` when it is not on [`SERVED_AS_IS`].
fn media_type(declared: Option<&str>, path: Option<&str>, kind: &str) -> Option<&'static str> {
    let listed = |essence: &str| {
        SERVED_AS_IS
            .iter()
            .map(|(t, _)| *t)
            .find(|t| t.eq_ignore_ascii_case(essence.trim()))
    };
    if let Some(declared) = declared {
        return listed(declared.split(';').next().unwrap_or_default());
    }
    let extension = path
        .and_then(|p| p.rsplit('/').next())
        .and_then(|name| name.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase());
    let by_extension = match extension.as_deref() {
        Some("jpg" | "jpeg") => Some("image/jpeg"),
        Some("png") => Some("image/png"),
        Some("webp") => Some("image/webp"),
        Some("gif") => Some("image/gif"),
        Some("oga" | "ogg" | "opus") => Some("audio/ogg"),
        Some("mp3") => Some("audio/mpeg"),
        Some("m4a") => Some("audio/mp4"),
        Some("mp4") => Some("video/mp4"),
        Some("pdf") => Some("application/pdf"),
        _ => None,
    };
    by_extension.or(match kind {
        "photo" => Some("image/jpeg"),
        "voice" => Some("audio/ogg"),
        "audio" => Some("audio/mpeg"),
        "video" | "video_note" => Some("video/mp4"),
        _ => None,
    })
}

/// `GET /console/tickets/{code}/files/{number}`: a file a teacher attached to the ticket.
///
/// # Errors
///
/// Sign-in, role, no such file on this ticket, store. A file not kept yet, or that Telegram
/// cannot give now, is a 503 page saying it is not available yet.
pub async fn file(
    state: Console,
    staff: Staff,
    Path((code, number)): Path<(String, String)>,
) -> Result<Response, ConsoleError> {
    staff.require(Area::Tickets)?;
    let number: i64 = number.parse().map_err(|_| ConsoleError::NotFound)?;
    let store = state.conversations.store();
    let Some(found) = store.ticket_attachment(&code, number).await? else {
        return Err(ConsoleError::NotFound);
    };
    let detail = format!("file {number}");
    super::audit::record(&state, &staff, "ticket.file", &code, &detail).await;
    let attachment = found.attachment;
    let (bytes, path) = match (found.bytes, &state.telegram_api) {
        (Some(bytes), _) => (bytes, None),
        (None, Some(api)) if attachment.channel == crate::channel::telegram::CHANNEL => {
            match fetch_from_telegram(api, &attachment.file_id).await {
                Ok((bytes, path)) => (bytes, Some(path)),
                Err(err) => {
                    tracing::warn!(ticket = %code, number, error = %err, "telegram file not fetched");
                    return Ok(not_available_yet(&code));
                }
            }
        }
        (None, _) => return Ok(not_available_yet(&code)),
    };
    let declared = if path.is_none() {
        attachment.mime.as_deref()
    } else {
        None
    };
    let served = media_type(declared, path.as_deref(), &attachment.kind);
    let shown_inline = matches!(attachment.kind.as_str(), "photo" | "voice" | "audio");
    let extension = served
        .and_then(|t| SERVED_AS_IS.iter().find(|(s, _)| *s == t))
        .map_or("bin", |(_, ext)| *ext);
    let disposition = match served {
        Some(_) if shown_inline => "inline".to_string(),
        _ => format!("attachment; filename=\"{code}-{number}.{extension}\""),
    };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                served.unwrap_or("application/octet-stream").to_string(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::CACHE_CONTROL, "private, max-age=3600".to_string()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".to_string(),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// `getFile`, then the download.
async fn fetch_from_telegram(api: &BotApi, file_id: &str) -> Result<(Vec<u8>, String), ApiError> {
    let path = api.get_file(file_id).await?;
    let bytes = api.download(&path).await?;
    Ok((bytes, path))
}

/// The page for a file that cannot be served yet.
fn not_available_yet(code: &str) -> Response {
    let page = MessagePage {
        title: "Not available yet".into(),
        text: "This file is not available yet: it has not been downloaded from the teacher's \
               chat app, or the app cannot give it now. Try again in a few minutes."
            .into(),
        link: (
            format!("/console/tickets/{code}"),
            format!("Back to {code}"),
        ),
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CACHE_CONTROL, "no-store")],
        render(&page),
    )
        .into_response()
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

/// `POST /console/tickets/{code}/{action}`: claim, answer, note, topic, close, reopen, and
/// `draft` (a knowledge-base draft from the answer). Back to the ticket on success; a refusal
/// (someone claimed it first, the ticket is closed, the draft exists) is shown as a 409 page
/// that says why.
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
    if action == "draft" {
        return draft(&state, &staff, &code).await;
    }
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

/// `POST /console/tickets/{code}/draft`: writes the knowledge-base draft that `baithak kb
/// draft --from-ticket` writes, into the content root's `knowledge-base/articles/`, and never
/// over one that exists.
async fn draft(state: &Console, staff: &Staff, code: &str) -> Result<Response, ConsoleError> {
    use crate::kb_cli::{DraftError, ticket_draft, write_draft};
    let drafted = ticket_draft(state.conversations.store(), code).await?;
    if !drafted.answered {
        return Err(ConsoleError::Conflict(format!(
            "{code} has no expert answer yet: answer it first, then make the draft."
        )));
    }
    let file = drafted.file.display().to_string();
    let root = state.conversations.content().root().to_path_buf();
    let written = tokio::task::spawn_blocking(move || write_draft(&root, &drafted, false))
        .await
        .map_err(|_| ConsoleError::Unavailable)?;
    let back = (
        format!("/console/tickets/{code}"),
        format!("Back to {code}"),
    );
    match written {
        Ok(_) => {
            tracing::info!(user = staff.user.id, ticket = %code, "knowledge-base draft written");
            let page = MessagePage {
                title: "Draft written".into(),
                text: format!(
                    "Draft written: {file}. It is marked `draft: true`, so the bot does not serve \
                     it: rewrite it in our own words, add English and Urdu, run `baithak check`, \
                     then remove the mark."
                ),
                link: back,
            };
            Ok(render(&page))
        }
        Err(DraftError::Exists(_)) => {
            let page = MessagePage {
                title: "A draft exists already".into(),
                text: format!(
                    "A draft of {code} exists already: {file}. Nothing was replaced; edit that \
                     file instead."
                ),
                link: back,
            };
            Ok((StatusCode::CONFLICT, render(&page)).into_response())
        }
        Err(err @ DraftError::Write(..)) => {
            tracing::error!(ticket = %code, error = %err, "knowledge-base draft not written");
            let page = MessagePage {
                title: "Draft not written".into(),
                text: format!("The draft could not be written to {file}. Nothing was changed."),
                link: back,
            };
            Ok((StatusCode::INTERNAL_SERVER_ERROR, render(&page)).into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::media_type;

    #[test]
    fn only_listed_types_are_served_as_themselves() {
        assert_eq!(
            media_type(Some("audio/ogg; codecs=opus"), None, "voice"),
            Some("audio/ogg")
        );
        assert_eq!(
            media_type(Some("IMAGE/JPEG"), None, "photo"),
            Some("image/jpeg")
        );
        assert_eq!(
            media_type(Some("text/html"), None, "photo"),
            None,
            "declared wins"
        );
        assert_eq!(media_type(Some("image/svg+xml"), None, "document"), None);
        assert_eq!(
            media_type(None, Some("photos/file_3.jpg"), "document"),
            Some("image/jpeg")
        );
        assert_eq!(
            media_type(None, Some("voice/file_1.oga"), "voice"),
            Some("audio/ogg")
        );
        assert_eq!(
            media_type(None, Some("documents/file_2"), "photo"),
            Some("image/jpeg")
        );
        assert_eq!(
            media_type(None, Some("documents/file_2.html"), "document"),
            None
        );
        assert_eq!(
            media_type(None, Some("documents/file_2.pdf"), "document"),
            Some("application/pdf")
        );
    }
}
