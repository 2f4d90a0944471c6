#!/usr/bin/env bash
# Deploys the two workers (README, "Two workers"): every step of a deploy, run in order by `all`
# or one at a time by hand. The ops worker (wrangler.ops.toml) goes before the bot
# (wrangler.toml), whose OPS service binding names it.
#
#   scripts/deploy.sh [--local] [all | STEP...]        (no step: all)
#
# Steps, in the order `all` runs them:
#   build       the release build of both (scripts/build-worker.sh; skipped when
#               SKIP_WORKER_BUILD is set)
#   dry-run     `wrangler deploy --dry-run` of each: the configuration and the bundle, nothing
#               uploaded
#   migrations  `wrangler d1 migrations apply FEAR_GREED_D1 --remote`, once (both workers use the
#               one database): the schema goes first, the code that needs it second (migrations
#               only add; MIGRATION.md, "Schema changes")
#   queues      `wrangler queues create` for each queue wrangler.toml names (the broadcast's and
#               its dead-letter queue; the bot produces and consumes them, the ops worker has
#               none) that `wrangler queues info` does not find; repeating it creates nothing
#               (--local: nothing to do, wrangler dev simulates them)
#   secrets     `wrangler secret put` of each worker's secrets to it alone, each value from the
#               environment on stdin: the bot TELEGRAM_BOT_TOKEN_SECRET, TELEGRAM_WEBHOOK_SECRET
#               and ADMIN_CHAT_ID; the ops worker TELEGRAM_BOT_TOKEN_SECRET, ADMIN_CHAT_ID (its
#               pages) and ADMIN_API_TOKEN
#   deploy      `wrangler deploy` of the ops worker, then of the bot
#   webhook     Telegram `setWebhook`: the bot's URL, the secret_token, allowed_updates
#               message and edited_message; setting the same webhook again is harmless
#   health      `GET $WORKER_URL/healthz` until it answers 200 with "ok":true, then
#               `GET $WORKER_URL/admin/dashboard` until the ops worker answers it through the bot
#               (200, or 404 while the admin API is off; 405 is the bot alone, its OPS binding
#               missing); the dashboard needs no token, so the probe is no failed admin attempt.
#               At most HEALTH_TIMEOUT seconds in all; `all` runs `rollback` when it fails, then
#               exits 1
#   notify      `POST $WORKER_URL/deploy-notify`: every subscriber hears of the new commit; with
#               the broadcast queue bound the bot enqueues the run and answers its id (with
#               --local the step then waits, up to HEALTH_TIMEOUT, for GET /admin/broadcast to
#               show it finished: the local workers stop when this script exits)
#   rollback    `wrangler rollback` of the bot, then of the ops worker, each to its deployment
#               before the current one (by hand only, or by `all` after a failed health check)
#
# Environment of a remote deploy (no secret is ever printed):
#   CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID  wrangler's credentials (read by wrangler itself)
#   FEAR_GREED_KV_NAMESPACE_ID, FEAR_GREED_D1_DATABASE_ID
#               the real KV namespace and D1 database ids (dry-run, migrations, deploy): they
#               replace the placeholders of wrangler.toml and wrangler.ops.toml in temporary
#               copies of both, in a directory beside them removed on exit; the configurations
#               themselves never hold them
#   TELEGRAM_BOT_TOKEN_SECRET, TELEGRAM_WEBHOOK_SECRET, ADMIN_CHAT_ID
#               the workers' secrets (secrets; the token and webhook secret also for webhook and
#               notify: /deploy-notify's credential is the bot token)
#   ADMIN_API_TOKEN  optional secret of the ops worker: set when not empty (without it the admin
#               API stays off)
#   WORKER_URL  the deployed bot, e.g. https://fear-greed-bot.<subdomain>.workers.dev
#               (webhook, health, notify; the ops worker has no URL of its own)
#   DEPLOY_COMMIT_SHA, DEPLOY_COMMIT_MESSAGE, DEPLOY_COMMIT_URL  what notify announces; by
#               default GITHUB_SHA or HEAD, its subject, and
#               $GITHUB_SERVER_URL/$GITHUB_REPOSITORY/commit/<sha>
#   HEALTH_TIMEOUT (60), TELEGRAM_API_BASE_URL (https://api.telegram.org), WRANGLER (wrangler)
#
# --local runs every step on this machine instead: migrations into the local D1 under
# LOCAL_STATE (.local/state, as scripts/dev.sh), the dry runs, each worker's secrets into its own
# local env file (LOCAL_STATE/deploy-secrets.bot.env and .ops.env, mode 600), one `wrangler dev`
# of both workers on 127.0.0.1:PORT (8787) as the deploy (the bot first; the bot reads its file
# through --env-file, the ops worker, which --env-file and --var do not reach, a copy named
# .dev.vars beside its configuration's copy), and webhook, health and notify against it and the
# offline stand-in (scripts/stand-in.mjs, started on STAND_IN_PORT (8788) unless one answers
# there; both workers' Telegram calls go to it). Secrets not in the environment come from
# .dev.vars, else .dev.vars.example. The processes it starts stop when it exits; with
# scripts/dev.sh running, `--local webhook`, `--local health` and `--local notify` talk to that
# one.
set -euo pipefail
# shellcheck source=env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

