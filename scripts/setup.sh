#!/usr/bin/env bash
# scripts/setup.sh — `make setup`: install what the tests need that a fresh machine lacks.
# Idempotent and quick (well under a second) when everything is there; scripts/test.sh
# runs it first.
#   - rustfmt and clippy for the active toolchain (rustup components)
#   - a way to build for wasm32 (scripts/setup-wasm.sh)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

step "rust components"
command -v cargo >/dev/null 2>&1 || die "cargo not found on PATH; install Rust with rustup (https://rustup.rs)"
missing=()
cargo fmt --version >/dev/null 2>&1 || missing+=(rustfmt)
cargo clippy --version >/dev/null 2>&1 || missing+=(clippy)
if [ "${#missing[@]}" -gt 0 ]; then
    command -v rustup >/dev/null 2>&1 || die "missing ${missing[*]} and no rustup to add them"
    info "rustup component add ${missing[*]}"
    # Adding a component downloads it; bound the wait so an offline machine fails clearly.
    timeout 300 rustup component add "${missing[@]}" </dev/null \
        || die "rustup component add ${missing[*]} failed or timed out (needs static.rust-lang.org)"
fi
info "$(cargo --version); $(cargo fmt --version); $(cargo clippy --version)"

"$REPO_ROOT/scripts/setup-wasm.sh"
