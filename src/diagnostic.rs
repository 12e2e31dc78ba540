//! Problems found in content files, located by file, line and column. Pure.
//!
//! Loaders collect every problem they find instead of stopping at the first, so that a content
//! author fixes everything in one pass; `baithak check` prints them and `serve` refuses to start
//! (or, on reload, keeps the last good content) when any is an error.

use std::fmt;
use std::path::PathBuf;

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Content works, but something is missing or will look wrong (a missing translation).
    Warning,
    /// Content cannot be used (a dangling reference, a syntax error).
    Error,
}

/// One problem in one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as given to the loader.
    pub file: PathBuf,
    /// 1-based line; 0 when unknown.
    pub line: u64,
    /// 1-based column in characters; 0 when unknown.
    pub column: u64,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in one line.
    pub message: String,
}

impl Diagnostic {
    /// An error at a position.
    #[must_use]
    pub fn error(file: impl Into<PathBuf>, pos: Pos, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(file, pos, Severity::Error, message)
    }

    /// A warning at a position.
    #[must_use]
    pub fn warning(file: impl Into<PathBuf>, pos: Pos, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(file, pos, Severity::Warning, message)
    }

    fn new(
        file: impl Into<PathBuf>,
        pos: Pos,
        severity: Severity,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            file: file.into(),
            line: pos.line,
            column: pos.column,
            severity,
            message: message.into(),
        }
    }

    /// Whether this problem makes the content unusable.
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(
            f,
            "{}:{}:{}: {level}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// A 1-based line and column in a source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

impl Pos {
    /// A position.
    #[must_use]
    pub const fn new(line: u64, column: u64) -> Pos {
        Pos { line, column }
    }
}

/// Sorts diagnostics by file and position and tells whether any is an error.
pub fn sort(diagnostics: &mut [Diagnostic]) -> bool {
    diagnostics.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    diagnostics.iter().any(Diagnostic::is_error)
}

/// Reading a YAML content file with positions: what every small content file (canned replies,
/// the helpdesk settings, the programme's files) does the same way.
pub mod yaml {
    use std::collections::HashMap;
    use std::path::Path;

    use super::{Diagnostic, Pos};

    /// The position of a parser location.
    #[must_use]
    pub fn pos(location: &serde_saphyr::Location) -> Pos {
        Pos::new(location.line(), location.column())
    }

    /// Whether the file says nothing (blank lines, comments and `---` only): an optional file
    /// left empty is not an error.
    #[must_use]
    pub fn is_blank(source: &str) -> bool {
        !source.lines().any(|l| {
            let l = l.trim();
            !l.is_empty() && !l.starts_with('#') && l != "---"
        })
    }

    /// Reads `source` as `T`; a syntax or shape error becomes one diagnostic at its position
    /// (`YAML: …`, without the parser's own copy of the position) and `None`.
    pub fn read<T: serde::de::DeserializeOwned>(
        path: &Path,
        source: &str,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<T> {
        match serde_saphyr::from_str(source) {
            Ok(value) => Some(value),
            Err(err) => {
                let at = err.location().map_or(Pos::new(1, 1), |l| pos(&l));
                let message = err.without_snippet().to_string();
                let first = message.lines().next().unwrap_or("invalid");
                let first = first.split(" at line ").next().unwrap_or(first);
                diagnostics.push(Diagnostic::error(path, at, format!("YAML: {first}")));
                None
            }
        }
    }

    /// Records the first use of an id on `line`; for a second use, the message saying where
    /// the first was (`{what} id `x` is used twice (first on line 4)`).
    ///
    /// # Errors
    ///
    /// The message, when the id was seen before.
    pub fn first_use(
        seen: &mut HashMap<String, u64>,
        what: &str,
        id: &str,
        line: u64,
    ) -> Result<(), String> {
        match seen.get(id) {
            Some(first) => Err(format!(
                "{what} id `{id}` is used twice (first on line {first})"
            )),
            None => {
                seen.insert(id.to_string(), line);
                Ok(())
            }
        }
    }
}
