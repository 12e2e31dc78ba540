//! A [`Reply`] → the Cloud API message objects that show it on WhatsApp. Pure.
//!
//! Each object lacks `messaging_product` and `to`/`recipient`; the sender adds them.
//!
//! - Formatting: content marks `*bold*` and `_italic_` are WhatsApp's own syntax, and WhatsApp
//!   has no escaping, so text passes through unchanged. Text messages never ask for a link
//!   preview (`preview_url: false`).
//! - Length: lengths count characters (Unicode scalar values), as Meta does. A text body may hold
//!   4,096; long texts are split at paragraph, then line, then sentence, then word boundaries,
//!   at most [`MAX_TEXT_CHARS`] each. An empty text without choices sends nothing.
//! - 1–3 choices: reply buttons on the last message. Their body may hold only 1,024, so what
//!   does not fit goes into text messages before it, cut at a natural boundary; no text is lost.
//! - 4–10 choices: a list message (one untitled section, the "Choose" button in the reply's
//!   language); rows whose title had to be shortened show the full label as their description.
//! - More than 10 choices, or buttons whose titles cannot be made valid and unique, or ids that
//!   are empty or collide: numbered text (`1. label`), which the engine understands when typed.
//! - Titles: the content's `short` label when given, else the label; too long ones are
//!   shortened deliberately (whole words and "…", a word cut only when not even one fits).
//!   Duplicate list titles get their number in front.
//! - Ids: the engine's button ids as they are, cut at a character boundary if over the limit.
//!
//! Limits: <https://developers.facebook.com/docs/whatsapp/cloud-api/messages/interactive-reply-buttons-messages>
//! and <https://developers.facebook.com/docs/whatsapp/cloud-api/messages/interactive-list-messages>;
//! the fake Graph API (`crate::testkit::whatsapp`) checks the same ones.

use std::collections::HashSet;

use serde_json::{Value, json};
use unicode_segmentation::UnicodeSegmentation;

use crate::channel::split;
use crate::dialogue::{Button, Reply};
use crate::language::Lang;

/// Characters per text message we aim for (under 4,096).
pub const MAX_TEXT_CHARS: usize = 4_000;

/// Characters the body of a reply-button message may hold.
const MAX_BUTTON_BODY: usize = 1_024;
/// Characters we aim for when a button body has to be cut out of a longer text.
const BUTTON_BODY_AIM: usize = 1_000;
/// Characters the body of a list message may hold.
const MAX_LIST_BODY: usize = 4_096;
/// Reply buttons per message.
const MAX_BUTTONS: usize = 3;
/// Rows per list message (in all sections).
const MAX_ROWS: usize = 10;
/// Characters of a reply button's title.
const MAX_BUTTON_TITLE: usize = 20;
/// Characters of a reply button's id.
const MAX_BUTTON_ID: usize = 256;
/// Characters of a list row's title.
const MAX_ROW_TITLE: usize = 24;
/// Characters of a list row's id.
const MAX_ROW_ID: usize = 200;
/// Characters of a list row's description.
const MAX_ROW_DESCRIPTION: usize = 72;
/// What ends a shortened title or description.
const ELLIPSIS: char = '…';

/// The message objects (each without `messaging_product` and `to`/`recipient`, which the
/// sender adds) that show `reply` on WhatsApp, in order.
#[must_use]
pub fn render(reply: &Reply) -> Vec<Value> {
    let text = reply.text.trim();
    let choices = &reply.choices;
    let interactive = match choices.len() {
        0 => return text_messages(text),
        1..=MAX_BUTTONS => reply_buttons(choices).map(|action| {
            with_body(text, reply.lang, MAX_BUTTON_BODY, |body| {
                interactive_message("button", body, action)
            })
        }),
        n if n <= MAX_ROWS => list_rows(choices).map(|rows| {
            let action = json!({
                "button": list_button(reply.lang),
                "sections": [{ "rows": rows }],
            });
            with_body(text, reply.lang, MAX_LIST_BODY, |body| {
                interactive_message("list", body, action)
            })
        }),
        _ => None,
    };
    interactive.unwrap_or_else(|| text_messages(&numbered(text, choices)))
}

