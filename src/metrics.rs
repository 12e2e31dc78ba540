//! Prometheus metrics: the process-wide recorder, the helpers the rest of the code records
//! with, the HTTP middleware, and the `/metrics` page.
//!
//! - **One recorder per process.** [`handle`] installs the `metrics` recorder the first time
//!   anything is recorded or scraped and keeps its handle in a `OnceLock`, so tests that start
//!   many applications in one process share it (and assert on deltas, or on labels of their
//!   own). A thread runs the recorder's upkeep every few seconds so histograms never pile up
//!   between scrapes.
//! - **Counted as it happens** (through the functions below, one line at each place):
//!   inbound events stored and redeliveries (`conversation`'s inbox writer), events processed
//!   and the time from arrival to commit (`conversation`), sends per channel and result and
//!   their time (the Telegram and WhatsApp dispatchers), jobs ended (`scheduler`), HTTP
//!   requests per route pattern ([`track_http`]).
//! - **Counted when scraped**, from the database of the application scraped (one cheap query
//!   each, [`crate::store::Store::backlogs`]), and written straight into the page rather than
//!   into the shared recorder: outbox and inbox backlogs per channel, tickets per status.
//! - **No personal data.** Every name starts with `baithak_`; labels are only `channel`,
//!   `kind`, `result`, `status`, `outcome`, `route` (the matched pattern, never the path,
//!   which can carry a ticket or certificate code) and the build's `version`. Never a user
//!   id, a phone number, a name, a message or a code.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ::metrics::{Unit, counter, describe_counter, describe_histogram, histogram};
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::channel::telegram::client::ApiError;
use crate::channel::whatsapp::client::GraphError;
use crate::schedule::Finished;

/// The content type of Prometheus' text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Histogram buckets, in seconds: from a fast commit to a send that waited out a rate limit.
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// How often the recorder's upkeep runs (histogram samples folded in).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Channels always shown in the backlog gauges, at 0 when nothing waits.
const CHANNELS: [&str; 4] = ["telegram", "whatsapp", "web", "terminal"];

/// Ticket statuses always shown, at 0 when there are none.
const TICKET_STATUSES: [&str; 4] = ["open", "claimed", "answered", "closed"];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder handle, installing the recorder on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(install)
}

fn install() -> PrometheusHandle {
    let builder = PrometheusBuilder::new();
    let builder = match builder.set_buckets(&BUCKETS) {
        Ok(builder) => builder,
        Err(err) => {
            tracing::warn!(error = %err, "metrics: histogram buckets refused; summaries instead");
            PrometheusBuilder::new()
        }
    };
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    if let Err(err) = ::metrics::set_global_recorder(recorder) {
        // Someone installed another recorder first: the page then shows only what is counted
        // at scrape time.
        tracing::warn!(error = %err, "metrics: a recorder was already installed");
    }
    describe();
    let upkeep = handle.clone();
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "metrics: no upkeep thread; upkeep runs at each scrape only");
    }
    handle
}

fn describe() {
    describe_counter!(
        "baithak_inbound_total",
        "Inbound events stored in the inbox (new ones)."
    );
    describe_counter!(
        "baithak_inbound_duplicates_total",
        "Inbound events ignored as redeliveries of one already stored."
    );
    describe_counter!(
        "baithak_processed_total",
        "Inbox events finished with: done, skipped (nothing to do or unreadable), set_aside (failed repeatedly)."
    );
    describe_histogram!(
        "baithak_processing_seconds",
        Unit::Seconds,
        "From an event's arrival to the commit of what it did."
    );
    describe_counter!(
        "baithak_sends_total",
        "Sends to a platform by result: sent, failed, held, rate_limited, retry."
    );
    describe_histogram!(
        "baithak_send_seconds",
        Unit::Seconds,
        "Time to send one outbox row (all its parts, rate-limit waits included)."
    );
    describe_counter!(
        "baithak_http_requests_total",
        "HTTP requests by route pattern and status code."
    );
    describe_histogram!(
        "baithak_http_request_seconds",
        Unit::Seconds,
        "HTTP request time by route pattern."
    );
    describe_counter!(
        "baithak_jobs_total",
        "Scheduled jobs ended by kind and result: done, skipped, failed, retry."
    );
}

// ---------------------------------------------------------------------------------------------
// Recording.

/// An inbound event was stored (`new`) or ignored as a redelivery.
pub fn inbound(channel: &str, new: bool) {
    handle();
    let name = if new {
        "baithak_inbound_total"
    } else {
        "baithak_inbound_duplicates_total"
    };
    counter!(name, "channel" => channel.to_string()).increment(1);
}

