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


def immutable(path: Path) -> None:
    """Make the file ``path`` impossible to replace or remove, even for root (chattr +i), else read-only folder."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    else:
        path.parent.chmod(0o555)


def writable_again(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=False, capture_output=True)
        elif path.is_dir():
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


CAL_SPEC = """
[experiment]
name = "cal-tiny"
replications = 1
seed = 5
[parameters]
n_customers = 60
[calibration]
samples = 4
accept = 0.5
refine_samples = 4
final_replications = 2
horizon = 4
origins = []
[calibration.ranges]
switching_cost = [1.0, 4.0]
"""


def _unreplaceable_run_output(d: Path, f: Path) -> list[str]:
    (d / "one.parquet").write_bytes(b"old vendors")
    (d / "one.png").write_bytes(b"old png")
    immutable(d / "one.png")
    return ["run", "--n-customers", "60", "--steps", "1", "--out", str(d / "one.parquet"), "--plot", str(d / "one.png")]


def _discover(d: Path, f: Path, out: Path) -> list[str]:
    return ["discover", str(store(d, f)), "--metric", "hhi", "--above", "0", "--out", str(out)]


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
    # --- values the schema refuses, settings that would do nothing (issue 21)
    "run: unit_cost = 0 (prices are set from cost)": (lambda d, f: ["run", "--set", "unit_cost=0"],
                                                      ["unit_cost = 0", "must be >= 0.01"]),
    "run: cloud_push without cloud_push_vendors": (lambda d, f: ["run", "--set", "cloud_push=1.0"],
                                                   ["cloud_push = 1.0", "cloud_push_vendors is empty"]),
    "sweep: cloud_push swept without cloud_push_vendors": (
        lambda d, f: ["sweep", spec_file(d, SPEC.replace("switching_cost = [0.5, 2.0]", "cloud_push = [0.0, 1.0]")),
                      "--out", str(d / "o")],
        ["cloud_push = 1.0", "cloud_push_vendors is empty", "spec.toml"]),
    "run --steps 401": (lambda d, f: ["run", "--steps", "401"], ["steps = 401", "must be <= 400"]),
    # --- every output place of a multi-file command checked before the work, named as given
    "run: an existing output that cannot be replaced": (_unreplaceable_run_output,
                                                        ["--plot", "one.png", "cannot be replaced"]),
    "export --csv ''": (lambda d, f: ["export", str(store(d, f)), "--csv", ""],
                        ["--csv = ''", "give a folder name"]),
    "export --csv is a file": (lambda d, f: (d / "x.csv").write_text("mine") and [
        "export", str(store(d, f)), "--csv", str(d / "x.csv")], ["--csv", "x.csv", "is a file, not a folder"]),
    "export --csv in a read-only folder": (
        lambda d, f: store(d, f) and ((d / "ro").mkdir() or read_only(d / "ro") or [
            "export", str(d / "store"), "--csv", str(d / "ro" / "csv")]),
        ["--csv", "ro/csv", "cannot write in"]),
    "discover --out is a file": (lambda d, f: (d / "found").write_text("mine") and _discover(d, f, d / "found"),
                                 ["--out", "found", "is a file, not a folder"]),
    "discover --out in a read-only folder": (
        lambda d, f: (d / "ro").mkdir() or read_only(d / "ro") or _discover(d, f, d / "ro" / "found"),
        ["--out", "ro/found", "cannot write in"]),
    "discover: an output name is a directory": (
        lambda d, f: (d / "found" / "boxes.csv").mkdir(parents=True) or _discover(d, f, d / "found"),
        ["--out", "boxes.csv", "is a directory where a file is written"]),
    "calibrate --out is a file": (
        lambda d, f: (d / "fit").write_text("mine") and ["calibrate", spec_file(d, CAL_SPEC), "--out", str(d / "fit")],
        ["--out", "fit", "is a file, not a folder"]),
    "calibrate --out in a read-only folder": (
        lambda d, f: (d / "ro").mkdir() or read_only(d / "ro") or [
            "calibrate", spec_file(d, CAL_SPEC), "--out", str(d / "ro" / "fit")],
        ["--out", "ro/fit", "cannot write in"]),
    # --- the browser page's address
    "viz --host not an address of this machine": (lambda d, f: ["viz", "--host", "8.8.8.8"],
                                                  ["--host = '8.8.8.8'", "not an address of this machine"]),
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


# ---------------------------------------------------------------------- all or nothing (issue 21, item 3)
DISCOVERY_SPEC = """
[experiment]
name = "disc"
steps = 2
replications = 3
seed = 3
[parameters]
n_customers = 150
[sweep]
design = "grid"
[sweep.values]
data_localization = [false, true]
switching_cost = [0.5, 1.0, 2.0, 4.0]
"""


@pytest.fixture(scope="module")
def discovery_store(tmp_path_factory) -> Path:
    """24 runs where installed spend migrates below 2.2% a quarter at high switching costs, above it at low ones."""
    return finished_store(tmp_path_factory.mktemp("discovery"), DISCOVERY_SPEC) / "store"


def _old_outputs(folder: Path, names: list[str]) -> None:
    """Files of an earlier run, with contents no command writes: any change to them shows."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(f"earlier {name}".encode())


