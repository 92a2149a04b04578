#!/usr/bin/env bash
# scripts/build-pkg.sh — `make pkg`: build the npm package in pkg/ from a fresh clone.
#
#   1. the library for wasm32 (no default features), through scripts/setup-wasm.sh's
#      route: a real wasm32 std when installed, else Debian rustc-web + -Z build-std;
#   2. wasm-bindgen (the CLI at the exact version Cargo.lock names; installed if missing)
#      for the web (browser, workers), nodejs and bundler targets;
#   3. wasm-opt -Oz from npm's binaryen (scripts/js/; never Debian's 108: its output
#      fails to load);
#   4. pkg/ = pkg-template/ (package.json, index.d.ts, the JS API, README) + pkg/{web,node,bundler}/.
#
# Why not wasm-pack: it insists on crate-type cdylib in Cargo.toml (every native build
# would link a useless .so), checks the target through rustup (which hangs offline
# here unless --mode force), and would run one cargo build per target. These four
# steps are what it would do, with the toolchain this machine has.
#
# Env:
#   WAYMARK_PANIC   immediate-abort (default on the Debian route: panics become bare traps,
#                   smaller module; the engine never panics by design) | abort
#   WAYMARK_OPT_LEVEL  rustc opt-level for this build (default: Cargo.toml's release "s";
#                   "z" is ~15% smaller gzipped and slower)
#   PKG_DIR         output directory (default: $REPO_ROOT/pkg)
set -euo pipefail
# shellcheck source=scripts/setup-wasm.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup-wasm.sh"
cd "$REPO_ROOT"

PKG_DIR="${PKG_DIR:-$REPO_ROOT/pkg}"
# Its own target dir: other rustflags than scripts/check-wasm.sh, so the two builds
# don't invalidate each other.
WASM_TARGET_DIR="$CARGO_TARGET_DIR/wasm-pkg"
WASM_OUT_DIR="$WASM_TARGET_DIR/$WASM_TARGET/release"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
TOOLS_DIR="$REPO_ROOT/scripts/js"

# --- 1. cargo ------------------------------------------------------------------------
panic="${WAYMARK_PANIC:-}"
if [ -z "$panic" ]; then
    # immediate-abort needs a std built with it: only the build-std route has one.
    if [ "$WASM_ROUTE" = debian ]; then panic=immediate-abort; else panic=abort; fi
fi
rustflags=()
case "$panic" in
    immediate-abort) rustflags=(-Zunstable-options -Cpanic=immediate-abort) ;;
    abort) ;;
    *) die "WAYMARK_PANIC must be immediate-abort or abort, not '$panic'" ;;
esac

step "cargo rustc --crate-type cdylib --no-default-features --release ($WASM_ROUTE route, panic=$panic)"
t0=$SECONDS
[ -n "${WAYMARK_OPT_LEVEL:-}" ] && export CARGO_PROFILE_RELEASE_OPT_LEVEL="$WAYMARK_OPT_LEVEL"
RUSTFLAGS="${rustflags[*]}" wasm_cargo rustc --quiet --lib --crate-type cdylib --no-default-features --release --locked \
    || die "wasm32 build failed (route: $WASM_ROUTE). See scripts/check-wasm.sh's hints and ../shared/TOOLCHAIN.md"
raw_wasm="$WASM_OUT_DIR/waymark.wasm"
[ -f "$raw_wasm" ] || die "build succeeded but $raw_wasm is missing"
info "built in $((SECONDS - t0))s: $(wc -c <"$raw_wasm") bytes before wasm-bindgen"

# --- 2. wasm-bindgen CLI at the crate's exact version ----------------------------------
want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
[ -n "$want" ] || die "no wasm-bindgen in Cargo.lock"
wasm_bindgen="$(command -v wasm-bindgen || echo "$CARGO_BIN/wasm-bindgen")"
have="$("$wasm_bindgen" --version 2>/dev/null | awk '{ print $2 }' || true)"
step "wasm-bindgen CLI $want"
if [ "$have" != "$want" ]; then
    info "installing wasm-bindgen-cli $want (found: ${have:-none}); about 6 minutes"
    # --locked first (the versions its authors tested); without it when the registry
    # lacks one of those exact versions.
    cargo install --quiet wasm-bindgen-cli --version "=$want" --locked --force \
        || cargo install --quiet wasm-bindgen-cli --version "=$want" --force \
        || die "cargo install wasm-bindgen-cli --version =$want failed"
    wasm_bindgen="$CARGO_BIN/wasm-bindgen"
fi
info "$("$wasm_bindgen" --version)"

# --- 3. wasm-opt from npm's binaryen -----------------------------------------------------
wasm_opt="$TOOLS_DIR/node_modules/.bin/wasm-opt"
if ! "$wasm_opt" --version >/dev/null 2>&1; then
    step "npm ci (scripts/js: binaryen)"
    command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js 20 (apt-get install nodejs npm)"
    (cd "$TOOLS_DIR" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci in scripts/js failed"
fi

# --- 4. bindings per target, optimized, into pkg/ -----------------------------------------
step "wasm-bindgen + wasm-opt -Oz → ${PKG_DIR#"$REPO_ROOT"/}/"
rm -rf "$PKG_DIR"
mkdir -p "$PKG_DIR"
cp -R "$REPO_ROOT/pkg-template/." "$PKG_DIR/"
version="$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)"
sed -i "s/\"version\": \"0.0.0-template\"/\"version\": \"$version\"/" "$PKG_DIR/package.json"

for pair in web:web nodejs:node bundler:bundler; do
    target="${pair%%:*}"
    dir="$PKG_DIR/${pair#*:}"
    "$wasm_bindgen" --target "$target" --out-dir "$dir" --out-name waymark \
        --remove-name-section --remove-producers-section "$raw_wasm" \
        || die "wasm-bindgen --target $target failed"
done
# The nodejs glue is CommonJS inside an ESM package.
printf '{ "type": "commonjs" }\n' >"$PKG_DIR/node/package.json"

# The three targets' modules differ only in their import module names: optimize each.
for dir in web node bundler; do
    "$wasm_opt" -Oz "$PKG_DIR/$dir/waymark_bg.wasm" -o "$PKG_DIR/$dir/waymark_bg.wasm" \
        || die "wasm-opt -Oz failed on $dir/waymark_bg.wasm"
done

wasm="$PKG_DIR/web/waymark_bg.wasm"
raw=$(wc -c <"$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
info "$(printf 'pkg/web/waymark_bg.wasm: %d bytes raw (%.1f KiB), %d bytes gzip -9 (%.1f KiB)' \
    "$raw" "$(awk -v b="$raw" 'BEGIN{print b/1024}')" "$gz" "$(awk -v b="$gz" 'BEGIN{print b/1024}')")"
info "package: ${PKG_DIR#"$REPO_ROOT"/} (waymark $version)"
