//! Telegram `Update` JSON → what Baithak does with it. Pure.
//!
//! We read the handful of fields we use from the raw JSON instead of deserializing the whole
//! `Update` into typed structs (teloxide's or our own): the Bot API keeps adding update kinds
//! (10.x added `guest_message` and `managed_bot`, which teloxide 0.17 cannot parse), and real
//! legacy updates lack fields a typed parser requires (`is_bot`, `chat_instance`). A tolerant
//! reader turns all of those into a clear [`Kind::Unknown`] or [`Kind::Ignored`] instead of a
//! parse error that could stall the queue. <https://core.telegram.org/bots/api#update>

use serde_json::Value;

use crate::channel::InboundMessage;

/// A classified update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classified {
    /// The update's id (unique per bot; the inbox key).
    pub update_id: i64,
    /// What it is.
    pub kind: Kind,
}

/// What an update means for Baithak.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A teacher wrote (or sent media) in a private chat with the bot.
    Message {
        /// The private chat id (= the teacher's user id).
        chat_id: i64,
        /// The teacher's language as the Telegram client reports it (`en`, `ur`, `bn`, …).
        language_code: Option<String>,
        /// The message in channel-neutral form.
        message: InboundMessage,
    },
    /// A button was pressed.
    Callback {
        /// The query id, to answer with `answerCallbackQuery`.
        query_id: String,
        /// The private chat the button was in (from the message, or the presser's id).
        chat_id: i64,
        /// The button's `callback_data`, when there is any.
        data: Option<String>,
        /// The pressed button's label, when the message is still accessible.
        label: Option<String>,
    },
    /// The teacher blocked the bot (`my_chat_member` → `kicked`).
    Blocked {
        /// The teacher's chat id.
        chat_id: i64,
    },
    /// The teacher unblocked (or restarted) the bot.
    Unblocked {
        /// The teacher's chat id.
        chat_id: i64,
    },
    /// Nothing to do, and why (edited message, group or channel post, service message…).
    Ignored(&'static str),
    /// A kind Baithak does not know, or one missing the fields it needs; stored and skipped.
    Unknown,
}

/// Why a body is not an update at all (the webhook answers 400).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NotAnUpdate {
    /// Not JSON.
    #[error("malformed JSON")]
    Malformed,
    /// JSON without a numeric `update_id`.
    #[error("no update_id")]
    NoUpdateId,
}

/// Classifies a raw update body.
///
/// # Errors
///
/// [`NotAnUpdate`] when the body is not JSON or has no `update_id`.
pub fn classify(body: &[u8]) -> Result<Classified, NotAnUpdate> {
    let value: Value = serde_json::from_slice(body).map_err(|_| NotAnUpdate::Malformed)?;
    classify_value(&value)
}

/// [`classify`] for an already parsed update (one element of a `getUpdates` result).
///
/// # Errors
///
/// [`NotAnUpdate::NoUpdateId`] when there is no numeric `update_id`.
pub fn classify_value(update: &Value) -> Result<Classified, NotAnUpdate> {
    let update_id = update
        .get("update_id")
        .and_then(Value::as_i64)
        .ok_or(NotAnUpdate::NoUpdateId)?;
    let kind = if let Some(message) = update.get("message") {
        message_kind(message)
    } else if let Some(query) = update.get("callback_query") {
        callback_kind(query)
    } else if let Some(member) = update.get("my_chat_member") {
        member_kind(member)
    } else if update.get("edited_message").is_some() {
        Kind::Ignored("edited message")
    } else if update.get("channel_post").is_some() || update.get("edited_channel_post").is_some() {
        Kind::Ignored("channel post")
    } else {
        Kind::Unknown
    };
    Ok(Classified { update_id, kind })
}

