#!/usr/bin/env bash
# Runs every check and test: the lint of the scripts and workflows, formatting, clippy (native
# and wasm), the docs' links, the native suite (unit, contract, property tests on SQLite), the
# release wasm build and its size, and the workerd suite in Miniflare. Installs what is missing first.
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
# Each worker's build alone (Cargo.toml's `bot` and `ops` features).
cargo clippy --target wasm32-unknown-unknown --no-default-features --features bot -- -D warnings
cargo clippy --target wasm32-unknown-unknown --no-default-features --features ops -- -D warnings

step "cargo doc (private items, every link resolved)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --document-private-items

step "native tests"
cargo test

step "worker build"
bash scripts/build-worker.sh
for wasm in build/index_bg.wasm build-ops/index_bg.wasm; do
  gzipped=$(gzip -9c "$wasm" | wc -c)
  if [ "$gzipped" -ge 1048576 ]; then
    echo "$wasm is $gzipped bytes gzipped, over the 1 MB budget" >&2
    exit 1
  fi
done

step "workerd tests (Miniflare)"
node --test --test-timeout=600000 --test-concurrency=1 tests/e2e/*.test.mjs
