#!/usr/bin/env bash
# Create .venv with Python >= 3.12 and install the project with the extras named in $1
# (default: "test,viz,dist"). Idempotent: a stamp file skips the pip step when setup.cfg
# has not changed. Used by `make run` / `make test`; needs only the machine's Python.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=${1:-test,viz,dist}
VENV=${VENV:-.venv}

find_python() {
  # Run candidates rather than trusting `command -v`: pyenv shims exist on PATH even when
  # the version they point to is not active, and then fail when run.
  local c candidates=(python3.13 python3.12)
  if command -v pyenv >/dev/null 2>&1; then
    for c in "$(pyenv root)"/versions/3.1[2-9]*/bin/python3; do candidates+=("$c"); done
  fi
  candidates+=(python3 python)
  for c in "${candidates[@]}"; do
    if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
      echo "$c"; return 0
    fi
  done
  return 1
}

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
  PY=$(find_python) || { echo "error: no Python >= 3.12 found (Mesa 3.5 needs it); install python3.12 and retry" >&2; exit 1; }
  echo "bootstrap: creating $VENV with $PY ($("$PY" --version))"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi

STAMP="$VENV/.installed-$EXTRAS"
if [ ! -f "$STAMP" ] || [ setup.cfg -nt "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
  echo "bootstrap: installing cloudmarket[$EXTRAS] into $VENV"
  "$VENV/bin/python" -m pip install --quiet -e ".[$EXTRAS]"
  touch "$STAMP"
fi