ALL_STEPS=(build dry-run migrations queues secrets deploy webhook health notify)
# The workers in the order they deploy: the bot's OPS service binding names the ops worker.
WORKERS=(ops bot)
declare -A SOURCE_CONFIG=([bot]=wrangler.toml [ops]=wrangler.ops.toml)
declare -A BUNDLE=([bot]=build/index.js [ops]=build-ops/index.js)
# Each worker's secrets and no other (least privilege). All but ADMIN_API_TOKEN are required;
# one not set is left as it is.
declare -A WORKER_SECRETS=(
  [bot]="TELEGRAM_BOT_TOKEN_SECRET TELEGRAM_WEBHOOK_SECRET ADMIN_CHAT_ID"
  [ops]="TELEGRAM_BOT_TOKEN_SECRET ADMIN_CHAT_ID ADMIN_API_TOKEN"
)
REQUIRED_SECRETS=(TELEGRAM_BOT_TOKEN_SECRET TELEGRAM_WEBHOOK_SECRET ADMIN_CHAT_ID)

say() { printf '==> deploy: %s\n' "$*"; }
fail() {
  printf 'deploy: %s\n' "$*" >&2
  exit 1
}
usage() {
  printf 'usage: scripts/deploy.sh [--local] [all | %s | rollback ...]\n' "${ALL_STEPS[*]}" >&2
  printf 'what each step does and the environment it needs: the header of scripts/deploy.sh\n' >&2
  exit 2
}

LOCAL=""
steps=()
for arg in "$@"; do
  case $arg in
    --local) LOCAL=1 ;;
    -h | --help) usage ;;
    all) steps+=(all) ;;
    build | dry-run | migrations | queues | secrets | deploy | webhook | health | notify | rollback) steps+=("$arg") ;;
    *) usage ;;
  esac
