//! The Graph API's error reply: `{"error":{"message","type","code","error_data"?,
//! "error_subcode"?,"fbtrace_id"}}` with its HTTP status, and the table of errors the fake
//! raises. Texts come from the fixtures `tests/fixtures/whatsapp/wa_resp_error_*.json` and the
//! platform facts (§2.6–§2.9); the ones no fixture or fact pins down are marked "inferred".
//!
//! The same errors reach webhooks as `errors[]` of a `failed` status (fixtures wa14, wa14b):
//! `{code, title, message, error_data:{details}, href}` where `title` is the Graph message
//! without its `(#code) ` prefix.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::wire;

/// `href` of every WhatsApp error object in webhooks (fixtures wa14, wa14b, wa19).
pub(crate) const ERROR_CODES_HREF: &str =
    "/documentation/business-messaging/whatsapp/support/error-codes";

/// Details of 131047 (fixtures wa_resp_error_131047_reengagement and wa14b).
const REENGAGEMENT_DETAILS: &str = "Message failed to send because more than 24 hours have passed \
                                    since the customer last replied to this number.";

/// A failed Graph call.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GraphError {
    /// HTTP status of the reply.
    pub http_status: u16,
    /// `error.message`, e.g. `(#131047) Re-engagement message`.
    pub message: String,
    /// `error.type`.
    pub kind: &'static str,
    /// `error.code`.
    pub code: i64,
    /// `error.error_data.details`, when the error has one.
    pub details: Option<String>,
    /// `error.error_subcode`, when the error has one.
    pub subcode: Option<i64>,
    /// `error.is_transient`, on Graph's own transient failures.
    pub transient: bool,
}

impl GraphError {
    fn new(http_status: u16, code: i64, message: impl Into<String>) -> GraphError {
        GraphError {
            http_status,
            message: message.into(),
            kind: "OAuthException",
            code,
            details: None,
            subcode: None,
            transient: false,
        }
    }

    fn with_details(mut self, details: impl Into<String>) -> GraphError {
        self.details = Some(details.into());
        self
    }

    /// An error with `(#code) title` as message and `details` in `error_data`, HTTP 400 unless
    /// told otherwise: the shape of every WhatsApp-specific error in the fixtures.
    pub fn whatsapp(code: i64, title: &str, details: Option<&str>) -> GraphError {
        let error = GraphError::new(400, code, format!("(#{code}) {title}"));
        match details {
            Some(details) => error.with_details(details),
            None => error,
        }
    }

    /// 401, code 190, for a missing, malformed or unknown token. The message is Graph's text for
    /// a token it cannot parse (inferred: no fixture has it).
    pub fn invalid_token() -> GraphError {
        GraphError::new(
            401,
            190,
            "Invalid OAuth access token - Cannot parse access token",
        )
    }

    /// 401, code 190, exactly fixture `wa_resp_error_190_token_expired.json`.
    pub fn token_expired() -> GraphError {
        GraphError::new(
            401,
            190,
            "Error validating access token: Session has expired",
        )
    }

    /// Code 100, subcode 33: the object does not exist (an unknown phone number id or media id).
    /// Graph's wording, as quoted by many public clients; platform facts §4 say the exact text
    /// for phone number ids is unverified.
    pub fn unknown_object(verb: &str, id: &str) -> GraphError {
        let mut error = GraphError::new(
            400,
            100,
            format!(
                "Unsupported {verb} request. Object with ID '{id}' does not exist, cannot be loaded \
                 due to missing permissions, or does not support this operation. Please read the \
                 Graph API documentation at https://developers.facebook.com/docs/graph-api"
            ),
        );
        error.kind = "GraphMethodException";
        error.subcode = Some(33);
        error
    }

    /// Code 2500 for a path Graph has no edge for (inferred from Graph's general behaviour).
    pub fn unknown_path(path: &str) -> GraphError {
        GraphError::new(400, 2500, format!("Unknown path components: {path}"))
    }

