//! `waymark orders import FILE [--format jsonl|csv] [--db URL]`: a shop's past orders into
//! the database `waymark serve` uses, as `POST /v1/orders` would. It prints the counts on
//! stdout and each skipped row on stderr as `FILE:LINE: field: message [code]`, and exits
//! 1 only when nothing was loaded.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::backfill::{self, Format};
use crate::server::clock::Clock;
use crate::server::config::DEFAULT_DB;
use crate::server::sqlite::Synchronous;
use crate::server::storage::Db;

/// The largest file read: 512 MiB.
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

/// `waymark orders …`.
#[derive(Debug, Clone, Args)]
pub struct OrdersArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: OrdersCommand,
}

/// The order subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum OrdersCommand {
    /// Load past orders (JSON lines or CSV), idempotent by order id.
    #[command(after_help = "Examples:\n  \
        waymark orders import orders.csv\n  \
        waymark orders import orders.jsonl --db postgres://waymark@db/waymark\n\n\
        Columns: order_id, customer_id, time (RFC 3339, YYYY-MM-DD or epoch ms), value; optional refunded,\n\
        currency, items (ids; in CSV separated by |). Skipped rows are printed on stderr as\n\
        FILE:LINE: field: message [code]; the other rows load. Exit code 1 when nothing was loaded.")]
    Import(ImportArgs),
}

/// Flags of `waymark orders import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Its format; by default from the extension (.jsonl, .ndjson, .csv).
    #[arg(long, value_name = "jsonl|csv", value_parser = parse_format)]
    pub format: Option<Format>,
    /// Database URL, as `waymark serve --db`.
    #[arg(long, env = "WAYMARK_DB", default_value = DEFAULT_DB)]
    pub db: String,
}

fn parse_format(text: &str) -> Result<Format, String> {
    Format::from_name(text).ok_or_else(|| format!("{text:?}: use jsonl or csv"))
}

/// Runs an orders subcommand.
pub fn run(args: &OrdersArgs) -> ExitCode {
    match &args.command {
        OrdersCommand::Import(import) => run_import(import),
    }
}

fn run_import(args: &ImportArgs) -> ExitCode {
    let file = args.file.display().to_string();
    let fail = |code: &str, message: &dyn std::fmt::Display| {
        eprintln!("error[{code}]: {file}: {message}");
        ExitCode::FAILURE
    };
    let size = match std::fs::metadata(&args.file) {
        Ok(meta) => meta.len(),
        Err(e) => return fail("io_error", &e),
    };
    if size > MAX_FILE_BYTES {
        return fail("file_too_large", &format!("{size} bytes, at most {MAX_FILE_BYTES}: split the file"));
    }
    let bytes = match std::fs::read(&args.file) {
        Ok(bytes) => bytes,
        Err(e) => return fail("io_error", &e),
    };
    let Some(format) = args.format.or_else(|| Format::from_path(&args.file)) else {
        return fail("unknown_format", &"cannot tell the format from the extension: pass --format jsonl|csv");
    };
    let print = |errors: &[backfill::RowError]| {
        for error in errors {
            eprintln!("{file}:{}: {}: {} [{}]", error.line, error.field, error.message, error.code);
        }
    };
    let parsed = match backfill::parse(&bytes, format) {
        Ok(parsed) => parsed,
        Err(e) => {
            if let backfill::BackfillError::NoValidRows { errors, .. } = &e {
                print(errors);
            }
            return fail(e.code(), &format!("{e}; nothing was loaded"));
        }
    };
    print(&parsed.errors);
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fail("runtime", &e),
    };
    let result = runtime.block_on(async {
        let db = Db::connect(&args.db, 1, Synchronous::Full).await.map_err(|e| e.to_string())?;
        let result = backfill::load(&db, &parsed.orders, Clock::System.now()).await;
        db.close().await;
        result.map_err(|e| e.to_string())
    });
    match result {
        Ok(loaded) => {
            println!("{file}: {} rows, {} loaded, {} rejected", parsed.rows, loaded.loaded, parsed.rejected);
            if parsed.rejected > parsed.errors.len() {
                println!("(only the first {} row errors are printed)", parsed.errors.len());
            }
            ExitCode::SUCCESS
        }
        Err(message) => fail("storage_error", &format!("{message}; nothing was loaded")),
    }
}
