"""Experiment runs: CRN seeds, resume, extend, refused changes, failures, backends, SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cloudmarket.model import run as model_run
from store_tables import assert_same_tables, tables  # noqa: F401
from cloudmarket.model.params import SCHEMA
from cloudmarket.experiments import load_results
from cloudmarket.experiments.cli import SINGLE_THREAD_ENV, main
from cloudmarket.experiments.runner import plan
from cloudmarket.experiments.sampling import replication_seed
from cloudmarket.experiments.spec import parse_spec

ROOT = Path(__file__).resolve().parents[1]
CLI = str(ROOT / ".venv" / "bin" / "cloudmarket")
REAL_SIMULATE = model_run.simulate_columns

TINY = """
[experiment]
name = "tiny"
steps = 3
replications = {reps}
seed = 11
[parameters]
n_customers = 120
[sweep]
design = "grid"
[sweep.values]
export_control_severity = [0.0, 0.8]
switching_cost = [0.5, 2.0]
"""


def write_spec(folder: Path, text: str, name: str = "spec.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def sweep(spec: Path, out: Path, *extra: str) -> int:
    return main(["sweep", str(spec), "--out", str(out), "--quiet", *extra])


class CountingSimulate:
    """Wraps model_run.simulate_columns (serial backend runs in this process) to count and fail runs."""

    def __init__(self, fail_when=lambda params, seed: False):
        self.calls: list[tuple[dict, int]] = []
        self.fail_when = fail_when
        self.real = REAL_SIMULATE

    def __call__(self, params, seed, *args, **kwargs):
        self.calls.append((dict(params), seed))
        if self.fail_when(params, seed):
            raise RuntimeError(f"injected failure at switching_cost={params['switching_cost']}")
        return self.real(params, seed, *args, **kwargs)


# ---------------------------------------------------------------------- plan
def test_common_random_numbers_same_seed_at_every_design_point():
    spec = parse_spec(TINY.format(reps=3))
    tasks = plan(spec)
    assert len(tasks) == 4 * 3 and len({t.run_id for t in tasks}) == 12
    for r in range(3):
        seeds = {t.seed for t in tasks if t.replication == r}
        assert seeds == {replication_seed(11, r)}
    assert len({replication_seed(11, r) for r in range(3)}) == 3
    # Extending replications keeps every earlier run (and its seed) as it was.
    more = plan(parse_spec(TINY.format(reps=5)))
    assert {(t.run_id, t.seed) for t in tasks} <= {(t.run_id, t.seed) for t in more}


def test_store_layout_and_seeds_recorded(tmp_path):
    spec = write_spec(tmp_path, TINY.format(reps=2))
    out = tmp_path / "store"
    assert sweep(spec, out, "--backend", "serial") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["spec"]["text"] == spec.read_text() and len(manifest["spec_hash"]) == 16
    assert {"commit", "dirty"} <= set(manifest["git"]) and manifest["software"]["mesa"].startswith("3.5")
    runs = pq.read_table(out / "runs.parquet").to_pandas()
    # swept parameters first, then the run's facts, then every other parameter (issue 15)
    fixed = [name for name in SCHEMA if name not in ("export_control_severity", "switching_cost")]
    assert list(runs.columns) == ["run_id", "export_control_severity", "switching_cost", "point",
                                  "replication", "seed", "status", "error", "wall_s", "part", "market_sha256",
                                  "vendors_sha256", *fixed]
    assert (runs.n_customers == 120).all() and (runs.steps == 3).all() and (runs.scenario == "china-2020").all()
    assert runs.sanctioned_vendors.map(list).eq([["huawei"]] * len(runs)).all()  # lists: list<string> columns
    assert (runs.status == "done").all() and runs.error.isna().all()
    # CRN in the store: one seed per replication across all four design points.
    assert runs.groupby("replication").seed.nunique().eq(1).all()
    market = pd.read_parquet(out / "market")  # plain pandas, no project code
    vendors = pd.read_parquet(out / "vendors")
    assert list(market.columns[:3]) == ["run_id", "step", "period"]
    assert {"run_id", "step", "vendor", "share", "spend_share", "iaas_investment_share", "capacity",
            "revenue"} <= set(vendors.columns)
    assert len(market) == 8 * 4 and set(market.run_id) == set(runs.run_id)
    # parts hold several runs each; runs.parquet names each run's part
    assert sorted(p.name for p in (out / "market").iterdir()) == sorted(f"{p}.parquet" for p in set(runs.part))
    assert len(set(runs.part)) < len(runs)
    # Same parameters and seed as a direct simulate() call: the store adds only run_id.
    row = runs.iloc[0]
    direct = model_run.simulate({"n_customers": 120, "steps": 3, "export_control_severity": row.export_control_severity,
                                 "switching_cost": row.switching_cost}, seed=int(row.seed))
    stored = vendors[vendors.run_id == row.run_id].drop(columns="run_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(stored, direct.vendors, check_dtype=False)


def test_collect_end_keeps_first_and_last_step(tmp_path):
    spec = write_spec(tmp_path, TINY.format(reps=1).replace("seed = 11", 'seed = 11\ncollect = "end"'))
    assert sweep(spec, tmp_path / "s", "--backend", "serial") == 0
    assert sorted(load_results(tmp_path / "s").market.step.unique()) == [0, 3]


# ---------------------------------------------------------------------- failures, resume, extend
def test_failed_run_is_recorded_others_go_on_then_resume_retries_only_it(tmp_path, monkeypatch, capsys):
    spec = write_spec(tmp_path, TINY.format(reps=2))
    out = tmp_path / "store"
    failing = CountingSimulate(lambda params, seed: params["switching_cost"] == 2.0 and seed == replication_seed(11, 1))
    monkeypatch.setattr(model_run, "simulate_columns", failing)
    assert sweep(spec, out, "--backend", "serial") == 1
    captured = capsys.readouterr()
    assert "8 runs: 6 done, 2 failed" in captured.out and "injected failure" in captured.out
    runs = load_results(out).runs
    failed = runs[runs.status == "failed"]
    assert len(failed) == 2 and len(runs) == 8
    assert failed.error.str.contains("Traceback").all() and failed.error.str.contains("RuntimeError: injected").all()
    assert (failed.switching_cost == 2.0).all() and (failed.replication == 1).all()
    assert failed.part.isna().all() if "part" in failed else True
    assert not set(failed.run_id) & set(pd.read_parquet(out / "market").run_id)
    assert len(failing.calls) == 8
    assert main(["status", str(out)]) == 0
    assert "done 6  failed 2  pending 0" in capsys.readouterr().out

    # The cause is fixed: the re-run does the two failed runs and nothing else.
    fixed = CountingSimulate()
    monkeypatch.setattr(model_run, "simulate_columns", fixed)
    assert sweep(spec, out, "--backend", "serial") == 0
    assert len(fixed.calls) == 2 and all(p["switching_cost"] == 2.0 for p, _ in fixed.calls)
    assert sweep(spec, out, "--backend", "serial") == 0 and len(fixed.calls) == 2  # nothing left to do

    clean = tmp_path / "clean"
    monkeypatch.setattr(model_run, "simulate_columns", fixed.real)
    assert sweep(spec, clean, "--backend", "serial") == 0
    assert_same_tables(out, clean)


def test_extend_by_replications_runs_only_new_ones(tmp_path, monkeypatch):
    out = tmp_path / "store"
    assert sweep(write_spec(tmp_path, TINY.format(reps=2)), out, "--backend", "serial") == 0
    counting = CountingSimulate()
    monkeypatch.setattr(model_run, "simulate_columns", counting)
    bigger = write_spec(tmp_path, TINY.format(reps=3), "bigger.toml")
    assert sweep(bigger, out, "--backend", "serial") == 0
    assert len(counting.calls) == 4 and {s for _, s in counting.calls} == {replication_seed(11, 2)}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["design"]["runs"] == 12 and len(manifest["sweeps"]) == 2
    monkeypatch.setattr(model_run, "simulate_columns", counting.real)
    fresh = tmp_path / "fresh"
    assert sweep(bigger, fresh, "--backend", "serial") == 0
    assert_same_tables(out, fresh)


def test_extend_lhs_by_samples_keeps_old_points(tmp_path, monkeypatch):
    lhs = """
    [experiment]
    steps = 2
    seed = 3
    [parameters]
    n_customers = 100
    [sweep]
    design = "lhs"
    samples = {n}
    [sweep.ranges]
    switching_cost = [0.0, 4.0]
    review_period = [2, 8]
    """
    out = tmp_path / "store"
    assert sweep(write_spec(tmp_path, lhs.format(n=4)), out, "--backend", "serial") == 0
    first = load_results(out).runs
    assert first.review_period.dtype.kind == "i" and first.switching_cost.between(0, 4).all()
    counting = CountingSimulate()
    monkeypatch.setattr(model_run, "simulate_columns", counting)
    assert sweep(write_spec(tmp_path, lhs.format(n=7), "more.toml"), out, "--backend", "serial") == 0
    assert len(counting.calls) == 3
    runs = load_results(out).runs
    assert len(runs) == 7 and set(first.run_id) <= set(runs.run_id)


@pytest.mark.parametrize("edit,changed", [
    (lambda t: t.replace("n_customers = 120", "n_customers = 130"), "parameters.n_customers: 120 -> 130"),
    (lambda t: t.replace("seed = 11", "seed = 12"), "seed: 11 -> 12"),
    (lambda t: t.replace("[0.5, 2.0]", "[0.5, 2.5]"), "values.switching_cost: [0.5, 2.0] -> [0.5, 2.5]"),
    (lambda t: t.replace("replications = 2", "replications = 1"), "replications: 2 -> 1"),
])
def test_changed_spec_is_refused_saying_what_changed(tmp_path, capsys, edit, changed):
    spec = write_spec(tmp_path, TINY.format(reps=2))
    out = tmp_path / "store"
    assert sweep(spec, out, "--backend", "serial") == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    edited = write_spec(tmp_path, edit(spec.read_text()), "edited.toml")
    assert sweep(edited, out, "--backend", "serial") == 2
    err = capsys.readouterr().err
    assert changed in err and "differs from the spec in" in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_orphan_part_files_from_a_kill_are_not_results(tmp_path):
    spec = write_spec(tmp_path, TINY.format(reps=1))
    out = tmp_path / "store"
    assert sweep(spec, out, "--backend", "serial") == 0
    # Simulate a kill after a chunk's part files were written but before its runs were
    # recorded: drop those runs from the run table and leave a half-written temp file behind.
    table = pq.read_table(out / "runs.parquet")
    part = table.column("part")[0].as_py()
    keep = [p != part for p in table.column("part").to_pylist()]
    lost = set(table.filter(pa.array([not k for k in keep])).column("run_id").to_pylist())
    pq.write_table(table.filter(pa.array(keep)), out / "runs.parquet")
    (out / "market" / ".x.parquet.123.tmp").write_bytes(b"PAR")
    assert not lost & set(load_results(out).market.run_id)  # not a result until committed
    assert sweep(spec, out, "--backend", "serial") == 0
    assert not (out / "market" / ".x.parquet.123.tmp").exists()
    fresh = tmp_path / "fresh"
    assert sweep(spec, fresh, "--backend", "serial") == 0
    assert_same_tables(out, fresh)


# ---------------------------------------------------------------------- backends
def test_serial_and_local_backends_give_identical_tables(tmp_path):
    spec = write_spec(tmp_path, TINY.format(reps=2))
    assert sweep(spec, tmp_path / "serial", "--backend", "serial") == 0
    assert sweep(spec, tmp_path / "local", "--backend", "local", "--workers", "2") == 0
    assert_same_tables(tmp_path / "serial", tmp_path / "local")


def test_progress_bar_on_a_terminal_and_quiet_without(tmp_path):
    import pty

    spec = write_spec(tmp_path, TINY.format(reps=1))
    primary, secondary = pty.openpty()
    try:
        proc = subprocess.run([CLI, "sweep", str(spec), "--out", str(tmp_path / "a"), "--backend", "serial"],
                              stderr=secondary, stdout=subprocess.PIPE, timeout=120)
        os.close(secondary)
        secondary = None
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if secondary is not None:
            os.close(secondary)
        os.close(primary)
    bar = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0
    assert "4/4" in bar and "failed=0" in bar, bar
    quiet = subprocess.run([CLI, "sweep", str(spec), "--out", str(tmp_path / "b"), "--backend", "serial", "--quiet"],
                           capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert "4 runs: 4 done, 0 failed" in quiet.stdout


# ---------------------------------------------------------------------- SIGKILL
# Runs long enough (~0.2 s each) that a kill lands mid-sweep however fast the model gets.
KILLABLE = """
[experiment]
name = "killable"
steps = 100
replications = 5
seed = 5
[parameters]
n_customers = 12000
[sweep]
design = "grid"
# Population parameters only: every run draws its own customers and graph (no run reuses
# another's population, model/population.py), so the sweep lasts long enough to be killed.
[sweep.values]
spend_sigma = [1.0, 1.2, 1.4]
avg_degree = [8.0, 10.0]
"""


def pool_workers(sweep: psutil.Process, children: list[psutil.Process]) -> list[psutil.Process]:
    """The local pool's workers among a sweep's descendants (not its git calls).

    Forked workers are copies of the sweep process (same command line); forkserver
    workers are children of the server, itself a child of the sweep.
    """
    workers = []
    for child in children:
        try:
            if child.cmdline() == sweep.cmdline() or child.ppid() != sweep.pid:
                workers.append(child)
        except psutil.NoSuchProcess:
            continue  # a short-lived child (git) that has ended
    return workers


def test_local_pool_forks_only_a_single_threaded_driver(monkeypatch):
    import cloudmarket.experiments.pool as pool

    monkeypatch.setattr(pool, "os_threads", lambda: 1)
    assert pool.pool_context().get_start_method() == "fork"
    monkeypatch.setattr(pool, "os_threads", lambda: 2)
    assert pool.pool_context().get_start_method() == "forkserver"
    assert pool.os_threads() >= 1  # this test process: counted from /proc


def test_the_command_starts_single_threaded_so_its_pool_can_fork(tmp_path):
    # what `cloudmarket sweep` has done when it makes its pool: loaded the model, Arrow and
    # Parquet, and (when resuming) read the store's run table
    spec = write_spec(tmp_path, TINY.format(reps=1))
    assert sweep(spec, tmp_path / "store", "--backend", "serial") == 0
    code = ("import sys, cloudmarket.experiments.cli, cloudmarket.experiments.runner, cloudmarket.model.run, pyarrow.parquet; "
            "from cloudmarket.experiments.runner import os_threads, pool_context; "
            "from cloudmarket.experiments.store import Store; "
            "rows = Store(sys.argv[1]).read_run_rows(); "
            "print(len(rows), os_threads(), pool_context().get_start_method())")
    env = {k: v for k, v in os.environ.items() if k not in SINGLE_THREAD_ENV}  # the module must set them
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "store")], capture_output=True, text=True,
                         env=env, check=True)
    assert out.stdout.split() == ["4", "1", "fork"], out.stdout + out.stderr


def stop_sweep(proc: subprocess.Popen, family: set[int]) -> None:
    """SIGKILL a sweep and every process it started, each by its PID (idempotent)."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    # The pool's workers (and forkserver, if one was used) lose their parent; stop each by its PID.
    for pid in family:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _processes(pids: set[int]) -> list[psutil.Process]:
    """The processes among ``pids`` that still exist."""
    found = []
    for pid in pids:
        try:
            found.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    return found


