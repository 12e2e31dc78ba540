//! Request parameters, decoded the way the Bot API server decodes them: from the URL query, from an
//! `application/x-www-form-urlencoded` body or from an `application/json` body, merged into one JSON
//! object. Form and query values arrive as strings; fields that carry JSON (`reply_markup`,
//! `allowed_updates`, …) are decoded so the request log reads the same whichever encoding the
//! client used. Getters accept both spellings (`"42"` and `42`) as the real server does.

use serde_json::{Map, Value};

use super::error::ApiError;

/// Fields whose value is itself JSON when sent as a string.
const JSON_FIELDS: &[&str] = &[
    "reply_markup",
    "allowed_updates",
    "reply_parameters",
    "entities",
    "caption_entities",
    "commands",
    "scope",
    "link_preview_options",
];

/// The decoded parameters of one call.
#[derive(Clone, Debug, Default)]
pub(crate) struct Params(Map<String, Value>);

impl Params {
    /// Decodes the query string and the body.
    ///
    /// # Errors
    ///
    /// A JSON body that does not parse, or one that is not an object.
    pub fn decode(
        query: Option<&str>,
        content_type: &str,
        body: &[u8],
    ) -> Result<Params, ApiError> {
        let mut map = Map::new();
        if let Some(query) = query {
            for (key, value) in parse_urlencoded(query) {
                map.insert(key, Value::String(value));
            }
        }
        let content_type = content_type.to_ascii_lowercase();
        if content_type.starts_with("application/json") && !body.is_empty() {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(fields)) => map.extend(fields),
                Ok(_) | Err(_) => {
                    // inferred wording
                    return Err(ApiError::bad_request("can't parse JSON object"));
                }
            }
        } else if content_type.starts_with("application/x-www-form-urlencoded") {
            let text = String::from_utf8_lossy(body);
            for (key, value) in parse_urlencoded(&text) {
                map.insert(key, Value::String(value));
            }
        } else if content_type.starts_with("multipart/form-data") {
            return Err(ApiError::bad_request(
                "multipart/form-data is not supported by the fake server; send file_id strings",
            ));
        }
        Ok(Params::from_map(map))
    }

    /// Parameters given as a JSON object (a webhook reply, the control API).
    pub fn from_map(mut map: Map<String, Value>) -> Params {
        for field in JSON_FIELDS {
            if let Some(Value::String(text)) = map.get(*field)
                && let Ok(value @ (Value::Object(_) | Value::Array(_))) =
                    serde_json::from_str::<Value>(text)
            {
                map.insert((*field).to_owned(), value);
            }
        }
        Params(map)
    }

    /// The parameters as a JSON object, for the request log.
    pub fn to_json(&self) -> Value {
        Value::Object(self.0.clone())
    }

    /// Whether the parameter is present and not empty (the server treats `""` as absent).
    pub fn has(&self, name: &str) -> bool {
        match self.0.get(name) {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(_) => true,
        }
    }

    /// A string parameter; numbers and booleans are rendered as text.
    pub fn str(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null | Value::Array(_) | Value::Object(_) => None,
        }
    }

    /// A non-empty string parameter.
    pub fn non_empty(&self, name: &str) -> Option<String> {
        self.str(name).filter(|s| !s.is_empty())
    }

    /// An integer parameter; anything that is not an integer counts as absent.
    pub fn i64(&self, name: &str) -> Option<i64> {
        match self.0.get(name)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A boolean parameter: `true`, `1` and `yes` (any case) are true (tdlib `Client::to_bool`).
    pub fn bool(&self, name: &str) -> bool {
        match self.0.get(name) {
            Some(Value::Bool(b)) => *b,
            Some(Value::Number(n)) => n.as_i64() == Some(1),
            Some(Value::String(s)) => {
                matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes")
            }
            _ => false,
        }
    }

    /// A JSON parameter (object or array), whether sent as JSON or as a JSON string.
    ///
    /// `Ok(None)` when absent; `Err(())` when present but not JSON (callers word the error, which
    /// differs per parameter).
    pub fn json(&self, name: &str) -> Result<Option<Value>, ()> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => serde_json::from_str(s).map(Some).map_err(|_| ()),
            Some(value) => Ok(Some(value.clone())),
        }
    }
}

/// Splits `a=1&b=x%20y` into decoded pairs (`+` is a space).
pub(crate) fn parse_urlencoded(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high * 16 + low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_pairs_are_decoded() {
        assert_eq!(
            parse_urlencoded("chat_id=42&text=a+b%20c%26&empty=&bad=%zz&tail=%4"),
            vec![
                ("chat_id".into(), "42".into()),
                ("text".into(), "a b c&".into()),
                ("empty".into(), String::new()),
                ("bad".into(), "%zz".into()),
                ("tail".into(), "%4".into()),
            ]
        );
    }

    #[test]
    fn json_strings_in_form_fields_are_decoded() {
        let params = Params::decode(
            Some("reply_markup=%7B%22inline_keyboard%22%3A%5B%5D%7D"),
            "",
            b"",
        )
        .expect("decodes");
        assert_eq!(
            params.to_json()["reply_markup"]["inline_keyboard"],
            Value::Array(vec![])
        );
    }
}
