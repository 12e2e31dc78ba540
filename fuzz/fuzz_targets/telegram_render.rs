//! `telegram_render`: arbitrary reply text through the message splitter
//! ([`baithak::channel::split`]) and the Telegram and WhatsApp renderers (`*bold*`/`_italic_`
//! to HTML, callback data, keyboards).
//!
//! The first two bytes are the split limit; the rest, split at NUL bytes, is the reply text and
//! then buttons (`id`, TAB, label).

#![no_main]

use baithak::channel::split;
use baithak::channel::telegram::render as telegram;
use baithak::channel::whatsapp::render as whatsapp;
use baithak::dialogue::{Button, Reply};
use baithak::language::Lang;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [a, b, rest @ ..] = data else {
        return;
    };
    let max = usize::from(u16::from_le_bytes([*a, *b]) % 5000);
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut pieces = text.split('\0');
    let body = pieces.next().unwrap_or_default();

    let parts = split(body, max);
    assert!(!parts.is_empty());
    for part in &parts {
        assert!(
            part.chars().count() <= max.max(1),
            "part longer than {max}: {part:?}"
        );
    }
    let content: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let kept: String = parts
        .concat()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    assert_eq!(kept, content);

    let html = telegram::to_html(body);
    assert!(!html.contains("<script"));
    let data = telegram::callback_data(body);
    assert!(data.len() <= telegram::MAX_CALLBACK_BYTES && body.starts_with(&data));

    let choices: Vec<Button> = pieces
        .take(12)
        .map(|b| {
            let (id, label) = b.split_once('\t').unwrap_or((b, b));
            Button {
                id: id.to_string(),
                label: label.to_string(),
                short: None,
            }
        })
        .collect();
    let reply = Reply {
        text: body.to_string(),
        choices,
        lang: Lang::En,
    };
    assert!(!telegram::render(&reply).is_empty());
    let _ = telegram::render_photo("https://example.invalid/p.png", &reply);
    let _ = whatsapp::render(&reply);
    let _ = whatsapp::render_image("https://example.invalid/p.png", &reply);
});
