//! WhatsApp through Meta's Cloud API.
//!
//! - [`signature`]: `X-Hub-Signature-256` over the raw body, constant time.
//! - [`webhook`]: a webhook body → its messages and statuses as channel-neutral events.
//!
//! The routes (`GET`/`POST /whatsapp/webhook`) live in `crate::web::whatsapp`.

pub mod signature;
pub mod webhook;

/// The channel name in the inbox, the outbox and the teachers table.
pub const CHANNEL: &str = "whatsapp";

/// What the WhatsApp channel needs to receive webhooks. `Debug` hides the secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct WhatsAppSettings {
    /// `WHATSAPP_VERIFY_TOKEN`: echoed back by the subscription handshake.
    pub verify_token: String,
    /// `WHATSAPP_APP_SECRET`: the key of the body signatures.
    pub app_secret: String,
}

impl std::fmt::Debug for WhatsAppSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsAppSettings")
            .field("verify_token", &"***")
            .field("app_secret", &"***")
            .finish()
    }
}
