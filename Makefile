# waymark — `make test` is the one test command (README, CI's .ci/run). The work is done by
# the scripts in scripts/, which can also be run directly.
SHELL := /bin/bash

.PHONY: test setup wasm pkg bench demo help

help:
	@echo "make test    fmt, clippy, cargo test, wasm32 build (scripts/test.sh)"
	@echo "make setup   install what is missing: rustfmt/clippy, wasm32 toolchain (scripts/setup.sh)"
	@echo "make wasm    build the library for wasm32 and print its size (scripts/check-wasm.sh)"
	@echo "make pkg     build the npm package in pkg/: wasm32 + wasm-bindgen + wasm-opt (scripts/build-pkg.sh)"
	@echo "make bench   package figures: wasm size, instantiate time, µs per track (bench/wasm.mjs)"
	@echo "             backend benches, run directly: bench/load-sync.sh (/v1/sync throughput, latency);"
	@echo "             bench/catalog.sh [sqlite|postgres] (a price drop fanned out to 100k shoppers: time and"
	@echo "             server peak memory; recommender refresh 10k items x 1M interactions;"
	@echo "             /v1/recommendations p50/p99; shopper state size; SHORT=1 for a quick run);"
	@echo "             bench/fit.sh [sqlite|postgres] (backfill, fit and predicted traits of 100k customers)"
	@echo "             bench/sweep.sh [sqlite|postgres] (1M known shoppers' birthdays: idle rounds, who enters, who is sent)"
	@echo "make demo    build the npm package + backend, serve the demo store, print its URL (scripts/demo.sh)"

test:
	@scripts/test.sh

setup:
	@scripts/setup.sh

wasm:
	@scripts/check-wasm.sh

pkg:
	@scripts/build-pkg.sh

bench: pkg
	@node bench/wasm.mjs

demo:
	@scripts/demo.sh
