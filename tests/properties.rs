//! Property tests (proptest) for the pure text helpers every message passes through: the
//! normalizer teachers' typing is compared by (`language::normalize`) and the splitter that
//! cuts long replies into messages a platform accepts (`channel::split`). The pacing of a
//! WhatsApp number is tested the same way next to its private schedule, in
//! `src/channel/whatsapp/pace.rs` (`mod proptests`).

use baithak::channel::split;
use baithak::language::{digit_value, normalize};
use proptest::prelude::*;

/// Characters the normalizer and the splitter treat specially, so that arbitrary strings hit
/// them far more often than uniformly random code points would.
const SPECIAL: &[char] = &[
    ' ',
    '\n',
    '\t',
    '\r',
    '\u{A0}',
    '\u{3000}',
    '.',
    '?',
    '!',
    ',',
    '/',
    '-',
    '…',
    '“',
    '”',
    '–',
    '—',
    '«',
    '»',
    '۔',
    '،',
    '؟',
    '।',
    '॥',
    '٫',
    '٬',
    '؛',
    '\u{200B}',
    '\u{200C}',
    '\u{200D}',
    '\u{200E}',
    '\u{200F}',
    '\u{FEFF}',
    '\u{00AD}',
    '\u{2066}',
    '\u{2069}',
    '\u{0640}',
    '\u{064B}',
    '\u{0650}',
    '\u{0670}',
    '\u{06D6}',
    '\u{06ED}',
    'ي',
    'ى',
    'ی',
    'ك',
    'ک',
    'ه',
    'ة',
    'ہ',
    'أ',
    'إ',
    'ا',
    'آ',
    'ﻻ',
    'ﷺ',
    '٣',
    '۳',
    '৩',
    '३',
    '３',
    '①',
    '²',
    'ত',
    '\u{09CD}',
    'ৎ',
    'ক',
    'া',
    'ি',
    'İ',
    'ß',
    'Σ',
    'ς',
    'ﬁ',
    'Ａ',
    'Ⅻ',
    '㎏',
    '😀',
    '👩',
    '\u{1F3FD}',
    '\u{0301}',
    'e',
    'A',
    'z',
    '0',
    '9',
];

/// One character: arbitrary Unicode half the time, a specially treated one otherwise.
fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![any::<char>(), prop::sample::select(SPECIAL)]
}

/// Arbitrary text of up to `len` characters, biased towards the interesting ones.
fn text(len: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any_char(), 0..len).prop_map(|cs| cs.into_iter().collect())
}

/// A decimal digit written in one of the scripts teachers type, with its value.
fn script_digit() -> impl Strategy<Value = (char, u32)> {
    const ZEROS: &[char] = &[
        '0', '\u{0660}', '\u{06F0}', '\u{09E6}', '\u{0966}', '\u{FF10}',
    ];
    (prop::sample::select(ZEROS), 0u32..10).prop_map(|(zero, value)| {
        let c = char::from_u32(u32::from(zero) + value).expect("a digit");
        (c, value)
    })
}

/// Text shaped like a reply: words in three scripts, emoji, sentence ends, lines, paragraphs.
fn reply_text() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        "[a-zA-Z]{1,12}",
        "[\u{0621}-\u{064A}\u{06A9}\u{06CC}]{1,8}",
        "[\u{0995}-\u{09B9}\u{09BE}-\u{09C4}]{1,8}",
        "[😀👩🏽‍🏫]{1,3}",
        "[a-z]{30,90}",
        any_char().prop_map(String::from),
    ];
    let sep = prop::sample::select(
        &[
            " ", " ", " ", " ", "  ", "\n", "\n\n", ". ", "۔ ", "। ", "? ", "! ", ", ", "\t", "",
        ][..],
    );
    prop::collection::vec((word, sep), 0..120).prop_map(|parts| {
        parts
            .into_iter()
            .flat_map(|(w, s)| [w, s.to_string()])
            .collect()
    })
}

