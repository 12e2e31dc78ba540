//! The experts' canned replies: kept in a YAML file, picked on the ticket page, edited by staff.
//!
//! `GET /console/replies` lists the replies of `canned-replies.yaml` (content root) with a form
//! per reply, one to add a reply, and the whole file in one box for what the forms cannot do
//! (reordering, comments). `POST /console/replies` builds the new file, checks it with the
//! parser `baithak check` uses, and only then writes it: a temporary file renamed over the old
//! one, so a reader never sees half a file; the content is reloaded at once, so the running
//! server uses the new replies without a restart. A refused edit changes nothing and says why;
//! an edit made from a page opened before someone else's save is refused too (the form carries
//! the file's SHA-256), so no one overwrites a colleague's change unseen. Staff and admins
//! only ([`Area::Content`]).

use std::path::Path;

use askama::Template;
use axum::Router;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{Console, ConsoleError, Posted, Staff, render};
use crate::diagnostic::Diagnostic;
use crate::helpdesk::canned::{self, FILE, Replies, Reply, Texts};
use crate::staff::Area;
use crate::web::AppState;

/// This part's routes, merged into the console's.
pub fn routes() -> Router<AppState> {
    Router::new().route("/console/replies", get(page).post(save))
}

/// One write at a time: each edit reads the file, changes it and writes it back.
static WRITING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A reply's form, as shown (and as posted back when refused).
#[derive(Clone, Debug, Default)]
struct Entry {
    /// The id the reply has in the file (empty: a new reply).
    original: String,
    id: String,
    title: String,
    en: String,
    ur: String,
    bn: String,
}

impl Entry {
    fn of(reply: &Reply) -> Entry {
        Entry {
            original: reply.id.clone(),
            id: reply.id.clone(),
            title: reply.title.clone(),
            en: reply.text.en.clone(),
            ur: reply.text.ur.clone(),
            bn: reply.text.bn.clone().unwrap_or_default(),
        }
    }
}

/// `/console/replies`.
#[derive(Template)]
#[template(path = "console/replies.html")]
struct RepliesPage {
    staff: Staff,
    /// The file's name, as problems name it.
    file: &'static str,
    /// A form per reply.
    entries: Vec<Entry>,
    /// The form for a new reply.
    new: Entry,
    /// The whole file, for the big box.
    yaml: String,
    /// The SHA-256 of the file the page shows.
    version: String,
    /// What was saved, when the page follows a save.
    saved: Option<String>,
    /// Why the edit was refused (nothing was changed).
    problems: Vec<String>,
    /// Warnings about the file as it is.
    warnings: Vec<String>,
    /// The form the problems are about: a reply's original id, `new`, or `file`.
    about: String,
    /// The file on disk has errors (a hand edit): only the big box can fix it.
    broken: bool,
}

/// The file as it is on disk.
struct Current {
    text: String,
    version: String,
    replies: Replies,
    diagnostics: Vec<Diagnostic>,
}

