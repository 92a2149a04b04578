#!/usr/bin/env bash
# bench/load-sync.sh — /v1/sync throughput and latency on SQLite and on Postgres, next to a
# raw single-row upsert loop on the same database in the same run (the ceiling).
# Loopback only; each phase runs SECONDS_PER_PHASE (default 5): about 5 × that per database.
# SQLite runs twice: synchronous=FULL (the default: durable against power loss) and
# NORMAL (--sqlite-synchronous normal: durable against a crash of the process only).
#
#   bench/load-sync.sh                 both databases
#   bench/load-sync.sh sqlite          one of them (sqlite | postgres)
#   SECONDS_PER_PHASE=10 CONCURRENCY=128 bench/load-sync.sh
#
# The server is the real `waymark serve` (profile fast) in a process of its own; the load
# tool (examples/load_sync/) is the client, on one thread. Latency is measured open-loop
# at two rates: half the goal throughput (goals: 10k syncs/s on SQLite, 5k/s on Postgres;
# p99 ≤ 10 ms is asked for at half that load) and half the measured maximum.
#
# Next to each p99 the summary shows the client's own stalls (a task on its runtime waking
# every 1 ms more than 5 ms late, and the worst lateness of a plain OS thread's 1 ms sleep)
# and the load average: a p99 far above p50 next to such stalls is the machine's doing
# (client, server and whatever else runs share its cores), not the database's.
#
# Postgres runs on a throwaway cluster (scripts/pg-test.sh) with fsync on (durable commits).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$REPO_ROOT"

secs="${SECONDS_PER_PHASE:-5}"
conc="${CONCURRENCY:-64}"
shoppers="${SHOPPERS:-10000}"
dbs="${1:-all}"
case "$dbs" in all | sqlite | postgres) ;; *) die "usage: bench/load-sync.sh [sqlite|postgres]" ;; esac

step "building the server and the load generator (profile fast)"
cargo build --locked --quiet --profile fast --features server --example load_sync --bin waymark
bin="$CARGO_TARGET_DIR/fast/examples/load_sync"
server_bin="$CARGO_TARGET_DIR/fast/waymark"
info "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

work="$(mktemp -d "${TMPDIR:-/tmp}/waymark-load.XXXXXX")"
pgdir="$(mktemp -d "${TMPDIR:-/tmp}/waymark-load-pg.XXXXXX")"
cleanup() { "$REPO_ROOT/scripts/pg-test.sh" stop "$pgdir" || true; rm -rf "$work"; }
trap cleanup EXIT

load() {
    RUST_LOG="${RUST_LOG:-warn}" timeout $((secs * 8 + 90)) "$bin" --server-bin "$server_bin" \
        --seconds "$secs" --concurrency "$conc" --shoppers "$shoppers" "$@"
}

results=()
if [ "$dbs" != postgres ]; then
    for sync in full normal; do
        step "SQLite (WAL, synchronous=${sync^^})"
        load --db "sqlite://$work/load-$sync.db" --sqlite-synchronous "$sync" | tee "$work/sqlite-$sync.json"
        results+=("$work/sqlite-$sync.json")
    done
fi

if [ "$dbs" != sqlite ]; then
    step "Postgres (fsync on, synchronous_commit on)"
    base="$(PG_EXTRA_OPTS="-c fsync=on -c synchronous_commit=on -c shared_buffers=128MB" \
        "$REPO_ROOT/scripts/pg-test.sh" start "$pgdir")"
    load --db "$base/postgres" | tee "$work/postgres.json"
    results+=("$work/postgres.json")
fi

step "summary"
python3 - "${results[@]}" <<'PY'
import json, sys
print(f"{'db':15} {'syncs/s':>8} {'raw/s':>6} {'open loop':>9} {'rate/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
      f"{'p99.9':>6} {'srv p99<=':>9} {'srv>10ms':>8} {'stalls':>6} {'stall ms':>8} {'os ms':>6} "
      f"{'cpu c/s':>9} {'psi':>4} {'load':>9}")
for path in sys.argv[1:]:
    r = json.load(open(path))
    db = r['db'] + (f" ({r['sqlite_synchronous']})" if r['db'] == 'sqlite' else '')
    load = f"{r['load_average_before']:.1f}-{r['load_average_after']:.1f}"
    for o in r['open_loop']:
        cpu = f"{o['client_cpu']:.2f}/{o['server_cpu']:.2f}"
        print(f"{db:15} {r['sync_per_s_max']:>8.0f} {r['raw_upsert_per_s']:>6.0f} {o['label']:>9} "
              f"{o['rate_achieved']:>7.0f} {o['p50_ms']:>7.2f} {o['p99_ms']:>7.2f} {o['p999_ms']:>6.1f} "
              f"{o['server_p99_le_ms']:>9g} {o['server_over_10ms']:>8.2%} "
              f"{o['client_stalls_over_5ms']:>6} {o['client_stall_max_ms']:>8.1f} {o['os_thread_stall_max_ms']:>6.1f} "
              f"{cpu:>9} {o['cpu_pressure']:>4.2f} {load:>9}")
print("""
half_goal: half the goal (10k/s SQLite, 5k/s Postgres); half_max: half the measured syncs/s.
srv p99<=: the server's own /metrics bucket bound holding its p99; srv>10ms: syncs the server
itself took over 10 ms. stalls: client wake-ups > 5 ms late (worst: stall ms; os ms: a plain
thread's). cpu c/s: cores busy in client / server; psi: share of the time some task waited
for a core. load: 1-min load average before-after.""")
PY
