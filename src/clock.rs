//! Where "now" comes from. Production reads the system clock; tests move a manual one.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// A source of the current time.
#[derive(Clone, Debug)]
pub enum Clock {
    /// The system clock.
    System,
    /// A clock that moves only when told to.
    Manual(Arc<Mutex<DateTime<Utc>>>),
}

impl Clock {
    /// A manual clock starting at `start`.
    #[must_use]
    pub fn manual(start: DateTime<Utc>) -> Clock {
        Clock::Manual(Arc::new(Mutex::new(start)))
    }

    /// The current time.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Manual(at) => *at.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
        }
    }

    /// Moves a manual clock forward; the system clock ignores this.
    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(at) = self {
            let mut guard = at.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            *guard += by;
        }
    }
}
