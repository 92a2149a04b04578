//! The `waymark` command line: `validate` checks journey files and prints every error
//! with file:line:col; `graph` prints a journey as a Mermaid flowchart. Each subcommand
//! is one `Command` variant and one function; exit code 0 = ok, 1 = the input has
//! errors, 2 = usage errors (from clap).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use waymark::journey::diagnostics::{self, Diagnostic};
use waymark::journey::graph;
use waymark::tzdb::Tzdb;

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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate(args) => validate(&args),
        Command::Graph(args) => graph(&args),
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
                println!(
                    "ok: {n} {} in {}",
                    if n == 1 { "journey" } else { "journeys" },
                    path.display()
                );
            }
            Err(errors) => {
                print_diagnostics(&errors);
                let n = errors.len();
                eprintln!(
                    "{}: {n} {}",
                    path.display(),
                    if n == 1 { "error" } else { "errors" }
                );
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
    let ids = || {
        bundle
            .journeys
            .iter()
            .map(|j| j.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
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
            eprintln!(
                "error[no_journeys]: {} holds no journeys",
                args.path.display()
            );
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
