#!/usr/bin/env bash
# Install everything and run Hygie's whole test suite: ruff, mypy --strict, import-linter, pytest.
#
#   scripts/test.sh [pytest args...]        e.g. scripts/test.sh -k patient -x
#
# Works on a fresh Debian 12 machine with python3.11, pip and apt, as root: creates .venv, installs
# the project with its [test] extra, installs PostgreSQL and chromium (browser tests) from Debian
# when missing, starts a throwaway cluster (scripts/pg.sh) in a temporary directory and deletes it
# on exit. Without root, the apt steps are skipped
# when what they would install is already there, and fail with a clear message otherwise.
#
# Environment:
#   HYGIE_TEST_BACKENDS=sqlite      run the database tests on SQLite only (no PostgreSQL needed)
#   HYGIE_TEST_POSTGRES_URL=…       use this PostgreSQL server instead of starting a cluster
#   HYGIE_TEST_WORKERS=N            pytest-xdist workers (default 2; 0 = no xdist)
#   PYTHON=python3.11               interpreter used to create .venv
#   HYGIE_CHROMIUM=/path/to/chromium  browser of the e2e tests (default /usr/bin/chromium, apt-installed)
# Exit status: non-zero when any step fails (pytest's "no tests collected" included).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT=$(pwd)
STARTED=$(date +%s)
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 DEBIAN_FRONTEND=noninteractive

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }

# --- privileged installs -------------------------------------------------------------------------
APT_UPDATED=0
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    SUDO=(none)
  fi
fi

apt_install() {
  if [[ "${SUDO[0]:-}" == none ]]; then
    die "missing $*, and apt-get needs root (no password-less sudo here): install $* first"
  fi
  if (( ! APT_UPDATED )); then
    "${SUDO[@]}" apt-get update -qq
    APT_UPDATED=1
  fi
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$@"
}

# --- Python environment --------------------------------------------------------------------------
pick_python() {
  if [[ -n "${PYTHON:-}" ]]; then
    printf '%s\n' "$PYTHON"
  elif command -v python3.11 >/dev/null 2>&1; then
    printf 'python3.11\n'
  else
    printf 'python3\n'
  fi
}

ensure_venv() {
  if [[ -x .venv/bin/python ]] && .venv/bin/python -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null
  then
    return
  fi
  local python
  python=$(pick_python)
  "$python" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' \
    || die "$python is older than 3.11"
  say "creating .venv with $python"
  rm -rf .venv
  if ! "$python" -m venv .venv 2>/dev/null; then
    # Debian ships ensurepip separately.
    local minor
    minor=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    rm -rf .venv
    apt_install "python${minor}-venv"
    "$python" -m venv .venv
  fi
}

install_project() {
  # Re-install only when the declared dependencies changed (the install is editable).
  local stamp=.venv/.hygie-install-stamp want
  want=$(cksum pyproject.toml | cut -d' ' -f1)-$REPO_ROOT
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
     && .venv/bin/python -c 'import hygie, pytest, fhirclient, fhirpy' 2>/dev/null; then
    return
  fi
  say "installing hygie[test] into .venv"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[test]'
  printf '%s\n' "$want" >"$stamp"
}

# --- PostgreSQL ----------------------------------------------------------------------------------
wants_postgres() {
  local backends=${HYGIE_TEST_BACKENDS:-sqlite,postgresql}
  [[ ",${backends// /}," == *,postgresql,* ]]
}

ensure_postgres_installed() {
  if compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    return
  fi
  say "installing PostgreSQL (apt)"
  apt_install postgresql
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || die "initdb still missing after apt-get"
}

# The portability PDF summary needs a Unicode TrueType font for every accent and ligature
# (hygie/transfer/record_pdf.py); without one it falls back to a core font ("Œ" becomes "OE").
ensure_fonts() {
  if compgen -G '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf' >/dev/null; then
    return
  fi
  if [[ "${SUDO[0]:-}" == none ]]; then
    say "fonts-dejavu-core missing and no root: PDF summaries use a core font"
    return
  fi
  say "installing fonts-dejavu-core (apt)"
  apt_install fonts-dejavu-core || say "could not install fonts-dejavu-core: PDF summaries use a core font"
}

# The browser tier (tests/e2e: Playwright + axe-core) drives Debian's chromium, never a browser
# build downloaded by Playwright (the machines reach package registries only).
ensure_chromium() {
  local path=${HYGIE_CHROMIUM:-/usr/bin/chromium}
  if [[ ! -x "$path" ]]; then
    say "installing chromium (apt) for the browser tests"
    apt_install chromium
    path=/usr/bin/chromium
    [[ -x "$path" ]] || die "chromium still missing after apt-get"
  fi
  export HYGIE_CHROMIUM=$path
}

PG_DIR=""
cleanup() {
  if [[ -n "$PG_DIR" ]]; then
    HYGIE_PG_DIR=$PG_DIR bash scripts/pg.sh destroy || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- steps ---------------------------------------------------------------------------------------
ensure_venv
install_project
ensure_fonts
ensure_chromium

if wants_postgres && [[ -z "${HYGIE_TEST_POSTGRES_URL:-}" ]]; then
  ensure_postgres_installed
  say "starting a throwaway PostgreSQL cluster"
  # A cluster of its own for this run (not the ./var/pg-test one a developer may be using),
  # deleted on exit.
  local_tmp=${TMPDIR:-/tmp}
  [[ $(id -u) -eq 0 ]] && local_tmp=/tmp  # must be reachable by the postgres user
  PG_DIR=$(mktemp -d "$local_tmp/hygie-pg-test.XXXXXX")
  HYGIE_TEST_POSTGRES_URL=$(HYGIE_PG_DIR=$PG_DIR bash scripts/pg.sh start)
  export HYGIE_TEST_POSTGRES_URL
  printf 'HYGIE_TEST_POSTGRES_URL=%s\n' "$HYGIE_TEST_POSTGRES_URL"
fi

FAILED=()
run_step() {
  local name=$1
  shift
  say "$name"
  if "$@"; then
    return 0
  fi
  FAILED+=("$name")
}

run_step "ruff" .venv/bin/ruff check .
run_step "mypy" .venv/bin/mypy
run_step "import-linter" .venv/bin/lint-imports
if (( ${#FAILED[@]} )); then
  printf '\ntest.sh: static checks failed: %s (running pytest anyway)\n' "${FAILED[*]}"
fi

WORKERS=${HYGIE_TEST_WORKERS:-2}
XDIST=()
if [[ "$WORKERS" != 0 ]]; then
  XDIST=(-n "$WORKERS")
fi
say "pytest (setup took $(( $(date +%s) - STARTED ))s)"
run_step "pytest" .venv/bin/python -m pytest "${XDIST[@]}" "$@"

if (( ${#FAILED[@]} )); then
  printf 'test.sh: FAILED: %s (%ss)\n' "${FAILED[*]}" "$(( $(date +%s) - STARTED ))" >&2
  exit 1
fi
