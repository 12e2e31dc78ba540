//! Webhook payloads as Meta builds them (platform facts §2.3–§2.5, fixtures wa01–wa24): the
//! envelope `{object, entry[{id, changes[{value, field}]}]}`, the `value` of inbound messages
//! (`messaging_product`, `metadata`, `contacts`, `messages`) and of statuses, and the message
//! and status objects. Pure functions of their arguments.

use serde_json::{Map, Value, json};

use super::error::GraphError;
use super::records::{WaStatus, WaUser};

/// The business side of every payload.
#[derive(Clone, Debug)]
pub(crate) struct Business {
    /// WhatsApp Business Account id (`entry[].id`).
    pub waba_id: String,
    /// `metadata.phone_number_id`.
    pub phone_number_id: String,
    /// `metadata.display_phone_number`.
    pub display_phone_number: String,
}

impl Business {
    fn metadata(&self) -> Value {
        json!({
            "display_phone_number": self.display_phone_number,
            "phone_number_id": self.phone_number_id,
        })
    }
}

/// One `changes[]` item before it is wrapped: its `value` and `field`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Change {
    pub value: Value,
    pub field: String,
}

/// The envelope around `changes`, in one `entry` (fixture wa15 batches this way).
pub(crate) fn envelope(business: &Business, changes: &[Change]) -> Value {
    let changes: Vec<Value> = changes
        .iter()
        .map(|change| json!({ "value": change.value, "field": change.field }))
        .collect();
    json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": business.waba_id, "changes": changes }],
    })
}

/// `contacts[]` item for a user: `profile{name, username?}`, `wa_id` when the phone number is
/// shared, `user_id` when the user has a BSUID (fixtures wa01, wa04, wa20).
pub(crate) fn contact(user: &WaUser) -> Value {
    let mut profile = json!({ "name": user.name });
    if let Some(username) = &user.username {
        profile["username"] = json!(username);
    }
    let mut contact = json!({ "profile": profile });
    if let Some(wa_id) = &user.wa_id {
        contact["wa_id"] = json!(wa_id);
    }
    if let Some(bsuid) = &user.bsuid {
        contact["user_id"] = json!(bsuid);
    }
    contact
}

/// A `messages[]` item from `user` without its type payload: `from` (phone) and/or
/// `from_user_id` (BSUID), `id`, `timestamp` (a string), `type`.
pub(crate) fn message(
    user: &WaUser,
    wamid: &str,
    timestamp: i64,
    kind: &str,
) -> Map<String, Value> {
    let mut message = Map::new();
    if let Some(wa_id) = &user.wa_id {
        message.insert("from".into(), json!(wa_id));
    }
    if let Some(bsuid) = &user.bsuid {
        message.insert("from_user_id".into(), json!(bsuid));
    }
    message.insert("id".into(), json!(wamid));
    message.insert("timestamp".into(), json!(timestamp.to_string()));
    message.insert("type".into(), json!(kind));
    message
}

/// `value` of an inbound message; system messages have no `contacts` (fixture wa18).
pub(crate) fn messages_value(
    business: &Business,
    contacts: Option<Value>,
    message: Value,
) -> Value {
    let mut value = json!({
        "messaging_product": "whatsapp",
        "metadata": business.metadata(),
    });
    if let Some(contacts) = contacts {
        value["contacts"] = json!([contacts]);
    }
    value["messages"] = json!([message]);
    value
}

/// What a status says besides its id and kind.
#[derive(Clone, Debug)]
pub(crate) struct StatusFacts<'a> {
    pub recipient: &'a WaUser,
    /// The send was addressed by BSUID (`recipient`), not by phone number.
    pub by_user_id: bool,
    pub timestamp: i64,
    pub callback_data: Option<&'a str>,
    /// `conversation{id, expiration_timestamp?, origin}` for versions before v24.0.
    pub conversation: Option<(&'a str, i64)>,
    /// `pricing.category`: `service`, `utility` …
    pub category: &'a str,
    pub error: Option<&'a GraphError>,
}

