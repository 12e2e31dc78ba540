//! `dialogue_yaml`: arbitrary text as dialogue YAML, through the loader the content check and
//! the server use ([`baithak::dialogue::load`]: parse, resolve, validate, reachability).
//!
//! The input is split at NUL bytes: the first piece is `dialogues/_system.yaml`, every further
//! piece a tree file, named after its `id:` line (so a well-formed tree keeps its id). Module
//! topics are checked against the shipped `knowledge-base/topics.yaml`. The loader must
//! return diagnostics, never panic; when it reports no error the dialogues must be usable.

#![no_main]

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use baithak::dialogue::{SourceFile, load};
use baithak::language::Lang;
use libfuzzer_sys::fuzz_target;

/// The topic ids of the shipped taxonomy (`areas: { area: { topic: description } }`).
fn topics() -> &'static HashSet<String> {
    static TOPICS: OnceLock<HashSet<String>> = OnceLock::new();
    TOPICS.get_or_init(|| {
        include_str!("../../knowledge-base/topics.yaml")
            .lines()
            .filter(|l| l.starts_with("    ") && !l.starts_with("     "))
            .filter_map(|l| l.trim().split_once(':').map(|(id, _)| id.to_string()))
            .collect()
    })
}

/// The tree id a file declares on an `id:` line, else `tree<i>`.
fn file_name(text: &str, i: usize) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("id:"))
        .map(|id| id.trim().trim_matches('"').to_string())
        .filter(|id| {
            !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .unwrap_or_else(|| format!("tree{i}"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut pieces = text.split('\0');
    let system = SourceFile {
        path: PathBuf::from("dialogues/_system.yaml"),
        source: pieces.next().unwrap_or_default().to_string(),
    };
    let trees: Vec<SourceFile> = pieces
        .enumerate()
        .map(|(i, source)| SourceFile {
            path: PathBuf::from(format!("dialogues/{}.yaml", file_name(source, i))),
            source: source.to_string(),
        })
        .collect();
    let loaded = load(&system, &trees, topics());
    for diagnostic in &loaded.diagnostics {
        let _ = diagnostic.to_string();
    }
    if let Some(dialogues) = &loaded.dialogues {
        for id in &dialogues.module_order {
            assert!(
                dialogues.module(id).is_some(),
                "module {id} in the order but not loaded"
            );
        }
        for lang in Lang::ALL {
            let _ = dialogues.text("fallback", lang);
        }
    }
});
