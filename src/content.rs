//! Reads the content root from disk and hands it to the pure loaders.
//!
//! The content root holds `dialogues/` and `knowledge-base/`. This module owns the file
//! walking (sorted, so diagnostics and module order are stable) and the hot reload: a
//! [`ContentHandle`] serves the last good [`Content`] and swaps in a new one only when it loads
//! without errors.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::diagnostic::{Diagnostic, Pos};
use crate::dialogue::{self, Dialogues, SourceFile};
use crate::knowledge::{self, KnowledgeBase};

/// Everything loaded from the content root.
#[derive(Debug)]
pub struct Content {
    /// The dialogue trees.
    pub dialogues: Dialogues,
    /// Topic ids of `knowledge-base/topics.yaml`.
    pub topics: HashSet<String>,
    /// The knowledge-base articles and their search index.
    pub knowledge: KnowledgeBase,
    /// Office hours, SLA and expert pools (`helpdesk.yaml`; defaults when absent).
    pub helpdesk: crate::helpdesk::Config,
    /// The experts' canned replies (`canned-replies.yaml`; none when absent).
    pub canned: crate::helpdesk::canned::Replies,
    /// The programme: calendar, pathways, reminders (`programme/*.yaml`).
    pub programme: crate::programme::Programme,
    /// Warnings found while loading (errors prevent a `Content` from existing).
    pub warnings: Vec<Diagnostic>,
}

/// Loads the content root, returning every diagnostic when any is an error.
///
/// # Errors
///
/// All diagnostics, sorted, when at least one is an error (including unreadable files).
pub fn load(root: &Path) -> Result<Content, Vec<Diagnostic>> {
    let mut diagnostics = Vec::new();
    let topics = load_topics(root, &mut diagnostics);
    let dir = root.join("dialogues");
    let system_path = dir.join("_system.yaml");
    let system = read(&system_path, &mut diagnostics).unwrap_or(SourceFile {
        path: system_path,
        source: String::new(),
    });
    let mut trees = Vec::new();
    for path in yaml_files(&dir, &mut diagnostics) {
        if path.file_name().is_some_and(|n| n == "_system.yaml") {
            continue;
        }
        if let Some(file) = read(&path, &mut diagnostics) {
            trees.push(file);
        }
    }
    if trees.is_empty() && diagnostics.is_empty() {
        let message = "no dialogue files found (expected dialogues/*.yaml)";
        diagnostics.push(Diagnostic::error(&dir, Pos::new(0, 0), message));
    }
    let loaded = dialogue::load(&system, &trees, &topics);
    diagnostics.extend(loaded.diagnostics);
    let knowledge = load_knowledge(root, &topics, &mut diagnostics);
    let helpdesk_path = root.join("helpdesk.yaml");
    let helpdesk = if helpdesk_path.is_file() {
        read(&helpdesk_path, &mut diagnostics).map_or_else(crate::helpdesk::Config::default, |f| {
            crate::helpdesk::config::parse(&f.path, &f.source, &topics, &mut diagnostics)
        })
    } else {
        crate::helpdesk::Config::default()
    };
    let canned_path = root.join(crate::helpdesk::canned::FILE);
    let canned = if canned_path.is_file() {
        read(&canned_path, &mut diagnostics).map_or_else(Default::default, |f| {
            crate::helpdesk::canned::parse(&f.path, &f.source, &mut diagnostics)
        })
    } else {
        crate::helpdesk::canned::Replies::default()
    };
    let programme =
        crate::programme::load(root, loaded.dialogues.as_ref(), &topics, &mut diagnostics);
    let failed = crate::diagnostic::sort(&mut diagnostics);
    match loaded.dialogues {
        Some(dialogues) if !failed => Ok(Content {
            dialogues,
            topics,
            knowledge,
            helpdesk,
            canned,
            programme,
            warnings: diagnostics,
        }),
        _ => Err(diagnostics),
    }
}

/// The current content, shared by every task, replaced atomically on reload.
#[derive(Clone, Debug)]
pub struct ContentHandle {
    root: PathBuf,
    current: Arc<RwLock<Arc<Content>>>,
    /// Counts reload attempts: `(installed, refused)`.
    reloads: tokio::sync::watch::Sender<(u64, u64)>,
}

impl ContentHandle {
    /// Wraps loaded content.
    #[must_use]
    pub fn new(root: PathBuf, content: Content) -> ContentHandle {
        ContentHandle {
            root,
            current: Arc::new(RwLock::new(Arc::new(content))),
            reloads: tokio::sync::watch::channel((0, 0)).0,
        }
    }

    /// The content to use now.
    #[must_use]
    pub fn get(&self) -> Arc<Content> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Loads the content root again; keeps the current content when the new one has errors.
    ///
    /// # Errors
    ///
    /// The diagnostics of the broken content, which was not installed.
    pub fn reload(&self) -> Result<(), Vec<Diagnostic>> {
        let fresh = match load(&self.root) {
            Ok(fresh) => fresh,
            Err(diagnostics) => {
                self.reloads.send_modify(|(_, refused)| *refused += 1);
                return Err(diagnostics);
            }
        };
        match self.current.write() {
            Ok(mut guard) => *guard = Arc::new(fresh),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(fresh),
        }
        self.reloads.send_modify(|(installed, _)| *installed += 1);
        Ok(())
    }

