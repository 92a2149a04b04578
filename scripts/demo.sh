#!/usr/bin/env bash
# scripts/demo.sh — `make demo`, the README's main command: from a fresh clone,
#   1. builds the npm package (pkg/, scripts/build-pkg.sh) and the backend
#      (cargo build --profile fast --features server),
#   2. starts `waymark serve` on SQLite (out/demo/waymark.db) with the shipped trigger
#      templates and the seed journeys published, the store's catalog imported
#      (examples/catalog/feed.xml) and its past shoppers' browsing synced (www/seed.mjs:
#      what the recommender learns from), and a local SMTP receiver that keeps
#      every email (rendered from examples/email/) in out/demo/mail.jsonl (when python3 has
#      aiosmtpd),
#   3. serves the demo storefront (www/) and prints its URL.
# Ctrl-C stops everything it started.
#
#   scripts/demo.sh             the storefront demo (ports: WAYMARK_DEMO_PORT, default 8000;
#                               WAYMARK_DEMO_BACKEND_PORT, default 8080; a free one if taken)
#   scripts/demo.sh --no-build  skip step 1 (pkg/ and the backend binary must exist)
#                               (data, logs and mail: WAYMARK_DEMO_DIR, default out/demo)
#   scripts/demo.sh replay      replay examples/events.ndjson through the journeys in the
#                               CLI simulator and print every decision (no browser)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

build=1
case "${1:-}" in
    replay)
        step "waymark simulate --journeys templates examples/journeys --events examples/events.ndjson --until 2026-07-01T00:00:00Z"
        exec cargo run --quiet --profile fast --locked -- simulate --journeys templates examples/journeys \
            --events examples/events.ndjson --until 2026-07-01T00:00:00Z
        ;;
    --no-build) build=0 ;;
    "") ;;
    -h|--help) sed -n "2,19p" "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see scripts/demo.sh --help)" ;;
esac

OUT="${WAYMARK_DEMO_DIR:-$REPO_ROOT/out/demo}"
mkdir -p "$OUT"
BIN="${WAYMARK_BIN:-$CARGO_TARGET_DIR/fast/waymark}"  # WAYMARK_BIN: use another build (tests)

command -v node >/dev/null 2>&1 || die "node not found: install Node.js 20 (apt-get install nodejs npm)"

# --- 1. build ------------------------------------------------------------------------------
if [ "$build" = 1 ]; then
    [ -x scripts/build-pkg.sh ] || die "scripts/build-pkg.sh is missing: the npm package build (issue 4) has not landed"
    step "npm package (scripts/build-pkg.sh)"
    scripts/build-pkg.sh
    step "backend (cargo build --profile fast --features server)"
    cargo build --profile fast --locked --features server --bin waymark
fi
[ -f pkg/package.json ] || die "pkg/ is not built: run 'make demo' without --no-build"
[ -x "$BIN" ] || die "$BIN is missing: run 'make demo' without --no-build"

# --- helpers -------------------------------------------------------------------------------
free_port() {
    node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}
port_taken() {
    node -e 'const s=require("net").createServer();s.once("error",()=>process.exit(0));s.listen(+process.argv[1],"127.0.0.1",()=>s.close(()=>process.exit(1)))' "$1"
}
pick_port() {
    if port_taken "$1"; then free_port; else echo "$1"; fi
}
wait_http() { # URL PID NAME LOG
    for _ in $(seq 1 150); do
        kill -0 "$2" 2>/dev/null || { tail -20 "$4" >&2; die "$3 exited during start (log: $4)"; }
        if node -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' "$1" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    die "$3 did not answer $1 within 30s (log: $4)"
}

PIDS=()
cleanup() { # EXIT-STATUS
    local pid rc="$1"
    trap - INT TERM EXIT
    [ "${#PIDS[@]}" -gt 0 ] || exit "$rc"
    printf '\n==> stopping the demo\n'
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    info "stopped. Data kept in $OUT (delete it for a fresh start)"
    exit "$rc"
}
trap 'cleanup 0' INT TERM
trap 'cleanup $?' EXIT

