//! Users acting: each action builds the inbound message Meta would post (platform facts §2.4,
//! fixtures wa01–wa22), opens or refreshes the user's 24-hour window, and queues the webhook.
//! A user who blocked the business and writes again has unblocked it. Raw payloads (fixtures)
//! go out as given, or re-addressed to a user of the fake.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::payloads::{self, Change};
use super::records::{ControlError, MediaKind, SendOutcome, WaUser};
use super::state::{Pending, State};
use super::wire::{self, Direction};

/// How long media ids from webhooks stay valid (platform facts §2.6: 7 days).
pub(crate) const MEDIA_ID_TTL_DAYS: i64 = 7;

impl State {
    /// The user writes: window refreshed, block lifted, message queued. Returns the wamid.
    fn inbound(
        &mut self,
        id: &str,
        kind: &str,
        payload: Option<Value>,
        context: Option<Value>,
    ) -> Result<String, ControlError> {
        let now = self.now();
        let address = self
            .address_of(id)
            .ok_or_else(|| ControlError::UnknownUser(id.to_owned()))?;
        let serial = self.next_serial();
        let Some(user) = self.users.get_mut(&address) else {
            return Err(ControlError::UnknownUser(id.to_owned()));
        };
        user.last_inbound = Some(now);
        user.blocked = false;
        let handle = user.handle.clone();
        self.limits.count_inbound(now);
        let wamid = wire::wamid(&address, Direction::Inbound, serial);
        let mut message = payloads::message(&handle, &wamid, now.timestamp(), kind);
        if let Some(context) = context {
            message.insert("context".into(), context);
        }
        if let Some(payload) = payload {
            message.insert(kind.to_owned(), payload);
        }
        let value = payloads::messages_value(
            &self.settings.business,
            Some(payloads::contact(&handle)),
            Value::Object(message),
        );
        self.push(Pending::Change {
            keys: vec![address],
            change: Change {
                value,
                field: "messages".to_owned(),
            },
            delay: Duration::ZERO,
        });
        Ok(wamid)
    }

    /// `context` of a reply to one of the business's messages (fixture wa02).
    fn context_of(&self, wamid: &str) -> Value {
        json!({ "from": self.settings.business.display_phone_number, "id": wamid })
    }

    /// Accepted sends to the user, newest first.
    fn accepted_to(&self, id: &str) -> Vec<&super::records::SentWa> {
        let address = self.address_of(id).unwrap_or_else(|| id.to_owned());
        self.by_address
            .get(&address)
            .into_iter()
            .flatten()
            .rev()
            .map(|&index| &self.sends[index].record)
            .filter(|record| record.outcome == SendOutcome::Accepted)
            .collect()
    }

    pub fn send_text(&mut self, id: &str, text: &str) -> Result<String, ControlError> {
        self.inbound(id, "text", Some(json!({ "body": text })), None)
    }

    /// Taps reply button `button_id` titled `title` on the newest accepted message that has it.
    pub fn press_button(
        &mut self,
        id: &str,
        button_id: &str,
        title: &str,
    ) -> Result<String, ControlError> {
        let found = self
            .accepted_to(id)
            .into_iter()
            .find(|record| {
                record
                    .buttons
                    .iter()
                    .any(|button| button.id == button_id && button.title == title)
            })
            .and_then(|record| record.wamid.clone());
        let Some(wamid) = found else {
            let offered: Vec<String> = self
                .accepted_to(id)
                .iter()
                .flat_map(|record| record.buttons.iter())
                .map(|button| format!("{}={:?}", button.id, button.title))
                .collect();
            return Err(ControlError::NothingToPress {
                to: id.to_owned(),
                what: format!(
                    "button {button_id}={title:?} (offered: [{}])",
                    offered.join(", ")
                ),
            });
        };
        let context = self.context_of(&wamid);
        self.inbound(
            id,
            "interactive",
            Some(json!({
                "type": "button_reply",
                "button_reply": { "id": button_id, "title": title },
            })),
            Some(context),
        )
    }