/// WhatsApp's limit for a media caption, in characters.
pub const MAX_CAPTION_CHARS: usize = 1024;

/// The messages for a picture at `url` with `caption`: one image message with the caption,
/// or (a caption with buttons or too long for one) the image alone and then the caption as
/// a reply.
#[must_use]
pub fn render_image(url: &str, caption: &Reply) -> Vec<Value> {
    let text = caption.text.trim();
    if caption.choices.is_empty() && text.chars().count() <= MAX_CAPTION_CHARS {
        let mut image = json!({ "link": url });
        if !text.is_empty() {
            image["caption"] = Value::from(text);
        }
        return vec![json!({ "type": "image", "image": image })];
    }
    let mut messages = vec![json!({ "type": "image", "image": { "link": url } })];
    messages.extend(render(caption));
    messages
}

/// One text message per part of `text`; none for an empty text.
fn text_messages(text: &str) -> Vec<Value> {
    split(text, MAX_TEXT_CHARS)
        .iter()
        .filter(|part| !part.is_empty())
        .map(|part| text_message(part))
        .collect()
}

fn text_message(body: &str) -> Value {
    json!({ "type": "text", "text": { "body": body, "preview_url": false } })
}

fn interactive_message(kind: &str, body: &str, action: Value) -> Value {
    let mut message = json!({
        "type": "interactive",
        "interactive": { "type": kind, "body": { "text": body } },
    });
    message["interactive"]["action"] = action;
    message
}

/// Text messages for all of `text` but its end, then `last` with the end (at most `body_max`
/// characters) as its body. An empty text gets the "Choose:" prompt as the body.
fn with_body(
    text: &str,
    lang: Lang,
    body_max: usize,
    last: impl FnOnce(&str) -> Value,
) -> Vec<Value> {
    let text = if text.is_empty() {
        choose_prompt(lang)
    } else {
        text
    };
    let mut parts = split(text, MAX_TEXT_CHARS);
    let mut body = parts.pop().unwrap_or_default();
    if body.chars().count() > body_max {
        // `split` cuts greedily from the front, so its last piece is a suffix of `body` that
        // starts at a natural boundary; everything before it (at most MAX_TEXT_CHARS, as `body`
        // was) stays one text message with its own line breaks.
        let mut pieces = split(&body, BUTTON_BODY_AIM.min(body_max));
        let tail = pieces.pop().unwrap_or_default();
        if !tail.is_empty() && body.ends_with(tail.as_str()) {
            let head = body[..body.len() - tail.len()].trim_end();
            parts.push(head.to_string());
        } else {
            // Not expected from `split`; keep every piece rather than lose text.
            parts.extend(pieces);
        }
        body = tail;
    }
    let mut messages: Vec<Value> = parts
        .iter()
        .filter(|part| !part.is_empty())
        .map(|part| text_message(part))
        .collect();
    let body = if body.is_empty() {
        choose_prompt(lang)
    } else {
        body.as_str()
    };
    messages.push(last(body));
    messages
}

/// The `action` of a reply-button message, or `None` when the titles cannot be made valid and
/// unique or the ids are empty or collide.
fn reply_buttons(choices: &[Button]) -> Option<Value> {
    let mut titles = HashSet::new();
    let mut ids = HashSet::new();
    let mut buttons = Vec::with_capacity(choices.len());
    for (i, button) in choices.iter().enumerate() {
        let title = title(source(button), i, MAX_BUTTON_TITLE);
        let id = cut_chars(&button.id, MAX_BUTTON_ID);
        if id.is_empty() || !ids.insert(id.clone()) || !titles.insert(title.clone()) {
            return None;
        }
        buttons.push(json!({ "type": "reply", "reply": { "id": id, "title": title } }));
    }
    Some(json!({ "buttons": buttons }))
}