def _run_args(d: Path, store_dir: Path) -> list[str]:
    _old_outputs(d, ["one.parquet", "one.market.parquet", "one.png"])
    return ["run", "--n-customers", "60", "--steps", "1", "--seed", "2", "--out", str(d / "one.parquet"),
            "--plot", str(d / "one.png")]


def _export_args(d: Path, store_dir: Path) -> list[str]:
    _old_outputs(d / "csv", ["runs.csv", "market.csv", "vendors.csv", "manifest.json"])
    return ["export", str(store_dir), "--csv", str(d / "csv")]


def _discover_args(d: Path, store_dir: Path) -> list[str]:
    # a CART figure from before: PRIM does not write boxes.png, so success would remove it
    _old_outputs(d / "found", ["tradeoff.png", "box_1.png", "feature_scores.png", "boxes.csv",
                               "feature_scores.csv", "boxes.png"])
    return ["discover", str(store_dir), "--metric", "migration_rate", "--below", "0.022", "--out", str(d / "found")]


def _calibrate_args(d: Path, store_dir: Path) -> list[str]:
    _old_outputs(d / "fit", ["fitted.toml", "fit.json", "fit_by_period.csv", "points.csv", "calibration.png"])
    return ["calibrate", spec_file(d, CAL_SPEC, "cal.toml"), "--out", str(d / "fit"), "--backend", "serial", "--quiet"]


MULTI_FILE_COMMANDS = {"run": _run_args, "export": _export_args, "discover": _discover_args,
                       "calibrate": _calibrate_args}


def _outputs(d: Path) -> dict[str, bytes | None]:
    return {k: v for k, v in snapshot(d).items() if not k.endswith(".toml")}


