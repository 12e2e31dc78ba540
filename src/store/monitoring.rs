//! Figures for monitoring, counted when `/metrics` is scraped: the work waiting in the outbox
//! and the inbox per channel (how many rows, the oldest one's time) and tickets per status.
//! Counts and times only: nothing here returns a teacher, an address or a message.
//!
//! Each query reads only what its index holds: pending outbox rows through `outbox_pending`,
//! pending inbox rows through `inbox_pending` (partial indexes, small however long the history
//! grows), tickets through `tickets_by_status`.

use chrono::{DateTime, Utc};

use super::{Backend, Store, StoreError, from_millis};

/// The pending rows of one channel in the outbox or the inbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backlog {
    /// The channel (`telegram`, `whatsapp`, `web`, `terminal`).
    pub channel: String,
    /// Rows waiting.
    pub pending: i64,
    /// When the oldest of them was queued (outbox) or received (inbox).
    pub oldest: Option<DateTime<Utc>>,
}

/// Everything counted for one scrape.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Backlogs {
    /// Pending outbox rows per channel (only channels that have some).
    pub outbox: Vec<Backlog>,
    /// Pending inbox events per channel (only channels that have some).
    pub inbox: Vec<Backlog>,
    /// Tickets per status (only statuses that have some).
    pub tickets: Vec<(String, i64)>,
}

impl Store {
    /// The outbox and inbox backlogs per channel and the tickets per status, in three cheap
    /// queries.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn backlogs(&self) -> Result<Backlogs, StoreError> {
        const OUTBOX: &str = "SELECT channel, COUNT(*), MIN(created_at) FROM outbox \
                              WHERE status = 'pending' GROUP BY channel";
        // Through a subquery so SQLite reads the partial `inbox_pending` index rather than
        // walking `inbox_by_user` (every event ever received) for the grouping.
        const INBOX: &str = "SELECT channel, COUNT(*), MIN(received_at) FROM \
                             (SELECT channel, received_at FROM inbox WHERE status = 'pending' ORDER BY id) AS p \
                             GROUP BY channel";
        const TICKETS: &str = "SELECT status, COUNT(*) FROM tickets GROUP BY status";
        type Row = (String, i64, Option<i64>);
        let backlog = |(channel, pending, oldest): Row| Backlog {
            channel,
            pending,
            oldest: oldest.map(from_millis),
        };
        let outbox: Vec<Row> =
            on_pool!(self, pool => sqlx::query_as(OUTBOX).fetch_all(pool).await?);
        let inbox: Vec<Row> = on_pool!(self, pool => sqlx::query_as(INBOX).fetch_all(pool).await?);
        let tickets: Vec<(String, i64)> =
            on_pool!(self, pool => sqlx::query_as(TICKETS).fetch_all(pool).await?);
        Ok(Backlogs {
            outbox: outbox.into_iter().map(backlog).collect(),
            inbox: inbox.into_iter().map(backlog).collect(),
            tickets,
        })
    }
}
