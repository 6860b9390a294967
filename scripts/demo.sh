#!/usr/bin/env bash
# Install Hygie into ./.venv and start it with demo data on the embedded SQLite database.
#
#   scripts/demo.sh [hygie demo options...]   e.g. scripts/demo.sh --patients 50 --port 8080
#
# Needs only python3 (3.11+) with venv and pip. The database is ./var/hygie.db
# (HYGIE_DATABASE_URL overrides); the demo population is built once and reused.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv || { apt-get update -qq && apt-get install -y -qq python3-venv && "$PYTHON" -m venv .venv; }
fi
.venv/bin/pip install -q -e .
exec .venv/bin/hygie demo "$@"
