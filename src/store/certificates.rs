//! Certificates as anyone may check them: one by its verification code, with what the public
//! page, the picture and the `/verify` command show (the name on it, what it is for, when it
//! was issued, the teacher's language for the picture's words).

use chrono::{DateTime, Utc};

use super::{Backend, Store, StoreError, from_millis};

/// A certificate found by its code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateRecord {
    /// The code, as stored (upper case, `XXXX-XXXX`).
    pub code: String,
    /// The name the teacher gave, when they gave one.
    pub name: Option<String>,
    /// A module id, or `pathway:{id}`.
    pub module: String,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// The teacher's language code (the picture's words are in it).
    pub language: String,
}

/// A code as people type it, in the stored form: trimmed, upper case, `XXXX-XXXX` with the
/// hyphen added when it was left out; `None` when it cannot be a code.
#[must_use]
pub fn normalize_code(typed: &str) -> Option<String> {
    let letters: String = typed
        .trim()
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\u{2010}'..='\u{2015}'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (letters.len() == 8 && letters.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| format!("{}-{}", &letters[..4], &letters[4..]))
}

impl Store {
    /// The certificate with this code, typed in any case, with or without its hyphen.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] for a code that is no certificate's; [`StoreError::Database`].
    pub async fn certificate_record(&self, typed: &str) -> Result<CertificateRecord, StoreError> {
        const SQL: &str = "SELECT c.code, c.teacher_name, c.module, c.issued_at, t.language \
             FROM certificates c JOIN teachers t ON t.id = c.teacher_id WHERE c.code = $1";
        let code = normalize_code(typed).ok_or(StoreError::NotFound)?;
        let row: Option<(String, Option<String>, String, i64, String)> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(&code).fetch_optional(pool).await?);
        let (code, name, module, at, language) = row.ok_or(StoreError::NotFound)?;
        Ok(CertificateRecord {
            code,
            name,
            module,
            issued_at: from_millis(at),
            language,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_code;

    #[test]
    fn codes_are_read_the_way_people_type_them() {
        assert_eq!(normalize_code(" abcd-2345 ").as_deref(), Some("ABCD-2345"));
        assert_eq!(normalize_code("ABCD2345").as_deref(), Some("ABCD-2345"));
        assert_eq!(normalize_code("abcd 2345").as_deref(), Some("ABCD-2345"));
        assert_eq!(normalize_code("ABC-2345"), None);
        assert_eq!(normalize_code("ABCD-2345-X"), None);
        assert_eq!(normalize_code("ABCD-23ـ5"), None);
    }
}
