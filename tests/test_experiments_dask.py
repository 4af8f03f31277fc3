"""The dask backend on a real cluster: `dask scheduler` + two `dask worker` processes on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from cloudmarket.experiments import load_results
from cloudmarket.experiments.cli import main

ROOT = Path(__file__).resolve().parents[1]
DASK = str(ROOT / ".venv" / "bin" / "dask")

SPEC = """
[experiment]
name = "dask"
steps = 3
replications = 2
seed = 9
[parameters]
n_customers = 150
[sweep]
design = "grid"
[sweep.values]
export_control_severity = [0.0, 0.7]
switching_cost = [0.5, 2.0]
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """Stop one process by its PID: SIGTERM, then SIGKILL if it lingers."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


@pytest.fixture
def dask_cluster(tmp_path):
    """Address of a scheduler with two single-threaded workers; every process stopped after."""
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    procs: list[subprocess.Popen] = []
    try:
        procs.append(subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            env=env, cwd=tmp_path, stdout=open(logs / "scheduler.log", "w"), stderr=subprocess.STDOUT))
        for k in range(2):
            # --no-nanny: one process per worker, so the PID we hold is the worker itself.
            procs.append(subprocess.Popen(
                [DASK, "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                 "--no-dashboard", "--local-directory", str(tmp_path / f"worker{k}")],
                env=env, cwd=tmp_path, stdout=open(logs / f"worker{k}.log", "w"), stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 60
        while True:
            assert all(p.poll() is None for p in procs), "a dask process exited: " + " | ".join(
                f.read_text()[-500:] for f in logs.iterdir())
            try:
                with Client(address, timeout=5) as client:
                    client.wait_for_workers(2, timeout=30)
                break
            except (OSError, TimeoutError):
                assert time.monotonic() < deadline, "dask cluster did not come up"
                time.sleep(0.5)
        yield address, procs
    finally:
        for proc in reversed(procs):
            _stop(proc)


def test_dask_cluster_backend_matches_serial(tmp_path, dask_cluster):
    address, procs = dask_cluster
    spec = tmp_path / "spec.toml"
    spec.write_text(textwrap.dedent(SPEC))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "dask"), "--scheduler", address, "--quiet"]) == 0
    assert main(["sweep", str(spec), "--out", str(tmp_path / "serial"), "--backend", "serial", "--quiet"]) == 0
    manifest = load_results(tmp_path / "dask").manifest
    assert manifest["sweeps"][-1]["backend"] == "dask" and manifest["sweeps"][-1]["scheduler"] == address
    a, b = load_results(tmp_path / "dask"), load_results(tmp_path / "serial")
    pd.testing.assert_frame_equal(a.runs.drop(columns="wall_s").sort_values("run_id", ignore_index=True),
                                  b.runs.drop(columns="wall_s").sort_values("run_id", ignore_index=True))
    pd.testing.assert_frame_equal(a.market, b.market, check_exact=True)
    pd.testing.assert_frame_equal(a.vendors, b.vendors, check_exact=True)
    assert len(a.runs) == 8 and (a.runs.status == "done").all()
    assert all(p.poll() is None for p in procs), "the sweep must not stop the cluster it was given"