    /// `(#100) The parameter {name} is required.` (seen verbatim for `messaging_product`).
    pub fn required(name: &str) -> GraphError {
        GraphError::new(
            400,
            100,
            format!("(#100) The parameter {name} is required."),
        )
    }

    /// `(#100) {text}` without `error_data`, Graph's style for malformed parameters (seen
    /// verbatim: "Param text['body'] must be at most 4096 characters long.").
    pub fn param(text: &str) -> GraphError {
        GraphError::new(400, 100, format!("(#100) {text}"))
    }

    /// `(#100) Invalid parameter` with details.
    pub fn invalid_parameter(details: &str) -> GraphError {
        GraphError::whatsapp(100, "Invalid parameter", Some(details))
    }

    /// `(#131008) Required parameter is missing` with details (details inferred).
    pub fn missing(details: &str) -> GraphError {
        GraphError::whatsapp(131_008, "Required parameter is missing", Some(details))
    }

    /// `(#131009) Parameter value is not valid` with details, as fixture
    /// `wa_resp_error_131009_button_title.json`.
    pub fn not_valid(details: &str) -> GraphError {
        GraphError::whatsapp(131_009, "Parameter value is not valid", Some(details))
    }

    /// 132001: the template (or this translation of it) is not approved. Message, details and
    /// subcode as in a public client test of a real answer (platform facts §2.6 give the code).
    pub fn template_missing(name: &str, language: &str) -> GraphError {
        let mut error = GraphError::whatsapp(
            132_001,
            "Template name does not exist in the translation",
            Some(&format!(
                "template name ({name}) does not exist in {language}"
            )),
        );
        error.subcode = Some(2_388_040);
        error
    }

    /// 132000: the body parameters do not match the template (details inferred).
    pub fn template_params(expected: usize, given: usize) -> GraphError {
        GraphError::whatsapp(
            132_000,
            "Number of parameters does not match the expected number of params",
            Some(&format!(
                "body: number of localizable_params ({given}) does not match the expected number \
                 of params ({expected})"
            )),
        )
    }

    /// 131047, exactly fixture `wa_resp_error_131047_reengagement.json`.
    pub fn reengagement() -> GraphError {
        GraphError::whatsapp(131_047, "Re-engagement message", Some(REENGAGEMENT_DETAILS))
    }

    /// 130429, exactly fixture `wa_resp_error_130429_throughput.json`.
    pub fn throughput() -> GraphError {
        let mut error = GraphError::whatsapp(
            130_429,
            "Rate limit hit",
            Some("Cloud API message throughput has been reached."),
        );
        error.subcode = Some(2_494_055);
        error
    }

    /// 131056, exactly fixture `wa_resp_error_131056_pair_rate.json`.
    pub fn pair_rate() -> GraphError {
        GraphError::whatsapp(
            131_056,
            "(Business Account, Consumer Account) pair rate limit hit",
            Some(
                "Message failed to send because there were too many messages sent from this \
                 phone number to the same phone number in a short period of time.",
            ),
        )
    }

    /// 131026, message as seen in public logs ("(#131026) Message undeliverable"); details
    /// paraphrase the error-codes page (inferred wording).
    pub fn undeliverable() -> GraphError {
        GraphError::whatsapp(
            131_026,
            "Message undeliverable",
            Some(
                "Unable to deliver message. Reasons can include: the recipient phone number is \
                 not a WhatsApp phone number, the recipient has not accepted the new Terms of \
                 Service, or the recipient is using an old WhatsApp version.",
            ),
        )
    }

    /// Graph's transient failure (code 2) behind a 5xx (message from Graph's general errors;
    /// inferred for WhatsApp).
    pub fn transient(http_status: u16) -> GraphError {
        let mut error = GraphError::new(
            http_status,
            2,
            "An unexpected error has occurred. Please retry your request later.",
        );
        error.transient = true;
        error
    }

