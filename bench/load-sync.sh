#!/usr/bin/env bash
# bench/load-sync.sh — /v1/sync throughput and latency on SQLite and on Postgres, next to a
# raw single-row upsert loop on the same database in the same run (the ceiling).
# Loopback only; each phase runs SECONDS (default 5): about 4 × SECONDS per database.
# SQLite runs twice: synchronous=FULL (the default: durable against power loss) and
# NORMAL (--sqlite-synchronous normal: durable against a crash of the process only).
#
#   bench/load-sync.sh                 both databases
#   SECONDS_PER_PHASE=10 CONCURRENCY=128 bench/load-sync.sh
#
# The summary also counts stalls of the runtime in the open-loop phase (a task waking every
# 1 ms more than 5 ms late: client and server share a runtime on a shared machine); a
# p99 far above p50 next to such stalls is the machine's doing, not the database's; the
# worst lateness of a plain OS thread's 1 ms sleep tells a stalled process from a busy runtime.
#
# Postgres runs on a throwaway cluster (scripts/pg-test.sh) with fsync on (durable commits).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$REPO_ROOT"

secs="${SECONDS_PER_PHASE:-5}"
conc="${CONCURRENCY:-64}"
shoppers="${SHOPPERS:-10000}"

step "building the load generator (profile fast)"
cargo build --locked --quiet --profile fast --features server --example load_sync
bin="$CARGO_TARGET_DIR/fast/examples/load_sync"

work="$(mktemp -d "${TMPDIR:-/tmp}/waymark-load.XXXXXX")"
pgdir="$(mktemp -d "${TMPDIR:-/tmp}/waymark-load-pg.XXXXXX")"
cleanup() { "$REPO_ROOT/scripts/pg-test.sh" stop "$pgdir" || true; rm -rf "$work"; }
trap cleanup EXIT

for sync in full normal; do
    step "SQLite (WAL, synchronous=${sync^^})"
    RUST_LOG=warn timeout $((secs * 6 + 60)) "$bin" --db "sqlite://$work/load-$sync.db" --seconds "$secs" \
        --concurrency "$conc" --shoppers "$shoppers" --sqlite-synchronous "$sync" | tee "$work/sqlite-$sync.json"
done

step "Postgres (fsync on, synchronous_commit on)"
base="$(PG_EXTRA_OPTS="-c fsync=on -c synchronous_commit=on -c shared_buffers=128MB" "$REPO_ROOT/scripts/pg-test.sh" start "$pgdir")"
psql_db() { python3 - "$base" <<'PY'
import sys; print(sys.argv[1] + "/postgres")
PY
}
RUST_LOG=warn timeout $((secs * 6 + 60)) "$bin" --db "$(psql_db)" --seconds "$secs" \
    --concurrency "$conc" --shoppers "$shoppers" | tee "$work/postgres.json"

step "summary"
python3 - "$work/sqlite-full.json" "$work/sqlite-normal.json" "$work/postgres.json" <<'PY'
import json, sys
print(f"{'db':15} {'syncs/s':>9} {'raw upserts/s':>14} {'@rate/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'stalls>5ms':>10} {'max stall ms':>12} {'os stall ms':>11}")
for path in sys.argv[1:]:
    r = json.load(open(path))
    db = r['db'] + (f" ({r['sqlite_synchronous']})" if r['db'] == 'sqlite' else '')
    print(f"{db:15} {r['sync_per_s_max']:>9.0f} {r['raw_upsert_per_s']:>14.0f} "
          f"{r['open_loop_rate_achieved']:>8.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} "
          f"{r['client_stalls_over_5ms']:>10} {r['client_stall_max_ms']:>12.1f} {r['os_thread_stall_max_ms']:>11.1f}")
PY
