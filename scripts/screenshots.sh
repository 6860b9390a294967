#!/usr/bin/env bash
# Regenerate docs/screenshots/*.png from a fresh demo installation (docs/web.md "Screenshots").
#
#   bash scripts/screenshots.sh [NAME...]     e.g. bash scripts/screenshots.sh signin-fr
#
# Needs .venv with the [test] extra (scripts/test.sh makes it) and Debian's chromium, installed
# here with apt when missing (HYGIE_CHROMIUM points at another build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ ! -x "${HYGIE_CHROMIUM:-/usr/bin/chromium}" ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "screenshots.sh: chromium missing: apt-get install chromium (as root)" >&2
    exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
fi
exec .venv/bin/python -m tests.e2e.screenshots "$@"
