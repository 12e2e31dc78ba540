//! The housekeeping job: every day at 03:00 programme time, deletes the console sessions that
//! have ended and the failed sign-ins too old to throttle anyone, the transcript lines older
//! than the retention period (`programme/privacy.yaml`, `transcript_days`), and the address
//! and words still on forgotten teachers' outbox rows once sent (or a day old). Nothing teachers see, so it
//! runs at night; found more than 12 hours late (after downtime) it waits for the next night.

use chrono::{Duration, NaiveTime};
use tracing::info;

use super::{BoxFuture, Handler, Series};
use crate::conversation::Conversations;
use crate::schedule::{Outcome, Policy, Recurrence};
use crate::staff::SessionRules;
use crate::store::Job;

/// Its kind, and the key of its series.
pub const KIND: &str = "housekeeping";
/// Failed sign-ins are kept this long (throttling looks back 15 minutes; the rest is there for
/// someone looking into a burst of them).
pub const KEEP_FAILURES: Duration = Duration::days(1);

/// The daily clean-up.
#[derive(Clone, Copy, Debug, Default)]
pub struct Housekeeping;

/// Every day at 03:00.
fn daily() -> Recurrence {
    Recurrence::Daily {
        at: NaiveTime::from_hms_opt(3, 0, 0).unwrap_or_default(),
    }
}

impl Handler for Housekeeping {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn policy(&self, _job: &Job) -> Policy {
        Policy::new(Duration::hours(12)).recurring(daily())
    }

    fn run<'a>(&'a self, cx: &'a Conversations, _job: &'a Job) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let now = cx.clock().now();
            let idle = SessionRules::default().idle;
            match cx
                .store()
                .purge_console(now, now - idle, now - KEEP_FAILURES)
                .await
            {
                Ok((sessions, failures)) => {
                    info!(
                        sessions,
                        failures, "console sessions and sign-in failures purged"
                    );
                }
                Err(err) => return Outcome::Retry(err.to_string()),
            }
            let days = cx.content().get().programme.privacy.transcript_days;
            let store = cx.store();
            match store.purge_transcript(now - Duration::days(days)).await {
                Ok(lines) => info!(lines, days, "transcript lines past their retention deleted"),
                Err(err) => return Outcome::Retry(err.to_string()),
            }
            match store.tidy_forgotten(now - Duration::days(1)).await {
                Ok(rows) => info!(rows, "forgotten teachers' outbox rows tidied"),
                Err(err) => return Outcome::Retry(err.to_string()),
            }
            Outcome::Done
        })
    }

    fn series(&self) -> Vec<Series> {
        vec![Series {
            key: KIND.to_string(),
            payload: "{}".to_string(),
            recurrence: daily(),
        }]
    }
}
