//! `X-Hub-Signature-256`: Meta signs every webhook body with HMAC-SHA256 keyed with the app
//! secret. Checked over the exact bytes received (Meta signs its own escaped JSON; re-serialising
//! would change them), in constant time. Pure.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header Meta puts the signature in.
pub const HEADER: &str = "x-hub-signature-256";

/// Why a body is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Hub-Signature-256` header.
    #[error("no X-Hub-Signature-256 header")]
    Missing,
    /// Not `sha256=<hex>`.
    #[error("X-Hub-Signature-256 is not sha256=<hex>")]
    Malformed,
    /// The HMAC does not match.
    #[error("X-Hub-Signature-256 does not match the body")]
    Mismatch,
}

/// Checks `header` (the header's value, if any) against `body` signed with `secret`.
///
/// # Errors
///
/// [`SignatureError`] when the header is missing, malformed or wrong.
pub fn verify(secret: &[u8], body: &[u8], header: Option<&[u8]>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_digest = header
        .strip_prefix(b"sha256=")
        .ok_or(SignatureError::Malformed)?;
    let expected = hex::decode(hex_digest).map_err(|_| SignatureError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The header value for `body` signed with `secret` (`sha256=<lowercase hex>`), as Meta sends it.
#[must_use]
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: &str =
        include_str!("../../../tests/fixtures/whatsapp/wa24_text_unicode_escaped_raw.json");
    const SIG: &str =
        include_str!("../../../tests/fixtures/whatsapp/wa24_text_unicode_escaped_raw.sig.txt");

    fn signature() -> &'static str {
        SIG.lines()
            .map(str::trim)
            .find_map(|l| l.split_once("sha256=").map(|(_, h)| h))
            .map(|h| h.trim())
            .unwrap_or_default()
    }

    #[test]
    fn the_signed_fixture_verifies_over_its_exact_bytes() {
        let body = RAW.trim_end_matches('\n').as_bytes();
        let header = format!("sha256={}", signature());
        assert_eq!(
            verify(b"test_app_secret", body, Some(header.as_bytes())),
            Ok(())
        );
        assert_eq!(sign(b"test_app_secret", body), header);
    }

    #[test]
    fn a_re_serialised_body_or_another_secret_does_not() {
        let body = RAW.trim_end_matches('\n');
        let header = format!("sha256={}", signature());
        let value: serde_json::Value = serde_json::from_str(body).expect("JSON");
        let again = serde_json::to_string(&value).expect("JSON");
        assert_ne!(again, body, "serde writes the emoji unescaped");
        assert_eq!(
            verify(
                b"test_app_secret",
                again.as_bytes(),
                Some(header.as_bytes())
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"other_secret", body.as_bytes(), Some(header.as_bytes())),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(b"s", b"{}", None), Err(SignatureError::Missing));
        assert_eq!(
            verify(b"s", b"{}", Some(b"sha1=ab")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(b"s", b"{}", Some(b"sha256=zz")),
            Err(SignatureError::Malformed)
        );
    }
}