def _done_runs(out: Path) -> int:
    """Runs recorded as done so far: in runs.parquet or in the journal after it (as a resume reads them)."""
    from cloudmarket.experiments.store import Store, StoreError

    try:
        return sum(1 for row in Store(out).read_run_rows() if row["status"] == "done")
    except (FileNotFoundError, OSError, StoreError):  # not there yet, or a line being written
        return 0


def test_sigkill_mid_sweep_then_resume_equals_uninterrupted(tmp_path):
    spec = write_spec(tmp_path, KILLABLE)
    total = 30
    out = tmp_path / "killed"
    proc = subprocess.Popen([CLI, "sweep", str(spec), "--out", str(out), "--backend", "local", "--workers", "2",
                             "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    family: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while _done_runs(out) < 3:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "sweep made no progress"
            family |= {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
            time.sleep(0.02)
        family |= {c.pid for c in psutil.Process(proc.pid).children(recursive=True)}
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        # Only the driver was killed: its workers must die with it (else they would keep
        # computing and hold the store's lock, and the resume below would be refused).
        _, alive = psutil.wait_procs(_processes(family), timeout=15)
        assert not alive, f"pool workers outlived the killed driver: {[p.pid for p in alive]}"
    finally:
        stop_sweep(proc, family)
    assert proc.returncode == -signal.SIGKILL
    done_at_kill = _done_runs(out)
    assert 3 <= done_at_kill < total, f"kill came too late to test anything ({done_at_kill}/{total})"

    resumed = subprocess.run([CLI, "sweep", str(spec), "--out", str(out), "--backend", "local", "--workers", "2",
                              "--quiet"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    ran = int(resumed.stdout.split("this sweep ran ")[1].split()[0])
    assert ran <= total - done_at_kill  # only what was missing

    whole = tmp_path / "whole"
    assert sweep(spec, whole, "--backend", "serial") == 0
    assert_same_tables(out, whole)
    assert not list(out.rglob(".*.tmp"))


def test_runs_in_the_journal_count_as_done_after_a_kill(tmp_path, monkeypatch):
    spec = write_spec(tmp_path, TINY.format(reps=2))
    out = tmp_path / "store"
    assert sweep(spec, out, "--backend", "serial") == 0
    assert not (out / "runs.journal").exists()  # folded into runs.parquet at the end
    # A kill between journal appends and the periodic runs.parquet rewrite leaves half
    # the records only in the journal, the last line possibly cut short.
    table = pq.read_table(out / "runs.parquet")
    rows = table.to_pylist()
    pq.write_table(table.slice(0, 3), out / "runs.parquet")
    lines = [json.dumps(r) for r in rows[3:]]
    (out / "runs.journal").write_text("\n".join(lines) + "\n" + lines[0][:20])
    assert len(load_results(out).runs) == 8 and len(load_results(out).market) == 8 * 4
    counting = CountingSimulate()
    monkeypatch.setattr(model_run, "simulate_columns", counting)
    assert sweep(spec, out, "--backend", "serial") == 0
    assert counting.calls == [] and not (out / "runs.journal").exists()
    assert len(pq.read_table(out / "runs.parquet")) == 8


def test_store_made_under_other_parameter_defaults_is_refused(tmp_path, monkeypatch, capsys):
    from cloudmarket.model.params import SCHEMA, Param

    spec = write_spec(tmp_path, TINY.format(reps=1))
    out = tmp_path / "store"
    assert sweep(spec, out, "--backend", "serial") == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    old = SCHEMA["peer_weight"]
    monkeypatch.setitem(SCHEMA, "peer_weight", Param(**{**old.__dict__, "default": 1.5}))
    capsys.readouterr()
    assert sweep(spec, out, "--backend", "serial") == 2
    err = capsys.readouterr().err
    assert "4 stored runs are not runs this spec gives" in err
    assert "peer_weight: stored 1.0, now 1.5 (a default of model/params.py changed" in err  # names the cause
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_worker_killed_mid_run_fails_its_runs_and_the_sweep_goes_on(tmp_path):
    from cloudmarket.experiments.store import Store

    spec = write_spec(tmp_path, KILLABLE.replace("replications = 5", "replications = 2"))
    out = tmp_path / "store"
    proc = subprocess.Popen([CLI, "sweep", str(spec), "--out", str(out), "--backend", "local", "--workers", "1",
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    family: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        victim = None
        while victim is None:
            assert proc.poll() is None and time.monotonic() < deadline, "sweep ended before a worker could be killed"
            children = psutil.Process(proc.pid).children(recursive=True)
            family |= {c.pid for c in children}
            started = any(r["status"] == "done" for r in Store(out).read_run_rows()) if out.exists() else False
            workers = pool_workers(psutil.Process(proc.pid), children)
            if started and workers:
                victim = workers[0]
            else:
                time.sleep(0.02)
        os.kill(victim.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        stop_sweep(proc, family)
    assert proc.returncode == 1, stderr
    runs = load_results(out).runs
    failed = runs[runs.status == "failed"]
    assert len(runs) == 12 and 1 <= len(failed) < 12, (stdout, stderr[-4000:], sorted(p.name for p in out.rglob("*")))
    assert failed.error.str.contains("worker did not return a result").all()
    assert (runs.status == "done").sum() >= 2  # runs before the kill and after the fresh pool
    assert sweep(spec, out, "--backend", "local", "--workers", "1") == 0
    assert sweep(spec, tmp_path / "serial", "--backend", "serial") == 0
    assert_same_tables(out, tmp_path / "serial")


@pytest.mark.parametrize("runs, run_s, most_parts", [(2000, 0.0075, 20), (20000, 0.3, 30)])
def test_chunks_shrink_to_a_quarter_second_at_the_end_within_the_file_budget(runs, run_s, most_parts):
    """The last chunks hold about TAIL_SECONDS of work (no worker waits long for another), but not
    less than an eighth of the file budget's chunk: a long sweep still writes few part files."""
    from cloudmarket.experiments.runner import TAIL_SECONDS, Chunker

    tasks = plan(parse_spec(f"[experiment]\nreplications = {runs // 2}\n[parameters]\nn_customers = 100\n"
                            "steps = 2\n[sweep]\n[sweep.values]\nswitching_cost = [0.5, 1.5]"))
    chunker = Chunker(tasks, workers=2)
    chunker.run_s = run_s  # as if measured
    sizes = []
    while (chunk := chunker.next()) is not None:
        sizes.append(len(chunk.tasks))
    assert sum(sizes) == runs and len(sizes) <= most_parts
    tail = max(TAIL_SECONDS / run_s, chunker.floor / 8)  # the floor: the file budget's chunk
    assert max(sizes[-4:-1]) <= tail + 1  # the last chunks are small...
    assert min(sizes[:-1]) >= tail - 1  # ...and none but the remainder smaller
