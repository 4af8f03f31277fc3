"""`make lab`: JupyterLab from the project's venv, on 127.0.0.1, with no browser opened."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from conftest import ROOT


def _lab_command() -> list[str]:
    """The JupyterLab command line `make lab` runs (make -n prints it without running anything)."""
    dry = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in dry.splitlines() if "jupyter lab" in ln)
    return shlex.split(line)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_lab_serves_jupyterlab_from_the_venv_on_loopback(tmp_path):
    command = _lab_command()
    assert command[0] == ".venv/bin/jupyter" and "--no-browser" in command
    assert command[command.index("--ip") + 1] == "127.0.0.1"
    assert Path(sys.executable).with_name("jupyter").exists()  # installed by the notebooks extra
    port = _free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
    log = tmp_path / "lab.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([str(ROOT / command[0]), *command[1:], "--port", str(port),
                                 "--IdentityProvider.token=lab-test"], cwd=ROOT, env=env,
                                stdout=fh, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token=lab-test", timeout=2) as r:
                    assert r.status == 200 and "JupyterLab" in r.read().decode()
                    break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
    finally:
        proc.terminate()  # our own server, by its PID
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
