//! Certificate images: a teacher's certificate (a passed module or a completed pathway) drawn
//! from an SVG template and rendered to PNG. Pure, except that the fonts are read once from
//! the files shipped in `assets/fonts/` (compiled into the binary).
//!
//! Text is laid out by `usvg`, which splits it into bidirectional runs (unicode-bidi) and
//! shapes each run with HarfRust (the Rust port of HarfBuzz): Urdu is joined and right to
//! left in Noto Nastaliq Urdu (Noto Naskh Arabic as a fallback), Bangla conjuncts come out of
//! Noto Sans Bengali, everything else is Noto Sans. Lines in a right-to-left language are
//! wrapped in a right-to-left embedding so numbers and words keep the reader's order.

pub mod award;

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use chrono::{Datelike, NaiveDate};
use resvg::{tiny_skia, usvg};

use crate::language::Lang;

/// The image's width in pixels.
pub const WIDTH: u32 = 1600;
/// The image's height in pixels.
pub const HEIGHT: u32 = 1131;

/// The fonts shipped with Baithak (SIL Open Font License, `assets/fonts/OFL.txt`).
const FONTS: [&[u8]; 6] = [
    include_bytes!("../../assets/fonts/NotoSans-Regular.ttf"),
    include_bytes!("../../assets/fonts/NotoSans-Bold.ttf"),
    include_bytes!("../../assets/fonts/NotoNastaliqUrdu-Regular.ttf"),
    include_bytes!("../../assets/fonts/NotoNaskhArabic-Regular.ttf"),
    include_bytes!("../../assets/fonts/NotoSansBengali-Regular.ttf"),
    include_bytes!("../../assets/fonts/NotoSansBengali-Bold.ttf"),
];

/// Everything printed on a certificate, already in the teacher's language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    /// The language of the labels (and of the title).
    pub lang: Lang,
    /// "Certificate of completion" or "Pathway certificate".
    pub heading: String,
    /// "This certifies that".
    pub certifies: String,
    /// The teacher's name, as they gave it.
    pub name: String,
    /// "has completed the module" (or pathway).
    pub completed: String,
    /// The module's or pathway's title.
    pub title: String,
    /// "Issued on {date}" with the date filled in.
    pub issued: String,
    /// "Verification code".
    pub code_label: String,
    /// The code, `XXXX-XXXX`.
    pub code: String,
    /// Where anyone can check it.
    pub verify_url: String,
}

/// Why an image could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The template did not parse (a bug: every text is escaped).
    #[error("certificate template: {0}")]
    Template(String),
    /// The image could not be encoded.
    #[error("certificate image: {0}")]
    Encode(String),
}

/// The certificate as PNG bytes.
///
/// # Errors
///
/// [`RenderError`] when the template or the encoder fails (not expected for any input).
pub fn render_png(certificate: &Certificate) -> Result<Vec<u8>, RenderError> {
    let tree = tree(certificate)?;
    let mut pixmap = tiny_skia::Pixmap::new(WIDTH, HEIGHT)
        .ok_or_else(|| RenderError::Encode("empty image".into()))?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap
        .encode_png()
        .map_err(|e| RenderError::Encode(e.to_string()))
}

/// The laid-out SVG tree of a certificate (text shaped into glyphs).
///
/// # Errors
///
/// [`RenderError::Template`] when the SVG does not parse.
pub fn tree(certificate: &Certificate) -> Result<usvg::Tree, RenderError> {
    let options = usvg::Options {
        fontdb: Arc::clone(fonts()),
        font_family: "Noto Sans".into(),
        languages: vec![certificate.lang.code().to_string()],
        ..usvg::Options::default()
    };
    usvg::Tree::from_str(&svg(certificate), &options)
        .map_err(|e| RenderError::Template(e.to_string()))
}

/// The shipped fonts, loaded once.
fn fonts() -> &'static Arc<usvg::fontdb::Database> {
    static FONT_DB: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    FONT_DB.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        for font in FONTS {
            db.load_font_data(font.to_vec());
        }
        db.set_sans_serif_family("Noto Sans");
        db.set_serif_family("Noto Sans");
        Arc::new(db)
    })
}

/// The SVG of a certificate (every text escaped).
#[must_use]
pub fn svg(c: &Certificate) -> String {
    let (w, h) = (WIDTH, HEIGHT);
    let cx = w / 2;
    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">
<rect width="{w}" height="{h}" fill="#fffdf6"/>
<rect x="30" y="30" width="{iw}" height="{ih}" fill="none" stroke="#1f5f5b" stroke-width="10"/>
<rect x="52" y="52" width="{jw}" height="{jh}" fill="none" stroke="#c9a227" stroke-width="3"/>
<circle cx="{cx}" cy="150" r="54" fill="#1f5f5b"/>
<text x="{cx}" y="172" font-family="Noto Sans" font-weight="bold" font-size="58" fill="#fffdf6" text-anchor="middle">B</text>
<text x="{cx}" y="240" font-family="Noto Sans" font-weight="bold" font-size="30" fill="#1f5f5b" text-anchor="middle" letter-spacing="8">BAITHAK</text>
"##,
        iw = w - 60,
        ih = h - 60,
        jw = w - 104,
        jh = h - 104,
    );
    let lang = c.lang;
    line(&mut out, cx, 360, 60, "#1f5f5b", true, lang, &c.heading);
    line(&mut out, cx, 440, 34, "#444444", false, lang, &c.certifies);
    let name_size = fitted_size(&c.name, 76, 1300);
    line(&mut out, cx, 560, name_size, "#111111", true, lang, &c.name);
    let _ = writeln!(
        out,
        r##"<rect x="{x}" y="600" width="700" height="3" fill="#c9a227"/>"##,
        x = cx - 350
    );
    line(&mut out, cx, 680, 34, "#444444", false, lang, &c.completed);
    let title_size = fitted_size(&c.title, 52, 1350);
    line(
        &mut out, cx, 790, title_size, "#1f5f5b", true, lang, &c.title,
    );
    line(&mut out, cx, 890, 30, "#444444", false, lang, &c.issued);
    let _ = write!(
        out,
        r##"<text x="{cx}" y="985" font-family="{family}" font-size="26" fill="#444444" text-anchor="middle">{label}: <tspan font-family="Noto Sans" font-weight="bold" fill="#111111">{code}</tspan></text>
<text x="{cx}" y="1035" font-family="Noto Sans" font-size="24" fill="#1f5f5b" text-anchor="middle">{url}</text>
</svg>"##,
        family = family(&c.code_label, false),
        label = isolate(&escape(&c.code_label), lang),
        code = escape(&c.code),
        url = escape(&c.verify_url),
    );
    out
}

