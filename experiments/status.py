"""What ``cloudmarket status DIR`` reports: runs done, failed and pending, and what is wrong.

Counts come from the run records (runs.parquet and the journal) after every done run's
part files are checked (:meth:`Store.check`: footers and content hashes); the design's
size comes from re-planning the stored spec, not from numbers in the manifest. Problems
are named with their repair: damaged parts (``sweep`` re-runs their runs), part files no
done run names (readers ignore them, ``sweep`` removes them), a lost run table (``sweep``
rebuilds it from the part files), records of runs the design does not have.

Example
-------
    text, code = status_report("results/quick")   # code 0: whole; 1: something to repair
    print(text)
"""

from __future__ import annotations

from pathlib import Path

from cloudmarket.experiments.store import Store, design_problem

WHOLE, NEEDS_SWEEP = 0, 1


def design_line(manifest: dict, planned: int | None) -> str:
    """The design's size in words: points x replications, and the distinct runs they make.

    Sampled points of whole-number parameters can round to the same values: such points
    share one run, which this line says rather than multiplying to a wrong total.

    >>> design_line({"name": "x", "design": {"design": "lhs", "points": 4, "replications": 1, "runs": 2}}, 2)
    'x: lhs design, 4 points x 1 replications = 4 design rows, 2 distinct runs (sampled points that round to the same whole numbers share a run)'
    >>> design_line({"name": "x", "design": {"design": "grid", "points": 2, "replications": 3, "runs": 6}}, 6)
    'x: grid design, 2 points x 3 replications = 6 runs'
    """
    design = manifest["design"]
    rows = design["points"] * design["replications"]
    runs = design["runs"] if planned is None else planned
    head = f"{manifest['name']}: {design['design']} design, {design['points']} points x {design['replications']} replications"
    if runs == rows:
        return f"{head} = {runs} runs"
    return (f"{head} = {rows} design rows, {runs} distinct runs (sampled points that round to the same whole "
            "numbers share a run)")


def status_report(root: str | Path) -> tuple[str, int]:
    """The text ``cloudmarket status`` prints and its exit code (0 whole, 1 something for a sweep to do)."""
    from cloudmarket.experiments.runner import planned_run_ids

    store = Store(root)
    manifest = store.read_manifest()
    rows = store.read_run_rows()
    planned = planned_run_ids(manifest)
    strangers = sorted(r["run_id"] for r in rows if planned is not None and r["run_id"] not in planned)
    rows = [r for r in rows if r["run_id"] not in strangers]
    found = store.check(rows)
    ours = [r for r in rows if r["run_id"] not in found.damaged]
    total = manifest["design"]["runs"] if planned is None else len(planned)
    done = sum(r["status"] == "done" for r in ours)
    failed = sum(r["status"] == "failed" for r in ours)
    lines = [design_line(manifest, None if planned is None else len(planned)),
             f"done {done}  failed {failed}  pending {max(total - done - failed, 0)}"]
    if found.lost:
        lines.append(found.describe().splitlines()[0])
    if found.damaged or found.bad_parts:
        lines.append(f"damaged {len(found.damaged)}: done runs whose rows are missing, unreadable or changed "
                     "(counted as pending; `cloudmarket sweep` re-runs them)")
        detail = found.describe()
        lines += ["  " + line for line in detail.splitlines() if not line.startswith("the run table is lost")]
    if found.orphans:
        lines.append(found.describe_orphans())
    mislabelled = design_problem(ours, manifest)
    if mislabelled:
        lines.append(f"run records disagree with the design: {mislabelled}; `cloudmarket sweep` renumbers them "
                     "from their parameters")
    if strangers:
        lines.append(f"{len(strangers)} records are not runs of this experiment's design (a damaged record, or "
                     f"parameter defaults changed since): {', '.join(strangers[:10])}"
                     f"{' ...' if len(strangers) > 10 else ''}")
    last = (manifest.get("sweeps") or [{}])[-1]
    if isinstance(last, dict) and last.get("started_at"):
        state = f"finished {last['finished_at']}" if last.get("finished_at") else "did not finish (killed or running)"
        lines.append(f"last sweep: {last.get('backend')} backend, started {last['started_at']}, {state}")
    trouble = found.damaged or found.bad_parts or found.lost or found.orphans or strangers or mislabelled
    return "\n".join(lines), NEEDS_SWEEP if trouble else WHOLE
