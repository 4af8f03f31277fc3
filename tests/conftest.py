"""Shared pytest set-up: where test artefacts (screenshots, plots) go."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Folder for files a person should look at after the tests (artifacts/ at the root)."""
    path = ROOT / "artifacts"
    path.mkdir(exist_ok=True)
    return path
