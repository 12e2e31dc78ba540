//! The CPD-hour calendar's jobs.
//!
//! - [`Sync`] (`calendar.sync`, every hour on the hour): reads the current content's calendar
//!   and schedules what its sessions need ([`crate::programme::calendar::Calendar::plan`]):
//!   each announcement at its offset before the start, and the follow-up at the end. Keys
//!   carry the session's id and start (`announce:{id}@{start}:{offset}`), so scheduling again
//!   is a no-op, and a moved session is a new occasion.
//! - [`Announce`] (`calendar.announce` and `calendar.followup`): one page of the session's
//!   audience ([`PAGE`] teachers, by id), each told in their own conversation
//!   ([`Conversations::deliver`], occasion = the job's key, so nobody is told twice even if a
//!   job runs again); a continuation job (`{key}:after:{last id}`) takes the next page, so no
//!   run outlives its lease. Teachers who said "Can't make it" are not announced the session
//!   again. A session removed from the calendar, moved, falling in a holiday or marked held
//!   is skipped with the reason.
//!
//! Announcements are teacher-facing: never in the night. Their deadline is the session's
//! start, so one due at night waits for the morning if the morning comes before the session,
//! and is skipped otherwise (a "1 hour before" at 07:00 for an 08:30 session goes at 08:00; for
//! a 07:30 session it is not sent). A follow-up found at night waits for the morning too.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::info;

use super::{BoxFuture, Handler, Series};
use crate::conversation::Conversations;
use crate::conversation::programme::Delivery;
use crate::programme::Message;
use crate::programme::calendar::{Announcement, Moment, Offset, parse_duration};
use crate::schedule::{Outcome, Policy, Recurrence};
use crate::store::{Job, NewJob, from_millis, millis};

/// The hourly look at the calendar.
pub const SYNC: &str = "calendar.sync";
/// An announcement before a session (and its continuations).
pub const ANNOUNCE: &str = "calendar.announce";
/// The follow-up after a session (and its continuations).
pub const FOLLOWUP: &str = "calendar.followup";
/// Teachers told per job run.
pub const PAGE: i64 = 2_000;
/// How late a follow-up may still go after the session's end.
pub const FOLLOWUP_GRACE: Duration = Duration::days(2);

/// What an announcement or follow-up job carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// The session's id.
    pub session: String,
    /// Its start when the job was planned (epoch ms): a session that moved since is skipped.
    pub starts: i64,
    /// The announcement's offset (`2d`); absent for a follow-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<String>,
    /// The occasion its messages carry (the first job's key).
    pub occasion: String,
    /// Teachers with an id above this are still to be told.
    #[serde(default)]
    pub after: i64,
}

/// The hourly series: schedules the calendar's jobs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sync;

fn hourly(hour: u32) -> Recurrence {
    Recurrence::Daily {
        at: NaiveTime::from_hms_opt(hour % 24, 0, 0).unwrap_or_default(),
    }
}

impl Handler for Sync {
    fn kind(&self) -> &'static str {
        SYNC
    }

    fn policy(&self, job: &Job) -> Policy {
        // `calendar.sync:07` comes back daily at 07:00; 24 of them make an hourly look.
        let hour = job
            .key
            .split(['@', ':'])
            .nth(1)
            .and_then(|h| h.parse().ok())
            .unwrap_or(0);
        Policy::new(Duration::minutes(59)).recurring(hourly(hour))
    }

    fn run<'a>(&'a self, cx: &'a Conversations, _job: &'a Job) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let content = cx.content().get();
            let tz = content.helpdesk.timezone;
            let now = cx.clock().now();
            let mut new = 0;
            for planned in content.programme.calendar.plan(now, tz) {
                let payload = Payload {
                    session: planned.session.clone(),
                    starts: millis(planned.starts_at),
                    offset: planned.offset.map(|o| o.to_string()),
                    occasion: planned.key.clone(),
                    after: 0,
                };
                let payload = serde_json::to_string(&payload).unwrap_or_default();
                let kind = if planned.offset.is_some() {
                    ANNOUNCE
                } else {
                    FOLLOWUP
                };
                let job = NewJob {
                    kind,
                    key: &planned.key,
                    payload: &payload,
                    due_at: planned.due_at,
                };
                match cx.store().schedule_job(&job, now).await {
                    Ok(Some(_)) => new += 1,
                    Ok(None) => {}
                    Err(err) => return Outcome::Retry(err.to_string()),
                }
            }
            if new > 0 {
                info!(jobs = new, "calendar jobs scheduled");
            }
            Outcome::Done
        })
    }

    fn series(&self) -> Vec<Series> {
        (0..24)
            .map(|hour| Series {
                key: format!("{SYNC}:{hour:02}"),
                payload: "{}".to_string(),
                recurrence: hourly(hour),
            })
            .collect()
    }
}

