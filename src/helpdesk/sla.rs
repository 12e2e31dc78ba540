//! Service levels: which tickets have waited too long. Pure.
//!
//! A ticket nobody claimed for `remind_unclaimed` of office time reminds its pool (once); a
//! ticket nobody answered for `escalate_unanswered` of office time goes to the lead (once).
//! Both clocks run in office hours only (see [`Config::office_time`]), so nobody is reminded at
//! night about a question that arrived at night.

use chrono::{DateTime, Duration, Utc};

use super::Config;

/// What the SLA needs to know about a ticket still in the experts' hands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// The ticket's number.
    pub code: String,
    /// `open` or `claimed` (others are not waiting).
    pub status: String,
    /// The pool it was routed to.
    pub pool: Option<String>,
    /// When it opened (or reopened).
    pub since: DateTime<Utc>,
    /// Whether its pool was reminded already.
    pub reminded: bool,
    /// Whether it went to the lead already.
    pub escalated: bool,
}

/// A message the SLA asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Nudge {
    /// Remind the pool in the ticket's topic.
    Remind {
        /// The ticket.
        code: String,
        /// The text, with the pool's experts mentioned.
        text: String,
    },
    /// Tell the lead, in the topic and in the group's main thread.
    Escalate {
        /// The ticket.
        code: String,
        /// The text, with the lead mentioned.
        text: String,
    },
}

/// The nudges due at `now`, oldest tickets first.
#[must_use]
pub fn due(config: &Config, tickets: &[Waiting], now: DateTime<Utc>) -> Vec<Nudge> {
    let mut nudges = Vec::new();
    for ticket in tickets {
        let waited = config.office_time(ticket.since, now);
        if !ticket.escalated
            && matches!(ticket.status.as_str(), "open" | "claimed")
            && waited >= config.escalate_unanswered
        {
            let mut text = format!(
                "🚨 {} has had no answer for {} of office hours ({}).",
                ticket.code,
                words(waited),
                if ticket.status == "claimed" {
                    "claimed, not answered"
                } else {
                    "nobody claimed it"
                }
            );
            if !config.lead.is_empty() {
                text.push_str(&format!(" Lead: {}", config.lead.join(" ")));
            }
            nudges.push(Nudge::Escalate {
                code: ticket.code.clone(),
                text,
            });
        } else if !ticket.reminded && ticket.status == "open" && waited >= config.remind_unclaimed {
            let pool = ticket
                .pool
                .as_deref()
                .and_then(|name| config.pools.iter().find(|p| p.name == name));
            let mut text = format!(
                "⏰ {} has waited {} of office hours and nobody has claimed it.",
                ticket.code,
                words(waited)
            );
            if let Some(pool) = pool {
                text.push_str(&format!(" Pool {}", pool.name));
                if !pool.mention.is_empty() {
                    text.push_str(&format!(": {}", pool.mention.join(" ")));
                }
                text.push('.');
            }
            text.push_str(" /claim to take it.");
            nudges.push(Nudge::Remind {
                code: ticket.code.clone(),
                text,
            });
        }
    }
    nudges
}

/// `1 h 5 min`, `45 min`, `8 h`.
fn words(waited: Duration) -> String {
    let minutes = waited.num_minutes();
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::helpdesk::config::Pool;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn config() -> Config {
        Config {
            remind_unclaimed: Duration::minutes(60),
            escalate_unanswered: Duration::hours(8),
            lead: vec!["@the_lead".into()],
            pools: vec![Pool {
                name: "classroom".into(),
                topics: Vec::new(),
                languages: Vec::new(),
                mention: vec!["@zainab_k".into(), "@farhan_t".into()],
            }],
            ..Config::default()
        }
    }

    fn waiting(status: &str, since: &str) -> Waiting {
        Waiting {
            code: "HD-ABC234".into(),
            status: status.into(),
            pool: Some("classroom".into()),
            since: at(since),
            reminded: false,
            escalated: false,
        }
    }

    #[test]
    fn an_unclaimed_ticket_reminds_its_pool_after_an_hour_of_office_time() {
        let config = config();
        // Opened Monday 10:00 Karachi (05:00 UTC).
        let ticket = waiting("open", "2026-11-23T05:00:00Z");
        assert!(
            due(
                &config,
                std::slice::from_ref(&ticket),
                at("2026-11-23T05:59:00Z")
            )
            .is_empty()
        );
        let nudges = due(
            &config,
            std::slice::from_ref(&ticket),
            at("2026-11-23T06:05:00Z"),
        );
        let [Nudge::Remind { code, text }] = nudges.as_slice() else {
            panic!("{nudges:?}");
        };
        assert_eq!(code, "HD-ABC234");
        assert!(text.contains("@zainab_k @farhan_t"), "{text}");
        assert!(text.contains("1 h 5 min"), "{text}");
        // Reminded once only; a claimed ticket is not reminded.
        let reminded = Waiting {
            reminded: true,
            ..ticket
        };
        assert!(due(&config, &[reminded], at("2026-11-23T07:00:00Z")).is_empty());
        let claimed = waiting("claimed", "2026-11-23T05:00:00Z");
        assert!(due(&config, &[claimed], at("2026-11-23T07:00:00Z")).is_empty());
    }

    #[test]
    fn the_night_does_not_count() {
        let config = config();
        // Opened Monday 16:30 Karachi: 30 minutes that day, the rest from Tuesday 09:00.
        let ticket = waiting("open", "2026-11-23T11:30:00Z");
        assert!(
            due(
                &config,
                std::slice::from_ref(&ticket),
                at("2026-11-24T02:00:00Z")
            )
            .is_empty()
        );
        assert!(
            due(
                &config,
                std::slice::from_ref(&ticket),
                at("2026-11-24T04:29:00Z")
            )
            .is_empty()
        );
        assert_eq!(due(&config, &[ticket], at("2026-11-24T04:31:00Z")).len(), 1);
    }

    #[test]
    fn an_unanswered_ticket_goes_to_the_lead_after_a_working_day() {
        let config = config();
        let claimed = waiting("claimed", "2026-11-23T04:00:00Z"); // Monday 09:00
        assert!(
            due(
                &config,
                std::slice::from_ref(&claimed),
                at("2026-11-23T11:59:00Z")
            )
            .is_empty()
        );
        let nudges = due(
            &config,
            std::slice::from_ref(&claimed),
            at("2026-11-23T12:00:00Z"),
        );
        let [Nudge::Escalate { text, .. }] = nudges.as_slice() else {
            panic!("{nudges:?}");
        };
        assert!(text.contains("@the_lead"), "{text}");
        assert!(text.contains("claimed, not answered"), "{text}");
        let escalated = Waiting {
            escalated: true,
            ..claimed
        };
        assert!(due(&config, &[escalated], at("2026-11-24T12:00:00Z")).is_empty());
        let answered = waiting("answered", "2026-11-23T04:00:00Z");
        assert!(due(&config, &[answered], at("2026-11-25T12:00:00Z")).is_empty());
    }
}
