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
	@echo "make demo    replay examples/events.ndjson through the templates (scripts/demo.sh)"

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
