//! `helpdesk.yaml`: the programme's time zone, office hours, promised response time, SLA and
//! expert pools. Pure: the caller reads the file.

use std::collections::HashSet;
use std::path::Path;

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::diagnostic::{Diagnostic, Pos};
use crate::language::Lang;

/// The helpdesk settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The programme's time zone: office hours and reports are in it.
    pub timezone: Tz,
    /// Days the experts work.
    pub days: Vec<Weekday>,
    /// When they start, local time.
    pub open: NaiveTime,
    /// When they stop, local time.
    pub close: NaiveTime,
    /// The answer time promised inside office hours, in hours.
    pub response_hours: u32,
    /// A ticket nobody claimed for this long reminds its pool.
    pub remind_unclaimed: Duration,
    /// A ticket unanswered for this long goes to the lead.
    pub escalate_unanswered: Duration,
    /// Who is told about escalations (Telegram @usernames, mentioned in the expert group).
    pub lead: Vec<String>,
    /// Expert pools, first match wins.
    pub pools: Vec<Pool>,
}

/// A group of experts answering some topics in some languages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pool {
    /// Its name, shown in the expert group.
    pub name: String,
    /// Topic ids it answers; empty means every topic.
    pub topics: Vec<String>,
    /// Languages it answers; empty means every language.
    pub languages: Vec<Lang>,
    /// Its experts' Telegram @usernames, mentioned when a ticket waits too long.
    pub mention: Vec<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            timezone: chrono_tz::Asia::Karachi,
            days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
            ],
            open: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
            close: NaiveTime::from_hms_opt(17, 0, 0).unwrap_or_default(),
            response_hours: 24,
            remind_unclaimed: Duration::minutes(60),
            escalate_unanswered: Duration::hours(8),
            lead: Vec::new(),
            pools: Vec::new(),
        }
    }
}

/// When a teacher can expect an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Inside office hours: within about this many hours.
    Within(u32),
    /// Outside office hours: after the helpdesk opens at this local time.
    Opens(DateTime<Tz>),
}

