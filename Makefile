# waymark — `make test` is the one test command (README, CI's .ci/run). The work is done by
# the scripts in scripts/, which can also be run directly.
SHELL := /bin/bash

.PHONY: test setup wasm demo help

help:
	@echo "make test    fmt, clippy, cargo test, wasm32 build (scripts/test.sh)"
	@echo "make setup   install what is missing: rustfmt/clippy, wasm32 toolchain (scripts/setup.sh)"
	@echo "make wasm    build the library for wasm32 and print its size (scripts/check-wasm.sh)"
	@echo "make demo    build the npm package + backend, serve the demo store, print its URL (scripts/demo.sh)"

test:
	@scripts/test.sh

setup:
	@scripts/setup.sh

wasm:
	@scripts/check-wasm.sh

demo:
	@scripts/demo.sh
