//! `baithak serve` as a child process for the end-to-end benchmarks (`bench telegram`,
//! `bench whatsapp`): started on a free port with the platform's settings, its JSON log read
//! for the port and then drained (so it never blocks on a full pipe), stopped gently or
//! killed, and its CPU time and peak memory read from `/proc`.

use std::path::Path;
use std::process::Stdio;

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// A running bot.
pub struct BotProcess {
    child: Child,
    pid: u32,
}

impl BotProcess {
    /// Starts `exe serve` on `database_url` and `content_dir` with the platform settings
    /// `env` (no other platform is switched on); returns it with the port it listens on. Every log line goes to `log`.
    ///
    /// # Errors
    ///
    /// The bot cannot be started, or exits before listening (its log lines are in the error).
    pub async fn start(
        exe: &Path,
        database_url: &str,
        content_dir: &Path,
        env: &[(&str, String)],
        log: impl Fn(&str) + Send + 'static,
    ) -> anyhow::Result<(BotProcess, u64)> {
        let mut command = Command::new(exe);
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("BAITHAK_DATABASE_URL", database_url)
            .env("BAITHAK_CONTENT", content_dir)
            .env("BAITHAK_LOG_FORMAT", "json")
            .env("BAITHAK_LOG", "warn,baithak::cli=info")
            // The same name across restarts: a restarted bot takes its killed self's leases
            // back at once (callers running several bots pass a name each in `env`).
            .env("BAITHAK_INSTANCE", "bench-bot")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Only the platform under test: not one configured in the caller's environment.
            .env_remove("TELEGRAM_BOT_TOKEN")
            .env_remove("WHATSAPP_APP_SECRET");
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", exe.display()))?;
        let pid = child.id().context("the bot exited at once")?;
        let stderr = child.stderr.take().context("no stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        let port = loop {
            let Some(line) = lines.next_line().await? else {
                anyhow::bail!("the bot exited before listening:\n{}", seen.join("\n"));
            };
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                && let Some(port) = event["fields"]["port"].as_u64()
            {
                break port;
            }
            log(&line);
            seen.push(line);
        };
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                log(&line);
            }
        });
        Ok((BotProcess { child, pid }, port))
    }

    /// SIGKILL, then reap.
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// SIGTERM (a graceful stop), then reap.
    pub async fn stop(mut self) {
        let _ = Command::new("kill")
            .arg(self.pid.to_string())
            .status()
            .await;
        let _ = self.child.wait().await;
    }

    /// CPU seconds (user + system) and peak resident MB so far, from `/proc`.
    #[must_use]
    pub fn usage(&self) -> (f64, f64) {
        let cpu = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .ok()
            .and_then(|stat| {
                let rest = stat.rsplit_once(')')?.1;
                let fields: Vec<&str> = rest.split_whitespace().collect();
                let utime: f64 = fields.get(11)?.parse().ok()?;
                let stime: f64 = fields.get(12)?.parse().ok()?;
                Some((utime + stime) / clock_ticks())
            })
            .unwrap_or(0.0);
        let peak = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|status| {
                let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
                let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
                Some(kb / 1024.0)
            })
            .unwrap_or(0.0);
        (cpu, peak)
    }
}

/// Clock ticks per second (`getconf CLK_TCK`), 100 when it cannot be asked.
pub(crate) fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|t: &f64| *t > 0.0)
        .unwrap_or(100.0)
}

/// What every end-to-end benchmark run starts from: this executable (started again as the
/// bot), a scratch directory for SQLite files (removed on drop), and the backends to run on.
#[derive(Debug)]
pub struct Rig {
    /// The `baithak` executable.
    pub exe: std::path::PathBuf,
    dir: std::path::PathBuf,
    /// `(name, PostgreSQL URL)`: SQLite always, PostgreSQL when given.
    pub backends: Vec<(&'static str, Option<String>)>,
}

impl Rig {
    /// A rig for `bench <channel>`, with PostgreSQL when `postgres` is given.
    ///
    /// # Errors
    ///
    /// When the executable cannot be found or the scratch directory cannot be created.
    pub fn new(channel: &str, postgres: Option<&str>) -> anyhow::Result<Rig> {
        use anyhow::Context as _;
        let exe = std::env::current_exe().context("cannot find the baithak executable")?;
        let dir = std::env::temp_dir().join(format!(
            "baithak-bench-{channel}-{:08x}",
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let mut backends = vec![("SQLite", None)];
        if let Some(url) = postgres {
            backends.push(("PostgreSQL", Some(url.to_string())));
        }
        Ok(Rig { exe, dir, backends })
    }

    /// The database URL of one run: the PostgreSQL URL, or a fresh SQLite file.
    #[must_use]
    pub fn database_url(&self, postgres: Option<&String>) -> String {
        postgres.cloned().unwrap_or_else(|| {
            format!(
                "sqlite://{}/bench-{:08x}.db",
                self.dir.display(),
                rand::random::<u32>()
            )
        })
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
