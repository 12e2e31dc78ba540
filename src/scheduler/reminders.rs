//! The reminders job: every day at `send_at` (`programme/reminders.yaml`, programme time) it
//! reads the teachers a reminder may be due for, a page at a time ([`PAGE`]), asks the pure
//! policy ([`crate::programme::reminders::due`]) which one each gets, and queues them in their
//! conversations together with their `reminders` rows (`store::reminders`), so a run done
//! twice nudges nobody twice. The rest of a large population goes to a continuation job due
//! at once (a lease lasts 5 minutes).
//!
//! Teachers see what it does: it never runs in the quiet hours, and after downtime a late run
//! still happens the same day until the night starts, not later (a continuation job carries
//! that evening as its deadline). The time of day is read when the runner starts.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use tracing::info;

use super::{BoxFuture, Handler, Series};
use crate::conversation::Conversations;
use crate::programme::Message;
use crate::programme::reminders::{self, Settings};
use crate::schedule::{Outcome, Policy, QuietHours, Recurrence};
use crate::store::{Job, NewJob, QueuedReminder, ReminderWindow, from_millis, millis};

/// Its kind, and the key of its daily series.
pub const KIND: &str = "reminders";
/// Teachers read per job; the rest go to a continuation job.
pub const PAGE: i64 = 2_000;

/// What a job of this kind carries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Payload {
    /// Teachers up to this id were handled by an earlier page of the same day.
    #[serde(default)]
    after: i64,
    /// For a continuation: when the day's run stops being worth doing (the night).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    until: Option<i64>,
}

/// The daily reminders.
#[derive(Clone, Copy, Debug)]
pub struct Reminders {
    send_at: NaiveTime,
    grace: Duration,
}

impl Reminders {
    /// The job with the settings of `conversations`' content as it is now.
    #[must_use]
    pub fn new(conversations: &Conversations) -> Reminders {
        Reminders::with(&conversations.content().get().programme.reminders)
    }

    /// The job with `settings`.
    #[must_use]
    pub fn with(settings: &Settings) -> Reminders {
        Reminders {
            send_at: settings.send_at,
            grace: settings.late_run_window(&QuietHours::default()),
        }
    }

    fn daily(&self) -> Recurrence {
        Recurrence::Daily { at: self.send_at }
    }
}

/// When the night starts on `day`, programme time.
fn nightfall(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let start = QuietHours::default().start;
    tz.from_local_datetime(&day.and_time(start))
        .earliest()
        .map_or_else(
            || Utc.from_utc_datetime(&day.and_time(start)),
            |at| at.with_timezone(&Utc),
        )
}

impl Handler for Reminders {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn policy(&self, job: &Job) -> Policy {
        let payload: Payload = serde_json::from_str(&job.payload).unwrap_or_default();
        match payload.until {
            Some(until) => Policy::new(self.grace.max(Duration::hours(1)))
                .teacher_facing()
                .until(from_millis(until)),
            None => Policy::new(self.grace)
                .teacher_facing()
                .recurring(self.daily()),
        }
    }

    fn run<'a>(&'a self, cx: &'a Conversations, job: &'a Job) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let payload: Payload = serde_json::from_str(&job.payload).unwrap_or_default();
            let now = cx.clock().now();
            let content = cx.content().get();
            let settings = content.programme.reminders;
            let tz = content.helpdesk.timezone;
            let day = now.with_timezone(&tz).date_naive();
            let window = ReminderWindow {
                idle_before: now - settings.lesson_nudge_after,
                failed_before: now - settings.quiz_retry_after,
                reminded_after: now - settings.at_most_every,
            };
            let store = cx.store();
            let page = match store
                .reminder_candidates(&window, payload.after, PAGE)
                .await
            {
                Ok(page) => page,
                Err(err) => return Outcome::Retry(err.to_string()),
            };
            let queued: Vec<QueuedReminder> = page
                .iter()
                .filter_map(|candidate| {
                    let reminder = reminders::due(&settings, &candidate.facts, now)?;
                    let occasion = reminder.occasion(day);
                    let message = Message::Reminder(reminder.clone());
                    let inbound = crate::channel::InboundMessage::Programme(message);
                    Some(QueuedReminder {
                        external_id: format!("{occasion}:{}", candidate.to.teacher_id),
                        payload: serde_json::to_string(&inbound).ok()?,
                        what: reminder.what,
                        module: reminder.module,
                        to: candidate.to.clone(),
                    })
                })
                .collect();
            let new = match store.queue_reminders(&queued, now).await {
                Ok(new) => new,
                Err(err) => return Outcome::Retry(err.to_string()),
            };
            if new > 0 {
                cx.kick();
            }
            let last = page.last().map(|c| c.to.teacher_id);
            let more = i64::try_from(page.len()).unwrap_or(i64::MAX) >= PAGE;
            if let (true, Some(last)) = (more, last) {
                let until = payload.until.unwrap_or_else(|| millis(nightfall(day, tz)));
                let next = Payload {
                    after: last,
                    until: Some(until),
                };
                let key = format!("{KIND}:{day}:after:{last}");
                let payload = serde_json::to_string(&next).unwrap_or_default();
                let job = NewJob {
                    kind: KIND,
                    key: &key,
                    payload: &payload,
                    due_at: now,
                };
                if let Err(err) = store.schedule_job(&job, now).await {
                    // The reminders queued stand; the page runs again and finds them queued.
                    return Outcome::Retry(err.to_string());
                }
            }
            info!(
                candidates = page.len(),
                queued = new,
                after = payload.after,
                more,
                "reminders queued"
            );
            Outcome::Done
        })
    }

    fn series(&self) -> Vec<Series> {
        vec![Series {
            key: KIND.to_string(),
            payload: "{}".to_string(),
            recurrence: self.daily(),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(payload: &str) -> Job {
        Job {
            id: 1,
            kind: KIND.into(),
            key: KIND.into(),
            payload: payload.into(),
            due_at: Utc::now(),
            status: crate::store::JobStatus::Running,
            attempts: 1,
            locked_by: None,
            locked_until: None,
            last_error: None,
            created_at: Utc::now(),
            finished_at: None,
        }
    }

    #[test]
    fn the_daily_run_is_teacher_facing_and_may_be_late_until_the_night() {
        let handler = Reminders::with(&Settings::default());
        let policy = handler.policy(&job("{}"));
        assert!(policy.teacher_facing);
        assert_eq!(policy.grace, Duration::minutes(10 * 60 + 30));
        assert_eq!(policy.recurrence, Some(handler.daily()));
        let until = Utc::now();
        let next = handler.policy(&job(&format!(
            "{{\"after\":2000,\"until\":{}}}",
            millis(until)
        )));
        assert_eq!(
            (next.recurrence, next.deadline.map(millis)),
            (None, Some(millis(until)))
        );
    }

    #[test]
    fn the_night_starts_at_nine_in_karachi() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(
            nightfall(day, chrono_tz::Asia::Karachi),
            Utc.with_ymd_and_hms(2026, 11, 23, 16, 0, 0).unwrap()
        );
    }
}
