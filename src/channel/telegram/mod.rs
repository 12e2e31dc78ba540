//! Telegram: what arrives (an `Update`, by webhook or long polling) and what we send (a reply
//! as `sendMessage` calls). Translation only; decisions stay in the engine.
//!
//! - [`update`]: raw update JSON → [`update::Kind`], tolerant of kinds and fields we do not know.
//! - [`render`]: a reply → HTML text parts and an inline keyboard within Telegram's limits.

pub mod render;
pub mod update;

/// The channel name in the store.
pub const CHANNEL: &str = "telegram";