@pytest.mark.parametrize("command", list(MULTI_FILE_COMMANDS))
def test_a_rename_failing_halfway_puts_every_output_back(command, tmp_path, discovery_store, monkeypatch, capsys):
    """The second rename into place fails (a target that cannot be replaced): the first is undone too."""
    from cloudmarket.experiments import outputs

    d = tmp_path / "case"
    argv = MULTI_FILE_COMMANDS[command](d, discovery_store)
    before = _outputs(d)
    real_replace, renames = os.replace, []

    def replace(src, dst, *args, **kwargs):
        if str(src).endswith(".tmp"):  # a new output going into place
            renames.append(dst)
            if len(renames) == 2:
                raise PermissionError(1, "Operation not permitted", str(src), None, str(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(outputs.os, "replace", replace)
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and len(renames) == 2, err
    assert err.startswith("error: ") and "Traceback" not in err and ".tmp" not in err, err
    assert str(renames[1]) in err and "Operation not permitted" in err, err  # names the user's file
    assert _outputs(d) == before, "a failed publish left some outputs new and some old"


@pytest.mark.parametrize("command", list(MULTI_FILE_COMMANDS))
def test_a_full_disk_while_writing_leaves_every_output_as_it_was(command, tmp_path, discovery_store, monkeypatch,
                                                                  capsys):
    """The last file to be written hits a full disk: nothing is replaced, the error names the user's path."""
    import matplotlib.figure
    import pandas as pd

    d = tmp_path / "case"
    argv = MULTI_FILE_COMMANDS[command](d, discovery_store)
    before = _outputs(d)

    def full_disk(self, path, *args, **kwargs):
        Path(path).write_bytes(b"half a file")
        raise OSError(28, "No space left on device", str(path))

    if command == "export":  # runs.csv is written by pandas, the others by DuckDB
        monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    else:  # every one of these writes a figure
        monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full_disk)
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "No space left on device" in err and "the disk is full" in err and "Traceback" not in err, err
    assert ".tmp" not in err and str(d) in err, err  # the user's path, not a temporary file
    assert _outputs(d) == before


def test_discover_removes_the_figures_of_an_earlier_method(tmp_path, discovery_store, capsys):
    """CART writes boxes.png, PRIM box_1.png: the folder never mixes the two analyses."""
    out = tmp_path / "found"
    base = ["discover", str(discovery_store), "--metric", "migration_rate", "--below", "0.022", "--out", str(out)]
    assert main([*base, "--method", "cart"]) == 0
    assert (out / "boxes.png").is_file()
    assert main(base) == 0
    capsys.readouterr()
    assert not (out / "boxes.png").exists() and (out / "box_1.png").is_file()
    assert sorted(p.name for p in out.iterdir()) == ["box_1.png", "boxes.csv", "feature_scores.csv",
                                                     "feature_scores.png", "tradeoff.png"]


def test_discover_handles_a_box_restricting_a_boolean_and_a_list(tmp_path):
    """EMA 3.0's PrimBox.inspect fails on set-valued limits ("Invalid value '{'false'}' for dtype 'float64'")."""
    import numpy as np
    import pandas as pd

    from cloudmarket.experiments.analysis import Metric
    from cloudmarket.experiments.discover import find_boxes, write_outputs

    rng = np.random.default_rng(1)
    x = pd.DataFrame({"data_localization": rng.choice(["true", "false"], 300).astype(object),
                      "ban_regions": rng.choice(["UK", "UK,EU", "(none)"], 300).astype(object),
                      "switching_cost": 4 * rng.random(300)})
    y = ((x.data_localization == "false") & (x.ban_regions != "UK") & (x.switching_cost > 1)).to_numpy()
    for method in ("prim", "cart"):
        found = find_boxes(x, y, method=method)
        found.metric, found.condition = Metric("spend_share", "huawei"), "a test"
        limits = found.boxes[0].limits.set_index("parameter")
        assert limits.loc["data_localization", "values"] == "false", (method, limits)
        assert limits.loc["ban_regions", "values"] == "(none), UK,EU", (method, limits)
        assert 0.5 < limits.loc["switching_cost", "low"] < 1.2, (method, limits)  # the case bound is 1
        files = write_outputs(found, tmp_path / method)
        assert all(f.stat().st_size > 0 for f in files)


# ---------------------------------------------------------------------- Ctrl-C (item 5)
def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("command,target", [("run", "cloudmarket.model.run.simulate"),
                                            ("export", "cloudmarket.experiments.export.flat_parameters"),
                                            ("discover", "cloudmarket.experiments.discover.find_boxes"),
                                            ("calibrate", "cloudmarket.experiments.calibration.fit_stage")])
def test_ctrl_c_ends_every_command_with_130_and_one_line(command, target, tmp_path, discovery_store, monkeypatch,
                                                         capsys):
    d = tmp_path / "case"
    argv = MULTI_FILE_COMMANDS[command](d, discovery_store)
    before = _outputs(d)
    monkeypatch.setattr(target, _interrupt)
    capsys.readouterr()
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.strip()] == [
        "interrupted (Ctrl-C): nothing more was written; files from before are as they were"], err
    assert _outputs(d) == before


