#!/usr/bin/env bash
# Builds the worker (wasm + JS glue into build/) with worker-build, offline, and prints the
# wasm size. wrangler runs this as its [build] command unless SKIP_WORKER_BUILD is set.
set -euo pipefail
[ -n "${SKIP_WORKER_BUILD:-}" ] && exit 0
# shellcheck source=env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
worker-build --release
wasm=build/index_bg.wasm
printf 'worker wasm: %s bytes, %s bytes gzipped\n' "$(stat -c %s "$wasm")" "$(gzip -9c "$wasm" | wc -c)"