/// Announcements before a session, or its follow-up after it.
#[derive(Clone, Copy, Debug)]
pub struct Announce {
    moment: Moment,
    page: i64,
}

impl Announce {
    /// The announcements' handler.
    #[must_use]
    pub fn before() -> Announce {
        Announce {
            moment: Moment::Before,
            page: PAGE,
        }
    }

    /// The follow-ups' handler.
    #[must_use]
    pub fn after() -> Announce {
        Announce {
            moment: Moment::After,
            page: PAGE,
        }
    }

    /// The same, telling `page` teachers per run (tests use small pages).
    #[must_use]
    pub fn paged(mut self, page: i64) -> Announce {
        self.page = page.max(1);
        self
    }
}

fn payload(job: &Job) -> Option<Payload> {
    serde_json::from_str(&job.payload).ok()
}

impl Handler for Announce {
    fn kind(&self) -> &'static str {
        match self.moment {
            Moment::Before => ANNOUNCE,
            Moment::After => FOLLOWUP,
        }
    }

    fn policy(&self, job: &Job) -> Policy {
        let Some(p) = payload(job) else {
            return Policy::new(Duration::hours(1)).teacher_facing();
        };
        let starts: DateTime<Utc> = from_millis(p.starts);
        match self.moment {
            Moment::Before => {
                let offset = p
                    .offset
                    .as_deref()
                    .and_then(parse_duration)
                    .unwrap_or(Duration::hours(1));
                Policy::new(offset).teacher_facing().until(starts)
            }
            Moment::After => Policy::new(FOLLOWUP_GRACE).teacher_facing(),
        }
    }

    fn run<'a>(&'a self, cx: &'a Conversations, job: &'a Job) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let Some(p) = payload(job) else {
                return Outcome::Skip("unreadable payload".to_string());
            };
            let content = cx.content().get();
            let tz = content.helpdesk.timezone;
            let Some(session) = content.programme.calendar.get(&p.session) else {
                return Outcome::Skip(format!(
                    "session {} is no longer in the calendar",
                    p.session
                ));
            };
            if millis(session.starts_at(tz)) != p.starts {
                return Outcome::Skip(format!("session {} moved", p.session));
            }
            if let Some(name) = &session.suppressed_by {
                return Outcome::Skip(format!("session {} falls in {name}", p.session));
            }
            if session.held {
                return Outcome::Skip(format!("session {} is marked held", p.session));
            }
            if let Some(offset) = &p.offset
                && parse_duration(offset).is_some_and(|o| !session.offsets.contains(&Offset(o)))
            {
                return Outcome::Skip(format!(
                    "session {} is no longer announced {offset} before",
                    p.session
                ));
            }
            let store = cx.store();
            let declined = match self.moment {
                Moment::Before => match store.rsvp_declined(&session.id).await {
                    Ok(declined) => declined,
                    Err(err) => return Outcome::Retry(err.to_string()),
                },
                Moment::After => std::collections::HashSet::new(),
            };
            let page = match store
                .segment_page(&session.audience, p.after, self.page)
                .await
            {
                Ok(page) => page,
                Err(err) => return Outcome::Retry(err.to_string()),
            };
            let message = Message::Announcement(Announcement::of(
                session,
                self.moment,
                p.occasion.clone(),
                tz,
            ));
            let deliveries: Vec<Delivery> = page
                .iter()
                .filter(|r| !declined.contains(&r.teacher_id))
                .map(|r| Delivery {
                    to: r.clone(),
                    occasion: p.occasion.clone(),
                    message: message.clone(),
                })
                .collect();
            let told = match cx.deliver(&deliveries).await {
                Ok(told) => told,
                Err(err) => return Outcome::Retry(err.to_string()),
            };
            let last = page.last().map(|r| r.teacher_id);
            if let Some(last) = last
                && i64::try_from(page.len()).unwrap_or(i64::MAX) >= self.page
            {
                let key = format!("{}:after:{last}", p.occasion);
                let next = Payload {
                    after: last,
                    ..p.clone()
                };
                let next = serde_json::to_string(&next).unwrap_or_default();
                let job = NewJob {
                    kind: self.kind(),
                    key: &key,
                    payload: &next,
                    due_at: cx.clock().now(),
                };
                if let Err(err) = store.schedule_job(&job, cx.clock().now()).await {
                    return Outcome::Retry(err.to_string());
                }
            }
            info!(
                job.key = %job.key,
                told,
                declined = page.len() - deliveries.len(),
                "calendar occasion delivered"
            );
            Outcome::Done
        })
    }
}
