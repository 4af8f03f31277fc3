"""Run ``cloudmarket sweep`` from a notebook or a script with a progress bar (``tqdm.auto``).

The sweep runs as its own process, exactly as typed in a terminal (so its worker pool
forks from a single-threaded driver and starts at once), while this process watches the
store's run records and moves a ``tqdm.auto`` bar: a widget in Jupyter, text elsewhere.

Example
-------
    from cloudmarket.experiments.progress import run_sweep
    run_sweep("notebooks/out/sanctions.toml", "notebooks/out/sanctions", workers=2)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

POLL_SECONDS = 0.5


def cloudmarket_command() -> str:
    """The ``cloudmarket`` script of this interpreter's environment (else the one on PATH)."""
    beside = Path(sys.executable).with_name("cloudmarket")
    return str(beside) if beside.exists() else shutil.which("cloudmarket") or "cloudmarket"


def runs_recorded(out: str | Path) -> int:
    """Runs the store records as finished (done or failed), journal included; 0 before it exists.

    >>> import tempfile
    >>> runs_recorded(tempfile.mkdtemp())
    0
    """
    from cloudmarket.experiments.store import Store

    store = Store(out)
    if not store.exists():
        return 0
    try:
        return len(store.read_run_rows())
    except (OSError, ValueError):  # a file being replaced under us: read it next time
        return -1


def run_sweep(spec: str | Path, out: str | Path, workers: int | None = None, desc: str | None = None,
              extra: list[str] | None = None) -> str:
    """Run ``cloudmarket sweep SPEC --out OUT`` with a progress bar; return its summary line.

    Raises RuntimeError with the command's message if it exits with an error.
    """
    from tqdm.auto import tqdm

    from cloudmarket.experiments.runner import plan
    from cloudmarket.experiments.spec import load_spec

    total = len(plan(load_spec(spec)))
    command = [cloudmarket_command(), "sweep", str(spec), "--out", str(out), "--quiet", *(extra or [])]
    if workers:
        command += ["--workers", str(workers)]
    bar = tqdm(total=total, desc=desc or Path(str(out)).name, unit="run")
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        while proc.poll() is None:
            seen = runs_recorded(out)
            if seen >= 0:
                bar.n = min(seen, total)
                bar.refresh()
            time.sleep(POLL_SECONDS)
        stdout, stderr = proc.communicate()
    bar.n = min(max(runs_recorded(out), 0), total)
    bar.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with status {proc.returncode}:\n{stdout}{stderr}")
    return stdout.strip()