fn message_kind(message: &Value) -> Kind {
    let Some(chat) = message.get("chat") else {
        return Kind::Unknown;
    };
    let Some(chat_id) = chat.get("id").and_then(Value::as_i64) else {
        return Kind::Unknown;
    };
    if chat.get("type").and_then(Value::as_str) != Some("private") {
        // Words in a supergroup may be an expert answering in a ticket's topic; the
        // conversation layer keeps them only when the group is the expert group.
        let text = message.get("text").and_then(Value::as_str);
        let from = message.get("from");
        let from_id = from.and_then(|f| f.get("id")).and_then(Value::as_i64);
        if chat.get("type").and_then(Value::as_str) == Some("supergroup")
            && let (Some(text), Some(from_id)) = (text, from_id)
        {
            let first = from
                .and_then(|f| f.get("first_name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let last = from
                .and_then(|f| f.get("last_name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            return Kind::Message {
                chat_id,
                language_code: None,
                message: InboundMessage::Group {
                    thread: message
                        .get("is_topic_message")
                        .and_then(Value::as_bool)
                        .filter(|t| *t)
                        .and_then(|_| message.get("message_thread_id"))
                        .and_then(Value::as_i64),
                    from_id,
                    from_name: format!("{first} {last}").trim().to_string(),
                    text: text.to_string(),
                },
            };
        }
        return Kind::Ignored("group message");
    }
    let language_code = message
        .get("from")
        .and_then(|f| f.get("language_code"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let message = match message.get("text").and_then(Value::as_str) {
        Some(text) => InboundMessage::Text {
            text: text.to_string(),
        },
        None => match media_file(message) {
            Some((kind, file_id)) => InboundMessage::Media {
                kind: kind.to_string(),
                file_id,
                caption: message
                    .get("caption")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            },
            None => InboundMessage::Unsupported {
                kind: media_kind(message).to_string(),
            },
        },
    };
    Kind::Message {
        chat_id,
        language_code,
        message,
    }
}

/// The kind of a non-text message, for the transcript and the re-prompt.
/// A photo, voice note, audio, video or document: its kind and file id (a photo's largest
/// size). These can be kept for an expert; stickers, contacts and the like cannot.
fn media_file(message: &Value) -> Option<(&'static str, String)> {
    const KEPT: &[&str] = &["photo", "voice", "audio", "video", "video_note", "document"];
    let kind = KEPT.iter().find(|k| message.get(**k).is_some())?;
    let media = &message[*kind];
    let media = media
        .as_array()
        .and_then(|sizes| sizes.last())
        .unwrap_or(media);
    let file_id = media.get("file_id")?.as_str()?.to_string();
    Some((kind, file_id))
}

fn media_kind(message: &Value) -> &'static str {
    const KINDS: &[&str] = &[
        "photo",
        "voice",
        "audio",
        "video",
        "video_note",
        "document",
        "sticker",
        "animation",
        "contact",
        "location",
        "venue",
        "poll",
        "dice",
    ];
    KINDS
        .iter()
        .find(|k| message.get(**k).is_some())
        .copied()
        .unwrap_or("message")
}

fn callback_kind(query: &Value) -> Kind {
    let Some(query_id) = query.get("id").and_then(Value::as_str) else {
        return Kind::Unknown;
    };
    let data = query
        .get("data")
        .and_then(Value::as_str)
        .map(str::to_string);
    let message = query.get("message");
    let chat_id = message
        .and_then(|m| m.get("chat"))
        .and_then(|c| c.get("id"))
        .and_then(Value::as_i64)
        .or_else(|| {
            query
                .get("from")
                .and_then(|f| f.get("id"))
                .and_then(Value::as_i64)
        });
    let Some(chat_id) = chat_id else {
        return Kind::Unknown;
    };
    let label = match (&data, message) {
        (Some(data), Some(m)) => button_label(m, data),
        _ => None,
    };
    Kind::Callback {
        query_id: query_id.to_string(),
        chat_id,
        data,
        label,
    }
}

/// The text of the button carrying `data` in a message's inline keyboard.
fn button_label(message: &Value, data: &str) -> Option<String> {
    let rows = message
        .get("reply_markup")?
        .get("inline_keyboard")?
        .as_array()?;
    rows.iter()
        .filter_map(Value::as_array)
        .flatten()
        .find(|b| b.get("callback_data").and_then(Value::as_str) == Some(data))
        .and_then(|b| b.get("text"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn member_kind(member: &Value) -> Kind {
    let Some(chat) = member.get("chat") else {
        return Kind::Unknown;
    };
    if chat.get("type").and_then(Value::as_str) != Some("private") {
        return Kind::Ignored("membership change in a group");
    }
    let Some(chat_id) = chat.get("id").and_then(Value::as_i64) else {
        return Kind::Unknown;
    };
    let status = member
        .get("new_chat_member")
        .and_then(|m| m.get("status"))
        .and_then(Value::as_str);
    match status {
        Some("kicked") => Kind::Blocked { chat_id },
        Some("member") => Kind::Unblocked { chat_id },
        _ => Kind::Ignored("membership change"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/telegram/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn kind(name: &str) -> Kind {
        classify(&fixture(name)).expect("an update").kind
    }

    #[test]
    fn text_messages_become_text() {
        let Kind::Message {
            chat_id, message, ..
        } = kind("tg01_message_text_private.json")
        else {
            panic!("a message");
        };
        assert!(chat_id != 0);
        assert!(matches!(message, InboundMessage::Text { .. }));
        let Kind::Message { message, .. } = kind("tg03_command_start_deeplink.json") else {
            panic!("a message");
        };
        let InboundMessage::Text { text } = message else {
            panic!("text")
        };
        assert!(text.starts_with("/start "), "{text}");
    }

    #[test]
    fn media_becomes_unsupported_with_its_kind() {
        for (file, expected) in [
            ("tg09_photo_with_caption.json", "photo"),
            ("tg10_voice.json", "voice"),
            ("tg11_document_with_caption.json", "document"),
        ] {
            let Kind::Message { message, .. } = kind(file) else {
                panic!("{file}: a message")
            };
            let InboundMessage::Media { kind, file_id, .. } = message else {
                panic!("{file}: media kept for an expert, got {message:?}")
            };
            assert_eq!(kind, expected, "{file}");
            assert!(!file_id.is_empty(), "{file}");
        }
        for (file, expected) in [
            ("tg12_contact.json", "contact"),
            ("tg13_location.json", "location"),
            ("tg21_sticker.json", "sticker"),
        ] {
            let Kind::Message { message, .. } = kind(file) else {
                panic!("{file}: a message")
            };
            assert_eq!(
                message,
                InboundMessage::Unsupported {
                    kind: expected.into()
                },
                "{file}"
            );
        }
    }

    #[test]
    fn callbacks_carry_data_label_and_chat() {
        let Kind::Callback {
            query_id,
            data,
            label,
            ..
        } = kind("tg06_callback_query_with_message.json")
        else {
            panic!("a callback");
        };
        assert_eq!(query_id, "1874464818486990916");
        assert!(data.is_some());
        assert!(
            label.is_some(),
            "the pressed button's text is found in the keyboard"
        );
        let Kind::Callback { label, .. } = kind("tg07_callback_query_inaccessible_message.json")
        else {
            panic!("a callback, even when the message is inaccessible");
        };
        assert_eq!(label, None);
        let Kind::Callback { .. } = kind("tg08_callback_query_inline_official_legacy.json") else {
            panic!("a legacy inline callback is still answered");
        };
    }

    #[test]
    fn blocking_and_unblocking_are_recognised() {
        assert!(matches!(
            kind("tg14_my_chat_member_blocked.json"),
            Kind::Blocked { .. }
        ));
        assert!(matches!(
            kind("tg15_my_chat_member_unblocked.json"),
            Kind::Unblocked { .. }
        ));
    }

    #[test]
    fn everything_else_is_ignored_or_unknown_never_an_error() {
        assert_eq!(
            kind("tg05_edited_message.json"),
            Kind::Ignored("edited message")
        );
        assert_eq!(
            kind("tg20_channel_post.json"),
            Kind::Ignored("channel post")
        );
        assert_eq!(
            kind("tg16_forum_topic_created.json"),
            Kind::Ignored("group message")
        );
        assert_eq!(kind("tg22_unknown_update_type.json"), Kind::Unknown);
        assert_eq!(kind("tg23_future_update_guest_message.json"), Kind::Unknown);
        assert!(matches!(
            kind("tg04_command_start_official_legacy.json"),
            Kind::Message { .. } | Kind::Ignored(_)
        ));
        assert!(classify(&fixture("tg24_my_chat_member_minimal_zero_ids.json")).is_ok());
    }

    #[test]
    fn bodies_that_are_not_updates_are_told_apart() {
        assert_eq!(classify(b"{not json"), Err(NotAnUpdate::Malformed));
        assert_eq!(classify(b"{\"message\":{}}"), Err(NotAnUpdate::NoUpdateId));
        assert_eq!(classify(b"[]"), Err(NotAnUpdate::NoUpdateId));
    }
}
