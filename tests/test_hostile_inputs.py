"""Hostile input, one table: every case exits 2 with a message naming the key or file, no traceback, no file changed.

Each row builds its inputs in a fresh folder (a copy of a small finished store where it
needs one), runs `cloudmarket ...` in this process, and checks the exit status, the
message, that no traceback was printed and that every file under the folder is byte for
byte what it was (nothing written, nothing damaged). Read-only places are made with
`chattr +i` when running as root (file modes do not stop root), with chmod otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cloudmarket.experiments import dask_backend
from cloudmarket.experiments.cli import main
from store_tables import finished_store

SPEC = """
[experiment]
name = "tiny"
steps = 2
replications = 2
seed = 3
[parameters]
n_customers = 80
[sweep]
design = "grid"
[sweep.values]
switching_cost = [0.5, 2.0]
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A small finished store (and its spec) to copy into each case's folder."""
    return finished_store(tmp_path_factory.mktemp("finished"), SPEC)


def read_only(path: Path) -> None:
    """Make ``path`` (a folder) unwritable, even for root."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    else:
        path.chmod(0o555)


def writable_again(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            if os.geteuid() == 0:
                subprocess.run(["chattr", "-i", str(path)], check=False, capture_output=True)
            else:
                path.chmod(0o755)


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def spec_file(d: Path, text: str, name: str = "spec.toml") -> str:
    (d / name).write_text(textwrap.dedent(text))
    return str(d / name)


def params_file(d: Path, content: bytes | str) -> str:
    path = d / "p.toml"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


def store(d: Path, finished: Path) -> Path:
    shutil.copytree(finished / "store", d / "store")
    shutil.copy(finished / "spec.toml", d / "spec.toml")
    return d / "store"


def busy_port() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def _existing_run_outputs(d: Path, f: Path) -> list[str]:
    (d / "one.parquet").write_bytes(b"old vendors")
    (d / "one.market.parquet").write_bytes(b"old market")
    (d / "ro").mkdir()
    read_only(d / "ro")
    return ["run", "--n-customers", "60", "--steps", "1", "--seed", "3", "--out", str(d / "one.parquet"),
            "--plot", str(d / "ro" / "p.png")]


def _damaged_runs_table(d: Path, f: Path) -> Path:
    s = store(d, f)
    data = (s / "runs.parquet").read_bytes()
    (s / "runs.parquet").write_bytes(data[: len(data) // 2])
    return s


def _journal_line(d: Path, f: Path, line: str) -> Path:
    s = store(d, f)
    row = pq.read_table(s / "runs.parquet").to_pylist()[0]
    (s / "runs.journal").write_text(line + "\n" + json.dumps(row, default=str) + "\n")
    return s


CASES = {
    # --- parameter files given to `run --params`
    "params is a directory": (lambda d, f: (d / "dir.toml").mkdir() or ["run", "--params", str(d / "dir.toml")],
                              ["--params", "dir.toml", "is a directory"]),
    "params not UTF-8": (lambda d, f: ["run", "--params", params_file(d, b"switching_cost = 1.0\n# \xff\xfe\n")],
                         ["--params", "p.toml", "not UTF-8"]),
    "params: parameters = 5": (lambda d, f: ["run", "--params", params_file(d, "parameters = 5\n")],
                               ["p.toml", "parameters = 5: must be a table"]),
    "params: unknown key": (lambda d, f: ["run", "--params", params_file(d, "bogus = 1\n")],
                            ["p.toml", "bogus = 1: unknown parameter"]),
    "params: out of range in [parameters]": (
        lambda d, f: ["run", "--params", params_file(d, "[parameters]\nswitching_cost = -1.0\n")],
        ["p.toml", "parameters.switching_cost = -1.0: must be >= 0"]),
    "params: stray table": (lambda d, f: ["run", "--params", params_file(d, "[parameters]\nswitching_cost = 1.0\n[other]\nx = 1\n")],
                            ["p.toml", "other: unknown key beside [parameters]"]),
    # --- outputs of `run`: checked before the run, existing files left alone
    "run: plot into a read-only folder": (_existing_run_outputs, ["--plot", "cannot write in"]),
    "run: market file path is a directory": (
        lambda d, f: (d / "one.market.parquet").mkdir() or ["run", "--steps", "1", "--out", str(d / "one.parquet")],
        ["--out", "one.market.parquet", "is a directory"]),
    "run: out under a file": (lambda d, f: (d / "file").write_text("x") and ["run", "--out", str(d / "file" / "a.parquet")],
                              ["--out", "is a file, not a folder"]),
    "run: too big for memory": (lambda d, f: ["run", "--n-customers", "2000000", "--set", "avg_degree=200"],
                                ["n_customers = 2000000", "avg_degree = 200", "GB", "available"]),
    # --- specs
    "spec params file: stray table": (
        lambda d, f: params_file(d, "[parameters]\nswitching_cost = 1.0\n[other]\nx = 1\n") and [
            "sweep", spec_file(d, SPEC.replace('name = "tiny"', 'name = "tiny"\nparams = "p.toml"')
                               .replace("switching_cost = [0.5, 2.0]", "peer_weight = [0.5, 2.0]")), "--out", str(d / "o")],
        ["experiment.params (p.toml)", "other: unknown key"]),
    "spec params file: unknown key": (
        lambda d, f: params_file(d, "bogus = 1\n") and [
            "sweep", spec_file(d, SPEC.replace('name = "tiny"', 'name = "tiny"\nparams = "p.toml"')), "--out", str(d / "o")],
        ["experiment.params (p.toml): bogus", "unknown parameter"]),
    "grid of 1e12 points": (
        lambda d, f: ["sweep", spec_file(d, "[experiment]\n[sweep]\n[sweep.values]\n" + "".join(
            f"{n} = [{', '.join(str(i / 1000) for i in range(1000))}]\n"
            for n in ("switching_cost", "peer_weight", "quality_weight", "price_weight"))), "--out", str(d / "o")],
        ["sweep", "1,000,000,000,000 points", "limit of 1,000,000 runs"]),
    "lhs 1e6 samples x 1e5 replications": (
        lambda d, f: ["sweep", spec_file(d, "[experiment]\nreplications = 100000\n[sweep]\ndesign = \"lhs\"\n"
                                        "samples = 1000000\n[sweep.ranges]\nswitching_cost = [0.0, 1.0]\n"),
                      "--out", str(d / "o")],
        ["1,000,000 points x 100,000 replications", "limit of 1,000,000 runs"]),
    "sobol with samples = 1": (
        lambda d, f: ["sweep", spec_file(d, "[experiment]\n[sweep]\ndesign = \"sobol\"\nsamples = 1\n"
                                        "[sweep.ranges]\nswitching_cost = [0.0, 1.0]\n"), "--out", str(d / "o")],
        ["sweep.samples = 1: must be at least 8"]),
    "sweep: too big for memory": (
        lambda d, f: ["sweep", spec_file(d, SPEC.replace("n_customers = 80", "n_customers = 2000000\navg_degree = 200.0")),
                      "--out", str(d / "o"), "--backend", "serial"],
        ["n_customers = 2000000", "GB"]),
    # --- places a sweep cannot write
    "sweep --out in a read-only folder": (
        lambda d, f: (d / "ro").mkdir() or read_only(d / "ro") or ["sweep", spec_file(d, SPEC), "--out", str(d / "ro" / "s")],
        ["--out", "cannot write in", "ro"]),
    "sweep into a read-only store": (
        lambda d, f: (s := store(d, f)) and (read_only(s / "market") or ["sweep", str(d / "spec.toml"), "--out", str(s)]),
        ["--out", "market", "cannot write in"]),
    "unreachable scheduler on a finished store": (
        lambda d, f: store(d, f) and ["sweep", str(d / "spec.toml"), "--out", str(d / "store"),
                                      "--scheduler", "tcp://127.0.0.1:9"],
        ["--scheduler = 'tcp://127.0.0.1:9'", "cannot reach", "nothing was written"]),
    # --- damaged stores: every reading command names the file
    "status: damaged runs.parquet": (lambda d, f: ["status", str(_damaged_runs_table(d, f))],
                                     ["runs.parquet", "damaged"]),
    "summary: damaged runs.parquet": (lambda d, f: ["summary", str(_damaged_runs_table(d, f))],
                                      ["runs.parquet", "damaged"]),
    "sweep: damaged runs.parquet": (lambda d, f: _damaged_runs_table(d, f) and [
        "sweep", str(d / "spec.toml"), "--out", str(d / "store"), "--backend", "serial"], ["runs.parquet", "damaged"]),
    "status: manifest not JSON": (
        lambda d, f: (s := store(d, f)) and ((s / "manifest.json").write_text("{ not json") and ["status", str(s)]),
        ["manifest.json", "not valid JSON"]),
    "summary: manifest without design": (
        lambda d, f: (s := store(d, f)) and ((s / "manifest.json").write_text('{"name": "x"}') and ["summary", str(s)]),
        ["manifest.json", "no design.swept"]),
    "sweep: manifest not JSON": (
        lambda d, f: (s := store(d, f)) and ((s / "manifest.json").write_text("[1, 2") and [
            "sweep", str(d / "spec.toml"), "--out", str(s)]),
        ["manifest.json", "not valid JSON"]),
    "status: journal line not JSON": (lambda d, f: ["status", str(_journal_line(d, f, "{garbage"))],
                                      ["runs.journal", "line 1 is damaged"]),
    "summary: journal record without run_id": (lambda d, f: ["summary", str(_journal_line(d, f, '{"status": "done"}'))],
                                               ["runs.journal", "line 1 is damaged"]),
    "sweep: journal line not JSON": (lambda d, f: _journal_line(d, f, "[[[") and [
        "sweep", str(d / "spec.toml"), "--out", str(d / "store"), "--backend", "serial"], ["runs.journal", "line 1"]),
    "compare: a part file deleted": (
        lambda d, f: (s := store(d, f)) and (next((s / "market").glob("*.parquet")).unlink() or [
            "compare", str(s), "--metric", "hhi", "--by", "switching_cost"]),
        ["damaged store", "market", "missing", "done runs have missing or unreadable rows"]),
    "summary: a part file truncated": (
        lambda d, f: (s := store(d, f)) and ((p := next((s / "vendors").glob("*.parquet"))).write_bytes(
            p.read_bytes()[:100]) and ["summary", str(s)]),
        ["damaged store", "vendors", "unreadable"]),
    # --- plot and calibrate
    "plot --out in a read-only folder": (
        lambda d, f: store(d, f) and ((d / "ro").mkdir() or read_only(d / "ro") or [
            "plot", str(d / "store"), "--out", str(d / "ro" / "x.png")]),
        ["--out", "cannot write in"]),
    "calibrate: range out of bounds": (
        lambda d, f: ["calibrate", spec_file(d, "[experiment]\n[calibration]\nsamples = 4\n[calibration.ranges]\n"
                                            "switching_cost = [0.0, 99.0]\n"), "--out", str(d / "o")],
        ["calibration.ranges.switching_cost[1] = 99.0: must be <= 20"]),
    "calibrate: spec is a directory": (lambda d, f: (d / "c.toml").mkdir() or ["calibrate", str(d / "c.toml"), "--out", str(d / "o")],
                                       ["c.toml", "cannot be read"]),
    # --- the browser page's address
    "viz --host empty": (lambda d, f: ["viz", "--host", ""], ["--host = ''", "every interface"]),
    "viz --host unknown": (lambda d, f: ["viz", "--host", "no-such-host.invalid"], ["--host = 'no-such-host.invalid'"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input_exits_2_naming_it_and_changes_nothing(case, tmp_path, finished, capsys, monkeypatch):
    monkeypatch.setattr(dask_backend, "SCHEDULER_TIMEOUT_S", 3)  # the unreachable scheduler: fail fast
    setup, fragments = CASES[case]
    d = tmp_path / "case"
    d.mkdir()
    try:
        argv = setup(d, finished)
        before = snapshot(d)
        capsys.readouterr()
        code = main(argv)
        err = capsys.readouterr().err
        after = snapshot(d)
    finally:
        writable_again(d)
    assert code == 2, err
    assert "Traceback" not in err and err.startswith("error: "), err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert after == before, "a failed command changed files"


def test_viz_port_in_use_is_reported_before_serving_and_non_loopback_is_warned(capsys):
    with busy_port() as s:
        port = s.getsockname()[1]
        assert main(["viz", "--port", str(port)]) == 2
        out, err = capsys.readouterr()
        assert f"--port = {port}" in err and "serving on" not in out
        assert main(["viz", "--host", "0.0.0.0", "--port", str(port)]) == 2
        out, err = capsys.readouterr()
        assert "warning: --host = '0.0.0.0' is not a loopback address" in err and "serving on" not in out


def test_run_output_failing_midway_leaves_existing_files(tmp_path, monkeypatch, capsys):
    """A full disk while the plot is written: the run's other files are not replaced either."""
    import matplotlib.figure

    out = tmp_path / "one.parquet"
    assert main(["run", "--n-customers", "60", "--steps", "1", "--seed", "1", "--out", str(out)]) == 0
    before = snapshot(tmp_path)

    def full_disk(self, path, **kwargs):
        Path(path).write_bytes(b"half a png")
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full_disk)
    capsys.readouterr()
    assert main(["run", "--n-customers", "60", "--steps", "1", "--seed", "2", "--out", str(out),
                 "--plot", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "the disk is full" in err and "Traceback" not in err
    assert snapshot(tmp_path) == before
