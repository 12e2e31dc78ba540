//! Rate limits, off unless configured: the business number's throughput (platform facts §2.8:
//! 80 messages/s by default, up to 1,000; over it → 130429) and the pair rate (1 message every
//! 6 s to one user with bursts borrowing future quota; over it → 131056). Both are token buckets
//! on the fake's clock, so a manual clock makes them deterministic: throughput holds `rate`
//! tokens refilled at `rate`/s; the pair rate holds `count` tokens per user refilled evenly over
//! `period`. A send spends tokens once its body and template are valid, before the window and
//! block checks (so a send refused with 131047 still counted; Meta's order is not documented).
//! Refused sends spend nothing. Inbound messages count towards throughput too, as on Meta: each
//! one the user sends spends a token even when none is left (the bucket goes into debt, at most
//! one second's worth, so users writing faster than the limit slow the business's sends but
//! cannot stop them for good; Meta's exact accounting is not documented).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// A token bucket.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    updated: DateTime<Utc>,
}

impl Bucket {
    fn full(capacity: f64, now: DateTime<Utc>) -> Bucket {
        Bucket {
            tokens: capacity,
            updated: now,
        }
    }

    /// Refills; says whether a token is there.
    fn refill(&mut self, capacity: f64, per_second: f64, now: DateTime<Utc>) -> bool {
        let elapsed = (now - self.updated)
            .num_microseconds()
            .unwrap_or(i64::MAX)
            .max(0) as f64
            / 1_000_000.0;
        self.tokens = (self.tokens + elapsed * per_second).min(capacity);
        self.updated = now;
        self.tokens >= 1.0
    }
}

/// Which limit a send hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LimitHit {
    /// 130429.
    Throughput,
    /// 131056.
    PairRate,
}

/// Both limits of one business number.
#[derive(Clone, Debug, Default)]
pub(crate) struct Limits {
    /// Messages per second, `None` = unlimited.
    pub throughput: Option<u32>,
    /// Messages per user per period, `None` = unlimited.
    pub pair_rate: Option<(u32, Duration)>,
    number: Option<Bucket>,
    pairs: HashMap<String, Bucket>,
}

impl Limits {
    pub fn new(throughput: Option<u32>, pair_rate: Option<(u32, Duration)>) -> Limits {
        Limits {
            throughput,
            pair_rate,
            ..Limits::default()
        }
    }

    /// Charges a message a user sent to the number's throughput.
    pub fn count_inbound(&mut self, now: DateTime<Utc>) {
        let Some(rate) = self.throughput else {
            return;
        };
        let capacity = f64::from(rate.max(1));
        let bucket = self
            .number
            .get_or_insert_with(|| Bucket::full(capacity, now));
        bucket.refill(capacity, capacity, now);
        bucket.tokens = (bucket.tokens - 1.0).max(-capacity);
    }

    /// Takes a token for a message to `address`, or says which limit is hit (taking nothing).
    /// The number's bucket is checked first and spent last, so a refusal spends nothing.
    pub fn take(&mut self, address: &str, now: DateTime<Utc>) -> Result<(), LimitHit> {
        let number = self.throughput.map(|rate| {
            let capacity = f64::from(rate.max(1));
            (capacity, capacity)
        });
        let pair = self.pair_rate.map(|(count, period)| {
            let capacity = f64::from(count.max(1));
            (capacity, capacity / period.as_secs_f64().max(1e-6))
        });
        if let Some((capacity, per_second)) = number {
            let bucket = self
                .number
                .get_or_insert_with(|| Bucket::full(capacity, now));
            if !bucket.refill(capacity, per_second, now) {
                return Err(LimitHit::Throughput);
            }
        }
        if let Some((capacity, per_second)) = pair {
            let bucket = self
                .pairs
                .entry(address.to_owned())
                .or_insert_with(|| Bucket::full(capacity, now));
            if !bucket.refill(capacity, per_second, now) {
                return Err(LimitHit::PairRate);
            }
            bucket.tokens -= 1.0;
        }
        if let Some(bucket) = &mut self.number
            && number.is_some()
        {
            bucket.tokens -= 1.0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbound_messages_spend_the_throughput() {
        let start = Utc::now();
        let mut limits = Limits::new(Some(3), None);
        limits.count_inbound(start);
        limits.count_inbound(start);
        assert_eq!(limits.take("a", start), Ok(()));
        assert_eq!(limits.take("b", start), Err(LimitHit::Throughput));
        for _ in 0..100 {
            limits.count_inbound(start);
        }
        // In debt by at most a second: a second refills it to nothing, a little more to a token.
        let later = start + chrono::Duration::milliseconds(1_000);
        assert_eq!(limits.take("b", later), Err(LimitHit::Throughput));
        let later = start + chrono::Duration::milliseconds(1_400);
        assert_eq!(limits.take("b", later), Ok(()));
    }

    #[test]
    fn throughput_allows_rate_per_second() {
        let start = Utc::now();
        let mut limits = Limits::new(Some(3), None);
        for user in ["a", "b", "c"] {
            assert_eq!(limits.take(user, start), Ok(()));
        }
        assert_eq!(limits.take("d", start), Err(LimitHit::Throughput));
        let later = start + chrono::Duration::milliseconds(400);
        assert_eq!(
            limits.take("d", later),
            Ok(()),
            "a third of a second refills one"
        );
    }

    #[test]
    fn the_pair_rate_is_per_user() {
        let start = Utc::now();
        let mut limits = Limits::new(None, Some((2, Duration::from_secs(6))));
        assert_eq!(limits.take("a", start), Ok(()));
        assert_eq!(limits.take("a", start), Ok(()));
        assert_eq!(limits.take("a", start), Err(LimitHit::PairRate));
        assert_eq!(limits.take("b", start), Ok(()));
        let later = start + chrono::Duration::seconds(3);
        assert_eq!(limits.take("a", later), Ok(()));
    }
}
