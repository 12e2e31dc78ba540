//! The files teachers attached to their tickets, as the console shows and serves them: a
//! ticket's files numbered 1, 2, … in the order they came, each with its platform file id, the
//! teacher's channel, and (for WhatsApp, whose files are downloaded and kept) the kept bytes.
//! A file is only ever looked up through its ticket, so a number can never reach another
//! ticket's file.

use super::{Backend, Store, StoreError};

/// One file on a ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// Its number on the ticket, from 1, in the order the files came.
    pub number: i64,
    /// photo, voice, audio, video, `video_note`, document.
    pub kind: String,
    /// The platform's file id.
    pub file_id: String,
    /// The teacher's channel (`telegram`, `whatsapp`, …): where the file lives.
    pub channel: String,
    /// The MIME type the platform gave, for a kept file.
    pub mime: Option<String>,
    /// Whether its bytes are kept in the database.
    pub kept: bool,
}

/// A file on a ticket with its bytes, when they are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentFile {
    /// What it is and where it lives.
    pub attachment: Attachment,
    /// The kept bytes.
    pub bytes: Option<Vec<u8>>,
}

/// The files of a ticket, in order, with what is known about each.
const FILES: &str = "SELECT tm.kind, tm.file_id, te.channel, m.mime, m.bytes IS NOT NULL \
     FROM ticket_messages tm JOIN tickets t ON t.code = tm.ticket \
     JOIN teachers te ON te.id = t.teacher_id \
     LEFT JOIN media m ON m.channel = te.channel AND m.file_id = tm.file_id \
     WHERE tm.ticket = $1 AND tm.file_id IS NOT NULL ORDER BY tm.id";

type Row = (String, String, String, Option<String>, bool);

fn attachment(number: i64, (kind, file_id, channel, mime, kept): Row) -> Attachment {
    Attachment {
        number,
        kind,
        file_id,
        channel,
        mime,
        kept,
    }
}

impl Store {
    /// The files attached to ticket `code`, numbered from 1 in the order they came (empty
    /// for an unknown ticket).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn ticket_attachments(&self, code: &str) -> Result<Vec<Attachment>, StoreError> {
        let rows: Vec<Row> =
            on_pool!(self, pool => sqlx::query_as(FILES).bind(code).fetch_all(pool).await?);
        Ok((1..).zip(rows).map(|(n, row)| attachment(n, row)).collect())
    }

    /// File `number` of ticket `code`, with its bytes when kept; `None` when the ticket has no
    /// such file.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn ticket_attachment(
        &self,
        code: &str,
        number: i64,
    ) -> Result<Option<AttachmentFile>, StoreError> {
        const SQL: &str = "SELECT tm.kind, tm.file_id, te.channel, m.mime, m.bytes \
             FROM ticket_messages tm JOIN tickets t ON t.code = tm.ticket \
             JOIN teachers te ON te.id = t.teacher_id \
             LEFT JOIN media m ON m.channel = te.channel AND m.file_id = tm.file_id \
             WHERE tm.ticket = $1 AND tm.file_id IS NOT NULL ORDER BY tm.id LIMIT 1 OFFSET $2";
        type WithBytes = (String, String, String, Option<String>, Option<Vec<u8>>);
        if number < 1 {
            return Ok(None);
        }
        let row: Option<WithBytes> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(code).bind(number - 1)
            .fetch_optional(pool).await?);
        Ok(
            row.map(|(kind, file_id, channel, mime, bytes)| AttachmentFile {
                attachment: attachment(number, (kind, file_id, channel, mime, bytes.is_some())),
                bytes,
            }),
        )
    }
}