    /// Picks row `row_id` titled `title` on the newest accepted list that has it.
    pub fn choose_list_row(
        &mut self,
        id: &str,
        row_id: &str,
        title: &str,
    ) -> Result<String, ControlError> {
        let found = self.accepted_to(id).into_iter().find_map(|record| {
            let row = record
                .rows
                .iter()
                .find(|row| row.id == row_id && row.title == title)?;
            Some((record.wamid.clone()?, row.description.clone()))
        });
        let Some((wamid, description)) = found else {
            let offered: Vec<String> = self
                .accepted_to(id)
                .iter()
                .flat_map(|record| record.rows.iter())
                .map(|row| format!("{}={:?}", row.id, row.title))
                .collect();
            return Err(ControlError::NothingToPress {
                to: id.to_owned(),
                what: format!("row {row_id}={title:?} (offered: [{}])", offered.join(", ")),
            });
        };
        let mut reply = json!({ "id": row_id, "title": title });
        if let Some(description) = description {
            reply["description"] = json!(description);
        }
        let context = self.context_of(&wamid);
        self.inbound(
            id,
            "interactive",
            Some(json!({ "type": "list_reply", "list_reply": reply })),
            Some(context),
        )
    }

    /// Taps a quick-reply button of a template (`type: "button"`, fixture wa04): in reply to
    /// the newest accepted template, or without `context` when there is none (wa04b).
    pub fn press_template_button(
        &mut self,
        id: &str,
        payload: &str,
        text: &str,
    ) -> Result<String, ControlError> {
        let context = self
            .accepted_to(id)
            .into_iter()
            .find(|record| record.template.is_some())
            .and_then(|record| record.wamid.clone())
            .map(|wamid| self.context_of(&wamid));
        self.inbound(
            id,
            "button",
            Some(json!({ "payload": payload, "text": text })),
            context,
        )
    }

    /// Sends media the fake then serves under a fresh media id (fixtures wa05–wa07, wa21).
    pub fn send_media(
        &mut self,
        id: &str,
        kind: MediaKind,
        bytes: Vec<u8>,
        caption: Option<&str>,
    ) -> Result<String, ControlError> {
        if self.address_of(id).is_none() {
            return Err(ControlError::UnknownUser(id.to_owned()));
        }
        let media_id = self.register_media(bytes, kind.mime_type());
        let (sha256, created) = self
            .media
            .get(&media_id)
            .map(|media| (media.sha256.clone(), media.created))
            .unwrap_or_default();
        let url = self.media_url(
            &media_id,
            created + chrono::Duration::days(MEDIA_ID_TTL_DAYS),
        );
        let mut payload = Map::new();
        if let Some(caption) = caption
            && matches!(
                kind,
                MediaKind::Image | MediaKind::Video | MediaKind::Document
            )
        {
            payload.insert("caption".into(), json!(caption));
        }
        if kind == MediaKind::Document {
            payload.insert("filename".into(), json!("document.pdf"));
        }
        payload.insert("mime_type".into(), json!(kind.mime_type()));
        payload.insert("sha256".into(), json!(sha256));
        payload.insert("id".into(), json!(media_id));
        // Webhooks carry a download URL since November 2025 (platform facts §2.11).
        payload.insert("url".into(), json!(url));
        match kind {
            MediaKind::Voice => {
                payload.insert("voice".into(), json!(true));
            }
            MediaKind::Audio => {
                payload.insert("voice".into(), json!(false));
            }
            MediaKind::Sticker => {
                payload.insert("animated".into(), json!(false));
            }
            _ => {}
        }
        self.inbound(id, kind.message_type(), Some(Value::Object(payload)), None)
    }

    /// Shares a location (fixture wa08).
    pub fn send_location(
        &mut self,
        id: &str,
        latitude: f64,
        longitude: f64,
        name: Option<&str>,
        address: Option<&str>,
    ) -> Result<String, ControlError> {
        let mut location = json!({ "latitude": latitude, "longitude": longitude });
        if let Some(name) = name {
            location["name"] = json!(name);
        }
        if let Some(address) = address {
            location["address"] = json!(address);
        }
        self.inbound(id, "location", Some(location), None)
    }

