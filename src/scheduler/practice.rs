//! Practice sharing's jobs.
//!
//! - [`Week`] (`practice.week`, Mondays 10:00 programme time, teacher-facing): the practice
//!   of the week of every district ([`Store::week_picks`](crate::store::Store::week_picks)),
//!   marked featured for the ISO week, and one [`Send`] job per district. Running twice in a
//!   week picks the same practices again (the week's featured one wins) and schedules nothing
//!   new (job keys are unique).
//! - [`Send`] (`practice.send`): one page of the district's teachers (the segment
//!   `district=…`: no one who said STOP, unreachable or not onboarded), minus the author,
//!   each told once (occasion `practice.week.{id}`); a full page schedules the next page as a
//!   job of its own, so no job outlives its lease.
//! - [`Endorsed`] ([`ENDORSED_KIND`]): the author's daily digest of a practice's endorsements
//!   (once per count), and the milestone message once the author's practices reach
//!   [`MILESTONE`] endorsements (once ever: its occasion has no count).

use chrono::{Duration, NaiveTime, Weekday};
use serde::{Deserialize, Serialize};
use tracing::info;

use super::{BoxFuture, Handler, Series};
use crate::conversation::Conversations;
use crate::conversation::programme::Delivery;
use crate::programme::Message;
use crate::programme::practice::{Card, ENDORSED_KIND, MILESTONE, Notice, excerpt, week_key};
use crate::programme::segment::Segment;
use crate::schedule::{Outcome, Policy, Recurrence};
use crate::store::{Job, NewJob};

/// The weekly pick's kind, and its series' key.
pub const WEEK_KIND: &str = "practice.week";
/// The kind of a page of deliveries.
pub const SEND_KIND: &str = "practice.send";
/// Teachers per [`Send`] job.
pub const PAGE: i64 = 500;

/// Mondays at 10:00.
fn weekly() -> Recurrence {
    Recurrence::Weekly {
        on: Weekday::Mon,
        at: NaiveTime::from_hms_opt(10, 0, 0).unwrap_or_default(),
    }
}

/// The weekly pick.
#[derive(Clone, Copy, Debug, Default)]
pub struct Week;

/// A page of one district's practice of the week.
#[derive(Clone, Copy, Debug, Default)]
pub struct Send;

/// The author's endorsement digest.
#[derive(Clone, Copy, Debug, Default)]
pub struct Endorsed;

/// [`Send`]'s payload.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// The practice.
    pub practice: i64,
    /// The week it is featured in.
    pub week: String,
    /// Teachers with an id above this are next.
    pub after: i64,
}

/// [`Endorsed`]'s payload.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Digest {
    practice: i64,
}

async fn schedule_page(cx: &Conversations, page: &Page) -> Result<(), String> {
    let key = format!("{SEND_KIND}:{}:{}:{}", page.practice, page.week, page.after);
    let payload = serde_json::to_string(page).map_err(|e| e.to_string())?;
    let now = cx.clock().now();
    let job = NewJob {
        kind: SEND_KIND,
        key: &key,
        payload: &payload,
        due_at: now,
    };
    cx.store()
        .schedule_job(&job, now)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

impl Handler for Week {
    fn kind(&self) -> &'static str {
        WEEK_KIND
    }

    fn policy(&self, _job: &Job) -> Policy {
        Policy::new(Duration::hours(12))
            .teacher_facing()
            .recurring(weekly())
    }

    fn run<'a>(&'a self, cx: &'a Conversations, _job: &'a Job) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let now = cx.clock().now();
            let tz = cx.content().get().helpdesk.timezone;
            let week = week_key(now, tz);
            let picks = match cx.store().week_picks(&week).await {
                Ok(picks) => picks,
                Err(err) => return Outcome::Retry(err.to_string()),
            };
            for pick in &picks {
                if let Err(err) = cx.store().feature_practice(pick.id, &week, now).await {
                    return Outcome::Retry(err.to_string());
                }
                let page = Page {
                    practice: pick.id,
                    week: week.clone(),
                    after: 0,
                };
                if let Err(err) = schedule_page(cx, &page).await {
                    return Outcome::Retry(err);
                }
            }
            info!(districts = picks.len(), %week, "practices of the week picked");
            Outcome::Done
        })
    }

    fn series(&self) -> Vec<Series> {
        vec![Series {
            key: WEEK_KIND.to_string(),
            payload: "{}".to_string(),
            recurrence: weekly(),
        }]
    }
}

