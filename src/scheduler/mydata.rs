//! The `mydata` job: a teacher wrote "/mydata" (or "my data", "mera data", …); the pure step
//! cannot read the store, so it asks for this job (a `programme::Effect::ScheduleJob` written
//! in the same commit, due at once; `helpdesk::privacy`). The job reads what Baithak keeps
//! about the teacher (`Store::my_data`) and says it in their conversation
//! (`programme::Message::MyData`), once per request, even to a teacher who said STOP (they
//! asked). Found more than an hour late it is skipped. Only ids are logged.

use chrono::Duration;
use serde::Deserialize;

use super::{BoxFuture, Handler};
use crate::conversation::Conversations;
use crate::conversation::programme::Delivery;
use crate::programme::Message;
use crate::schedule::{Outcome, Policy};
use crate::store::{Job, StoreError};

/// Its kind.
pub const KIND: &str = crate::helpdesk::privacy::MY_DATA_JOB;

/// Answers "/mydata".
#[derive(Clone, Copy, Debug, Default)]
pub struct MyData;

#[derive(Deserialize)]
struct Payload {
    teacher: i64,
}

impl Handler for MyData {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn policy(&self, _job: &Job) -> Policy {
        Policy::new(Duration::hours(1))
    }

    fn run<'a>(&'a self, cx: &'a Conversations, job: &'a Job) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let Ok(payload) = serde_json::from_str::<Payload>(&job.payload) else {
                return Outcome::Skip("unreadable payload".to_string());
            };
            let store = cx.store();
            let to = match store.teacher_recipient(payload.teacher).await {
                Ok(Some(to)) => to,
                Ok(None) => return Outcome::Skip("no such teacher".to_string()),
                Err(err) => return Outcome::Retry(err.to_string()),
            };
            let mut data = match store.my_data(payload.teacher).await {
                Ok(data) => data,
                Err(StoreError::NotFound) => return Outcome::Skip("teacher forgotten".into()),
                Err(err) => return Outcome::Retry(err.to_string()),
            };
            data.request.clone_from(&job.key);
            let delivery = Delivery {
                to,
                occasion: job.key.clone(),
                message: Message::MyData(Box::new(data)),
            };
            match cx.deliver(&[delivery]).await {
                Ok(_) => Outcome::Done,
                Err(err) => Outcome::Retry(err.to_string()),
            }
        })
    }
}
