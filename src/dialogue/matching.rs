//! Matching what a teacher typed to a choice, a command or a number. Pure.
//!
//! A choice can be answered by its number in any script (`2`, `۲`, `২`), by its label in any
//! language typed approximately (case, spacing, emoji, Roman Urdu spellings, small typos), or
//! by one of its aliases. Ambiguous input matches nothing, so the engine re-prompts rather than
//! guess.

use crate::language::{normalize, roman_skeleton};

/// Similarity above which a typed label counts as the choice (Jaro-Winkler on normalized text).
const FUZZY_THRESHOLD: f64 = 0.9;

/// The ways one choice can be written: every label translation plus aliases, normalized.
#[derive(Clone, Debug, Default)]
pub struct Candidates {
    forms: Vec<String>,
}

impl Candidates {
    /// Builds the candidate forms from raw labels and already-normalized aliases.
    pub fn new<'a>(labels: impl IntoIterator<Item = &'a str>, aliases: &[String]) -> Candidates {
        let mut forms: Vec<String> = labels
            .into_iter()
            .map(|l| letters_only(&normalize(l)))
            .chain(aliases.iter().map(|a| letters_only(a)))
            .filter(|f| !f.is_empty())
            .collect();
        forms.sort();
        forms.dedup();
        Candidates { forms }
    }
}

/// Finds which of `choices` the text means, if exactly one.
#[must_use]
pub fn match_choice(text: &str, choices: &[Candidates]) -> Option<usize> {
    let typed = letters_only(&normalize(text));
    if typed.is_empty() {
        return None;
    }
    if let Some(n) = number(&typed) {
        return (1..=choices.len()).contains(&n).then(|| n - 1);
    }
    let exact = unique(choices, |form| form == typed);
    if exact.is_some() {
        return exact;
    }
    let skeleton = phrase_skeleton(&typed);
    let roman = unique(choices, |form| phrase_skeleton(form) == skeleton);
    if roman.is_some() {
        return roman;
    }
    // A whole word of a longer label ("lessons" for "Read the lessons"), when only one has it.
    if typed.chars().count() >= 3 {
        let word = unique(choices, |form| form.split(' ').any(|w| w == typed));
        if word.is_some() {
            return word;
        }
    }
    best_fuzzy(&typed, choices)
}

/// Whether `text` is one of `words` (normalized command words), exactly or as Roman Urdu
/// spelled differently.
#[must_use]
pub fn matches_word(text: &str, words: &[String]) -> bool {
    let typed = normalize(text);
    let plain = letters_only(&typed);
    if is_word(text, words) {
        return true;
    }
    if plain.is_empty() {
        return false;
    }
    // The same consonants, and spelled close enough: "mainu" and "meenu" are "menu", but
    // "money" (three edits away) is not.
    let skeleton = phrase_skeleton(&plain);
    words.iter().any(|w| {
        let word = letters_only(w);
        phrase_skeleton(&word) == skeleton && strsim::normalized_levenshtein(&word, &plain) >= 0.6
    })
}

/// Whether `text` is one of `words` as written (case, spacing, punctuation and emoji aside),
/// without the loose Roman Urdu matching of [`matches_word`]: for places that await free text.
#[must_use]
pub fn is_word(text: &str, words: &[String]) -> bool {
    let typed = normalize(text);
    let plain = letters_only(&typed);
    words
        .iter()
        .any(|w| *w == typed || (!plain.is_empty() && letters_only(w) == plain))
}

/// A whole number written alone (`3`, `3.`, `#3`, `option 3`), after normalization.
#[must_use]
pub fn number(normalized: &str) -> Option<usize> {
    let digits = normalized
        .strip_prefix("option ")
        .unwrap_or(normalized)
        .trim();
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Every whole number in a teacher's text, in any script; `1-3`, `1 to 3` and `1 se 3` expand
/// to the range (at most 20 numbers).
#[must_use]
pub fn numbers(text: &str) -> Vec<i64> {
    let spaced = normalize(&text.replace(['-', '–'], " to "));
    let tokens: Vec<&str> = spaced.split(' ').collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if let Ok(n) = tokens[i].parse::<i64>() {
            let range_end = match (tokens.get(i + 1), tokens.get(i + 2)) {
                (Some(&("to" | "se")), Some(end)) => {
                    end.parse::<i64>().ok().filter(|e| *e >= n && e - n <= 20)
                }
                _ => None,
            };
            match range_end {
                Some(end) => {
                    out.extend(n..=end);
                    i += 3;
                    continue;
                }
                None => out.push(n),
            }
        }
        i += 1;
    }
    out
}

