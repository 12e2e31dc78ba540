//! Message text as Telegram stores it: the `parse_mode` markup is parsed into plain text plus
//! entities (offsets in UTF-16 code units), then trimmed. The HTML parser follows tdlib's
//! `parse_html` (td/telegram/MessageEntity.cpp) step by step, so a malformed text fails with the same
//! `can't parse entities: …` message and byte offset as the real server.
//!
//! Markdown and MarkdownV2 are accepted but not parsed: their text counts as typed (simplified).

use serde_json::{Value, json};

use super::error::ApiError;

/// Visible text and its entities, as they appear in the sent `Message`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Formatted {
    pub text: String,
    pub entities: Vec<Value>,
}

impl Formatted {
    /// Length as the limits count it (Unicode characters of the visible text).
    pub fn len(&self) -> usize {
        self.text.chars().count()
    }

    /// The `entities` field: `None` when there are none.
    pub fn entities_json(&self) -> Option<Value> {
        (!self.entities.is_empty()).then(|| Value::Array(self.entities.clone()))
    }
}

/// Parses `text` according to `parse_mode` and trims the result.
///
/// # Errors
///
/// `unsupported parse_mode`, or `can't parse entities: …` for malformed HTML.
pub(crate) fn format(text: &str, parse_mode: Option<&str>) -> Result<Formatted, ApiError> {
    let mode = parse_mode.unwrap_or("").to_ascii_lowercase();
    let parsed = match mode.as_str() {
        "" | "markdown" | "markdownv2" => Formatted {
            text: text.to_owned(),
            entities: Vec::new(),
        },
        "html" => parse_html(text)
            .map_err(|message| ApiError::bad_request(format!("can't parse entities: {message}")))?,
        _ => return Err(ApiError::bad_request("unsupported parse_mode")),
    };
    Ok(trim(parsed))
}

/// A start tag waiting for its end tag.
struct Open {
    tag: String,
    argument: String,
    expandable: bool,
    offset: usize,
    text_pos: usize,
}

const ALLOWED_TAGS: &[&str] = &[
    "a",
    "b",
    "strong",
    "i",
    "em",
    "s",
    "strike",
    "del",
    "u",
    "ins",
    "tg-spoiler",
    "tg-emoji",
    "span",
    "pre",
    "code",
    "blockquote",
];

/// tdlib's `parse_html`: returns the error message without the `can't parse entities: ` prefix.
fn parse_html(source: &str) -> Result<Formatted, String> {
    let mut parser = Parser {
        cursor: Cursor { source, i: 0 },
        text: String::with_capacity(source.len()),
        utf16: 0,
        open: Vec::new(),
        entities: Vec::new(),
    };
    while parser.cursor.i < source.len() {
        parser.step()?;
    }
    if let Some(top) = parser.open.last() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{}\"",
            top.tag
        ));
    }
    let mut entities = parser.entities;
    // A `code` entity keeps its language only while a `pre` may still claim it (tdlib clears it).
    for entity in &mut entities {
        if entity["type"] == "code"
            && let Some(object) = entity.as_object_mut()
        {
            object.remove("language");
        }
    }
    entities.sort_by_key(|e| (offset_of(e), std::cmp::Reverse(length_of(e))));
    Ok(Formatted {
        text: parser.text,
        entities,
    })
}

/// A position in the markup. The C original reads a NUL-terminated buffer; `at` gives the same
/// view, so the end of the text reads as `0`.
struct Cursor<'a> {
    source: &'a str,
    i: usize,
}

impl Cursor<'_> {
    fn at(&self, i: usize) -> u8 {
        self.source.as_bytes().get(i).copied().unwrap_or(0)
    }

    fn here(&self) -> u8 {
        self.at(self.i)
    }

    fn slice(&self, from: usize, to: usize) -> &str {
        self.source.get(from..to).unwrap_or("")
    }

    /// The character at the cursor, moving past it.
    fn take_char(&mut self) -> char {
        let ch = self
            .source
            .get(self.i..)
            .and_then(|rest| rest.chars().next())
            .unwrap_or('\u{fffd}');
        self.i += ch.len_utf8().max(1);
        ch
    }

    /// An HTML entity at the cursor, moving past it.
    fn take_entity(&mut self) -> Option<u32> {
        let (code, next) = decode_entity(self.source.as_bytes(), self.i)?;
        self.i = next;
        Some(code)
    }

    fn skip_spaces(&mut self) {
        while self.here() != 0 && is_space(self.here()) {
            self.i += 1;
        }
    }
}

struct Parser<'a> {
    cursor: Cursor<'a>,
    text: String,
    utf16: usize,
    open: Vec<Open>,
    entities: Vec<Value>,
}

