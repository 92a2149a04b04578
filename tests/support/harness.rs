//! For test files run by libtest-mimic (`harness = false` in Cargo.toml): a test that
//! needs something from outside the repository (the shared conformance data, the
//! throwaway Postgres cluster) reports as *ignored*, with the reason, in the runner's own
//! count when that is absent, and fails under CI (`CI=true`), where it must be present.
//! It never passes without having checked anything.
#![allow(dead_code, reason = "shared by several test crates, each of which uses a part")]

use std::process::ExitCode;

use libtest_mimic::{Arguments, Completion, Failed, Trial};

/// True under CI: `CI` set to anything but empty, `0` or `false` (CI runs with `CI=true`).
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false"))
}

/// The outcome of a test whose `what` is absent: ignored with that reason, or a failure
/// under CI.
pub fn absent(what: &str) -> Result<Completion, Failed> {
    if under_ci() {
        Err(format!("{what}, and CI is set: under CI this test must run").into())
    } else {
        Ok(Completion::ignored_with(what))
    }
}

/// A plain test function as a trial: it passes by returning, fails by panicking (as
/// under the built-in harness).
pub fn trial(name: &str, test: fn()) -> Trial {
    Trial::test(name, move || {
        test();
        Ok(())
    })
}

/// Runs the trials as `cargo test` asked (filters, `--ignored`, `--test-threads`, ...).
pub fn run(trials: Vec<Trial>) -> ExitCode {
    libtest_mimic::run(&Arguments::from_args(), trials).exit_code()
}
