//! The checks of `POST /{version}/{phone_number_id}/messages` that depend only on the body, in
//! Graph's order as far as it is known: `messaging_product`, the recipient, then the message
//! object of `type`. What depends on the fake's state (templates, rate limits, the 24-hour
//! window, blocks) is decided in `outbound`.
//!
//! Limits are platform facts §2.6 (text ≤ 4096; reply buttons 1–3, title 1–20, id ≤ 256, unique,
//! body ≤ 1024, header/footer ≤ 60; lists ≤ 10 sections, ≤ 10 rows in total, button ≤ 20,
//! section and row title ≤ 24, row id ≤ 200, description ≤ 72). Lengths count characters
//! (Unicode scalar values): a public client measured 20 `ç` (40 bytes) as a valid 20-character
//! title. Error texts seen verbatim in Meta's answers: "The parameter messaging_product is
//! required.", "Param text['body'] must be at most 4096 characters long.", "Button title length
//! invalid. Min length: 1, Max length: 20", "Invalid buttons count. Min allowed buttons: 1, Max
//! allowed buttons: 3", "Row title is too long. Max length is 24", "Total row count exceed max
//! allowed count: 10". The others follow the same patterns and are marked "inferred".
//!
//! `describe` turns any request (valid or not) into the [`SentWa`] record tests read.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::error::GraphError;
use super::records::{SendOutcome, SentWa, WaButton, WaListRow, WaMedia, WaReaction, WaTemplate};

const MAX_TEXT: usize = 4096;
const MAX_BUTTON_BODY: usize = 1024;
/// List bodies: Meta's list-messages page says 4096 (platform facts do not say; inferred).
const MAX_LIST_BODY: usize = 4096;
const MAX_HEADER_FOOTER: usize = 60;
const MAX_BUTTONS: usize = 3;
const MAX_BUTTON_TITLE: usize = 20;
const MAX_BUTTON_ID: usize = 256;
const MAX_LIST_BUTTON: usize = 20;
const MAX_SECTIONS: usize = 10;
const MAX_ROWS: usize = 10;
const MAX_SECTION_TITLE: usize = 24;
const MAX_ROW_TITLE: usize = 24;
const MAX_ROW_ID: usize = 200;
const MAX_ROW_DESCRIPTION: usize = 72;
/// Media captions (not in the platform facts; Meta's media pages say 1024; inferred).
const MAX_CAPTION: usize = 1024;

/// The `type`s the fake accepts.
const TYPES: &[&str] = &[
    "audio",
    "contacts",
    "document",
    "image",
    "interactive",
    "location",
    "reaction",
    "sticker",
    "template",
    "text",
    "video",
];

/// Who a send is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Recipient {
    /// `to` or `recipient` as given (echoed in `contacts[].input`).
    pub input: String,
    /// Digits of the phone number, or the BSUID.
    pub address: String,
    /// Sent with `recipient` (a BSUID): the answer carries `user_id` instead of `wa_id`.
    pub by_user_id: bool,
}

/// A template named by a send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TemplateRef {
    pub name: String,
    pub language: String,
    pub body_parameters: usize,
}

/// A request body that passed the checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    /// `{"status":"read","message_id":…}`: mark an inbound message as read.
    MarkRead { message_id: String },
    /// A message to send.
    Send {
        recipient: Recipient,
        template: Option<TemplateRef>,
        callback_data: Option<String>,
    },
}