impl Parser<'_> {
    /// One character, entity or tag.
    fn step(&mut self) -> Result<(), String> {
        let c = self.cursor.here();
        if c == b'&'
            && let Some(code) = self.cursor.take_entity()
        {
            let ch = char::from_u32(code).ok_or_else(|| {
                "Text contains invalid Unicode characters after decoding HTML entities, check for \
                 unmatched surrogate code units"
                    .to_owned()
            })?;
            self.push(ch);
            return Ok(());
        }
        if c != b'<' {
            let ch = self.cursor.take_char();
            self.push(ch);
            return Ok(());
        }
        let begin = self.cursor.i;
        self.cursor.i += 1;
        if self.cursor.here() == b'/' {
            self.end_tag(begin)?;
        } else {
            self.start_tag(begin)?;
        }
        // Past the closing `>`.
        self.cursor.i += 1;
        Ok(())
    }

    fn push(&mut self, ch: char) {
        self.text.push(ch);
        self.utf16 += ch.len_utf16();
    }

    fn start_tag(&mut self, begin: usize) -> Result<(), String> {
        let cursor = &mut self.cursor;
        while !is_space(cursor.here()) && cursor.here() != b'>' {
            cursor.i += 1;
        }
        if cursor.here() == 0 {
            return Err(format!("Unclosed start tag at byte offset {begin}"));
        }
        let tag = cursor.slice(begin + 1, cursor.i).to_ascii_lowercase();
        if !ALLOWED_TAGS.contains(&tag.as_str()) {
            return Err(format!(
                "Unsupported start tag \"{tag}\" at byte offset {begin}"
            ));
        }

        let mut argument = String::new();
        let mut expandable = false;
        while cursor.here() != b'>' {
            cursor.skip_spaces();
            if cursor.here() == b'>' {
                break;
            }
            let name_begin = cursor.i;
            while !is_space(cursor.here()) && cursor.here() != b'=' && cursor.here() != b'>' {
                cursor.i += 1;
            }
            let name = cursor.slice(name_begin, cursor.i).to_owned();
            if name.is_empty() {
                return Err(format!(
                    "Empty attribute name in the tag \"{tag}\" at byte offset {begin}"
                ));
            }
            cursor.skip_spaces();
            if cursor.here() != b'=' {
                // Bot API 7.x: `<blockquote expandable>` is the one valueless attribute.
                if tag == "blockquote" && name == "expandable" {
                    expandable = true;
                    continue;
                }
                return Err(format!(
                    "Expected equal sign in declaration of an attribute of the tag \"{tag}\" at \
                     byte offset {begin}"
                ));
            }
            cursor.i += 1;
            cursor.skip_spaces();
            if cursor.here() == 0 {
                return Err(format!(
                    "Unclosed start tag \"{tag}\" at byte offset {begin}"
                ));
            }
            let value = attribute_value(cursor)?;
            if cursor.here() == 0 {
                return Err(format!("Unclosed start tag at byte offset {begin}"));
            }
            match (tag.as_str(), name.as_str()) {
                ("a", "href") | ("tg-emoji", "emoji-id") => argument = value,
                ("code", "class") if value.starts_with("language-") => {
                    argument = value["language-".len()..].to_owned();
                }
                ("span", "class") if value.starts_with("tg-") => {
                    argument = value["tg-".len()..].to_owned();
                }
                _ => {}
            }
        }

        if tag == "span" && argument != "spoiler" {
            return Err(format!(
                "Tag \"span\" must have class \"tg-spoiler\" at byte offset {begin}"
            ));
        }
        self.open.push(Open {
            tag,
            argument,
            expandable,
            offset: self.utf16,
            text_pos: self.text.len(),
        });
        Ok(())
    }

    fn end_tag(&mut self, begin: usize) -> Result<(), String> {
        let Some(top) = self.open.last() else {
            return Err(format!("Unexpected end tag at byte offset {begin}"));
        };
        let cursor = &mut self.cursor;
        while !is_space(cursor.here()) && cursor.here() != b'>' {
            cursor.i += 1;
        }
        let end_tag = cursor.slice(begin + 2, cursor.i).to_ascii_lowercase();
        cursor.skip_spaces();
        if cursor.here() != b'>' {
            return Err(format!("Unclosed end tag at byte offset {begin}"));
        }
        if !end_tag.is_empty() && end_tag != top.tag {
            return Err(format!(
                "Unmatched end tag at byte offset {begin}, expected \"</{}>\", found \"</{end_tag}>\"",
                top.tag
            ));
        }
        if let Some(top) = self.open.pop()
            && self.utf16 > top.offset
        {
            close_entity(
                &top,
                self.utf16 - top.offset,
                &self.text,
                &mut self.entities,
            )?;
        }
        Ok(())
    }
}

