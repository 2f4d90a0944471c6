#!/usr/bin/env bash
# Builds the two workers (README, "Two workers") with worker-build, offline: the bot (the crate's
# `bot` feature; wasm + JS glue into build/) and the ops worker (`ops`, into build-ops/), and
# prints each wasm's size. wrangler runs this as the [build] command of both configurations
# unless SKIP_WORKER_BUILD is set.
set -euo pipefail
[ -n "${SKIP_WORKER_BUILD:-}" ] && exit 0
# shellcheck source=env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
worker-build --release -- --no-default-features --features bot
worker-build --release --out-dir build-ops -- --no-default-features --features ops
for out in build build-ops; do
  wasm=$out/index_bg.wasm
  printf '%s wasm: %s bytes, %s bytes gzipped\n' "$out" "$(stat -c %s "$wasm")" "$(gzip -9c "$wasm" | wc -c)"
done