/// One centred line of text in the font its script needs.
#[allow(clippy::too_many_arguments)]
fn line(
    out: &mut String,
    x: u32,
    y: u32,
    size: u32,
    fill: &str,
    bold: bool,
    lang: Lang,
    text: &str,
) {
    let family = family(text, bold);
    // Nastaliq has no bold and needs room: a little larger, never synthetic bold.
    let nastaliq = family.starts_with("Noto Nastaliq");
    let weight = if bold && !nastaliq { "bold" } else { "normal" };
    let size = if nastaliq { size * 9 / 10 } else { size };
    let _ = writeln!(
        out,
        r#"<text x="{x}" y="{y}" font-family="{family}" font-weight="{weight}" font-size="{size}" fill="{fill}" text-anchor="middle">{}</text>"#,
        isolate(&escape(text), lang)
    );
}

/// The font family for a text by its script: Nastaliq for Urdu (Naskh for what it lacks),
/// Noto Sans Bengali for Bangla, Noto Sans otherwise.
fn family(text: &str, _bold: bool) -> &'static str {
    if text.chars().any(is_arabic) {
        "Noto Nastaliq Urdu, Noto Naskh Arabic, Noto Sans"
    } else if text.chars().any(is_bengali) {
        "Noto Sans Bengali, Noto Sans"
    } else {
        "Noto Sans, Noto Sans Bengali, Noto Nastaliq Urdu"
    }
}

fn is_arabic(c: char) -> bool {
    matches!(c, '\u{0600}'..='\u{06FF}' | '\u{0750}'..='\u{077F}' | '\u{FB50}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}')
}

fn is_bengali(c: char) -> bool {
    ('\u{0980}'..='\u{09FF}').contains(&c)
}

/// A line with right-to-left text (Urdu, or an Urdu name on an English certificate) is
/// embedded right to left, so its words, digits and punctuation read in the writer's order.
fn isolate(escaped: &str, lang: Lang) -> String {
    if lang == Lang::Ur || escaped.chars().any(is_arabic) {
        format!("\u{202B}{escaped}\u{202C}")
    } else {
        escaped.to_string()
    }
}

/// A font size that keeps a long line within `width` pixels (roughly: average glyph width is
/// about half the size), never below 40 % of `size`.
fn fitted_size(text: &str, size: u32, width: u32) -> u32 {
    let chars = u32::try_from(text.chars().count())
        .unwrap_or(u32::MAX)
        .max(1);
    let fits = width.saturating_mul(2) / chars;
    fits.clamp(size * 2 / 5, size)
}

/// Text for XML: markup characters escaped, characters XML cannot carry (controls, bidi
/// overrides the teacher typed) dropped, and at most 80 characters.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text
        .chars()
        .filter(|c| {
            !c.is_control() && !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .take(80)
    {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A date as people write it in `lang`: `12 March 2026`, `12 مارچ 2026`, `১২ মার্চ ২০২৬`.
#[must_use]
pub fn format_date(date: NaiveDate, lang: Lang) -> String {
    const EN: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const UR: [&str; 12] = [
        "جنوری",
        "فروری",
        "مارچ",
        "اپریل",
        "مئی",
        "جون",
        "جولائی",
        "اگست",
        "ستمبر",
        "اکتوبر",
        "نومبر",
        "دسمبر",
    ];
    const BN: [&str; 12] = [
        "জানুয়ারি",
        "ফেব্রুয়ারি",
        "মার্চ",
        "এপ্রিল",
        "মে",
        "জুন",
        "জুলাই",
        "আগস্ট",
        "সেপ্টেম্বর",
        "অক্টোবর",
        "নভেম্বর",
        "ডিসেম্বর",
    ];
    let month = usize::try_from(date.month0()).unwrap_or(0).min(11);
    match lang {
        Lang::En => format!("{} {} {}", date.day(), EN[month], date.year()),
        Lang::Ur => format!("{} {} {}", date.day(), UR[month], date.year()),
        Lang::Bn => {
            let digits = |n: String| -> String {
                n.chars()
                    .map(|c| match c.to_digit(10) {
                        Some(d) => char::from_u32(0x09E6 + d).unwrap_or(c),
                        None => c,
                    })
                    .collect()
            };
            format!(
                "{} {} {}",
                digits(date.day().to_string()),
                BN[month],
                digits(date.year().to_string())
            )
        }
    }
}

#[cfg(test)]
mod tests;