fn version_of(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Reads and parses the file (a missing file is an empty one).
async fn current(root: &Path) -> Result<Current, ConsoleError> {
    let path = root.join(FILE);
    let text = match tokio::fs::read_to_string(&path).await {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => {
            tracing::error!(error = %err, "cannot read the canned replies");
            return Err(ConsoleError::Unavailable);
        }
    };
    let mut diagnostics = Vec::new();
    let replies = canned::parse(Path::new(FILE), &text, &mut diagnostics);
    Ok(Current {
        version: version_of(&text),
        text,
        replies,
        diagnostics,
    })
}

impl RepliesPage {
    fn of(staff: Staff, current: Current) -> RepliesPage {
        let broken = current.diagnostics.iter().any(Diagnostic::is_error);
        RepliesPage {
            staff,
            file: FILE,
            entries: current.replies.list.iter().map(Entry::of).collect(),
            new: Entry::default(),
            yaml: current.text,
            version: current.version,
            saved: None,
            problems: if broken {
                current
                    .diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .map(ToString::to_string)
                    .collect()
            } else {
                Vec::new()
            },
            warnings: current
                .diagnostics
                .iter()
                .filter(|d| !d.is_error())
                .map(ToString::to_string)
                .collect(),
            about: if broken { "file".into() } else { String::new() },
            broken,
        }
    }
}

/// The page's query after a save.
#[derive(Debug, Default, Deserialize)]
pub struct Saved {
    #[serde(default)]
    saved: String,
}

/// `GET /console/replies`.
///
/// # Errors
///
/// Sign-in, role, an unreadable file.
pub async fn page(
    state: Console,
    staff: Staff,
    Query(query): Query<Saved>,
) -> Result<Response, ConsoleError> {
    staff.require(Area::Content)?;
    let current = current(state.conversations.content().root()).await?;
    let mut page = RepliesPage::of(staff, current);
    page.saved = Some(query.saved).filter(|s| !s.is_empty());
    Ok(render(&page))
}

/// The replies form: which edit, the file version it was made on, and the fields.
#[derive(Debug, Deserialize)]
pub struct ReplyForm {
    /// `save`, `add`, `delete` or `file`.
    #[serde(default)]
    op: String,
    /// The SHA-256 of the file the page showed.
    #[serde(default)]
    version: String,
    /// The id of the reply edited, as it was.
    #[serde(default)]
    original: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    en: String,
    #[serde(default)]
    ur: String,
    #[serde(default)]
    bn: String,
    /// The whole file (`file`).
    #[serde(default)]
    yaml: String,
}

/// Text from a form: browsers send line breaks as CR LF.
fn field(text: &str) -> String {
    text.replace("\r\n", "\n").trim().to_string()
}

impl ReplyForm {
    fn entry(&self) -> Entry {
        Entry {
            original: self.original.trim().to_string(),
            id: self.id.trim().to_string(),
            title: field(&self.title),
            en: field(&self.en),
            ur: field(&self.ur),
            bn: field(&self.bn),
        }
    }

    fn reply(&self) -> Reply {
        let entry = self.entry();
        Reply {
            id: entry.id,
            title: entry.title,
            text: Texts {
                en: entry.en,
                ur: entry.ur,
                bn: Some(entry.bn).filter(|b| !b.is_empty()),
            },
        }
    }
}

/// Why an edit was refused: the status of the page, and the messages (with file, line and
/// column for the whole file, without them for a form).
struct Refused {
    status: StatusCode,
    problems: Vec<String>,
}

impl Refused {
    fn bad(problem: impl Into<String>) -> Refused {
        Refused {
            status: StatusCode::BAD_REQUEST,
            problems: vec![problem.into()],
        }
    }
}

/// `POST /console/replies`: saves, adds or deletes a reply, or replaces the whole file; back
/// to the page on success, the page with the problems (and the edit kept in its form) when
/// refused.
///
/// # Errors
///
/// Sign-in, role, form token, an unknown edit, an unreadable file.
pub async fn save(state: Console, posted: Posted<ReplyForm>) -> Result<Response, ConsoleError> {
    let Posted { staff, form } = posted;
    staff.require(Area::Content)?;
    if !matches!(form.op.as_str(), "save" | "add" | "delete" | "file") {
        return Err(ConsoleError::BadRequest(format!(
            "Unknown edit `{}`.",
            form.op
        )));
    }
    let root = state.conversations.content().root().to_path_buf();
    let _writing = WRITING.lock().await;
    let now = current(&root).await?;
    let edited = if form.version == now.version {
        edit(&now, &form)
    } else {
        Err(Refused {
            status: StatusCode::CONFLICT,
            problems: vec![
                "Someone saved the replies after you opened this page, so nothing was saved: \
                 the page now shows their version, with your edit kept in its form. Apply it \
                 again if it is still needed."
                    .into(),
            ],
        })
    };
    let (text, warnings) = match edited {
        Ok(done) => done,
        Err(refused) => {
            tracing::info!(user = staff.user.id, op = %form.op, "canned replies edit refused");
            let mut page = RepliesPage::of(staff, now);
            page.problems = refused.problems;
            // The edit goes back into its form; one for a reply gone meanwhile into the new one.
            let original = form.original.trim();
            let kept = page.entries.iter_mut().find(|e| e.original == original);
            page.about = match (form.op.as_str(), kept) {
                ("file", _) => {
                    page.yaml = form.yaml.replace("\r\n", "\n");
                    "file".into()
                }
                ("save" | "delete", Some(entry)) => {
                    *entry = form.entry();
                    original.to_string()
                }
                _ => {
                    page.new = Entry {
                        original: String::new(),
                        ..form.entry()
                    };
                    "new".into()
                }
            };
            return Ok((refused.status, render(&page)).into_response());
        }
    };
    let path = root.join(FILE);
    let written = tokio::task::spawn_blocking(move || write_atomically(&path, &text))
        .await
        .map_err(|_| ConsoleError::Unavailable)?;
    if let Err(err) = written {
        tracing::error!(error = %err, "cannot write the canned replies");
        return Err(ConsoleError::Unavailable);
    }
    tracing::info!(user = staff.user.id, op = %form.op, "canned replies saved");
    let content = state.conversations.content().clone();
    let reloaded = tokio::task::spawn_blocking(move || content.reload())
        .await
        .map_err(|_| ConsoleError::Unavailable)?;
    let saved = match form.op.as_str() {
        "file" => "the file".to_string(),
        "delete" => format!("deleted {}", form.original.trim()),
        _ => form.id.trim().to_string(),
    };
    let mut notes = warnings;
    if let Err(diagnostics) = reloaded {
        let first = diagnostics
            .iter()
            .find(|d| d.is_error())
            .map_or_else(String::new, ToString::to_string);
        notes.push(format!(
            "Saved, but the server still uses the previous replies: other content files have \
             errors (`baithak check` lists them), e.g. {first}"
        ));
    }
    if notes.is_empty() {
        let to = format!("/console/replies?saved={}", super::urlencode(&saved));
        return Ok(Redirect::to(&to).into_response());
    }
    let mut page = RepliesPage::of(staff, current(&root).await?);
    page.saved = Some(saved);
    page.warnings = notes;
    Ok(render(&page))
}

/// The file's new text and its warnings, or why the edit is refused.
fn edit(now: &Current, form: &ReplyForm) -> Result<(String, Vec<String>), Refused> {
    if form.op == "file" {
        let text = form.yaml.replace("\r\n", "\n");
        let text = if text.ends_with('\n') || text.is_empty() {
            text
        } else {
            format!("{text}\n")
        };
        let mut diagnostics = Vec::new();
        canned::parse(Path::new(FILE), &text, &mut diagnostics);
        let (errors, warnings): (Vec<_>, Vec<_>) = diagnostics.iter().partition(|d| d.is_error());
        if !errors.is_empty() {
            return Err(Refused {
                status: StatusCode::BAD_REQUEST,
                problems: errors.iter().map(ToString::to_string).collect(),
            });
        }
        return Ok((text, warnings.iter().map(ToString::to_string).collect()));
    }
    if now.diagnostics.iter().any(Diagnostic::is_error) {
        return Err(Refused::bad(
            "The file has errors (someone edited it by hand), so a single reply cannot be \
             saved: fix the file in the box at the bottom first.",
        ));
    }
    let mut replies = now.replies.clone();
    let original = form.original.trim();
    let reply = form.reply();
    match form.op.as_str() {
        "add" => {
            if replies.get(&reply.id).is_some() {
                return Err(Refused::bad(format!(
                    "A reply with the id `{}` exists already: choose another id.",
                    reply.id
                )));
            }
            replies.list.push(reply.clone());
        }
        op => {
            let Some(index) = replies.list.iter().position(|r| r.id == original) else {
                return Err(Refused::bad(format!(
                    "There is no reply `{original}` any more: someone deleted or renamed it."
                )));
            };
            if op == "delete" {
                replies.list.remove(index);
            } else {
                if reply.id != original && replies.get(&reply.id).is_some() {
                    return Err(Refused::bad(format!(
                        "A reply with the id `{}` exists already: choose another id.",
                        reply.id
                    )));
                }
                replies.list[index] = reply.clone();
            }
        }
    }
    let text = canned::render(&replies).map_err(Refused::bad)?;
    let mut diagnostics = Vec::new();
    let again = canned::parse(Path::new(FILE), &text, &mut diagnostics);
    let (errors, warnings): (Vec<_>, Vec<_>) = diagnostics.iter().partition(|d| d.is_error());
    if !errors.is_empty() {
        // A form's problems without the file's positions, which mean nothing in a form.
        return Err(Refused {
            status: StatusCode::BAD_REQUEST,
            problems: errors.iter().map(|d| d.message.clone()).collect(),
        });
    }
    if again != replies {
        return Err(Refused::bad(
            "This text cannot be written to the file so that it reads back unchanged.",
        ));
    }
    Ok((text, warnings.iter().map(|d| d.message.clone()).collect()))
}

/// Writes `text` to `path` through a temporary file in the same folder renamed over it: the
/// file is always whole, the old version or the new.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let folder = path.parent().unwrap_or(Path::new("."));
    let temporary = folder.join(format!(".{FILE}.{:016x}.tmp", rand::random::<u64>()));
    let written = (|| {
        let mut file = std::fs::File::create_new(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}
