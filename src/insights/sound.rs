//! Sound keys: one key for a word however it is written, in Latin letters, Urdu script or
//! Bangla script, so that a question typed in Roman Urdu meets the same question typed in Urdu
//! script, and an English loanword meets itself in every script. Pure.
//!
//! "class", "کلاس", "ক্লাসে" → `kls`; "kamzor", "کمزور" → `kmjr`; "shabash", "شاباش" → `sbs`;
//! "pension", "پنشن", "পেনশন" → `pnsn`; "control", "کنٹرول" → `kntrl`.
//!
//! The key keeps consonants only, each folded into one of thirteen classes (`k g c j s t d p b
//! r l m n`): vowels, vowel signs, `h` and the semivowels (`w v y`, و ی, য়) are dropped because
//! the scripts write them differently or not at all, aspiration and retroflexion are dropped
//! (`kh`/خ/খ → `k`, ٹ/ট → `t`), and a run of one class counts once. A Bangla word loses one
//! common case or plural ending first (-র, -ের, -কে, -তে, -দের, -রা, -গুলো). A key of fewer
//! than two consonants says too little and is no key.
//!
//! Why not a crate: the phonetic crates (Soundex, Metaphone, e.g. `rphonetic`) encode English
//! spelling only; none maps Urdu or Bangla letters, which is the point here. The tables below
//! are the whole algorithm.

/// The sound key of one normalized word ([`crate::language::normalize`]), if it has at least
/// two consonants.
#[must_use]
pub fn key(word: &str) -> Option<String> {
    if word.is_empty() || word.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut out = Key::default();
    if word.chars().all(|c| c.is_ascii_alphanumeric()) {
        latin(&word.to_ascii_lowercase(), &mut out);
    } else if word.chars().any(|c| ('\u{0980}'..='\u{09FF}').contains(&c)) {
        bangla(word, &mut out);
    } else {
        word.chars().filter_map(urdu).for_each(|c| out.push(c));
    }
    (out.0.chars().count() >= 2).then_some(out.0)
}

/// A key being built: consonant classes, a run of one class kept once.
#[derive(Default)]
struct Key(String);

impl Key {
    fn push(&mut self, class: char) {
        if !self.0.ends_with(class) {
            self.0.push(class);
        }
    }
}

/// English and Roman Urdu spelling: digraphs first (`ch sh th ph kh gh dh bh jh ck`), `c`
/// soft before `e i y`, `tion` as `shn`.
fn latin(word: &str, out: &mut Key) {
    let word = word.replace("tion", "shn");
    let chars: Vec<char> = word.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let next = chars.get(i + 1).copied();
        let (class, step) = match (chars[i], next) {
            ('c', Some('h')) => (Some('c'), 2),
            ('s', Some('h')) => (Some('s'), 2),
            (c @ ('t' | 'p' | 'k' | 'g' | 'd' | 'b' | 'j'), Some('h')) => (Some(c), 2),
            ('c', Some('k')) => (Some('k'), 2),
            ('c', Some('e' | 'i' | 'y')) => (Some('s'), 1),
            ('c' | 'q', _) => (Some('k'), 1),
            ('x', _) => {
                out.push('k');
                (Some('s'), 1)
            }
            ('z', _) => (Some('j'), 1),
            ('f', _) => (Some('p'), 1),
            (c @ ('k' | 'g' | 'j' | 's' | 't' | 'd' | 'p' | 'b' | 'r' | 'l' | 'm' | 'n'), _) => {
                (Some(c), 1)
            }
            _ => (None, 1),
        };
        if let Some(class) = class {
            out.push(class);
        }
        i += step;
    }
}

