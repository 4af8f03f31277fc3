#!/usr/bin/env bash
# Everything the browser page and its test need on a fresh machine, offline:
# Debian's Chromium (never `playwright install`, which downloads a browser) and Solara's
# front-end assets seeded into the venv's CDN cache from the npm registry. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
if [ ! -x /usr/bin/chromium ]; then
  echo "setup_browser: installing Debian chromium"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
# mesa.visualization imports altair even for matplotlib pages; setup.cfg's viz extra does
# not list it yet (mesa[viz] does), so make sure the page can be imported.
if ! "$VENV/bin/python" -c "import altair" 2>/dev/null; then
  echo "setup_browser: installing altair (needed by mesa.visualization)"
  "$VENV/bin/python" -m pip install --quiet altair
fi
# seed_solara_cdn.sh reads the venv's solara version; run it with the venv on PATH
PATH="$PWD/$VENV/bin:$PATH" bash scripts/seed_solara_cdn.sh
