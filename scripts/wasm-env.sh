# shellcheck shell=bash
# scripts/wasm-env.sh — how to build for wasm32 on this machine. Source it, don't run it.
#
# Picks one of two routes (no installs here; scripts/setup-wasm.sh installs what's missing):
#   rustup  — the active rustc ships a wasm32 std (`rustup target add wasm32-unknown-unknown`
#             was done): plain `cargo build --target wasm32-unknown-unknown`.
#   debian  — no wasm32 std: Debian's rustc-web (/usr/bin/rustc) with its std *source*,
#             std built by cargo: RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 ... -Z build-std.
#             See ../shared/TOOLCHAIN.md. Never run `rustup target add` here: it hangs offline.
#
# Defines:
#   WASM_TARGET          wasm32-unknown-unknown
#   WASM_ROUTE           rustup | debian       (override with WAYMARK_WASM_ROUTE)
#   WASM_RUSTC           rustc used for wasm builds
#   WASM_TARGET_DIR      target dir for wasm builds ($CARGO_TARGET_DIR/wasm: keeps the
#                        native dir's build scripts / proc macros from being rebuilt
#                        by another rustc, and vice versa)
#   WASM_CARGO_ARGS      extra cargo args (array): --target ... [-Z build-std=...]
#   wasm_cargo SUBCMD ARGS...   runs `cargo SUBCMD <WASM_CARGO_ARGS> ARGS...` with the env
#   WASM_OUT_DIR         where `--release` artifacts land
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WASM_TARGET=wasm32-unknown-unknown
WASM_DEBIAN_RUSTC="${WASM_DEBIAN_RUSTC:-/usr/bin/rustc}"
WASM_TARGET_DIR="${WASM_TARGET_DIR:-$CARGO_TARGET_DIR/wasm}"
# shellcheck disable=SC2034  # used by scripts that source this file
WASM_OUT_DIR="$WASM_TARGET_DIR/$WASM_TARGET/release"

# True when the active (rustup) rustc has a wasm32 std installed.
wasm_have_real_std() {
    local sysroot
    sysroot="$(rustc --print sysroot 2>/dev/null)" || return 1
    [ -d "$sysroot/lib/rustlib/$WASM_TARGET/lib" ]
}

# True when Debian's rustc-web and its std source are installed.
wasm_have_debian_route() {
    [ -x "$WASM_DEBIAN_RUSTC" ] || return 1
    local sysroot
    sysroot="$("$WASM_DEBIAN_RUSTC" --print sysroot 2>/dev/null)" || return 1
    [ -f "$sysroot/lib/rustlib/src/rust/library/Cargo.lock" ] || return 1
    command -v rust-lld >/dev/null 2>&1
}

if [ -n "${WAYMARK_WASM_ROUTE:-}" ]; then
    WASM_ROUTE="$WAYMARK_WASM_ROUTE"
elif wasm_have_real_std; then
    WASM_ROUTE=rustup
else
    WASM_ROUTE=debian
fi

case "$WASM_ROUTE" in
    rustup)
        WASM_RUSTC="$(command -v rustc)"
        WASM_CARGO_ARGS=(--target "$WASM_TARGET")
        ;;
    debian)
        WASM_RUSTC="$WASM_DEBIAN_RUSTC"
        WASM_CARGO_ARGS=(--target "$WASM_TARGET" -Z "build-std=std,panic_abort")
        ;;
    *) die "WAYMARK_WASM_ROUTE must be 'rustup' or 'debian', not '$WASM_ROUTE'" ;;
esac

wasm_cargo() {
    local sub="$1"
    shift
    if [ "$WASM_ROUTE" = debian ]; then
        CARGO_TARGET_DIR="$WASM_TARGET_DIR" RUSTC="$WASM_RUSTC" RUSTC_BOOTSTRAP=1 \
            cargo "$sub" "${WASM_CARGO_ARGS[@]}" "$@"
    else
        CARGO_TARGET_DIR="$WASM_TARGET_DIR" cargo "$sub" "${WASM_CARGO_ARGS[@]}" "$@"
    fi
}