/// Urdu letters (after normalization: Arabic-keyboard forms already folded).
fn urdu(c: char) -> Option<char> {
    let class = match c {
        'ب' => 'b',
        'پ' | 'ف' => 'p',
        'ت' | 'ٹ' | 'ط' => 't',
        'ث' | 'س' | 'ش' | 'ص' => 's',
        'ج' | 'ذ' | 'ز' | 'ض' | 'ظ' | 'ژ' => 'j',
        'چ' => 'c',
        'خ' | 'ق' | 'ک' => 'k',
        'گ' | 'غ' => 'g',
        'د' | 'ڈ' => 'd',
        'ر' | 'ڑ' => 'r',
        'ل' => 'l',
        'م' => 'm',
        'ن' | 'ں' => 'n',
        _ => return None,
    };
    Some(class)
}

/// Bangla case and plural endings, longest first.
const BANGLA_ENDINGS: &[&str] = &["গুলো", "গুলি", "দের", "তে", "কে", "ের", "রা", "র"];

const VIRAMA: char = '\u{09CD}';
const NUKTA: char = '\u{09BC}';

/// Bangla letters. NFKC leaves ড় ঢ় য় as letter + nukta; a য or ব after the virama is a
/// vowel sign in all but name (য-ফলা, ব-ফলা).
fn bangla(word: &str, out: &mut Key) {
    let length = word.chars().count();
    let stem = BANGLA_ENDINGS
        .iter()
        .find(|ending| word.ends_with(*ending) && length >= ending.chars().count() + 2)
        .map_or(word, |ending| &word[..word.len() - ending.len()]);
    let chars: Vec<char> = stem.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let after_virama = i > 0 && chars[i - 1] == VIRAMA;
        let class = match c {
            'ক' | 'খ' => 'k',
            'গ' | 'ঘ' => 'g',
            'ঙ' | 'ঞ' | 'ণ' | 'ন' | 'ং' => 'n',
            'চ' | 'ছ' => 'c',
            'জ' | 'ঝ' => 'j',
            'য' if next == Some(NUKTA) || after_virama => continue,
            'য' => 'j',
            'ড' | 'ঢ' if next == Some(NUKTA) => 'r',
            'ড' | 'ঢ' | 'দ' | 'ধ' => 'd',
            '\u{09DC}' | '\u{09DD}' => 'r',
            'ট' | 'ঠ' | 'ত' | 'থ' | 'ৎ' => 't',
            'প' | 'ফ' => 'p',
            'ব' if after_virama => continue,
            'ব' | 'ভ' => 'b',
            'ম' => 'm',
            'র' => 'r',
            'ল' => 'l',
            'শ' | 'ষ' | 'স' => 's',
            _ => continue,
        };
        out.push(class);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::normalize;

    fn of(word: &str) -> Option<String> {
        key(&normalize(word))
    }

    #[test]
    fn one_word_in_three_scripts_has_one_key() {
        let groups: &[&[&str]] = &[
            &["class", "کلاس", "ক্লাসে", "ক্লাস"],
            &["control", "کنٹرول"],
            &["bachay", "bache", "بچے"],
            &["bachon", "بچوں"],
            &["kamzor", "کمزور"],
            &["shabash", "شاباش"],
            &["samajh", "سمجھ"],
            &["pension", "پنشن", "পেনশন"],
            &["chutti", "چھٹی", "ছুটির"],
            &["board", "بورڈ", "বোর্ডের"],
            &["group", "گروپ", "গ্রুপ"],
        ];
        for group in groups {
            let first = of(group[0]);
            assert!(first.is_some(), "{}", group[0]);
            for word in *group {
                assert_eq!(of(word), first, "{word} vs {}", group[0]);
            }
        }
    }

    #[test]
    fn different_words_keep_different_keys() {
        assert_ne!(of("salary"), of("transfer"));
        assert_ne!(of("کلاس"), of("کتاب"));
        assert_ne!(of("বেতন"), of("বদলি"));
    }

    #[test]
    fn short_words_numbers_and_symbols_have_no_key() {
        for word in ["", "a", "ho", "hai", "123", "🙂", "ا", "আ", "؟"] {
            assert_eq!(of(word), None, "{word:?}");
        }
    }
}
