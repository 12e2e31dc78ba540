//! How long Baithak keeps what teachers write (`programme/privacy.yaml`). Pure.
//!
//! `transcript_days`: transcript lines older than this are deleted by the nightly housekeeping
//! (`scheduler::housekeeping`), and "/mydata" tells the teacher the period. The file is
//! optional; without it the period is [`DEFAULT_TRANSCRIPT_DAYS`].

use std::path::Path;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::diagnostic::Diagnostic;

/// The file in `programme/` that holds the settings.
pub const FILE: &str = "privacy.yaml";

/// The transcript's retention when the file does not say.
pub const DEFAULT_TRANSCRIPT_DAYS: i64 = 365;

/// The longest retention that may be set (ten years).
const MAX_DAYS: i64 = 3650;

/// Retention settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Transcript lines are kept this many days.
    pub transcript_days: i64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            transcript_days: DEFAULT_TRANSCRIPT_DAYS,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    transcript_days: Option<Spanned<i64>>,
}

/// Parses `privacy.yaml`; every problem goes to `diagnostics` with its line and column, and a
/// field with a problem keeps its default.
pub fn parse(path: &Path, source: &str, diagnostics: &mut Vec<Diagnostic>) -> Settings {
    let mut settings = Settings::default();
    if crate::diagnostic::yaml::is_blank(source) {
        return settings;
    }
    let Some(raw) = crate::diagnostic::yaml::read::<Raw>(path, source, diagnostics) else {
        return settings;
    };
    if let Some(days) = raw.transcript_days {
        if (1..=MAX_DAYS).contains(&days.value) {
            settings.transcript_days = days.value;
        } else {
            diagnostics.push(Diagnostic::error(
                path,
                crate::diagnostic::yaml::pos(&days.referenced),
                format!(
                    "transcript_days: {} is not a number of days from 1 to {MAX_DAYS}",
                    days.value
                ),
            ));
        }
    }
    settings
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{DEFAULT_TRANSCRIPT_DAYS, parse};

    #[test]
    fn the_period_is_read_and_checked_with_its_position() {
        let mut problems = Vec::new();
        let path = Path::new("programme/privacy.yaml");
        assert_eq!(
            parse(path, "transcript_days: 90\n", &mut problems).transcript_days,
            90
        );
        assert!(problems.is_empty());
        let settings = parse(path, "# note\ntranscript_days: 0\n", &mut problems);
        assert_eq!(settings.transcript_days, DEFAULT_TRANSCRIPT_DAYS);
        assert_eq!(problems.len(), 1);
        assert_eq!((problems[0].line, problems[0].column), (2, 18));
        let mut problems = Vec::new();
        parse(path, "transcript_dayz: 30\n", &mut problems);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(
            parse(path, "", &mut problems).transcript_days,
            DEFAULT_TRANSCRIPT_DAYS
        );
    }
}