/// Checks a send request body.
pub(crate) fn check(request: &Value) -> Result<Call, GraphError> {
    let empty = Map::new();
    let object = request.as_object().unwrap_or(&empty);
    match object.get("messaging_product") {
        // Graph compares enum values case-insensitively (inferred).
        Some(Value::String(product)) if product.eq_ignore_ascii_case("whatsapp") => {}
        // A wrong value gets the same answer as a missing one (inferred).
        _ => return Err(GraphError::required("messaging_product")),
    }
    if let Some(status) = object.get("status") {
        if status.as_str() != Some("read") {
            return Err(GraphError::param(&format!(
                "Param status must be one of {{READ}} - got {status}."
            )));
        }
        let message_id =
            non_empty(object, "message_id").ok_or_else(|| GraphError::required("message_id"))?;
        return Ok(Call::MarkRead {
            message_id: message_id.to_owned(),
        });
    }
    let recipient = recipient(request)?;
    if let Some(kind) = object.get("recipient_type")
        && kind.as_str() != Some("individual")
    {
        // Groups exist on the real API; the fake has none (inferred wording).
        return Err(GraphError::param(&format!(
            "Param recipient_type must be one of {{INDIVIDUAL}} - got {kind}."
        )));
    }
    if let Some(context) = object.get("context")
        && !context.get("message_id").is_some_and(Value::is_string)
    {
        return Err(GraphError::required("context['message_id']"));
    }
    let kind = match object.get("type") {
        // `type` is optional and defaults to text.
        None => "text",
        Some(Value::String(kind)) => kind.as_str(),
        Some(other) => {
            return Err(GraphError::param(&format!(
                "Param type must be a string - got {other}."
            )));
        }
    };
    let mut template = None;
    match kind {
        "text" => check_text(object)?,
        "interactive" => check_interactive(object)?,
        "template" => template = Some(check_template(object)?),
        "image" | "audio" | "document" | "video" | "sticker" => check_media(object, kind)?,
        "reaction" => check_reaction(object)?,
        "location" => check_location(object)?,
        "contacts" => {
            if object
                .get("contacts")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
            {
                return Err(GraphError::required("contacts"));
            }
        }
        other => {
            let names: Vec<String> = TYPES.iter().map(|t| t.to_ascii_uppercase()).collect();
            return Err(GraphError::param(&format!(
                "Param type must be one of {{{}}} - got \"{other}\".",
                names.join(", ")
            )));
        }
    }
    Ok(Call::Send {
        recipient,
        template,
        callback_data: object
            .get("biz_opaque_callback_data")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// The recipient: `to` (a phone number) wins over `recipient` (a BSUID), as Meta documents for
/// BSUID sends (the platform facts leave the field open; BSUID guides by BSPs name
/// `recipient` and this precedence).
pub(crate) fn recipient(request: &Value) -> Result<Recipient, GraphError> {
    let to = match request.get("to") {
        Some(Value::String(to)) if !to.trim().is_empty() => Some(to.clone()),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    };
    if let Some(to) = to {
        let digits: String = to
            .chars()
            .filter(|c| !matches!(c, '+' | ' ' | '-' | '(' | ')'))
            .collect();
        if digits.len() < 5 || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            // A username or BSUID in `to` is refused (seen in public client notes).
            return Err(GraphError::invalid_parameter(
                "Invalid 'to' parameter: not a phone number. Send to business-scoped user IDs \
                 with 'recipient'.",
            ));
        }
        return Ok(Recipient {
            input: to,
            address: digits,
            by_user_id: false,
        });
    }
    match request.get("recipient").and_then(Value::as_str) {
        Some(id) if is_bsuid(id) => Ok(Recipient {
            input: id.to_owned(),
            address: id.to_owned(),
            by_user_id: true,
        }),
        Some(_) => Err(GraphError::invalid_parameter(
            "Invalid 'recipient' parameter: not a business-scoped user ID.",
        )),
        None => Err(GraphError::required("to")),
    }
}

/// `US.13491208655302741918` or a parent id `US.ENT.11815799212886844830`: a two-letter country
/// code, a dot, then letters, digits and dots.
pub(crate) fn is_bsuid(id: &str) -> bool {
    let Some((country, rest)) = id.split_once('.') else {
        return false;
    };
    country.len() == 2
        && country.bytes().all(|b| b.is_ascii_uppercase())
        && !rest.is_empty()
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
}

fn non_empty<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object
        .get(key)
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

fn object_at<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    object.get(key).and_then(Value::as_object)
}

fn check_text(object: &Map<String, Value>) -> Result<(), GraphError> {
    let body = object_at(object, "text").and_then(|text| text.get("body"));
    match body {
        None => Err(GraphError::required("text['body']")),
        Some(Value::String(body)) if body.is_empty() => Err(GraphError::required("text['body']")),
        Some(Value::String(body)) if chars(body) > MAX_TEXT => Err(GraphError::param(&format!(
            "Param text['body'] must be at most {MAX_TEXT} characters long."
        ))),
        Some(Value::String(_)) => Ok(()),
        Some(_) => Err(GraphError::param("Param text['body'] must be a string.")),
    }
}

fn length_invalid(what: &str, max: usize) -> GraphError {
    GraphError::not_valid(&format!(
        "{what} length invalid. Min length: 1, Max length: {max}"
    ))
}

fn check_interactive(object: &Map<String, Value>) -> Result<(), GraphError> {
    let interactive =
        object_at(object, "interactive").ok_or_else(|| GraphError::required("interactive"))?;
    let kind = non_empty(interactive, "type")
        .ok_or_else(|| GraphError::required("interactive['type']"))?;
    if let Some(header) = object_at(interactive, "header")
        && header.get("type").and_then(Value::as_str) == Some("text")
    {
        let text = header.get("text").and_then(Value::as_str).unwrap_or("");
        if text.is_empty() || chars(text) > MAX_HEADER_FOOTER {
            return Err(length_invalid("Header text", MAX_HEADER_FOOTER));
        }
    }
    if let Some(footer) = object_at(interactive, "footer") {
        let text = footer.get("text").and_then(Value::as_str).unwrap_or("");
        if text.is_empty() || chars(text) > MAX_HEADER_FOOTER {
            return Err(length_invalid("Footer text", MAX_HEADER_FOOTER));
        }
    }
    let body = object_at(interactive, "body")
        .and_then(|body| body.get("text"))
        .and_then(Value::as_str);
    match kind {
        "button" => {
            let body = body.ok_or_else(|| GraphError::missing("Parameter 'body' is required"))?;
            if body.is_empty() || chars(body) > MAX_BUTTON_BODY {
                return Err(length_invalid("Body text", MAX_BUTTON_BODY));
            }
            check_buttons(interactive)
        }
        "list" => {
            let body = body.ok_or_else(|| GraphError::missing("Parameter 'body' is required"))?;
            if body.is_empty() || chars(body) > MAX_LIST_BODY {
                return Err(length_invalid("Body text", MAX_LIST_BODY));
            }
            check_list(interactive)
        }
        // Other interactive kinds exist; the fake passes them unchecked.
        "cta_url"
        | "flow"
        | "location_request_message"
        | "product"
        | "product_list"
        | "address_message"
        | "call_permission_request" => Ok(()),
        other => Err(GraphError::param(&format!(
            "Param interactive['type'] must be one of {{BUTTON, CTA_URL, FLOW, LIST, \
             LOCATION_REQUEST_MESSAGE, PRODUCT, PRODUCT_LIST}} - got \"{other}\"."
        ))),
    }
}

fn check_buttons(interactive: &Map<String, Value>) -> Result<(), GraphError> {
    let buttons = object_at(interactive, "action")
        .and_then(|action| action.get("buttons"))
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if buttons.is_empty() || buttons.len() > MAX_BUTTONS {
        return Err(GraphError::not_valid(&format!(
            "Invalid buttons count. Min allowed buttons: 1, Max allowed buttons: {MAX_BUTTONS}"
        )));
    }
    let mut titles = HashSet::new();
    let mut ids = HashSet::new();
    for button in buttons {
        if button.get("type").and_then(Value::as_str) != Some("reply") {
            // Inferred wording.
            return Err(GraphError::not_valid(
                "Invalid button type. Allowed types: reply",
            ));
        }
        let reply = &button["reply"];
        let title = reply.get("title").and_then(Value::as_str).unwrap_or("");
        if title.is_empty() || chars(title) > MAX_BUTTON_TITLE {
            return Err(length_invalid("Button title", MAX_BUTTON_TITLE));
        }
        let id = reply.get("id").and_then(Value::as_str).unwrap_or("");
        if id.is_empty() || chars(id) > MAX_BUTTON_ID {
            // Inferred wording, patterned on the title's.
            return Err(length_invalid("Button ID", MAX_BUTTON_ID));
        }
        if !titles.insert(title) {
            // Inferred wording.
            return Err(GraphError::not_valid("Button titles must be unique"));
        }
        if !ids.insert(id) {
            // Inferred wording.
            return Err(GraphError::not_valid("Button IDs must be unique"));
        }
    }
    Ok(())
}

fn check_list(interactive: &Map<String, Value>) -> Result<(), GraphError> {
    let action = object_at(interactive, "action");
    let button = action
        .and_then(|action| action.get("button"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if button.is_empty() || chars(button) > MAX_LIST_BUTTON {
        // Inferred wording.
        return Err(length_invalid("Button text", MAX_LIST_BUTTON));
    }
    let sections = action
        .and_then(|action| action.get("sections"))
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if sections.is_empty() || sections.len() > MAX_SECTIONS {
        // Inferred wording, patterned on the buttons count.
        return Err(GraphError::not_valid(&format!(
            "Invalid sections count. Min allowed sections: 1, Max allowed sections: {MAX_SECTIONS}"
        )));
    }
    let mut total = 0;
    let mut ids = HashSet::new();
    for section in sections {
        match section.get("title").and_then(Value::as_str) {
            Some(title) if chars(title) > MAX_SECTION_TITLE => {
                // Inferred wording, patterned on the row title's.
                return Err(GraphError::not_valid(&format!(
                    "Section title is too long. Max length is {MAX_SECTION_TITLE}"
                )));
            }
            Some(title) if !title.is_empty() => {}
            _ if sections.len() > 1 => {
                // Inferred wording.
                return Err(GraphError::missing(
                    "Section title is required when a list has more than one section",
                ));
            }
            _ => {}
        }
        let rows = section
            .get("rows")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        if rows.is_empty() {
            // Inferred wording.
            return Err(GraphError::not_valid(&format!(
                "Invalid rows count. Min allowed rows: 1, Max allowed rows: {MAX_ROWS}"
            )));
        }
        total += rows.len();
        for row in rows {
            let id = row.get("id").and_then(Value::as_str).unwrap_or("");
            if id.is_empty() {
                return Err(GraphError::missing("Row ID is required"));
            }
            if chars(id) > MAX_ROW_ID {
                return Err(GraphError::not_valid(&format!(
                    "Row ID is too long. Max length is {MAX_ROW_ID}"
                )));
            }
            let title = row.get("title").and_then(Value::as_str).unwrap_or("");
            if title.is_empty() {
                return Err(GraphError::missing("Row title is required"));
            }
            if chars(title) > MAX_ROW_TITLE {
                return Err(GraphError::not_valid(&format!(
                    "Row title is too long. Max length is {MAX_ROW_TITLE}"
                )));
            }
            if let Some(description) = row.get("description").and_then(Value::as_str)
                && chars(description) > MAX_ROW_DESCRIPTION
            {
                return Err(GraphError::not_valid(&format!(
                    "Row description is too long. Max length is {MAX_ROW_DESCRIPTION}"
                )));
            }
            if !ids.insert(id) {
                return Err(GraphError::not_valid("Row IDs must be unique"));
            }
        }
    }
    if total > MAX_ROWS {
        return Err(GraphError::not_valid(&format!(
            "Total row count exceed max allowed count: {MAX_ROWS}"
        )));
    }
    Ok(())
}

fn check_template(object: &Map<String, Value>) -> Result<TemplateRef, GraphError> {
    let template = object_at(object, "template").ok_or_else(|| GraphError::required("template"))?;
    let name =
        non_empty(template, "name").ok_or_else(|| GraphError::required("template['name']"))?;
    let language = object_at(template, "language")
        .and_then(|language| non_empty(language, "code"))
        .ok_or_else(|| GraphError::required("template['language']['code']"))?;
    Ok(TemplateRef {
        name: name.to_owned(),
        language: language.to_owned(),
        body_parameters: body_parameters(template).len(),
    })
}

/// The body component's parameters, as text where they have one.
fn body_parameters(template: &Map<String, Value>) -> Vec<String> {
    template
        .get("components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|component| {
            component
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|kind| kind.eq_ignore_ascii_case("body"))
        })
        .flat_map(|component| {
            component
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .map(|parameter| {
            parameter
                .get("text")
                .and_then(Value::as_str)
                .map_or_else(|| parameter.to_string(), str::to_owned)
        })
        .collect()
}

fn check_media(object: &Map<String, Value>, kind: &str) -> Result<(), GraphError> {
    let media = object_at(object, kind).ok_or_else(|| GraphError::required(kind))?;
    let id = non_empty(media, "id");
    let link = non_empty(media, "link");
    match (id, link) {
        // Inferred wording.
        (None, None) => {
            return Err(GraphError::missing(&format!(
                "Parameter '{kind}' needs either 'id' or 'link'"
            )));
        }
        (Some(_), Some(_)) => {
            return Err(GraphError::invalid_parameter(&format!(
                "Parameter '{kind}' takes 'id' or 'link', not both"
            )));
        }
        (None, Some(link)) if !(link.starts_with("https://") || link.starts_with("http://")) => {
            return Err(GraphError::invalid_parameter(&format!(
                "Param {kind}['link'] must be a valid URL"
            )));
        }
        _ => {}
    }
    if let Some(caption) = media.get("caption").and_then(Value::as_str)
        && chars(caption) > MAX_CAPTION
    {
        return Err(GraphError::param(&format!(
            "Param {kind}['caption'] must be at most {MAX_CAPTION} characters long."
        )));
    }
    Ok(())
}

fn check_reaction(object: &Map<String, Value>) -> Result<(), GraphError> {
    let reaction = object_at(object, "reaction").ok_or_else(|| GraphError::required("reaction"))?;
    if non_empty(reaction, "message_id").is_none() {
        return Err(GraphError::required("reaction['message_id']"));
    }
    // An empty emoji removes the reaction; the key itself is required.
    if !reaction.get("emoji").is_some_and(Value::is_string) {
        return Err(GraphError::required("reaction['emoji']"));
    }
    Ok(())
}

fn check_location(object: &Map<String, Value>) -> Result<(), GraphError> {
    let location = object_at(object, "location").ok_or_else(|| GraphError::required("location"))?;
    for key in ["latitude", "longitude"] {
        let number = match location.get(key) {
            Some(Value::Number(number)) => number.as_f64(),
            Some(Value::String(text)) => text.parse::<f64>().ok(),
            _ => None,
        };
        if number.is_none() {
            return Err(GraphError::required(&format!("location['{key}']")));
        }
    }
    Ok(())
}

/// The record of a send to `to` (checked or not): everything a test may want to look at,
/// read leniently from the body.
pub(crate) fn describe(
    to: &str,
    request: &Value,
    at: DateTime<Utc>,
    outcome: SendOutcome,
    wamid: Option<String>,
) -> SentWa {
    let kind = request
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("text")
        .to_owned();
    let string = |value: &Value| value.as_str().map(str::to_owned);
    let interactive = &request["interactive"];
    let mut record = SentWa {
        to: to.to_owned(),
        message_type: kind.clone(),
        interactive_type: None,
        text: None,
        header: None,
        footer: None,
        buttons: Vec::new(),
        list_button: None,
        rows: Vec::new(),
        template: None,
        media: None,
        reaction: None,
        reply_to: string(&request["context"]["message_id"]),
        wamid,
        outcome,
        status: None,
        at,
        request: request.clone(),
    };
    match kind.as_str() {
        "text" => record.text = string(&request["text"]["body"]),
        "interactive" => {
            record.interactive_type = string(&interactive["type"]);
            record.text = string(&interactive["body"]["text"]);
            record.header = string(&interactive["header"]["text"]);
            record.footer = string(&interactive["footer"]["text"]);
            let action = &interactive["action"];
            record.buttons = action["buttons"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|button| WaButton {
                    id: string(&button["reply"]["id"]).unwrap_or_default(),
                    title: string(&button["reply"]["title"]).unwrap_or_default(),
                })
                .collect();
            record.list_button = string(&action["button"]);
            record.rows = action["sections"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|section| {
                    let title = string(&section["title"]);
                    section["rows"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(move |row| WaListRow {
                            section: title.clone(),
                            id: string(&row["id"]).unwrap_or_default(),
                            title: string(&row["title"]).unwrap_or_default(),
                            description: string(&row["description"]),
                        })
                })
                .collect();
        }
        "template" => {
            let template = &request["template"];
            record.template = Some(WaTemplate {
                name: string(&template["name"]).unwrap_or_default(),
                language: string(&template["language"]["code"]).unwrap_or_default(),
                parameters: template
                    .as_object()
                    .map(body_parameters)
                    .unwrap_or_default(),
            });
        }
        "image" | "audio" | "document" | "video" | "sticker" => {
            let media = &request[kind.as_str()];
            record.text = string(&media["caption"]);
            record.media = Some(WaMedia {
                id: string(&media["id"]),
                link: string(&media["link"]),
                caption: string(&media["caption"]),
                filename: string(&media["filename"]),
            });
        }
        "reaction" => {
            record.reaction = Some(WaReaction {
                message_id: string(&request["reaction"]["message_id"]).unwrap_or_default(),
                emoji: string(&request["reaction"]["emoji"]).unwrap_or_default(),
            });
        }
        _ => {}
    }
    record
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn send(body: Value) -> Result<Call, GraphError> {
        check(&body)
    }

    #[test]
    fn the_recipient_is_to_before_recipient() {
        let both = json!({ "to": "+1 (650) 555-1234", "recipient": "US.1349" });
        assert_eq!(
            recipient(&both).map(|r| r.address),
            Ok("16505551234".to_owned())
        );
        let bsuid = json!({ "recipient": "US.13491208655302741918" });
        assert!(recipient(&bsuid).is_ok_and(|r| r.by_user_id));
        assert_eq!(
            recipient(&json!({})).map_err(|e| e.message),
            Err("(#100) The parameter to is required.".to_owned())
        );
        assert!(recipient(&json!({ "to": "@sheena" })).is_err());
        assert!(is_bsuid("US.ENT.11815799212886844830"));
        assert!(!is_bsuid("16505551234"));
    }

    #[test]
    fn text_limits_count_characters() {
        let body = |text: &str| json!({ "messaging_product": "whatsapp", "to": "16505551234", "text": { "body": text } });
        assert!(send(body(&"ç".repeat(4096))).is_ok());
        let error = send(body(&"a".repeat(4097))).expect_err("too long");
        assert_eq!(
            error.message,
            "(#100) Param text['body'] must be at most 4096 characters long."
        );
        assert!(send(body("")).is_err());
    }

    #[test]
    fn mark_read_needs_a_message_id() {
        let read =
            json!({ "messaging_product": "whatsapp", "status": "read", "message_id": "wamid.X" });
        assert_eq!(
            send(read),
            Ok(Call::MarkRead {
                message_id: "wamid.X".to_owned()
            })
        );
        let missing = json!({ "messaging_product": "whatsapp", "status": "read" });
        assert!(send(missing).is_err());
    }
}