/// An attribute value: a quoted string (entities decoded) or a lower-cased name token.
fn attribute_value(cursor: &mut Cursor<'_>) -> Result<String, String> {
    let quote = cursor.here();
    if quote != b'\'' && quote != b'"' {
        let token_begin = cursor.i;
        while cursor.here().is_ascii_alphanumeric()
            || cursor.here() == b'.'
            || cursor.here() == b'-'
        {
            cursor.i += 1;
        }
        if !is_space(cursor.here()) && cursor.here() != b'>' {
            return Err(format!(
                "Unexpected end of name token at byte offset {token_begin}"
            ));
        }
        return Ok(cursor.slice(token_begin, cursor.i).to_ascii_lowercase());
    }
    cursor.i += 1;
    let mut value = String::new();
    while cursor.here() != quote && cursor.here() != 0 {
        if cursor.here() == b'&'
            && let Some(code) = cursor.take_entity()
        {
            value.extend(char::from_u32(code));
            continue;
        }
        value.push(cursor.take_char());
    }
    if cursor.here() == quote {
        cursor.i += 1;
    }
    Ok(value)
}

/// Turns a closed tag into its entity (tdlib's big `if` chain at the end tag).
fn close_entity(
    top: &Open,
    length: usize,
    text: &str,
    entities: &mut Vec<Value>,
) -> Result<(), String> {
    let offset = top.offset;
    let simple = |kind: &str| json!({ "offset": offset, "length": length, "type": kind });
    let same_range = |e: &Value| offset_of(e) == offset && length_of(e) == length;
    match top.tag.as_str() {
        "i" | "em" => entities.push(simple("italic")),
        "b" | "strong" => entities.push(simple("bold")),
        "s" | "strike" | "del" => entities.push(simple("strikethrough")),
        "u" | "ins" => entities.push(simple("underline")),
        "tg-spoiler" | "span" => entities.push(simple("spoiler")),
        "tg-emoji" => match top.argument.parse::<i64>() {
            Ok(id) if id != 0 => {
                let mut entity = simple("custom_emoji");
                entity["custom_emoji_id"] = json!(top.argument);
                entities.push(entity);
            }
            _ => return Err("Invalid custom emoji identifier specified".to_owned()),
        },
        "a" => {
            let url = if top.argument.is_empty() {
                text.get(top.text_pos..).unwrap_or("").to_owned()
            } else {
                top.argument.clone()
            };
            if !url.is_empty() {
                let mut entity = simple("text_link");
                entity["url"] = json!(url);
                entities.push(entity);
            }
        }
        "pre" => match entities.last_mut() {
            Some(last)
                if last["type"] == "code" && same_range(last) && last.get("language").is_some() =>
            {
                last["type"] = json!("pre");
            }
            _ => entities.push(simple("pre")),
        },
        "code" => match entities.last_mut() {
            Some(last) if last["type"] == "pre" && same_range(last) && !top.argument.is_empty() => {
                last["language"] = json!(top.argument);
            }
            _ => {
                let mut entity = simple("code");
                if !top.argument.is_empty() {
                    entity["language"] = json!(top.argument);
                }
                entities.push(entity);
            }
        },
        _ => entities.push(simple(if top.expandable {
            "expandable_blockquote"
        } else {
            "blockquote"
        })),
    }
    Ok(())
}

/// tdlib's `decode_html_entity`: numeric references and the four named ones.
fn decode_entity(bytes: &[u8], pos: usize) -> Option<(u32, usize)> {
    let at = |i: usize| -> u8 { bytes.get(i).copied().unwrap_or(0) };
    let mut end = pos + 1;
    let mut code: u64 = 0;
    if at(pos + 1) == b'#' {
        end += 1;
        if at(pos + 2) == b'x' {
            end += 1;
            while let Some(digit) = (at(end) as char).to_digit(16) {
                code = code.saturating_mul(16).saturating_add(u64::from(digit));
                end += 1;
            }
        } else {
            while at(end).is_ascii_digit() {
                code = code
                    .saturating_mul(10)
                    .saturating_add(u64::from(at(end) - b'0'));
                end += 1;
            }
        }
        if code == 0 || code >= 0x10ffff || end - pos >= 10 {
            return None;
        }
    } else {
        while at(end).is_ascii_alphabetic() {
            end += 1;
        }
        code = match bytes.get(pos + 1..end)? {
            b"lt" => u64::from(b'<'),
            b"gt" => u64::from(b'>'),
            b"amp" => u64::from(b'&'),
            b"quot" => u64::from(b'"'),
            _ => return None,
        };
    }
    let next = if at(end) == b';' { end + 1 } else { end };
    u32::try_from(code).ok().map(|code| (code, next))
}

