//! Dialogue trees and the engine that walks them. Pure: no I/O, no clock, no async.
//!
//! - [`load`] turns the YAML files of `dialogues/` into validated [`Dialogues`], reporting every
//!   problem with `file:line:column`.
//! - [`step`] advances one conversation by one teacher input and returns the new [`State`] and
//!   the [`Effect`]s for the conversation layer to persist and send.
//! - [`matching`] decides which choice a teacher meant when they typed instead of tapping.

pub mod engine;
pub mod load;
pub mod matching;
pub mod system;
pub mod tree;

#[cfg(test)]
mod tests;

pub use engine::{
    Button, Cursor, Effect, Input, ModuleProgress, Reply, Stage, State, Step, enter_node, resume,
    step,
};
pub use load::{Loaded, SourceFile, load};
pub use tree::{Dialogues, Module, Node, NodeRef, Text};
