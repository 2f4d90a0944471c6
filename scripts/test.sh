#!/usr/bin/env bash
# Runs every check and test: the lint of the scripts and workflows, formatting, clippy (native
# and wasm), the native suite (unit, contract, property tests on SQLite), the release wasm build
# and its size, and the workerd suite in Miniflare. Installs what is missing first.
set -euo pipefail
# shellcheck source=env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

step() { printf '\n==> %s\n' "$*"; }

bash scripts/setup.sh

step "lint: shellcheck (scripts), actionlint (workflows)"
bash scripts/lint.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (native, all targets; wasm)"
cargo clippy --all-targets -- -D warnings
cargo clippy --target wasm32-unknown-unknown -- -D warnings

step "native tests"
cargo test

step "worker build"
bash scripts/build-worker.sh
gzipped=$(gzip -9c build/index_bg.wasm | wc -c)
if [ "$gzipped" -ge 1048576 ]; then
  echo "the wasm is $gzipped bytes gzipped, over the 1 MB budget" >&2
  exit 1
fi

step "workerd tests (Miniflare)"
node --test --test-timeout=600000 --test-concurrency=1 tests/e2e/*.test.mjs
