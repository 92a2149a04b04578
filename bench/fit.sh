#!/usr/bin/env bash
# bench/fit.sh — the purchase-history fit at shop scale, on SQLite and on Postgres:
# CUSTOMERS customers with about ORDERS orders between them (drawn from a BG/NBD process
# with CDNOW-like parameters, seeded: the same file every run) are backfilled with
# `waymark orders import`, then `waymark fit orders` fits, checks the holdout and writes
# every customer's `predicted` trait. Prints the time of each step and the fit's
# parameters next to the ones the orders were drawn from.
#
#   bench/fit.sh                     both databases, 100k customers, ~1M orders
#   bench/fit.sh sqlite              one of them (sqlite | postgres)
#   SHORT=1 bench/fit.sh             5k customers, ~50k orders
#   PROFILE=debug bench/fit.sh       the debug build the test suite has
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$REPO_ROOT"

if [ "${SHORT:-0}" = 1 ]; then customers="${CUSTOMERS:-5000}"; else customers="${CUSTOMERS:-100000}"; fi
profile="${PROFILE:-fast}"
dbs="${1:-all}"
case "$dbs" in all | sqlite | postgres) ;; *) die "usage: bench/fit.sh [sqlite|postgres]" ;; esac
case "$profile" in fast | debug) ;; *) die "PROFILE is fast or debug" ;; esac

step "building waymark (profile $profile)"
if [ "$profile" = fast ]; then
    cargo build --locked --quiet --profile fast --features server --bin waymark
else
    cargo build --locked --quiet --features server --bin waymark
fi
bin="$CARGO_TARGET_DIR/$profile/waymark"
work="$(mktemp -d "${TMPDIR:-/tmp}/waymark-fit.XXXXXX")"
pgdir="$(mktemp -d "${TMPDIR:-/tmp}/waymark-fit-pg.XXXXXX")"
cleanup() { "$REPO_ROOT/scripts/pg-test.sh" stop "$pgdir" || true; rm -rf "$work"; }
trap cleanup EXIT

step "drawing the orders of $customers customers"
# BG/NBD: each customer buys at rate λ ~ Gamma(r = 0.9, α = 4) (per week) and drops out
# after each purchase with p ~ Beta(a = 0.3, b = 3) — about ten orders a customer; first purchases spread over the first 12 weeks of a
# 78-week history; an order's value ~ Gamma(p, ν) with ν ~ Gamma(q, v) per customer
# (Gamma-Gamma at CDNOW's p, q, v). The fit runs after week 78.
python3 - "$customers" >"$work/orders.csv" <<'PY'
import random, sys, datetime
random.seed(7)
r, alpha, a, b = 0.9, 4.0, 0.3, 3.0
n = int(sys.argv[1])
start = datetime.datetime(2025, 1, 1)
print("order_id,customer_id,time,value")
k = 0
for c in range(n):
    lam = random.gammavariate(r, 1 / alpha)
    p = random.betavariate(a, b)
    nu = random.gammavariate(3.74, 1 / 15.45)
    t = random.uniform(0, 12)
    while t < 78:
        k += 1
        value = round(random.gammavariate(6.25, 1 / nu), 2)
        when = start + datetime.timedelta(weeks=t)
        print(f"o{k},c{c},{when:%Y-%m-%dT%H:%M:%SZ},{value}")
        if random.random() < p or lam <= 0:
            break
        t += random.expovariate(lam) if lam > 0 else 1e9
PY
orders=$(($(wc -l <"$work/orders.csv") - 1))
now="2026-06-30T00:00:00Z"
info "$orders orders; fitting at $now"

run() {
    local name="$1" db="$2"
    step "$name"
    local t0 t1 t2 t3
    t0=$(date +%s.%N)
    WAYMARK_DB="$db" "$bin" orders import "$work/orders.csv" >"$work/$name-import.txt"
    t1=$(date +%s.%N)
    WAYMARK_DB="$db" "$bin" fit orders --dry-run --now "$now" >"$work/$name-dry.json"
    t2=$(date +%s.%N)
    WAYMARK_DB="$db" "$bin" fit orders --now "$now" >"$work/$name-fit.json"
    t3=$(date +%s.%N)
    python3 - "$name" "$t0" "$t1" "$t2" "$t3" "$work/$name-fit.json" "$(cat "$work/$name-import.txt")" <<'PY'
import json, sys
name, t0, t1, t2, t3, path, imported = sys.argv[1:8]
t0, t1, t2, t3 = map(float, (t0, t1, t2, t3))
report = json.load(open(path))
m = report.get("bgnbd") or {}
g = report.get("gamma_gamma") or {}
print(f"{name}: {imported}")
print(f"  import {t1 - t0:.1f} s; fit (read, fit, holdout fit) {t2 - t1:.1f} s; fit + {report['written']} traits written {t3 - t2:.1f} s")
print(f"  BG/NBD r={m.get('r', float('nan')):.3f} alpha={m.get('alpha_days', float('nan')) / 7:.3f} a={m.get('a', float('nan')):.3f} b={m.get('b', float('nan')):.3f}  (drawn from 0.9 4.0 0.3 3.0)")
print(f"  Gamma-Gamma p={g.get('p', float('nan')):.2f} q={g.get('q', float('nan')):.2f} v={g.get('v', float('nan')):.2f}")
print(f"  holdout: {json.dumps(report.get('holdout'))}")
if report.get("not_fitted"):
    sys.exit(f"{name}: not fitted: {report['not_fitted']}")
PY
}

[ "$dbs" != postgres ] && run sqlite "sqlite://$work/fit.db"
if [ "$dbs" != sqlite ]; then
    base="$(PG_EXTRA_OPTS="-c fsync=on -c synchronous_commit=on" "$REPO_ROOT/scripts/pg-test.sh" start "$pgdir")"
    run postgres "$base/postgres"
fi