    /// The error for a code in a `failed` status or a fault: known codes get their real title
    /// and details, others a generic title.
    pub fn for_code(code: i64) -> GraphError {
        match code {
            131_047 => GraphError::reengagement(),
            130_429 => GraphError::throughput(),
            131_056 => GraphError::pair_rate(),
            131_026 => GraphError::undeliverable(),
            131_049 => GraphError::whatsapp(
                131_049,
                "This message was not delivered to maintain healthy ecosystem engagement.",
                Some(
                    "In order to maintain a healthy ecosystem engagement, the message failed to \
                     be delivered.",
                ),
            ),
            131_000 => GraphError::whatsapp(131_000, "Something went wrong", None),
            131_016 => GraphError::whatsapp(131_016, "Service unavailable", None),
            131_053 => GraphError::whatsapp(131_053, "Media upload error", None),
            131_048 => GraphError::whatsapp(131_048, "Spam rate limit hit", None),
            131_057 => GraphError::whatsapp(131_057, "Account in maintenance mode", None),
            190 => GraphError::token_expired(),
            _ => GraphError::whatsapp(code, "Message failed to send", None),
        }
    }

    /// The message without its `(#code) ` prefix: the `title` in webhook error objects.
    pub fn title(&self) -> String {
        let prefix = format!("(#{}) ", self.code);
        self.message
            .strip_prefix(&prefix)
            .unwrap_or(&self.message)
            .to_owned()
    }

    /// The reply body.
    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("message".into(), json!(self.message));
        error.insert("type".into(), json!(self.kind));
        if self.transient {
            error.insert("is_transient".into(), json!(true));
        }
        error.insert("code".into(), json!(self.code));
        if let Some(details) = &self.details {
            error.insert(
                "error_data".into(),
                json!({ "messaging_product": "whatsapp", "details": details }),
            );
        }
        if let Some(subcode) = self.subcode {
            error.insert("error_subcode".into(), json!(subcode));
        }
        error.insert("fbtrace_id".into(), json!(wire::fbtrace_id()));
        json!({ "error": error })
    }

    /// The error object inside a `failed` status or `value.errors[]` (fixtures wa14, wa14b).
    pub fn webhook_object(&self) -> Value {
        let title = self.title();
        let mut object = json!({
            "code": self.code,
            "title": title,
            "message": title,
            "href": ERROR_CODES_HREF,
        });
        if let Some(details) = &self.details {
            object["error_data"] = json!({ "details": details });
        }
        object
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.http_status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = json_response(status, &self.body());
        if status == StatusCode::UNAUTHORIZED {
            let challenge = format!(
                "OAuth \"Facebook Platform\" \"invalid_token\" \"{}\"",
                self.message
            );
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

/// A JSON reply written the way Graph writes it (escaped, Meta's key order).
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        wire::encode(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn without_trace(mut body: Value) -> Value {
        if let Some(error) = body["error"].as_object_mut() {
            error.remove("fbtrace_id");
        }
        body
    }

    fn fixture(name: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/whatsapp")
            .join(name);
        let text = std::fs::read_to_string(path).expect("fixture");
        without_trace(serde_json::from_str(&text).expect("JSON"))
    }

    #[test]
    fn the_errors_with_fixtures_match_them_exactly() {
        let cases = [
            (
                GraphError::reengagement(),
                "wa_resp_error_131047_reengagement.json",
            ),
            (
                GraphError::throughput(),
                "wa_resp_error_130429_throughput.json",
            ),
            (
                GraphError::pair_rate(),
                "wa_resp_error_131056_pair_rate.json",
            ),
            (
                GraphError::token_expired(),
                "wa_resp_error_190_token_expired.json",
            ),
            (
                GraphError::not_valid("Button title length invalid. Min length: 1, Max length: 20"),
                "wa_resp_error_131009_button_title.json",
            ),
        ];
        for (error, name) in cases {
            assert_eq!(without_trace(error.body()), fixture(name), "{name}");
        }
    }

    #[test]
    fn webhook_error_objects_match_wa14b() {
        let status = serde_json::from_str::<Value>(include_str!(
            "../../../tests/fixtures/whatsapp/wa14b_status_failed_131047_window_closed.json"
        ))
        .expect("JSON");
        let expected = &status["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"][0];
        assert_eq!(&GraphError::reengagement().webhook_object(), expected);
    }
}
