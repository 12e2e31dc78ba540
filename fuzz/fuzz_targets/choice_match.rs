//! `choice_match`: arbitrary text against arbitrary choices, through the dialogue matcher
//! ([`match_choice`], and the command-word matchers [`matches_word`] / [`is_word`] and the
//! number readers).
//!
//! The input is lines: the first is what the teacher typed; each further line is one choice,
//! its labels separated by `|` (a label starting with `~` is an alias, normalized as the loader
//! does). Every label and alias is also a command word for the word matchers.

#![no_main]

use baithak::dialogue::matching::{
    Candidates, is_word, match_choice, matches_word, number, numbers,
};
use baithak::language::normalize;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.lines();
    let typed = lines.next().unwrap_or_default();
    let mut choices = Vec::new();
    let mut words = Vec::new();
    for line in lines.take(20) {
        let mut labels = Vec::new();
        let mut aliases = Vec::new();
        for part in line.split('|') {
            match part.strip_prefix('~') {
                Some(alias) => aliases.push(normalize(alias)),
                None => labels.push(part),
            }
            words.push(normalize(part.trim_start_matches('~')));
        }
        choices.push(Candidates::new(labels, &aliases));
    }
    if let Some(i) = match_choice(typed, &choices) {
        assert!(i < choices.len(), "choice {i} of {}", choices.len());
    }
    assert_eq!(match_choice(typed, &choices), match_choice(typed, &choices));
    if is_word(typed, &words) {
        assert!(
            matches_word(typed, &words),
            "is_word but not matches_word: {typed:?}"
        );
    }
    let _ = number(&normalize(typed));
    let _ = numbers(typed);
});
