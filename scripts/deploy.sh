#!/usr/bin/env bash
# Deploys the worker: every step of a deploy, run in order by `all` or one at a time by hand.
#
#   scripts/deploy.sh [--local] [all | STEP...]        (no step: all)
#
# Steps, in the order `all` runs them:
#   build       the release build (scripts/build-worker.sh; skipped when SKIP_WORKER_BUILD is set)
#   dry-run     `wrangler deploy --dry-run`: the configuration and the bundle, nothing uploaded
#   migrations  `wrangler d1 migrations apply FEAR_GREED_D1 --remote`: the schema goes first, the
#               code that needs it second (migrations only add; MIGRATION.md, "Schema changes")
#   secrets     `wrangler secret put` for each secret, its value from the environment on stdin
#   deploy      `wrangler deploy`
#   webhook     Telegram `setWebhook`: the worker's URL, the secret_token, allowed_updates
#               message and edited_message; setting the same webhook again is harmless
#   health      `GET $WORKER_URL/healthz` until it answers 200 with "ok":true, for at most
#               HEALTH_TIMEOUT seconds; `all` runs `rollback` when it fails, then exits 1
#   notify      `POST $WORKER_URL/deploy-notify`: every subscriber hears of the new commit
#   rollback    `wrangler rollback` to the deployment before the current one (by hand only,
#               or by `all` after a failed health check)
#
# Environment of a remote deploy (no secret is ever printed):
#   CLOUDFLARE_API_TOKEN, CLOUDFLARE_ACCOUNT_ID  wrangler's credentials (read by wrangler itself)
#   FEAR_GREED_KV_NAMESPACE_ID, FEAR_GREED_D1_DATABASE_ID
#               the real KV namespace and D1 database ids (dry-run, migrations, deploy): they
#               replace wrangler.toml's placeholders in a temporary copy of it, removed on exit;
#               wrangler.toml itself never holds them
#   TELEGRAM_BOT_TOKEN_SECRET, TELEGRAM_WEBHOOK_SECRET, ADMIN_CHAT_ID
#               the worker's secrets (secrets; the token and webhook secret also for webhook and
#               notify: /deploy-notify's credential is the bot token)
#   ADMIN_API_TOKEN  optional secret: set when not empty (without it the admin API stays off)
#   WORKER_URL  the deployed worker, e.g. https://fear-greed-bot.<subdomain>.workers.dev
#               (webhook, health, notify)
#   DEPLOY_COMMIT_SHA, DEPLOY_COMMIT_MESSAGE, DEPLOY_COMMIT_URL  what notify announces; by
#               default GITHUB_SHA or HEAD, its subject, and
#               $GITHUB_SERVER_URL/$GITHUB_REPOSITORY/commit/<sha>
#   HEALTH_TIMEOUT (60), TELEGRAM_API_BASE_URL (https://api.telegram.org), WRANGLER (wrangler)
#
# --local runs every step on this machine instead: migrations into the local D1 under
# LOCAL_STATE (.local/state, as scripts/dev.sh), the dry run, the secrets into a local env file,
# `wrangler dev` on 127.0.0.1:PORT (8787) as the deploy, and webhook, health and notify against
# it and the offline stand-in (scripts/stand-in.mjs, started on STAND_IN_PORT (8788) unless one
# answers there). Secrets not in the environment come from .dev.vars, else .dev.vars.example.
# The processes it starts stop when it exits; with scripts/dev.sh running, `--local webhook`,
# `--local health` and `--local notify` talk to that one.
set -euo pipefail
# shellcheck source=env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

ALL_STEPS=(build dry-run migrations secrets deploy webhook health notify)
SECRETS=(TELEGRAM_BOT_TOKEN_SECRET TELEGRAM_WEBHOOK_SECRET ADMIN_CHAT_ID)
OPTIONAL_SECRETS=(ADMIN_API_TOKEN)

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
    build | dry-run | migrations | secrets | deploy | webhook | health | notify | rollback) steps+=("$arg") ;;
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
CONFIG=""
DEV_PID=""
STAND_IN_PID=""

