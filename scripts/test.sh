#!/usr/bin/env bash
# `make test`: set up everything on a fresh machine, then run every test.
# Mesa's Deprecation/Future warnings are errors (setup.cfg filterwarnings).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test,viz,dist,analysis,notebooks
bash scripts/setup_browser.sh
export MPLBACKEND=Agg
exec .venv/bin/python -m pytest "$@"