fn unique(choices: &[Candidates], pred: impl Fn(&str) -> bool) -> Option<usize> {
    let mut found = None;
    for (i, c) in choices.iter().enumerate() {
        if c.forms.iter().any(|f| pred(f)) {
            if found.is_some() {
                return None;
            }
            found = Some(i);
        }
    }
    found
}

fn best_fuzzy(typed: &str, choices: &[Candidates]) -> Option<usize> {
    // A typo of a label is about as long as the label; comparing a paragraph with every label
    // costs time (a 10,000-character message) and can never reach the threshold anyway.
    const LONGEST_TYPO: usize = 80;
    if typed.chars().count() > LONGEST_TYPO {
        return None;
    }
    let mut scored: Vec<(f64, usize)> = choices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let best = c
                .forms
                .iter()
                .map(|f| strsim::jaro_winkler(typed, f))
                .fold(0.0, f64::max);
            (best, i)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    match scored.as_slice() {
        [(best, i), rest @ ..] if *best >= FUZZY_THRESHOLD => {
            let clear = rest.first().is_none_or(|(second, _)| best - second > 0.03);
            clear.then_some(*i)
        }
        _ => None,
    }
}

fn phrase_skeleton(text: &str) -> String {
    text.split(' ')
        .map(roman_skeleton)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Keeps letters, digits, spaces and the marks of Arabic-script and Bengali words; drops emoji
/// and symbols such as `▶` that labels carry for decoration.
fn letters_only(normalized: &str) -> String {
    let kept: String = normalized
        .chars()
        .map(|c| {
            let keep = c.is_alphanumeric()
                || c == ' '
                || c == '/'
                || ('\u{0600}'..='\u{06FF}').contains(&c)
                || ('\u{0900}'..='\u{09FF}').contains(&c);
            if keep { c } else { ' ' }
        })
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn menu() -> Vec<Candidates> {
        vec![
            Candidates::new(
                ["📚 Lessons", "📚 اسباق", "📚 পাঠ"],
                &["sabaq".into(), "asbaq".into()],
            ),
            Candidates::new(
                ["📊 My progress", "📊 میری پیش رفت", "📊 আমার অগ্রগতি"],
                &["progress".into()],
            ),
            Candidates::new(["🌐 Language", "🌐 زبان", "🌐 ভাষা"], &["zaban".into()]),
        ]
    }

    #[test]
    fn choices_match_by_number_in_every_script() {
        for (typed, expected) in [
            ("1", Some(0)),
            ("۲", Some(1)),
            ("৩", Some(2)),
            ("٢", Some(1)),
            ("4", None),
            ("0", None),
        ] {
            assert_eq!(match_choice(typed, &menu()), expected, "{typed}");
        }
    }

    #[test]
    fn choices_match_labels_typed_approximately() {
        let cases = [
            ("lessons", Some(0)),
            ("  LESSONS ", Some(0)),
            ("lesons", Some(0)),
            ("اسباق", Some(0)),
            ("পাঠ", Some(0)),
            ("sabak", Some(0)),
            ("asbaaq", Some(0)),
            ("my progress", Some(1)),
            ("progress", Some(1)),
            ("zabaan", Some(2)),
            ("زبان", Some(2)),
            ("hello", None),
            ("", None),
            ("🙂", None),
        ];
        for (typed, expected) in cases {
            assert_eq!(match_choice(typed, &menu()), expected, "{typed:?}");
        }
    }

    #[test]
    fn ambiguous_words_match_nothing() {
        let choices = vec![
            Candidates::new(["Read the lesson"], &[]),
            Candidates::new(["Skip the lesson"], &[]),
        ];
        assert_eq!(match_choice("lesson", &choices), None);
        assert_eq!(match_choice("skip", &choices), Some(1));
    }

    #[test]
    fn command_words_match_roman_urdu_variants() {
        let words: Vec<String> = ["menu", "مینو", "/menu"]
            .iter()
            .map(|w| normalize(w))
            .collect();
        for typed in ["Menu", "MENU", "mainu", "/menu", "مینو", "meenu"] {
            assert!(matches_word(typed, &words), "{typed}");
        }
        assert!(!matches_word("money", &words));
    }

    #[test]
    fn numbers_reads_lists_and_ranges() {
        assert_eq!(numbers("1, 2 and 5"), [1, 2, 5]);
        assert_eq!(numbers("۳ ۴"), [3, 4]);
        assert_eq!(numbers("1-3"), [1, 2, 3]);
        assert_eq!(numbers("4 se 5"), [4, 5]);
        assert_eq!(numbers("class ৫"), [5]);
        assert!(numbers("none").is_empty());
    }
}
