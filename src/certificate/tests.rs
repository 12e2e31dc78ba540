use chrono::NaiveDate;
use resvg::usvg;

use super::{Certificate, format_date, render_png, svg, tree};
use crate::language::Lang;

fn sample(lang: Lang) -> Certificate {
    let date = NaiveDate::from_ymd_opt(2026, 3, 12).expect("date");
    match lang {
        Lang::En => Certificate {
            lang,
            heading: "Certificate of completion".into(),
            certifies: "This certifies that".into(),
            name: "Ayesha Khan".into(),
            completed: "has completed the module".into(),
            title: "Checking for understanding".into(),
            issued: format!("Issued on {}", format_date(date, lang)),
            code_label: "Verification code".into(),
            code: "ABCD-2345".into(),
            verify_url: "https://baithak.example.org/verify/ABCD-2345".into(),
        },
        Lang::Ur => Certificate {
            lang,
            heading: "تکمیل کا سرٹیفکیٹ".into(),
            certifies: "تصدیق کی جاتی ہے کہ".into(),
            name: "عائشہ خان".into(),
            completed: "نے یہ ماڈیول مکمل کر لیا ہے".into(),
            title: "سمجھ کی جانچ".into(),
            issued: format!("جاری کردہ: {}", format_date(date, lang)),
            code_label: "تصدیقی کوڈ".into(),
            code: "ABCD-2345".into(),
            verify_url: "https://baithak.example.org/verify/ABCD-2345".into(),
        },
        Lang::Bn => Certificate {
            lang,
            heading: "সমাপ্তির সনদ".into(),
            certifies: "এই মর্মে প্রত্যয়ন করা হচ্ছে যে".into(),
            name: "রাশিদা আক্তার".into(),
            completed: "মডিউলটি সম্পন্ন করেছেন".into(),
            title: "শিক্ষার্থীরা বুঝল কি না যাচাই".into(),
            issued: format!("প্রদানের তারিখ: {}", format_date(date, lang)),
            code_label: "যাচাই কোড".into(),
            code: "ABCD-2345".into(),
            verify_url: "https://baithak.example.org/verify/ABCD-2345".into(),
        },
    }
}

/// Every glyph laid out for text nodes whose text contains `needle`.
fn glyphs_of(tree: &usvg::Tree, needle: &str) -> Vec<u32> {
    fn walk(group: &usvg::Group, needle: &str, out: &mut Vec<u32>) {
        for node in group.children() {
            match node {
                usvg::Node::Group(g) => walk(g, needle, out),
                usvg::Node::Text(text) => {
                    let content: String =
                        text.chunks().iter().map(|c| c.text().to_string()).collect();
                    if content.contains(needle) {
                        for span in text.layouted() {
                            out.extend(span.positioned_glyphs.iter().map(|g| g.id.0));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(tree.root(), needle, &mut out);
    out
}

fn save(name: &str, png: &[u8]) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join(name), png);
}

#[test]
fn certificates_render_as_png_in_every_language() {
    for (lang, file) in [
        (Lang::En, "certificate-en.png"),
        (Lang::Ur, "certificate-ur.png"),
        (Lang::Bn, "certificate-bn.png"),
    ] {
        let png = render_png(&sample(lang)).expect("renders");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{lang:?}");
        assert!(png.len() > 20_000, "{lang:?}: {} bytes", png.len());
        save(file, &png);
    }
}

#[test]
fn urdu_and_bangla_names_are_shaped_into_real_glyphs() {
    for (lang, name) in [(Lang::Ur, "عائشہ خان"), (Lang::Bn, "রাশিদা আক্তার")]
    {
        let tree = tree(&sample(lang)).expect("tree");
        let glyphs = glyphs_of(&tree, name);
        assert!(!glyphs.is_empty(), "{lang:?}: the name was laid out");
        assert!(
            glyphs.iter().all(|&g| g != 0),
            "{lang:?}: no .notdef glyph in {glyphs:?}"
        );
    }
    // Joined letters: Nastaliq shapes "عائشہ" into contextual forms, so the glyphs differ
    // from the isolated letters' (each letter alone).
    let joined = glyphs_of(&tree(&sample(Lang::Ur)).expect("tree"), "عائشہ خان");
    let mut alone = sample(Lang::Ur);
    alone.name = "ع ا ئ ش ہ".into();
    let isolated = glyphs_of(&tree(&alone).expect("tree"), "ع ا ئ ش ہ");
    assert!(
        isolated.iter().filter(|g| joined.contains(g)).count() < isolated.len(),
        "joined forms differ from isolated ones: {joined:?} vs {isolated:?}"
    );
}

#[test]
fn names_are_escaped_and_controls_dropped() {
    let mut c = sample(Lang::En);
    c.name = "<script>&\u{0}\u{202E}Ali".into();
    let svg = svg(&c);
    assert!(svg.contains("&lt;script&gt;&amp;Ali"));
    assert!(!svg.contains('\u{0}'));
    assert!(render_png(&c).is_ok());
    c.name = "A".repeat(500);
    assert!(render_png(&c).is_ok());
}

#[test]
fn dates_are_written_the_readers_way() {
    let date = NaiveDate::from_ymd_opt(2026, 3, 12).expect("date");
    assert_eq!(format_date(date, Lang::En), "12 March 2026");
    assert_eq!(format_date(date, Lang::Ur), "12 مارچ 2026");
    assert_eq!(format_date(date, Lang::Bn), "১২ মার্চ ২০২৬");
}
