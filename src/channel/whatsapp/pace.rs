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

#[cfg(test)]
mod proptests {
    //! Properties of the schedule for arbitrary request times: nothing granted beyond the rate
    //! and burst in any window (inbound messages included), and steady demand served at close
    //! to the rate.

    use super::*;
    use proptest::prelude::*;

    fn per_second(n: u32) -> Throughput {
        Throughput::new(NonZeroU32::new(n).expect("non-zero"))
    }

    /// The GCRA bound: `messages` charged from `first` to a send granted at `last` fit the rate
    /// plus the burst, `(messages - 1) * interval <= (last - first) + tolerance`.
    fn within_rate(pace: &Throughput, messages: u64, first: Instant, last: Instant) -> bool {
        let spent = u128::from(messages.saturating_sub(1)) * pace.interval.as_nanos();
        spent <= (last - first).as_nanos() + pace.tolerance.as_nanos()
    }

    /// Sorted request times, as offsets from the start.
    fn request_times(max: usize) -> impl Strategy<Value = Vec<Duration>> {
        prop::collection::vec(0u64..3_000_000, 0..max).prop_map(|mut micros| {
            micros.sort_unstable();
            micros.into_iter().map(Duration::from_micros).collect()
        })
    }

    /// A runtime whose clock only moves when told, so `count_inbound` sees chosen times.
    fn paused_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime")
    }

    #[derive(Clone, Copy, Debug)]
    enum Event {
        /// A send asks for a slot.
        Send,
        /// Messages received, charged after the fact.
        Inbound(usize),
    }

    fn events() -> impl Strategy<Value = Vec<(u64, Event)>> {
        let event = prop_oneof![
            3 => Just(Event::Send),
            1 => (1usize..=2).prop_map(Event::Inbound),
        ];
        prop::collection::vec((0u64..20_000, event), 0..200)
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn grants_never_exceed_rate_plus_burst(rate in 1u32..=1000, times in request_times(300)) {
            let pace = per_second(rate);
            let start = Instant::now();
            let granted: Vec<Instant> = times
                .iter()
                .map(|offset| start + *offset)
                .filter(|now| pace.take(*now).is_ok())
                .collect();
            for (i, first) in granted.iter().enumerate() {
                for (j, last) in granted.iter().enumerate().skip(i + 1) {
                    prop_assert!(
                        within_rate(&pace, (j - i + 1) as u64, *first, *last),
                        "{} grants between {:?} and {:?} at {}/s", j - i + 1,
                        *first - start, *last - start, rate
                    );
                }
            }
            // The same, as the platform states it: any one-second window holds at most the
            // rate plus the burst (a tenth of the rate, at least one).
            let burst = (rate / 10).max(1) as usize;
            for (i, first) in granted.iter().enumerate() {
                let in_window = granted[i..]
                    .iter()
                    .take_while(|t| **t - *first < Duration::from_secs(1))
                    .count();
                prop_assert!(
                    in_window <= rate as usize + burst,
                    "{} in a second at {}/s", in_window, rate
                );
            }
        }

        #[test]
        fn steady_demand_gets_close_to_the_rate(rate in 1u32..=1000, step_tenths in 1u32..=10) {
            // Demand polls every `step` (at most a tenth of the interval) for two seconds.
            let pace = per_second(rate);
            let step = (pace.interval * step_tenths / 100).max(Duration::from_nanos(1));
            let span = Duration::from_secs(2);
            let start = Instant::now();
            let mut granted = 0u64;
            let mut at = Duration::ZERO;
            while at <= span {
                if pace.take(start + at).is_ok() {
                    granted += 1;
                }
                at += step;
            }
            let floor = 1 + span.as_nanos() / (pace.interval + step).as_nanos();
            prop_assert!(
                u128::from(granted) >= floor,
                "{} granted, expected {} at {}/s", granted, floor, rate
            );
            // At least 90% of the rate.
            prop_assert!(
                granted * 10 >= u64::from(rate) * 2 * 9,
                "{} in 2 s at {}/s", granted, rate
            );
        }

        #[test]
        fn sends_and_inbound_together_stay_within_rate(rate in 10u32..=1000, events in events()) {
            // At most 400 inbound messages, under a minute's worth even at 10/s, so the
            // `MAX_DEBT` cap (which deliberately forgives debt) never applies here.
            let rt = paused_runtime();
            rt.block_on(async {
                let pace = per_second(rate);
                let start = Instant::now();
                // (time, messages, was it a granted send)
                let mut log: Vec<(Instant, u64, bool)> = Vec::new();
                for (gap, event) in events {
                    tokio::time::advance(Duration::from_micros(gap)).await;
                    let now = Instant::now();
                    match event {
                        Event::Inbound(m) => {
                            pace.count_inbound(m);
                            log.push((now, m as u64, false));
                        }
                        Event::Send => {
                            if pace.take(now).is_ok() {
                                log.push((now, 1, true));
                            }
                        }
                    }
                }
                for j in (0..log.len()).filter(|j| log[*j].2) {
                    let mut messages = 0;
                    for i in (0..=j).rev() {
                        messages += log[i].1;
                        prop_assert!(
                            within_rate(&pace, messages, log[i].0, log[j].0),
                            "{} messages from {:?} to a send at {:?} at {}/s", messages,
                            log[i].0 - start, log[j].0 - start, rate
                        );
                    }
                }
                Ok(())
            })?;
        }
    }
}
