//! What happens to a send once its body passed `validate`: the template must be approved
//! (132001, 132000), the number's throughput and the pair rate must allow it (130429, 131056),
//! a free-form message needs an open 24-hour window (131047) and a user who has not blocked the
//! business (131026). Errors Meta reports either way go out per [`ErrorTiming`]: a 400 at once,
//! or `200` then a `failed` status. Accepted sends answer like fixture
//! `wa_resp_send_accepted.json` and get their status webhooks per [`StatusMode`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::error::GraphError;
use super::limits::LimitHit;
use super::payloads::{self, Change, StatusFacts};
use super::records::{
    ControlError, ErrorTiming, PostedStatus, SendOutcome, StatusMode, WaStatus, WaUser,
};
use super::state::{Pending, SendEntry, State};
use super::validate::{self, Call, Recipient, TemplateRef};
use super::wire::{self, Direction};

/// The customer service window (platform facts §2.7).
const WINDOW_HOURS: i64 = 24;

/// What the API answered.
pub(crate) type Answer = Result<Value, GraphError>;

impl State {
    /// `POST /{version}/{phone_number_id}/messages` after authentication.
    pub fn handle_send(&mut self, request: &Value) -> Answer {
        match validate::check(request) {
            Err(error) => {
                if let Ok(recipient) = validate::recipient(request) {
                    self.record_refusal(&recipient.address, request, &error);
                }
                Err(error)
            }
            Ok(Call::MarkRead { message_id }) => {
                // Unknown ids are not refused: the fake cannot tell what Meta would say.
                self.marked_read.push(message_id);
                Ok(json!({ "success": true }))
            }
            Ok(Call::Send {
                recipient,
                template,
                callback_data,
            }) => self.accept(request, &recipient, template.as_ref(), callback_data),
        }
    }

    fn record(&mut self, entry: SendEntry) -> usize {
        let index = self.sends.len();
        if let Some(wamid) = &entry.record.wamid {
            self.by_wamid.insert(wamid.clone(), index);
        }
        self.by_address
            .entry(entry.record.to.clone())
            .or_default()
            .push(index);
        self.sends.push(entry);
        index
    }

    fn record_refusal(&mut self, address: &str, request: &Value, error: &GraphError) {
        let address = self
            .address_of(address)
            .unwrap_or_else(|| address.to_owned());
        let outcome = SendOutcome::Refused {
            http_status: error.http_status,
            code: error.code,
            message: error.message.clone(),
        };
        let record = validate::describe(&address, request, self.now(), outcome, None);
        self.record(SendEntry {
            record,
            by_user_id: false,
            callback_data: None,
            category: "service",
        });
    }

    fn accept(
        &mut self,
        request: &Value,
        recipient: &Recipient,
        template: Option<&TemplateRef>,
        callback_data: Option<String>,
    ) -> Answer {
        let now = self.now();
        let refuse = |state: &mut State, error: GraphError| {
            state.record_refusal(&recipient.address, request, &error);
            Err(error)
        };
        if let Some(template) = template {
            match self
                .templates
                .get(&(template.name.clone(), template.language.clone()))
            {
                None => {
                    return refuse(
                        self,
                        GraphError::template_missing(&template.name, &template.language),
                    );
                }
                Some(approved) => {
                    if let Some(expected) = approved.body_parameters
                        && expected != template.body_parameters
                    {
                        return refuse(
                            self,
                            GraphError::template_params(expected, template.body_parameters),
                        );
                    }
                }
            }
        }
        let address = self
            .address_of(&recipient.address)
            .unwrap_or_else(|| recipient.address.clone());
        match self.limits.take(&address, now) {
            Ok(()) => {}
            Err(LimitHit::Throughput) => return refuse(self, GraphError::throughput()),
            Err(LimitHit::PairRate) => return refuse(self, GraphError::pair_rate()),
        }
        let problem = match self.users.get(&address) {
            // Nobody on WhatsApp with this number: it never wrote, so the window is closed too.
            None if template.is_some() => {
                Some((GraphError::undeliverable(), self.settings.blocked_errors))
            }
            None => Some((GraphError::reengagement(), self.settings.window_errors)),
            Some(user) => {
                let open = user
                    .last_inbound
                    .is_some_and(|at| now - at < chrono::Duration::hours(WINDOW_HOURS));
                if template.is_none() && !open {
                    Some((GraphError::reengagement(), self.settings.window_errors))
                } else if user.blocked {
                    Some((GraphError::undeliverable(), self.settings.blocked_errors))
                } else {
                    None
                }
            }
        };
        if let Some((error, ErrorTiming::Immediate)) = &problem {
            return refuse(self, error.clone());
        }
        let serial = self.next_serial();
        let wamid = wire::wamid(&address, Direction::Outbound, serial);
        let outcome = match &problem {
            Some((error, _)) => SendOutcome::Failed {
                code: error.code,
                title: error.title(),
            },
            None => SendOutcome::Accepted,
        };
        let record = validate::describe(&address, request, now, outcome, Some(wamid.clone()));
        self.record(SendEntry {
            record,
            by_user_id: recipient.by_user_id,
            callback_data,
            category: if template.is_some() {
                "utility"
            } else {
                "service"
            },
        });
        let delay = self.settings.status_delay;
        match problem {
            Some((error, _)) => {
                self.queue_status(&wamid, WaStatus::Failed, Some(&error), delay);
            }
            None => {
                let statuses: &[WaStatus] = match self.settings.statuses {
                    StatusMode::None => &[],
                    StatusMode::Sent => &[WaStatus::Sent],
                    StatusMode::SentDelivered => &[WaStatus::Sent, WaStatus::Delivered],
                    StatusMode::SentDeliveredRead => {
                        &[WaStatus::Sent, WaStatus::Delivered, WaStatus::Read]
                    }
                    StatusMode::SentRead => &[WaStatus::Sent, WaStatus::Read],
                };
                for &status in statuses {
                    self.queue_status(&wamid, status, None, delay);
                }
            }
        }
        let contact = if recipient.by_user_id {
            json!({ "input": recipient.input, "user_id": recipient.address })
        } else {
            json!({ "input": recipient.input, "wa_id": recipient.address })
        };
        Ok(json!({
            "messaging_product": "whatsapp",
            "contacts": [contact],
            "messages": [{ "id": wamid, "message_status": "accepted" }],
        }))
    }

