//! Audiences: which teachers a broadcast, a CPD-hour announcement or a practice of the week is
//! for. A [`Segment`] is a set of conditions, each on one profile dimension (district, school,
//! role, grade, subject, language, channel) or on learning progress; a teacher belongs when
//! every condition holds, and a condition holds when any of its values does. Pure: parsing and
//! checking here, the SQL in `store::segments`.
//!
//! Written by staff as `key=value,value` terms (`district=Kasur,Lahore role=teacher
//! progress=completed:feedback`), on the command line, in the console and in
//! `programme/calendar.yaml`. Text values compare without case and surrounding spaces.
//! Teachers who said STOP (profile field `notices` = `off`) and teachers who cannot be reached
//! are never in a segment.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a teacher's learning progress must be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Progress {
    /// Has not started any lesson.
    NotStarted,
    /// Has started at least one lesson.
    Started,
    /// Started this module and has not finished its lesson.
    InProgress(String),
    /// Finished this module's lesson.
    Completed(String),
    /// Has not finished this module's lesson (never started, or left half-way).
    NotCompleted(String),
    /// Holds at least one certificate.
    Certified,
}

impl Progress {
    fn parse(value: &str) -> Result<Progress, SegmentError> {
        let (word, module) = match value.split_once(':') {
            Some((w, m)) => (w.trim(), Some(m.trim().to_string())),
            None => (value.trim(), None),
        };
        let need = |m: Option<String>| match m {
            Some(m) if !m.is_empty() => Ok(m),
            _ => Err(SegmentError::BadValue {
                key: "progress".into(),
                value: value.to_string(),
                expected: format!("`{word}:<module id>`"),
            }),
        };
        match word.to_lowercase().as_str() {
            "not_started" | "new" => Ok(Progress::NotStarted),
            "started" | "active" => Ok(Progress::Started),
            "certified" => Ok(Progress::Certified),
            "in_progress" => need(module).map(Progress::InProgress),
            "completed" => need(module).map(Progress::Completed),
            "not_completed" => need(module).map(Progress::NotCompleted),
            _ => Err(SegmentError::BadValue {
                key: "progress".into(),
                value: value.to_string(),
                expected: "not_started, started, certified, in_progress:<module>, \
                           completed:<module> or not_completed:<module>"
                    .into(),
            }),
        }
    }

    /// The module it names, if any (for checking it exists).
    #[must_use]
    pub fn module(&self) -> Option<&str> {
        match self {
            Progress::InProgress(m) | Progress::Completed(m) | Progress::NotCompleted(m) => Some(m),
            _ => None,
        }
    }
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Progress::NotStarted => f.write_str("not_started"),
            Progress::Started => f.write_str("started"),
            Progress::Certified => f.write_str("certified"),
            Progress::InProgress(m) => write!(f, "in_progress:{m}"),
            Progress::Completed(m) => write!(f, "completed:{m}"),
            Progress::NotCompleted(m) => write!(f, "not_completed:{m}"),
        }
    }
}

/// An audience. Empty lists mean "any"; the default segment is every teacher who wants
/// programme messages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Districts (as teachers wrote them; compared without case).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub districts: Vec<String>,
    /// Schools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schools: Vec<String>,
    /// teacher, headteacher, mentor.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Grades taught (0 is pre-primary).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grades: Vec<u8>,
    /// Subjects taught (a teacher whose subjects mention it, or who teaches all subjects).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    /// Chat languages: en, ur, bn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
    /// telegram, whatsapp, web.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// Learning progress (every condition must hold).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub progress: Vec<Progress>,
}

/// The keys a term may use, in the order a segment is written back.
pub const KEYS: [&str; 8] = [
    "district", "school", "role", "grade", "subject", "language", "channel", "progress",
];

/// Roles teachers choose at onboarding.
pub const ROLES: [&str; 3] = ["teacher", "headteacher", "mentor"];
/// Chat languages.
pub const LANGUAGES: [&str; 3] = ["en", "ur", "bn"];
/// Channels.
pub const CHANNELS: [&str; 3] = ["telegram", "whatsapp", "web"];

/// Why a segment could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    /// A term without `=`.
    #[error("`{0}` is not a `key=value` term (keys: {keys})", keys = KEYS.join(", "))]
    NotATerm(String),
    /// A key that is not a dimension.
    #[error("unknown segment key `{0}` (keys: {keys})", keys = KEYS.join(", "))]
    UnknownKey(String),
    /// A key with no value.
    #[error("segment key `{0}` has no value")]
    Empty(String),
    /// A value the key does not take.
    #[error("`{value}` is not a valid {key}: expected {expected}")]
    BadValue {
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// What it takes.
        expected: String,
    },
}

impl Segment {
    /// Every teacher who wants programme messages.
    #[must_use]
    pub fn everyone() -> Segment {
        Segment::default()
    }

    /// Whether no condition narrows it.
    #[must_use]
    pub fn is_everyone(&self) -> bool {
        *self == Segment::default()
    }

    /// Reads terms such as `district=Kasur,Lahore` and `grade=3-5`; the same key twice adds
    /// values. An empty list of terms is everyone.
    ///
    /// # Errors
    ///
    /// The first [`SegmentError`] found.
    pub fn parse<S: AsRef<str>>(terms: &[S]) -> Result<Segment, SegmentError> {
        let mut segment = Segment::default();
        for term in terms.iter().flat_map(|t| t.as_ref().split_whitespace()) {
            let (key, values) = term
                .split_once('=')
                .ok_or_else(|| SegmentError::NotATerm(term.to_string()))?;
            segment.add(key, values)?;
        }
        Ok(segment)
    }

