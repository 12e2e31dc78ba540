//! The state shared by the HTTP handlers, the webhook deliverer and the Rust control API: one
//! mutex and the notifications that wake waiters (tests in `wait_*`, the deliverer) whenever
//! something they may be waiting for changed.

use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use super::state::State;

/// Shared by every task of one fake server.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// The webhook queue or URL changed: the deliverer looks again.
    pub queue: Notify,
    /// Anything a test may wait for changed.
    pub observed: Notify,
    /// Client for webhook deliveries and the verification handshake.
    pub client: reqwest::Client,
}

impl Shared {
    pub fn new(state: State, client: reqwest::Client) -> Shared {
        Shared {
            state: Mutex::new(state),
            queue: Notify::new(),
            observed: Notify::new(),
            client,
        }
    }

    /// The state; a panic elsewhere while holding it does not make it unusable.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `change` on the state, then wakes the waiting tests, and the deliverer when the
    /// queue changed.
    pub fn mutate<T>(&self, change: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self.lock();
        let epoch = state.queue_epoch;
        let result = change(&mut state);
        let queue_changed = state.queue_epoch != epoch;
        drop(state);
        if queue_changed {
            self.queue.notify_waiters();
        }
        self.observed.notify_waiters();
        result
    }
}
