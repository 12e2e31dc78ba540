//! Headteachers' and mentors' jobs (`programme::school` schedules them from a conversation).
//!
//! - [`Summary`] (`school_summary`): counts the asker's school (or a mentor's district,
//!   [`Scope::of`]) with `store::school` and delivers the figures in the asker's conversation
//!   ([`Message::SchoolSummary`], occasion = the job's id, so a job run twice tells once). The
//!   teacher asked for it: it runs at any hour and reaches a teacher who said STOP. A request
//!   found more than an hour late (after downtime) is dropped: the teacher has moved on.
//! - [`Checkin`] (`cycle_checkin`): three days after a teacher reached "Do" in the practice
//!   cycle, a short "how did it go?" ([`Message::Say`], so STOP silences it); never at night.

use chrono::Duration;
use serde::Deserialize;

use super::{BoxFuture, Handler};
use crate::conversation::Conversations;
use crate::conversation::programme::Delivery;
use crate::programme::school::{CHECKIN_KIND, CHECKIN_TEXT, SUMMARY_KIND, Scope};
use crate::programme::{Message, Say};
use crate::schedule::{Outcome, Policy};
use crate::store::Job;

/// What both jobs carry.
#[derive(Debug, Deserialize)]
struct Payload {
    /// The teacher who asked (or whom the check-in is for).
    teacher: i64,
}

/// The participation summary asked for.
#[derive(Clone, Copy, Debug, Default)]
pub struct Summary;

/// The practice cycle's check-in.
#[derive(Clone, Copy, Debug, Default)]
pub struct Checkin;

impl Handler for Summary {
    fn kind(&self) -> &'static str {
        SUMMARY_KIND
    }

    fn policy(&self, _job: &Job) -> Policy {
        Policy::new(Duration::hours(1))
    }

    fn run<'a>(&'a self, cx: &'a Conversations, job: &'a Job) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let Ok(payload) = serde_json::from_str::<Payload>(&job.payload) else {
                return Outcome::Skip("unreadable payload".to_string());
            };
            let asker = match cx.store().summary_asker(payload.teacher).await {
                Ok(Some(asker)) => asker,
                Ok(None) => return Outcome::Skip("no such teacher".to_string()),
                Err(err) => return Outcome::Retry(err.to_string()),
            };
            let scope = Scope::of(
                asker.role.as_deref(),
                asker.district.as_deref(),
                asker.school.as_deref(),
            );
            let summary = match cx.store().school_summary(&scope, cx.clock().now()).await {
                Ok(summary) => summary,
                Err(err) => return Outcome::Retry(err.to_string()),
            };
            let delivery = Delivery {
                to: asker.recipient,
                occasion: format!("{SUMMARY_KIND}:{}", job.id),
                message: Message::SchoolSummary(summary),
            };
            match cx.deliver(&[delivery]).await {
                Ok(_) => Outcome::Done,
                Err(err) => Outcome::Retry(err.to_string()),
            }
        })
    }
}

impl Handler for Checkin {
    fn kind(&self) -> &'static str {
        CHECKIN_KIND
    }

    fn policy(&self, _job: &Job) -> Policy {
        Policy::new(Duration::days(1)).teacher_facing()
    }

    fn run<'a>(&'a self, cx: &'a Conversations, job: &'a Job) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let Ok(payload) = serde_json::from_str::<Payload>(&job.payload) else {
                return Outcome::Skip("unreadable payload".to_string());
            };
            let asker = match cx.store().summary_asker(payload.teacher).await {
                Ok(Some(asker)) => asker,
                Ok(None) => return Outcome::Skip("no such teacher".to_string()),
                Err(err) => return Outcome::Retry(err.to_string()),
            };
            let texts = {
                let content = cx.content().get();
                content
                    .dialogues
                    .texts
                    .get(CHECKIN_TEXT)
                    .map(|text| {
                        text.versions()
                            .map(|(lang, t)| (lang.code().to_string(), t.to_string()))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let delivery = Delivery {
                to: asker.recipient,
                occasion: format!("{CHECKIN_KIND}:{}", job.id),
                message: Message::Say(Say {
                    tag: CHECKIN_KIND.to_string(),
                    texts,
                    always: false,
                }),
            };
            match cx.deliver(&[delivery]).await {
                Ok(_) => Outcome::Done,
                Err(err) => Outcome::Retry(err.to_string()),
            }
        })
    }
}
