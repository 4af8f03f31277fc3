"""The built wheel, installed in a fresh venv beside a package that owns `agents`, `model` and `experiments`.

What a new user does: `pip wheel .`, install it, run the command. The fresh venv shares
the test venv's third-party libraries through a path file (so the test does not download
Mesa again) but not this checkout: it sees the wheel only, run from a folder outside the
repository. A second, made-up package installs the generic top-level names that used to
collide (`openai-agents` owns `agents`; PyPI's `experiments`; a user's own `model`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUPTOOLS_NOISE = ("SetuptoolsDeprecationWarning", "Package would be ignored", "Installing '", "!!")


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def make_squatter_wheel(folder: Path) -> Path:
    """A tiny real wheel whose top-level packages are agents, model and experiments."""
    files = {f"{top}/__init__.py": f"SQUATTER = {top!r}\n".encode() for top in ("agents", "model", "experiments")}
    info = "squatter-1.0.dist-info"
    files[f"{info}/METADATA"] = b"Metadata-Version: 2.1\nName: squatter\nVersion: 1.0\n"
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{info}/top_level.txt"] = b"agents\nexperiments\nmodel\n"
    record = "\n".join(_record_line(n, d) for n, d in files.items()) + f"\n{info}/RECORD,,\n"
    path = folder / "squatter-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr(f"{info}/RECORD", record)
    return path


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> tuple[Path, Path, str]:
    """(venv python, a work folder outside the checkout, the wheel build's output)."""
    tmp = tmp_path_factory.mktemp("wheel")
    before = set(subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.splitlines())
    had_build = (ROOT / "build").exists()
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-w", str(tmp / "dist")],
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
    if not had_build:  # setuptools' staging folder: stale files in it would reach later wheels
        shutil.rmtree(ROOT / "build", ignore_errors=True)
    assert build.returncode == 0, build.stdout + build.stderr
    after = set(subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.splitlines())
    new_untracked = [line for line in after - before if line.startswith("??")]
    assert not new_untracked, f"the build left files git does not ignore: {new_untracked}"
    (wheel,) = (tmp / "dist").glob("cloudmarket-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # third-party libraries from the test venv; the checkout and its editable finder stay out
    (site / "shared_libraries.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    # and the data files their install put under the venv's prefix (Jupyter widget
    # configuration, Solara's seeded front-end files), as a real install would
    for data in ("etc/jupyter", "share/jupyter", "share/solara"):
        if (Path(sys.prefix) / data).exists():
            (venv / data).parent.mkdir(parents=True, exist_ok=True)
            (venv / data).symlink_to(Path(sys.prefix) / data)
    for whl in (wheel, make_squatter_wheel(tmp)):
        subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", str(whl)],
                       check=True, timeout=300, capture_output=True)
    work = tmp / "work"
    work.mkdir()
    return python, work, build.stdout + build.stderr


def run(python: Path, work: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    return subprocess.run([str(python), "-m", "cloudmarket", *args], cwd=work, capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_build_is_clean(wheel_venv):
    _, _, log = wheel_venv
    noise = [line for line in log.splitlines() if any(s in line for s in SETUPTOOLS_NOISE)]
    assert not noise, "\n".join(noise[:20])


def test_wheel_holds_one_top_level_name(wheel_venv):
    python, work, _ = wheel_venv
    out = subprocess.run([str(python), "-c", "import importlib.metadata as m; "
                          "print(m.distribution('cloudmarket').read_text('top_level.txt') or '')"],
                         cwd=work, capture_output=True, text=True, check=True)
    files = subprocess.run([str(python), "-c", "import importlib.metadata as m; "
                            "print('\\n'.join(str(f) for f in m.files('cloudmarket')))"],
                           cwd=work, capture_output=True, text=True, check=True).stdout.split()
    tops = {f.split("/")[0] for f in files if not f.startswith(("cloudmarket-", "../"))}
    assert tops == {"cloudmarket"}, tops
    assert any(f.endswith("model/data/china_cloud_shares.csv") for f in files)
    assert any(f.endswith("experiments/specs/quick.toml") for f in files)
    assert out.returncode == 0


def test_squatters_do_not_shadow_the_package(wheel_venv):
    python, work, _ = wheel_venv
    code = ("import agents, model, experiments, cloudmarket; "
            "from cloudmarket.agents import CloudVendor; from cloudmarket.model import CloudMarket; "
            "print(agents.SQUATTER, model.SQUATTER, experiments.SQUATTER, cloudmarket.__file__)")
    out = subprocess.run([str(python), "-c", code], cwd=work, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    squat_a, squat_m, squat_e, location = out.stdout.split()
    assert (squat_a, squat_m, squat_e) == ("agents", "model", "experiments")
    assert str(ROOT) not in location and "site-packages" in location


def test_version_run_and_named_specs_from_the_wheel(wheel_venv):
    python, work, _ = wheel_venv
    version = run(python, work, "--version")
    assert version.returncode == 0 and version.stdout.startswith("cloudmarket 0."), version.stdout + version.stderr
    one = run(python, work, "run", "--n-customers", "150", "--steps", "3", "--seed", "2", "--out", "one.parquet")
    assert one.returncode == 0, one.stderr
    assert (work / "one.parquet").is_file() and (work / "one.market.parquet").is_file()
    sweep = run(python, work, "sweep", "quick", "--out", "quick_store", "--workers", "2", "--quiet")
    assert sweep.returncode == 0, sweep.stdout + sweep.stderr
    assert "20 done" in sweep.stdout
    import json

    manifest = json.loads((work / "quick_store" / "manifest.json").read_text())
    assert manifest["software"]["cloudmarket"] == version.stdout.split()[1]
    assert manifest["git"] == {"commit": None, "dirty": None}  # a wheel has no checkout of its own
    missing = run(python, work, "sweep", "no_such_spec", "--out", "x")
    assert missing.returncode == 2 and "quick" in missing.stderr and "Traceback" not in missing.stderr
    assert not (work / "x").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_viz_serves_the_page_from_the_wheel(wheel_venv):
    python, work, _ = wheel_venv
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.Popen([str(python), "-m", "cloudmarket", "viz", "--port", str(port)], cwd=work, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, status = time.monotonic() + 120, None
        while time.monotonic() < deadline and status is None:
            assert proc.poll() is None, proc.stdout.read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                    status = response.status
                    body = response.read().decode("utf-8", "replace")
            except urllib.error.HTTPError as err:
                pytest.fail(f"the page answered HTTP {err.code}: {proc.pid} stays up but cannot serve")
            except OSError:
                time.sleep(0.5)
        assert status == 200
        assert "solara" in body.lower()
    finally:
        os.kill(proc.pid, signal.SIGTERM)  # by its PID: viz execs the server in place
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
