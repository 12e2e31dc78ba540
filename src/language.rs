//! Languages and text normalization. Pure.
//!
//! Owns the [`Lang`] codes Baithak speaks and the one [`normalize`] function used wherever a
//! teacher's typing is compared with content: menu labels now, knowledge-base search later.
//! Teachers type English, Urdu (on Urdu or Arabic keyboards), Bangla and Roman Urdu, with
//! digits from any of those scripts; normalization folds those differences away so that
//! matching code can compare plain strings.

use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

/// A language the content is written in and a teacher can choose.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English, the fallback for every missing translation.
    #[default]
    En,
    /// Urdu, written right to left.
    Ur,
    /// Bangla.
    Bn,
}

impl Lang {
    /// All languages, English first.
    pub const ALL: [Lang; 3] = [Lang::En, Lang::Ur, Lang::Bn];

    /// The ISO 639-1 code.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ur => "ur",
            Lang::Bn => "bn",
        }
    }

    /// Parses an ISO 639-1 code (`en`, `ur`, `bn`), case-insensitively.
    #[must_use]
    pub fn parse(code: &str) -> Option<Lang> {
        match code.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "ur" => Some(Lang::Ur),
            "bn" => Some(Lang::Bn),
            _ => None,
        }
    }

    /// Whether the script runs right to left.
    #[must_use]
    pub fn is_rtl(self) -> bool {
        self == Lang::Ur
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Folds a teacher's text into a canonical form for comparison.
///
/// NFKC; lowercase; Arabic-keyboard letters folded to their Urdu forms; harakat, tatweel and
/// zero-width characters removed; Bangla khanda-ta composed; digits of every script mapped to
/// ASCII; punctuation turned into spaces; runs of spaces collapsed. Idempotent.
#[must_use]
pub fn normalize(text: &str) -> String {
    let mut out = fold(text);
    // Dropping a mark after NFKC can leave neighbours that compose ("e", ZWSP, acute → "e" +
    // acute), and a lowercase that grows (`İ` → `i` + dot) can leave marks out of canonical
    // order; both show as text that is not NFC, and another pass settles it (found by the
    // property tests in tests/properties.rs).
    for _ in 0..4 {
        if unicode_normalization::is_nfc_quick(out.chars())
            == unicode_normalization::IsNormalized::Yes
        {
            break;
        }
        let again = fold(&out);
        if again == out {
            break;
        }
        out = again;
    }
    out
}

/// One pass of [`normalize`].
fn fold(text: &str) -> String {
    // `ত্‍` (ta, virama, ZWJ) is the old spelling of khanda-ta `ৎ`; fold it before ZWJ goes.
    let text = text.replace("\u{09A4}\u{09CD}\u{200D}", "\u{09CE}");
    let mut out = String::with_capacity(text.len());
    let mut last_space = true;
    for c in text.nfkc().flat_map(char::to_lowercase) {
        let Some(c) = fold_char(c) else { continue };
        if c.is_whitespace() || is_separator(c) {
            if !last_space {
                out.push(' ');
                last_space = true;
            }
        } else {
            out.push(c);
            last_space = false;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// Splits normalized text into words (UAX #29), keeping Bangla and Urdu words whole.
#[must_use]
pub fn words(text: &str) -> Vec<&str> {
    text.unicode_words().collect()
}

/// Folds common Roman Urdu spelling variants ("haan"/"han", "shukriya"/"shukria",
/// "bohot"/"bahut") to one skeleton, for Latin-script words only.
///
/// Roman Urdu has no standard spelling; teachers write vowels long, short or not at all and
/// double consonants or not. The skeleton keeps the consonants, folds every run of vowels into
/// one `a` and drops an `h` after the first letter, which is enough to match menu words and
/// aliases approximately.
#[must_use]
pub fn roman_skeleton(word: &str) -> String {
    if !word.chars().all(|c| c.is_ascii_alphanumeric()) {
        return word.to_string();
    }
    let word = word
        .replace("ph", "f")
        .replace("kh", "k")
        .replace("gh", "g")
        .replace('q', "k")
        .replace('w', "v")
        .replace('z', "j");
    let mut out = String::with_capacity(word.len());
    let mut prev: Option<char> = None;
    for (i, c) in word.chars().enumerate() {
        let folded = match c {
            'a' | 'e' | 'i' | 'o' | 'u' => 'a',
            'y' if i > 0 => 'a',
            'h' if i > 0 => continue,
            other => other,
        };
        if prev == Some(folded) {
            continue;
        }
        out.push(folded);
        prev = Some(folded);
    }
    out
}

/// Maps a character to its folded form, or `None` to drop it.
fn fold_char(c: char) -> Option<char> {
    let folded = match c {
        // Zero-width joiners, marks and the BOM carry no meaning for matching.
        '\u{200B}'..='\u{200F}' | '\u{FEFF}' | '\u{00AD}' | '\u{2066}'..='\u{2069}' => return None,
        // Arabic tatweel and harakat (including superscript alef and Quranic marks).
        '\u{0640}' | '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{06D6}'..='\u{06ED}' => return None,
        // Arabic-keyboard letters typed for Urdu ones.
        'ي' | 'ى' => 'ی',
        'ك' => 'ک',
        'ه' | 'ة' => 'ہ',
        'أ' | 'إ' => 'ا',
        // Digits of every script Baithak reads.
        '\u{0660}'..='\u{0669}' => digit(c, '\u{0660}'),
        '\u{06F0}'..='\u{06F9}' => digit(c, '\u{06F0}'),
        '\u{09E6}'..='\u{09EF}' => digit(c, '\u{09E6}'),
        '\u{0966}'..='\u{096F}' => digit(c, '\u{0966}'),
        other => other,
    };
    Some(folded)
}

/// The value of a decimal digit in any script Baithak reads (`5`, `٥`, `۵`, `৫`).
#[must_use]
pub fn digit_value(c: char) -> Option<u32> {
    fold_char(c).and_then(|d| d.to_digit(10))
}

fn digit(c: char, zero: char) -> char {
    char::from(b'0' + u8::try_from(u32::from(c) - u32::from(zero)).unwrap_or(0))
}

/// Punctuation that separates words, across scripts (Latin, Urdu full stop and comma, Bangla
/// danda). Combining marks are not separators: Bangla words keep their virama and signs.
fn is_separator(c: char) -> bool {
    matches!(c, '۔' | '،' | '؟' | '।' | '॥' | '٫' | '٬' | '؛')
        || (c.is_ascii_punctuation() && c != '/')
        || matches!(c, '…' | '“' | '”' | '‘' | '’' | '–' | '—' | '«' | '»')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_folds_case_space_and_punctuation() {
        let cases = [
            ("  Main   MENU!! ", "main menu"),
            ("Next ▶", "next ▶"),
            ("/start", "/start"),
            ("Ｔｅａｃｈｅｒ", "teacher"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize(input), expected, "{input:?}");
        }
    }

    #[test]
    fn normalize_maps_digits_of_every_script_to_ascii() {
        assert_eq!(normalize("۳"), "3");
        assert_eq!(normalize("٣"), "3");
        assert_eq!(normalize("৩"), "3");
        assert_eq!(normalize("১২"), "12");
    }

    #[test]
    fn normalize_folds_arabic_keyboard_letters_and_strips_harakat() {
        assert_eq!(normalize("مُعَلِّم"), "معلم");
        assert_eq!(normalize("كتاب"), normalize("کتاب"));
        assert_eq!(normalize("مدرسه"), normalize("مدرسہ"));
        assert_eq!(normalize("علي"), normalize("علی"));
        assert_eq!(normalize("ٹھیک۔"), "ٹھیک");
    }

    #[test]
    fn bangla_words_stay_whole() {
        let text = normalize("বিদ্যালয়ের শিক্ষক ক্লাসে পড়াচ্ছেন।");
        assert_eq!(words(&text), ["বিদ্যালয়ের", "শিক্ষক", "ক্লাসে", "পড়াচ্ছেন"]);
        assert_eq!(normalize("উত্‍সব"), "উৎসব");
    }

    #[test]
    fn normalize_is_idempotent_on_samples() {
        for s in [
            "Haan JI!",
            "مُعَلِّم ۱۲۳ نیم‌گرم",
            "বিদ্যালয়ের।",
            "Ｔｅａ  ",
            "a\u{200B}b",
        ] {
            let once = normalize(s);
            assert_eq!(normalize(&once), once, "{s:?}");
        }
    }

    #[test]
    fn roman_urdu_variants_share_a_skeleton() {
        let groups = [
            &["haan", "han", "haaan"][..],
            &["shukriya", "shukria", "shukreya"],
            &["bohat", "bahut", "bohot"],
            &["sabaq", "sabak"],
            &["zaban", "jaban", "zabaan"],
            &["menu", "mainu", "meenu"],
        ];
        for group in groups {
            let first = roman_skeleton(group[0]);
            for word in group {
                assert_eq!(roman_skeleton(word), first, "{word}");
            }
        }
    }

    #[test]
    fn roman_skeleton_leaves_other_scripts_alone() {
        assert_eq!(roman_skeleton("مدد"), "مدد");
    }
}
