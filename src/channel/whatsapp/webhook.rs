//! A WhatsApp webhook body → the events it carries. Pure.
//!
//! One POST may carry several entries, changes, messages and statuses (Meta batches up to a
//! thousand). Every field but a message's `id` and `type` is optional (Meta adds and drops
//! fields between versions, usernames hide phone numbers); unknown message types and unknown
//! `field`s are kept as ignored events, never errors. Each message becomes a channel-neutral
//! [`InboundMessage`]; a status becomes [`InboundMessage::Delivery`].

use serde::Deserialize;
use serde_json::Value;

use crate::channel::InboundMessage;

/// Who sent a message (or received one of ours): a phone-number id, a business-scoped user id
/// (BSUID), or both. Teachers are keyed on whichever is stable (see [`Sender::key`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sender {
    /// `wa_id` / `from`: the phone number, absent for users who hide it behind a username.
    pub wa_id: Option<String>,
    /// `user_id` / `from_user_id`: the BSUID (e.g. `US.13491208655302741918`).
    pub user_id: Option<String>,
}

impl Sender {
    /// The identifiers, BSUID first (stable when the phone number changes).
    #[must_use]
    pub fn ids(&self) -> Vec<&str> {
        self.user_id
            .iter()
            .chain(self.wa_id.iter())
            .map(String::as_str)
            .collect()
    }
}

/// One thing a webhook told us.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Unique per event: the message's wamid, or `status:<wamid>:<status>`.
    pub external_id: String,
    /// Whose conversation it belongs to (`None`: nobody's, e.g. an out-of-band error).
    pub sender: Option<Sender>,
    /// The teacher's display name, when given.
    pub name: Option<String>,
    /// A new phone number (a `user_changed_number` system message): the teacher keeps their
    /// conversation under it.
    pub new_wa_id: Option<String>,
    /// What it means for the conversation.
    pub message: InboundMessage,
}

/// A body that is not a WhatsApp webhook at all.
#[derive(Debug, thiserror::Error)]
#[error("not a WhatsApp webhook body: {0}")]
pub struct ParseError(String);

#[derive(Deserialize)]
struct Body {
    object: Option<String>,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    field: Option<String>,
    #[serde(default)]
    value: Value,
}

/// Reads every event of a webhook body, in order.
///
/// # Errors
///
/// [`ParseError`] when the body is not JSON, or not a WhatsApp Business Account object.
pub fn parse(body: &[u8]) -> Result<Vec<Event>, ParseError> {
    let body: Body = serde_json::from_slice(body).map_err(|e| ParseError(e.to_string()))?;
    if body.object.as_deref() != Some("whatsapp_business_account") {
        return Err(ParseError(format!(
            "object is {:?}, not \"whatsapp_business_account\"",
            body.object
        )));
    }
    let mut events = Vec::new();
    for (e, entry) in body.entry.iter().enumerate() {
        for (c, change) in entry.changes.iter().enumerate() {
            if change.field.as_deref() != Some("messages") {
                // account_update, template status… : not subscribed to, nothing to do.
                events.push(ignored(
                    format!("field:{e}:{c}:{}", digest(&change.value)),
                    format!("webhook field {:?}", change.field.as_deref().unwrap_or("")),
                ));
                continue;
            }
            read_value(&change.value, &mut events);
        }
    }
    Ok(events)
}

fn read_value(value: &Value, events: &mut Vec<Event>) {
    let contacts = value["contacts"].as_array().cloned().unwrap_or_default();
    let contact_for = |sender: &Sender| -> Option<&Value> {
        contacts.iter().find(|c| {
            let wa = c["wa_id"].as_str();
            let user = c["user_id"].as_str();
            (wa.is_some() && wa == sender.wa_id.as_deref())
                || (user.is_some() && user == sender.user_id.as_deref())
        })
    };
    for message in value["messages"].as_array().into_iter().flatten() {
        let Some(id) = message["id"].as_str().filter(|s| !s.is_empty()) else {
            events.push(ignored(
                format!("message-without-id:{}", digest(message)),
                "message without an id".into(),
            ));
            continue;
        };
        let mut sender = Sender {
            wa_id: string(&message["from"]),
            user_id: string(&message["from_user_id"]),
        };
        let contact = contact_for(&sender).or(if contacts.len() == 1 {
            contacts.first()
        } else {
            None
        });
        if let Some(contact) = contact {
            sender.wa_id = sender.wa_id.or_else(|| string(&contact["wa_id"]));
            sender.user_id = sender.user_id.or_else(|| string(&contact["user_id"]));
        }
        let name = contact.and_then(|c| string(&c["profile"]["name"]));
        let (message, new_wa_id) = read_message(message);
        events.push(Event {
            external_id: id.to_string(),
            sender: (sender != Sender::default()).then_some(sender),
            name,
            new_wa_id,
            message,
        });
    }
    for status in value["statuses"].as_array().into_iter().flatten() {
        let (Some(id), Some(state)) = (string(&status["id"]), string(&status["status"])) else {
            events.push(ignored(
                format!("status-without-id:{}", digest(status)),
                "status without an id".into(),
            ));
            continue;
        };
        let error = &status["errors"][0];
        let sender = Sender {
            wa_id: string(&status["recipient_id"]),
            user_id: string(&status["recipient_user_id"]),
        };
        events.push(Event {
            external_id: format!("status:{id}:{state}"),
            sender: (sender != Sender::default()).then_some(sender),
            name: None,
            new_wa_id: None,
            message: InboundMessage::Delivery {
                message_id: id,
                status: state,
                code: error["code"].as_i64(),
                reason: string(&error["error_data"]["details"])
                    .or_else(|| string(&error["title"]))
                    .or_else(|| string(&error["message"])),
            },
        });
    }
    for error in value["errors"].as_array().into_iter().flatten() {
        events.push(ignored(
            format!("error:{}", digest(error)),
            format!(
                "out-of-band error {} {}",
                error["code"].as_i64().unwrap_or(0),
                error["title"].as_str().unwrap_or("")
            ),
        ));
    }
}

