//! The `waymark` command line: `validate` checks journey files and prints every error
//! with file:line:col; `graph` prints a journey as a Mermaid flowchart; `simulate`
//! replays NDJSON events and prints every decision with its reasons; `catalog import`
//! loads a product feed into the backend's database (feature `server`). Each subcommand
//! is one `Command` variant and one function; exit code 0 = ok, 1 = the input has
//! errors, 2 = usage errors (from clap).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use waymark::decision::DecisionRecord;
use waymark::journey::diagnostics::{self, Diagnostic};
use waymark::journey::graph;
use waymark::journey::tzdb::Tzdb;
use waymark::simulate::Simulator;
use waymark::{Engine, EngineOptions, Timestamp};

/// Edge journey engine for e-commerce: check and inspect journey files.
#[derive(Debug, Parser)]
#[command(name = "waymark", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check journey files and print every error with file:line:col.
    #[command(after_help = "Examples:\n  \
        waymark validate journeys/cart-abandon.json\n  \
        waymark validate journeys/            # every *.json in the directory, as one bundle\n  \
        waymark validate a.json b.json        # each argument checked on its own\n\n\
        A file holds one journey (an object with \"steps\") or a bundle (an object with \"journeys\",\n\
        optionally \"policy\" and \"groups\"). Exit code 0 when all are valid, 1 otherwise.")]
    Validate(ValidateArgs),
    /// Print a journey as a Mermaid flowchart (paste it into a ```mermaid block).
    #[command(after_help = "Examples:\n  \
        waymark graph journeys/cart-abandon.json\n  \
        waymark graph journeys/ --journey browse-abandon > browse.mmd")]
    Graph(GraphArgs),
    /// Replay shopper events (NDJSON) through journeys; print every decision as a JSON line.
    #[command(after_help = "Examples:\n  \
        waymark simulate --journeys templates --events examples/events.ndjson\n  \
        waymark simulate --journeys templates examples/journeys --events events.ndjson --until 2026-07-01T00:00:00Z\n\n\
        Each input line is one JSON object:\n  \
        {\"shopper\": \"ana\", \"time\": \"2026-06-01T08:00:10Z\", \"name\": \"view_item\", \"properties\": {\"item_id\": \"shoe-1\"}}\n\
        optional: \"traits\": {...}, \"consent\": {\"email\": true}, \"customer_id\": \"c-1\"; without \"name\" a line only updates;\n\
        a line {\"time\": ...} alone only advances the clock (every shopper's due timers run).\n\
        Before each line, every shopper's timers due by its time run, in time order. Output fields:\n\
        time, shopper, journey, step, action (enter|send|suppress|defer|convert|exit|cancel), channel,\n\
        content, incentive, variant, reason, reasons, message. Bad lines are reported on stderr with\n\
        their line number and field; the rest still runs, and the exit code is 1.")]
    Simulate(SimulateArgs),
    /// Compile journeys into the compact binary bundle the engine loads (browser, edge, backend).
    #[command(after_help = "Examples:\n  \
        waymark bundle templates examples/journeys -o bundle.bin\n\n\
        The output is a version byte + postcard: validated, time zones resolved to offset tables,\n\
        so a browser loads it without a time-zone database or re-validation.")]
    Bundle(BundleArgs),
    /// Run the backend: state sync, server-side events, timers, email/SMS/push delivery.
    #[cfg(feature = "server")]
    #[command(after_help = "Examples:\n  \
        WAYMARK_ADMIN_TOKEN=... WAYMARK_TOKEN_SECRET=... waymark serve --journeys templates\n  \
        waymark serve --db postgres://waymark@127.0.0.1/waymark --smtp-url smtp://127.0.0.1:2525 ...\n\n\
        Every flag has an environment variable (shown with --help). API: GET /v1/openapi.json.")]
    Serve(Box<waymark::server::config::ServeArgs>),
    /// The product catalog: import a Merchant Center feed (XML, TSV or JSON lines) into
    /// the database `serve` uses.
    #[cfg(feature = "server")]
    Catalog(waymark::server::catalog::cli::CatalogArgs),
    /// The order history: load a shop's past orders (JSON lines or CSV) into the database
    /// `serve` uses, for the purchase-history predictions.
    #[cfg(feature = "server")]
    Orders(waymark::server::orders::cli::OrdersArgs),
    /// Fit the learned models on the database `serve` uses: `fit orders` (purchase history →
    /// each customer's `predicted` trait).
    #[cfg(feature = "server")]
    Fit(waymark::server::fit_cli::FitArgs),
}

