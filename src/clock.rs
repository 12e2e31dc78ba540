//! Where "now" comes from. Production reads the system clock; tests move a manual one, and
//! timers that watch it (the helpdesk's SLA) wake when it moves instead of sleeping.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::watch;

/// A source of the current time.
#[derive(Clone, Debug)]
pub enum Clock {
    /// The system clock.
    System,
    /// A clock that moves only when told to; watchers hear every move.
    Manual(Arc<watch::Sender<DateTime<Utc>>>),
}

impl Clock {
    /// A manual clock starting at `start`.
    #[must_use]
    pub fn manual(start: DateTime<Utc>) -> Clock {
        Clock::Manual(Arc::new(watch::channel(start).0))
    }

    /// The current time.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Manual(at) => *at.borrow(),
        }
    }

    /// Moves a manual clock forward; the system clock ignores this.
    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(at) = self {
            at.send_modify(|now| *now += by);
        }
    }

    /// For a manual clock, a receiver that changes whenever the clock is moved; the system
    /// clock has none (timers use real intervals).
    #[must_use]
    pub fn moves(&self) -> Option<watch::Receiver<DateTime<Utc>>> {
        match self {
            Clock::System => None,
            Clock::Manual(at) => Some(at.subscribe()),
        }
    }
}