/// `events` inbox events were finished with `outcome` (`done`, `skipped`, `set_aside`).
pub fn processed(outcome: &'static str, events: u64) {
    handle();
    counter!("baithak_processed_total", "outcome" => outcome).increment(events);
}

/// Events received at `received` were committed (done) at `now`.
pub fn committed(received: impl IntoIterator<Item = DateTime<Utc>>, now: DateTime<Utc>) {
    handle();
    let took = histogram!("baithak_processing_seconds");
    let mut events = 0;
    for at in received {
        events += 1;
        took.record(seconds_between(at, now));
    }
    counter!("baithak_processed_total", "outcome" => "done").increment(events);
}

/// `rows` outbox rows of `channel` ended a send attempt with `result` (without a platform
/// call: held outside WhatsApp's window, say).
pub fn sends(channel: &'static str, result: &'static str, rows: u64) {
    handle();
    counter!("baithak_sends_total", "channel" => channel, "result" => result).increment(rows);
}

/// What a platform's answer to a send counts as.
pub trait SendResult {
    /// `sent`, `failed`, `held`, `rate_limited` or `retry`; `None` when it is counted where
    /// its consequence is handled.
    fn result(&self) -> Option<&'static str>;
}

impl<T> SendResult for Result<T, ApiError> {
    fn result(&self) -> Option<&'static str> {
        Some(match self {
            Ok(_) => "sent",
            Err(ApiError::RetryAfter(_)) => "rate_limited",
            Err(ApiError::Unreachable(_) | ApiError::Rejected(_)) => "failed",
            Err(ApiError::Unauthorized | ApiError::Conflict(_) | ApiError::Transient(_)) => "retry",
        })
    }
}

impl<T> SendResult for Result<T, GraphError> {
    fn result(&self) -> Option<&'static str> {
        Some(match self {
            Ok(_) => "sent",
            // The rows are held, and counted so, by the dispatcher's hold.
            Err(GraphError::WindowClosed) => return None,
            Err(GraphError::RateLimited { .. } | GraphError::PairRate) => "rate_limited",
            Err(GraphError::Undeliverable(_) | GraphError::Rejected(_)) => "failed",
            Err(GraphError::Unauthorized(_) | GraphError::Transient(_)) => "retry",
        })
    }
}

/// Runs one send to `channel`'s platform, counting its result and its time.
pub async fn timed_send<R: SendResult>(channel: &'static str, send: impl Future<Output = R>) -> R {
    handle();
    let started = Instant::now();
    let result = send.await;
    histogram!("baithak_send_seconds", "channel" => channel)
        .record(started.elapsed().as_secs_f64());
    if let Some(label) = result.result() {
        counter!("baithak_sends_total", "channel" => channel, "result" => label).increment(1);
    }
    result
}

/// A job of `kind` ended (its end recorded by this runner).
pub fn job_finished(kind: &str, status: &Finished) {
    job(
        kind,
        match status {
            Finished::Done => "done",
            Finished::Skipped => "skipped",
            Finished::Failed => "failed",
        },
    );
}

/// A job of `kind` ended an attempt with `result` (`retry` when it runs again later).
pub fn job(kind: &str, result: &'static str) {
    handle();
    counter!("baithak_jobs_total", "kind" => kind.to_string(), "result" => result).increment(1);
}

/// Middleware: counts and times requests by their route's pattern (never the path itself).
/// Added with `route_layer`, so it sees only requests that matched a route.
pub async fn track_http(request: Request, next: Next) -> Response {
    handle();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    histogram!("baithak_http_request_seconds", "route" => route.clone())
        .record(started.elapsed().as_secs_f64());
    counter!("baithak_http_requests_total", "route" => route, "status" => status).increment(1);
    response
}

// ---------------------------------------------------------------------------------------------
// The page.

/// `GET /metrics`: the counters and histograms of this process, then the backlogs and
/// tickets of this application's database, in Prometheus' text format. No authentication:
/// nothing on it names anyone.
pub async fn scrape(State(state): State<crate::web::AppState>) -> Response {
    let handle = handle();
    handle.run_upkeep();
    let mut page = handle.render();
    if !page.is_empty() && !page.ends_with('\n') {
        page.push('\n');
    }
    let conversations = &state.conversations;
    match conversations.store().backlogs().await {
        Ok(backlogs) => render_backlogs(&mut page, &backlogs, conversations.clock().now()),
        Err(err) => tracing::warn!(error = %err, "metrics: backlogs not counted"),
    }
    render_up(&mut page);
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], page).into_response()
}

