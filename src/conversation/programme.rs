//! Programme messages reaching teachers: each [`Message`] is written as an inbox event of the
//! teacher's conversation, with an external id unique per teacher and occasion
//! (`{occasion}:{teacher}`), so a job that runs again, or a form posted twice, tells nobody
//! twice. The events are then processed in order with whatever the teacher sends
//! ([`crate::programme::deliver`]), and their replies go through the outbox like any other.

use super::Conversations;
use crate::channel::InboundMessage;
use crate::programme::Message;
use crate::store::{NewInbound, Recipient, StoreError};

/// One message for one teacher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Who.
    pub to: Recipient,
    /// The occasion (`announce:3:2d`, `nudge:feedback:2026-11-24`): with the teacher's id, the
    /// inbox's unique external id.
    pub occasion: String,
    /// What.
    pub message: Message,
}

impl Conversations {
    /// Queues `deliveries` in their teachers' conversations and wakes the worker; returns how
    /// many were new (an occasion already delivered to a teacher is not queued again).
    ///
    /// # Errors
    ///
    /// [`StoreError`]; nothing of the failed batch was queued, and calling again is safe.
    pub async fn deliver(&self, deliveries: &[Delivery]) -> Result<usize, StoreError> {
        // A teacher who asked to be forgotten has no chat any more: nothing is said to them.
        let deliveries: Vec<&Delivery> = deliveries
            .iter()
            .filter(|d| {
                !d.to
                    .channel_user
                    .starts_with(crate::store::privacy::FORGOTTEN_PREFIX)
            })
            .collect();
        if deliveries.is_empty() {
            return Ok(0);
        }
        let received_at = self.clock().now();
        let rows: Vec<(String, String)> = deliveries
            .iter()
            .map(|d| {
                (
                    format!("{}:{}", d.occasion, d.to.teacher_id),
                    serde_json::to_string(&InboundMessage::Programme(d.message.clone()))
                        .unwrap_or_default(),
                )
            })
            .collect();
        let events: Vec<NewInbound<'_>> = deliveries
            .iter()
            .zip(&rows)
            .map(|(d, (external_id, payload))| NewInbound {
                channel: &d.to.channel,
                external_id,
                channel_user: &d.to.channel_user,
                payload,
                received_at,
            })
            .collect();
        let ids = self.store().record_inbound_many(&events).await?;
        let new = ids.iter().filter(|id| id.is_some()).count();
        if new > 0 {
            self.kick();
        }
        Ok(new)
    }
}
