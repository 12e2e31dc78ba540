//! `baithak report issues`: the recurring-issues report in the terminal, for a period and the
//! console's filters, as aligned tables, CSV or JSON: the same figures as `/console/insights`
//! and its exports, from the same [`crate::reports`] code.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Subcommand, ValueEnum};
use comfy_table::{ContentArrangement, Table as Grid, presets::UTF8_FULL_CONDENSED};

use crate::config::Settings;
use crate::reports::{self, tables};
use crate::store::{ReportFilter, Store};

/// What `baithak report` prints.
#[derive(Debug, Subcommand)]
pub enum ReportAction {
    /// Recurring issues: questions per topic with trends, clusters of similar questions,
    /// knowledge-base gaps, quiz items most failed, lessons most abandoned, helpdesk figures.
    Issues {
        /// First day, YYYY-MM-DD (default: 30 days before --until).
        #[arg(long, default_value = "")]
        since: String,
        /// Last day, included, YYYY-MM-DD (default: today).
        #[arg(long, default_value = "")]
        until: String,
        /// Only this district.
        #[arg(long, default_value = "")]
        district: String,
        /// Only teachers of this grade.
        #[arg(long, default_value = "")]
        grade: String,
        /// Only teachers of this subject.
        #[arg(long, default_value = "")]
        subject: String,
        /// Only this role: teacher, headteacher, mentor.
        #[arg(long, default_value = "")]
        role: String,
        /// Only questions written so: en, ur, `roman_ur`, bn.
        #[arg(long, default_value = "")]
        language: String,
        /// Only this channel: telegram, whatsapp, web.
        #[arg(long, default_value = "")]
        channel: String,
        /// Judge lessons abandoned as of this day, YYYY-MM-DD (default: now), to reproduce
        /// an earlier report.
        #[arg(long)]
        as_of: Option<String>,
        /// How to print.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// One table only: topics, issues, gaps, quiz-items, lessons, helpdesk, tickets
        /// (CSV prints one table; default for CSV: issues).
        #[arg(long)]
        table: Option<String>,
    },
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned tables for reading.
    Table,
    /// One table as CSV (UTF-8 with a byte-order mark, like the console's exports).
    Csv,
    /// Every table as one JSON object.
    Json,
}

/// Runs a `report` action.
///
/// # Errors
///
/// Bad dates or table names, content with errors, an unreachable database.
pub async fn run(settings: &Settings, action: ReportAction) -> anyhow::Result<ExitCode> {
    crate::telemetry::init("warn");
    let ReportAction::Issues {
        since,
        until,
        district,
        grade,
        subject,
        role,
        language,
        channel,
        as_of,
        format,
        table,
    } = action;
    let now = match as_of {
        // The end of that day.
        Some(day) => {
            reports::period("", &day, chrono::Utc::now())
                .map_err(|why| anyhow::anyhow!("--as-of: {why}"))?
                .1
        }
        None => chrono::Utc::now(),
    };
    let (since, until) =
        reports::period(&since, &until, now).map_err(|why| anyhow::anyhow!("{why}"))?;
    let filter = ReportFilter {
        since,
        until,
        district,
        grade,
        subject,
        role,
        language,
        channel,
    };
    let wanted = match (format, table.as_deref()) {
        (Format::Csv, None) => Some("issues".to_string()),
        (_, Some("all")) | (_, None) => None,
        (_, Some(name)) => Some(name.to_string()),
    };
    if let Some(name) = &wanted
        && name != "tickets"
        && !tables::NAMES.contains(&name.as_str())
    {
        anyhow::bail!(
            "no table `{name}`; choose one of {}, tickets",
            tables::NAMES.join(", ")
        );
    }
    let content = crate::content::load(&settings.content_dir).map_err(|diagnostics| {
        for d in &diagnostics {
            eprintln!("{d}");
        }
        anyhow::anyhow!("the content has errors (see `baithak check`)")
    })?;
    let store = Store::open(&settings.database_url, 2)
        .await
        .context("cannot open the database")?;
    let gathered = gather(&store, Arc::new(content), &filter, wanted.as_deref(), now).await;
    store.close().await;
    let all = gathered?;
    let mut out = std::io::stdout().lock();
    match format {
        Format::Csv => {
            for table in &all {
                out.write_all(&tables::csv(table))?;
            }
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &tables::json(&all))?;
            writeln!(out)?;
        }
        Format::Table => {
            writeln!(
                out,
                "Recurring issues, {} to {} (UTC days)",
                since.format("%Y-%m-%d"),
                (until - chrono::Duration::days(1)).format("%Y-%m-%d")
            )?;
            for table in &all {
                writeln!(out, "\n{}", table.title)?;
                if table.rows.is_empty() {
                    writeln!(out, "  (none)")?;
                    continue;
                }
                let mut grid = Grid::new();
                grid.load_preset(UTF8_FULL_CONDENSED)
                    .set_content_arrangement(ContentArrangement::Dynamic)
                    .set_header(table.header.clone());
                for row in &table.rows {
                    grid.add_row(row.clone());
                }
                writeln!(out, "{grid}")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The tables asked for: one by name, or every table of the report (tickets apart).
async fn gather(
    store: &Store,
    content: Arc<crate::content::Content>,
    filter: &ReportFilter,
    wanted: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Vec<tables::Table>> {
    if wanted == Some("tickets") {
        return Ok(vec![tables::tickets(&store.ticket_lines(filter).await?)]);
    }
    let report = reports::issues_report(store, content, filter, now).await?;
    Ok(tables::tables(&report)
        .into_iter()
        .filter(|t| wanted.is_none_or(|w| w == t.name))
        .collect())
}