/// Writes the scrape-time gauges: outbox and inbox backlogs, tickets per status.
fn render_backlogs(page: &mut String, backlogs: &crate::store::Backlogs, now: DateTime<Utc>) {
    for (rows, depth, age, what) in [
        (
            &backlogs.outbox,
            "baithak_outbox_depth",
            "baithak_outbox_oldest_age_seconds",
            "outbox rows waiting to be sent",
        ),
        (
            &backlogs.inbox,
            "baithak_inbox_pending",
            "baithak_inbox_oldest_age_seconds",
            "inbox events waiting to be processed",
        ),
    ] {
        let mut channels: Vec<&str> = CHANNELS.to_vec();
        for row in rows.iter() {
            if !channels.contains(&row.channel.as_str()) {
                channels.push(&row.channel);
            }
        }
        let find = |channel: &str| rows.iter().find(|r| r.channel == channel);
        gauge_header(page, depth, &format!("The {what}, per channel."));
        for channel in &channels {
            let pending = find(channel).map_or(0, |r| r.pending);
            let _ = writeln!(page, "{depth}{{channel=\"{}\"}} {pending}", escape(channel));
        }
        gauge_header(
            page,
            age,
            &format!("Age of the oldest of the {what}, per channel (0 when none)."),
        );
        for channel in &channels {
            let oldest = find(channel).and_then(|r| r.oldest);
            let secs = oldest.map_or(0.0, |at| seconds_between(at, now));
            let _ = writeln!(page, "{age}{{channel=\"{}\"}} {secs}", escape(channel));
        }
    }
    let mut statuses: Vec<&str> = TICKET_STATUSES.to_vec();
    for (status, _) in &backlogs.tickets {
        if !statuses.contains(&status.as_str()) {
            statuses.push(status);
        }
    }
    gauge_header(page, "baithak_tickets", "Helpdesk tickets per status.");
    for status in statuses {
        let count = backlogs
            .tickets
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(
            page,
            "baithak_tickets{{status=\"{}\"}} {count}",
            escape(status)
        );
    }
}

/// `baithak_up` and the build's version.
fn render_up(page: &mut String) {
    gauge_header(page, "baithak_up", "1 while the process answers scrapes.");
    page.push_str("baithak_up 1\n");
    gauge_header(page, "baithak_build_info", "The running build (always 1).");
    let _ = writeln!(
        page,
        "baithak_build_info{{version=\"{}\"}} 1",
        escape(env!("CARGO_PKG_VERSION"))
    );
}

fn gauge_header(page: &mut String, name: &str, help: &str) {
    let _ = writeln!(page, "# HELP {name} {help}");
    let _ = writeln!(page, "# TYPE {name} gauge");
}

/// A label value escaped as the text format wants (`\`, `"`, newlines).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Seconds from `from` to `to`, never negative (the clock may move back).
fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    let ms = (to - from).num_milliseconds().max(0);
    // Exact below 2^53 ms (285,000 years).
    #[allow(clippy::cast_precision_loss)]
    let secs = ms as f64 / 1000.0;
    secs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn a_clock_moved_back_gives_zero_seconds() {
        let now = Utc::now();
        assert!(seconds_between(now, now - chrono::Duration::seconds(5)).abs() < f64::EPSILON);
        let later = now + chrono::Duration::milliseconds(2500);
        assert!((seconds_between(now, later) - 2.5).abs() < 1e-9);
    }

    #[test]
    fn backlogs_list_every_known_channel_and_status_even_when_empty() {
        let now = Utc::now();
        let backlogs = crate::store::Backlogs {
            outbox: vec![crate::store::Backlog {
                channel: "telegram".into(),
                pending: 3,
                oldest: Some(now - chrono::Duration::seconds(10)),
            }],
            inbox: Vec::new(),
            tickets: vec![("open".into(), 2)],
        };
        let mut page = String::new();
        render_backlogs(&mut page, &backlogs, now);
        assert!(
            page.contains("baithak_outbox_depth{channel=\"telegram\"} 3\n"),
            "{page}"
        );
        assert!(
            page.contains("baithak_outbox_depth{channel=\"whatsapp\"} 0\n"),
            "{page}"
        );
        assert!(
            page.contains("baithak_outbox_oldest_age_seconds{channel=\"telegram\"} 10\n"),
            "{page}"
        );
        assert!(
            page.contains("baithak_inbox_pending{channel=\"web\"} 0\n"),
            "{page}"
        );
        assert!(
            page.contains("baithak_tickets{status=\"open\"} 2\n"),
            "{page}"
        );
        assert!(
            page.contains("baithak_tickets{status=\"closed\"} 0\n"),
            "{page}"
        );
        assert!(page.contains("# TYPE baithak_tickets gauge\n"), "{page}");
    }
}
