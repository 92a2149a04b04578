#!/usr/bin/env bash
# scripts/soak.sh — the server under steady sync load for a while: flat memory, no drift.
#
#   scripts/soak.sh                  10 minutes on SQLite (synchronous=FULL)
#   scripts/soak.sh --minutes 2      shorter
#   scripts/soak.sh --db postgres    on a throwaway Postgres cluster (fsync on)
#
# Not part of CI. Builds the server and examples/load_sync (profile fast, as
# bench/load-sync.sh; SOAK_PROFILE=dev reuses the debug build of the tests), then
# examples/load_sync --mode soak: a closed loop of PROBE_SECONDS (default 10) finds the
# maximum throughput, then an open loop holds half of it for the minutes asked, printing
# per minute the server's RSS (/proc/PID/status), the client's p99 and the server's p99
# bound (/metrics). Exits non-zero when it flags drift (memory +25% and +16 MiB, or p99
# doubled and +5 ms, from the first minute to the last; or any failed sync). The JSON
# line is kept in out/soak/.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

minutes=10
db=sqlite
while [ "$#" -gt 0 ]; do
    case "$1" in
        --minutes) minutes="${2:?--minutes N}"; shift 2 ;;
        --db) db="${2:?--db sqlite|postgres}"; shift 2 ;;
        *) sed -n "2,16p" "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    esac
done
case "$db" in sqlite | postgres) ;; *) die "--db sqlite|postgres" ;; esac

profile="${SOAK_PROFILE:-fast}"
step "building the server and the load client (profile $profile)"
cargo build --locked --quiet --profile "$profile" --features server --bin waymark --example load_sync
dir="$CARGO_TARGET_DIR/$([ "$profile" = dev ] && echo debug || echo "$profile")"
info "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

work="$(mktemp -d "${TMPDIR:-/tmp}/waymark-soak.XXXXXX")"
pgdir="$(mktemp -d "${TMPDIR:-/tmp}/waymark-soak-pg.XXXXXX")"
cleanup() { "$REPO_ROOT/scripts/pg-test.sh" stop "$pgdir" || true; rm -rf "$work"; }
trap cleanup EXIT

if [ "$db" = postgres ]; then
    base="$(PG_EXTRA_OPTS="-c fsync=on -c synchronous_commit=on -c shared_buffers=128MB" \
        "$REPO_ROOT/scripts/pg-test.sh" start "$pgdir")"
    url="$base/postgres"
else
    url="sqlite://$work/soak.db"
fi

mkdir -p out/soak
step "soak: $db, $minutes min at half the maximum"
RUST_LOG="${RUST_LOG:-warn}" "$dir/examples/load_sync" --mode soak --server-bin "$dir/waymark" --db "$url" \
    --minutes "$minutes" --seconds "${PROBE_SECONDS:-10}" --concurrency "${CONCURRENCY:-64}" \
    --shoppers "${SHOPPERS:-10000}" | tee "out/soak/soak-$db.json"

python3 - "out/soak/soak-$db.json" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
print(f"\nmax {r['max_per_s']:.0f} syncs/s, held {r['rate_per_s']:.0f}/s")
print(f"{'minute':>6} {'syncs':>8} {'errors':>6} {'p99 ms':>8} {'srv p99<=ms':>11} {'RSS MiB':>8}")
for i, m in enumerate(r["minutes"], 1):
    print(f"{i:>6} {m['syncs']:>8} {m['errors']:>6} {m['p99_ms']:>8.2f} {m['server_p99_le_ms']:>11.1f} {m['rss_mib']:>8.1f}")
if r["drift"]:
    print("DRIFT: " + "; ".join(r["drift"]))
    sys.exit(1)
print("no drift: memory and p99 flat")
PY
