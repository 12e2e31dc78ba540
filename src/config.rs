//! Settings: where content and the database are, where to listen. Read once at start-up from
//! flags and `BAITHAK_*` environment variables (see the README's configuration table).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything `serve` and `chat` need to run.
#[derive(Clone)]
pub struct Settings {
    /// The content root (holds `dialogues/` and `knowledge-base/`).
    pub content_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; may hold a password, so `Debug` redacts it.
    pub database_url: String,
    /// Database pool size.
    pub max_connections: u32,
    /// Where `serve` listens.
    pub listen: SocketAddr,
    /// Telegram, when a bot token is set.
    pub telegram: Option<crate::channel::telegram::TelegramSettings>,
    /// WhatsApp, when an app secret is set.
    pub whatsapp: Option<crate::channel::whatsapp::WhatsAppSettings>,
    /// Where Baithak is reached from the internet (`BAITHAK_PUBLIC_URL`, e.g.
    /// `https://baithak.example.org`): certificate pictures are sent by URL under it and
    /// verification links point to it. Without it certificates go as text only.
    pub public_url: Option<String>,
    /// This instance's name among the instances sharing the database (`BAITHAK_INSTANCE`),
    /// used in leases. Unique per running instance and kept across its restarts, so a
    /// restarted instance takes its dead self's work back at once. Default: `{hostname}:{port}`.
    pub instance: Option<String>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("content_dir", &self.content_dir)
            .field("database_url", &redact(&self.database_url))
            .field("max_connections", &self.max_connections)
            .field("listen", &self.listen)
            .field("telegram", &self.telegram)
            .field("whatsapp", &self.whatsapp)
            .field("public_url", &self.public_url)
            .field("instance", &self.instance)
            .finish()
    }
}

/// A database URL with any password replaced by `***`, safe to log.
#[must_use]
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}")
            } else {
                format!("{scheme}://{user}@{host}")
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_appear_in_redacted_urls() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(redact("sqlite://baithak.db"), "sqlite://baithak.db");
    }
}
