#!/usr/bin/env bash
# Runs the worker locally under `wrangler dev` with local D1 and KV kept in .local/state:
# installs what is missing, builds once, applies the D1 migrations, then serves on
# http://127.0.0.1:${PORT:-8787}. Crons fire with
#   curl "http://127.0.0.1:8787/__scheduled?cron=*/5+*+*+*+*"
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

bash scripts/setup.sh
bash scripts/build-worker.sh
[ -f .dev.vars ] || cp .dev.vars.example .dev.vars
state=.local/state
mkdir -p "$state"
export CI=true SKIP_WORKER_BUILD=1
wrangler d1 migrations apply FEAR_GREED_D1 --local --persist-to "$state"

# wrangler leaves workerd running when stopped through npx: run it directly and pass signals on.
wrangler dev --ip 127.0.0.1 --port "${PORT:-8787}" --persist-to "$state" --test-scheduled &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM
wait $pid