/// The message a WhatsApp message means, and a new phone number if it announces one.
fn read_message(message: &Value) -> (InboundMessage, Option<String>) {
    let kind = message["type"].as_str().unwrap_or("");
    let body = &message[kind];
    let unsupported = |kind: &str| InboundMessage::Unsupported { kind: kind.into() };
    let read = match kind {
        "text" => match string(&body["body"]) {
            Some(text) => InboundMessage::Text { text },
            None => unsupported("text"),
        },
        "interactive" => {
            let reply = &body[body["type"].as_str().unwrap_or("")];
            match string(&reply["id"]) {
                Some(id) => InboundMessage::Choice {
                    id,
                    label: string(&reply["title"]).unwrap_or_default(),
                    ack: None,
                },
                // Seen in the wild: an interactive message with nothing in it.
                None => unsupported("interactive"),
            }
        }
        // A quick-reply button of a template.
        "button" => match string(&body["payload"]).or_else(|| string(&body["text"])) {
            Some(id) if id == super::RESUME_PAYLOAD => InboundMessage::Resume,
            Some(id) => InboundMessage::Choice {
                id,
                label: string(&body["text"]).unwrap_or_default(),
                ack: None,
            },
            None => unsupported("button"),
        },
        "image" | "audio" | "video" | "document" => match string(&body["id"]) {
            Some(file_id) => InboundMessage::Media {
                kind: match kind {
                    "image" => "photo",
                    "audio" if body["voice"].as_bool() == Some(true) => "voice",
                    other => other,
                }
                .to_string(),
                file_id,
                caption: string(&body["caption"]),
            },
            None => unsupported(kind),
        },
        "sticker" | "location" | "contacts" | "unsupported" => unsupported(kind),
        "reaction" => InboundMessage::Ignored {
            reason: "reaction".into(),
        },
        "system" if body["type"].as_str() == Some("user_changed_number") => {
            return (
                InboundMessage::Ignored {
                    reason: "number changed".into(),
                },
                string(&body["wa_id"]),
            );
        }
        "system" => InboundMessage::Ignored {
            reason: format!("system {}", body["type"].as_str().unwrap_or("")),
        },
        other => InboundMessage::Ignored {
            reason: format!("unknown message type {other:?}"),
        },
    };
    (read, None)
}

