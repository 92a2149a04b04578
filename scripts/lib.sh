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
        || { as_root apt-get update -q \
            && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-aiosmtpd </dev/null; } \
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

# The reference of the purchase-history models (tests/predict_cdnow.rs): the Python package
# lifetimes 0.11.3 (PyPI; it brings pandas, autograd and dill), installed when missing.
# Test-only: the backend never runs Python.
LIFETIMES_VERSION=0.11.3
ensure_lifetimes() {
    local python="${WAYMARK_PYTHON:-python3}"
    "$python" -c "import lifetimes, sys; sys.exit(lifetimes.__version__ != '$LIFETIMES_VERSION')" 2>/dev/null && return 0
    info "installing lifetimes $LIFETIMES_VERSION (PyPI) for the purchase-model reference check"
    "$python" -m pip install --quiet "lifetimes==$LIFETIMES_VERSION" 2>/dev/null \
        || "$python" -m pip install --quiet --break-system-packages "lifetimes==$LIFETIMES_VERSION" 2>/dev/null \
        || die "cannot install lifetimes: pip install lifetimes==$LIFETIMES_VERSION"
}

# The reference of the intent fit (tests/intent_fit.rs): scikit-learn's logistic
# regression, installed from PyPI when missing. Test-only: the backend never runs Python.
SKLEARN_VERSION=1.9.1
ensure_sklearn() {
    local python="${WAYMARK_PYTHON:-python3}"
    "$python" -c "import sklearn, sys; sys.exit(sklearn.__version__ != '$SKLEARN_VERSION')" 2>/dev/null && return 0
    info "installing scikit-learn $SKLEARN_VERSION (PyPI) for the intent-fit reference check"
    "$python" -m pip install --quiet "scikit-learn==$SKLEARN_VERSION" 2>/dev/null \
        || "$python" -m pip install --quiet --break-system-packages "scikit-learn==$SKLEARN_VERSION" 2>/dev/null \
        || die "cannot install scikit-learn: pip install scikit-learn==$SKLEARN_VERSION"
}

# CDNOW, the data of the BG/NBD paper (2,357 customers' purchases, 1997-1998), as the
# lifetimes wheel ships it (lifetimes/datasets/CDNOW_sample.txt). The wheel is downloaded
# once into $CARGO_TARGET_DIR/data/ (`pip download --no-deps`) and the file taken out of
# it; the data stays out of the repository. Exports WAYMARK_CDNOW, the file's path.
ensure_cdnow() {
    local python="${WAYMARK_PYTHON:-python3}"
    local dir="$CARGO_TARGET_DIR/data/lifetimes-$LIFETIMES_VERSION"
    local file="$dir/CDNOW_sample.txt"
    if [ ! -s "$file" ]; then
        info "downloading the lifetimes $LIFETIMES_VERSION wheel (PyPI) for the CDNOW data"
        mkdir -p "$dir"
        "$python" -m pip download --quiet --no-deps --only-binary=:all: --dest "$dir" \
            "lifetimes==$LIFETIMES_VERSION" \
            || die "cannot download the lifetimes wheel: pip download lifetimes==$LIFETIMES_VERSION --no-deps"
        "$python" - "$dir" "$file" <<'PY' || die "the lifetimes wheel in $dir holds no CDNOW_sample.txt"
import glob, sys, zipfile
wheel_dir, out = sys.argv[1], sys.argv[2]
wheels = sorted(glob.glob(wheel_dir + "/*.whl"))
with zipfile.ZipFile(wheels[-1]) as z, open(out + ".part", "wb") as f:
    f.write(z.read("lifetimes/datasets/CDNOW_sample.txt"))
import os
os.replace(out + ".part", out)
PY
    fi
    export WAYMARK_CDNOW="$file"
}
