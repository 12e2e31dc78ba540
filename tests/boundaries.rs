//! The pure core stays pure: no async runtime, database, HTTP or platform crate, no clock and
//! no file or network access in the modules that decide.

use std::path::{Path, PathBuf};

/// Modules (files or folders under `src/`) that must stay pure.
const PURE: &[&str] = &[
    "dialogue",
    "knowledge",
    "helpdesk",
    "language.rs",
    "diagnostic.rs",
];

/// What may not appear in them.
const FORBIDDEN: &[&str] = &[
    "tokio",
    "sqlx",
    "reqwest",
    "teloxide",
    "axum",
    "tower",
    "Utc::now",
    "SystemTime",
    "Instant::now",
    "std::fs",
    "std::net",
    "std::env",
    "std::process",
    "rand::",
];

#[test]
fn the_pure_core_uses_no_io_crates_and_no_clock() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    for module in PURE {
        for file in rust_files(&src.join(module)) {
            let text = std::fs::read_to_string(&file).expect("readable source");
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for word in FORBIDDEN {
                    if code.contains(word) {
                        problems.push(format!("{}:{}: uses `{word}`", file.display(), n + 1));
                    }
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the pure core must not do I/O:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_module_opens_with_a_doc_comment() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let missing: Vec<String> = rust_files(&src)
        .into_iter()
        .filter(|f| !f.ends_with("tests.rs"))
        .filter(|f| {
            !std::fs::read_to_string(f)
                .expect("readable")
                .starts_with("//!")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a `//!` header: {missing:?}"
    );
}

fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(path).expect("source folder").flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}
