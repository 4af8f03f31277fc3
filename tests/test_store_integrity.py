"""Store damage and repair: each kind of damage is found, named, never read as a short table, and repaired.

Kinds: a part file deleted, a part file truncated, a journal record of a run that is not
in the design, a damaged runs.parquet, a damaged manifest, a damaged journal line, a part
that holds a run recorded elsewhere. Also the journal's precedence over runs.parquet, few
part files for many runs, and a full disk in the middle of a sweep.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from cloudmarket.experiments import load_results
from cloudmarket.experiments.cli import main
from cloudmarket.experiments.store import JOURNAL, RUNS, Store, StoreError, part_run_ids
from cloudmarket.model import run as model_run
from store_tables import assert_same_tables, finished_store, tables  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
CLI = str(ROOT / ".venv" / "bin" / "cloudmarket")

SPEC = """
[experiment]
name = "grid"
steps = 2
replications = 3
seed = 8
[parameters]
n_customers = 80
[sweep]
design = "grid"
[sweep.values]
switching_cost = [0.5, 1.0, 2.0]
"""


class Counting:
    """Counts the runs the serial backend does (it runs in this process)."""

    def __init__(self):
        self.calls = []
        self.real = model_run.simulate_columns

    def __call__(self, params, seed, *args, **kwargs):
        self.calls.append((params["switching_cost"], seed))
        return self.real(params, seed, *args, **kwargs)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return finished_store(tmp_path_factory.mktemp("pristine"), SPEC)


@pytest.fixture
def store(pristine, tmp_path) -> Path:
    shutil.copytree(pristine / "store", tmp_path / "store")
    shutil.copy(pristine / "spec.toml", tmp_path / "spec.toml")
    return tmp_path / "store"


def sweep(store: Path) -> int:
    return main(["sweep", str(store.parent / "spec.toml"), "--out", str(store), "--backend", "serial", "--quiet"])


def runs_in(path: Path) -> set[str]:
    return set(part_run_ids(path))


# ---------------------------------------------------------------------- part files
@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_damaged_part_is_reported_refused_by_readers_and_rerun(store, pristine, monkeypatch, capsys, damage):
    part = sorted((store / "vendors").glob("*.parquet"))[0]
    victims = runs_in(part)
    if damage == "delete":
        part.unlink()
    else:
        part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    # status names the file and every run in it, counts them as pending, exits 1
    capsys.readouterr()
    assert main(["status", str(store)]) == 1
    out = capsys.readouterr().out
    assert part.name in out and all(rid in out for rid in victims)
    assert f"done {9 - len(victims)}  failed 0  pending {len(victims)}" in out
    # readers never get a short table: StoreError naming the file
    with pytest.raises(StoreError, match=part.name):
        load_results(store).market
    assert main(["compare", str(store), "--metric", "hhi", "--by", "switching_cost"]) == 2
    assert part.name in capsys.readouterr().err
    # sweep re-runs exactly the damaged runs, and the store equals an undamaged one
    counting = Counting()
    monkeypatch.setattr(model_run, "simulate_columns", counting)
    assert sweep(store) == 0
    assert len(counting.calls) == len(victims)
    assert "re-ran" in capsys.readouterr().err
    assert main(["status", str(store)]) == 0
    assert_same_tables(store, pristine / "store")


def test_part_holding_a_run_recorded_elsewhere_is_damage(store, pristine, monkeypatch):
    # a copy of one part under another name, its runs recorded there: rows would count twice
    part = sorted((store / "market").glob("*.parquet"))[0]
    shutil.copy(part, part.with_name("p-copy.parquet"))
    shutil.copy(store / "vendors" / part.name, store / "vendors" / "p-copy.parquet")
    table = pq.read_table(store / RUNS)
    rows = table.to_pylist()
    moved = next(r for r in rows if r["part"] == part.stem)
    moved["part"] = "p-copy"
    pq.write_table(pq.read_table(store / RUNS).from_pylist(rows, schema=table.schema), store / RUNS)
    found = Store(store).check()
    assert part in found.bad_parts and moved["run_id"] in found.damaged
    with pytest.raises(StoreError, match="recorded in another part"):
        load_results(store).runs
    monkeypatch.setattr(model_run, "simulate_columns", Counting())
    assert sweep(store) == 0
    assert_same_tables(store, pristine / "store")


# ---------------------------------------------------------------------- run records
def test_journal_record_of_an_unknown_run_is_named_not_counted(store, capsys):
    row = pq.read_table(store / RUNS).to_pylist()[0]
    row["run_id"] = "0123456789abcdef"
    (store / JOURNAL).write_text(json.dumps(row, default=str) + "\n")
    capsys.readouterr()
    assert main(["status", str(store)]) == 1
    out = capsys.readouterr().out
    assert "done 9  failed 0  pending 0" in out  # not 10 of 9
    assert "0123456789abcdef" in out and "not runs of this experiment" in out
    assert sweep(store) == 2  # refused, naming the journal, nothing changed
    assert "runs.journal" in capsys.readouterr().err
    (store / JOURNAL).unlink()  # repair: drop the stray record
    assert main(["status", str(store)]) == 0


def test_damaged_run_table_then_moved_away_is_rebuilt_from_the_parts(store, pristine, monkeypatch, capsys):
    (store / RUNS).write_bytes(b"PAR1 not really")
    for argv in (["status", str(store)], ["summary", str(store)]):
        assert main(argv) == 2
        assert "runs.parquet: damaged" in capsys.readouterr().err
    with pytest.raises(StoreError, match="runs.parquet"):
        load_results(store).runs
    assert sweep(store) == 2
    # repair as the message says: move it away, run the same sweep: rebuilt from the parts, nothing re-run
    (store / RUNS).rename(store.parent / "runs.parquet.damaged")
    counting = Counting()
    monkeypatch.setattr(model_run, "simulate_columns", counting)
    assert sweep(store) == 0 and counting.calls == []
    assert "rebuilt the lost run table" in capsys.readouterr().err
    assert_same_tables(store, pristine / "store")


def test_damaged_manifest_is_named_and_store_untouched(store, capsys):
    good = (store / "manifest.json").read_bytes()
    for text in ("{", "[]", '{"name": "x", "design": {}}'):
        (store / "manifest.json").write_text(text)
        before = {p: p.read_bytes() for p in store.rglob("*") if p.is_file()}
        for argv in (["status", str(store)], ["summary", str(store)]):
            assert main(argv) == 2
            assert "manifest.json: damaged" in capsys.readouterr().err
        assert sweep(store) == 2
        assert "manifest.json: damaged" in capsys.readouterr().err
        assert {p: p.read_bytes() for p in store.rglob("*") if p.is_file()} == before
    (store / "manifest.json").write_bytes(good)  # repair: restore it
    assert main(["status", str(store)]) == 0


def test_damaged_journal_line_is_named_and_removing_it_repairs(store, capsys):
    rows = pq.read_table(store / RUNS).to_pylist()
    lines = [json.dumps(r, default=str) for r in rows[:2]]
    (store / JOURNAL).write_text(lines[0] + "\n{broken\n" + lines[1] + "\n")
    assert main(["status", str(store)]) == 2
    assert "runs.journal: line 2 is damaged" in capsys.readouterr().err
    (store / JOURNAL).write_text(lines[0] + "\n" + lines[1] + "\n")
    assert main(["status", str(store)]) == 0


def test_a_line_cut_short_does_not_swallow_the_next_record(tmp_path):
    s = Store(tmp_path)
    first = '{"run_id": "a", "status": "done", "point": 0, "replication": 0, "seed": 1}\n{"run_id": "b", "sta'
    (tmp_path / JOURNAL).write_text(first)
    s.append_journal([{"run_id": "c", "status": "failed", "point": 0, "replication": 1, "seed": 2}])
    with pytest.raises(StoreError, match="line 2"):  # the cut line is no longer the last one: named
        s.read_run_rows()
    (tmp_path / JOURNAL).write_text(first)
    assert [r["run_id"] for r in s.read_run_rows()] == ["a"]  # the last, cut line: a kill, skipped


# ---------------------------------------------------------------------- journal precedence
def test_journal_wins_over_runs_parquet_and_resume_keeps_it(store, monkeypatch):
    """A run runs.parquet lists as failed and the journal later lists as done reads as done; no rerun."""
    table = pq.read_table(store / RUNS)
    rows = table.to_pylist()
    done_row = dict(rows[4])
    rows[4].update(status="failed", error="Traceback: an older attempt", part=None)
    pq.write_table(table.from_pylist(rows, schema=table.schema), store / RUNS)
    (store / JOURNAL).write_text(json.dumps(done_row, default=str) + "\n")

    runs = load_results(store).runs.set_index("run_id")
    assert runs.loc[done_row["run_id"], "status"] == "done"
    assert done_row["run_id"] in set(load_results(store).market.run_id)
    counting = Counting()
    monkeypatch.setattr(model_run, "simulate_columns", counting)
    assert sweep(store) == 0
    assert counting.calls == []  # the journal's later record counts
    final = pq.read_table(store / RUNS).to_pandas().set_index("run_id")
    assert final.loc[done_row["run_id"], "status"] == "done" and not (store / JOURNAL).exists()


# ---------------------------------------------------------------------- layout at scale
def test_many_runs_make_few_part_files_readable_by_pandas_and_duckdb(tmp_path):
    import duckdb

    spec = tmp_path / "spec.toml"
    spec.write_text(textwrap.dedent(SPEC).replace("replications = 3", "replications = 70"))
    out = tmp_path / "store"
    assert main(["sweep", str(spec), "--out", str(out), "--backend", "local", "--workers", "2", "--quiet"]) == 0
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) <= 210 / 50 + 10, sorted(p.name for p in files)
    runs = pd.read_parquet(out / "runs.parquet")
    market = pd.read_parquet(out / "market")  # plain pandas over the folder
    assert len(runs) == 210 and (runs.status == "done").all() and market.run_id.nunique() == 210
    n = duckdb.connect().execute(f"SELECT count(DISTINCT run_id) FROM read_parquet('{out}/vendors/*.parquet')").fetchone()[0]
    assert n == 210
    # every run's part is named in runs.parquet and its footer lists the run
    for part, group in runs.groupby("part"):
        assert set(group.run_id) == runs_in(out / "market" / f"{part}.parquet")


# ---------------------------------------------------------------------- full disk
def test_full_disk_mid_sweep_exits_2_keeps_the_store_consistent_and_resumes(tmp_path):
    """A sweep into a small tmpfs (in a private mount namespace): exit 2, then resume elsewhere.

    Chunks of a few runs (CHUNK_SECONDS lowered) so that the disk fills after some have been stored.
    """
    spec = tmp_path / "spec.toml"
    spec.write_text(textwrap.dedent(SPEC).replace("replications = 3", "replications = 40").replace("steps = 2", "steps = 12"))
    disk = tmp_path / "disk"
    disk.mkdir()
    code = ("import sys; from cloudmarket.experiments import runner; runner.CHUNK_SECONDS = 0.02; "
            "from cloudmarket.experiments.cli import main; sys.exit(main(sys.argv[1:]))")
    script = (f"mount -t tmpfs -o size=200k tmpfs {disk} && "
              f"{sys.executable} -c '{code}' sweep {spec} --out {disk}/store --backend serial --quiet; code=$?; "
              f"cp -a {disk}/store {tmp_path}/kept; exit $code")
    # as root a private mount namespace; otherwise also a user namespace, where mounting a tmpfs is allowed
    namespace = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-r", "-m"]
    proc = subprocess.run([*namespace, "sh", "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert "No space left on device" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    kept = tmp_path / "kept"
    done_before = sum(r["status"] == "done" for r in Store(kept).read_run_rows())
    assert Store(kept).check().ok  # every recorded run is readable
    assert 0 < done_before < 120
    assert main(["sweep", str(spec), "--out", str(kept), "--backend", "serial", "--quiet"]) == 0
    assert main(["sweep", str(spec), "--out", str(tmp_path / "whole"), "--backend", "serial", "--quiet"]) == 0
    assert_same_tables(kept, tmp_path / "whole")


def test_progress_of_a_long_run_goes_to_stderr_only(tmp_path):
    """Large runs report build phases and quarters on stderr; stdout stays the summary."""
    code = ("import sys; from cloudmarket.experiments import run_progress as progress; progress.LARGE_CUSTOMERS = 100; "
            "from cloudmarket.experiments.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", code, "run", "--n-customers", "150", "--steps", "2"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "building the market: drawing customers" in proc.stderr and "quarter 2/2" in proc.stderr
    assert "quarter 2/2" not in proc.stdout and "building" not in proc.stdout and "scenario china-2020" in proc.stdout
    small = subprocess.run([CLI, "run", "--n-customers", "150", "--steps", "2"], capture_output=True, text=True,
                           timeout=120)
    assert small.returncode == 0 and small.stderr == ""  # a small run in a pipe: no noise
    assert small.stdout == proc.stdout  # the same run, the same summary
