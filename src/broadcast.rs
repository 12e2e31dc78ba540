//! Broadcasts by programme staff: a message to a segment of teachers, checked and previewed
//! before anything is written, then fed to the outbox at each channel's broadcast rate by a
//! chain of scheduler jobs.
//!
//! - [`Draft`]: the segment terms and the message in English (required), Urdu and Bangla,
//!   checked; [`preview`] counts who it reaches, per channel; [`start`] creates it (refused
//!   for an empty segment, nothing written).
//! - [`Feeder`]: the scheduler's handler for kind `broadcast`. Each job `broadcast:{id}:{run}`
//!   is one tick: it adds to each channel's allowance the rate times the time since the last
//!   tick (a token bucket holding at most [`CREDIT_SECONDS`] of sending), keeps no more than
//!   [`AHEAD_SECONDS`] of the broadcast waiting in the outbox for a dispatcher (so teachers'
//!   replies are never stuck behind thousands of rows), and then in one transaction moves that many recipients
//!   from `pending` to `queued`, writes their outbox rows and schedules the next tick
//!   [`TICK`] later. Only the job whose run number matches the broadcast's feeds, so one
//!   feeder runs at a time even across instances, a crash re-sends to no one and loses no one.
//! - Pause stops the chain at its next tick; resume starts a new run; cancel ends it.
//!
//! The message goes out in the teacher's language (English when staff gave none), with a
//! footer saying how to stop such messages. Outside WhatsApp's 24-hour window the dispatcher
//! holds the rows behind its re-engagement template, as for any reply.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use tracing::{info, warn};

use crate::channel::OutboundMessage;
use crate::conversation::Conversations;
use crate::dialogue::Dialogues;
use crate::dialogue::engine::Reply;
use crate::language::Lang;
use crate::programme::segment::{Segment, SegmentError};
use crate::schedule::{Outcome, Policy};
use crate::scheduler::{BoxFuture, Handler};
use crate::store::broadcasts::{CreateError, Fed, JOB_KIND, NewBroadcast, Tick};
use crate::store::{Job, Store, StoreError};

/// Time between two ticks of a feeder.
pub const TICK: Duration = Duration::seconds(1);
/// The most allowance a channel saves up, in seconds of its rate.
pub const CREDIT_SECONDS: f64 = 1.25;
/// The most of a broadcast left waiting in the outbox per channel, in seconds of its rate.
pub const AHEAD_SECONDS: f64 = 2.0;
/// The longest message staff may write, in characters (WhatsApp's text limit is 4,096; the
/// footer needs room).
pub const MAX_CHARS: usize = 3_500;

/// Broadcast rates per channel, in messages per second.
#[derive(Clone, Debug, PartialEq)]
pub struct Rates(pub BTreeMap<String, f64>);

impl Default for Rates {
    /// Telegram 25/s (its limit is about 30/s for the whole bot: replies keep headroom),
    /// WhatsApp 60/s (Meta's default tier is 80/s, inbound included), web chat 50/s.
    fn default() -> Rates {
        Rates(BTreeMap::from([
            ("telegram".to_string(), 25.0),
            ("whatsapp".to_string(), 60.0),
            ("web".to_string(), 50.0),
        ]))
    }
}

impl Rates {
    /// The defaults, each replaced by `BAITHAK_BROADCAST_RATE_TELEGRAM`, `…_WHATSAPP` or
    /// `…_WEB` when set to a positive number.
    #[must_use]
    pub fn from_env() -> Rates {
        let mut rates = Rates::default();
        for (channel, rate) in &mut rates.0 {
            let name = format!("BAITHAK_BROADCAST_RATE_{}", channel.to_uppercase());
            if let Some(value) = std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v > 0.0)
            {
                *rate = value;
            }
        }
        rates
    }

    /// Every rate lowered to at most `max` (a gentler broadcast staff asked for).
    #[must_use]
    pub fn capped(mut self, max: Option<f64>) -> Rates {
        if let Some(max) = max.filter(|m| m.is_finite() && *m > 0.0) {
            for rate in self.0.values_mut() {
                *rate = rate.min(max);
            }
        }
        self
    }
}