    /// Reacts to a message (fixture wa09); an empty emoji removes the reaction (wa09b).
    pub fn send_reaction(
        &mut self,
        id: &str,
        message_id: &str,
        emoji: &str,
    ) -> Result<String, ControlError> {
        self.inbound(
            id,
            "reaction",
            Some(json!({ "message_id": message_id, "emoji": emoji })),
            None,
        )
    }

    /// The user moves to a new phone number: a `system` message without `contacts` from the
    /// old number (fixture wa18); the fake files the user under the new number from then on
    /// (their window and block carry over).
    pub fn change_number(&mut self, id: &str, new_wa_id: &str) -> Result<String, ControlError> {
        let address = self
            .address_of(id)
            .ok_or_else(|| ControlError::UnknownUser(id.to_owned()))?;
        if self.users.contains_key(new_wa_id) {
            return Err(ControlError::UserExists(new_wa_id.to_owned()));
        }
        let Some(mut user) = self.users.remove(&address) else {
            return Err(ControlError::UnknownUser(id.to_owned()));
        };
        let Some(old) = user.handle.wa_id.clone() else {
            self.users.insert(address, user);
            return Err(ControlError::NoPhoneNumber(id.to_owned()));
        };
        let serial = self.next_serial();
        let wamid = wire::wamid(&old, Direction::Inbound, serial);
        let mut message = payloads::message(&user.handle, &wamid, self.unix_now(), "system");
        message.insert(
            "system".into(),
            json!({
                "body": format!("User {} changed from {old} to {new_wa_id}", user.handle.name),
                "wa_id": new_wa_id,
                "type": "user_changed_number",
            }),
        );
        user.handle.wa_id = Some(new_wa_id.to_owned());
        self.users.insert(new_wa_id.to_owned(), user);
        let value = payloads::messages_value(&self.settings.business, None, Value::Object(message));
        self.push(Pending::Change {
            keys: vec![old, new_wa_id.to_owned()],
            change: Change {
                value,
                field: "messages".to_owned(),
            },
            delay: Duration::ZERO,
        });
        Ok(wamid)
    }

    /// Queues a raw webhook body (a fixture) as it is, learning its senders: unknown ones
    /// become users, and every sender's window opens now. Returns the message ids in it.
    pub fn send_raw(&mut self, body: &Value) -> Result<Vec<String>, ControlError> {
        if !body.is_object() {
            return Err(ControlError::NotAnEnvelope);
        }
        let (keys, wamids) = self.learn(body);
        self.push(Pending::Raw {
            keys,
            bytes: wire::encode(body).into_bytes(),
        });
        Ok(wamids)
    }

    /// Queues exact bytes (e.g. the signed fixture wa24), learning senders when they parse.
    pub fn send_raw_bytes(&mut self, bytes: Vec<u8>) -> Vec<String> {
        let (keys, wamids) = serde_json::from_slice::<Value>(&bytes)
            .map(|body| self.learn(&body))
            .unwrap_or_default();
        self.push(Pending::Raw { keys, bytes });
        wamids
    }

