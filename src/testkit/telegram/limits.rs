//! Realistic flood control (off by default): token buckets per the official FAQ ("My bot is hitting
//! limits"): about one message per second in a private chat with short bursts, 20 messages per
//! minute in a group, about 30 messages per second overall (1000/s with `allow_paid_broadcast`).
//! The exact burst sizes are not published; 3 per private chat is an assumption.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

/// Capacity and refill rate (tokens per second) of one bucket.
#[derive(Clone, Copy, Debug)]
struct Rule {
    capacity: f64,
    per_second: f64,
}

const PRIVATE_CHAT: Rule = Rule {
    capacity: 3.0,
    per_second: 1.0,
};
const GROUP_CHAT: Rule = Rule {
    capacity: 20.0,
    per_second: 20.0 / 60.0,
};
const GLOBAL: Rule = Rule {
    capacity: 30.0,
    per_second: 30.0,
};
const PAID_BROADCAST: Rule = Rule {
    capacity: 1000.0,
    per_second: 1000.0,
};

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    updated: DateTime<Utc>,
}

impl Bucket {
    fn full(rule: Rule, now: DateTime<Utc>) -> Bucket {
        Bucket {
            tokens: rule.capacity,
            updated: now,
        }
    }

    /// Refills, then returns the seconds to wait for one token (0 when one is available).
    fn wait(&mut self, rule: Rule, now: DateTime<Utc>) -> u64 {
        let elapsed = (now - self.updated).num_milliseconds().max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * rule.per_second).min(rule.capacity);
        self.updated = now;
        if self.tokens >= 1.0 {
            0
        } else {
            (((1.0 - self.tokens) / rule.per_second).ceil() as u64).max(1)
        }
    }
}

/// All buckets of one bot.
#[derive(Clone, Debug, Default)]
pub(crate) struct RateLimiter {
    pub enabled: bool,
    chats: HashMap<i64, Bucket>,
    global: Option<Bucket>,
    paid: Option<Bucket>,
}

impl RateLimiter {
    pub fn new(enabled: bool) -> RateLimiter {
        RateLimiter {
            enabled,
            ..RateLimiter::default()
        }
    }

    /// Takes one token for a message to `chat_id`, or says how long to wait (`retry_after`).
    pub fn take(
        &mut self,
        chat_id: i64,
        is_group: bool,
        paid: bool,
        now: DateTime<Utc>,
    ) -> Result<(), u64> {
        if !self.enabled {
            return Ok(());
        }
        let chat_rule = if is_group { GROUP_CHAT } else { PRIVATE_CHAT };
        let (global_rule, global) = if paid {
            (PAID_BROADCAST, &mut self.paid)
        } else {
            (GLOBAL, &mut self.global)
        };
        let global = global.get_or_insert_with(|| Bucket::full(global_rule, now));
        let chat = self
            .chats
            .entry(chat_id)
            .or_insert_with(|| Bucket::full(chat_rule, now));
        let wait = chat.wait(chat_rule, now).max(global.wait(global_rule, now));
        if wait > 0 {
            return Err(wait);
        }
        chat.tokens -= 1.0;
        global.tokens -= 1.0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_chat_allows_a_burst_of_three_then_one_per_second() {
        let start = Utc::now();
        let mut limiter = RateLimiter::new(true);
        for _ in 0..3 {
            assert_eq!(limiter.take(1, false, false, start), Ok(()));
        }
        assert_eq!(limiter.take(1, false, false, start), Err(1));
        assert_eq!(
            limiter.take(2, false, false, start),
            Ok(()),
            "other chats are not affected"
        );
        let later = start + chrono::Duration::seconds(1);
        assert_eq!(limiter.take(1, false, false, later), Ok(()));
    }

    #[test]
    fn a_group_allows_twenty_a_minute() {
        let start = Utc::now();
        let mut limiter = RateLimiter::new(true);
        for _ in 0..20 {
            assert_eq!(limiter.take(-5, true, false, start), Ok(()));
        }
        assert_eq!(limiter.take(-5, true, false, start), Err(3));
    }
}