impl Config {
    /// Whether the experts are working at `now`.
    #[must_use]
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&self.timezone);
        self.days.contains(&local.weekday())
            && local.time() >= self.open
            && local.time() < self.close
    }

    /// What to promise a teacher who asks at `now`.
    #[must_use]
    pub fn expect(&self, now: DateTime<Utc>) -> Expect {
        if self.is_open(now) {
            return Expect::Within(self.response_hours);
        }
        let local = now.with_timezone(&self.timezone);
        // The next opening: today if it is before opening time on a working day, else the
        // next working day. A week always holds one unless no day is configured.
        for ahead in 0..8 {
            let day = local.date_naive() + Duration::days(ahead);
            if !self.days.contains(&day.weekday()) {
                continue;
            }
            if ahead == 0 && local.time() >= self.open {
                continue;
            }
            if let Some(opens) = self
                .timezone
                .from_local_datetime(&day.and_time(self.open))
                .earliest()
            {
                return Expect::Opens(opens);
            }
        }
        Expect::Within(self.response_hours)
    }

    /// The working days and hours in words, e.g. `Mon–Sat 09:00–17:00 (Asia/Karachi)`.
    #[must_use]
    pub fn schedule(&self) -> String {
        let days: Vec<String> = self.days.iter().map(ToString::to_string).collect();
        let days = match (days.first(), days.last()) {
            (Some(first), Some(last)) if days.len() > 2 => format!("{first}–{last}"),
            _ => days.join(", "),
        };
        format!(
            "{days} {}–{} ({})",
            self.open.format("%H:%M"),
            self.close.format("%H:%M"),
            self.timezone.name()
        )
    }

    /// How much office time lies between `from` and `to`: the SLA clocks run only while the
    /// experts work, so a question asked on Saturday evening is not late on Sunday.
    #[must_use]
    pub fn office_time(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        if to <= from {
            return Duration::zero();
        }
        let from = from.with_timezone(&self.timezone);
        let to = to.with_timezone(&self.timezone);
        let mut total = Duration::zero();
        let mut day = from.date_naive();
        // A year of days at most: anything older is long overdue whatever the exact figure.
        for _ in 0..366 {
            if day > to.date_naive() {
                break;
            }
            if self.days.contains(&day.weekday()) {
                let local = |t: NaiveTime| {
                    self.timezone
                        .from_local_datetime(&day.and_time(t))
                        .earliest()
                };
                if let (Some(open), Some(close)) = (local(self.open), local(self.close)) {
                    let start = open.max(from);
                    let end = close.min(to);
                    if end > start {
                        total += end - start;
                    }
                }
            }
            day += Duration::days(1);
        }
        total
    }

    /// The pool for a topic and language: the first that takes both, else the first pool.
    #[must_use]
    pub fn pool(&self, topic: Option<&str>, lang: Lang) -> Option<&Pool> {
        self.pools
            .iter()
            .find(|p| {
                (p.topics.is_empty() || topic.is_some_and(|t| p.topics.iter().any(|x| x == t)))
                    && (p.languages.is_empty() || p.languages.contains(&lang))
            })
            .or_else(|| self.pools.first())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    timezone: Spanned<String>,
    office_hours: RawHours,
    response_hours: u32,
    sla: RawSla,
    #[serde(default)]
    pools: Vec<RawPool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHours {
    days: Vec<Spanned<String>>,
    open: Spanned<String>,
    close: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSla {
    remind_unclaimed_minutes: u32,
    escalate_unanswered_hours: u32,
    #[serde(default)]
    lead: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    name: String,
    #[serde(default)]
    topics: Vec<Spanned<String>>,
    #[serde(default)]
    languages: Vec<Spanned<String>>,
    #[serde(default)]
    mention: Vec<Spanned<String>>,
}

/// Parses `helpdesk.yaml`; problems go to `diagnostics` (the default is returned with them).
pub fn parse(
    path: &Path,
    source: &str,
    topics: &HashSet<String>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Config {
    let Some(raw) = crate::diagnostic::yaml::read::<Raw>(path, source, diagnostics) else {
        return Config::default();
    };
    let pos = crate::diagnostic::yaml::pos;
    let mut error =
        |at: Pos, message: String| diagnostics.push(Diagnostic::error(path, at, message));
    let mut config = Config::default();
    match raw.timezone.value.parse::<Tz>() {
        Ok(tz) => config.timezone = tz,
        Err(_) => error(
            pos(&raw.timezone.referenced),
            format!(
                "unknown time zone `{}` (an IANA name such as Asia/Karachi or Asia/Dhaka)",
                raw.timezone.value
            ),
        ),
    }
    let mut days = Vec::new();
    for day in &raw.office_hours.days {
        match day.value.parse::<Weekday>() {
            Ok(d) => days.push(d),
            Err(_) => error(
                pos(&day.referenced),
                format!(
                    "unknown day `{}` (mon, tue, wed, thu, fri, sat, sun)",
                    day.value
                ),
            ),
        }
    }
    config.days = days;
    for (field, value, target) in [
        ("open", &raw.office_hours.open, &mut config.open),
        ("close", &raw.office_hours.close, &mut config.close),
    ] {
        match NaiveTime::parse_from_str(&value.value, "%H:%M") {
            Ok(t) => *target = t,
            Err(_) => error(
                pos(&value.referenced),
                format!(
                    "office_hours.{field}: `{}` is not a time like 09:00",
                    value.value
                ),
            ),
        }
    }
    if config.open >= config.close {
        error(
            pos(&raw.office_hours.close.referenced),
            "office_hours: close must be after open".into(),
        );
    }
    config.response_hours = raw.response_hours;
    config.remind_unclaimed = Duration::minutes(i64::from(raw.sla.remind_unclaimed_minutes));
    config.escalate_unanswered = Duration::hours(i64::from(raw.sla.escalate_unanswered_hours));
    let handles = |names: Vec<Spanned<String>>, error: &mut dyn FnMut(Pos, String)| {
        let mut kept = Vec::new();
        for name in names {
            if is_username(&name.value) {
                kept.push(name.value);
            } else {
                error(
                    pos(&name.referenced),
                    format!(
                        "`{}` is not a Telegram @username (5–32 letters, digits or _)",
                        name.value
                    ),
                );
            }
        }
        kept
    };
    config.lead = handles(raw.sla.lead, &mut error);
    for pool in raw.pools {
        let mut p = Pool {
            name: pool.name,
            topics: Vec::new(),
            languages: Vec::new(),
            mention: handles(pool.mention, &mut error),
        };
        for topic in pool.topics {
            if topics.contains(&topic.value) {
                p.topics.push(topic.value);
            } else {
                error(
                    pos(&topic.referenced),
                    format!("unknown topic `{}`", topic.value),
                );
            }
        }
        for lang in pool.languages {
            match Lang::parse(&lang.value) {
                Some(l) => p.languages.push(l),
                None => error(
                    pos(&lang.referenced),
                    format!("unknown language `{}` (en, ur, bn)", lang.value),
                ),
            }
        }
        config.pools.push(p);
    }
    config
}

/// `@name` with Telegram's rules for usernames.
fn is_username(handle: &str) -> bool {
    handle.strip_prefix('@').is_some_and(|name| {
        (5..=32).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn office_hours_are_in_the_programme_time_zone() {
        let config = Config::default(); // Asia/Karachi (UTC+5), Mon–Sat 09:00–17:00
        // Monday 10:00 in Karachi is 05:00 UTC.
        assert!(config.is_open(at("2026-11-23T05:00:00Z")));
        assert_eq!(
            config.expect(at("2026-11-23T05:00:00Z")),
            Expect::Within(24)
        );
        // Monday 20:00 in Karachi: opens Tuesday 09:00.
        let Expect::Opens(opens) = config.expect(at("2026-11-23T15:00:00Z")) else {
            panic!("closed in the evening");
        };
        assert_eq!(opens.format("%a %H:%M").to_string(), "Tue 09:00");
        // Saturday 18:00: Sunday is off, opens Monday.
        let Expect::Opens(opens) = config.expect(at("2026-11-28T13:00:00Z")) else {
            panic!("closed on Saturday evening");
        };
        assert_eq!(opens.format("%a %H:%M").to_string(), "Mon 09:00");
        // Monday 07:00: opens the same morning.
        let Expect::Opens(opens) = config.expect(at("2026-11-23T02:00:00Z")) else {
            panic!("closed early in the morning");
        };
        assert_eq!(opens.format("%a %d %H:%M").to_string(), "Mon 23 09:00");
    }

    #[test]
    fn office_time_counts_only_working_hours() {
        let config = Config::default(); // Karachi, Mon–Sat 09:00–17:00
        // Monday 10:00 → Monday 11:30: all office time.
        assert_eq!(
            config.office_time(at("2026-11-23T05:00:00Z"), at("2026-11-23T06:30:00Z")),
            Duration::minutes(90)
        );
        // Monday 16:30 → Tuesday 09:45: half an hour on Monday, 45 minutes on Tuesday.
        assert_eq!(
            config.office_time(at("2026-11-23T11:30:00Z"), at("2026-11-24T04:45:00Z")),
            Duration::minutes(75)
        );
        // Saturday 20:00 → Monday 09:00: none (Sunday is off).
        assert_eq!(
            config.office_time(at("2026-11-28T15:00:00Z"), at("2026-11-30T04:00:00Z")),
            Duration::zero()
        );
        // A whole week: six working days of eight hours.
        assert_eq!(
            config.office_time(at("2026-11-23T00:00:00Z"), at("2026-11-30T00:00:00Z")),
            Duration::hours(48)
        );
    }

    #[test]
    fn mentions_must_be_telegram_usernames() {
        let topics = HashSet::new();
        let mut diagnostics = Vec::new();
        let source = "timezone: Asia/Dhaka\noffice_hours: {days: [sun], open: \"10:00\", close: \"16:00\"}\nresponse_hours: 24\nsla: {remind_unclaimed_minutes: 30, escalate_unanswered_hours: 4, lead: [\"@programme_lead\"]}\npools:\n  - name: all\n    mention: [\"@ok_handle\", \"not a handle\"]\n";
        let config = parse(
            Path::new("helpdesk.yaml"),
            source,
            &topics,
            &mut diagnostics,
        );
        assert_eq!(config.lead, ["@programme_lead"]);
        assert_eq!(config.pools[0].mention, ["@ok_handle"]);
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        let shown = diagnostics[0].to_string();
        assert!(shown.contains("helpdesk.yaml:7:29"), "{shown}");
        assert!(shown.contains("not a handle"), "{shown}");
    }
}