impl Handler for Send {
    fn kind(&self) -> &'static str {
        SEND_KIND
    }

    fn policy(&self, _job: &Job) -> Policy {
        Policy::new(Duration::days(2)).teacher_facing()
    }

    fn run<'a>(&'a self, cx: &'a Conversations, job: &'a Job) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let Ok(page) = serde_json::from_str::<Page>(&job.payload) else {
                return Outcome::Skip("unreadable payload".into());
            };
            let store = cx.store();
            let practice = match store.practice(page.practice).await {
                Ok(Some(p)) if p.status == "approved" => p,
                Ok(_) => return Outcome::Skip("practice no longer approved".into()),
                Err(err) => return Outcome::Retry(err.to_string()),
            };
            let segment = Segment {
                districts: vec![practice.district.trim().to_string()],
                ..Segment::default()
            };
            let teachers = match store.segment_page(&segment, page.after, PAGE).await {
                Ok(t) => t,
                Err(err) => return Outcome::Retry(err.to_string()),
            };
            let card = Card {
                id: practice.id,
                week: page.week.clone(),
                district: practice.district.trim().to_string(),
                name: practice.first_name(),
                school: practice.school.clone(),
                class: practice.class.clone(),
                what: practice.what.clone(),
                result: practice.result.clone(),
            };
            let occasion = format!("practice.week.{}", practice.id);
            let deliveries: Vec<Delivery> = teachers
                .iter()
                .filter(|t| t.teacher_id != practice.teacher_id)
                .map(|t| Delivery {
                    to: t.clone(),
                    occasion: occasion.clone(),
                    message: Message::Practice(Notice::Week { card: card.clone() }),
                })
                .collect();
            if let Err(err) = cx.deliver(&deliveries).await {
                return Outcome::Retry(err.to_string());
            }
            if i64::try_from(teachers.len()).unwrap_or(0) == PAGE
                && let Some(last) = teachers.last()
            {
                let next = Page {
                    after: last.teacher_id,
                    ..page
                };
                if let Err(err) = schedule_page(cx, &next).await {
                    return Outcome::Retry(err);
                }
            }
            info!(
                practice = practice.id,
                teachers = deliveries.len(),
                "practice of the week page sent"
            );
            Outcome::Done
        })
    }
}

impl Handler for Endorsed {
    fn kind(&self) -> &'static str {
        ENDORSED_KIND
    }

    fn policy(&self, _job: &Job) -> Policy {
        Policy::new(Duration::days(3)).teacher_facing()
    }

    fn run<'a>(&'a self, cx: &'a Conversations, job: &'a Job) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let Ok(digest) = serde_json::from_str::<Digest>(&job.payload) else {
                return Outcome::Skip("unreadable payload".into());
            };
            let store = cx.store();
            let (practice, count) = match (
                store.practice(digest.practice).await,
                store.endorsement_count(digest.practice).await,
            ) {
                (Ok(Some(p)), Ok(Some(c))) => (p, c),
                (Ok(_), Ok(_)) => return Outcome::Skip("no such practice".into()),
                (Err(err), _) | (_, Err(err)) => return Outcome::Retry(err.to_string()),
            };
            if count.practice == 0 {
                return Outcome::Skip("no endorsement".into());
            }
            let author = match store.teacher_recipient(count.author).await {
                Ok(Some(r)) => r,
                Ok(None) => return Outcome::Skip("no author".into()),
                Err(err) => return Outcome::Retry(err.to_string()),
            };
            let mut deliveries = vec![Delivery {
                to: author.clone(),
                occasion: format!("practice.endorsed.{}.{}", practice.id, count.practice),
                message: Message::Practice(Notice::Endorsed {
                    practice: practice.id,
                    what: excerpt(&practice.what),
                    count: count.practice,
                    total: count.total,
                }),
            }];
            if count.total >= MILESTONE {
                deliveries.push(Delivery {
                    to: author,
                    occasion: format!("practice.milestone.{MILESTONE}"),
                    message: Message::Practice(Notice::Milestone { total: count.total }),
                });
            }
            match cx.deliver(&deliveries).await {
                Ok(_) => Outcome::Done,
                Err(err) => Outcome::Retry(err.to_string()),
            }
        })
    }
}
