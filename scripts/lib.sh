# shellcheck shell=bash
# scripts/lib.sh — helpers shared by the scripts in this directory. Source it, don't run it.
#
# Sets REPO_ROOT and CARGO_TARGET_DIR (default: $REPO_ROOT/target), and defines
# step/info/warn/die and run_sections (timed, fail-fast sections).

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
# Colours only on a terminal; CI logs stay plain.
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-auto}"

step() { printf '\n==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die()  { printf '\nerror: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root (CI), through sudo otherwise.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run: $* (no sudo found)"
    fi
}

# Seconds since the epoch with sub-second precision (bash 5 EPOCHREALTIME).
_now() { printf '%s' "${EPOCHREALTIME:-$(date +%s)}"; }
_elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# run_sections NAME... — for each NAME run the function `section_NAME` under a header,
# time it, stop at the first failure, and print a timing table at the end.
run_sections() {
    local name start t total_start rc
    local -a done_names=() done_times=()
    total_start="$(_now)"
    for name in "$@"; do
        declare -F "section_$name" >/dev/null || die "unknown section: $name"
        step "[$name]"
        start="$(_now)"
        # A subshell, so a failing section (even one calling die) still gets the timing
        # table below; errexit is re-enabled inside because `f || rc=$?` would disable it.
        set +e
        (set -e; "section_$name")
        rc=$?
        set -e
        t="$(_elapsed "$start" "$(_now)")"
        if [ "$rc" -ne 0 ]; then
            _timing_table done_names done_times
            die "section '$name' failed (exit $rc) after ${t}s"
        fi
        info "ok: $name (${t}s)"
        done_names+=("$name")
        done_times+=("$t")
    done
    _timing_table done_names done_times
    printf '    %-22s %8ss\n' "total" "$(_elapsed "$total_start" "$(_now)")"
}

_timing_table() {
    local -n _names="$1" _times="$2"
    local i
    step "timings"
    for i in "${!_names[@]}"; do
        printf '    %-22s %8ss\n' "${_names[$i]}" "${_times[$i]}"
    done
}

# The real SMTP receiver of the tests (Python aiosmtpd, `WAYMARK_PYTHON` or python3):
# installed from PyPI (or Debian) when missing.
ensure_aiosmtpd() {
    local python="${WAYMARK_PYTHON:-python3}"
    "$python" -c 'import aiosmtpd' 2>/dev/null && return 0
    info "installing aiosmtpd (PyPI) for the SMTP receiver"
    "$python" -m pip install --quiet aiosmtpd 2>/dev/null \
        || "$python" -m pip install --quiet --break-system-packages aiosmtpd 2>/dev/null \
        || as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-aiosmtpd \
        || die "cannot install aiosmtpd: pip install aiosmtpd"
}

# The reference of the recommender's item-to-item neighbours (tests/recommend_reference.rs):
# the Python package implicit (PyPI, a manylinux wheel with numpy and scipy), installed when
# missing. Test-only: the backend never runs Python.
ensure_implicit() {
    local python="${WAYMARK_PYTHON:-python3}"
    "$python" -c 'import implicit, scipy, numpy' 2>/dev/null && return 0
    info "installing implicit (PyPI) for the recommender reference check"
    "$python" -m pip install --quiet implicit 2>/dev/null \
        || "$python" -m pip install --quiet --break-system-packages implicit 2>/dev/null \
        || die "cannot install implicit: pip install implicit"
}
