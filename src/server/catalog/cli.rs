//! `waymark catalog import FILE [--format xml|tsv|jsonl] [--patch] [--db URL]`: a feed
//! file into the database `waymark serve` uses (the same `--db` / `WAYMARK_DB`), as
//! `PUT /v1/catalog` (or `PATCH` with `--patch`) would. It prints the counts and changes
//! on stdout and each rejected row on stderr as `FILE:LINE: field: message [code]`, and
//! exits 1 only when nothing was imported (the feed cannot be read, no row is good, the
//! database failed); rejected rows alone do not fail it. The price drops, restocks and
//! new arrivals are queued as a trigger job that a running server fans out
//! ([`crate::server::trigger_jobs`]).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::errors::{FeedError, ImportError, RowError};
use super::feed::{self, Format};
use super::report::{CatalogChange, ImportReport};
use super::store::{self, ImportMode};
use crate::server::clock::Clock;
use crate::server::config::DEFAULT_DB;
use crate::server::sqlite::Synchronous;
use crate::server::storage::Db;

/// The largest feed file read: 512 MiB.
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// `waymark catalog …`.
#[derive(Debug, Clone, Args)]
pub struct CatalogArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: CatalogCommand,
}

/// The catalog subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum CatalogCommand {
    /// Import a product feed (Merchant Center XML, TSV or JSON lines): a full replace by
    /// default, items left out are marked removed; `--patch` only adds and updates.
    #[command(after_help = "Examples:\n  \
        waymark catalog import examples/catalog/feed.xml\n  \
        waymark catalog import changes.jsonl --patch --db postgres://waymark@db/waymark\n\n\
        Rejected rows are printed on stderr as FILE:LINE: field: message [code]; the other rows load.\n\
        Exit code 1 when nothing was imported (unreadable feed, no good row, database error).")]
    Import(ImportArgs),
}

/// Flags of `waymark catalog import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The feed file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Its format; by default from the extension (.xml, .tsv, .jsonl), else the first bytes.
    #[arg(long, value_name = "xml|tsv|jsonl", value_parser = parse_format)]
    pub format: Option<Format>,
    /// Only add and update the items in the file; keep the others.
    #[arg(long)]
    pub patch: bool,
    /// Database URL, as `waymark serve --db`.
    #[arg(long, env = "WAYMARK_DB", default_value = DEFAULT_DB)]
    pub db: String,
}

fn parse_format(text: &str) -> Result<Format, String> {
    Format::from_name(text).ok_or_else(|| format!("{text:?}: use xml, tsv or jsonl"))
}

/// Runs a catalog subcommand.
pub fn run(args: &CatalogArgs) -> ExitCode {
    match &args.command {
        CatalogCommand::Import(import) => run_import(import),
    }
}

fn run_import(args: &ImportArgs) -> ExitCode {
    let file = args.file.display().to_string();
    let fail = |code: &str, message: &dyn std::fmt::Display| {
        eprintln!("error[{code}]: {file}: {message}");
        ExitCode::FAILURE
    };
    let bytes = match read_file(&args.file) {
        Ok(bytes) => bytes,
        Err(FileError::Io(e)) => return fail("io_error", &e),
        Err(FileError::Feed(e)) => return fail(e.code(), &e),
    };
    let Some(format) = args.format.or_else(|| Format::from_path(&args.file)).or_else(|| Format::sniff(&bytes)) else {
        return fail(FeedError::UnknownFormat.code(), &"cannot tell the format: pass --format xml|tsv|jsonl");
    };
    let parsed = match feed::parse(&bytes, format) {
        Ok(parsed) => parsed,
        Err(e) => return fail(e.code(), &e),
    };
    let mode = if args.patch { ImportMode::Patch } else { ImportMode::Replace };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fail("runtime", &e),
    };
    let result = runtime.block_on(async {
        let db =
            Db::connect(&args.db, 1, Synchronous::Full).await.map_err(|e| ("storage_unavailable", e.to_string()))?;
        let result = store::import(&db, &parsed, mode, Clock::System.now()).await;
        db.close().await;
        result.map_err(|e| (e.code(), import_message(e)))
    });
    for error in &parsed.errors {
        eprintln!("{}", row_line(&file, error));
    }
    match result {
        Ok(report) => {
            print_report(&file, format, &report);
            ExitCode::SUCCESS
        }
        Err((code, message)) => fail(code, &message),
    }
}

fn import_message(e: ImportError) -> String {
    match e {
        ImportError::NoValidRows { rejected, .. } => {
            format!("none of the {rejected} rows can be imported (see above); the catalog is unchanged")
        }
        other => format!("{other}; the catalog is unchanged"),
    }
}

/// `FILE:LINE: field: message [code]`.
pub fn row_line(file: &str, error: &RowError) -> String {
    let item = error.at.item.map(|i| format!(" (item {i})")).unwrap_or_default();
    format!("{file}:{}: {}: {}{item} [{}]", error.at.line, error.field_name(), error.kind, error.code())
}

fn print_report(file: &str, format: Format, report: &ImportReport) {
    let c = &report.counts;
    println!(
        "{file}: {} ({}): {} rows, {} loaded ({} new, {} updated, {} unchanged), {} removed, {} rejected",
        report.mode.as_str(),
        format.as_str(),
        c.rows,
        c.loaded,
        c.new,
        c.updated,
        c.unchanged,
        c.removed,
        c.rejected
    );
    let count = |f: fn(&CatalogChange) -> bool| report.changes.iter().filter(|c| f(c)).count();
    println!(
        "changes: {} price ({} drops), {} availability ({} back in stock), {} new items",
        count(|c| matches!(c, CatalogChange::PriceChanged { .. })),
        count(CatalogChange::is_price_drop),
        count(|c| matches!(c, CatalogChange::AvailabilityChanged { .. })),
        count(CatalogChange::is_back_in_stock),
        count(|c| matches!(c, CatalogChange::New { .. })),
    );
    if let Some(job) = report.job {
        println!(
            "triggers queued as job {job}: a running `waymark serve` on this database tells the shoppers they concern"
        );
    }
    if report.errors_truncated {
        println!("(only the first {} row errors are printed)", report.errors.len());
    }
}

enum FileError {
    Io(std::io::Error),
    Feed(FeedError),
}

/// The file's bytes, refusing one over [`MAX_FILE_BYTES`].
fn read_file(path: &Path) -> Result<Vec<u8>, FileError> {
    let file = std::fs::File::open(path).map_err(FileError::Io)?;
    let size = file.metadata().map_err(FileError::Io)?.len();
    if size > MAX_FILE_BYTES {
        return Err(FileError::Feed(FeedError::TooLarge { limit: MAX_FILE_BYTES, found: size }));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(MAX_FILE_BYTES).read_to_end(&mut bytes).map_err(FileError::Io)?;
    Ok(bytes)
}