    /// Rewrites a fixture as if `id` sent it: the fake's WABA and number in `entry`/`metadata`,
    /// the user in `contacts`, `from`/`from_user_id`, fresh wamids and timestamps; then queues
    /// it like [`send_raw`](Self::send_raw).
    pub fn send_raw_as(&mut self, id: &str, mut body: Value) -> Result<Vec<String>, ControlError> {
        if !body.is_object() {
            return Err(ControlError::NotAnEnvelope);
        }
        let address = self
            .address_of(id)
            .ok_or_else(|| ControlError::UnknownUser(id.to_owned()))?;
        let handle = self
            .users
            .get(&address)
            .map(|user| user.handle.clone())
            .ok_or_else(|| ControlError::UnknownUser(id.to_owned()))?;
        let business = self.settings.business.clone();
        let timestamp = self.unix_now().to_string();
        // Only objects are touched: indexing into anything else would panic.
        let entries = body.get_mut("entry").and_then(Value::as_array_mut);
        for entry in entries
            .into_iter()
            .flatten()
            .filter_map(Value::as_object_mut)
        {
            entry.insert("id".into(), json!(business.waba_id));
            let changes = entry.get_mut("changes").and_then(Value::as_array_mut);
            for change in changes.into_iter().flatten() {
                let Some(value) = change.get_mut("value").and_then(Value::as_object_mut) else {
                    continue;
                };
                value.insert(
                    "metadata".into(),
                    json!({
                        "display_phone_number": business.display_phone_number,
                        "phone_number_id": business.phone_number_id,
                    }),
                );
                if value.contains_key("contacts") {
                    value.insert("contacts".into(), json!([payloads::contact(&handle)]));
                }
                let messages = value.get_mut("messages").and_then(Value::as_array_mut);
                for message in messages.into_iter().flatten() {
                    let Some(message) = message.as_object_mut() else {
                        continue;
                    };
                    message.remove("from");
                    message.remove("from_user_id");
                    if let Some(wa_id) = &handle.wa_id {
                        message.insert("from".into(), json!(wa_id));
                    }
                    if let Some(bsuid) = &handle.bsuid {
                        message.insert("from_user_id".into(), json!(bsuid));
                    }
                    let serial = self.next_serial();
                    message.insert(
                        "id".into(),
                        json!(wire::wamid(&address, Direction::Inbound, serial)),
                    );
                    message.insert("timestamp".into(), json!(timestamp));
                    if let Some(context) = message.get_mut("context").and_then(Value::as_object_mut)
                        && context.contains_key("from")
                    {
                        context.insert("from".into(), json!(business.display_phone_number));
                    }
                }
            }
        }
        self.send_raw(&body)
    }

    /// Makes the senders of a raw body known and opens their windows. Returns the ordering
    /// keys (their addresses) and the message ids.
    fn learn(&mut self, body: &Value) -> (Vec<String>, Vec<String>) {
        let now = self.now();
        let mut keys = Vec::new();
        let mut wamids = Vec::new();
        let values = body["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|entry| entry["changes"].as_array().into_iter().flatten())
            .map(|change| &change["value"]);
        for value in values {
            let contacts: Vec<&Value> =
                value["contacts"].as_array().into_iter().flatten().collect();
            for message in value["messages"].as_array().into_iter().flatten() {
                if let Some(wamid) = message["id"].as_str() {
                    wamids.push(wamid.to_owned());
                }
                let wa_id = message["from"].as_str();
                let bsuid = message["from_user_id"].as_str();
                let Some(sender) = wa_id.or(bsuid) else {
                    continue;
                };
                let contact = contacts.iter().find(|contact| {
                    contact["wa_id"].as_str() == Some(sender)
                        || contact["user_id"].as_str() == Some(sender)
                });
                let address = match self.address_of(sender) {
                    Some(address) => address,
                    None => {
                        let text = |key: &str| {
                            contact
                                .and_then(|c| c["profile"][key].as_str())
                                .map(str::to_owned)
                        };
                        let handle = WaUser {
                            wa_id: wa_id.map(str::to_owned),
                            bsuid: bsuid.map(str::to_owned).or_else(|| {
                                contact
                                    .and_then(|c| c["user_id"].as_str())
                                    .map(str::to_owned)
                            }),
                            name: text("name").unwrap_or_default(),
                            username: text("username"),
                        };
                        self.add_user(handle).address().to_owned()
                    }
                };
                // A system message is not the user writing to the business.
                if message["type"].as_str() != Some("system")
                    && let Some(user) = self.users.get_mut(&address)
                {
                    user.last_inbound = Some(now);
                    user.blocked = false;
                }
                if !keys.contains(&address) {
                    keys.push(address);
                }
            }
        }
        (keys, wamids)
    }
}
