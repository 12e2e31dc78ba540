//! Baithak: a chat helpdesk for teachers' continuous professional development.
//!
//! # Layout
//!
//! The pure core decides; everything else moves bytes.
//!
//! - [`language`], [`diagnostic`]: shared vocabulary (languages, text normalization, content
//!   problems with their positions).
//! - [`dialogue`]: PURE. YAML trees, the `step` function, choice matching.
//! - [`knowledge`]: PURE. Knowledge-base articles, multilingual search, the accuracy evaluation.
//! - [`helpdesk`]: PURE. Questions answered or escalated, tickets, expert commands and what an
//!   expert's action does to a ticket (`helpdesk::desk`), office hours, the SLA
//!   (`helpdesk::sla`); wraps the dialogue's `step`.
//! - [`insights`]: PURE. Grouping similar questions across languages, its evaluation, the
//!   recurring-issues report.
//! - [`staff`]: PURE. Console roles, sessions' lifetimes, sign-in throttling, phone masking,
//!   password hashing.
//! - [`content`]: reads `dialogues/`, `knowledge-base/` and `helpdesk.yaml` from disk into the
//!   pure loaders.
//! - [`store`]: the one storage interface, over SQLite (default) and PostgreSQL.
//! - [`conversation`]: the only place where decisions meet I/O: inbox event → state → step →
//!   one transaction of state, transcript, progress and outbox.
//! - [`sla_watch`]: the timer around `helpdesk::sla`: reminders and escalations queued for the
//!   expert group.
//! - [`schedule`]: PURE. The scheduler's policy: late jobs, quiet hours, recurrence, retries.
//! - [`scheduler`]: persisted jobs claimed with a lease and run by kind (housekeeping first).
//! - [`leader`]: singletons among instances (a platform's dispatcher, Telegram polling), each run
//!   where the lease `leader:{role}` is held, with failover.
//! - [`certificate`]: certificate images (SVG template, shaped text, PNG).
//! - [`channel`]: adapters at the edge (terminal chat, web chat, Telegram, WhatsApp).
//! - [`web`]: axum routes: web chat, the webhooks, the staff console, `/healthz` (alive) and `/readyz` (database and content).
//! - [`startup`], [`config`], [`clock`], [`telemetry`], [`cli`], [`user_cli`]: wiring.
//! - [`metrics`]: Prometheus metrics (the process-wide recorder, `/metrics`).
//! - [`bench`], [`bench_child`], [`bench_chaos`], [`bench_telegram`], [`bench_whatsapp`], [`kb_cli`]: the benchmark and knowledge-base commands.
//! - [`testkit`]: fakes of the platforms (Telegram Bot API, WhatsApp Graph API) for tests and
//!   the benchmark.

pub mod bench;
pub mod bench_broadcast;
pub mod bench_chaos;
pub mod bench_child;
pub mod bench_telegram;
pub mod bench_whatsapp;
pub mod broadcast;
pub mod broadcast_cli;
pub mod certificate;
pub mod channel;
pub mod cli;
pub mod clock;
pub mod config;
pub mod content;
pub mod conversation;
pub mod diagnostic;
pub mod dialogue;
pub mod helpdesk;
pub mod insights;
pub mod kb_cli;
pub mod knowledge;
pub mod language;
pub mod leader;
pub mod metrics;
pub mod programme;
pub mod report_cli;
pub mod reports;
pub mod schedule;
pub mod scheduler;
pub mod sla_watch;
pub mod staff;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod testkit;
pub mod user_cli;
pub mod web;
