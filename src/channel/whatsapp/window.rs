//! WhatsApp's 24-hour customer-service window, as decisions. Pure.
//!
//! A teacher's message opens (or refreshes) the window for 24 hours; outside it only an
//! approved template may be sent (platform facts §2.7). We stop a few minutes early: the time
//! we record is when we processed the message, a little after the teacher sent it, and a
//! message refused with 131047 costs a round trip and a status.

use chrono::{DateTime, Duration, Utc};

/// How long a window stays open after the teacher's last message.
pub const WINDOW: Duration = Duration::hours(24);
/// How much earlier than Meta we treat the window as closed.
pub const MARGIN: Duration = Duration::minutes(5);

/// Whether a normal message may be sent now to a teacher who last wrote at `last_inbound`.
#[must_use]
pub fn is_open(last_inbound: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_inbound.is_some_and(|at| now < at + WINDOW - MARGIN)
}

/// Whether a re-engagement template may go out now, the last one having gone at
/// `last_template`: at most one per `every`.
#[must_use]
pub fn template_due(
    last_template: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    every: Duration,
) -> bool {
    last_template.is_none_or(|at| now >= at + every)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default() + Duration::hours(hours)
    }

    #[test]
    fn the_window_closes_a_little_before_24_hours() {
        assert!(!is_open(None, at(0)));
        assert!(is_open(Some(at(0)), at(23)));
        assert!(!is_open(Some(at(0)), at(24)));
        assert!(!is_open(Some(at(0)), at(24) - Duration::minutes(4)));
        assert!(is_open(Some(at(0)), at(24) - Duration::minutes(6)));
    }

    #[test]
    fn one_template_per_period() {
        let every = Duration::hours(72);
        assert!(template_due(None, at(0), every));
        assert!(!template_due(Some(at(0)), at(71), every));
        assert!(template_due(Some(at(0)), at(72), every));
    }
}
