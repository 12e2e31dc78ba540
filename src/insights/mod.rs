//! Insights: the pure analysis of logged questions, so that programme staff can plan the next
//! CPD session around what teachers really ask. Owns the grouping of similar questions and its
//! measurement; must not do I/O, read the clock, await, or touch the database: callers hand in
//! the questions (with the signature computed when each was logged) and store or print what
//! comes back.
//!
//! - [`cluster`]: a question's compact [`Signature`] (its best articles and its words, computed
//!   once with the knowledge-base search) and [`cluster()`]: clusters of near-paraphrases in any
//!   language, biggest first, each with its size, sample questions, topics and the article that
//!   covers it.
//! - [`sound`]: script-independent sound keys of words ("class", "کلاس", "ক্লাস" → `kls`), the
//!   words a signature keeps.
//! - [`issues`]: the recurring issues of a period (clusters described for planning: outcomes,
//!   coverage, samples), knowledge-base gaps, quiz items most failed, lessons most abandoned.
//! - [`report`]: the recurring-issues report from the store's counts: topics with their trend,
//!   outcomes, and the helpdesk's figures.
//! - [`eval`]: pairwise precision and recall of the clusters against the `cluster` labels of
//!   `knowledge-base/eval/questions.yaml` (`baithak kb eval`).

pub mod cluster;
pub mod eval;
pub mod issues;
pub mod report;
pub mod sound;

pub use cluster::{
    Cluster, Covered, Item, Signature, Thresholds, cluster, cluster_with, signature,
};