/// Why a broadcast cannot be sent as written.
#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    /// The segment terms are wrong.
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// No English message.
    #[error("the English message is required (Urdu and Bangla fall back to it)")]
    NoEnglish,
    /// A message is too long.
    #[error("the {0} message is longer than {MAX_CHARS} characters")]
    TooLong(&'static str),
    /// Nobody in the segment.
    #[error("the segment has no teachers who can receive a broadcast; nothing was sent")]
    Empty,
    /// The database failed; nothing was written.
    #[error("database error: {0}")]
    Store(#[from] StoreError),
}

/// A broadcast as staff wrote it, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    /// The audience.
    pub segment: Segment,
    /// The audience's terms, normalised for display (`district=Kasur role=teacher`).
    pub terms: String,
    /// The message per language code (`en` always).
    pub texts: BTreeMap<String, String>,
}

impl Draft {
    /// Checks terms and messages (empty Urdu or Bangla fall back to English).
    ///
    /// # Errors
    ///
    /// [`DraftError::Segment`], [`DraftError::NoEnglish`], [`DraftError::TooLong`].
    pub fn new<S: AsRef<str>>(
        terms: &[S],
        en: &str,
        ur: Option<&str>,
        bn: Option<&str>,
    ) -> Result<Draft, DraftError> {
        let segment = Segment::parse(terms)?;
        let written: Vec<String> = terms
            .iter()
            .flat_map(|t| t.as_ref().split_whitespace().map(str::to_string))
            .collect();
        let mut texts = BTreeMap::new();
        for (code, text) in [("en", Some(en)), ("ur", ur), ("bn", bn)] {
            let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
                continue;
            };
            if text.chars().count() > MAX_CHARS {
                return Err(DraftError::TooLong(match code {
                    "en" => "English",
                    "ur" => "Urdu",
                    _ => "Bangla",
                }));
            }
            texts.insert(code.to_string(), text.to_string());
        }
        if !texts.contains_key("en") {
            return Err(DraftError::NoEnglish);
        }
        Ok(Draft {
            segment,
            terms: written.join(" "),
            texts,
        })
    }
}

/// Who a broadcast would reach now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preview {
    /// In all.
    pub total: i64,
    /// Per channel.
    pub by_channel: BTreeMap<String, i64>,
}

/// Counts the teachers `segment` reaches now, per channel.
///
/// # Errors
///
/// [`StoreError`].
pub async fn preview(store: &Store, segment: &Segment) -> Result<Preview, StoreError> {
    let by_channel = store.segment_count_by_channel(segment).await?;
    Ok(Preview {
        total: by_channel.values().sum(),
        by_channel,
    })
}

/// Creates `draft` and starts sending it; returns its id and recipient count.
///
/// # Errors
///
/// [`DraftError::Empty`] when nobody is in the segment (nothing is written), or
/// [`DraftError::Store`].
pub async fn start(
    store: &Store,
    draft: &Draft,
    created_by: &str,
    rates: &Rates,
    now: DateTime<Utc>,
) -> Result<(i64, i64), DraftError> {
    let new = NewBroadcast {
        created_by,
        segment: &draft.segment,
        terms: &draft.terms,
        texts: &draft.texts,
        rates: &rates.0,
        now,
    };
    match store.create_broadcast(&new).await {
        Ok((id, total)) => {
            info!(broadcast.id = id, total, "broadcast created");
            Ok((id, total))
        }
        Err(CreateError::Empty) => Err(DraftError::Empty),
        Err(CreateError::Store(err)) => Err(DraftError::Store(err)),
    }
}

