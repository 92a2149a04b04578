#!/usr/bin/env bash
# scripts/setup-wasm.sh — make a wasm32-unknown-unknown build possible on this machine.
#
# Route "rustup": the active rustc already has a wasm32 std → nothing to install.
# Route "debian": install Debian's rustc-web + rust-web-src + libstd-rust-web-dev (+ rust-web-llvm
#   for rust-lld) so cargo can build std for wasm32 with -Z build-std. Idempotent: a no-op
#   (well under a second) when they are installed. See ../shared/TOOLCHAIN.md.
#
# Never runs `rustup target add`: it hangs on machines without general internet access.
#
# Env:
#   RUST_WEB_VERSION    Debian version to pin (default below). If it no longer installs
#                       (the security archive moved on), the version `apt-cache policy
#                       rustc-web` offers is installed instead.
#   WAYMARK_WASM_ROUTE  force rustup | debian.
set -euo pipefail
# shellcheck source=scripts/wasm-env.sh
source "$(dirname "${BASH_SOURCE[0]}")/wasm-env.sh"

RUST_WEB_VERSION="${RUST_WEB_VERSION:-1.96.0+dfsg1-1~deb12u2}"
RUST_WEB_PACKAGES=(rustc-web rust-web-src libstd-rust-web-dev rust-web-llvm)
APT_OPTS=(-y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
# Testing aid: WAYMARK_APT_SIMULATE=1 walks the install path with `apt-get -s` (changes nothing).
[ "${WAYMARK_APT_SIMULATE:-0}" = 1 ] && APT_OPTS+=(-s)
APT_LOG="${TMPDIR:-/tmp}/waymark-apt.log"

apt_get() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" "$@" >>"$APT_LOG" 2>&1
}

# Version apt would install for rustc-web ("" if none).
candidate_version() {
    apt-cache policy rustc-web 2>/dev/null | awk '/Candidate:/ { print $2 }' | sed 's/(none)//'
}

# True when apt's package lists know the given rustc-web version.
apt_knows_version() {
    apt-cache madison rustc-web 2>/dev/null | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' \
        | grep -qxF "$1"
}

install_with_version() {
    local v="$1" p
    local -a pkgs=()
    for p in "${RUST_WEB_PACKAGES[@]}"; do pkgs+=("$p=$v"); done
    info "apt-get install ${pkgs[*]}"
    apt_get install --no-install-recommends "${pkgs[@]}"
}

# rust-lld (package rust-web-llvm) is a symlink to lld-N, which rust-web-llvm does not depend
# on: install the package named like the link target when the link dangles.
install_lld() {
    command -v rust-lld >/dev/null 2>&1 && return 0
    local link pkg
    link="$(readlink /usr/bin/rust-lld 2>/dev/null)" \
        || die "/usr/bin/rust-lld is missing after installing rust-web-llvm. See ../shared/TOOLCHAIN.md"
    pkg="$(basename "$link")"
    info "apt-get install $pkg (rust-lld -> $link dangles)"
    apt_get install --no-install-recommends "$pkg" || die "apt-get install $pkg failed:
$(tail -n 15 "$APT_LOG")
       Full log: $APT_LOG. See ../shared/TOOLCHAIN.md"
}

install_debian_route() {
    command -v apt-get >/dev/null 2>&1 \
        || die "no wasm32 std for $(rustc --version) and no apt-get to install Debian's rustc-web.
       Install a wasm32 std another way (e.g. 'rustup target add $WASM_TARGET' where that has
       internet access), see ../shared/TOOLCHAIN.md"
    : >"$APT_LOG"
    # Update the package lists only when they don't know the pinned version (fresh image,
    # or stale lists); a machine that already knows it saves the ~10 s.
    local updated=0
    if ! apt_knows_version "$RUST_WEB_VERSION"; then
        info "apt-get update (lists don't offer rustc-web $RUST_WEB_VERSION)"
        apt_get update || warn "apt-get update failed (see $APT_LOG); trying the lists we have"
        updated=1
    fi
    if apt_knows_version "$RUST_WEB_VERSION" && install_with_version "$RUST_WEB_VERSION"; then
        install_lld
        return 0
    fi
    # The pin did not install (gone from the archive, or stale lists): refresh once, then
    # take whatever version apt offers.
    if [ "$updated" = 0 ]; then
        info "apt-get update (rustc-web $RUST_WEB_VERSION did not install)"
        apt_get update || warn "apt-get update failed (see $APT_LOG); trying the lists we have"
    fi
    local cand
    cand="$(candidate_version)"
    [ -n "$cand" ] || die "apt has no rustc-web package (apt-get update failed?).
       Log: $APT_LOG. See ../shared/TOOLCHAIN.md"
    warn "rustc-web $RUST_WEB_VERSION does not install; falling back to apt's candidate $cand"
    install_with_version "$cand" || die "apt-get install rustc-web=$cand failed:
$(tail -n 15 "$APT_LOG")
       Full log: $APT_LOG. See ../shared/TOOLCHAIN.md (section 1)"
    install_lld
}

step "wasm32 toolchain"
if [ "$WASM_ROUTE" = rustup ]; then
    info "route: rustup — $(rustc --version) has a $WASM_TARGET std; plain cargo --target"
else
    if wasm_have_debian_route && [ "${WAYMARK_APT_SIMULATE:-0}" != 1 ]; then
        info "Debian rustc-web already installed"
    else
        info "installing Debian rustc-web (no $WASM_TARGET std for $(rustc --version))"
        t0=$SECONDS
        install_debian_route
        wasm_have_debian_route || [ "${WAYMARK_APT_SIMULATE:-0}" = 1 ] || die "rustc-web installed but $WASM_RUSTC, its std source
       ($("$WASM_RUSTC" --print sysroot 2>/dev/null || echo '?')/lib/rustlib/src/rust) or rust-lld
       is missing. Log: $APT_LOG. See ../shared/TOOLCHAIN.md"
        info "installed in $((SECONDS - t0))s"
    fi
    info "route: debian — $("$WASM_RUSTC" --version) with -Z build-std=std,panic_abort" \
        "(RUSTC=$WASM_RUSTC RUSTC_BOOTSTRAP=1)"
fi
info "wasm target dir: $WASM_TARGET_DIR"
