#!/usr/bin/env bash
# Runs the bot locally under `wrangler dev`, both workers in one session (README, "Two workers":
# the bot on the port, the ops worker behind it), with local D1 and KV kept in .local/state and an
# offline stand-in for Telegram, CNN and Yahoo (scripts/stand-in.mjs: prints every message the
# bot sends, answers with canned market data): installs what is missing, builds once, applies
# the D1 migrations, then serves on http://127.0.0.1:${PORT:-8787}. Talk to it from another
# terminal with
#   node scripts/say.mjs "/now"
# switch the index the bot sees with
#   curl -d '{"rating":"greed","score":71.2}' http://127.0.0.1:8788/__market
# and fire the broadcast cron with (the maintenance cron, */5+*+*+*+*, goes on to the ops worker)
#   curl "http://127.0.0.1:8787/__scheduled?cron=0+9+*+*+1-5"
set -euo pipefail
# shellcheck source=env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

bash scripts/setup.sh
bash scripts/build-worker.sh
[ -f .dev.vars ] || cp .dev.vars.example .dev.vars
state=.local/state
mkdir -p "$state"
export CI=true SKIP_WORKER_BUILD=1
wrangler d1 migrations apply FEAR_GREED_D1 --local --persist-to "$state"

stand_in="http://127.0.0.1:${STAND_IN_PORT:-8788}"
node scripts/stand-in.mjs &
stand_in_pid=$!
# `--var` reaches only the first worker: the ops worker's copy of its configuration points its
# Telegram calls (pages) at the stand-in. Beside the original, so its relative paths hold.
ops_config=.dev-wrangler.ops.toml
sed "s|^TELEGRAM_API_BASE_URL = .*|TELEGRAM_API_BASE_URL = \"$stand_in\"|" wrangler.ops.toml >"$ops_config"

# wrangler leaves workerd running when stopped through npx: run it directly and pass signals on.
wrangler dev -c wrangler.toml -c "$ops_config" --ip 127.0.0.1 --port "${PORT:-8787}" --persist-to "$state" --test-scheduled \
  --var "TELEGRAM_API_BASE_URL:$stand_in" --var "CNN_BASE_URL:$stand_in" --var "YAHOO_BASE_URL:$stand_in" &
pid=$!
trap 'kill -TERM $pid $stand_in_pid 2>/dev/null; wait $pid' INT TERM
trap 'rm -f "$ops_config"' EXIT
wait $pid
