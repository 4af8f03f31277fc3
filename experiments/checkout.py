"""The package's own git checkout: which commit it is and whether it has uncommitted changes.

The one place that runs git. An experiment's manifest records this (``runner.prepare``),
so a result can be traced to the source that produced it.

Example
-------
>>> from pathlib import Path
>>> git_state(Path("/"))
{'commit': None, 'dirty': None}
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]  # the folder holding this package's sources


def git_state(root: Path = ROOT) -> dict[str, Any]:
    """Commit and dirty flag of the package's own source checkout, else nulls.

    Only when ``root`` (the folder holding this package's sources) is the top of a git
    work tree: an installed wheel inside some other repository (a user's project, a venv
    in a checkout) must not record that repository's commit as the package's.

    >>> git_state(Path("/"))
    {'commit': None, 'dirty': None}
    """
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20,
                              check=True).stdout.strip()

    unknown = {"commit": None, "dirty": None}
    if not (root / ".git").exists() or not (root / "setup.cfg").is_file():
        return unknown
    try:
        if Path(git("rev-parse", "--show-toplevel")).resolve() != root.resolve():
            return unknown
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return unknown
