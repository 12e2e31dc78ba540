//! Meta's throughput limit for one business number, counted the way Meta counts it: messages
//! sent and messages received together (platform facts §2.8: 80 per second by default, up to
//! 1,000; over it, 130429).
//!
//! A GCRA schedule (a "theoretical arrival time") with four properties the dispatcher needs:
//!
//! - **A small burst.** At most a tenth of a second's worth of messages may go at once after a
//!   quiet spell, not a whole second's: Meta's bucket is not documented, and a burst of a full
//!   second's quota is what drew 130429s in the benchmark.
//! - **It starts empty.** A new process (a restart after a crash, a deploy) does not know what
//!   its predecessor sent in the last second, so it does not assume a full bucket.
//! - **Inbound messages are charged after the fact.** They have already happened, so they push
//!   the next send back instead of waiting. `governor` (used for every other limit) can only
//!   grant or refuse a cell that is free, so it cannot charge a debt: hence these few lines by
//!   hand. The schedule never runs more than [`MAX_DEBT`] ahead because of inbound messages:
//!   when teachers alone write faster than the limit for long, sending slows but does not stop
//!   for good, and the 130429s Meta may then give are handled by the dispatcher as usual.
//! - **First come, first served, nothing booked ahead.** Senders queue in order; only the
//!   first watches the clock. Booking slots seconds ahead for a crowd of waiting chats would
//!   leave no room for the inbound messages that arrive meanwhile.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How far inbound messages can push the schedule ahead of now.
pub const MAX_DEBT: Duration = Duration::from_secs(60);

/// The pace of one business number's messages, shared by its dispatcher and its webhook.
#[derive(Debug)]
pub struct Throughput {
    /// Time per message.
    interval: Duration,
    /// How far ahead of the schedule a message may go (the burst).
    tolerance: Duration,
    /// When the schedule is next free, as if every message went exactly on time.
    next: Mutex<Instant>,
    /// Senders wait their turn here, first come first served (tokio's mutex is fair).
    queue: tokio::sync::Mutex<()>,
}

impl Throughput {
    /// `per_second` messages a second, with a burst of a tenth of that (at least one).
    #[must_use]
    pub fn new(per_second: NonZeroU32) -> Throughput {
        let interval = Duration::from_secs(1) / per_second.get();
        let tolerance = interval * (per_second.get() / 10).saturating_sub(1);
        Throughput {
            interval,
            tolerance,
            // Empty: the burst is earned by being quiet, not granted at start.
            next: Mutex::new(Instant::now() + tolerance),
            queue: tokio::sync::Mutex::new(()),
        }
    }

    /// Waits for this message's turn. Senders are served in the order they asked, and only
    /// the first in line watches the schedule, so nothing is booked ahead: an inbound message
    /// that arrives meanwhile delays the next send instead of overbooking the number.
    pub async fn until_ready(&self) {
        let _first_in_line = self.queue.lock().await;
        while let Err(at) = self.take(Instant::now()) {
            tokio::time::sleep_until(at).await;
        }
    }

    /// Charges `messages` received: the sends after them wait their share.
    pub fn count_inbound(&self, messages: usize) {
        if messages == 0 {
            return;
        }
        let now = Instant::now();
        let mut next = self.lock();
        let charged =
            (*next).max(now) + self.interval * u32::try_from(messages).unwrap_or(u32::MAX);
        *next = charged.min(now + self.tolerance + MAX_DEBT);
    }

    /// Takes one message's slot if the schedule allows it at `now`, else says when it will.
    fn take(&self, now: Instant) -> Result<(), Instant> {
        let mut next = self.lock();
        let due = (*next).max(now);
        match due.checked_sub(self.tolerance) {
            Some(at) if at > now => Err(at),
            _ => {
                *next = due + self.interval;
                Ok(())
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Instant> {
        // The guarded value is a plain instant: a panic elsewhere cannot leave it half-written.
        self.next
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_second(n: u32) -> Throughput {
        Throughput::new(NonZeroU32::new(n).expect("non-zero"))
    }

    /// When each of `n` messages may go, taking them one after another at those times.
    fn schedule(pace: &Throughput, n: usize) -> Vec<Duration> {
        let start = Instant::now();
        let mut now = start;
        (0..n)
            .map(|_| {
                if let Err(at) = pace.take(now) {
                    now = at;
                    pace.take(now).expect("free at the time it said");
                }
                now - start
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn starts_empty_and_keeps_the_pace() {
        let pace = per_second(80);
        let times = schedule(&pace, 80);
        assert_eq!(times[0], Duration::ZERO, "the first message goes at once");
        assert_eq!(times[1], Duration::from_secs(1) / 80, "no burst at start");
        assert_eq!(times[79], Duration::from_secs(1) / 80 * 79);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_spell_earns_a_tenth_of_a_second() {
        let pace = per_second(1000);
        tokio::time::advance(Duration::from_secs(5)).await;
        let now = Instant::now();
        let at_once = (0..200).take_while(|_| pace.take(now).is_ok()).count();
        assert_eq!(
            at_once, 100,
            "a burst of a tenth of the rate, not a whole second"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn inbound_messages_push_sends_back_up_to_a_minute() {
        let pace = per_second(80);
        tokio::time::advance(Duration::from_secs(5)).await;
        let now = Instant::now();
        pace.count_inbound(40);
        // 40 received = half a second of the budget, less the burst a quiet spell earned.
        assert_eq!(
            pace.take(now),
            Err(now + Duration::from_secs(1) / 80 * (40 - 7))
        );
        pace.count_inbound(100_000);
        let Err(at) = pace.take(now) else {
            panic!("a send right after 100,000 messages received");
        };
        assert!(at - now <= MAX_DEBT, "{:?}", at - now);
    }

    #[tokio::test(start_paused = true)]
    async fn senders_are_served_in_the_order_they_asked() {
        let pace = std::sync::Arc::new(per_second(10));
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for n in 0..5 {
            let (pace, order) = (pace.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                pace.until_ready().await;
                order.lock().expect("order").push(n);
            }));
            // Let this one ask before the next.
            tokio::task::yield_now().await;
        }
        for task in tasks {
            task.await.expect("sender");
        }
        assert_eq!(*order.lock().expect("order"), vec![0, 1, 2, 3, 4]);
    }
}
