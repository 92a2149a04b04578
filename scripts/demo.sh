#!/usr/bin/env bash
# scripts/demo.sh — `make demo`: replay the example events through the built-in journey
# templates and print every decision with its reason.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_ROOT"

missing=()
[ -d templates ] || missing+=("templates/ (built-in journey templates)")
[ -f examples/events.ndjson ] || missing+=("examples/events.ndjson (example events)")
if ! grep -q 'simulate' src/main.rs 2>/dev/null; then
    missing+=("the 'simulate' subcommand in src/main.rs")
fi
if [ "${#missing[@]}" -gt 0 ]; then
    printf 'make demo: not ready yet, missing:\n' >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 2
fi

step "waymark simulate --journeys templates examples/journeys --events examples/events.ndjson --until 2026-07-01T00:00:00Z"
cargo run --quiet --release --locked -- simulate --journeys templates examples/journeys --events examples/events.ndjson --until 2026-07-01T00:00:00Z
