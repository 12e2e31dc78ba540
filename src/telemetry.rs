//! Logging: `tracing` with an env filter (`BAITHAK_LOG`, default `info`), pretty for people or
//! JSON (`BAITHAK_LOG_FORMAT=json`) for machines. Logs carry ids, kinds and lengths; never a
//! teacher's message text or phone number.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber writing to stderr. `default` is the filter when
/// `BAITHAK_LOG` is unset. Safe to call more than once (later calls do nothing).
pub fn init(default: &str) {
    let filter = EnvFilter::try_from_env("BAITHAK_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let json = std::env::var("BAITHAK_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