    /// Changes after every reload attempt: `(installed, refused)` so far.
    #[must_use]
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<(u64, u64)> {
        self.reloads.subscribe()
    }

    /// The content root.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Watches the content root and reloads when a file changes, until the task is dropped.
    /// Broken content is reported in the log and the last good content stays in use.
    pub async fn watch(self, every: std::time::Duration) {
        let mut seen = fingerprint(&self.root);
        loop {
            tokio::time::sleep(every).await;
            let now = fingerprint(&self.root);
            if now == seen {
                continue;
            }
            seen = now;
            match self.reload() {
                Ok(()) => tracing::info!("content reloaded"),
                Err(diagnostics) => {
                    for d in diagnostics.iter().filter(|d| d.is_error()) {
                        tracing::error!(problem = %d, "content not reloaded; keeping the last good version");
                    }
                }
            }
        }
    }
}

/// Paths, sizes and modification times of every content file: changes when any file does.
fn fingerprint(root: &Path) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
    let mut ignored = Vec::new();
    let mut files = yaml_files(&root.join("dialogues"), &mut ignored);
    files.push(root.join("knowledge-base").join("topics.yaml"));
    files.push(root.join(crate::helpdesk::canned::FILE));
    files
        .into_iter()
        .map(|path| {
            let meta = std::fs::metadata(&path).ok();
            let len = meta.as_ref().map_or(0, std::fs::Metadata::len);
            let modified = meta.and_then(|m| m.modified().ok());
            (path, len, modified)
        })
        .collect()
}

fn load_topics(root: &Path, diagnostics: &mut Vec<Diagnostic>) -> HashSet<String> {
    #[derive(serde::Deserialize)]
    struct Taxonomy {
        areas: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    }
    let path = root.join("knowledge-base").join("topics.yaml");
    let Some(file) = read(&path, diagnostics) else {
        return HashSet::new();
    };
    match serde_saphyr::from_str::<Taxonomy>(&file.source) {
        Ok(t) => t
            .areas
            .into_values()
            .flat_map(|topics| topics.into_keys())
            .collect(),
        Err(err) => {
            let at = err
                .location()
                .map_or(Pos::new(1, 1), |l| Pos::new(l.line(), l.column()));
            let first = err.without_snippet().to_string();
            let message = format!("YAML: {}", first.lines().next().unwrap_or("invalid"));
            diagnostics.push(Diagnostic::error(&path, at, message));
            HashSet::new()
        }
    }
}

/// The articles of `knowledge-base/articles/*.md`, and the labelled questions of
/// `knowledge-base/eval/questions.yaml` checked against them when present.
fn load_knowledge(
    root: &Path,
    topics: &HashSet<String>,
    diagnostics: &mut Vec<Diagnostic>,
) -> KnowledgeBase {
    let dir = root.join("knowledge-base").join("articles");
    let files: Vec<SourceFile> = if dir.is_dir() {
        files_with(&dir, &["md"], diagnostics)
            .iter()
            .filter_map(|path| read(path, diagnostics))
            .collect()
    } else {
        Vec::new()
    };
    let kb = knowledge::load(&files, topics, diagnostics);
    let eval = root
        .join("knowledge-base")
        .join("eval")
        .join("questions.yaml");
    if eval.is_file()
        && let Some(file) = read(&eval, diagnostics)
    {
        knowledge::eval::parse(&file, topics, &kb, diagnostics);
    }
    kb
}

/// The labelled questions of the content root, checked (for `baithak kb eval`).
///
/// # Errors
///
/// Diagnostics when the file is missing or has problems.
pub fn eval_questions(
    root: &Path,
    content: &Content,
) -> Result<Vec<knowledge::eval::Labelled>, Vec<Diagnostic>> {
    let mut diagnostics = Vec::new();
    let path = root
        .join("knowledge-base")
        .join("eval")
        .join("questions.yaml");
    let Some(file) = read(&path, &mut diagnostics) else {
        return Err(diagnostics);
    };
    let questions =
        knowledge::eval::parse(&file, &content.topics, &content.knowledge, &mut diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(diagnostics);
    }
    Ok(questions)
}

fn read(path: &Path, diagnostics: &mut Vec<Diagnostic>) -> Option<SourceFile> {
    match std::fs::read_to_string(path) {
        Ok(source) => Some(SourceFile {
            path: path.to_path_buf(),
            source,
        }),
        Err(err) => {
            diagnostics.push(Diagnostic::error(
                path,
                Pos::new(0, 0),
                format!("cannot read: {err}"),
            ));
            None
        }
    }
}

/// Every `.yaml` file below `dir`, sorted by path.
fn yaml_files(dir: &Path, diagnostics: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    files_with(dir, &["yaml", "yml"], diagnostics)
}

/// Files below `dir` with one of `extensions`, sorted.
fn files_with(dir: &Path, extensions: &[&str], diagnostics: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(entries) => entries,
            Err(err) => {
                diagnostics.push(Diagnostic::error(
                    &d,
                    Pos::new(0, 0),
                    format!("cannot read folder: {err}"),
                ));
                continue;
            }
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}
