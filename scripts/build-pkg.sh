#!/usr/bin/env bash
# scripts/build-pkg.sh — `make pkg`: build the npm package in pkg/ from a fresh clone.
#
#   1. the library for wasm32 (no default features), twice, through scripts/setup-wasm.sh's
#      route (a real wasm32 std when installed, else Debian rustc-web + -Z build-std):
#      "slim" (binary bundles only: what browsers, workers and bundlers download) and
#      "full" (+ feature json-bundles: `Engine.fromJson` validates and compiles JSON
#      bundles; for Node and the `waymark/full` entry);
#   2. wasm-bindgen (the CLI at the exact version Cargo.lock names; installed if missing):
#      slim for the web (browser, workers) and bundler targets, full for nodejs and web;
#   3. wasm-opt -O3 from npm's binaryen (scripts/js/; never Debian's 108: its output
#      fails to load);
#   4. pkg/ = pkg-template/ (package.json, index.d.ts, the JS API, README) +
#      pkg/{web,bundler}/ (slim) + pkg/{node,full}/ (full) + pkg/templates/ (the trigger
#      templates, templates/*.json, for the README's JSON route).
#
# Why not wasm-pack: it insists on crate-type cdylib in Cargo.toml (every native build
# would link a useless .so), checks the target through rustup (which hangs offline
# here unless --mode force), and would run one cargo build per target. These four
# steps are what it would do, with the toolchain this machine has.
#
# Env:
#   WAYMARK_PANIC   immediate-abort (default on the Debian route: panics become bare traps,
#                   smaller module; the engine never panics by design) | abort
#   WAYMARK_OPT_LEVEL  rustc opt-level for both wasm builds (default: z slim, s full)
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
# -O3, not -Oz: rustc already built the code for size (opt-level z); binaryen's speed
# passes on top made `track` about 3% faster for 34 bytes gzipped (measured on the slim
# module, alternating in one process).
# --strip-target-features: the target_features section is build metadata no engine reads.
# --low-memory-unused: lets wasm-opt fold constant offsets into loads and stores (−400 B
# gzipped). Sound here because rustc links wasm32 with --stack-first: addresses below
# 1 MiB are the stack, growing down, so its lowest KiB is reached only one frame before a
# stack overflow; data and heap start above it (test: the module's data segments and
# __stack_pointer, checked before optimizing).
WASM_OPT_FLAGS=(-O3 --strip-target-features --low-memory-unused)

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

# opt-level per module (native release keeps Cargo.toml's "s"): the slim module is what
# every storefront page downloads, so "z" (measured 150 → 133 KiB gzipped; track about
# 1 µs slower); the full module serves Node, where size matters less than speed: "s".
SLIM_OPT_LEVEL="${WAYMARK_OPT_LEVEL:-z}"
FULL_OPT_LEVEL="${WAYMARK_OPT_LEVEL:-s}"
# build_module NAME OPT_LEVEL [cargo args...]: one cdylib, copied to $WASM_TARGET_DIR/NAME.wasm (the
# two builds share the target dir, dependencies and std; only waymark itself differs).
build_module() {
    local name="$1" opt="$2"
    shift 2
    step "cargo rustc --crate-type cdylib --no-default-features --release $* ($name, opt-level $opt; $WASM_ROUTE route, panic=$panic)"
    local t0=$SECONDS
    CARGO_PROFILE_RELEASE_OPT_LEVEL="$opt" RUSTFLAGS="${rustflags[*]}" wasm_cargo rustc --quiet --lib --crate-type cdylib --no-default-features --release --locked "$@" \
        || die "wasm32 build failed (route: $WASM_ROUTE). See scripts/check-wasm.sh's hints and ../shared/TOOLCHAIN.md"
    [ -f "$WASM_OUT_DIR/waymark.wasm" ] || die "build succeeded but $WASM_OUT_DIR/waymark.wasm is missing"
    cp "$WASM_OUT_DIR/waymark.wasm" "$WASM_TARGET_DIR/$name.wasm"
    info "built in $((SECONDS - t0))s: $(wc -c <"$WASM_TARGET_DIR/$name.wasm") bytes before wasm-bindgen"
}
# Size flags for the slim module, where the build uses a nightly-capable rustc (Debian
# route): Debug formatting compiled out (-Zfmt-debug=none: slim-reachable messages
# never use `{:?}`) and no source locations. (std's optimize_for_size saved only 0.8 KiB
# gzipped more and made `track` about 15% slower: not used.) The full module keeps
# Debug: its journey diagnostics quote values with `{:?}`.
slim_flags=()
if [ "$WASM_ROUTE" = debian ] && [ "${WAYMARK_SLIM_SIZE_FLAGS:-1}" = 1 ]; then
    slim_flags=(-Zfmt-debug=none -Zlocation-detail=none)
