//! `baithak user …`: staff accounts of the web console from the terminal: add one (with a
//! one-time password printed once, or a password read from stdin), set a new password, list
//! them.

use std::io::{BufRead as _, IsTerminal as _};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use crate::config::Settings;
use crate::staff::{
    MIN_PASSWORD_CHARS, Role, hash_password, one_time_password, valid_account_name,
};
use crate::store::Store;

/// What `baithak user` does.
#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Add an account; prints a one-time password unless `--password-stdin`.
    Add {
        /// The name to sign in with.
        #[arg(long)]
        name: String,
        /// expert (tickets), staff (reports), admin (accounts and everything).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Read the password from the first line of stdin instead.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a new password (signs the account out everywhere).
    Password {
        /// The account.
        #[arg(long)]
        name: String,
        /// Read the password from the first line of stdin instead of printing a new one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the accounts.
    List,
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
        .map_err(|e: crate::staff::UnknownRole| e.to_string())
}

/// Runs a `user` action.
///
/// # Errors
///
/// When the database cannot be opened, the name is taken or wrong, or stdin has no usable
/// password.
pub async fn run(settings: &Settings, action: UserAction) -> anyhow::Result<ExitCode> {
    crate::telemetry::init("warn");
    let store = Store::open(&settings.database_url, 1)
        .await
        .context("cannot open the database")?;
    let result = act(&store, action).await;
    store.close().await;
    result
}

async fn act(store: &Store, action: UserAction) -> anyhow::Result<ExitCode> {
    let now = chrono::Utc::now();
    match action {
        UserAction::Add {
            name,
            role,
            password_stdin,
        } => {
            if let Err(why) = valid_account_name(&name) {
                anyhow::bail!("{why}");
            }
            let (password, print) = password(password_stdin)?;
            let hash = hash_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
            if store
                .add_staff_user(&name, role.as_str(), &hash, now)
                .await?
                .is_none()
            {
                anyhow::bail!("an account named `{name}` exists already");
            }
            println!("added {role} `{name}`");
            if print {
                println!("one-time password: {password}");
            }
        }
        UserAction::Password {
            name,
            password_stdin,
        } => {
            let (password, print) = password(password_stdin)?;
            let hash = hash_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
            if !store.set_staff_password(&name, &hash).await? {
                anyhow::bail!("no account named `{name}`");
            }
            println!("new password set for `{name}`; its sessions are signed out");
            if print {
                println!("one-time password: {password}");
            }
        }
        UserAction::List => {
            for user in store.staff_users().await? {
                let state = if user.disabled_at.is_some() {
                    "disabled"
                } else {
                    "active"
                };
                println!("{}\t{}\t{state}", user.name, user.role);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The password to set, and whether to print it (a generated one).
fn password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if !from_stdin {
        return Ok((one_time_password(), true));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("password (one line):");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.chars().count() < MIN_PASSWORD_CHARS {
        anyhow::bail!("the password needs at least {MIN_PASSWORD_CHARS} characters");
    }
    Ok((password, false))
}