/// The outbox payload per language: the message (English where staff wrote none) and the
/// footer on how to stop such messages, in that language.
#[must_use]
pub fn payloads(
    dialogues: &Dialogues,
    texts: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let english = texts.get("en").cloned().unwrap_or_default();
    Lang::ALL
        .iter()
        .map(|&lang| {
            let (body, lang) = match texts.get(lang.code()) {
                Some(text) => (text.clone(), lang),
                None => (english.clone(), Lang::En),
            };
            let mut footer = dialogues.text("broadcast_footer", lang);
            if footer == "broadcast_footer" {
                footer = dialogues.text("cpd_notice_footer", lang);
            }
            let reply = Reply {
                text: format!("{body}\n\n{footer}"),
                choices: Vec::new(),
                lang,
            };
            let payload = serde_json::to_string(&OutboundMessage { reply }).unwrap_or_default();
            (lang.code().to_string(), payload)
        })
        .collect()
}

/// How many to queue per channel this tick, and the allowance left: each channel's saved
/// allowance plus its rate times `elapsed` (at most [`CREDIT_SECONDS`] of it), limited by
/// room in the outbox ([`AHEAD_SECONDS`] of the rate, less what still waits there).
#[must_use]
pub fn allowance(
    rates: &BTreeMap<String, f64>,
    credit: &BTreeMap<String, f64>,
    fresh: bool,
    elapsed: Duration,
    backlog: &BTreeMap<String, i64>,
) -> (BTreeMap<String, i64>, BTreeMap<String, f64>) {
    #[allow(clippy::cast_precision_loss)]
    let seconds = (elapsed.num_milliseconds().clamp(0, 60_000) as f64) / 1000.0;
    let mut take = BTreeMap::new();
    let mut left = BTreeMap::new();
    for (channel, &rate) in rates {
        if !(rate.is_finite() && rate > 0.0) {
            continue;
        }
        // A new run starts with a second's worth, so the first messages go at once.
        let saved = if fresh {
            rate
        } else {
            credit.get(channel).copied().unwrap_or(0.0)
        };
        let available = (saved + rate * seconds).min(rate * CREDIT_SECONDS).max(0.0);
        // Web chat rows wait until the teacher's page reads them: no dispatcher to keep up with.
        let waiting = if channel == "web" {
            0
        } else {
            backlog.get(channel).copied().unwrap_or(0)
        };
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let room = ((rate * AHEAD_SECONDS).ceil() as i64 - waiting).max(0);
        #[allow(clippy::cast_possible_truncation)]
        let n = (available.floor() as i64).min(room);
        #[allow(clippy::cast_precision_loss)]
        let rest = available - n as f64;
        take.insert(channel.clone(), n);
        left.insert(channel.clone(), rest);
    }
    (take, left)
}

/// The scheduler's handler for broadcasts: one job is one tick of one broadcast.
#[derive(Clone, Copy, Debug, Default)]
pub struct Feeder;

#[derive(serde::Deserialize)]
struct TickJob {
    broadcast: i64,
    run: i64,
}

impl Handler for Feeder {
    fn kind(&self) -> &'static str {
        JOB_KIND
    }

    fn policy(&self, _job: &Job) -> Policy {
        // Staff pressed Send: it goes out now, day or night; after downtime it goes on.
        Policy::new(Duration::days(7))
    }

    fn run<'a>(&'a self, cx: &'a Conversations, job: &'a Job) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let Ok(tick) = serde_json::from_str::<TickJob>(&job.payload) else {
                warn!(job.id = job.id, "unreadable broadcast job payload");
                return Outcome::Done;
            };
            match feed(cx, tick.broadcast, tick.run).await {
                Ok(()) => Outcome::Done,
                Err(err) => Outcome::Retry(err.to_string()),
            }
        })
    }
}