    /// The conversation of a user for status payloads of versions before v24.0 (which dropped
    /// `conversation`, platform facts §2.11): a new one every 24 hours.
    fn conversation(&mut self, address: &str, now: DateTime<Utc>) -> Option<(String, i64)> {
        let major: u32 = self
            .settings
            .api_version
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|major| major.parse().ok())
            .unwrap_or(24);
        if major >= 24 {
            return None;
        }
        let user = self.users.get_mut(address)?;
        let (id, expires) = match &user.conversation {
            Some((id, expires)) if *expires > now => (id.clone(), *expires),
            _ => {
                let fresh = (wire::hex32(), now + chrono::Duration::hours(WINDOW_HOURS));
                user.conversation = Some(fresh.clone());
                fresh
            }
        };
        Some((id, expires.timestamp()))
    }

    /// Queues a status webhook for an accepted send.
    pub fn queue_status(
        &mut self,
        wamid: &str,
        status: WaStatus,
        error: Option<&GraphError>,
        delay: Duration,
    ) -> Option<()> {
        let index = *self.by_wamid.get(wamid)?;
        let now = self.now();
        let address = self.sends[index].record.to.clone();
        let conversation = if status == WaStatus::Failed {
            None
        } else {
            self.conversation(&address, now)
        };
        let entry = &self.sends[index];
        let recipient = self.users.get(&address).map_or_else(
            || {
                let is_bsuid = validate::is_bsuid(&address);
                WaUser {
                    wa_id: (!is_bsuid).then(|| address.clone()),
                    bsuid: is_bsuid.then(|| address.clone()),
                    name: String::new(),
                    username: None,
                }
            },
            |user| user.handle.clone(),
        );
        let facts = StatusFacts {
            recipient: &recipient,
            by_user_id: entry.by_user_id,
            timestamp: now.timestamp(),
            callback_data: entry.callback_data.as_deref(),
            conversation: conversation.as_ref().map(|(id, at)| (id.as_str(), *at)),
            category: entry.category,
            error,
        };
        let value = payloads::statuses_value(
            &self.settings.business,
            payloads::status(wamid, status, &facts),
        );
        let record = &mut self.sends[index].record;
        record.status = Some(status);
        if let Some(error) = error {
            record.outcome = SendOutcome::Failed {
                code: error.code,
                title: error.title(),
            };
        }
        self.statuses.push(PostedStatus {
            wamid: wamid.to_owned(),
            status,
            recipient: address.clone(),
            error_code: error.map(|error| error.code),
            at: now,
        });
        self.push(Pending::Change {
            keys: vec![format!("status:{address}")],
            change: Change {
                value,
                field: "messages".to_owned(),
            },
            delay,
        });
        Some(())
    }

    /// Posts a status for an accepted send now (e.g. `read` when the user opens it).
    pub fn post_status(&mut self, wamid: &str, status: WaStatus) -> Result<(), ControlError> {
        let error = (status == WaStatus::Failed).then(|| GraphError::for_code(131_000));
        self.queue_status(wamid, status, error.as_ref(), Duration::ZERO)
            .ok_or_else(|| ControlError::UnknownMessage(wamid.to_owned()))
    }

    /// Posts a `failed` status with error `code` for an accepted send.
    pub fn fail_message(&mut self, wamid: &str, code: i64) -> Result<(), ControlError> {
        let error = GraphError::for_code(code);
        self.queue_status(wamid, WaStatus::Failed, Some(&error), Duration::ZERO)
            .ok_or_else(|| ControlError::UnknownMessage(wamid.to_owned()))
    }
}
