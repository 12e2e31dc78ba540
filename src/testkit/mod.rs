//! Test kit: in-process fakes of the platforms Baithak talks to, shared by the integration tests
//! and by `baithak bench`, which drives load through them.
//!
//! Nothing in the application depends on this module; it depends on nothing in the application
//! but [`crate::clock`].
//!
//! - [`telegram`]: a faithful fake of the Telegram Bot API server (HTTP on `127.0.0.1:0`), with a
//!   Rust and an HTTP control API.
//! - [`whatsapp`]: a faithful fake of Meta's WhatsApp Cloud API (Graph API on `127.0.0.1:0`) that
//!   posts signed webhooks, with a Rust control API.
//! - [`balancer`]: a round-robin HTTP load balancer in front of several instances.

pub mod balancer;
mod cuttable;
pub mod telegram;
pub mod whatsapp;
