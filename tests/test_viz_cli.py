"""`cloudmarket viz` says clearly when Solara's front-end files are missing, and how to seed them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CLI = Path(sys.executable).with_name("cloudmarket")


def test_viz_without_front_end_files_names_the_seeding_command(tmp_path):
    env = {**os.environ, "SOLARA_ASSETS_PROXY_CACHE_DIR": str(tmp_path / "empty-cache")}
    done = subprocess.run([str(CLI), "viz", "--port", "8799"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done
    assert "Solara's front-end files are missing" in done.stderr
    assert "bash scripts/setup_browser.sh" in done.stderr and "--cdn" in done.stderr
    assert "Traceback" not in done.stderr and "serving on" not in done.stdout  # no server was started


def test_seeded_front_end_files_are_found():
    from cloudmarket.experiments.cli import missing_frontend_files

    # scripts/setup_browser.sh (run by make test) seeds this venv's cache
    assert missing_frontend_files() is None
