#!/usr/bin/env bash
# bench/sweep.sh — the audience sweep at shop scale, on SQLite and on Postgres: SHOPPERS
# known shoppers who never visit, each with a birthday, under the shipped journeys; the
# scheduler then runs idle rounds and a birthday (who enters at midnight, whose email is
# queued at 09:00), and the time of each is printed (examples/sweep_bench.rs). Only the
# due rows of the wake_at index are read: there is no per-day scan of every shopper.
#
#   bench/sweep.sh                   both databases, 1,000,000 shoppers
#   bench/sweep.sh sqlite            one of them (sqlite | postgres)
#   SHORT=1 bench/sweep.sh           20,000 shoppers
#   PROFILE=debug bench/sweep.sh     the debug build the test suite has
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$REPO_ROOT"

if [ "${SHORT:-0}" = 1 ]; then shoppers="${SHOPPERS:-20000}"; else shoppers="${SHOPPERS:-1000000}"; fi
profile="${PROFILE:-fast}"
dbs="${1:-all}"
case "$dbs" in all | sqlite | postgres) ;; *) die "usage: bench/sweep.sh [sqlite|postgres]" ;; esac
case "$profile" in fast | debug) ;; *) die "PROFILE is fast or debug" ;; esac

step "building the sweep bench (profile $profile)"
if [ "$profile" = fast ]; then
    cargo build --locked --quiet --profile fast --features server --example sweep_bench
    bin="$CARGO_TARGET_DIR/fast/examples/sweep_bench"
else
    cargo build --locked --quiet --features server --example sweep_bench
    bin="$CARGO_TARGET_DIR/debug/examples/sweep_bench"
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/waymark-sweep.XXXXXX")"
pgdir="$(mktemp -d "${TMPDIR:-/tmp}/waymark-sweep-pg.XXXXXX")"
cleanup() { "$REPO_ROOT/scripts/pg-test.sh" stop "$pgdir" || true; rm -rf "$work"; }
trap cleanup EXIT

if [ "$dbs" != postgres ]; then
    step "sqlite, $shoppers shoppers"
    RUST_LOG="${RUST_LOG:-warn}" "$bin" --db "sqlite://$work/sweep.db" --shoppers "$shoppers"
fi
if [ "$dbs" != sqlite ]; then
    base="$(PG_EXTRA_OPTS="-c fsync=on -c synchronous_commit=on" "$REPO_ROOT/scripts/pg-test.sh" start "$pgdir")"
    step "postgres, $shoppers shoppers"
    RUST_LOG="${RUST_LOG:-warn}" "$bin" --db "$base/postgres" --shoppers "$shoppers"
fi
