//! The `verify` job: a teacher wrote "/verify CODE" (or "verify CODE", "tasdeeq CODE"); the
//! pure step cannot read the store, so it asks for this job (`programme::Effect::Verify`,
//! written in the same commit, due at once). The job looks the code up and says the answer in
//! the teacher's conversation (`programme::Message::VerifyResult`), delivered once per
//! request, even to a teacher who said STOP (they asked). Answering is never urgent enough
//! to retry for long: found more than an hour late it is skipped.

use chrono::Duration;
use serde::Deserialize;

use super::{BoxFuture, Handler};
use crate::certificate::award::VerifyResult;
use crate::conversation::Conversations;
use crate::conversation::programme::Delivery;
use crate::programme::Message;
use crate::schedule::{Outcome, Policy};
use crate::store::{Job, StoreError};

/// Its kind.
pub const KIND: &str = "verify";

/// Answers "/verify CODE".
#[derive(Clone, Copy, Debug, Default)]
pub struct Verify;

#[derive(Deserialize)]
struct Payload {
    teacher: i64,
    code: String,
}

impl Handler for Verify {
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
            let typed: String = payload.code.chars().take(40).collect();
            let result = match store.certificate_record(&typed).await {
                Ok(record) => {
                    let content = cx.content().get();
                    let date = record
                        .issued_at
                        .with_timezone(&content.helpdesk.timezone)
                        .date_naive();
                    VerifyResult {
                        request: job.key.clone(),
                        code: record.code,
                        valid: true,
                        name: record.name,
                        module: Some(record.module),
                        issued: Some(date),
                    }
                }
                Err(StoreError::NotFound) => VerifyResult {
                    request: job.key.clone(),
                    code: typed,
                    valid: false,
                    name: None,
                    module: None,
                    issued: None,
                },
                Err(err) => return Outcome::Retry(err.to_string()),
            };
            let delivery = Delivery {
                to,
                occasion: job.key.clone(),
                message: Message::VerifyResult(result),
            };
            match cx.deliver(&[delivery]).await {
                Ok(_) => Outcome::Done,
                Err(err) => Outcome::Retry(err.to_string()),
            }
        })
    }
}
