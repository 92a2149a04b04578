#!/usr/bin/env bash
# scripts/fuzz.sh — the cargo-fuzz targets in fuzz/ (libFuzzer): replay, then fuzz.
#
#   scripts/fuzz.sh                      every target, 1 minute each
#   scripts/fuzz.sh --minutes 10 ingest  one target, 10 minutes
#   scripts/fuzz.sh --short              about 10 s each (CI: scripts/test.sh section fuzz)
#   scripts/fuzz.sh --update-corpus ...  after fuzzing, merge what was found into
#                                        fuzz/corpus/<target> and minimise it (set-cover merge)
#   scripts/fuzz.sh --seed               rebuild fuzz/corpus/ from the repository's data
#   scripts/fuzz.sh --asan ...           build with AddressSanitizer (slower; see below)
#
# Every run first replays fuzz/regressions/<target>/ and fuzz/corpus/<target>/ through
# each target once, so a fixed crash stays fixed. A crash while fuzzing is copied into
# fuzz/regressions/<target>/ (commit it with the fix) and the command to reproduce it is
# printed. Exits non-zero on any crash. New inputs found while fuzzing go to a scratch
# corpus under the target dir; the committed corpus changes only with --update-corpus.
#
# Builds without a sanitizer by default: the engine forbids unsafe code, so what the
# targets look for are panics, overflows (debug assertions are on) and broken invariants,
# and an AddressSanitizer build takes longer and runs about half as fast.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

FUZZ_DIR="$REPO_ROOT/fuzz"
# A target dir of its own: the fuzz workspace has its own Cargo.lock and build flags.
export CARGO_TARGET_DIR="$CARGO_TARGET_DIR/fuzz"
# cargo-fuzz passes nightly flags (-Zsanitizer, -Cpasses); the stable toolchain takes
# them with RUSTC_BOOTSTRAP (see README, Testing).
export RUSTC_BOOTSTRAP=1

seconds=60
sanitizer=none
update_corpus=0
seed=0
targets=()
while [ "$#" -gt 0 ]; do
    case "$1" in
        --minutes) [ "$#" -ge 2 ] || die "--minutes needs a number"; seconds="$(awk -v m="$2" 'BEGIN { printf "%d", m * 60 }')"; shift ;;
        --short) seconds=10 ;;
        --asan) sanitizer=address ;;
        --update-corpus) update_corpus=1 ;;
        --seed) seed=1 ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option: $1 (see --help)" ;;
        *) targets+=("$1") ;;
    esac
    shift
done

if ! cargo fuzz --version >/dev/null 2>&1; then
    info "installing cargo-fuzz (crates.io)"
    cargo install --locked --quiet cargo-fuzz || die "cannot install cargo-fuzz: cargo install cargo-fuzz"
fi

