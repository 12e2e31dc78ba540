//! `kb_markdown`: arbitrary text as a knowledge-base article (Markdown with YAML front matter),
//! through [`baithak::knowledge::load`] (front matter, sections, short answer and "more",
//! checks) and, when the article loads, a search of the one-article index built from it.
//!
//! The file is named after the text's `id:` line, as an article file must be. Topics are the
//! shipped `knowledge-base/topics.yaml` ids.

#![no_main]

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::OnceLock;

use baithak::dialogue::SourceFile;
use baithak::knowledge;
use libfuzzer_sys::fuzz_target;

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

fn file_name(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("id:"))
        .map(|id| id.trim().trim_matches('"').to_string())
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or_else(|| "fuzz".to_string())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = SourceFile {
        path: PathBuf::from(format!("knowledge-base/articles/{}.md", file_name(text))),
        source: text.to_string(),
    };
    let mut diagnostics = Vec::new();
    let kb = knowledge::load(std::slice::from_ref(&file), topics(), &mut diagnostics);
    for diagnostic in &diagnostics {
        let _ = diagnostic.to_string();
    }
    // The question: the text's last line (an example question, a heading, anything).
    let question = text.lines().last().unwrap_or_default();
    let found = kb.search(question, 3);
    let _ = kb.answer(&found);
});