# Stops what this run started and removes its temporary files.
cleanup() {
  stop_local_worker
  if [ -n "$STAND_IN_PID" ]; then
    kill -TERM "$STAND_IN_PID" 2>/dev/null || true
    wait "$STAND_IN_PID" 2>/dev/null || true
  fi
  [ -z "$CONFIG" ] || rm -f "$CONFIG"
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
  LOCAL_SECRETS="$(cd "$LOCAL_STATE" && pwd)/deploy-secrets.env"
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

# The wrangler configuration with the real ids: wrangler.toml with its two placeholder ids
# replaced, written beside it (its relative paths stay right) and removed on exit.
config() {
  if [ -n "$CONFIG" ]; then return; fi
  need FEAR_GREED_KV_NAMESPACE_ID FEAR_GREED_D1_DATABASE_ID
  local id
  for id in "$FEAR_GREED_KV_NAMESPACE_ID" "$FEAR_GREED_D1_DATABASE_ID"; do
    [[ $id =~ ^[A-Za-z0-9-]+$ ]] || fail "an id may hold letters, digits and '-' only"
  done
  CONFIG=$(mktemp --suffix=.toml "$ROOT/.deploy-wrangler.XXXXXX")
  sed -e "s/^id = \"local-dev-namespace-id\"\$/id = \"$FEAR_GREED_KV_NAMESPACE_ID\"/" \
    -e "s/^database_id = \"local-dev-database-id\"\$/database_id = \"$FEAR_GREED_D1_DATABASE_ID\"/" \
    wrangler.toml >"$CONFIG"
  if [ "$(grep -cxF "id = \"$FEAR_GREED_KV_NAMESPACE_ID\"" "$CONFIG")" != 1 ] ||
    [ "$(grep -cxF "database_id = \"$FEAR_GREED_D1_DATABASE_ID\"" "$CONFIG")" != 1 ]; then
    fail "wrangler.toml no longer has one KV and one D1 placeholder id to replace"
  fi
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
    say "build: skipped (SKIP_WORKER_BUILD is set), using build/"
  else
    bash scripts/build-worker.sh
  fi
  [ -f build/index.js ] || fail "build/index.js is missing: run the build step"
}

step_dry_run() {
  config
  [ -f build/index.js ] || fail "build/index.js is missing: run the build step"
  say "dry-run: wrangler deploy --dry-run"
  SKIP_WORKER_BUILD=1 "$WRANGLER" deploy --dry-run --config "$CONFIG" --outdir "$WORK/dry-run"
}

step_migrations() {
  config
  if [ -n "$LOCAL" ]; then
    say "migrations: wrangler d1 migrations apply FEAR_GREED_D1 --local --persist-to $LOCAL_STATE"
    SKIP_WORKER_BUILD=1 "$WRANGLER" d1 migrations apply FEAR_GREED_D1 --local --persist-to "$LOCAL_STATE" --config "$CONFIG"
  else
    say "migrations: wrangler d1 migrations apply FEAR_GREED_D1 --remote"
    SKIP_WORKER_BUILD=1 "$WRANGLER" d1 migrations apply FEAR_GREED_D1 --remote --config "$CONFIG"
  fi
}

step_secrets() {
  need "${SECRETS[@]}"
  local name
  if [ -n "$LOCAL" ]; then
    # wrangler dev reads them from this file (--env-file), as a deployed worker has its secrets.
    local file=$WORK/secrets.env written=()
    (umask 077 && : >"$file")
    for name in "${SECRETS[@]}" "${OPTIONAL_SECRETS[@]}"; do
      if [ -n "${!name:-}" ]; then
        [[ ${!name} != *"'"* && ${!name} != *$'\n'* ]] || fail "$name: a local secret may not hold a quote or a line feed"
        printf "%s='%s'\n" "$name" "${!name}" >>"$file"
        written+=("$name")
      fi
    done
    mv "$file" "$LOCAL_SECRETS"
    say "secrets: ${written[*]} in $LOCAL_SECRETS (mode 600) for wrangler dev"
    return
  fi
  for name in "${SECRETS[@]}" "${OPTIONAL_SECRETS[@]}"; do
    if [ -z "${!name:-}" ]; then
      say "secrets: $name not set, left as it is"
      continue
    fi
    say "secrets: wrangler secret put $name"
    printf '%s' "${!name}" | "$WRANGLER" secret put "$name" --config wrangler.toml
  done
}

step_deploy() {
  config
  [ -f build/index.js ] || fail "build/index.js is missing: run the build step"
  if [ -n "$LOCAL" ]; then
    deploy_local
    return
  fi
  local sha
  sha=$(commit_sha)
  say "deploy: wrangler deploy (${sha:0:7})"
  SKIP_WORKER_BUILD=1 "$WRANGLER" deploy --config "$CONFIG" --message "deploy ${sha:0:7}"
}

# The local deploy: wrangler dev on the local D1 and KV, its outbound calls to the stand-in,
# kept running until this script exits.
deploy_local() {
  [ -f "$LOCAL_SECRETS" ] || fail "no local secrets yet: run the secrets step first"
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
  say "deploy: wrangler dev on $WORKER_URL (log: $LOCAL_STATE/wrangler-dev.log)"
  SKIP_WORKER_BUILD=1 "$WRANGLER" dev --config "$CONFIG" --ip 127.0.0.1 --port "$PORT" \
    --persist-to "$LOCAL_STATE" --env-file "$LOCAL_SECRETS" --test-scheduled \
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

# Returns 1 (never exits) when the worker is not healthy in time, so that `all` can roll back.
step_health() {
  if [ -z "$WORKER_URL" ]; then
    printf 'deploy: set WORKER_URL (see the header of scripts/deploy.sh)\n' >&2
    return 1
  fi
  say "health: GET $WORKER_URL/healthz, for up to ${HEALTH_TIMEOUT}s"
  local deadline=$((SECONDS + HEALTH_TIMEOUT)) status answer="$WORK/health.json"
  while :; do
    : >"$answer"
    status=$(curl -s -o "$answer" -w '%{http_code}' --max-time 10 "$WORKER_URL/healthz") || status=000
    if [ "$status" = 200 ] && [ "$(json_field ok <"$answer")" = true ]; then
      say "health: $(cat "$answer")"
      return 0
    fi
    if [ -n "$DEV_PID" ] && ! kill -0 "$DEV_PID" 2>/dev/null; then
      printf 'deploy: wrangler dev stopped; the end of its log:\n' >&2
      tail -n 20 "$LOCAL_STATE/wrangler-dev.log" >&2 || true
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      printf 'deploy: health check failed after %ss: last answer %s %s\n' \
        "$HEALTH_TIMEOUT" "$status" "$(head -c 300 "$answer")" >&2
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
  json_field broadcast <"$WORK/notify.json" | node -e '
    let text = "";
    process.stdin.on("data", (d) => (text += d)).on("end", () => {
      const b = JSON.parse(text);
      console.log("==> deploy: notify: " + b.successful + " of " + b.totalSubscribers + " subscribers told, " + b.failed + " failed");
    });'
}

step_rollback() {
  if [ -n "$LOCAL" ]; then
    stop_local_worker
    say "rollback: local run, no earlier version to go back to; the local worker is stopped"
    return
  fi
  local sha
  sha=$(commit_sha)
  say "rollback: wrangler rollback to the deployment before ${sha:0:7}"
  "$WRANGLER" rollback --config wrangler.toml --yes --message "health check failed after deploying ${sha:0:7}"
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
    secrets) step_secrets ;;
    deploy) step_deploy ;;
    webhook) step_webhook ;;
    health)
      step_health || fail "the worker is not healthy"
      ;;
    notify) step_notify ;;
    rollback) step_rollback ;;
  esac
}

if [ "${steps[0]}" = all ]; then
  # Everything `all` needs, checked before anything changes.
  need "${SECRETS[@]}" FEAR_GREED_KV_NAMESPACE_ID FEAR_GREED_D1_DATABASE_ID WORKER_URL
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
