"""Store damage and repair: each kind of damage is found, named, never read as a short table, and repaired.

Kinds: a part file deleted, a part file truncated, a journal record of a run that is not
in the design, a damaged runs.parquet, a damaged manifest, a damaged journal line, a part
that holds a run recorded elsewhere. Also the journal's precedence over runs.parquet, few
part files for many runs, and a full disk in the middle of a sweep.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
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


# ---------------------------------------------------------------------- issue 21: content, not only presence
def files_of(store: Path) -> dict[Path, bytes]:
    """Every file of a store and its bytes: to show a command changed nothing."""
    return {p: p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file() and p.name != ".lock"}


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def readers_refuse(store: Path, capsys, cause: str) -> None:
    """summary, compare and export exit 2 naming ``cause``; the store and the export place are untouched."""
    before = files_of(store)
    for argv in (["summary", str(store)], ["compare", str(store), "--metric", "hhi", "--by", "switching_cost"],
                 ["export", str(store), "--csv", str(store.parent / "csv")]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and cause in err, (argv, err)
    assert not (store.parent / "csv").exists()
    with pytest.raises(StoreError, match=cause.replace("(", r"\(").replace(")", r"\)")):
        load_results(store).vendors
    assert files_of(store) == before


def summary_text(store: Path, capsys) -> str:
    code, out, _ = run_cli(capsys, "summary", str(store))
    assert code == 0
    return out


@pytest.mark.parametrize("name", ["backup copy.parquet", "p-0000000000000000.parquet"])
def test_an_extra_part_file_is_no_result_is_reported_and_removed(store, pristine, capsys, monkeypatch, name):
    expected = summary_text(pristine / "store", capsys)
    for table in ("market", "vendors"):
        part = sorted((store / table).glob("*.parquet"))[0]
        shutil.copy(part, store / table / name)
    code, out, _ = run_cli(capsys, "status", str(store))
    assert code == 1 and "part files hold no run recorded as done" in out and name in out
    assert "done 9  failed 0  pending 0" in out
    assert summary_text(store, capsys) == expected  # 3 runs per point, as before the copy
    assert len(load_results(store).vendors) == len(load_results(pristine / "store").vendors)
    code, _, err = run_cli(capsys, "export", str(store), "--csv", str(store.parent / "csv"))
    assert code == 0
    assert pd.read_csv(store.parent / "csv" / "vendors.csv").run_id.nunique() == 9
    monkeypatch.setattr(model_run, "simulate_columns", counting := Counting())
    code, _, err = run_cli(capsys, "sweep", str(store.parent / "spec.toml"), "--out", str(store), "--backend",
                           "serial", "--quiet")
    assert code == 0 and counting.calls == [] and "removed 1 part files that no done run named" in err
    assert not (store / "vendors" / name).exists() and not (store / "market" / name).exists()
    assert run_cli(capsys, "status", str(store))[0] == 0
    assert pd.read_parquet(store / "vendors").run_id.nunique() == 9  # plain pandas over the folder: no extras


@pytest.mark.parametrize("where", [0.3, 0.5])
def test_bytes_overwritten_inside_a_part_are_found_named_and_rerun(store, pristine, capsys, monkeypatch, where):
    part = sorted((store / "vendors").glob("*.parquet"))[0]
    victims = runs_in(part)
    data = bytearray(part.read_bytes())
    offset = int(len(data) * where)
    data[offset:offset + 4] = b"\0\0\0\0" if data[offset:offset + 4] != b"\0\0\0\0" else b"\1\1\1\1"
    part.write_bytes(bytes(data))
    assert part_run_ids(part) == sorted(victims) or set(part_run_ids(part)) == victims  # footer intact
    code, out, _ = run_cli(capsys, "status", str(store))
    assert code == 1 and part.name in out and "content changed since it was written" in out
    readers_refuse(store, capsys, "content changed since it was written")
    monkeypatch.setattr(model_run, "simulate_columns", counting := Counting())
    code, _, err = run_cli(capsys, "sweep", str(store.parent / "spec.toml"), "--out", str(store), "--backend",
                           "serial", "--quiet")
    assert code == 0 and len(counting.calls) == len(victims)
    assert "content changed since it was written" in err and "missing or unreadable" not in err
    assert_same_tables(store, pristine / "store")


def test_a_lost_run_table_is_named_refused_and_rebuilt_without_rerunning(store, pristine, capsys, monkeypatch):
    (store / RUNS).unlink()
    code, out, _ = run_cli(capsys, "status", str(store))
    assert code == 1 and "the run table is lost" in out and "done 0" in out
    readers_refuse(store, capsys, "the run table is lost")
    monkeypatch.setattr(model_run, "simulate_columns", counting := Counting())
    code, _, err = run_cli(capsys, "sweep", str(store.parent / "spec.toml"), "--out", str(store), "--backend",
                           "serial", "--quiet")
    assert code == 0 and counting.calls == [] and "rebuilt the lost run table" in err and "9 done runs" in err
    assert run_cli(capsys, "status", str(store))[0] == 0
    assert_same_tables(store, pristine / "store")


def test_a_lost_run_table_is_not_rebuilt_from_a_damaged_part(store, pristine, capsys, monkeypatch):
    (store / RUNS).unlink()
    part = sorted((store / "market").glob("*.parquet"))[0]
    victims = runs_in(part)
    data = bytearray(part.read_bytes())
    data[len(data) // 3:len(data) // 3 + 4] = b"\xff\xff\xff\xff"
    part.write_bytes(bytes(data))
    monkeypatch.setattr(model_run, "simulate_columns", counting := Counting())
    code, _, err = run_cli(capsys, "sweep", str(store.parent / "spec.toml"), "--out", str(store), "--backend",
                           "serial", "--quiet")
    assert code == 0 and len(counting.calls) == len(victims)  # its page checksums fail: re-run, not trusted
    assert_same_tables(store, pristine / "store")


@pytest.mark.parametrize("edit", ["delete a row", "status to failed"])
def test_an_edited_run_table_is_refused_by_readers_and_repaired(store, pristine, capsys, monkeypatch, edit):
    table = pq.read_table(store / RUNS)
    rows = table.to_pylist()
    if edit == "delete a row":
        victim = rows.pop(3)
    else:
        victim = rows[3]
        victim.update(status="failed", error="edited")
    pq.write_table(table.from_pylist(rows, schema=table.schema), store / RUNS)
    code, out, _ = run_cli(capsys, "status", str(store))
    assert code == 1 and "the run table does not record as done" in out and victim["run_id"] in out
    readers_refuse(store, capsys, "does not record as done")
    monkeypatch.setattr(model_run, "simulate_columns", Counting())
    code, _, err = run_cli(capsys, "sweep", str(store.parent / "spec.toml"), "--out", str(store), "--backend",
                           "serial", "--quiet")
    assert code == 0 and "does not record as done" in err and "missing or unreadable" not in err
    assert_same_tables(store, pristine / "store")


def test_partial_part_loss_fails_the_check(store):
    """A part whose footer lists only some of the runs the run table puts in it (hash updated too)."""
    part = sorted((store / "vendors").glob("*.parquet"))[0]
    held = part_run_ids(part)
    assert len(held) > 1
    kept = held[: len(held) // 2]
    table = pq.read_table(part)
    subset = table.filter(pa.compute.is_in(table.column("run_id"), pa.array(kept)))
    subset = subset.replace_schema_metadata({**table.schema.metadata, b"cloudmarket.run_ids": json.dumps(kept).encode()})
    pq.write_table(subset, part, write_page_checksum=True)
    # the run table is updated to the new bytes, so only the footer's run list can tell
    runs = pq.read_table(store / RUNS)
    rows = runs.to_pylist()
    digest = hashlib.sha256(part.read_bytes()).hexdigest()
    for row in rows:
        if row["part"] == part.stem:
            row["vendors_sha256"] = digest
    pq.write_table(runs.from_pylist(rows, schema=runs.schema), store / RUNS)
    found = Store(store).check()
    assert not found.ok and "does not hold every run the run table puts there" in found.bad_parts[part]
    assert set(found.damaged) == set(held)
    lost = set(held) - set(kept)
    assert all(rid in found.bad_parts[part] for rid in sorted(lost)[:3])


def test_store_paths_with_glob_characters_read_only_their_own_files(pristine, tmp_path, capsys):
    for name in ("res*", "res_copy", "a[1]", "a1"):
        shutil.copytree(pristine / "store", tmp_path / name)
    expected = load_results(pristine / "store").vendors
    for name in ("res*", "a[1]"):
        vendors = load_results(tmp_path / name).vendors
        assert vendors.run_id.nunique() == 9 and len(vendors) == len(expected)
        assert summary_text(tmp_path / name, capsys) == summary_text(pristine / "store", capsys)


# ---------------------------------------------------------------------- a store with no part files yet
@pytest.fixture(scope="module")
def partless(tmp_path_factory) -> Path:
    """A store where every run failed: run records, no part files."""
    root = tmp_path_factory.mktemp("partless")
    (root / "spec.toml").write_text(textwrap.dedent(SPEC))
    real = model_run.simulate_columns

    def failing(*args, **kwargs):
        raise RuntimeError("every run fails here")

    model_run.simulate_columns = failing
    try:
        assert main(["sweep", str(root / "spec.toml"), "--out", str(root / "store"), "--backend", "serial",
                     "--quiet"]) == 1
    finally:
        model_run.simulate_columns = real
    assert not list((root / "store").rglob("*.parquet"))[1:]  # runs.parquet alone
    return root / "store"


def test_a_store_without_parts_reads_as_empty_tables_with_their_columns(partless, capsys, tmp_path):
    from cloudmarket.model.market import MARKET_REPORTS, VENDOR_NUMBERS

    r = load_results(partless)
    assert r.vendors.empty and {"run_id", "step", "period", "vendor", *VENDOR_NUMBERS} <= set(r.vendors.columns)
    assert r.market.empty and {"run_id", "step", "period", *MARKET_REPORTS} <= set(r.market.columns)
    assert len(r.runs) == 9 and (r.runs.status == "failed").all()
    before = files_of(partless)
    code, out, _ = run_cli(capsys, "summary", str(partless))
    assert code == 0 and "no finished runs yet" in out and "9 failed runs left out" in out
    code, _, err = run_cli(capsys, "compare", str(partless), "--metric", "hhi", "--by", "switching_cost")
    assert code == 2 and "no paired runs" in err
    code, _, err = run_cli(capsys, "plot", str(partless), "--out", str(tmp_path / "p.png"))
    assert code == 2 and "no finished runs" in err and not (tmp_path / "p.png").exists()
    code, _, err = run_cli(capsys, "discover", str(partless), "--metric", "hhi", "--above", "0",
                           "--out", str(tmp_path / "d"))
    assert code == 2 and "no finished runs" in err and not (tmp_path / "d").exists()
    code, _, _ = run_cli(capsys, "export", str(partless), "--csv", str(tmp_path / "csv"))
    assert code == 0
    vendors = pd.read_csv(tmp_path / "csv" / "vendors.csv")
    assert vendors.empty and {"run_id", "vendor", "spend_share", "switching_cost"} <= set(vendors.columns)
    assert files_of(partless) == before


# ---------------------------------------------------------------------- records of the wrong type
@pytest.mark.parametrize("edit, cause", [
    (lambda m: m["design"].update(runs="lots"), "design.runs = 'lots': must be a whole number"),
    (lambda m: m["spec"]["canonical"].pop("values"), "spec.canonical: no values"),
    (lambda m: m["spec"]["canonical"].update(replications="3"), "spec.canonical: experiment.replications = '3'"),
    (lambda m: m["design"].update(swept=[]), "design.swept = [] does not match the spec's swept parameters"),
    (lambda m: m.update(sweeps="many"), "sweeps: must be a list of objects"),
    (lambda m: m["spec"]["canonical"]["values"].update(switching_cost=[0.5, "x"]),
     "spec.canonical: sweep.values.switching_cost[1] = 'x'"),
])
def test_a_manifest_field_of_the_wrong_type_is_named(store, capsys, edit, cause):
    manifest = json.loads((store / "manifest.json").read_text())
    edit(manifest)
    (store / "manifest.json").write_text(json.dumps(manifest))
    before = files_of(store)
    for argv in (["status", str(store)], ["summary", str(store)],
                 ["sweep", str(store.parent / "spec.toml"), "--out", str(store), "--backend", "serial", "--quiet"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and "manifest.json: damaged" in err and cause in err, err
    assert files_of(store) == before


def _retype(store: Path, column: str, values) -> None:
    table = pq.read_table(store / RUNS)
    i = table.schema.get_field_index(column)
    pq.write_table(table.set_column(i, column, pa.array(values(table.column(column).to_pylist()))), store / RUNS)


@pytest.mark.parametrize("column, values, cause", [
    ("replication", lambda v: [str(x) for x in v], "column replication is string, not int64"),
    ("run_id", lambda v: [None, *v[1:]], "run_id = None: must be a non-empty string"),
    ("status", lambda v: ["finished", *v[1:]], "status = 'finished': must be one of done | failed"),
    ("part", lambda v: ["../../etc/x", *v[1:]], "part = '../../etc/x': must be a part file's name"),
])
def test_a_run_table_row_of_the_wrong_type_is_named(store, capsys, column, values, cause):
    _retype(store, column, values)
    before = files_of(store)
    for argv in (["status", str(store)], ["summary", str(store)],
                 ["sweep", str(store.parent / "spec.toml"), "--out", str(store), "--backend", "serial", "--quiet"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and "runs.parquet: damaged" in err and cause in err, err
    assert files_of(store) == before


@pytest.mark.parametrize("field, value, cause", [
    ("replication", "1", "replication = '1': must be a whole number >= 0"),
    ("run_id", None, "run_id = None"),
    ("switching_cost", "high", "switching_cost = 'high': must be a float"),
    ("market_sha256", "nothex", "market_sha256 = 'nothex'"),
])
def test_a_journal_record_of_the_wrong_type_is_named(store, capsys, field, value, cause):
    row = pq.read_table(store / RUNS).to_pylist()[0]
    row[field] = value
    (store / JOURNAL).write_text(json.dumps(row, default=str) + "\n")
    code, _, err = run_cli(capsys, "status", str(store))
    assert code == 2 and "runs.journal: line 1 is damaged" in err and cause in err, err


# ---------------------------------------------------------------------- design points by value
GRID_AB = """
[experiment]
name = "ab"
steps = 2
replications = {reps}
seed = 3
[parameters]
n_customers = 60
[sweep]
design = "grid"
[sweep.values]
{first}
{second}
"""
SWITCHING = "switching_cost = [0.5, 2.0]"
SEVERITY = "export_control_severity = [0.0, 0.8]"


def test_reordered_grid_keys_with_more_replications_extend_the_same_points(tmp_path, capsys):
    (tmp_path / "a.toml").write_text(textwrap.dedent(GRID_AB.format(reps=2, first=SWITCHING, second=SEVERITY)))
    (tmp_path / "b.toml").write_text(textwrap.dedent(GRID_AB.format(reps=3, first=SEVERITY, second=SWITCHING)))
    (tmp_path / "c.toml").write_text(textwrap.dedent(GRID_AB.format(reps=3, first=SWITCHING, second=SEVERITY)))
    for spec, out in (("a", "mixed"), ("b", "mixed"), ("c", "straight")):
        assert main(["sweep", str(tmp_path / f"{spec}.toml"), "--out", str(tmp_path / out), "--backend", "serial",
                     "--quiet"]) == 0
    runs = load_results(tmp_path / "mixed").runs
    # every point holds one setting
    assert (runs.groupby("point")[["switching_cost", "export_control_severity"]].nunique() == 1).all().all()
    assert_same_tables(tmp_path / "mixed", tmp_path / "straight")
    assert summary_text(tmp_path / "mixed", capsys) == summary_text(tmp_path / "straight", capsys)


LHS = """
[experiment]
name = "lhs"
steps = 1
seed = 5
[parameters]
n_customers = 40
[sweep]
design = "lhs"
samples = 4
[sweep.ranges]
{first}
{second}
"""


def test_reordered_lhs_ranges_are_the_same_experiment(tmp_path, capsys, monkeypatch):
    a, b = "switching_cost = [0.1, 2.0]", "price_weight = [0.5, 2.0]"
    (tmp_path / "a.toml").write_text(textwrap.dedent(LHS.format(first=a, second=b)))
    (tmp_path / "b.toml").write_text(textwrap.dedent(LHS.format(first=b, second=a)))
    out = tmp_path / "store"
    assert main(["sweep", str(tmp_path / "a.toml"), "--out", str(out), "--backend", "serial", "--quiet"]) == 0
    monkeypatch.setattr(model_run, "simulate_columns", counting := Counting())
    code, out_text, err = run_cli(capsys, "sweep", str(tmp_path / "b.toml"), "--out", str(out), "--backend",
                                  "serial", "--quiet")
    assert code == 0 and counting.calls == [] and "4 done" in out_text, err
    assert "defaults changed" not in err


def test_status_of_lhs_points_that_share_runs_says_so(tmp_path, capsys):
    (tmp_path / "s.toml").write_text('[experiment]\nsteps = 1\n[sweep]\ndesign = "lhs"\nsamples = 4\n'
                                     '[sweep.ranges]\nn_customers = [10, 11]\n')
    out = tmp_path / "store"
    assert main(["sweep", str(tmp_path / "s.toml"), "--out", str(out), "--backend", "serial", "--quiet"]) == 0
    code, text, _ = run_cli(capsys, "status", str(out))
    assert code == 0
    assert "4 points x 1 replications = 4 design rows, 2 distinct runs (sampled points that round" in text
    assert "done 2  failed 0  pending 0" in text


# ---------------------------------------------------------------------- sweep leaves a store plain readers read
def test_sweep_fails_when_runs_parquet_cannot_be_rewritten(tmp_path, capsys, monkeypatch):
    (tmp_path / "spec.toml").write_text(textwrap.dedent(SPEC))
    out = tmp_path / "store"

    def full_disk(self, rows, swept):
        raise OSError(28, "No space left on device", str(self.root / RUNS))

    monkeypatch.setattr(Store, "write_runs", full_disk)
    code, _, err = run_cli(capsys, "sweep", str(tmp_path / "spec.toml"), "--out", str(out), "--backend", "serial",
                           "--quiet")
    assert code == 2 and "runs.parquet could not be rewritten" in err and "No space left" in err
    assert "recorded only in runs.journal" in err
    assert len(Store(out).read_run_rows()) == 9  # every record is in the journal
    monkeypatch.undo()
    monkeypatch.setattr(model_run, "simulate_columns", counting := Counting())
    code, _, _ = run_cli(capsys, "sweep", str(tmp_path / "spec.toml"), "--out", str(out), "--backend", "serial",
                         "--quiet")
    assert code == 0 and counting.calls == [] and not (out / JOURNAL).exists()
    assert len(pd.read_parquet(out / RUNS)) == 9


def test_points_numbered_against_their_parameters_are_refused_and_renumbered(store, pristine, capsys, monkeypatch):
    """As a store extended with its keys reordered by an older version: `point` no longer follows the values."""
    table = pq.read_table(store / RUNS)
    rows = table.to_pylist()
    # the last record takes the point of an earlier one with another setting: readers meet
    # that point's own runs first, whatever order the run ids put the records in
    other = next(r for r in rows if r["switching_cost"] != rows[-1]["switching_cost"])
    rows[-1]["point"] = other["point"]
    pq.write_table(table.from_pylist(rows, schema=table.schema), store / RUNS)
    code, out, _ = run_cli(capsys, "status", str(store))
    assert code == 1 and f"point {other['point']} holds runs of different settings of switching_cost" in out
    readers_refuse(store, capsys, "holds runs of different settings")
    monkeypatch.setattr(model_run, "simulate_columns", counting := Counting())
    code, _, err = run_cli(capsys, "sweep", str(store.parent / "spec.toml"), "--out", str(store), "--backend",
                           "serial", "--quiet")
    assert code == 0 and counting.calls == [] and "renumbered 1 run records" in err
    assert_same_tables(store, pristine / "store")


def test_a_second_sweep_is_refused_while_one_writes_even_without_a_lock_file(store, capsys):
    with Store(store).locked():
        for stale in store.glob(".lock"):  # what a user might delete to "unlock" a store
            stale.unlink()
        before = files_of(store)
        code, _, err = run_cli(capsys, "sweep", str(store.parent / "spec.toml"), "--out", str(store), "--backend",
                               "serial", "--quiet")
        assert code == 2 and "another sweep is writing this store" in err
        assert files_of(store) == before
    assert sweep(store) == 0  # released at the end


def test_bytes_overwritten_inside_runs_parquet_are_named(store, capsys):
    """Bytes changed where the file still decodes, to other values: only the page checksums can tell."""
    original = (store / RUNS).read_bytes()
    table = pq.read_table(store / RUNS)
    for offset in range(8, len(original) // 2, 7):
        data = bytearray(original)
        data[offset:offset + 2] = bytes(b ^ 0x5A for b in data[offset:offset + 2])
        try:
            changed = pq.read_table(pa.BufferReader(bytes(data)))
        except (pa.ArrowException, OSError):
            continue
        if not changed.equals(table):
            break
    else:
        pytest.fail("no offset where the file decodes to other values")
    (store / RUNS).write_bytes(bytes(data))
    before = files_of(store)
    for argv in (["status", str(store)], ["summary", str(store)],
                 ["sweep", str(store.parent / "spec.toml"), "--out", str(store), "--backend", "serial", "--quiet"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and "runs.parquet: damaged" in err, err
    assert files_of(store) == before
