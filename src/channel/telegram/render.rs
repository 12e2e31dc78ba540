//! A [`Reply`] → the `sendMessage` calls that show it on Telegram. Pure.
//!
//! - Formatting: content marks `*bold*` and `_italic_`; Telegram gets HTML (`parse_mode:
//!   HTML`) with every other character escaped, so a teacher's `<` or `&` never breaks a
//!   message (<https://core.telegram.org/bots/api#html-style>).
//! - Length: Telegram refuses more than 4,096 characters after entity parsing; long texts are
//!   split at paragraph, then line, then sentence, then word boundaries, well under the limit.
//! - Buttons: an inline keyboard, one button per row (labels stay readable on a narrow
//!   phone), `callback_data` = the engine's stable button id (at most 64 bytes), on the last
//!   part only.

use serde_json::{Value, json};

use crate::channel::split;
use crate::dialogue::{Button, Reply};

/// The `setMyCommands` parameters for one language: `/start`, `/menu`, `/help`, `/language`
/// with descriptions from the system texts (`command_<name>`), so the "/" menu speaks the
/// teacher's language. <https://core.telegram.org/bots/api#setmycommands>
#[must_use]
pub fn commands(dialogues: &crate::dialogue::Dialogues, lang: crate::language::Lang) -> Value {
    let commands: Vec<Value> = crate::dialogue::system::COMMANDS
        .iter()
        .map(|name| {
            let description = dialogues
                .texts
                .get(&format!("command_{name}"))
                .map_or_else(|| (*name).to_string(), |t| t.get(lang).to_string());
            json!({ "command": name, "description": description })
        })
        .collect();
    let mut params = json!({ "commands": commands });
    if lang != crate::language::Lang::En {
        params["language_code"] = json!(lang.code());
    }
    params
}

/// Visible characters per message we aim for: under Telegram's 4,096 with room for the
/// counting differences between clients and servers.
pub const MAX_TEXT_CHARS: usize = 3_900;
/// Telegram's limit for `callback_data`, in bytes.
pub const MAX_CALLBACK_BYTES: usize = 64;

/// The `sendMessage` parameters (without `chat_id`) for a reply, in order.
#[must_use]
pub fn render(reply: &Reply) -> Vec<Value> {
    let parts = split(&reply.text, MAX_TEXT_CHARS);
    let last = parts.len().saturating_sub(1);
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let mut params = json!({
                "text": to_html(part),
                "parse_mode": "HTML",
                "link_preview_options": { "is_disabled": true },
            });
            if i == last && !reply.choices.is_empty() {
                params["reply_markup"] = keyboard(&reply.choices);
            }
            params
        })
        .collect()
}

/// Telegram's limit for a photo's caption, in characters (after entities are parsed).
pub const MAX_CAPTION_CHARS: usize = 1024;

/// The `sendPhoto` parameters (without `chat_id`) for a picture at `url` with `caption`;
/// `None` when the caption is too long for one (the caller sends it as text after the
/// picture).
#[must_use]
pub fn render_photo(url: &str, caption: &Reply) -> Option<Value> {
    if caption.text.chars().count() > MAX_CAPTION_CHARS - 24 {
        return None;
    }
    let mut params = json!({
        "photo": url,
        "caption": to_html(&caption.text),
        "parse_mode": "HTML",
    });
    if !caption.choices.is_empty() {
        params["reply_markup"] = keyboard(&caption.choices);
    }
    Some(params)
}

/// An inline keyboard with one button per row.
#[must_use]
pub fn keyboard(buttons: &[Button]) -> Value {
    let rows: Vec<Value> = buttons
        .iter()
        .map(|b| json!([{ "text": b.label, "callback_data": callback_data(&b.id) }]))
        .collect();
    json!({ "inline_keyboard": rows })
}

/// A button id as `callback_data`: as is when it fits 64 bytes (it always does for ids the
/// engine makes from YAML ids), else cut at a character boundary.
#[must_use]
pub fn callback_data(id: &str) -> String {
    if id.len() <= MAX_CALLBACK_BYTES {
        return id.to_string();
    }
    let mut end = MAX_CALLBACK_BYTES;
    while !id.is_char_boundary(end) {
        end -= 1;
    }
    id[..end].to_string()
}

