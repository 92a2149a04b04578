#!/usr/bin/env bash
# scripts/check-wasm.sh — compile the library for wasm32 without the native-only parts
# (default features off: no CLI, no server) and print the size of the .wasm.
#
# It is a compile proof: the crate has no wasm-bindgen API yet, so the module exports
# nothing useful and its size says little until src/wasm/mod.rs exists. The cdylib is asked
# for with `cargo rustc --crate-type cdylib`, so it works whatever crate-type Cargo.toml
# lists (cdylib in [lib] makes every native build link an extra .so for nothing).
set -euo pipefail
# shellcheck source=scripts/setup-wasm.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup-wasm.sh"

step "cargo rustc --lib --crate-type cdylib --no-default-features --release --target $WASM_TARGET ($WASM_ROUTE route)"
cd "$REPO_ROOT"
wasm_cargo rustc --quiet --lib --crate-type cdylib --no-default-features --release --locked \
    || die "wasm32 build failed (route: $WASM_ROUTE, rustc: $("$WASM_RUSTC" --version)).
       - Code errors: the engine must build without default features for $WASM_TARGET
         (no std::fs/net/thread/process/time::SystemTime, no tokio/axum/clap).
       - \"can't find crate for core/std\": no wasm32 std for that rustc. Don't follow rustc's
         'rustup target add' hint on machines without general internet: it hangs. Unset
         WAYMARK_WASM_ROUTE so scripts/setup-wasm.sh picks Debian's rustc-web.
       Toolchain notes: ../shared/TOOLCHAIN.md"

wasm="$WASM_OUT_DIR/waymark.wasm"
[ -f "$wasm" ] || die "build succeeded but $wasm is missing"
raw=$(wc -c <"$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
info "$(printf '%s: %d bytes raw (%.1f KiB), %d bytes gzip -9 (%.1f KiB)' \
    "${wasm#"$REPO_ROOT"/}" "$raw" "$(awk -v b="$raw" 'BEGIN{print b/1024}')" \
    "$gz" "$(awk -v b="$gz" 'BEGIN{print b/1024}')")"