/// td::is_space: the NUL terminator counts as space.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n' | 0 | 0x0b | 0x0c)
}

fn offset_of(entity: &Value) -> usize {
    entity["offset"]
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0)
}

fn length_of(entity: &Value) -> usize {
    entity["length"]
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0)
}

/// Strips leading and trailing white space and moves the entities with the text.
fn trim(formatted: Formatted) -> Formatted {
    let trimmed_start = formatted.text.trim_start();
    let cut: usize = formatted.text[..formatted.text.len() - trimmed_start.len()]
        .chars()
        .map(char::len_utf16)
        .sum();
    let text = trimmed_start.trim_end().to_owned();
    let total: usize = text.chars().map(char::len_utf16).sum();
    let entities = formatted
        .entities
        .into_iter()
        .filter_map(|mut entity| {
            let start = offset_of(&entity).saturating_sub(cut);
            let end = (offset_of(&entity) + length_of(&entity))
                .saturating_sub(cut)
                .min(total);
            (end > start).then(|| {
                entity["offset"] = json!(start);
                entity["length"] = json!(end - start);
                entity
            })
        })
        .collect();
    Formatted { text, entities }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html(text: &str) -> Result<Formatted, String> {
        format(text, Some("HTML")).map_err(|e| e.description)
    }

    #[test]
    fn tags_become_entities_and_entities_are_decoded() {
        let parsed =
            html("<b>Hi</b> &lt;3 &amp; <a href=\"https://x.org\">link</a>").expect("valid");
        assert_eq!(parsed.text, "Hi <3 & link");
        assert_eq!(
            parsed.entities[0],
            json!({"offset": 0, "length": 2, "type": "bold"})
        );
        assert_eq!(parsed.entities[1]["url"], "https://x.org");
    }

    #[test]
    fn offsets_are_utf16() {
        let parsed = html("😂 <i>кек</i>").expect("valid");
        assert_eq!(parsed.entities[0]["offset"], 3);
        assert_eq!(parsed.len(), 5);
    }

    #[test]
    fn malformed_html_fails_like_tdlib() {
        let cases = [
            (
                "<b>bold",
                "can't find end tag corresponding to start tag \"b\"",
            ),
            (
                "a <foo>x</foo>",
                "Unsupported start tag \"foo\" at byte offset 2",
            ),
            (
                "<b>x</i>",
                "Unmatched end tag at byte offset 4, expected \"</b>\", found \"</i>\"",
            ),
            ("x</b>", "Unexpected end tag at byte offset 1"),
            ("<b", "Unclosed start tag at byte offset 0"),
            (
                "<span>x</span>",
                "Tag \"span\" must have class \"tg-spoiler\" at byte offset 0",
            ),
            (
                "<a href>x</a>",
                "Expected equal sign in declaration of an attribute of the tag \"a\"",
            ),
        ];
        for (input, expected) in cases {
            let error = html(input).expect_err(input);
            assert!(
                error.to_lowercase().contains(&expected.to_lowercase()),
                "{input}: {error}"
            );
        }
    }

    #[test]
    fn pre_with_code_language_becomes_one_pre_entity() {
        let parsed = html("<pre><code class=\"language-rust\">fn</code></pre>").expect("valid");
        assert_eq!(
            parsed.entities,
            vec![json!({"offset": 0, "length": 2, "type": "pre", "language": "rust"})]
        );
    }

    #[test]
    fn spoiler_span_and_expandable_blockquote_are_accepted() {
        let parsed =
            html("<span class=\"tg-spoiler\">s</span><blockquote expandable>q</blockquote>")
                .expect("valid");
        assert_eq!(parsed.entities[0]["type"], "spoiler");
        assert_eq!(parsed.entities[1]["type"], "expandable_blockquote");
    }

    #[test]
    fn white_space_is_trimmed_with_entities() {
        let parsed = html("  <b> x </b>\n").expect("valid");
        assert_eq!(parsed.text, "x");
        assert_eq!(
            parsed.entities[0],
            json!({"offset": 0, "length": 1, "type": "bold"})
        );
    }

    #[test]
    fn unknown_parse_mode_is_rejected() {
        assert_eq!(
            format("x", Some("bbcode"))
                .expect_err("bad mode")
                .description,
            "Bad Request: unsupported parse_mode"
        );
    }
}
