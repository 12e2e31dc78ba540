//! `normalize`: arbitrary text through [`baithak::language::normalize`] and the helpers built on
//! it (word split, Roman Urdu skeletons, digits of every script, the knowledge base's language
//! detection and tokenizer). Property: normalizing is idempotent, as the property tests in
//! `tests/properties.rs` require, and its output is lowercase with single spaces.

#![no_main]

use baithak::knowledge::search::{detect, tokenize};
use baithak::language::{digit_value, normalize, roman_skeleton, words};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let once = normalize(text);
    let twice = normalize(&once);
    assert_eq!(twice, once, "normalize is not idempotent on {text:?}");
    assert!(!once.starts_with(' ') && !once.ends_with(' ') && !once.contains("  "));
    for word in words(&once) {
        let skeleton = roman_skeleton(word);
        assert!(skeleton.len() <= word.len() || !word.is_ascii());
    }
    for c in text.chars() {
        if let Some(d) = digit_value(c) {
            assert!(d < 10);
        }
    }
    let _ = detect(text);
    let _ = tokenize(text);
});