fi
full_rustflags=("${rustflags[@]}")
rustflags+=("${slim_flags[@]}")
build_module slim "$SLIM_OPT_LEVEL"
rustflags=("${full_rustflags[@]}")
build_module full "$FULL_OPT_LEVEL" --features json-bundles

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
step "wasm-bindgen + wasm-opt ${WASM_OPT_FLAGS[0]} → ${PKG_DIR#"$REPO_ROOT"/}/"
rm -rf "$PKG_DIR"
mkdir -p "$PKG_DIR"
cp -R "$REPO_ROOT/pkg-template/." "$PKG_DIR/"
mkdir -p "$PKG_DIR/templates"
cp "$REPO_ROOT"/templates/*.json "$PKG_DIR/templates/"
version="$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)"
sed -i "s/\"version\": \"0.0.0-template\"/\"version\": \"$version\"/" "$PKG_DIR/package.json"

# module:target:dir
for triple in slim:web:web slim:bundler:bundler full:nodejs:node full:web:full; do
    module="${triple%%:*}"
    rest="${triple#*:}"
    target="${rest%%:*}"
    dir="$PKG_DIR/${rest#*:}"
    "$wasm_bindgen" --target "$target" --out-dir "$dir" --out-name waymark \
        --remove-name-section --remove-producers-section "$WASM_TARGET_DIR/$module.wasm" \
        || die "wasm-bindgen --target $target ($module) failed"
done
# The nodejs glue is CommonJS inside an ESM package.
printf '{ "type": "commonjs" }\n' >"$PKG_DIR/node/package.json"

# --low-memory-unused holds only while nothing lives below 1 KiB: every data segment and
# the stack pointer's start must be above it (rustc's --stack-first layout).
lowest="$("$wasm_opt" -all --print "$PKG_DIR/web/waymark_bg.wasm" 2>/dev/null \
    | grep -oE '^ \((data \$[^ ]+|global \$global\$0 \(mut i32\)) \(i32\.const [0-9]+\)' \
    | grep -oE '[0-9]+\)$' | tr -d ')' | sort -n | head -1)"
[ -n "$lowest" ] && [ "$lowest" -ge 1024 ] \
    || die "the slim module places data or its stack below 1 KiB (lowest address: ${lowest:-none found}): drop --low-memory-unused from WASM_OPT_FLAGS"

# The targets' modules differ only in their import module names: optimize each.
for dir in web bundler node full; do
    "$wasm_opt" "${WASM_OPT_FLAGS[@]}" "$PKG_DIR/$dir/waymark_bg.wasm" -o "$PKG_DIR/$dir/waymark_bg.wasm" \
        || die "wasm-opt ${WASM_OPT_FLAGS[*]} failed on $dir/waymark_bg.wasm"
done

for dir in web full; do
    wasm="$PKG_DIR/$dir/waymark_bg.wasm"
    raw=$(wc -c <"$wasm")
    gz=$(gzip -9 -c "$wasm" | wc -c)
    info "$(printf 'pkg/%s/waymark_bg.wasm: %d bytes raw (%.1f KiB), %d bytes gzip -9 (%.1f KiB)' \
        "$dir" "$raw" "$(awk -v b="$raw" 'BEGIN{print b/1024}')" "$gz" "$(awk -v b="$gz" 'BEGIN{print b/1024}')")"
done
info "package: ${PKG_DIR#"$REPO_ROOT"/} (waymark $version)"