# Secrets of this demo install, kept so a restart keeps tokens and data valid.
if [ ! -f "$OUT/secrets.env" ]; then
    umask 077
    {
        echo "WAYMARK_ADMIN_TOKEN=demo-admin-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
        echo "WAYMARK_TOKEN_SECRET=demo-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    } >"$OUT/secrets.env"
fi
set -a
# shellcheck disable=SC1091
source "$OUT/secrets.env"
set +a

# --- 2. SMTP receiver + backend ----------------------------------------------------------------
smtp_args=()
if python3 -c 'import aiosmtpd' 2>/dev/null; then
    smtp_port="$(free_port)"
    python3 tests/e2e/smtp_sink.py --port "$smtp_port" --out "$OUT/mail.jsonl" >"$OUT/smtp.log" 2>&1 &
    PIDS+=($!)
    smtp_args=(--smtp-url "smtp://127.0.0.1:$smtp_port" --mail-from "shop@northwind.test"
        --email-templates examples/email)
else
    warn "python3 has no aiosmtpd (pip install aiosmtpd): emails will stay queued in the outbox"
fi

# The store's products as its catalog (a full replace: unchanged on a second run), before
# the server opens the same SQLite file.
"$BIN" catalog import examples/catalog/feed.xml --db "sqlite://$OUT/waymark.db" >"$OUT/catalog.log" 2>&1 \
    || { cat "$OUT/catalog.log" >&2; die "waymark catalog import examples/catalog/feed.xml failed"; }

backend_port="$(pick_port "${WAYMARK_DEMO_BACKEND_PORT:-8080}")"
step "waymark serve on 127.0.0.1:$backend_port (SQLite: out/demo/waymark.db; journeys: templates/ + examples/journeys/)"
"$BIN" serve --db "sqlite://$OUT/waymark.db" --listen "127.0.0.1:$backend_port" \
    --journeys templates,examples/journeys "${smtp_args[@]}" >"$OUT/backend.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$backend_port/healthz" "${PIDS[-1]}" backend "$OUT/backend.log"

# The store's past shoppers (views, carts, orders), synced like browsers sync: without a
# history the recommender has nothing to show with the nudge and the offer.
if node www/seed.mjs --backend "http://127.0.0.1:$backend_port" >"$OUT/seed.log" 2>&1; then
    info "$(tail -1 "$OUT/seed.log")"
else
    warn "www/seed.mjs failed (see $OUT/seed.log): the nudge and the offer will show few or no products"
fi

# --- 3. storefront -------------------------------------------------------------------------------
port="$(pick_port "${WAYMARK_DEMO_PORT:-8000}")"
node www/server.mjs --port "$port" --backend "http://127.0.0.1:$backend_port" >"$OUT/storefront.log" 2>&1 </dev/null &
PIDS+=($!)
wait_http "http://127.0.0.1:$port/css/style.css" "${PIDS[-1]}" storefront "$OUT/storefront.log"

url="http://127.0.0.1:$port/"
step "waymark demo is running"
info "storefront:   $url"
info "debug panel:  ${url}?debug=1   (or press D on any page)"
info "backend:      http://127.0.0.1:$backend_port  (/healthz, /metrics, /v1/openapi.json)"
[ "${#smtp_args[@]}" -gt 0 ] && info "emails:       out/demo/mail.jsonl"
info "logs:         out/demo/*.log"
info "Try: open Shoes, view a product -> a nudge with recommended products; two more ->"
info "the on-site offer; the home page lists what you viewed. Add to cart and sign in with"
info "email consent -> a cart reminder is scheduled (and suppressed by the offer)."
info "Ctrl-C stops everything."
printf '\nDEMO_URL=%s\n' "$url"

# Wait until Ctrl-C, or until one of the processes dies.
while :; do
    for pid in "${PIDS[@]}"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            warn "a demo process ($pid) exited; see out/demo/*.log"
            exit 1
        fi
    done
    sleep 1
done