/// The rows of a list message, or `None` when the ids are empty or collide (or, which numbering
/// prevents, the titles collide).
fn list_rows(choices: &[Button]) -> Option<Vec<Value>> {
    let plain: Vec<String> = choices
        .iter()
        .enumerate()
        .map(|(i, button)| title(source(button), i, MAX_ROW_TITLE))
        .collect();
    let numbered = !all_unique(&plain);
    let titles = if numbered {
        choices
            .iter()
            .enumerate()
            .map(|(i, button)| {
                // The "n." word always fits, so the numbers keep the titles apart.
                shorten(&format!("{}. {}", i + 1, source(button)), MAX_ROW_TITLE)
            })
            .collect()
    } else {
        plain
    };
    let ids: Vec<String> = choices
        .iter()
        .map(|button| cut_chars(&button.id, MAX_ROW_ID))
        .collect();
    if !all_unique(&titles) || !all_unique(&ids) || ids.iter().any(String::is_empty) {
        return None;
    }
    let rows = choices
        .iter()
        .zip(titles)
        .zip(ids)
        .enumerate()
        .map(|(i, ((button, title), id))| {
            let label = button.label.trim();
            let shown = if numbered {
                format!("{}. {label}", i + 1)
            } else {
                label.to_string()
            };
            let mut row = json!({ "id": id, "title": title });
            if !label.is_empty() && title != shown {
                row["description"] = json!(shorten(label, MAX_ROW_DESCRIPTION));
            }
            row
        })
        .collect();
    Some(rows)
}

/// The text, a blank line, then `1. label`, `2. label`… with the full labels.
fn numbered(text: &str, choices: &[Button]) -> String {
    let lines: Vec<String> = choices
        .iter()
        .enumerate()
        .map(|(i, button)| {
            let label = Some(button.label.trim())
                .filter(|label| !label.is_empty())
                .unwrap_or_else(|| source(button));
            format!("{}. {label}", i + 1).trim_end().to_string()
        })
        .collect();
    let list = lines.join("\n");
    if text.is_empty() {
        list
    } else {
        format!("{text}\n\n{list}")
    }
}

/// What a title is made from: the content's `short` label when given, else the label.
fn source(button: &Button) -> &str {
    button
        .short
        .as_deref()
        .map(str::trim)
        .filter(|short| !short.is_empty())
        .unwrap_or_else(|| button.label.trim())
}

/// `source` shortened to `limit` characters; the 1-based position when there is nothing to show.
fn title(source: &str, index: usize, limit: usize) -> String {
    if source.is_empty() {
        (index + 1).to_string()
    } else {
        shorten(source, limit)
    }
}

/// `text` (trimmed) as is when it fits in `limit` characters; else whole words while they fit
/// in `limit - 1` and "…"; else its first word cut between grapheme clusters and "…".
fn shorten(text: &str, limit: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let room = limit.saturating_sub(1).max(1);
    let mut kept = String::new();
    let mut kept_chars = 0;
    for word in text.split_whitespace() {
        let gap = usize::from(kept_chars > 0);
        let width = word.chars().count();
        if kept_chars + gap + width > room {
            break;
        }
        if gap == 1 {
            kept.push(' ');
        }
        kept.push_str(word);
        kept_chars += gap + width;
    }
    // A title ending "Lessons,…" or "Lessons —…" reads worse than "Lessons…".
    let tidy = kept.trim_end_matches(|c: char| {
        c.is_whitespace() || matches!(c, ',' | ';' | ':' | '،' | '؛' | '-' | '–' | '—' | '/' | '|')
    });
    let mut short = if tidy.is_empty() {
        let first = text.split_whitespace().next().unwrap_or(text);
        cut_graphemes(first, room)
    } else {
        tidy.to_string()
    };
    short.push(ELLIPSIS);
    short
}

/// At most `max` characters of `word`, cut between grapheme clusters so a Bangla conjunct, an
/// Urdu letter with its marks or an emoji sequence stays whole. Uses `unicode-segmentation`,
/// already a dependency for `language::words`. Never empty for a non-empty word: a single
/// cluster longer than `max` is cut between characters instead.
fn cut_graphemes(word: &str, max: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    for grapheme in word.graphemes(true) {
        let width = grapheme.chars().count();
        if count + width > max {
            break;
        }
        out.push_str(grapheme);
        count += width;
    }
    if out.is_empty() {
        word.chars().take(max).collect()
    } else {
        out
    }
}