/// One tick of broadcast `id`, run `run`.
async fn feed(cx: &Conversations, id: i64, run: i64) -> Result<(), StoreError> {
    let store = cx.store();
    let broadcast = match store.broadcast(id).await {
        Ok(b) => b,
        Err(StoreError::NotFound) => return Ok(()),
        Err(err) => return Err(err),
    };
    if broadcast.status != "sending" || broadcast.run != run {
        return Ok(());
    }
    let now = cx.clock().now();
    let backlog = store.broadcast_backlog(id).await?;
    let fresh = broadcast.credit.is_empty();
    let elapsed = broadcast.paced_at.map_or(Duration::zero(), |at| now - at);
    let (take, credit) = allowance(
        &broadcast.rates,
        &broadcast.credit,
        fresh,
        elapsed,
        &backlog,
    );
    let payloads = payloads(&cx.content().get().dialogues, &broadcast.texts);
    let tick = Tick {
        id,
        run,
        allowance: &take,
        credit: &credit,
        payloads: &payloads,
        now,
        next_at: now + TICK,
    };
    match store.feed_broadcast(&tick).await? {
        Fed::Stale => {}
        Fed::Fed {
            queued,
            skipped,
            done,
        } => {
            if queued + skipped > 0 {
                cx.notify_committed();
            }
            if done {
                info!(broadcast.id = id, "broadcast: every recipient queued");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(t: f64, w: f64) -> BTreeMap<String, f64> {
        BTreeMap::from([("telegram".into(), t), ("whatsapp".into(), w)])
    }

    #[test]
    fn a_fresh_run_sends_a_seconds_worth_and_then_the_rate_times_the_time() {
        let r = rates(25.0, 60.0);
        let (take, left) = allowance(
            &r,
            &BTreeMap::new(),
            true,
            Duration::zero(),
            &BTreeMap::new(),
        );
        assert_eq!(take["telegram"], 25);
        assert_eq!(take["whatsapp"], 60);
        let (take, _) = allowance(
            &r,
            &left,
            false,
            Duration::milliseconds(1500),
            &BTreeMap::new(),
        );
        // 1.5 s of rate, but never more than 1.25 s saved up.
        assert_eq!(take["telegram"], 31);
        assert_eq!(take["whatsapp"], 75);
    }

    #[test]
    fn fractions_are_kept_so_the_average_is_exact() {
        let r = rates(2.5, 1.0);
        let mut credit = BTreeMap::new();
        let mut sent = 0;
        let mut fresh = true;
        for _ in 0..10 {
            let (take, left) =
                allowance(&r, &credit, fresh, Duration::seconds(1), &BTreeMap::new());
            fresh = false;
            sent += take["telegram"];
            credit = left;
        }
        // A second's worth at the start, then 2.5 a second, fractions carried over.
        assert!((24..=26).contains(&sent), "{sent}");
    }

    #[test]
    fn a_full_outbox_holds_the_feeder_back_and_a_long_gap_does_not_burst() {
        let r = rates(10.0, 10.0);
        let backlog = BTreeMap::from([("telegram".to_string(), 20_i64)]);
        let (take, left) = allowance(&r, &BTreeMap::new(), false, Duration::seconds(60), &backlog);
        assert_eq!(take["telegram"], 0);
        // A minute's silence (a restart) saves up no more than 1.25 s of sending.
        assert_eq!(take["whatsapp"], 12);
        assert!(left["telegram"] <= 12.5);
    }

    #[test]
    fn drafts_need_english_and_valid_terms() {
        assert!(matches!(
            Draft::new(&["district=Kasur"], " ", Some("اردو"), None),
            Err(DraftError::NoEnglish)
        ));
        let err = Draft::new(&["colour=red"], "Hello", None, None).unwrap_err();
        assert!(
            err.to_string().contains("unknown segment key `colour`"),
            "{err}"
        );
        let d = Draft::new(&["district=Kasur role=teacher"], "Hello", Some(""), None).unwrap();
        assert_eq!(d.terms, "district=Kasur role=teacher");
        assert_eq!(d.texts.len(), 1);
    }
}