#[derive(Debug, Args)]
struct BundleArgs {
    /// Journey or bundle files, or directories of them.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Where to write the bundle.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: PathBuf,
}

#[derive(Debug, Args)]
struct ValidateArgs {
    /// Journey or bundle files, or directories of them.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
struct GraphArgs {
    /// A journey or bundle file, or a directory of them.
    #[arg(value_name = "PATH")]
    path: PathBuf,
    /// Which journey to draw, by id (needed when the input holds more than one).
    #[arg(long, short = 'j', value_name = "ID")]
    journey: Option<String>,
}

#[derive(Debug, Args)]
struct SimulateArgs {
    /// Journey or bundle files, or directories of them (all compiled into one bundle).
    #[arg(long, required = true, num_args = 1.., value_name = "PATH")]
    journeys: Vec<PathBuf>,
    /// NDJSON events file, or `-` for standard input.
    #[arg(long, value_name = "FILE")]
    events: PathBuf,
    /// After the last line, run timers due up to this RFC 3339 time.
    #[arg(long, value_name = "RFC3339")]
    until: Option<String>,
    /// Also print each shopper's final state: {"shopper", "bytes", "state" (hex postcard)}.
    #[arg(long)]
    emit_state: bool,
    /// Also print entry skips: journeys not entered because of their schedule or re-entry
    /// rules (`suppress` with outside_schedule, reentry_once, reentry_locked, reentry_capped).
    #[arg(long)]
    trace_skips: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(args) => validate(&args),
        Command::Graph(args) => graph(&args),
        Command::Simulate(args) => simulate(&args),
        Command::Bundle(args) => bundle(&args),
        #[cfg(feature = "server")]
        Command::Serve(args) => serve(&args),
        #[cfg(feature = "server")]
        Command::Catalog(args) => waymark::server::catalog::cli::run(&args),
        #[cfg(feature = "server")]
        Command::Orders(args) => waymark::server::orders::cli::run(&args),
        #[cfg(feature = "server")]
        Command::Fit(args) => waymark::server::fit_cli::run(&args),
    }
}

fn print_diagnostics(diagnostics: &[Diagnostic]) {
    for d in diagnostics {
        eprintln!("{d}");
    }
}