def test_ctrl_c_inside_a_duckdb_query_is_an_interrupt_too(tmp_path, discovery_store, monkeypatch, capsys):
    import duckdb

    from cloudmarket.experiments import analysis

    def interrupted_query(*args, **kwargs):
        raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")

    monkeypatch.setattr(analysis, "summarise", interrupted_query)
    capsys.readouterr()
    assert main(["summary", str(discovery_store)]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "interrupted (Ctrl-C): nothing more was written; files from before are as they were"


def test_ctrl_c_in_calibrate_with_worker_processes(tmp_path):
    """A real SIGINT to the whole process group, as a terminal sends it: workers included."""
    import signal
    import sys
    import time

    cli = Path(sys.executable).with_name("cloudmarket")
    spec = spec_file(tmp_path, CAL_SPEC.replace("samples = 4", "samples = 400"), "cal.toml")
    proc = subprocess.Popen([str(cli), "calibrate", spec, "--out", str(tmp_path / "fit"), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert proc.stdout.readline().startswith("[cal-tiny] fit through")  # the fit has started
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert [line for line in err.splitlines() if line.strip()] == [
        "interrupted (Ctrl-C): nothing more was written; files from before are as they were"], err
    assert not (tmp_path / "fit").exists()


# ---------------------------------------------------------------------- Python API (items 5, 6, 8)
@pytest.mark.parametrize("steps,allowed", [(-1, "must be >= 0"), (1000, "must be <= 400"),
                                           (2.5, "must be a whole number"), ("12", "must be a number")])
def test_simulate_checks_steps_as_the_cli_does(steps, allowed):
    import cloudmarket
    from cloudmarket.model.params import ParameterError

    with pytest.raises(ParameterError, match=f"^steps = {steps!r}: {allowed}"):
        cloudmarket.simulate({"n_customers": 60}, seed=1, steps=steps)
    with pytest.raises(ParameterError, match=f"^steps = {steps!r}"):
        cloudmarket.simulate({"n_customers": 60, "steps": steps}, seed=1)


def test_steps_0_gives_the_start_only_without_a_warning(capsys):
    import warnings

    import cloudmarket

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Mesa's RuntimeWarning "end time 0.0 is larger than time 0.0" fails here
        out = cloudmarket.simulate({"n_customers": 60}, seed=1, steps=0)
    assert out.market.step.tolist() == [0]
    assert main(["run", "--n-customers", "60", "--steps", "0"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "steps 0..0" in captured.out


def test_unit_cost_zero_is_out_of_range_everywhere():
    import cloudmarket
    from cloudmarket.model.params import SCHEMA, ParameterError

    assert SCHEMA["unit_cost"].low > 0
    with pytest.raises(ParameterError, match=r"^unit_cost = 0: must be >= 0\.01"):
        cloudmarket.simulate({"n_customers": 60, "unit_cost": 0}, seed=1, steps=1)
    out = cloudmarket.simulate({"n_customers": 60, "unit_cost": SCHEMA["unit_cost"].low}, seed=1, steps=2)
    assert out.vendors.spend_share.notna().all()  # the lowest allowed cost runs


SCRIPT = """
import cloudmarket

spec = cloudmarket.spec_from_dict({
    "experiment": {"name": "demo", "replications": 2, "steps": 1},
    "parameters": {"n_customers": 60},
    "sweep": {"values": {"export_control_severity": [0.0, 0.6]}}})
report = cloudmarket.sweep(spec, "results/demo", workers=2, quiet=True)
print("done", report.done, "failed", report.failed)
"""


def test_a_script_without_a_main_guard_is_refused_before_any_run(tmp_path):
    import sys

    (tmp_path / "unguarded.py").write_text(SCRIPT)
    done = subprocess.run([sys.executable, "unguarded.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()
    assert "MainGuardError" in done.stderr and "unguarded.py runs cloudmarket.sweep(...)" in done.stderr
    assert 'if __name__ == "__main__":' in done.stderr and last[-1].endswith("Nothing was run.")
    assert "BrokenProcessPool" not in done.stderr + done.stdout and not (tmp_path / "results").exists()
    guarded = 'if __name__ == "__main__":\n' + "".join(f"    {line}\n" if line else "\n" for line in SCRIPT.splitlines())
    (tmp_path / "guarded.py").write_text(guarded)
    done = subprocess.run([sys.executable, "guarded.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "done 4 failed 0", done.stderr


EMA_REFUSED = [
    ({"levers": ["ban_regions"], "ranges": {"ban_regions": ["UK"]}}, r"^ban_regions = \['UK'\]: a range is \(low, high\) for a number"),
    ({"interoperability": 0.5, "levers": ["interoperability"]}, "^interoperability = 0.5: given as a fixed value and named as a policy lever"),
    ({"peer_weight": 1.0, "uncertainties": ["peer_weight"]}, "^peer_weight = 1.0: given as a fixed value and named as a behavioural uncertainty"),
    ({"cloud_push": 1.0, "levers": ["interoperability"]}, "^cloud_push = 1.0: no vendor receives the push"),
    ({"replications": 2.5}, "^replications = 2.5: must be a whole number >= 1"),
    ({"seed": -1}, "^seed = -1: must be a whole number >= 0"),
]


@pytest.mark.parametrize("options,message", EMA_REFUSED, ids=[m.split(":")[0].strip("^") for _, m in EMA_REFUSED])
def test_ema_model_refuses_options_it_cannot_honour(options, message):
    from cloudmarket.experiments.ema import ema_model
    from cloudmarket.model.params import ParameterError

    with pytest.raises(ParameterError, match=message):
        ema_model(n_customers=60, steps=1, **options)


def test_ema_model_with_replications_and_objectives_gives_the_mean_final_value():
    import numpy as np
    from ema_workbench import perform_experiments

    from cloudmarket.experiments.ema import ema_model

    model = ema_model(n_customers=60, steps=2, levers=["interoperability"], uncertainties=["peer_weight"],
                      replications=2, objectives={"hhi": "min"})
    _, outcomes = perform_experiments(model, scenarios=2, policies=1)
    assert outcomes["hhi"].shape == (2, 2, 3)  # experiments x replications x steps
    np.testing.assert_allclose(outcomes["final_hhi"], outcomes["hhi"][:, :, -1].mean(axis=1))


def test_the_page_refuses_a_market_too_big_with_the_estimate(monkeypatch):
    from cloudmarket import app
    from cloudmarket.model import run
    from cloudmarket.model.params import ParameterError

    monkeypatch.setattr(run, "available_memory", lambda: 2**30)  # a machine with 1 GB free
    controls = {**app.initial_controls(), app.control_key("n_customers"): "2000000"}
    with pytest.raises(ParameterError, match=r"^n_customers = 2000000: .* GB \(estimate\).* 1\.0 GB available"):
        app.parse_controls(controls)
    good = app.PageMarket(**{**app.initial_controls(), app.control_key("n_customers"): "100"})
    assert app.PageMarket(**controls) is good  # Reset with the bad value keeps the market shown
    assert app.build_error.value.startswith("Not rebuilt: n_customers = 2000000") and "GB" in app.build_error.value


# ---------------------------------------------------------------------- messages that name the cause (item 8)
LIST_SPEC = """
[experiment]
name = "lists"
steps = 1
replications = 2
scenario = "global-2020"
[parameters]
n_customers = 60
sanctioned_vendors = ["huawei"]
[sweep]
[sweep.values]
ban_regions = [[], ["UK"], ["UK", "EU"]]
"""


@pytest.mark.parametrize("given,shown", [('["UK","EU"]', "UK,EU"), ("UK", "UK"), ("[]", "(none)"),
                                         ("(none)", "(none)")])
def test_compare_baseline_names_a_list_value(given, shown, tmp_path, capsys):
    s = finished_store(tmp_path, LIST_SPEC) / "store"
    capsys.readouterr()
    assert main(["compare", str(s), "--by", "ban_regions", "--metric", "hhi", "--baseline", given]) == 0
    assert f"paired difference vs ban_regions = {shown}," in capsys.readouterr().out
    assert main(["compare", str(s), "--by", "ban_regions", "--metric", "hhi", "--baseline", '["XX"]']) == 2
    assert "--baseline = 'XX': not a value of ban_regions; values: (none), UK, UK,EU" in capsys.readouterr().err


def test_viz_host_not_of_this_machine_is_not_blamed_on_the_port(capsys):
    assert main(["viz", "--host", "8.8.8.8"]) == 2
    err = capsys.readouterr().err
    assert "not an address of this machine" in err and "another server" not in err and "--port" not in err