    /// Adds `values` (comma-separated) to the condition on `key`.
    ///
    /// # Errors
    ///
    /// [`SegmentError`] for an unknown key or a value it does not take.
    pub fn add(&mut self, key: &str, values: &str) -> Result<(), SegmentError> {
        let key = key.trim().to_lowercase();
        let values: Vec<String> = values
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if values.is_empty() {
            return Err(SegmentError::Empty(key));
        }
        let bad = |value: &str, expected: &str| SegmentError::BadValue {
            key: key.clone(),
            value: value.to_string(),
            expected: expected.to_string(),
        };
        let one_of = |value: &str, allowed: &[&str]| -> Result<String, SegmentError> {
            let lower = value.to_lowercase();
            if allowed.contains(&lower.as_str()) {
                Ok(lower)
            } else {
                Err(bad(value, &allowed.join(", ")))
            }
        };
        match key.as_str() {
            "district" | "districts" => self.districts.extend(values),
            "school" | "schools" => self.schools.extend(values),
            "subject" | "subjects" => self.subjects.extend(values),
            "role" | "roles" => {
                for v in &values {
                    self.roles.push(one_of(v, &ROLES)?);
                }
            }
            "language" | "languages" => {
                for v in &values {
                    self.languages.push(one_of(v, &LANGUAGES)?);
                }
            }
            "channel" | "channels" => {
                for v in &values {
                    self.channels.push(one_of(v, &CHANNELS)?);
                }
            }
            "grade" | "grades" => {
                for v in &values {
                    let grade = |g: &str| {
                        g.trim()
                            .parse::<u8>()
                            .ok()
                            .filter(|g| *g <= 12)
                            .ok_or_else(|| bad(v, "grades 0 to 12, or a range such as 3-5"))
                    };
                    match v.split_once('-') {
                        Some((from, to)) => {
                            let (from, to) = (grade(from)?, grade(to)?);
                            if from > to {
                                return Err(bad(v, "a range from low to high, such as 3-5"));
                            }
                            self.grades.extend(from..=to);
                        }
                        None => self.grades.push(grade(v)?),
                    }
                }
            }
            "progress" => {
                for v in &values {
                    self.progress.push(Progress::parse(v)?);
                }
            }
            _ => return Err(SegmentError::UnknownKey(key)),
        }
        self.normalise();
        Ok(())
    }

    fn normalise(&mut self) {
        for list in [
            &mut self.districts,
            &mut self.schools,
            &mut self.subjects,
            &mut self.roles,
            &mut self.languages,
            &mut self.channels,
        ] {
            dedup_folded(list);
        }
        self.grades.sort_unstable();
        self.grades.dedup();
        let mut seen = Vec::new();
        self.progress.retain(|p| {
            let new = !seen.contains(p);
            if new {
                seen.push(p.clone());
            }
            new
        });
    }

    /// The modules its progress conditions name (to check they exist).
    pub fn modules(&self) -> impl Iterator<Item = &str> {
        self.progress.iter().filter_map(Progress::module)
    }
}

/// Removes values equal but for case, keeping the first spelling.
fn dedup_folded(list: &mut Vec<String>) {
    let mut seen: Vec<String> = Vec::new();
    list.retain(|v| {
        let key = v.to_lowercase();
        let new = !seen.contains(&key);
        if new {
            seen.push(key);
        }
        new
    });
}

impl fmt::Display for Segment {
    /// The terms it parses back from; `everyone` for the empty segment.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_everyone() {
            return f.write_str("everyone");
        }
        let mut terms: Vec<String> = Vec::new();
        let mut term = |key: &str, values: Vec<String>| {
            if !values.is_empty() {
                terms.push(format!("{key}={}", values.join(",")));
            }
        };
        term("district", self.districts.clone());
        term("school", self.schools.clone());
        term("role", self.roles.clone());
        term(
            "grade",
            self.grades.iter().map(ToString::to_string).collect(),
        );
        term("subject", self.subjects.clone());
        term("language", self.languages.clone());
        term("channel", self.channels.clone());
        term(
            "progress",
            self.progress.iter().map(ToString::to_string).collect(),
        );
        f.write_str(&terms.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_combine_and_print_back() {
        let s = Segment::parse(&[
            "district=Kasur,lahore",
            "grade=3-5 role=Teacher",
            "progress=completed:feedback district=KASUR",
        ])
        .unwrap();
        assert_eq!(s.districts, ["Kasur", "lahore"]);
        assert_eq!(s.grades, [3, 4, 5]);
        assert_eq!(s.roles, ["teacher"]);
        assert_eq!(s.progress, [Progress::Completed("feedback".into())]);
        assert_eq!(
            s.to_string(),
            "district=Kasur,lahore role=teacher grade=3,4,5 progress=completed:feedback"
        );
        assert_eq!(Segment::parse(&[s.to_string()]).unwrap(), s);
        assert_eq!(Segment::parse::<&str>(&[]).unwrap().to_string(), "everyone");
    }

    #[test]
    fn bad_terms_say_what_is_expected() {
        let err = |t: &str| Segment::parse(&[t]).unwrap_err().to_string();
        assert_eq!(
            err("colour=blue"),
            "unknown segment key `colour` (keys: district, school, role, grade, subject, language, channel, progress)"
        );
        assert!(err("Kasur").contains("not a `key=value` term"));
        assert_eq!(
            err("role=principal"),
            "`principal` is not a valid role: expected teacher, headteacher, mentor"
        );
        assert!(err("grade=13").contains("grades 0 to 12"));
        assert!(err("grade=5-3").contains("from low to high"));
        assert!(err("progress=completed").contains("`completed:<module id>`"));
        assert_eq!(err("district="), "segment key `district` has no value");
    }
}
