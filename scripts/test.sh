#!/usr/bin/env bash
# scripts/test.sh — the whole test suite; `make test` and CI (.ci/run) run this.
#
#   scripts/test.sh                 all sections, in order, stop at the first failure
#   scripts/test.sh clippy test     only the named sections (same order as given)
#   scripts/test.sh --list          list sections
#
# Each section is a function `section_<name>` below; to add one (node tests of the wasm
# package, server tests against Postgres, browser e2e, ...), write the function and add
# its name to SECTIONS. Sections must be idempotent and must not prompt (CI has no stdin).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

SECTIONS=(setup lockfile fmt clippy clippy-no-default test fuzz server crash wasm node worker e2e)

# Installs what a fresh machine lacks (rustfmt/clippy, Debian rustc-web for wasm32);
# a no-op when present.
section_setup() {
    "$REPO_ROOT/scripts/setup.sh"
}

# Every cargo call below uses --locked: CI tests exactly the committed dependency versions.
section_lockfile() {
    cargo metadata --locked --format-version 1 >/dev/null \
        || die "Cargo.lock is out of date with Cargo.toml: run 'cargo update --workspace' (or any
       cargo build) and commit Cargo.lock"
}

section_fmt() {
    local color=never
    [ -t 1 ] && color=auto
    cargo fmt --all --check -- --color="$color" \
        || die "cargo fmt --check: files above are not formatted; run 'cargo fmt' and commit"
}

section_clippy() {
    # Default features (the CLI) and the backend (feature `server`, a superset).
    cargo clippy --quiet --locked --all-targets -- -D warnings
    cargo clippy --quiet --locked --all-targets --features server -- -D warnings
}

# The engine as the wasm build sees it: no default features (no CLI, no server).
section_clippy-no-default() {
    cargo clippy --quiet --locked --lib --no-default-features -- -D warnings
}

section_test() {
    # Plain `cargo test`: unit, integration, doc tests. CI reads its "test result:" lines.
    cargo test --locked
}

# The cargo-fuzz targets (fuzz/), about 20 s each after replaying every regression and
# corpus input once; a crash fails the section and is saved in fuzz/regressions/.
section_fuzz() {
    "$REPO_ROOT/scripts/fuzz.sh" --short
}

# The backend (feature `server`): API tests, the catalog's feed cases, API and CLI, the
# storage scenarios on SQLite (temp files), the same scenarios on a throwaway Postgres
# cluster (scripts/pg-test.sh, loopback, unprivileged user), a real SMTP receiver (Python
# aiosmtpd) and a local webhook receiver; the recommender's cases and its reference check
# against Python's implicit; the purchase-history models' cases, their check against
# simulated customers, and CDNOW (the published estimates, and every customer against
# Python's lifetimes; the data comes from the lifetimes wheel, see ensure_cdnow); the
# intent fit on a simulated shop of 50,000 sessions, against scikit-learn; then the
# catalog bench's short mode on both databases (bench/catalog.sh on the debug build,
# about 20 s) and the audience sweep's (bench/sweep.sh, 20k shoppers, a few seconds), so
# the benches cannot rot.
section_server() {
    ensure_aiosmtpd
    ensure_implicit
    ensure_lifetimes
    ensure_sklearn
    ensure_cdnow
    info "CDNOW: $WAYMARK_CDNOW"
    local pgdir
    pgdir="$(mktemp -d "${TMPDIR:-/tmp}/waymark-pg.XXXXXX")"
    # shellcheck disable=SC2064
    trap "'$REPO_ROOT/scripts/pg-test.sh' stop '$pgdir'" EXIT
    WAYMARK_TEST_PG="$("$REPO_ROOT/scripts/pg-test.sh" start "$pgdir")"
    export WAYMARK_TEST_PG
    info "postgres: $WAYMARK_TEST_PG"
    RUST_LOG="${RUST_LOG:-warn}" cargo test --locked --features server \
        --lib --test server_api --test server_bad_input --test server_sqlite --test server_postgres --test smtp \
        --test catalog --test server_catalog --test recommend_cases --test recommend_reference \
        --test predict_cases --test predict_simulation --test predict_cdnow --test intent_fit
    SHORT=1 PROFILE=debug "$REPO_ROOT/bench/catalog.sh"
    SHORT=1 PROFILE=debug "$REPO_ROOT/bench/sweep.sh"
}

# The crash suite, short mode: kill -9 the real server under sync load (SQLite FULL and
# NORMAL, Postgres) and during email delivery (one replica restarted; two replicas on
# Postgres), then count lost syncs and lost / duplicate emails (scripts/crash.sh).
section_crash() {
    "$REPO_ROOT/scripts/crash.sh" --short
}

section_wasm() {
    "$REPO_ROOT/scripts/check-wasm.sh"
}

