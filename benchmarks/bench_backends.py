"""Serial vs local (2 worker processes) backend throughput on the quick spec.

Runs ``experiments/specs/quick.toml`` (with more replications, so that the pool's
start-up is amortised) into fresh stores with the serial backend and with the local
backend, alternating, three times each; reports the median wall time, runs per second
and the local/serial throughput ratio (target on this 2-core machine: >= 1.7x). Also
checks that both backends wrote identical tables. Writes ``benchmarks/RESULTS_backends.md``.
The process starts the way the ``cloudmarket`` command does (one BLAS thread, no Arrow
background thread), so the local pool forks its workers as it does for a user.

Run: ``.venv/bin/python benchmarks/bench_backends.py`` (part of ``make bench``).
"""

from __future__ import annotations

import cloudmarket.experiments.cli  # noqa: F401 - first: it sets cloudmarket's single-thread environment before numpy loads
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS_backends.md"
REPLICATIONS = 20  # 4 design points x 20 = 80 runs of 5,000 customers x 22 quarters
CUSTOMERS = 5000  # runs of ~0.3 s, long enough to amortise the pool's start-up
REPEATS = 3


def _spec():
    from cloudmarket.experiments.spec import parse_spec

    text = (ROOT / "experiments/specs/quick.toml").read_text()
    text = text.replace("replications = 5", f"replications = {REPLICATIONS}")
    text = text.replace("n_customers = 2000", f"n_customers = {CUSTOMERS}")
    return parse_spec(text, source="quick.toml (benchmark)")


def _timed_sweep(spec, backend: str, workers: int, folder: Path) -> float:
    from cloudmarket.experiments.runner import sweep

    start = time.perf_counter()
    report = sweep(spec, folder, backend=backend, workers=workers, quiet=True)
    elapsed = time.perf_counter() - start
    assert report.done == report.total and report.failed == 0, report
    return elapsed


def main() -> None:
    from cloudmarket.experiments.analysis import load_results

    spec = _spec()
    times: dict[str, list[float]] = {"serial": [], "local": []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(REPEATS):
            for backend, workers in (("serial", 1), ("local", 2)):
                folder = Path(tmp) / f"{backend}-{repeat}"
                times[backend].append(_timed_sweep(spec, backend, workers, folder))
                print(f"{backend:>6} repeat {repeat + 1}: {times[backend][-1]:.2f} s", flush=True)
        a, b = load_results(Path(tmp) / "serial-0"), load_results(Path(tmp) / "local-0")
        same = (a.vendors.sort_values(["run_id", "step", "vendor"]).reset_index(drop=True)
                .equals(b.vendors.sort_values(["run_id", "step", "vendor"]).reset_index(drop=True)))
        runs = a.vendors.run_id.nunique()  # the spec's design points x replications, whatever it sweeps
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["serial"] / med["local"]
    verdict = "PASS" if ratio >= 1.7 else "MISS"
    load = os.getloadavg()[0]
    lines = [
        "# Benchmark: serial vs local backend",
        "",
        f"Written by `.venv/bin/python benchmarks/bench_backends.py` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python {platform.python_version()}; "
        f"1-min load average at the end {load:.2f}.",
        "",
        f"Spec: `experiments/specs/quick.toml` with {REPLICATIONS} replications = {runs} runs of {CUSTOMERS:,} customers x "
        f"22 quarters; fresh store each time; {REPEATS} alternating repeats, medians. Wall time includes the "
        "process pool's start-up.",
        "",
        "| backend | workers | wall s (median) | all repeats | runs / s |",
        "|---|---:|---:|---|---:|",
        f"| serial | 1 | {med['serial']:.2f} | {', '.join(f'{t:.2f}' for t in times['serial'])} | {runs / med['serial']:.1f} |",
        f"| local | 2 | {med['local']:.2f} | {', '.join(f'{t:.2f}' for t in times['local'])} | {runs / med['local']:.1f} |",
        "",
        f"Throughput local / serial: **{ratio:.2f}x** (target >= 1.7x: {verdict}). "
        f"Tables identical across backends: {same}.",
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":  # the local backend's forkserver re-imports this module
    main()