/// `waymark validate`: each path is loaded and compiled on its own.
fn validate(args: &ValidateArgs) -> ExitCode {
    let mut failed = false;
    for path in &args.paths {
        match diagnostics::compile_paths(&[path], &Tzdb) {
            Ok(bundle) => {
                let n = bundle.journeys.len();
                println!("ok: {n} {} in {}", if n == 1 { "journey" } else { "journeys" }, path.display());
            }
            Err(errors) => {
                print_diagnostics(&errors);
                let n = errors.len();
                eprintln!("{}: {n} {}", path.display(), if n == 1 { "error" } else { "errors" });
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `waymark graph`: Mermaid of one journey.
fn graph(args: &GraphArgs) -> ExitCode {
    let sources = match diagnostics::load(&[&args.path]) {
        Ok(sources) => sources,
        Err(errors) => {
            print_diagnostics(&errors);
            return ExitCode::FAILURE;
        }
    };
    let bundle = match sources.compile(&Tzdb) {
        Ok(bundle) => bundle,
        Err(errors) => {
            print_diagnostics(&errors);
            return ExitCode::FAILURE;
        }
    };
    let ids = || bundle.journeys.iter().map(|j| j.id.as_str()).collect::<Vec<_>>().join(", ");
    let journey = match (&args.journey, bundle.journeys.as_slice()) {
        (Some(id), journeys) => match journeys.iter().find(|j| &j.id == id) {
            Some(j) => j,
            None => {
                eprintln!(
                    "error[unknown_journey]: no journey {id:?} in {}: write one of {}",
                    args.path.display(),
                    ids()
                );
                return ExitCode::FAILURE;
            }
        },
        (None, [only]) => only,
        (None, []) => {
            eprintln!("error[no_journeys]: {} holds no journeys", args.path.display());
            return ExitCode::FAILURE;
        }
        (None, _) => {
            eprintln!(
                "error[ambiguous_journey]: {} holds several journeys: pick one with --journey <ID> ({})",
                args.path.display(),
                ids()
            );
            return ExitCode::FAILURE;
        }
    };
    print!("{}", graph::mermaid(journey, sources.journey(&journey.id)));
    ExitCode::SUCCESS
}

/// `waymark simulate`: replay NDJSON events, one JSON line per decision.
fn simulate(args: &SimulateArgs) -> ExitCode {
    let bundle = match diagnostics::compile_paths(&args.journeys, &Tzdb) {
        Ok(bundle) => bundle,
        Err(errors) => {
            print_diagnostics(&errors);
            return ExitCode::FAILURE;
        }
    };
    let until = match args.until.as_deref().map(Timestamp::parse_rfc3339).transpose() {
        Ok(until) => until,
        Err(e) => {
            eprintln!("error[{}]: --until: {e}", e.code());
            return ExitCode::from(2);
        }
    };
    let read = if args.events.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(&args.events)
    };
    let text = match read {
        Ok(text) => text,
        Err(e) => {
            eprintln!("error[io_error]: {}: {e}", args.events.display());
            return ExitCode::FAILURE;
        }
    };
    let options = EngineOptions { trace_skips: args.trace_skips, ..EngineOptions::default() };
    let mut simulator = Simulator::new(Engine::with_options(bundle, options));
    let (decisions, errors) = simulator.replay(&text, until);
    let mut out = std::io::stdout().lock();
    for (shopper, decision) in &decisions {
        let record = DecisionRecord::new(shopper, decision);
        match serde_json::to_string(&record) {
            Ok(line) => {
                let _ = writeln!(out, "{line}");
            }
            Err(e) => eprintln!("error[output]: {e}"),
        }
    }
    if args.emit_state {
        for (shopper, state) in simulator.states() {
            let bytes = state.encode();
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let line = serde_json::json!({ "shopper": shopper, "bytes": bytes.len(), "state": hex });
            let _ = writeln!(out, "{line}");
        }
    }
    for e in &errors {
        eprintln!("error[{}]: {}:{}: {}: {}", e.code(), args.events.display(), e.line, e.field, e.message);
    }
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "{}: {} bad {} skipped",
            args.events.display(),
            errors.len(),
            if errors.len() == 1 { "line" } else { "lines" }
        );
        ExitCode::FAILURE
    }
}

/// `waymark bundle`: validated journeys → compact binary bundle.
fn bundle(args: &BundleArgs) -> ExitCode {
    let bundle = match diagnostics::compile_paths(&args.paths, &Tzdb) {
        Ok(bundle) => bundle,
        Err(errors) => {
            print_diagnostics(&errors);
            return ExitCode::FAILURE;
        }
    };
    let bytes = bundle.to_bytes();
    if let Err(e) = std::fs::write(&args.output, &bytes) {
        eprintln!("error[io_error]: {}: {e}", args.output.display());
        return ExitCode::FAILURE;
    }
    eprintln!("wrote {} journeys, {} bytes to {}", bundle.journeys.len(), bytes.len(), args.output.display());
    ExitCode::SUCCESS
}

/// `waymark serve`: the backend, until Ctrl-C / SIGTERM.
#[cfg(feature = "server")]
fn serve(args: &waymark::server::config::ServeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error[runtime]: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(waymark::server::serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error[serve]: {e}");
            ExitCode::FAILURE
        }
    }
}