mapfile -t all_targets < <(sed -n 's/^name = "\([a-z_]*\)"$/\1/p' "$FUZZ_DIR/Cargo.toml" | grep -v '^waymark-fuzz$')
[ "${#targets[@]}" -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
    [ -f "$FUZZ_DIR/fuzz_targets/$t.rs" ] || die "no fuzz target '$t' (targets: ${all_targets[*]})"
done

build_flags=(--sanitizer "$sanitizer" --debug-assertions)

# --seed: corpus seeds from real data — state fixtures, states the simulator leaves after
# examples/events.ndjson and the scenario events, compiled bundles, journey files and
# the condition cases. Inputs of several parts use the layout of waymark_fuzz::parts.
if [ "$seed" -eq 1 ]; then
    step "seeding fuzz/corpus from the repository's data"
    cargo build --quiet --locked --bin waymark
    bin="${CARGO_TARGET_DIR%/fuzz}/debug/waymark"
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/waymark-seed.XXXXXX")"
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" EXIT
    "$bin" simulate --journeys templates examples/journeys --events examples/events.ndjson \
        --until 2026-07-15T00:00:00Z --emit-state >"$tmp/states.ndjson" || true
    "$bin" bundle templates examples/journeys -o "$tmp/all.bundle"
    for f in templates/*.json examples/journeys/*.json tests/cases/valid/*.json; do
        "$bin" bundle "$f" -o "$tmp/$(basename "$f" .json).bundle" 2>/dev/null || true
    done
    python3 "$FUZZ_DIR/seed.py" "$tmp"
fi

step "building fuzz targets (sanitizer: $sanitizer)"
(cd "$REPO_ROOT" && cargo fuzz build "${build_flags[@]}") || die "cargo fuzz build failed"

crashed=()
for t in "${targets[@]}"; do
    step "[$t] replay: fuzz/regressions/$t and fuzz/corpus/$t"
    mkdir -p "$FUZZ_DIR/regressions/$t" "$FUZZ_DIR/corpus/$t" "$FUZZ_DIR/artifacts/$t"
    find "$FUZZ_DIR/artifacts/$t" -type f -delete
    dict=()
    [ -f "$FUZZ_DIR/dict/$t.dict" ] && dict=(-dict="$FUZZ_DIR/dict/$t.dict")
    # -runs=0: every input of the directories executes once, nothing new is tried.
    if ! cargo fuzz run "${build_flags[@]}" "$t" "$FUZZ_DIR/regressions/$t" "$FUZZ_DIR/corpus/$t" \
            -- -runs=0 -timeout=10 >"$CARGO_TARGET_DIR/replay-$t.log" 2>&1; then
        tail -n 40 "$CARGO_TARGET_DIR/replay-$t.log" >&2
        warn "[$t] a regression or corpus input fails again (log: $CARGO_TARGET_DIR/replay-$t.log)"
        crashed+=("$t (replay)")
        continue
    fi
    info "$(grep -o 'Done [0-9]* runs.*' "$CARGO_TARGET_DIR/replay-$t.log" | tail -n 1 || echo ok)"

    step "[$t] fuzzing for ${seconds}s"
    work="$CARGO_TARGET_DIR/corpus/$t"
    mkdir -p "$work"
    # New inputs land in the scratch corpus (first directory); the committed one seeds it.
    if cargo fuzz run "${build_flags[@]}" "$t" "$work" "$FUZZ_DIR/corpus/$t" -- \
            -max_total_time="$seconds" -timeout=10 -print_final_stats=1 "${dict[@]}" \
            >"$CARGO_TARGET_DIR/fuzz-$t.log" 2>&1; then
        runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$CARGO_TARGET_DIR/fuzz-$t.log")"
        rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$CARGO_TARGET_DIR/fuzz-$t.log")"
        info "[$t] no crash: ${runs:-?} executions, ${rate:-?}/s"
    else
        tail -n 60 "$CARGO_TARGET_DIR/fuzz-$t.log" >&2
        crashed+=("$t")
        found=0
        for artifact in "$FUZZ_DIR/artifacts/$t"/*; do
            [ -f "$artifact" ] || continue
            cp "$artifact" "$FUZZ_DIR/regressions/$t/"
            found=1
            warn "[$t] crash saved as fuzz/regressions/$t/$(basename "$artifact") ($(wc -c <"$artifact") bytes); reproduce with:
    RUSTC_BOOTSTRAP=1 cargo fuzz run ${build_flags[*]} $t fuzz/regressions/$t/$(basename "$artifact")
  and commit it with the fix."
        done
        [ "$found" -eq 1 ] || warn "[$t] the fuzzer failed without a crash artifact (log: $CARGO_TARGET_DIR/fuzz-$t.log)"
    fi

    if [ "$update_corpus" -eq 1 ]; then
        # One pass over the committed and the scratch corpus into an empty directory:
        # libFuzzer's set-cover merge on edges alone (no hit counters) keeps a small set
        # of inputs with the same edge coverage (`cargo fuzz cmin` keeps every counter
        # bucket: several times the files, over the corpus budget of ~200 files / 1 MB).
        info "[$t] minimising fuzz/corpus/$t with what was found"
        minimal="$CARGO_TARGET_DIR/minimal/$t"
        rm -rf "$minimal" && mkdir -p "$minimal"
        if cargo fuzz run "${build_flags[@]}" "$t" "$minimal" "$FUZZ_DIR/corpus/$t" "$work" -- \
                -set_cover_merge=1 -use_counters=0 -timeout=10 >"$CARGO_TARGET_DIR/merge-$t.log" 2>&1; then
            find "$FUZZ_DIR/corpus/$t" -type f -delete
            cp "$minimal"/* "$FUZZ_DIR/corpus/$t/"
        else
            warn "[$t] corpus merge failed (log: $CARGO_TARGET_DIR/merge-$t.log)"
        fi
        info "[$t] corpus: $(find "$FUZZ_DIR/corpus/$t" -type f | wc -l) files, $(du -sh "$FUZZ_DIR/corpus/$t" | cut -f1)"
    fi
done

[ "${#crashed[@]}" -eq 0 ] || die "fuzz targets crashed: ${crashed[*]}"
step "fuzz: no crash in ${targets[*]}"
