//! Singletons among instances. Some tasks must run on one instance at a time, whichever it
//! is: a platform's dispatcher (one sender per bot or business number is what keeps the
//! platform's rate limits, whatever the number of instances), Telegram polling (the Bot API
//! refuses two `getUpdates` at once), the SLA watch and the WhatsApp media keeper. Each runs
//! where the lease `leader:{role}` is held ([`crate::store::Store::take_lease`]).
//!
//! Every instance runs [`run`] for each role. The holder renews its lease every
//! [`RENEW_EVERY`]; the others try to take it just as often, so when the holder stops cleanly
//! (it gives the lease back) another starts within [`RENEW_EVERY`], and when it dies, within
//! [`LEASE`] more. A holder that cannot renew (it lost the database) stops its task before its
//! lease can pass to someone else, so two instances never send for one role at once, except
//! for a send already in flight when a holder is killed, as after any crash.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::conversation::Conversations;

/// How long a leader's lease holds without renewal.
pub const LEASE: Duration = Duration::from_secs(15);
/// How often the leader renews, and the others try to take over.
pub const RENEW_EVERY: Duration = Duration::from_secs(3);
/// A leader that has not renewed for this long stops its task: comfortably before its lease
/// passes to another instance.
const STOP_AFTER: Duration = Duration::from_secs(9);

/// A future that resolves when the task it is given to must stop.
pub type Stop = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The lease name of a role.
#[must_use]
pub fn lease_name(role: &str) -> String {
    format!("leader:{role}")
}

/// Runs `start`'s task whenever this instance holds the role's lease, until `shutdown`
/// resolves; then stops the task, waits for it, and gives the lease back. `start` is called
/// afresh for every term, so no state carries over from a term in which another instance may
/// have done the work.
pub async fn run<F, T>(
    conversations: Conversations,
    role: &'static str,
    start: F,
    shutdown: impl Future<Output = ()>,
) where
    F: Fn(Stop) -> T,
    T: Future<Output = ()> + Send + 'static,
{
    let store = conversations.store().clone();
    let me = conversations.instance().to_string();
    let name = lease_name(role);
    let lease = chrono::Duration::from_std(LEASE).unwrap_or_default();
    tokio::pin!(shutdown);
    // The current term: the task's stop signal, its handle, and the last renewal.
    let mut term: Option<(
        watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
        tokio::time::Instant,
    )> = None;
    let mut tick = tokio::time::interval(RENEW_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = tick.tick() => {}
        }
        let now = Utc::now();
        let held = store.take_lease(&name, &me, now, now + lease).await;
        match (held, term.as_mut()) {
            (Ok(true), Some((_, task, renewed))) if !task.is_finished() => {
                *renewed = tokio::time::Instant::now();
            }
            (Ok(true), _) => {
                if let Some((_, task, _)) = term.take() {
                    // The task ended on its own; start a new term.
                    let _ = task.await;
                }
                info!(role, "leading");
                let (stop, stopped) = watch::channel(false);
                let mut stopped = stopped;
                let signal: Stop = Box::pin(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                });
                let task = tokio::spawn(start(signal));
                term = Some((stop, task, tokio::time::Instant::now()));
            }
            (Ok(false), Some(_)) => {
                warn!(role, "leadership lost to another instance; stopping");
                stop_term(term.take()).await;
            }
            (Ok(false), None) => {}
            (Err(err), Some((_, _, renewed))) => {
                if renewed.elapsed() >= STOP_AFTER {
                    warn!(role, error = %err, "cannot renew leadership; stopping");
                    stop_term(term.take()).await;
                } else {
                    debug!(role, error = %err, "leadership not renewed; retrying");
                }
            }
            (Err(err), None) => debug!(role, error = %err, "cannot ask for leadership"),
        }
    }
    if term.is_some() {
        stop_term(term.take()).await;
        if let Err(err) = store.release_leases(&[name], &me).await {
            debug!(role, error = %err, "leadership not given back; it expires");
        } else {
            info!(role, "leadership given back");
        }
    }
}

async fn stop_term(
    term: Option<(
        watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
        tokio::time::Instant,
    )>,
) {
    if let Some((stop, task, _)) = term {
        let _ = stop.send(true);
        let _ = task.await;
    }
}
