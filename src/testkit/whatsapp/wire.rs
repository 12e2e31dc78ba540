//! Bytes on the wire, the way Meta writes them: minified JSON with every non-ASCII character
//! escaped as `\uXXXX` (lowercase hex, UTF-16 surrogate pairs above the BMP) and `/` as `\/`
//! (platform facts §2.2, fixture `wa24_text_unicode_escaped_raw.json`), keys in Meta's order;
//! the `X-Hub-Signature-256` header over those exact bytes; and the ids Meta hands out
//! (`wamid.…`, media ids, `fbtrace_id`).
//!
//! `serde_json` here sorts object keys, so the writer puts the keys Meta's payloads show first in
//! the order the fixtures have them, and any other key after them alphabetically. Re-encoding
//! fixture wa24 this way gives back its exact bytes (a unit test checks it).

use std::fmt::Write as _;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Keys in the order Meta's payloads list them (fixtures wa01–wa24, the Graph responses); keys
/// not listed follow, alphabetically. One list serves every object: no object in the fixtures
/// orders two listed keys differently.
const KEY_ORDER: &[&str] = &[
    "object",
    "entry",
    "context",
    "from",
    "from_user_id",
    "id",
    "status",
    "timestamp",
    "recipient_id",
    "recipient_user_id",
    "changes",
    "value",
    "field",
    "messaging_product",
    "metadata",
    "display_phone_number",
    "phone_number_id",
    "contacts",
    "profile",
    "name",
    "username",
    "input",
    "wa_id",
    "user_id",
    "parent_user_id",
    "messages",
    "statuses",
    "type",
    "caption",
    "mime_type",
    "sha256",
    "message",
    "code",
    "title",
    "error_data",
    "details",
    "error_subcode",
    "fbtrace_id",
    "href",
    "url",
    "file_size",
];

/// `value` as Meta sends it: minified, Meta's key order, non-ASCII and `/` escaped.
pub(crate) fn encode(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number(number) => out.push_str(&number.to_string()),
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(object) => {
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort_by_key(|key| {
                (
                    KEY_ORDER
                        .iter()
                        .position(|known| known == key)
                        .unwrap_or(usize::MAX),
                    key.as_str(),
                )
            });
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(&object[key], out);
            }
            out.push('}');
        }
    }
}

fn write_string(text: &str, out: &mut String) {
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(ch),
            _ => {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    // Writing to a String cannot fail.
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// `sha256=<lowercase hex HMAC-SHA256(secret, body)>`, the `X-Hub-Signature-256` value.
pub(crate) fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail; an empty header would be refused.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Base64 (standard alphabet, padded) of SHA-256, as Meta writes media `sha256` fields.
pub(crate) fn sha256_base64(bytes: &[u8]) -> String {
    base64(&Sha256::digest(bytes))
}

/// Standard base64 with padding (no crate for it among the dependencies).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (index, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if index <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Which side wrote a message: Meta's wamids differ in a marker byte and the length of the
/// random part (compare wa01, an inbound id, with wa_resp_send_accepted, an outbound one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From the user to the business.
    Inbound,
    /// From the business (Baithak) to the user.
    Outbound,
}

/// A fresh `wamid.…` for a message to or from `address`, shaped like Meta's: base64 of
/// `1c 18 <len> <address> 15 02 00 <11|12> 18 <len> <hex> 00`. `serial` keeps ids unique.
pub(crate) fn wamid(address: &str, direction: Direction, serial: u64) -> String {
    let (marker, hex_len) = match direction {
        Direction::Inbound => (0x12u8, 20usize),
        Direction::Outbound => (0x11u8, 18usize),
    };
    let random: u64 = rand::random();
    let mut hex = format!("{serial:08X}{random:016X}");
    hex.truncate(hex_len);
    let address = &address.as_bytes()[..address.len().min(200)];
    let mut raw = vec![0x1c, 0x18, u8::try_from(address.len()).unwrap_or(200)];
    raw.extend_from_slice(address);
    raw.extend_from_slice(&[0x15, 0x02, 0x00, marker, 0x18]);
    raw.push(u8::try_from(hex.len()).unwrap_or(0));
    raw.extend_from_slice(hex.as_bytes());
    raw.push(0x00);
    format!("wamid.{}", base64(&raw))
}

/// A numeric media id like Meta's (`1003383421387256`).
pub(crate) fn media_id() -> String {
    rand::random_range(1_000_000_000_000_000_u64..9_000_000_000_000_000).to_string()
}

/// An `fbtrace_id` like Meta's (`Az8or2yhqkZfEZ-_4Qn_Bam`).
pub(crate) fn fbtrace_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..23)
        .map(|_| char::from(ALPHABET[rand::random_range(0..ALPHABET.len())]))
        .collect()
}

/// 32 lowercase hex digits (conversation ids).
pub(crate) fn hex32() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str =
        include_str!("../../../tests/fixtures/whatsapp/wa24_text_unicode_escaped_raw.json");
    const SIG: &str = "sha256=9962b89847baeb2254f342feea11e9fc22e6962ed729037d766e98a97f2b0f12";

    #[test]
    fn re_encoding_the_signed_fixture_gives_its_exact_bytes_and_signature() {
        let raw = RAW.trim_end();
        let value: Value = serde_json::from_str(raw).expect("fixture is JSON");
        let encoded = encode(&value);
        assert_eq!(encoded, raw);
        assert_eq!(signature("test_app_secret", encoded.as_bytes()), SIG);
    }

    #[test]
    fn strings_escape_like_meta() {
        let value = serde_json::json!({ "a": "Grüße / \"q\" \n 📚" });
        assert_eq!(
            encode(&value),
            r#"{"a":"Gr\u00fc\u00dfe \/ \"q\" \n \ud83d\udcda"}"#
        );
    }

    #[test]
    fn base64_pads_like_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn wamids_look_like_metas() {
        let id = wamid("16505551234", Direction::Outbound, 7);
        assert!(id.starts_with("wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI"), "{id}");
        let inbound = wamid("16505551234", Direction::Inbound, 7);
        assert!(
            inbound.starts_with("wamid.HBgLMTY1MDU1NTEyMzQVAgASGBQ"),
            "{inbound}"
        );
        assert_ne!(id, wamid("16505551234", Direction::Outbound, 8));
    }
}