proptest! {
    // Failures are reported with their shrunk input; no regression files in the tree.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn normalize_never_panics(input in any::<String>()) {
        let _ = normalize(&input);
    }

    // Dropping a mark after NFKC, or lowercasing into a combining dot, used to leave text the
    // next pass composed or reordered: "e\u{200B}\u{301}", "\u{9C7}\u{200C}\u{9BE}",
    // "İ\u{9CD}" (fixed: `normalize` passes again until the text is NFC).
    #[test]
    fn normalize_is_idempotent(input in text(80)) {
        let once = normalize(&input);
        prop_assert_eq!(normalize(&once), once.clone(), "input {:?}", input);
    }

    #[test]
    fn normalize_is_idempotent_on_any_string(input in any::<String>()) {
        let once = normalize(&input);
        prop_assert_eq!(normalize(&once), once.clone(), "input {:?}", input);
    }

    #[test]
    fn the_known_counterexamples_are_idempotent(input in prop::sample::select(vec![
        "e\u{200B}\u{301}", "\u{9C7}\u{200C}\u{9BE}", "İ\u{9CD}", "ﬁ\u{200B}\u{301}",
    ])) {
        let once = normalize(input);
        prop_assert_eq!(normalize(&once), once.clone(), "input {:?}", input);
    }

    #[test]
    fn normalized_text_has_single_spaces_and_no_separators(input in text(80)) {
        let out = normalize(&input);
        prop_assert!(!out.starts_with(' ') && !out.ends_with(' '), "{:?} -> {:?}", input, out);
        prop_assert!(!out.contains("  "), "{:?} -> {:?}", input, out);
        for c in out.chars() {
            prop_assert!(c == ' ' || !c.is_whitespace(), "whitespace {:?} in {:?}", c, out);
            prop_assert!(
                !(c.is_ascii_punctuation() && c != '/'),
                "punctuation {:?} in {:?}", c, out
            );
            prop_assert!(
                !matches!(c, '۔' | '،' | '؟' | '।' | '॥' | '…' | '“' | '”' | '–' | '—' | '«' | '»'),
                "separator {:?} in {:?}", c, out
            );
        }
    }

    #[test]
    fn normalized_text_has_no_invisible_marks_or_arabic_keyboard_letters(input in text(80)) {
        let out = normalize(&input);
        for c in out.chars() {
            prop_assert!(
                !matches!(c,
                    '\u{200B}'..='\u{200F}' | '\u{FEFF}' | '\u{00AD}' | '\u{2066}'..='\u{2069}'
                    | '\u{0640}' | '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{06D6}'..='\u{06ED}'
                    | 'ي' | 'ى' | 'ك' | 'ه' | 'ة' | 'أ' | 'إ'),
                "{:?} left in {:?} (from {:?})", c, out, input
            );
        }
    }

    #[test]
    fn normalized_text_is_lowercase(input in text(80)) {
        let out = normalize(&input);
        prop_assert_eq!(out.to_lowercase(), out.clone(), "input {:?}", input);
    }

    #[test]
    fn digits_of_every_script_become_ascii(digits in prop::collection::vec(script_digit(), 1..20)) {
        let input: String = digits.iter().map(|(c, _)| *c).collect();
        let expected: String = digits
            .iter()
            .map(|(_, v)| char::from_digit(*v, 10).expect("a digit"))
            .collect();
        prop_assert_eq!(normalize(&input), expected);
        // `digit_value` reads the scripts teachers type (not full-width forms, which only
        // `normalize` folds, through NFKC).
        for (c, value) in digits.iter().filter(|(c, _)| !('\u{FF10}'..='\u{FF19}').contains(c)) {
            prop_assert_eq!(digit_value(*c), Some(*value), "{:?}", c);
        }
    }

    #[test]
    fn digits_survive_amid_other_text(
        before in text(20), (digit, value) in script_digit(), after in text(20),
    ) {
        // A digit between spaces stays a word of its own, whatever surrounds it.
        let out = normalize(&format!("{before} {digit} {after}"));
        let ascii = char::from_digit(value, 10).expect("a digit").to_string();
        prop_assert!(
            out.split(' ').any(|w| w == ascii),
            "{:?} lost in {:?} (from {:?} + {:?})", digit, out, before, after
        );
    }

    #[test]
    fn split_parts_fit_the_limit(text in reply_text(), max in 1usize..300) {
        for part in split(&text, max) {
            let chars = part.chars().count();
            prop_assert!(chars <= max, "{} > {}: {:?}", chars, max, part);
        }
    }

    #[test]
    fn split_parts_are_trimmed_and_non_empty(text in reply_text(), max in 1usize..300) {
        let parts = split(&text, max);
        if text.trim().is_empty() {
            prop_assert_eq!(parts, vec![String::new()]);
        } else {
            for part in &parts {
                prop_assert!(!part.is_empty(), "empty part in {:?}", parts);
                prop_assert_eq!(part.trim(), part.as_str());
            }
        }
    }

    #[test]
    fn split_loses_nothing_but_whitespace_at_the_cuts(text in reply_text(), max in 1usize..300) {
        // Every part is the next stretch of the text, and only whitespace lies between parts.
        let parts = split(&text, max);
        let mut rest = text.as_str();
        for part in &parts {
            rest = rest.trim_start();
            prop_assert!(
                rest.starts_with(part.as_str()),
                "part {:?} is not next in {:?}", part, rest
            );
            rest = &rest[part.len()..];
        }
        prop_assert!(rest.trim().is_empty(), "left over {:?}", rest);
        let content: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let kept: String = parts.concat().chars().filter(|c| !c.is_whitespace()).collect();
        prop_assert_eq!(kept, content);
    }

    #[test]
    fn split_never_panics_on_arbitrary_unicode(text in text(400), max in 1usize..120) {
        let parts = split(&text, max);
        prop_assert!(!parts.is_empty());
        for part in &parts {
            prop_assert!(part.chars().count() <= max);
            // Each part is whole UTF-16 too: no lone surrogate when re-encoded and decoded.
            let units: Vec<u16> = part.encode_utf16().collect();
            let decoded = String::from_utf16(&units).ok();
            prop_assert_eq!(decoded.as_deref(), Some(part.as_str()));
        }
    }

    #[test]
    fn split_keeps_short_texts_whole(text in reply_text()) {
        let trimmed = text.trim();
        let max = trimmed.chars().count().max(1);
        prop_assert_eq!(split(&text, max), vec![trimmed.to_string()]);
    }

    #[test]
    fn split_prefers_paragraphs(
        paragraphs in prop::collection::vec("[a-z]{1,8}( [a-z]{1,8}){0,6}", 2..8),
    ) {
        // When every paragraph fits, no part ends inside a paragraph: each part is a run of
        // whole paragraphs.
        let max = paragraphs.iter().map(|p| p.chars().count()).max().unwrap_or(1) * 3;
        let text = paragraphs.join("\n\n");
        for part in split(&text, max) {
            for piece in part.split("\n\n") {
                prop_assert!(
                    paragraphs.iter().any(|p| p == piece),
                    "{:?} cut inside {:?}", piece, text
                );
            }
        }
    }

    #[test]
    fn a_zero_limit_still_finishes(input in text(40)) {
        let pieces = split(&input, 0);
        prop_assert!(pieces.iter().all(|p| p.chars().count() <= 1), "{:?}", pieces);
    }
}