# The npm package: build pkg/ (scripts/build-pkg.sh), then Node's test runner against it:
# the JS API, and determinism against the native CLI on every scenario file.
section_node() {
    command -v node >/dev/null 2>&1 || die "node not found: install Node.js >= 18 (apt-get install nodejs npm)"
    "$REPO_ROOT/scripts/build-pkg.sh"
    # TypeScript checks index.d.ts (tests/node/types.test.mjs); a checkout whose tools
    # predate it has binaryen only.
    if [ ! -f "$REPO_ROOT/scripts/js/node_modules/typescript/package.json" ]; then
        (cd "$REPO_ROOT/scripts/js" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci in scripts/js failed"
    fi
    cargo build --quiet --locked --bin waymark
    WAYMARK_BIN="$CARGO_TARGET_DIR/debug/waymark" node --test "$REPO_ROOT"/tests/node/*.test.mjs
}

# Browser end-to-end: the demo storefront (www/) in headless Chromium against the npm
# package built from this checkout, a real `waymark serve` on SQLite and a real SMTP
# receiver (tests/e2e/); plus the README's `make demo` (start, URL, Ctrl-C). Installs
# what is missing: Debian chromium, python aiosmtpd, www/node_modules (playwright-core).
# Screenshots: out/screenshots/; process and console logs: out/e2e/.
section_e2e() {
    if [ ! -x /usr/bin/chromium ]; then
        info "installing Debian chromium (headless browser for the e2e tests)"
        as_root apt-get update -q
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-dejavu-core </dev/null
    fi
    ensure_aiosmtpd
    if [ ! -f www/node_modules/playwright-core/package.json ]; then
        (cd www && npm ci --no-audit --no-fund --loglevel=error)
    fi
    scripts/build-pkg.sh
    # The debug build the server and worker sections use: no second (LTO) build of the backend.
    cargo build --quiet --locked --features server --bin waymark
    # One file at a time: the files share loopback ports and the machine's two cores.
    WAYMARK_BIN="$CARGO_TARGET_DIR/debug/waymark" node --test --test-concurrency=1 tests/e2e/
}

# The edge worker in real workerd (npm `workerd`), in front of the test origin, syncing with
# `waymark serve` on SQLite (tests/worker/). Reuses pkg/ when the node section built it.
section_worker() {
    command -v node >/dev/null 2>&1 || die "node not found: install Node.js >= 18 (apt-get install nodejs npm)"
    # `npm install`, not `npm ci`: the registry here lacks workerd's other-platform optional
    # packages at this version, so the lock file cannot list them and `npm ci` refuses it.
    (cd "$REPO_ROOT/worker" && npm install --no-audit --no-fund --loglevel=error)
    # npm 11 skips workerd's install script; its binary comes from @cloudflare/workerd-linux-64.
    "$REPO_ROOT/worker/node_modules/.bin/workerd" --version >/dev/null \
        || die "workerd does not run: see worker/README.md (npm install in worker/)"
    # pkg/ as the node section left it, unless missing or older than the sources.
    local wasm="$REPO_ROOT/pkg/web/waymark_bg.wasm"
    if [ ! -f "$wasm" ] || [ -n "$(find "$REPO_ROOT/src" "$REPO_ROOT/Cargo.lock" "$REPO_ROOT/pkg-template" \
            -newer "$wasm" -type f -print -quit)" ]; then
        "$REPO_ROOT/scripts/build-pkg.sh"
    fi
    cargo build --quiet --locked --features server --bin waymark
    local bin="$CARGO_TARGET_DIR/debug/waymark"
    "$bin" serve --help >/dev/null 2>&1 || die "$bin has no 'serve' command (feature server)"
    node "$REPO_ROOT/worker/build.mjs" --pkg "$REPO_ROOT/pkg" --waymark "$bin"
    WAYMARK_BIN="$bin" node --test "$REPO_ROOT"/tests/worker/*.test.mjs
}

case "${1:-}" in
    --list) printf '%s\n' "${SECTIONS[@]}"; exit 0 ;;
    -h|--help) sed -n "2,10p" "$REPO_ROOT/scripts/test.sh" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
[ "$#" -gt 0 ] && SECTIONS=("$@")

step "waymark tests: ${SECTIONS[*]}"
info "$(cargo --version), $(rustc --version)"
info "target dir: $CARGO_TARGET_DIR"
# Where tests/conditions.rs looks for GrowthBook's cases (WAYMARK_SHARED_DIR, when set, only).
if [ -n "${WAYMARK_SHARED_DIR:-}" ]; then shared_dirs=("$WAYMARK_SHARED_DIR"); else shared_dirs=("$REPO_ROOT/../shared" "$REPO_ROOT/../../shared"); fi
found_conformance=0
for d in "${shared_dirs[@]}"; do [ -f "$d/conformance/growthbook-cases.json" ] && found_conformance=1; done
[ "$found_conformance" -eq 1 ] \
    || info "note: shared/conformance not found: the conformance test reports as ignored (and fails under CI)"
run_sections "${SECTIONS[@]}"
