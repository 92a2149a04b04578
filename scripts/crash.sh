#!/usr/bin/env bash
# scripts/crash.sh — the crash suite: kill -9 the real `waymark serve` and count what was lost.
#
#   scripts/crash.sh            the long mode (more kills, more load, more email)
#   scripts/crash.sh --short    the CI mode (scripts/test.sh crash): about two minutes
#
# 1. Syncs: bounded load (examples/load_sync --mode crash-sync: lanes syncing a counter
#    trait per shopper), kill -9 mid-load, restart, every acknowledged sync checked by a
#    re-sync; on SQLite synchronous=FULL, SQLite synchronous=NORMAL and Postgres.
# 2. Email: kill -9 during delivery to a real SMTP receiver (aiosmtpd, each message held a
#    few ms), restart; lost and duplicate messages counted by Message-ID, and the seconds
#    until the killed process's outbox leases were taken over; on SQLite and Postgres.
# 3. Two replicas on one Postgres, one killed mid-delivery: the survivor delivers the rest.
#
# Prints a summary table; exits non-zero on any lost sync or email, on a duplicate email
# that was not in flight at the kill, or on a lease recovery slower than 10 s.
# Postgres is a throwaway cluster on loopback (scripts/pg-test.sh). Server logs and the
# JSON line of each run are kept in out/crash/.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

short=0
case "${1:-}" in
    --short) short=1 ;;
    "") ;;
    *) sed -n "2,18p" "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

if [ "$short" -eq 1 ]; then
    sync_runs=2 sync_secs=4 shoppers=2000 mails=150 mail_rounds=1
else
    sync_runs=5 sync_secs=10 shoppers=10000 mails=600 mail_rounds=3
fi
lanes=16
smtp_delay_ms=40
recovery_limit_s=10

ensure_aiosmtpd
python="${WAYMARK_PYTHON:-python3}"

step "building the server and the crash client (debug, as the server tests)"
cargo build --locked --quiet --features server --bin waymark --example load_sync
client="$CARGO_TARGET_DIR/debug/examples/load_sync"
server_bin="$CARGO_TARGET_DIR/debug/waymark"

out="$REPO_ROOT/out/crash"
rm -rf "$out"
mkdir -p "$out"
work="$(mktemp -d "${TMPDIR:-/tmp}/waymark-crash.XXXXXX")"
pgdir="$(mktemp -d "${TMPDIR:-/tmp}/waymark-crash-pg.XXXXXX")"
cleanup() { "$REPO_ROOT/scripts/pg-test.sh" stop "$pgdir" || true; rm -rf "$work"; }
trap cleanup EXIT

step "Postgres (throwaway cluster)"
pg="$("$REPO_ROOT/scripts/pg-test.sh" start "$pgdir")"
info "postgres: $pg"
pg_port="${pg##*:}"
pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
pg_db() {
    # A fresh database per run, as the unprivileged cluster owner `waymark` (trust auth).
    "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U waymark "$1"
    printf '%s/%s' "$pg" "$1"
}

run_no=0
crash() {
    local name="$1"
    shift
    run_no=$((run_no + 1))
    step "$name"
    RUST_LOG="${RUST_LOG:-warn}" timeout 600 "$client" --server-bin "$server_bin" \
        --server-log "$out/$run_no-server.log" "$@" 2> >(tee "$out/$run_no-client.log" >&2) \
        | tee "$out/$run_no.json"
}

for sync in full normal; do
    crash "kill -9 under sync load: SQLite synchronous=${sync^^}" --mode crash-sync \
        --db "sqlite://$work/sync-$sync.db" --sqlite-synchronous "$sync" \
        --runs "$sync_runs" --seconds "$sync_secs" --shoppers "$shoppers" --concurrency "$lanes"
done
crash "kill -9 under sync load: Postgres" --mode crash-sync --db "$(pg_db crash_sync)" \
    --runs "$sync_runs" --seconds "$sync_secs" --shoppers "$shoppers" --concurrency "$lanes"

for round in $(seq 1 "$mail_rounds"); do
    crash "kill -9 during email delivery: SQLite (round $round)" --mode crash-mail \
        --db "sqlite://$work/mail-$round.db" --messages "$mails" --smtp-delay-ms "$smtp_delay_ms"
    crash "kill -9 during email delivery: Postgres (round $round)" --mode crash-mail \
        --db "$(pg_db "crash_mail_$round")" --messages "$mails" --smtp-delay-ms "$smtp_delay_ms"
    crash "two replicas on Postgres, one killed mid-delivery (round $round)" --mode crash-mail --replicas 2 \
        --db "$(pg_db "crash_replicas_$round")" --messages "$mails" --smtp-delay-ms "$smtp_delay_ms"
done

step "summary"
"$python" - "$recovery_limit_s" "$out"/[0-9]*.json <<'PY'
import json, sys
limit = float(sys.argv[1])
paths = sorted(sys.argv[2:], key=lambda p: int(p.rsplit("/", 1)[-1].split(".")[0]))
rows = [json.loads(open(p).read().strip().splitlines()[-1]) for p in paths]
bad = []
print(f"{'syncs: db':22} {'runs':>5} {'acknowledged':>13} {'lost':>5} {'failed':>7}")
runs = acked = lost = 0
for r in rows:
    if r["mode"] != "crash-sync":
        continue
    print(f"{r['db']:22} {r['runs']:>5} {r['acknowledged']:>13} {r['lost']:>5} {r['failed']:>7}")
    runs, acked, lost = runs + r["runs"], acked + r["acknowledged"], lost + r["lost"]
    if r["lost"]:
        bad.append(f"{r['db']}: {r['lost']} acknowledged syncs lost")
print(f"{'total':22} {runs:>5} {acked:>13} {lost:>5}")
print()
print(f"{'email: db':22} {'replicas':>8} {'expected':>8} {'delivered':>9} {'lost':>5} {'dups':>5} "
      f"{'not in flight':>13} {'held':>5} {'in flight':>9} {'recovery s':>10}")
totals = [0, 0, 0, 0, 0]
worst = 0.0
for r in rows:
    if r["mode"] != "crash-mail":
        continue
    print(f"{r['db']:22} {r['replicas']:>8} {r['expected']:>8} {r['delivered']:>9} {r['lost']:>5} "
          f"{r['duplicates']:>5} {r['unexplained_duplicates']:>13} {r['held_at_kill']:>5} {r['in_flight']:>9} "
          f"{r['recovery_s']:>10.1f}")
    for i, k in enumerate(["expected", "delivered", "lost", "duplicates", "unexplained_duplicates"]):
        totals[i] += r[k]
    worst = max(worst, r["recovery_s"])
    if r["lost"]:
        bad.append(f"{r['db']} ({r['replicas']} replicas): {r['lost']} emails lost")
    if r["unexplained_duplicates"]:
        bad.append(f"{r['db']} ({r['replicas']} replicas): {r['unexplained_duplicates']} duplicates not in flight")
    if r["recovery_s"] > limit:
        bad.append(f"{r['db']} ({r['replicas']} replicas): leases recovered after {r['recovery_s']} s (> {limit:.0f} s)")
print(f"{'total':22} {'':>8} {totals[0]:>8} {totals[1]:>9} {totals[2]:>5} {totals[3]:>5} {totals[4]:>13} "
      f"{'':>5} {'':>9} {worst:>10.1f} (worst)")
if bad:
    print("\nFAILED:\n  " + "\n  ".join(bad))
    sys.exit(1)
print("\nok: nothing acknowledged was lost; duplicates only of messages in flight at the kill")
PY