done
[ ${#steps[@]} -gt 0 ] || steps=(all)
if [ ${#steps[@]} -gt 1 ] && [[ " ${steps[*]} " == *" all "* ]]; then usage; fi

export CI=true
SKIP_BUILD=${SKIP_WORKER_BUILD:-}
WRANGLER=${WRANGLER:-wrangler}
HEALTH_TIMEOUT=${HEALTH_TIMEOUT:-60}
WORK=""
CONFIG_DIR=""
DEV_PID=""
STAND_IN_PID=""

# Stops what this run started and removes its temporary files.
cleanup() {
  stop_local_worker
  if [ -n "$STAND_IN_PID" ]; then
    kill -TERM "$STAND_IN_PID" 2>/dev/null || true
    wait "$STAND_IN_PID" 2>/dev/null || true
  fi
  [ -z "$CONFIG_DIR" ] || rm -rf "$CONFIG_DIR"
  [ -z "$WORK" ] || rm -rf "$WORK"
}
stop_local_worker() {
  if [ -n "$DEV_PID" ]; then
    # wrangler itself, not npx, so SIGTERM stops workerd too.
    kill -TERM "$DEV_PID" 2>/dev/null || true
    wait "$DEV_PID" 2>/dev/null || true
    DEV_PID=""
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
WORK=$(mktemp -d)

if [ -n "$LOCAL" ]; then
  PORT=${PORT:-8787}
  STAND_IN_PORT=${STAND_IN_PORT:-8788}
  LOCAL_STATE=${LOCAL_STATE:-.local/state}
  WORKER_URL=${WORKER_URL:-http://127.0.0.1:$PORT}
  TELEGRAM_API_BASE_URL=${TELEGRAM_API_BASE_URL:-http://127.0.0.1:$STAND_IN_PORT}
  FEAR_GREED_KV_NAMESPACE_ID=${FEAR_GREED_KV_NAMESPACE_ID:-local-dev-namespace-id}
  FEAR_GREED_D1_DATABASE_ID=${FEAR_GREED_D1_DATABASE_ID:-local-dev-database-id}
  GITHUB_REPOSITORY=${GITHUB_REPOSITORY:-local/fear-greed-bot}
  mkdir -p "$LOCAL_STATE"
  LOCAL_STATE_DIR=$(cd "$LOCAL_STATE" && pwd)
  # Secrets not in the environment: the local ones scripts/dev.sh uses.
  vars_file=.dev.vars
  [ -f "$vars_file" ] || vars_file=.dev.vars.example
  while IFS='=' read -r key value || [ -n "$key" ]; do
    case $key in
      TELEGRAM_BOT_TOKEN_SECRET | TELEGRAM_WEBHOOK_SECRET | ADMIN_CHAT_ID | ADMIN_API_TOKEN)
        if [ -z "${!key:-}" ]; then printf -v "$key" '%s' "$value"; fi
        ;;
    esac
  done <"$vars_file"
else
  TELEGRAM_API_BASE_URL=${TELEGRAM_API_BASE_URL:-https://api.telegram.org}
fi
WORKER_URL=${WORKER_URL:-}
WORKER_URL=${WORKER_URL%/}

# Fails naming every variable of "$@" that is empty.
need() {
  local missing=() name
  for name in "$@"; do [ -n "${!name:-}" ] || missing+=("$name"); done
  [ ${#missing[@]} -eq 0 ] || fail "set ${missing[*]} (see the header of scripts/deploy.sh)"
}

# The wrangler configurations with the real ids: wrangler.toml and wrangler.ops.toml with their
# two placeholder ids replaced, as bot.toml and ops.toml in a directory beside them (mode 700,
# removed on exit) whose paths reach back to the originals' files: `main` and `migrations_dir`
# lead up one level, and the [build] command goes (every run here sets SKIP_WORKER_BUILD).
# Locally the ops worker's Telegram calls (pages) go to the stand-in: --var reaches only the
# first worker of `wrangler dev`.
config() {
  if [ -n "$CONFIG_DIR" ]; then return; fi
  need FEAR_GREED_KV_NAMESPACE_ID FEAR_GREED_D1_DATABASE_ID
  local id worker copy
  for id in "$FEAR_GREED_KV_NAMESPACE_ID" "$FEAR_GREED_D1_DATABASE_ID"; do
    [[ $id =~ ^[A-Za-z0-9-]+$ ]] || fail "an id may hold letters, digits and '-' only"
  done
  local local_url=()
  if [ -n "$LOCAL" ]; then
    [[ $TELEGRAM_API_BASE_URL =~ ^[A-Za-z0-9:/._-]+$ ]] || fail "a local TELEGRAM_API_BASE_URL may hold letters, digits and :/._- only"
    local_url=(-e "s|^TELEGRAM_API_BASE_URL = .*\$|TELEGRAM_API_BASE_URL = \"$TELEGRAM_API_BASE_URL\"|")
  fi
  CONFIG_DIR=$(mktemp -d "$ROOT/.deploy-wrangler.XXXXXX")
  for worker in "${WORKERS[@]}"; do
    copy=$(config_of "$worker")
    sed -e "s/^id = \"local-dev-namespace-id\"\$/id = \"$FEAR_GREED_KV_NAMESPACE_ID\"/" \
      -e "s/^database_id = \"local-dev-database-id\"\$/database_id = \"$FEAR_GREED_D1_DATABASE_ID\"/" \
      -e 's|^main = "|main = "../|' -e 's|^migrations_dir = "|migrations_dir = "../|' -e '/^command = /d' \
      "${local_url[@]}" "${SOURCE_CONFIG[$worker]}" >"$copy"
    if [ "$(grep -cxF "id = \"$FEAR_GREED_KV_NAMESPACE_ID\"" "$copy")" != 1 ] ||
      [ "$(grep -cxF "database_id = \"$FEAR_GREED_D1_DATABASE_ID\"" "$copy")" != 1 ] ||
      [ "$(grep -cxF "main = \"../${BUNDLE[$worker]}\"" "$copy")" != 1 ]; then
      fail "${SOURCE_CONFIG[$worker]} no longer has one KV and one D1 placeholder id and main = \"${BUNDLE[$worker]}\""
    fi
  done
}

# The path of worker $1's configuration with the real ids (config).
config_of() {
  printf '%s/%s.toml' "$CONFIG_DIR" "$1"
}

# Fails unless both workers' bundles are built.
need_bundles() {
  local worker
  for worker in "${WORKERS[@]}"; do
    [ -f "${BUNDLE[$worker]}" ] || fail "${BUNDLE[$worker]} is missing: run the build step"
  done
}

# Prints field $1 of the JSON document on stdin (strings bare, anything else as JSON; nothing
# when the field is missing or the input is not JSON).
json_field() {
  node -e '
    let text = "";
    process.stdin.on("data", (d) => (text += d)).on("end", () => {
      try {
        const value = JSON.parse(text)?.[process.argv[1]];
        if (value !== undefined) process.stdout.write(typeof value === "string" ? value : JSON.stringify(value));
      } catch {}
    });' "$1"
}

# Writes a curl config naming URL $1, so that a URL holding the bot token is never an argument.
curl_url() {
  local url=${1//\\/\\\\}
  printf 'url = "%s"\n' "${url//\"/\\\"}"
}

step_build() {
  if [ -n "$SKIP_BUILD" ]; then
    say "build: skipped (SKIP_WORKER_BUILD is set), using build/ and build-ops/"
  else
    bash scripts/build-worker.sh
  fi
  need_bundles
}

step_dry_run() {
  config
  need_bundles
  local worker
  for worker in "${WORKERS[@]}"; do
    say "dry-run: wrangler deploy --dry-run (${SOURCE_CONFIG[$worker]})"
    SKIP_WORKER_BUILD=1 "$WRANGLER" deploy --dry-run --config "$(config_of "$worker")" --outdir "$WORK/dry-run-$worker"
  done
}

step_migrations() {
  config
  if [ -n "$LOCAL" ]; then
    say "migrations: wrangler d1 migrations apply FEAR_GREED_D1 --local --persist-to $LOCAL_STATE"
    SKIP_WORKER_BUILD=1 "$WRANGLER" d1 migrations apply FEAR_GREED_D1 --local --persist-to "$LOCAL_STATE" --config "$(config_of bot)"
  else
    say "migrations: wrangler d1 migrations apply FEAR_GREED_D1 --remote"
    SKIP_WORKER_BUILD=1 "$WRANGLER" d1 migrations apply FEAR_GREED_D1 --remote --config "$(config_of bot)"
  fi
}

step_queues() {
  if [ -n "$LOCAL" ]; then
    say "queues: local run, wrangler dev simulates them"
    return
  fi
  local name names
  # Every queue a producer, a consumer or a dead-letter setting of the bot names, each once.
  mapfile -t names < <(sed -n 's/^\(queue\|dead_letter_queue\) = "\([A-Za-z0-9_-]*\)"$/\2/p' "${SOURCE_CONFIG[bot]}" | sort -u)
  [ ${#names[@]} -gt 0 ] || fail "queues: ${SOURCE_CONFIG[bot]} names no queue"
  for name in "${names[@]}"; do
    if "$WRANGLER" queues info "$name" --config "${SOURCE_CONFIG[bot]}" >/dev/null 2>&1; then
      say "queues: $name exists"
    else
      say "queues: wrangler queues create $name"
      "$WRANGLER" queues create "$name" --config "${SOURCE_CONFIG[bot]}"
    fi
  done
}

step_secrets() {
  need "${REQUIRED_SECRETS[@]}"
  local worker name
  for worker in "${WORKERS[@]}"; do
    local names
    read -ra names <<<"${WORKER_SECRETS[$worker]}"
    if [ -n "$LOCAL" ]; then
      # wrangler dev reads them from this file (deploy_local), as a deployed worker has its secrets.
      local file=$WORK/secrets.env written=()
      (umask 077 && : >"$file")
      for name in "${names[@]}"; do
        if [ -n "${!name:-}" ]; then
          [[ ${!name} != *"'"* && ${!name} != *$'\n'* ]] || fail "$name: a local secret may not hold a quote or a line feed"
          printf "%s='%s'\n" "$name" "${!name}" >>"$file"
          written+=("$name")
        fi
      done
      mv "$file" "$(local_secrets "$worker")"
      say "secrets: ${written[*]} in $(local_secrets "$worker") (mode 600) for wrangler dev's $worker worker"
      continue
    fi
    for name in "${names[@]}"; do
      if [ -z "${!name:-}" ]; then
        say "secrets: $name not set, left as it is (${SOURCE_CONFIG[$worker]})"
        continue
      fi
      say "secrets: wrangler secret put $name --config ${SOURCE_CONFIG[$worker]}"
      printf '%s' "${!name}" | "$WRANGLER" secret put "$name" --config "${SOURCE_CONFIG[$worker]}"
    done
  done
}

# The local env file of worker $1's secrets (the secrets step writes it).
local_secrets() {
  printf '%s/deploy-secrets.%s.env' "$LOCAL_STATE_DIR" "$1"
}

step_deploy() {
  config
  need_bundles
  if [ -n "$LOCAL" ]; then
    deploy_local
    return
  fi
  local sha worker
  sha=$(commit_sha)
  for worker in "${WORKERS[@]}"; do
    say "deploy: wrangler deploy (${SOURCE_CONFIG[$worker]}, ${sha:0:7})"
    SKIP_WORKER_BUILD=1 "$WRANGLER" deploy --config "$(config_of "$worker")" --message "deploy ${sha:0:7}"
  done
}

# The local deploy: both workers in one wrangler dev on the local D1 and KV, the bot first (on
# PORT), their outbound calls to the stand-in, kept running until this script exits.
deploy_local() {
  local worker
  for worker in "${WORKERS[@]}"; do
    [ -f "$(local_secrets "$worker")" ] || fail "no local secrets yet: run the secrets step first"
  done
  if curl -s -o /dev/null --max-time 2 "$WORKER_URL/"; then
    fail "something already answers at $WORKER_URL (scripts/dev.sh?): stop it or set PORT"
  fi
  local stand_in=$TELEGRAM_API_BASE_URL
  if ! curl -s -o /dev/null --max-time 2 "$stand_in/__sent"; then
    say "deploy: starting the stand-in on port $STAND_IN_PORT"
    STAND_IN_PORT=$STAND_IN_PORT node scripts/stand-in.mjs >"$LOCAL_STATE/stand-in.log" 2>&1 &
    STAND_IN_PID=$!
    local tries=0
    until curl -s -o /dev/null --max-time 2 "$stand_in/__sent"; do
      tries=$((tries + 1))
      [ $tries -lt 50 ] || fail "the stand-in did not start (see $LOCAL_STATE/stand-in.log)"
      sleep 0.2
    done
  fi
  # The ops worker's secrets: --env-file reaches only the first worker; the others read the
  # .dev.vars beside their configuration (in CONFIG_DIR, mode 700, removed on exit).
  cp "$(local_secrets ops)" "$CONFIG_DIR/.dev.vars"
  say "deploy: wrangler dev of the bot and the ops worker on $WORKER_URL (log: $LOCAL_STATE/wrangler-dev.log)"
  SKIP_WORKER_BUILD=1 "$WRANGLER" dev -c "$(config_of bot)" -c "$(config_of ops)" --ip 127.0.0.1 --port "$PORT" \
    --persist-to "$LOCAL_STATE" --env-file "$(local_secrets bot)" --test-scheduled \
    --var "TELEGRAM_API_BASE_URL:$stand_in" --var "CNN_BASE_URL:$stand_in" --var "YAHOO_BASE_URL:$stand_in" \
    >"$LOCAL_STATE/wrangler-dev.log" 2>&1 &
  DEV_PID=$!
}

step_webhook() {
  need TELEGRAM_BOT_TOKEN_SECRET TELEGRAM_WEBHOOK_SECRET WORKER_URL
  say "webhook: setWebhook to $WORKER_URL/ for message and edited_message"
  local status
  status=$(
    URL=$WORKER_URL SECRET=$TELEGRAM_WEBHOOK_SECRET node -e '
      process.stdout.write(JSON.stringify({
        url: process.env.URL + "/",
        secret_token: process.env.SECRET,
        allowed_updates: ["message", "edited_message"],
      }));' |
      curl -sS --max-time 30 -X POST -H 'Content-Type: application/json' --data-binary @- \
        -o "$WORK/webhook.json" -w '%{http_code}' \
        --config <(curl_url "$TELEGRAM_API_BASE_URL/bot$TELEGRAM_BOT_TOKEN_SECRET/setWebhook")
  ) || fail "webhook: Telegram could not be reached"
  if [ "$status" != 200 ] || [ "$(json_field ok <"$WORK/webhook.json")" != true ]; then
    fail "webhook: Telegram answered $status: $(json_field description <"$WORK/webhook.json")"
  fi
  say "webhook: $(json_field description <"$WORK/webhook.json")"
}

# Returns 1 (never exits) when the workers are not healthy in time, so that `all` can roll back:
# the bot's /healthz, then the ops worker behind it (/admin/dashboard, open without a token).
step_health() {
  if [ -z "$WORKER_URL" ]; then
    printf 'deploy: set WORKER_URL (see the header of scripts/deploy.sh)\n' >&2
    return 1
  fi
  say "health: GET $WORKER_URL/healthz and /admin/dashboard, for up to ${HEALTH_TIMEOUT}s"
  HEALTH_DEADLINE=$((SECONDS + HEALTH_TIMEOUT))
  poll /healthz healthy || return 1
  say "health: $(cat "$WORK/health.json")"
  poll /admin/dashboard ops_reached || return 1
  say "health: /admin/ answered $POLL_STATUS through the bot: the ops worker is reached"
}

# The bot's /healthz answer: 200 with "ok":true.
healthy() { [ "$POLL_STATUS" = 200 ] && [ "$(json_field ok <"$WORK/health.json")" = true ]; }
# The ops worker answered /admin/dashboard: 200, or 404 with the admin API off. The bot alone
# (no OPS binding) answers 405.
ops_reached() { [ "$POLL_STATUS" = 200 ] || [ "$POLL_STATUS" = 404 ]; }

# GETs $WORKER_URL$1 until check $2 passes on POLL_STATUS and $WORK/health.json; returns 1 at
# HEALTH_DEADLINE or when the local wrangler dev stopped.
poll() {
  local path=$1 check=$2 answer="$WORK/health.json"
  while :; do
    : >"$answer"
    POLL_STATUS=$(curl -s -o "$answer" -w '%{http_code}' --max-time 10 "$WORKER_URL$path") || POLL_STATUS=000
    if "$check"; then return 0; fi
    if [ -n "$DEV_PID" ] && ! kill -0 "$DEV_PID" 2>/dev/null; then
      printf 'deploy: wrangler dev stopped; the end of its log:\n' >&2
      tail -n 20 "$LOCAL_STATE/wrangler-dev.log" >&2 || true
      return 1
    fi
    if [ "$SECONDS" -ge "$HEALTH_DEADLINE" ]; then
      printf 'deploy: health check of %s failed after %ss: last answer %s %s\n' \
        "$path" "$HEALTH_TIMEOUT" "$POLL_STATUS" "$(head -c 300 "$answer")" >&2
      return 1
    fi
    sleep 1
  done
}

step_notify() {
  need TELEGRAM_BOT_TOKEN_SECRET WORKER_URL
  local sha message url status
  sha=$(commit_sha)
  message=${DEPLOY_COMMIT_MESSAGE:-$(git log -1 --format=%s "$sha" 2>/dev/null || true)}
  [ -n "$message" ] || fail "set DEPLOY_COMMIT_MESSAGE: commit $sha is not in this clone"
  if [ -n "${DEPLOY_COMMIT_URL:-}" ]; then
    url=$DEPLOY_COMMIT_URL
  else
    need GITHUB_REPOSITORY
    url="${GITHUB_SERVER_URL:-https://github.com}/$GITHUB_REPOSITORY/commit/$sha"
  fi
  say "notify: POST $WORKER_URL/deploy-notify for ${sha:0:7}"
  # The legacy body (§8.6), built as JSON: a subject with quotes or backslashes stays valid.
  status=$(
    SHA=$sha MESSAGE=$message URL=$url node -e '
      process.stdout.write(JSON.stringify({
        commitHash: process.env.SHA.slice(0, 7),
        commitMessage: process.env.MESSAGE.split("\n")[0].trim(),
        commitUrl: process.env.URL,
        timestamp: new Date().toISOString(),
      }));' |
      curl -sS --max-time 600 -X POST -H 'Content-Type: application/json' --data-binary @- \
        -H @<(printf 'Authorization: Bearer %s\n' "$TELEGRAM_BOT_TOKEN_SECRET") \
        -o "$WORK/notify.json" -w '%{http_code}' "$WORKER_URL/deploy-notify"
  ) || fail "notify: the worker could not be reached"
  [ "$status" = 200 ] || fail "notify: the worker answered $status: $(head -c 300 "$WORK/notify.json")"
  json_field broadcast <"$WORK/notify.json" >"$WORK/broadcast.json"
  local run
  run=$(json_field queued <"$WORK/broadcast.json")
  if [ -n "$run" ]; then
    say "notify: $(json_field totalSubscribers <"$WORK/broadcast.json") subscribers, enqueued as run $run"
    if [ -n "$LOCAL" ]; then wait_for_run "$run"; fi
    return
  fi
  node -e '
    let text = "";
    process.stdin.on("data", (d) => (text += d)).on("end", () => {
      const b = JSON.parse(text);
      console.log("==> deploy: notify: " + b.successful + " of " + b.totalSubscribers + " subscribers told, " + b.failed + " failed");
    });' <"$WORK/broadcast.json"
}

# Polls GET /admin/broadcast (the ops worker, through the bot) until run $1 has finished, for at
# most HEALTH_TIMEOUT seconds.
wait_for_run() {
  need ADMIN_API_TOKEN
  local deadline=$((SECONDS + HEALTH_TIMEOUT)) finished
  while :; do
    : >"$WORK/runs.json"
    curl -s --max-time 10 -o "$WORK/runs.json" \
      -H @<(printf 'Authorization: Bearer %s\n' "$ADMIN_API_TOKEN") "$WORKER_URL/admin/broadcast" || true
    finished=$(RUN=$1 node -e '
      let text = "";
      process.stdin.on("data", (d) => (text += d)).on("end", () => {
        try {
          const r = JSON.parse(text).runs.find((r) => r.id === process.env.RUN);
          if (r?.finished_at != null) process.stdout.write(r.sent + " sent, " + r.refused + " refused");
        } catch {}
      });' <"$WORK/runs.json")
    if [ -n "$finished" ]; then
      say "notify: run $1 finished: $finished"
      return
    fi
    [ "$SECONDS" -lt "$deadline" ] || fail "notify: run $1 not finished after ${HEALTH_TIMEOUT}s"
    sleep 1
  done
}

# The bot first: users are back on the old version soonest.
step_rollback() {
  if [ -n "$LOCAL" ]; then
    stop_local_worker
    say "rollback: local run, no earlier version to go back to; the local workers are stopped"
    return
  fi
  local sha i worker failed=0
  sha=$(commit_sha)
  for ((i = ${#WORKERS[@]} - 1; i >= 0; i--)); do
    worker=${WORKERS[i]}
    say "rollback: wrangler rollback (${SOURCE_CONFIG[$worker]}) to the deployment before ${sha:0:7}"
    "$WRANGLER" rollback --config "${SOURCE_CONFIG[$worker]}" --yes \
      --message "health check failed after deploying ${sha:0:7}" || failed=1
  done
  return $failed
}

commit_sha() {
  if [ -n "${DEPLOY_COMMIT_SHA:-}" ]; then
    printf '%s' "$DEPLOY_COMMIT_SHA"
  elif [ -n "${GITHUB_SHA:-}" ]; then
    printf '%s' "$GITHUB_SHA"
  else
    git rev-parse HEAD
  fi
}

run_step() {
  case $1 in
    build) step_build ;;
    dry-run) step_dry_run ;;
    migrations) step_migrations ;;
    queues) step_queues ;;
    secrets) step_secrets ;;
    deploy) step_deploy ;;
    webhook) step_webhook ;;
    health)
      step_health || fail "the workers are not healthy"
      ;;
    notify) step_notify ;;
    rollback) step_rollback || fail "a rollback failed" ;;
  esac
}

if [ "${steps[0]}" = all ]; then
  # Everything `all` needs, checked before anything changes.
  need "${REQUIRED_SECRETS[@]}" FEAR_GREED_KV_NAMESPACE_ID FEAR_GREED_D1_DATABASE_ID WORKER_URL
  [ -n "${DEPLOY_COMMIT_URL:-}" ] || need GITHUB_REPOSITORY
  for step in "${ALL_STEPS[@]}"; do
    if [ "$step" = health ]; then
      if ! step_health; then
        printf 'deploy: the new version is not healthy: rolling back\n' >&2
        step_rollback || printf 'deploy: the rollback failed too\n' >&2
        fail "deploy failed its health check and was rolled back"
      fi
    else
      run_step "$step"
    fi
  done
  say "done: ${ALL_STEPS[*]}"
else
  for step in "${steps[@]}"; do run_step "$step"; done
fi
