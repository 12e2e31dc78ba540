//! `reply_markup` validation, following tdlib's `Client::get_reply_markup` and
//! `get_inline_keyboard_button`: the first non-empty action field of a button wins, in the
//! server's order; an empty `callback_data` counts as absent; `callback_data` over 64 bytes is
//! refused by Telegram's servers with `BUTTON_DATA_INVALID`.
//!
//! One deliberate difference: with `strict_buttons` (the default) a button with two action fields is
//! refused, because the real server silently keeps only the first, which is always a bug.

use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::params::Params;

/// Action fields in the order the server tries them.
const ACTIONS: &[&str] = &[
    "url",
    "callback_data",
    "callback_game",
    "pay",
    "switch_inline_query",
    "switch_inline_query_chosen_chat",
    "switch_inline_query_current_chat",
    "login_url",
    "web_app",
    "copy_text",
];

/// Bot API 9.4+ button colours.
const STYLES: &[&str] = &["danger", "success", "primary"];

/// The longest `callback_data`, in bytes.
pub(crate) const MAX_CALLBACK_DATA_BYTES: usize = 64;

/// Validates `reply_markup` and returns what a sent `Message` echoes: its inline keyboard, if any.
/// Reply keyboards, `remove_keyboard` and `force_reply` are validated but never echoed (the
/// `Message.reply_markup` field only carries inline keyboards).
///
/// # Errors
///
/// The server's 400 for the first problem found.
pub(crate) fn inline_keyboard(params: &Params, strict: bool) -> Result<Option<Value>, ApiError> {
    let value = match params.json("reply_markup") {
        Ok(Some(value)) => value,
        Ok(None) => return Ok(None),
        Err(()) => {
            return Err(ApiError::bad_request(
                "can't parse reply keyboard markup JSON object",
            ));
        }
    };
    let Some(markup) = value.as_object() else {
        return Err(ApiError::bad_request("object expected as reply markup"));
    };
    if let Some(keyboard) = markup.get("keyboard") {
        check_reply_keyboard(keyboard)?;
    }
    let Some(keyboard) = markup.get("inline_keyboard") else {
        return Ok(None);
    };
    let Some(rows) = keyboard.as_array() else {
        return Err(ApiError::bad_request(
            "field \"inline_keyboard\" must be of type Array",
        ));
    };
    let mut buttons = 0;
    for row in rows {
        let Some(row) = row.as_array() else {
            return Err(ApiError::bad_request(
                "field \"inline_keyboard\" of the InlineKeyboardMarkup must be an Array of Arrays",
            ));
        };
        for button in row {
            check_inline_button(button, strict)?;
            buttons += 1;
        }
    }
    Ok((buttons > 0).then(|| json!({ "inline_keyboard": rows })))
}

/// The inline buttons of a stored message's markup, row by row.
pub(crate) fn buttons(markup: &Value) -> impl Iterator<Item = &Map<String, Value>> {
    markup["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(Value::as_object)
}

fn check_inline_button(button: &Value, strict: bool) -> Result<(), ApiError> {
    let parse_error = |message: &str| {
        ApiError::bad_request(format!("can't parse inline keyboard button: {message}"))
    };
    let Some(button) = button.as_object() else {
        return Err(parse_error("InlineKeyboardButton must be an Object"));
    };
    match button.get("text") {
        None | Some(Value::Null) => return Err(parse_error("Can't find field \"text\"")),
        Some(Value::String(_)) => {}
        Some(_) => return Err(parse_error("Field \"text\" must be of type String")),
    }
    if let Some(style) = button.get("style")
        && !style.as_str().is_some_and(|s| STYLES.contains(&s))
    {
        return Err(parse_error("invalid button style specified"));
    }
    let mut present = Vec::new();
    for action in ACTIONS {
        match (button.get(*action), *action) {
            (None | Some(Value::Null), _) => {}
            (Some(Value::String(s)), "url" | "callback_data") if s.is_empty() => {}
            (Some(Value::String(_)), _) => present.push(*action),
            (Some(_), "url" | "callback_data") => {
                return Err(parse_error(&format!(
                    "Field \"{action}\" must be of type String"
                )));
            }
            (Some(_), _) => present.push(*action),
        }
    }
    match present.as_slice() {
        [] => Err(parse_error(
            "Text buttons are unallowed in the inline keyboard",
        )),
        [_, _, ..] if strict => Err(parse_error(&format!(
            "more than one action field ({}); Telegram would silently keep only \"{}\" \
             (refused by the fake's strict_buttons option)",
            present.join(", "),
            present[0]
        ))),
        ["callback_data", ..] => {
            let data = button["callback_data"].as_str().unwrap_or("");
            if data.len() > MAX_CALLBACK_DATA_BYTES {
                Err(ApiError::bad_request("BUTTON_DATA_INVALID"))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

fn check_reply_keyboard(keyboard: &Value) -> Result<(), ApiError> {
    let Some(rows) = keyboard.as_array() else {
        return Err(ApiError::bad_request(
            "field \"keyboard\" must be of type Array",
        ));
    };
    for row in rows {
        let Some(row) = row.as_array() else {
            return Err(ApiError::bad_request(
                "field \"keyboard\" must be an Array of Arrays",
            ));
        };
        for button in row {
            match button {
                Value::String(_) => {}
                Value::Object(object) if object.get("text").is_some_and(Value::is_string) => {}
                Value::Object(_) => {
                    return Err(ApiError::bad_request(
                        "can't parse keyboard button: Can't find field \"text\"",
                    ));
                }
                _ => {
                    return Err(ApiError::bad_request(
                        "can't parse keyboard button: KeyboardButton must be a String or an Object",
                    ));
                }
            }
        }
    }
    Ok(())
}
