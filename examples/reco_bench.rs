//! The recommender bench: `cargo run --release --features server --example reco_bench`
//! (`-- --items N --interactions N --shoppers N --queries N --threads N` to change the size).
//! Generates a synthetic shop (10k items × 1M interactions by default), refreshes the
//! neighbour lists, popularity and the search index, and prints refresh time, peak memory
//! (VmHWM) and the p50 / p99 of in-memory recommendation and search queries.

use std::process::ExitCode;

use waymark::server::recommend::bench::{run, BenchParams};
use waymark::server::recommend::synth::SynthParams;
use waymark::server::recommend::CosineConfig;

fn main() -> ExitCode {
    let mut params =
        BenchParams { synth: SynthParams::bench(), queries: 2_000, k: 10, cosine: CosineConfig::default() };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let (Some(flag), Some(value)) = (pair.first(), pair.get(1)) else {
            eprintln!("usage: reco_bench [--items N] [--interactions N] [--shoppers N] [--queries N] [--threads N]");
            return ExitCode::from(2);
        };
        let Ok(n) = value.parse::<usize>() else {
            eprintln!("{flag}: not a number: {value}");
            return ExitCode::from(2);
        };
        match flag.as_str() {
            "--items" => params.synth.items = n,
            "--interactions" => params.synth.interactions = n,
            "--shoppers" => params.synth.shoppers = n,
            "--queries" => params.queries = n,
            "--threads" => params.cosine.threads = n,
            _ => {
                eprintln!("unknown flag {flag}");
                return ExitCode::from(2);
            }
        }
    }
    println!("{}", run(&params));
    ExitCode::SUCCESS
}