fn string(value: &Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

fn ignored(external_id: String, reason: String) -> Event {
    Event {
        external_id,
        sender: None,
        name: None,
        new_wa_id: None,
        message: InboundMessage::Ignored { reason },
    }
}

/// A short stable digest of a JSON value, for ids of events that carry none.
fn digest(value: &Value) -> String {
    use sha2::{Digest, Sha256};
    let bytes = Sha256::digest(value.to_string().as_bytes());
    hex::encode(&bytes[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<Event> {
        let path = format!(
            "{}/tests/fixtures/whatsapp/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        parse(&body).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn only(name: &str) -> Event {
        let mut events = fixture(name);
        assert_eq!(events.len(), 1, "{name}: {events:?}");
        events.remove(0)
    }

    #[test]
    fn texts_taps_and_template_buttons() {
        let text = only("wa01_text_official");
        assert!(
            matches!(text.message, InboundMessage::Text { .. }),
            "{text:?}"
        );
        assert!(
            text.sender
                .as_ref()
                .and_then(|s| s.wa_id.as_ref())
                .is_some()
        );
        assert!(text.external_id.starts_with("wamid."));
        let button = only("wa02_interactive_button_reply_official");
        assert!(
            matches!(&button.message, InboundMessage::Choice { id, label, .. } if !id.is_empty() && !label.is_empty()),
            "{button:?}"
        );
        let row = only("wa03_interactive_list_reply_official");
        assert!(
            matches!(row.message, InboundMessage::Choice { .. }),
            "{row:?}"
        );
        let template = only("wa04_template_quick_reply_button_pywa");
        assert_eq!(
            template.message,
            InboundMessage::Choice {
                id: "callback_data".into(),
                label: "title".into(),
                ack: None
            }
        );
        let sender = template.sender.expect("sender");
        assert_eq!(sender.ids(), ["US.13491208655302741918", "972987654321"]);
        // It comes with an out-of-band error (131000), logged and skipped.
        let malformed = fixture("wa23_interactive_without_payload_pywa").remove(0);
        assert_eq!(
            malformed.message,
            InboundMessage::Unsupported {
                kind: "interactive".into()
            }
        );
    }

    #[test]
    fn media_keeps_its_id_and_a_voice_note_is_a_voice_note() {
        let image = only("wa05_image_with_caption_official");
        assert!(
            matches!(&image.message, InboundMessage::Media { kind, caption: Some(_), .. } if kind == "photo"),
            "{image:?}"
        );
        let voice = only("wa06_audio_voice_note_pywa");
        assert!(
            matches!(&voice.message, InboundMessage::Media { kind, .. } if kind == "voice"),
            "{voice:?}"
        );
        let audio = only("wa06b_audio_file_forwarded_pywa");
        assert!(
            matches!(&audio.message, InboundMessage::Media { kind, .. } if kind == "audio"),
            "{audio:?}"
        );
        let document = only("wa07_document_forwarded_pywa");
        assert!(
            matches!(&document.message, InboundMessage::Media { kind, .. } if kind == "document"),
            "{document:?}"
        );
    }

    #[test]
    fn unreadable_kinds_reactions_and_system_messages() {
        for (name, kind) in [
            ("wa08_location_named_pywa", "location"),
            ("wa10_unsupported_pywa", "unsupported"),
            ("wa16_contacts_card_pywa", "contacts"),
            ("wa21_sticker_pywa", "sticker"),
        ] {
            assert_eq!(
                only(name).message,
                InboundMessage::Unsupported { kind: kind.into() },
                "{name}"
            );
        }
        for name in [
            "wa09_reaction_pywa",
            "wa09b_reaction_removed_empty_emoji_pywa",
        ] {
            assert!(
                matches!(only(name).message, InboundMessage::Ignored { .. }),
                "{name}"
            );
        }
        let changed = only("wa18_system_user_changed_number_pywa");
        assert_eq!(changed.new_wa_id.as_deref(), Some("972912345678"));
        assert_eq!(
            changed.sender.and_then(|s| s.wa_id).as_deref(),
            Some("972987654321")
        );
    }

    #[test]
    fn a_username_user_has_only_a_business_scoped_id() {
        let event = only("wa20_bsuid_username_user_no_phone");
        let sender = event.sender.expect("sender");
        assert_eq!(sender.wa_id, None);
        assert_eq!(sender.user_id.as_deref(), Some("US.13491208655302741918"));
        assert_eq!(event.name.as_deref(), Some("Sheena Nelson"));
    }

    #[test]
    fn statuses_and_batches() {
        let failed = only("wa14b_status_failed_131047_window_closed");
        let InboundMessage::Delivery {
            status,
            code,
            reason,
            ..
        } = &failed.message
        else {
            panic!("{failed:?}");
        };
        assert_eq!((status.as_str(), *code), ("failed", Some(131_047)));
        assert!(reason.as_deref().is_some_and(|r| r.contains("24 hours")));
        for name in [
            "wa11_status_sent_official",
            "wa11b_status_sent_v24_minimal_official",
            "wa12_status_delivered_pywa",
            "wa13_status_read_pywa",
            "wa14_status_failed_131049_official",
        ] {
            let event = only(name);
            assert!(event.external_id.starts_with("status:wamid."), "{name}");
            assert!(
                matches!(event.message, InboundMessage::Delivery { .. }),
                "{name}"
            );
        }
        let batch = fixture("wa15_batch_two_messages_and_status");
        let kinds: Vec<bool> = batch
            .iter()
            .map(|e| matches!(e.message, InboundMessage::Delivery { .. }))
            .collect();
        assert_eq!(kinds, [false, false, true], "{batch:?}");
        let errors = only("wa19_value_errors_130429");
        assert!(errors.sender.is_none());
    }

    #[test]
    fn every_fixture_parses_and_nonsense_is_refused() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/whatsapp");
        for entry in std::fs::read_dir(dir).expect("fixtures") {
            let path = entry.expect("entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with("wa") && !name.starts_with("wa_resp") && name.ends_with(".json") {
                let body = std::fs::read(&path).expect("read");
                let events = parse(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(!events.is_empty(), "{name}");
            }
        }
        assert!(parse(b"not json").is_err());
        assert!(parse(br#"{"object":"page","entry":[]}"#).is_err());
        let unknown = br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"id":"wamid.X","type":"hologram","hologram":{}}]}},{"field":"account_update","value":{"x":1}}]}]}"#;
        let events = parse(unknown).expect("parsed");
        assert_eq!(events.len(), 2);
        assert!(
            events
                .iter()
                .all(|e| matches!(e.message, InboundMessage::Ignored { .. }))
        );
    }
}