/// A `statuses[]` item (platform facts §2.5; fixtures wa11, wa11b, wa14, wa14b). Pricing rides
/// on `sent`; service messages inside the window are free under per-message pricing (PMP).
/// `recipient_id` is the phone number when the send used one (or the user shares it);
/// `recipient_user_id` is the BSUID, left out of failed statuses of phone-number sends.
pub(crate) fn status(wamid: &str, status: WaStatus, facts: &StatusFacts<'_>) -> Value {
    let mut object = json!({
        "id": wamid,
        "status": status.as_str(),
        "timestamp": facts.timestamp.to_string(),
    });
    let user = facts.recipient;
    if let Some(wa_id) = &user.wa_id
        && (!facts.by_user_id || status != WaStatus::Failed)
    {
        object["recipient_id"] = json!(wa_id);
    }
    if let Some(bsuid) = &user.bsuid
        && (facts.by_user_id || status != WaStatus::Failed)
    {
        object["recipient_user_id"] = json!(bsuid);
    }
    if let Some(data) = facts.callback_data {
        object["biz_opaque_callback_data"] = json!(data);
    }
    if status == WaStatus::Failed {
        if let Some(error) = facts.error {
            object["errors"] = json!([error.webhook_object()]);
        }
        return object;
    }
    if let Some((id, expires)) = facts.conversation {
        let mut conversation = json!({ "id": id, "origin": { "type": facts.category } });
        if status == WaStatus::Sent {
            conversation["expiration_timestamp"] = json!(expires.to_string());
        }
        object["conversation"] = conversation;
    }
    if status == WaStatus::Sent {
        let free = facts.category == "service";
        object["pricing"] = json!({
            "billable": !free,
            "pricing_model": "PMP",
            "type": if free { "free_customer_service" } else { "regular" },
            "category": facts.category,
        });
    }
    object
}

/// `value` of a status webhook.
pub(crate) fn statuses_value(business: &Business, status: Value) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "metadata": business.metadata(),
        "statuses": [status],
    })
}

/// Folds the changes of a batch like Meta's aggregated posts (fixture wa15): messages that
/// follow messages with the same `contacts` share one `value`, statuses that follow statuses
/// share one; anything else starts a new `changes[]` item.
pub(crate) fn merge(changes: Vec<Change>) -> Vec<Change> {
    let mut merged: Vec<Change> = Vec::new();
    for change in changes {
        if let Some(last) = merged.last_mut()
            && last.field == change.field
            && last.value.get("metadata") == change.value.get("metadata")
            && append(&mut last.value, &change.value)
        {
            continue;
        }
        merged.push(change);
    }
    merged
}

/// Appends `next`'s messages or statuses to `into` when they can share a value.
fn append(into: &mut Value, next: &Value) -> bool {
    let only = |value: &Value, key: &str| {
        value.as_object().is_some_and(|object| {
            object.contains_key(key)
                && object.keys().all(|k| {
                    k == key || k == "messaging_product" || k == "metadata" || k == "contacts"
                })
        })
    };
    for key in ["messages", "statuses"] {
        if only(into, key) && only(next, key) && into.get("contacts") == next.get("contacts") {
            let extra = next[key].as_array().cloned().unwrap_or_default();
            if let Some(items) = into[key].as_array_mut() {
                items.extend(extra);
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn business() -> Business {
        Business {
            waba_id: "102290129340398".to_owned(),
            phone_number_id: "106540352242922".to_owned(),
            display_phone_number: "15550783881".to_owned(),
        }
    }

    fn sheena() -> WaUser {
        WaUser {
            wa_id: Some("16505551234".to_owned()),
            bsuid: None,
            name: "Sheena Nelson".to_owned(),
            username: None,
        }
    }

    #[test]
    fn a_text_message_has_the_shape_of_wa01() {
        let mut message = message(
            &sheena(),
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
            1_749_416_383,
            "text",
        );
        message.insert(
            "text".into(),
            json!({ "body": "Does it come in another color?" }),
        );
        let value = messages_value(
            &business(),
            Some(contact(&sheena())),
            Value::Object(message),
        );
        let body = envelope(
            &business(),
            &[Change {
                value,
                field: "messages".to_owned(),
            }],
        );
        let fixture: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/whatsapp/wa01_text_official.json"
        ))
        .expect("JSON");
        assert_eq!(body, fixture);
    }

    #[test]
    fn a_failed_status_has_the_shape_of_wa14b() {
        let facts = StatusFacts {
            recipient: &sheena(),
            by_user_id: false,
            timestamp: 1_751_229_288,
            callback_data: None,
            conversation: None,
            category: "service",
            error: Some(&GraphError::reengagement()),
        };
        let wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJCNkY5NTBENEU3ODYxQTM3RUQA";
        let body = envelope(
            &business(),
            &[Change {
                value: statuses_value(&business(), status(wamid, WaStatus::Failed, &facts)),
                field: "messages".to_owned(),
            }],
        );
        let fixture: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/whatsapp/wa14b_status_failed_131047_window_closed.json"
        ))
        .expect("JSON");
        assert_eq!(body, fixture);
    }
}
