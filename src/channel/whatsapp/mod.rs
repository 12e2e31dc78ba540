//! WhatsApp through Meta's Cloud API.
//!
//! - [`client`]: the Graph API calls (send, media download) and Meta's error codes.
//! - [`dispatch`]: the outbox dispatcher, with the 24-hour window and re-engagement templates.
//! - [`media`]: files attached to questions, downloaded and kept for the experts.
//! - [`window`]: whether the window is open, whether a template is due. Pure.
//! - [`signature`]: `X-Hub-Signature-256` over the raw body, constant time.
//! - [`webhook`]: a webhook body → its messages and statuses as channel-neutral events.
//! - [`render`]: a reply → the Cloud API message objects that show it (text, reply buttons,
//!   lists, numbered text), within WhatsApp's limits.
//!
//! The routes (`GET`/`POST /whatsapp/webhook`) live in `crate::web::whatsapp`.

pub mod client;
pub mod dispatch;
pub mod media;
pub mod pace;
pub mod render;
pub mod signature;
pub mod webhook;
pub mod window;

/// The channel name in the inbox, the outbox and the teachers table.
pub const CHANNEL: &str = "whatsapp";

/// The quick-reply payload of the re-engagement template's button: a tap on it is
/// [`crate::channel::InboundMessage::Resume`].
pub const RESUME_PAYLOAD: &str = "baithak.resume";

/// What the WhatsApp channel needs: webhooks in, and (with a token) messages out. `Debug`
/// hides the secrets.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct WhatsAppSettings {
    /// `WHATSAPP_VERIFY_TOKEN`: echoed back by the subscription handshake.
    pub verify_token: String,
    /// `WHATSAPP_APP_SECRET`: the key of the body signatures.
    pub app_secret: String,
    /// Sending, when `WHATSAPP_ACCESS_TOKEN` and `WHATSAPP_PHONE_NUMBER_ID` are set.
    pub sending: Option<SendSettings>,
}

impl std::fmt::Debug for WhatsAppSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsAppSettings")
            .field("verify_token", &"***")
            .field("app_secret", &"***")
            .field("sending", &self.sending)
            .finish()
    }
}

/// How Baithak sends on WhatsApp.
#[derive(Clone, PartialEq, Eq)]
pub struct SendSettings {
    /// `WHATSAPP_ACCESS_TOKEN`: the system user's bearer token.
    pub access_token: String,
    /// `WHATSAPP_PHONE_NUMBER_ID`: the business number messages come from.
    pub phone_number_id: String,
    /// `WHATSAPP_GRAPH_URL`: `https://graph.facebook.com` unless testing.
    pub graph_url: String,
    /// `WHATSAPP_API_VERSION`, e.g. `v23.0`.
    pub api_version: String,
    /// Throughput and per-recipient pacing.
    pub limits: SendLimits,
    /// The approved templates used outside the 24-hour window.
    pub templates: Templates,
}

impl std::fmt::Debug for SendSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendSettings")
            .field("access_token", &"***")
            .field("phone_number_id", &self.phone_number_id)
            .field("graph_url", &self.graph_url)
            .field("api_version", &self.api_version)
            .field("limits", &self.limits)
            .field("templates", &self.templates)
            .finish()
    }
}

/// Most messages per second a business number can be upgraded to (platform facts §2.8).
pub const MAX_MESSAGES_PER_SECOND: u32 = 1_000;

/// Throughput limits, kept under Meta's so its 130429 and 131056 are rare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendLimits {
    /// Messages per second for the number (80 by default, up to 1,000; 0: no limit, for
    /// load tests against a fake).
    pub per_second: u32,
    /// Messages one recipient may get at once (Meta allows bursts of 45; 0: no per-recipient
    /// pacing).
    pub pair_burst: u32,
    /// After the burst, one message per this long to the same recipient (Meta: 6 s).
    pub pair_period: std::time::Duration,
}

impl Default for SendLimits {
    fn default() -> SendLimits {
        SendLimits {
            per_second: 80,
            pair_burst: 45,
            pair_period: std::time::Duration::from_secs(6),
        }
    }
}

/// The approved message templates Baithak sends outside the 24-hour window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Templates {
    /// `WHATSAPP_REENGAGE_TEMPLATE`: the template telling a teacher something waits for them
    /// ("You have a reply from Baithak. Tap below to read it."), with one quick-reply button.
    pub reengage: String,
    /// `WHATSAPP_TEMPLATE_LANGUAGES`: the template language code per teacher language
    /// (`en=en,ur=ur,bn=bn`); teachers of other languages get the first.
    pub languages: Vec<(String, String)>,
    /// `WHATSAPP_REENGAGE_EVERY_HOURS`: at most one re-engagement template per this period.
    pub reengage_every: chrono::Duration,
}

impl Default for Templates {
    fn default() -> Templates {
        Templates {
            reengage: "baithak_reply_waiting".into(),
            languages: vec![
                ("en".into(), "en".into()),
                ("ur".into(), "ur".into()),
                ("bn".into(), "bn".into()),
            ],
            reengage_every: chrono::Duration::hours(72),
        }
    }
}

impl Templates {
    /// The template language for a teacher speaking `language`.
    #[must_use]
    pub fn language_for(&self, language: &str) -> &str {
        self.languages
            .iter()
            .find(|(ours, _)| ours == language)
            .or_else(|| self.languages.first())
            .map_or("en", |(_, theirs)| theirs.as_str())
    }

    /// Parses `en=en,ur=ur,bn=bn`.
    ///
    /// # Errors
    ///
    /// A pair without `=` or with an empty side, named.
    pub fn parse_languages(text: &str) -> Result<Vec<(String, String)>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((ours, theirs)) if !ours.trim().is_empty() && !theirs.trim().is_empty() => {
                    Ok((ours.trim().to_string(), theirs.trim().to_string()))
                }
                _ => Err(format!(
                    "`{pair}` is not `our_language=template_language` (e.g. `ur=ur`)"
                )),
            })
            .collect()
    }
}
