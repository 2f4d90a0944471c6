#!/usr/bin/env bash
# Prints the bot's performance numbers: storage operations and outbound requests per command
# and per 1,000-subscriber broadcast (native counts, machine-independent), then latency per
# command and broadcast wall time in workerd (Miniflare, the release wasm build).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

bash scripts/setup.sh
cargo bench --quiet --bench commands
bash scripts/build-worker.sh
node scripts/bench.mjs