/// At most `max` characters of `text`, cut at a character boundary.
fn cut_chars(text: &str, max: usize) -> String {
    text.char_indices()
        .nth(max)
        .map_or(text, |(end, _)| &text[..end])
        .to_string()
}

fn all_unique(values: &[String]) -> bool {
    let mut seen = HashSet::new();
    values.iter().all(|value| seen.insert(value.as_str()))
}

/// The body of an interactive message whose text is empty.
fn choose_prompt(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "Choose:",
        Lang::Ur => "منتخب کریں:",
        Lang::Bn => "বেছে নিন:",
    }
}

/// The text of the button that opens a list (at most 20 characters).
fn list_button(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "Choose",
        Lang::Ur => "انتخاب کریں",
        Lang::Bn => "বেছে নিন",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn button(id: &str, label: &str, short: Option<&str>) -> Button {
        Button {
            id: id.to_string(),
            label: label.to_string(),
            short: short.map(str::to_string),
        }
    }

    fn reply(text: &str, choices: Vec<Button>, lang: Lang) -> Reply {
        Reply {
            text: text.to_string(),
            choices,
            lang,
        }
    }

    fn labels(labels: &[&str]) -> Vec<Button> {
        labels
            .iter()
            .enumerate()
            .map(|(i, label)| button(&format!("c{i}"), label, None))
            .collect()
    }

    fn chars(text: &str) -> usize {
        text.chars().count()
    }

    /// Renders and checks every message against the platform's limits.
    fn rendered(reply: &Reply) -> Vec<Value> {
        let messages = render(reply);
        for message in &messages {
            if let Err(problem) = check(message) {
                panic!("{problem}: {message}");
            }
        }
        messages
    }

    /// The body of a text or interactive message.
    fn body(message: &Value) -> &str {
        message["text"]["body"]
            .as_str()
            .or_else(|| message["interactive"]["body"]["text"].as_str())
            .expect("a body")
    }

    fn words(messages: &[Value]) -> Vec<String> {
        messages
            .iter()
            .flat_map(|m| body(m).split_whitespace().map(str::to_string))
            .collect()
    }

    fn button_titles(message: &Value) -> Vec<&str> {
        message["interactive"]["action"]["buttons"]
            .as_array()
            .expect("buttons")
            .iter()
            .map(|b| b["reply"]["title"].as_str().expect("title"))
            .collect()
    }

    fn rows(message: &Value) -> &Vec<Value> {
        message["interactive"]["action"]["sections"][0]["rows"]
            .as_array()
            .expect("rows")
    }

    /// The limits of Meta's Cloud API as the fake Graph API checks them (characters, not
    /// bytes), written out here rather than borrowed from the testkit.
    fn check(message: &Value) -> Result<(), String> {
        let within = |text: Option<&str>, max: usize, what: &str| match text {
            Some(text) if !text.is_empty() && chars(text) <= max => Ok(()),
            other => Err(format!("{what} empty or over {max}: {other:?}")),
        };
        if message.get("messaging_product").is_some()
            || message.get("to").is_some()
            || message.get("recipient").is_some()
        {
            return Err("the sender adds the product and recipient".into());
        }
        match message["type"].as_str() {
            Some("text") => within(message["text"]["body"].as_str(), 4096, "text body"),
            Some("interactive") => {
                let interactive = &message["interactive"];
                let action = &interactive["action"];
                let body = interactive["body"]["text"].as_str();
                match interactive["type"].as_str() {
                    Some("button") => {
                        within(body, 1024, "button body")?;
                        let buttons = action["buttons"].as_array().ok_or("no buttons")?;
                        if buttons.is_empty() || buttons.len() > 3 {
                            return Err(format!("{} buttons", buttons.len()));
                        }
                        let mut titles = HashSet::new();
                        let mut ids = HashSet::new();
                        for b in buttons {
                            if b["type"] != "reply" {
                                return Err("button type".into());
                            }
                            let title = b["reply"]["title"].as_str();
                            let id = b["reply"]["id"].as_str();
                            within(title, 20, "button title")?;
                            within(id, 256, "button id")?;
                            if !titles.insert(title) || !ids.insert(id) {
                                return Err("duplicate button title or id".into());
                            }
                        }
                        Ok(())
                    }
                    Some("list") => {
                        within(body, 4096, "list body")?;
                        within(action["button"].as_str(), 20, "list button")?;
                        let sections = action["sections"].as_array().ok_or("no sections")?;
                        if sections.is_empty() || sections.len() > 10 {
                            return Err(format!("{} sections", sections.len()));
                        }
                        let mut total = 0;
                        let mut ids = HashSet::new();
                        for section in sections {
                            match section["title"].as_str() {
                                Some(title) => within(Some(title), 24, "section title")?,
                                None if sections.len() > 1 => {
                                    return Err("untitled section among several".into());
                                }
                                None => {}
                            }
                            let rows = section["rows"].as_array().ok_or("no rows")?;
                            if rows.is_empty() {
                                return Err("empty section".into());
                            }
                            total += rows.len();
                            for row in rows {
                                let id = row["id"].as_str();
                                within(id, 200, "row id")?;
                                within(row["title"].as_str(), 24, "row title")?;
                                if let Some(description) = row.get("description") {
                                    let description = description.as_str().ok_or("description")?;
                                    if chars(description) > 72 {
                                        return Err("row description over 72".into());
                                    }
                                }
                                if !ids.insert(id) {
                                    return Err("duplicate row id".into());
                                }
                            }
                        }
                        if total > 10 {
                            return Err(format!("{total} rows"));
                        }
                        Ok(())
                    }
                    other => Err(format!("interactive type {other:?}")),
                }
            }
            other => Err(format!("message type {other:?}")),
        }
    }

    #[test]
    fn plain_text_is_one_text_message() {
        let messages = rendered(&reply("Welcome to Baithak.", vec![], Lang::En));

        assert_eq!(
            messages,
            vec![json!({
                "type": "text",
                "text": { "body": "Welcome to Baithak.", "preview_url": false },
            })]
        );
    }

    #[test]
    fn empty_text_without_choices_sends_nothing() {
        assert!(rendered(&reply("", vec![], Lang::En)).is_empty());
        assert!(rendered(&reply("  \n ", vec![], Lang::En)).is_empty());
    }

    #[test]
    fn marks_pass_through_unchanged() {
        let text = "*Main menu* — _choose_ one: a < b & snake_case";
        let messages = rendered(&reply(text, labels(&["Yes", "No"]), Lang::En));

        assert_eq!(body(&messages[0]), text);
    }

    #[test]
    fn long_text_splits_at_boundaries_without_losing_words() {
        let paragraph = "Teachers plan lessons together. ".repeat(60);
        let text = [paragraph.as_str(); 6].join("\n\n");

        let messages = rendered(&reply(&text, vec![], Lang::En));

        assert!(messages.len() >= 3);
        assert!(messages.iter().all(|m| chars(body(m)) <= MAX_TEXT_CHARS));
        assert!(messages.iter().all(|m| body(m).ends_with("together.")));
        assert_eq!(
            words(&messages),
            text.split_whitespace().collect::<Vec<_>>()
        );
    }

    #[test]
    fn two_buttons_use_their_short_labels() {
        let choices = vec![
            button(
                "menu.lessons",
                "Lessons for the classroom this week",
                Some("Lessons"),
            ),
            button(
                "menu.help",
                "Ask an expert a question",
                Some("  Ask an expert "),
            ),
        ];

        let messages = rendered(&reply("*Menu*", choices, Lang::En));

        assert_eq!(messages.len(), 1);
        let interactive = &messages[0]["interactive"];
        assert_eq!(interactive["type"], "button");
        assert_eq!(interactive["body"]["text"], "*Menu*");
        assert_eq!(button_titles(&messages[0]), ["Lessons", "Ask an expert"]);
        assert_eq!(
            interactive["action"]["buttons"][0]["reply"]["id"],
            "menu.lessons"
        );
    }

    #[test]
    fn long_label_is_shortened_at_a_word_boundary() {
        let label = "Classroom management strategies";
        assert_eq!(chars(label), 31);

        let messages = rendered(&reply("Pick", labels(&[label, "Back"]), Lang::En));

        let title = button_titles(&messages[0])[0];
        assert_eq!(title, "Classroom…");
        assert!(chars(title) <= 20);
        assert_eq!(
            shorten("Lessons, videos and more things", 20),
            "Lessons, videos and…"
        );
        assert_eq!(shorten("Lessons, extraordinary things", 20), "Lessons…");
    }

    #[test]
    fn single_long_word_is_cut_with_an_ellipsis() {
        let label = "Pneumonoultramicroscopicsilico";
        assert_eq!(chars(label), 30);

        let messages = rendered(&reply("Pick", labels(&[label]), Lang::En));

        assert_eq!(button_titles(&messages[0]), ["Pneumonoultramicros…"]);
        // Grapheme clusters stay whole: the cut falls before "ক্ষ", not inside it.
        let bangla = "ক্ষ".repeat(10);
        let short = shorten(&bangla, 20);
        assert_eq!(short, format!("{}…", "ক্ষ".repeat(6)));
    }

    #[test]
    fn long_body_before_buttons_goes_into_earlier_text_messages() {
        let sentence = "Group work helps shy pupils speak up in class. ";
        let text = sentence.repeat(54);
        let text = text.trim();
        assert!((2_500..2_600).contains(&chars(text)));

        let messages = rendered(&reply(text, labels(&["Yes", "No", "Later"]), Lang::En));

        let (last, earlier) = messages.split_last().expect("messages");
        assert!(!earlier.is_empty());
        assert!(earlier.iter().all(|m| m["type"] == "text"));
        assert_eq!(last["interactive"]["type"], "button");
        assert!(chars(body(last)) <= 1024);
        assert!(body(last).ends_with("class."));
        assert_eq!(
            words(&messages),
            text.split_whitespace().collect::<Vec<_>>()
        );
    }

    #[test]
    fn empty_text_with_choices_gets_a_prompt() {
        let messages = rendered(&reply("", labels(&["Yes", "No"]), Lang::Bn));

        assert_eq!(messages.len(), 1);
        assert_eq!(body(&messages[0]), "বেছে নিন:");
    }

    #[test]
    fn seven_choices_become_a_list_with_descriptions_and_an_urdu_button() {
        let mut choices = labels(&[
            "ریاضی",
            "سائنس",
            "انگریزی",
            "اردو",
            "معاشرتی علوم",
            "کلاس روم میں نظم و ضبط کی حکمت عملیاں",
        ]);
        choices.push(button(
            "c6",
            "بچوں کی حوصلہ افزائی کیسے کریں",
            Some("حوصلہ افزائی"),
        ));

        let messages = rendered(&reply("*مضمون* منتخب کریں", choices, Lang::Ur));

        assert_eq!(messages.len(), 1);
        let interactive = &messages[0]["interactive"];
        assert_eq!(interactive["type"], "list");
        assert_eq!(interactive["action"]["button"], "انتخاب کریں");
        let rows = rows(&messages[0]);
        assert_eq!(rows.len(), 7);
        assert!(
            rows.iter()
                .all(|r| chars(r["title"].as_str().expect("title")) <= 24)
        );
        assert_eq!(rows[0], json!({ "id": "c0", "title": "ریاضی" }));
        let long = &rows[5];
        assert!(long["title"].as_str().expect("title").ends_with('…'));
        assert_eq!(long["description"], "کلاس روم میں نظم و ضبط کی حکمت عملیاں");
        assert_eq!(rows[6]["title"], "حوصلہ افزائی");
        assert_eq!(rows[6]["description"], "بچوں کی حوصلہ افزائی کیسے کریں");
    }

    #[test]
    fn twelve_choices_become_numbered_text() {
        let names: Vec<String> = (1..=12).map(|n| format!("Module {n}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();

        let messages = rendered(&reply("Modules:", labels(&names), Lang::En));

        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0]["type"], "text");
        let text = body(&messages[0]);
        assert!(text.starts_with("Modules:\n\n1. Module 1\n2. Module 2\n"));
        assert!(text.ends_with("\n12. Module 12"));
    }

    #[test]
    fn duplicate_shortened_button_titles_fall_back_to_numbered_text() {
        let choices = labels(&[
            "Assessment for learning in primary",
            "Assessment for learning in secondary",
        ]);

        let messages = rendered(&reply("Which one?", choices, Lang::En));

        assert_eq!(messages.len(), 1);
        assert_eq!(
            body(&messages[0]),
            "Which one?\n\n1. Assessment for learning in primary\n\
             2. Assessment for learning in secondary"
        );
    }

    #[test]
    fn duplicate_shortened_row_titles_get_numbers() {
        let choices = labels(&[
            "Assessment for learning in primary",
            "Assessment for learning in secondary",
            "Homework",
            "Reading",
        ]);

        let messages = rendered(&reply("Which one?", choices, Lang::En));

        let rows = rows(&messages[0]);
        assert_eq!(rows[0]["title"], "1. Assessment for…");
        assert_eq!(rows[1]["title"], "2. Assessment for…");
        assert_eq!(
            rows[1]["description"],
            "Assessment for learning in secondary"
        );
        assert_eq!(rows[2], json!({ "id": "c2", "title": "3. Homework" }));
    }

    #[test]
    fn urdu_labels_are_counted_in_chars_not_bytes() {
        // 20 characters, 38 bytes: fits a button title as it is.
        let label = "ہ".repeat(9) + " " + &"ب".repeat(10);
        assert_eq!(chars(&label), 20);
        assert!(label.len() > 20);

        let messages = rendered(&reply("؟", labels(&[&label]), Lang::Ur));

        assert_eq!(button_titles(&messages[0]), [label.as_str()]);
    }

    #[test]
    fn long_ids_are_cut_at_a_character_boundary() {
        let id = "ঘ".repeat(300);
        let messages = rendered(&reply("Pick", vec![button(&id, "Go", None)], Lang::En));

        let sent = messages[0]["interactive"]["action"]["buttons"][0]["reply"]["id"]
            .as_str()
            .expect("id");
        assert_eq!(chars(sent), 256);
        assert!(id.starts_with(sent));
    }

    #[test]
    fn every_output_passes_the_platform_limits() {
        let long_word = "x".repeat(5_000);
        let long_mixed = format!(
            "{}\n\n{}\n{}",
            "সবাই মিলে পড়ি। ".repeat(300),
            "ا".repeat(1_500),
            "word ".repeat(900)
        );
        let texts = [
            "",
            " ",
            "Hi",
            "*bold* _italic_",
            long_word.as_str(),
            long_mixed.as_str(),
        ];
        let odd_labels = [
            "",
            " ",
            "A",
            "👩🏽‍🏫👩🏽‍🏫👩🏽‍🏫👩🏽‍🏫👩🏽‍🏫👩🏽‍🏫👩🏽‍🏫",
            "Same label",
            "Same label",
            "অনেক লম্বা একটি বাংলা লেবেল যা কুড়ি অক্ষরের বেশি",
            "کلاس روم میں نظم و ضبط کی حکمت عملیاں اور بہت کچھ",
            "Supercalifragilisticexpialidocious and friends",
            "Ok",
            "Next",
            "Back",
        ];
        for text in texts {
            for count in 0..=odd_labels.len() {
                for lang in Lang::ALL {
                    let choices = odd_labels[..count]
                        .iter()
                        .enumerate()
                        .map(|(i, label)| {
                            let short = (i % 3 == 0).then_some(*label);
                            button(&format!("id{i}"), label, short)
                        })
                        .collect();
                    let messages = rendered(&reply(text, choices, lang));
                    assert_eq!(messages.is_empty(), text.trim().is_empty() && count == 0);
                    // No text lost, even where a word longer than a message had to be cut.
                    let sent: String = messages.iter().map(body).collect();
                    let sent: String = sent.split_whitespace().collect();
                    let given: String = text.split_whitespace().collect();
                    assert!(
                        sent.starts_with(&given),
                        "text lost: {count} choices, {lang}"
                    );
                }
            }
        }
        // Colliding ids cannot be buttons or rows.
        let twins = vec![button("same", "One", None), button("same", "Two", None)];
        let messages = rendered(&reply("Pick", twins, Lang::En));
        assert_eq!(messages[0]["type"], "text");
    }
}
