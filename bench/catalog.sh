#!/usr/bin/env bash
# bench/catalog.sh — the catalog's figures on SQLite and on Postgres: the fan-out of one
# price drop to SHOPPERS interested shoppers (time, and the server's peak memory), the
# recommender's refresh from storage for ITEMS items × INTERACTIONS interactions,
# `GET /v1/recommendations` p50 / p99 at RATE per second (item anchors, then searches),
# and a typical shopper's state size without and with the interest memory.
#
#   bench/catalog.sh                 both databases
#   bench/catalog.sh sqlite          one of them (sqlite | postgres)
#   SHORT=1 bench/catalog.sh         2k shoppers, 1k items × 20k interactions, 1 s per load phase
#   SHOPPERS=100000 ITEMS=10000 INTERACTIONS=1000000 RATE=200 SECONDS_PER_PHASE=5 REFRESHES=3 bench/catalog.sh
#   PROFILE=debug bench/catalog.sh   the debug build the test suite already has (no fast build)
#
# Loopback only, bounded by the sizes above (defaults as shown). The server is the real
# `waymark serve` (profile fast unless PROFILE=debug) in a process of its own, on a SQLite
# file in a temp dir or a throwaway Postgres cluster (scripts/pg-test.sh, fsync on); the
# client is examples/load_sync --mode catalog (examples/load_sync/catalog/). Every shopper
# is seeded through POST /v1/sync, the path that writes the interest index. The bench
# fails when the drop does not reach every seeded shopper or the refresh reads other than
# the seeded interactions. Each database's JSON line is kept in out/bench-catalog/.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$REPO_ROOT"

if [ "${SHORT:-0}" = 1 ]; then
    shoppers="${SHOPPERS:-2000}" items="${ITEMS:-1000}" interactions="${INTERACTIONS:-20000}"
    secs="${SECONDS_PER_PHASE:-1}" refreshes="${REFRESHES:-1}" limit=300
else
    shoppers="${SHOPPERS:-100000}" items="${ITEMS:-10000}" interactions="${INTERACTIONS:-1000000}"
    secs="${SECONDS_PER_PHASE:-5}" refreshes="${REFRESHES:-3}" limit=3600
fi
rate="${RATE:-200}"
profile="${PROFILE:-fast}"
dbs="${1:-all}"
case "$dbs" in all | sqlite | postgres) ;; *) die "usage: bench/catalog.sh [sqlite|postgres]" ;; esac
case "$profile" in fast | debug) ;; *) die "PROFILE is fast or debug" ;; esac

step "building the server and the bench client (profile $profile)"
if [ "$profile" = fast ]; then
    cargo build --locked --quiet --profile fast --features server --example load_sync --bin waymark
else
    cargo build --locked --quiet --features server --example load_sync --bin waymark
fi
bin="$CARGO_TARGET_DIR/$profile/examples/load_sync"
server_bin="$CARGO_TARGET_DIR/$profile/waymark"
info "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
info "$shoppers shoppers, $items items × $interactions interactions, $rate queries/s for ${secs} s"

out="$REPO_ROOT/out/bench-catalog"
mkdir -p "$out"
work="$(mktemp -d "${TMPDIR:-/tmp}/waymark-catalog.XXXXXX")"
pgdir="$(mktemp -d "${TMPDIR:-/tmp}/waymark-catalog-pg.XXXXXX")"
cleanup() { "$REPO_ROOT/scripts/pg-test.sh" stop "$pgdir" || true; rm -rf "$work"; }
trap cleanup EXIT

# bench NAME DB_URL: one run; its JSON line in out/, the server's log kept on failure.
results=()
bench() {
    local name="$1" db="$2" log="$work/$1-server.log"
    step "$name"
    if ! RUST_LOG="${RUST_LOG:-warn}" timeout "$limit" "$bin" --mode catalog --server-bin "$server_bin" \
        --db "$db" --server-log "$log" --shoppers "$shoppers" --items "$items" \
        --interactions "$interactions" --rate "$rate" --seconds "$secs" --refreshes "$refreshes" \
        >"$out/$name.json"; then
        cp "$log" "$out/$name-server.log" 2>/dev/null || true
        tail -n 20 "$log" >&2 || true
        die "the catalog bench failed on $name (server log: out/bench-catalog/$name-server.log)"
    fi
    results+=("$out/$name.json")
}

[ "$dbs" != postgres ] && bench sqlite "sqlite://$work/catalog.db"
if [ "$dbs" != sqlite ]; then
    base="$(PG_EXTRA_OPTS="-c fsync=on -c synchronous_commit=on -c shared_buffers=128MB" \
        "$REPO_ROOT/scripts/pg-test.sh" start "$pgdir")"
    bench postgres "$base/postgres"
fi

step "summary"
python3 - "${results[@]}" <<'PY'
import json, sys
rows = [json.loads(open(p).read().strip().splitlines()[-1]) for p in sys.argv[1:]]
for r in rows:
    s, f, x, b = r["seeding"], r["fan_out"], r["refresh"], r["state_bytes"]
    print(f"{r['db']} (1-min load average {r['load_average_before']:.1f} before, {r['load_average_after']:.1f} after):")
    print(f"  seeded through POST /v1/sync: {s['fan_out_shoppers']} fan-out shoppers in {s['fan_out_seed_s']:.1f} s "
          f"({s['fan_out_syncs_per_s']:.0f}/s), {s['recommender_shoppers']} recommender shoppers in "
          f"{s['recommender_seed_s']:.1f} s ({s['recommender_syncs_per_s']:.0f}/s); catalog of {s['catalog_items']} "
          f"items imported in {s['catalog_import_s']:.2f} s")
    peak = "peak" if f["peak_reset"] else "lifetime peak (reset refused)"
    print(f"  fan-out of one price drop: {f['price_drop_events']} shoppers triggered in {f['seconds']:.2f} s "
          f"({f['events_per_s']:.0f}/s); server {peak} {f['peak_before_mib']:.1f} MiB before, "
          f"{f['peak_after_mib']:.1f} MiB after (RSS {f['rss_before_mib']:.1f} → {f['rss_after_mib']:.1f} MiB); "
          f"decisions {json.dumps(f['decisions'])}")
    print(f"  recommender refresh, {x['items_read']} items × {x['interactions_read']} interactions: first query "
          f"{x['first_query_ms']:.0f} ms (server: read {x['server_read_ms']} ms + build {x['server_build_ms']} ms), "
          f"warm {x['warm_query_ms']:.1f} ms; peak {x['peak_mib']:.1f} MiB (RSS before {x['rss_before_mib']:.1f} MiB); "
          f"median of {x['runs']}")
    for l in r["latency"]:
        print(f"  GET /v1/recommendations ({l['query']}) at {l['rate_achieved']:.0f}/s: p50 {l['p50_ms']:.2f} ms, "
              f"p99 {l['p99_ms']:.2f} ms, max {l['max_ms']:.1f} ms, {l['errors']} errors of {l['answered'] + l['errors']}")
    print(f"  typical shopper state: {b['typical_without_interests']} B without the interest memory, "
          f"{b['typical_with_interests']} B with it (fan-out shopper {b['fan_out_shopper']} B, recommender shopper "
          f"{b['recommender_shopper_mean']} B on average)")
PY