/// Content text (`*bold*`, `_italic_`) → Telegram HTML, escaping everything else.
#[must_use]
pub fn to_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some((tag, end)) = emphasis(&chars, i) {
            out.push_str(&format!("<{tag}>"));
            for inner in &chars[i + 1..end] {
                escape_into(*inner, &mut out);
            }
            out.push_str(&format!("</{tag}>"));
            i = end + 1;
            continue;
        }
        escape_into(c, &mut out);
        i += 1;
    }
    out
}

/// Whether `*…*` or `_…_` starts at `i` (closed on the same line, not empty, not
/// surrounded by spaces, and not inside a word): returns the tag and the closing index.
fn emphasis(chars: &[char], i: usize) -> Option<(&'static str, usize)> {
    let (mark, tag) = match chars[i] {
        '*' => ('*', "b"),
        '_' => ('_', "i"),
        _ => return None,
    };
    if i > 0 && chars[i - 1].is_alphanumeric() {
        return None;
    }
    let first = *chars.get(i + 1)?;
    if first.is_whitespace() || first == mark {
        return None;
    }
    let end = (i + 1..chars.len())
        .take_while(|j| chars[*j] != '\n')
        .find(|j| chars[*j] == mark)?;
    let before_close = chars[end - 1];
    let after_close = chars.get(end + 1).copied();
    if before_close.is_whitespace() || after_close.is_some_and(char::is_alphanumeric) {
        return None;
    }
    Some((tag, end))
}

fn escape_into(c: char, out: &mut String) {
    match c {
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '&' => out.push_str("&amp;"),
        other => out.push(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::Lang;

    fn reply(text: &str, buttons: &[(&str, &str)]) -> Reply {
        Reply {
            text: text.to_string(),
            choices: buttons
                .iter()
                .map(|(id, label)| Button {
                    id: (*id).to_string(),
                    label: (*label).to_string(),
                    short: None,
                })
                .collect(),
            lang: Lang::En,
        }
    }

    #[test]
    fn marks_become_html_and_everything_else_is_escaped() {
        let cases = [
            ("*Main menu* — choose", "<b>Main menu</b> — choose"),
            ("_gently_ now", "<i>gently</i> now"),
            ("a < b & c > d", "a &lt; b &amp; c &gt; d"),
            ("*<script>*", "<b>&lt;script&gt;</b>"),
            ("snake_case_name stays", "snake_case_name stays"),
            ("2 * 3 * 4", "2 * 3 * 4"),
            ("an *open mark", "an *open mark"),
            ("📘 *ریاضی* — حصہ 1", "📘 <b>ریاضی</b> — حصہ 1"),
        ];
        for (text, html) in cases {
            assert_eq!(to_html(text), html, "{text}");
        }
    }

    #[test]
    fn long_text_splits_at_paragraphs_under_the_limit() {
        let paragraph = "Word ".repeat(300);
        let text = format!("{paragraph}\n\n{paragraph}\n\n{paragraph}\n\n{paragraph}");

        let parts = split(&text, MAX_TEXT_CHARS);

        assert!(parts.len() >= 2);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_TEXT_CHARS));
        assert_eq!(
            parts.join(" ").split_whitespace().count(),
            text.split_whitespace().count()
        );
    }

    #[test]
    fn text_without_spaces_is_cut_at_a_character_boundary() {
        let text = "ب".repeat(9_000);

        let parts = split(&text, MAX_TEXT_CHARS);

        assert_eq!(parts.concat(), text);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_TEXT_CHARS));
    }

    #[test]
    fn buttons_go_on_the_last_part_one_per_row() {
        let long = format!("{}\n\n{}", "a ".repeat(1800), "b ".repeat(1800));
        let calls = render(&reply(
            &long,
            &[("menu.lessons", "📚 Lessons"), ("menu.help", "❓ Help")],
        ));

        assert_eq!(calls.len(), 2);
        assert!(calls[0].get("reply_markup").is_none());
        let rows = calls[1]["reply_markup"]["inline_keyboard"]
            .as_array()
            .expect("keyboard");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][0]["callback_data"], "menu.lessons");
        assert_eq!(calls[1]["parse_mode"], "HTML");
    }

    #[test]
    fn callback_data_never_exceeds_64_bytes() {
        let id = "ঘ".repeat(40);
        let data = callback_data(&id);
        assert!(data.len() <= MAX_CALLBACK_BYTES);
        assert!(id.starts_with(&data));
        assert_eq!(callback_data("q1.2"), "q1.2");
    }
}
