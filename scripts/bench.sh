#!/usr/bin/env bash
# Prints the bot's performance numbers: storage operations and outbound requests per command
# and per 1,000-subscriber broadcast (native counts, machine-independent), the sweeps' cost over
# a 10,000-chat legacy dataset (invocations, entities per invocation and per second, KV ops, D1
# statements and round trips per entity; BACKFILL_CHATS changes the size), then in workerd
# (Miniflare, the release wasm build) the upload size, the worker against a JavaScript
# reference, latency and CPU per command under a write load, cold starts and a broadcast.
set -euo pipefail
# shellcheck source=env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

bash scripts/setup.sh
cargo bench --quiet --bench commands
cargo bench --quiet --bench backfill
bash scripts/build-worker.sh
node scripts/bench.mjs
