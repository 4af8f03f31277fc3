"""Benchmarks of the CloudMarket model; rewrites benchmarks/RESULTS.md.

Three measurements, each in fresh child processes so that peak memory is per run:

* scale: build and step ``CloudMarket`` (china-2020, default parameters) at 1k, 10k,
  100k and 1M customers; build phases, step phases (review, vendors, metrics, data
  collection), peak RSS; then the numpy floor (``benchmarks/floor.py``) copied from the
  model's state, stepped interleaved with the model so both see the same machine load.
* idiomatic: the idiomatic Mesa baseline (``benchmarks/idiomatic.py``) interleaved with
  CloudMarket at 1k and 10k customers.
* profile: cProfile of the model's step at 100k customers (where the time goes).

The customers' Mesa faces (``m.grid``, ``m.customers``) are built on first access, so the
build does not include them; each scale child reads them last and times that apart.

Usage::

    .venv/bin/python benchmarks/bench_model.py            # everything, ~5 minutes
    .venv/bin/python benchmarks/bench_model.py --quick    # 1k and 10k only, no RESULTS.md
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import json
import os
import platform
import pstats
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SIZES = (1_000, 10_000, 100_000, 1_000_000)
IDIOMATIC_SIZES = (1_000, 10_000, 100_000)  # 100k: one run, for context
SCENARIO = "china-2020"
STEP_PHASES = ("vendors_enter", "customers_look", "customers_place_new_spend", "customers_review", "vendors_settle",
               "record_quarter", "vendors_decide")  # CloudMarket.step's schedule
# Peak RSS after a 1M build when the Mesa faces were built eagerly (RESULTS.md of
# 2026-11-30, git dd713ca: 40.37 s CPU, 3.25 GB): the build may not use more memory than that.
EAGER_BUILD_RSS_1M = 3.25
TARGETS = {  # name: (limit, unit, "<=" or ">=")
    "idiomatic / model step at 10k": (50.0, "x", ">="),
    "model / floor step at 100k": (1.5, "x", "<="),
    "log-log slope of step time 10k -> 100k": (1.1, "", "<="),
    "build at 100k": (10.0, "s", "<="),
    "step at 100k": (0.2, "s", "<="),
    "peak memory at 100k": (2.0, "GB", "<="),
    "build at 1M": (10.0, "s", "<="),
    "peak memory after build at 1M": (EAGER_BUILD_RSS_1M, "GB", "<="),
    "step at 1M": (2.0, "s", "<="),
    "peak memory at 1M": (8.0, "GB", "<="),
}


# ---------------------------------------------------------------------- children
def peak_rss_gb() -> float:
    """Peak resident set size of this process so far, in GB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def clock() -> tuple[float, float]:
    """(wall, CPU) seconds now. CPU time of this process is robust to other processes' load."""
    return time.perf_counter(), time.process_time()


def since(t0: tuple[float, float]) -> dict[str, float]:
    wall, cpu = clock()
    return {"wall": wall - t0[0], "cpu": cpu - t0[1]}


class Timer:
    """Accumulates (wall, CPU) time per label for wrapped callables."""

    def __init__(self) -> None:
        self.totals: dict[str, dict[str, float]] = {}

    def wrap(self, label: str, fn):
        def timed(*args, **kwargs):
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = since(t0)
                acc = self.totals.setdefault(label, {"wall": 0.0, "cpu": 0.0})
                acc["wall"] += spent["wall"]
                acc["cpu"] += spent["cpu"]
        return timed

    def take(self) -> dict[str, dict[str, float]]:
        out, self.totals = self.totals, {}
        return out


def wrap_faces(timer: Timer) -> None:
    """Time the networkx graph and Mesa's Network wherever they are built (public names only)."""
    from mesa.discrete_space import Network

    from cloudmarket.model import industry_graph

    # on the class, so that a subclass of Network used by the model is timed too
    Network.__init__ = timer.wrap("Mesa Network (cells, connections)", Network.__init__)
    industry_graph.to_networkx = timer.wrap("networkx graph", industry_graph.to_networkx)


class Phases:
    """The build's phases, timed from CloudMarket's own progress reports (``progress=``).

    Each reported phase lasts until the next report; the last one until ``end()``.
    """

    def __init__(self) -> None:
        self.totals: dict[str, dict[str, float]] = {}
        self.current: tuple[str, tuple[float, float]] | None = None

    def __call__(self, phase: str) -> None:
        self.end()
        self.current = (phase, clock())

    def end(self) -> None:
        if self.current is not None:
            name, t0 = self.current
            self.totals[name] = since(t0)
            self.current = None


def _minus(a: dict, *bs: dict) -> dict:
    return {k: a[k] - sum(b.get(k, 0.0) for b in bs) for k in a}


def child_scale(n: int, steps: int, seed: int, floor_steps: int) -> dict:
    """Build and step CloudMarket at n customers, then compare with the floor."""
    t0 = clock()
    timer = Timer()
    wrap_faces(timer)
    from benchmarks.floor import FloorMarket
    from cloudmarket.model import CloudMarket
    import_time = since(t0)
    gc.collect()
    reports = Phases()
    t0 = clock()
    m = CloudMarket(scenario=SCENARIO, n_customers=n, rng=seed, progress=reports)
    build = since(t0)
    reports.end()
    zero = {"wall": 0.0, "cpu": 0.0}
    phases = reports.totals
    phases["before the first report (parameters, Mesa's model)"] = _minus(build, *phases.values())
    rss_build = peak_rss_gb()
    gc.collect()  # steady state: no garbage-collector debt from the build lands in the timed steps
    # step: wrap the phases on the instance (a few microseconds per step)
    for name in STEP_PHASES:
        if hasattr(m, name):
            setattr(m, name, timer.wrap(name, getattr(m, name)))
    m.datacollector.collect = timer.wrap("data collection", m.datacollector.collect)
    step_times, step_phases = [], []
    for _ in range(steps):
        t0 = clock()
        m.step()
        step_times.append(since(t0))
        step_phases.append(timer.take())
    rss_steps = peak_rss_gb()
    # floor: same state and RNG, stepped interleaved with the model
    floor_times, model_times = [], []
    if floor_steps:
        f = FloorMarket.from_model(m)
        for _ in range(floor_steps):
            t0 = clock()
            m.step()
            model_times.append(since(t0))
            t0 = clock()
            f.step()
            floor_times.append(since(t0))
        timer.take()
        assert (f.holdings == m.holdings).all(), "floor and model diverged"
    # the Mesa faces, built on first access: networkx graph, Network cells, customer agents
    t0 = clock()
    m.customers  # noqa: B018
    faces = since(t0)
    face_phases = timer.take()
    face_phases["customer agents (FixedAgent per node)"] = _minus(
        faces, face_phases.get("networkx graph", zero), face_phases.get("Mesa Network (cells, connections)", zero))
    return {"faces": faces, "face_phases": face_phases, "rss_faces_gb": peak_rss_gb(),
            "n": n, "seed": seed, "import": import_time, "build": build, "build_phases": phases,
            "step": step_times, "step_phases": step_phases, "rss_build_gb": rss_build,
            "rss_gb": rss_steps, "interleaved_model": model_times, "floor": floor_times,
            "edges": int(m.adjacency.nnz // 2)}


def child_idiomatic(n: int, steps: int, seed: int) -> dict:
    """Build and step the idiomatic baseline alone (the model is timed in its own child)."""
    from benchmarks.idiomatic import IdiomaticMarket

    gc.collect()
    t0 = clock()
    im = IdiomaticMarket(scenario=SCENARIO, n_customers=n, rng=seed)
    build = since(t0)
    gc.collect()  # steady state, as for the model
    times = []
    for _ in range(steps):
        t0 = clock()
        im.step()
        times.append(since(t0))
    return {"n": n, "seed": seed, "build": build, "step": times, "rss_gb": peak_rss_gb()}


def child_profile(n: int, steps: int, seed: int) -> dict:
    """cProfile of ``steps`` model steps at n customers: top functions by own time."""
    from cloudmarket.model import CloudMarket

    m = CloudMarket(scenario=SCENARIO, n_customers=n, rng=seed)
    m.step()
    prof = cProfile.Profile(time.process_time)  # CPU time: robust to other processes
    prof.enable()
    for _ in range(steps):
        m.step()
    prof.disable()
    stats = pstats.Stats(prof)
    rows = []
    for (path, line, name), (_, calls, own, cum, _) in stats.stats.items():
        rows.append({"function": f"{_short(path)}:{line}({name})", "calls": calls,
                     "own_ms": own * 1e3 / steps, "cum_ms": cum * 1e3 / steps})
    rows.sort(key=lambda r: -r["own_ms"])
    return {"n": n, "steps": steps, "top_own": rows[:14], "total_ms": sum(r["own_ms"] for r in rows)}


def child_build_profile(n: int, seed: int) -> dict:
    """cProfile of one model build at n customers: top functions by own time."""
    from cloudmarket.model import CloudMarket

    CloudMarket(scenario=SCENARIO, n_customers=1_000, rng=seed)  # imports and caches out of the way
    gc.collect()
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    CloudMarket(scenario=SCENARIO, n_customers=n, rng=seed)
    prof.disable()
    rows = [{"function": f"{_short(path)}:{line}({name})", "calls": calls, "own_s": own, "cum_s": cum}
            for (path, line, name), (_, calls, own, cum, _) in pstats.Stats(prof).stats.items()]
    rows.sort(key=lambda r: -r["own_s"])
    return {"n": n, "top_own": rows[:10], "total_s": sum(r["own_s"] for r in rows)}


def _short(path: str) -> str:
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


# ---------------------------------------------------------------------- driver
def run_child(mode: str, **kw) -> dict:
    """Run one measurement in a fresh interpreter and return its JSON result."""
    args = [sys.executable, str(Path(__file__).resolve()), "--child", mode]
    for k, v in kw.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    # one BLAS thread, as the CLI and every batch worker run (cloudmarket.experiments.cli): a
    # second thread on a short product only adds CPU time, which is what the targets judge
    from cloudmarket.experiments.cli import SINGLE_THREAD_ENV

    out = subprocess.run(args, check=True, capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, **SINGLE_THREAD_ENV})
    return json.loads(out.stdout.strip().splitlines()[-1])


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def machine() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    import mesa
    import networkx
    import numpy
    import scipy

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "model", "agents"], capture_output=True,
                           text=True, cwd=ROOT).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "ram": mem, "python": platform.python_version(),
            "numpy": numpy.__version__, "scipy": scipy.__version__, "networkx": networkx.__version__,
            "mesa": mesa.__version__, "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
            "commit": commit + (" + uncommitted changes in model/ or agents/" if dirty else ""),
            "platform": platform.platform()}


def small_repeats(n: int, repeats: int) -> int:
    """Children per size: at least 5 up to 10k customers (cheap, and the noisiest)."""
    return max(repeats, 5) if n <= 10_000 else repeats


def run_all(args) -> dict:
    sizes = list(args.sizes)
    results = {"scale": {}, "idiomatic": {}, "profile": None}
    load_before = os.getloadavg()
    t_start = time.perf_counter()
    for n in sizes:
        repeats = 1 if n >= 1_000_000 else small_repeats(n, args.repeats)
        runs = []
        for r in range(repeats):
            res = run_child("scale", n=n, steps=args.steps, seed=r + 1,
                            floor_steps=args.steps)
            runs.append(res)
            print(f"scale n={n:>9,} run {r + 1}/{repeats}: build {res['build']['cpu']:.2f} s CPU "
                  f"({res['build']['wall']:.2f} wall), step {med(res['step'], 'cpu') * 1e3:.2f} ms CPU "
                  f"({med(res['step'], 'wall') * 1e3:.2f} wall), peak {res['rss_gb']:.2f} GB", flush=True)
        results["scale"][n] = runs
    for n in [s for s in IDIOMATIC_SIZES if s in sizes]:
        runs = []
        repeats = 1 if n >= 100_000 else small_repeats(n, args.repeats)
        for r in range(repeats):
            res = run_child("idiomatic", n=n, steps=args.steps, seed=r + 1)
            runs.append(res)
            print(f"idiomatic n={n:>6,} run {r + 1}/{repeats}: build {res['build']['cpu']:.2f} s CPU, "
                  f"step {med(res['step'], 'cpu') * 1e3:.1f} ms CPU ({med(res['step'], 'wall') * 1e3:.1f} wall)",
                  flush=True)
        results["idiomatic"][n] = runs
    if 100_000 in sizes:
        results["profile"] = run_child("profile", n=100_000, steps=2 * args.steps, seed=1)
    if 1_000_000 in sizes:
        results["build_profile"] = run_child("build-profile", n=1_000_000, seed=1)
    results["wall_s"] = time.perf_counter() - t_start
    results["load"] = (load_before, os.getloadavg())
    return results


# ---------------------------------------------------------------------- report
def med(times: list[dict], key: str) -> float:
    """Median of one clock ("cpu" or "wall") over a list of timings."""
    return median([t[key] for t in times])


def fmt_n(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


def summarise(results: dict, key: str) -> dict:
    """Medians over runs of per-run medians, on clock ``key`` ("cpu" or "wall")."""
    s = {}
    for n, runs in results["scale"].items():
        with_floor = [r for r in runs if r["floor"]]
        s[n] = {
            "build": median([r["build"][key] for r in runs]),
            "build_range": (min(r["build"][key] for r in runs), max(r["build"][key] for r in runs)),
            "step": median([med(r["step"], key) for r in runs]),
            "first_step": median([r["step"][0][key] for r in runs]),
            "collect": median([median([p.get("data collection", {key: 0.0})[key] for p in r["step_phases"]])
                               for r in runs]),
            "collect_share": median([median([p.get("data collection", {key: 0.0})[key] / t[key]
                                             for p, t in zip(r["step_phases"], r["step"], strict=True)])
                                     for r in runs]),
            "rss_build": median([r["rss_build_gb"] for r in runs]),
            "rss": median([r["rss_gb"] for r in runs]),
            "floor": median([med(r["floor"], key) for r in with_floor]) if with_floor else None,
            "model_interleaved": median([med(r["interleaved_model"], key) for r in with_floor])
            if with_floor else None,
            "floor_ratio": median([med(r["interleaved_model"], key) / med(r["floor"], key) for r in with_floor])
            if with_floor else None,
            "runs": len(runs),
            "edges": runs[0]["edges"],
            "faces": median([r["faces"][key] for r in runs]),
            "rss_faces": median([r["rss_faces_gb"] for r in runs]),
            "face_phases": {k: median([r["face_phases"].get(k, {key: 0.0})[key] for r in runs])
                            for k in runs[0]["face_phases"]},
            "build_phases": {k: median([r["build_phases"].get(k, {key: 0.0})[key] for r in runs])
                             for k in runs[0]["build_phases"]},
            "step_phases": {k: median([median([p.get(k, {key: 0.0})[key] for p in r["step_phases"]])
                                       for r in runs])
                            for k in runs[0]["step_phases"][-1]},
        }
    for n, runs in results["idiomatic"].items():
        idiomatic = median([med(r["step"], key) for r in runs])
        model = s.get(n, {}).get("step")
        s.setdefault(n, {})["idiomatic"] = {
            "idiomatic": idiomatic,
            "model": model,
            "ratio": idiomatic / model if model else None,
            "build_idiomatic": median([r["build"][key] for r in runs]),
            "build_model": s.get(n, {}).get("build"),
            "floor": s.get(n, {}).get("floor"),
            "floor_ratio": idiomatic / s[n]["floor"] if s.get(n, {}).get("floor") else None,
            "rss": median([r["rss_gb"] for r in runs]),
            "runs": len(runs),
        }
    return s


def judge(s: dict) -> dict[str, float | None]:
    """The measured value of every target (None where not measured)."""
    import math

    def get(n, key, sub=None):
        try:
            return s[n][key] if sub is None else s[n][key][sub]
        except (KeyError, TypeError):
            return None

    slope = None
    if get(10_000, "step") and get(100_000, "step"):
        slope = math.log10(s[100_000]["step"] / s[10_000]["step"])
    return {
        "idiomatic / model step at 10k": get(10_000, "idiomatic", "ratio"),
        "model / floor step at 100k": get(100_000, "floor_ratio"),
        "log-log slope of step time 10k -> 100k": slope,
        "build at 100k": get(100_000, "build"),
        "step at 100k": get(100_000, "step"),
        "peak memory at 100k": get(100_000, "rss"),
        "build at 1M": get(1_000_000, "build"),
        "peak memory after build at 1M": get(1_000_000, "rss_build"),
        "step at 1M": get(1_000_000, "step"),
        "peak memory at 1M": get(1_000_000, "rss"),
    }


def verdict(name: str, value: float | None) -> str:
    limit, _, op = TARGETS[name]
    if value is None:
        return "not measured"
    ok = value >= limit if op == ">=" else value <= limit
    return "PASS" if ok else "MISS"



def profile_table(title: str, columns: tuple[str, str, str], rows: list[tuple[str, str, str, str]]) -> list[str]:
    """Markdown lines of one cProfile table: a title, then one row per function.

    >>> profile_table("## t", ("a", "b", "c"), [("f", "1", "2", "3")])[-1]
    '| `f` | 1 | 2 | 3 |'
    """
    lines = ["", title, "", f"| function | {' | '.join(columns)} |", "|---|---:|---:|---:|"]
    return lines + [f"| `{name}` | {' | '.join(values)} |" for name, *values in rows]

def render(results: dict, args, info: dict) -> str:
    cpu, wall = summarise(results, "cpu"), summarise(results, "wall")
    values, wall_values = judge(cpu), judge(wall)

    def ms(x):
        return "-" if x is None else f"{x * 1e3:.2f}"

    def both_ms(c, w):
        return "-" if c is None else f"{c * 1e3:.2f} ({w * 1e3:.2f})"

    lines = [
        "# Benchmarks: CloudMarket model",
        "",
        f"Written by `{args.command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
        f"(took {results['wall_s'] / 60:.1f} min). Do not edit by hand: `make bench` rewrites it.",
        "",
        "## Machine",
        "",
        f"- CPU: {info['cpu']}, {info['cores']} cores; RAM {info['ram']}; {info['platform']}",
        f"- Python {info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, "
        f"networkx {info['networkx']}, mesa {info['mesa']}",
        f"- OPENBLAS_CORETYPE = {info['openblas_coretype']} (left as found); git {info['commit']}",
        f"- Load average (1 min) before / after: {results['load'][0][0]:.2f} / {results['load'][1][0]:.2f} "
        f"on {info['cores']} cores.",
        "",
        "## Method",
        "",
        f"Scenario `{SCENARIO}`, default parameters: n customers on the cloud and 1.2 n prospects (rows), "
        "every customer on the cloud places new spend each quarter (one logit draw each), new adopters join, "
        "and 1/8 of the customers review their installed workloads (review period 8 quarters); average "
        "degree 10. Each size is measured in fresh child processes "
        f"({args.repeats} per size, at least 5 up to 10k, seeds 1, 2, ...; one at 1M), so peak memory (`ru_maxrss`) is per "
        f"size. A child builds the model (timed), then runs {args.steps} steps (one full review cycle); step "
        "time is the median of those steps, and every number below the median over children. "
        "After the build, one untimed `gc.collect()` so that no garbage-collector debt of the build is "
        "charged to the steps (same for the idiomatic baseline). The first step is reported apart (it "
        "builds the policy's allowed-vendor mask). Data collection is timed inside the "
        "step by wrapping `model.datacollector.collect`, step phases by wrapping the model's public phase "
        "methods (`CloudMarket.step`'s schedule) on the instance (microseconds of overhead). The numpy floor (`benchmarks/floor.py`) starts from a copy of "
        "the model's state and RNG after those steps and is stepped interleaved with the model "
        f"({args.steps} more steps each); it makes the model's own calls (customer base, policy, plain "
        "`VendorBooks`, metrics) without Mesa's Model, agents and DataCollector, and reproduces the "
        "model's trajectory exactly (checked in the child "
        "and in `tests/test_bench_equivalence.py`). The idiomatic Mesa baseline (`benchmarks/idiomatic.py`) "
        "is built from the same seeds and stepped the same number of quarters in its own child processes.",
        "",
        "**Clocks.** Every time is measured twice: CPU time of the benchmark process (`time.process_time`) "
        "and wall time (`time.perf_counter`), shown as `CPU (wall)`. This machine is shared with other "
        "work (see the load average), which inflates wall times by waiting for a core; the computation "
        "is single-threaded (children run with one BLAS thread, as the CLI and batch workers do), so CPU time is the estimate of wall time on an idle machine, and the targets "
        "are judged on it. Wall-time verdicts are shown beside them.",
        "",
        "## 1. Step time vs customers",
        "",
        "| customers | edges | build s | step ms | first step ms | data collection ms | collection share "
        "| peak RSS after build (GB) | peak RSS after steps (GB) | runs |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sorted(results["scale"]):
        c, w = cpu[n], wall[n]
        lines.append(f"| {n:,} | {c['edges']:,} | {c['build']:.2f} ({w['build']:.2f}) | "
                     f"{both_ms(c['step'], w['step'])} | {both_ms(c['first_step'], w['first_step'])} | "
                     f"{both_ms(c['collect'], w['collect'])} | {100 * c['collect_share']:.1f} % | "
                     f"{c['rss_build']:.2f} | {c['rss']:.2f} | {c['runs']} |")
    sizes = sorted(results["scale"])
    lines += ["", "Build time by phase, as CloudMarket reports its phases to `progress=` (CPU s, medians; "
              "wall in parentheses; \"calibrating starting shares\" runs to the end of the build: vendors, "
              "intercepts, step-0 metrics and data collection):", "",
              "| phase | " + " | ".join(fmt_n(n) for n in sizes) + " |",
              "|---|" + "---:|" * len(sizes)]
    for k in cpu[sizes[-1]]["build_phases"]:
        lines.append(f"| {k} | " + " | ".join(
            f"{cpu[n]['build_phases'].get(k, 0.0):.2f} ({wall[n]['build_phases'].get(k, 0.0):.2f})"
            for n in sizes) + " |")
    lines += ["", "The customers' Mesa faces, built on first access to `m.grid` or `m.customers` (after the "
              "steps and the floor; the rules never read them): CPU s (wall), and peak RSS once built.", "",
              "| customers | first access s | networkx graph | Mesa Network (cells, connections) "
              "| customer agents | peak RSS with faces (GB) |",
              "|---:|---:|---:|---:|---:|---:|"]
    for n in sizes:
        c, w = cpu[n], wall[n]
        cells = [f"{c['face_phases'].get(k, 0.0):.2f} ({w['face_phases'].get(k, 0.0):.2f})"
                 for k in ("networkx graph", "Mesa Network (cells, connections)",
                           "customer agents (FixedAgent per node)")]
        lines.append(f"| {n:,} | {c['faces']:.2f} ({w['faces']:.2f}) | " + " | ".join(cells)
                     + f" | {c['rss_faces']:.2f} |")
    lines += ["", "Step time by phase (CPU ms, medians; `customers_place_new_spend` = adoption + peer shares + "
              "every customer's value and utility + one logit draw each; `customers_review` = the due cohort's "
              "migration draws and commitments):", "",
              "| phase | " + " | ".join(fmt_n(n) for n in sizes) + " |",
              "|---|" + "---:|" * len(sizes)]
    for k in cpu[sizes[-1]]["step_phases"]:
        lines.append(f"| {k} | " + " | ".join(ms(cpu[n]['step_phases'].get(k, 0.0)) for n in sizes) + " |")
    lines.append("| rest of `step` (Mesa's step wrapper, timing wrappers) | " + " | ".join(
        ms(cpu[n]["step"] - sum(cpu[n]["step_phases"].values())) for n in sizes) + " |")
    lines += ["", "## 2. Idiomatic Mesa baseline", "",
              "One Mesa agent per firm (customers and prospects). Each quarter every agent notes what it holds, "
              "then looks (sums its neighbours' holdings over its Mesa cell's neighbourhood and calls "
              "`CustomerBase.value_of` for its own row), then, in `shuffle_do` order, places its new spend "
              "(`new_workload_utility` and `place_new_spend` for its row) and, when due, reviews its workloads "
              "(`CustomerBase.review` for its row): the model's own rule functions, one row at a time. "
              "Vendors, policy and data collection are CloudMarket's own; its build includes its agents. Equivalence: `tests/test_bench_equivalence.py`. Measured in its own child "
              "processes (same seeds and steps as section 1) and compared with the model's step from section 1 "
              "and with the numpy floor's (section 3): the floor's ratio is the most any implementation of this "
              "rule in numpy can reach. 100k is run once, for context (the target is at 10k).", "",
              "| customers | idiomatic step ms | model step ms (section 1) | model is faster by "
              "| numpy floor step ms (section 3) | floor is faster by "
              "| build idiomatic / model s | idiomatic peak RSS (GB) | runs |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n in sorted(results["idiomatic"]):
        c, w = cpu[n]["idiomatic"], wall[n]["idiomatic"]
        ratio = "-" if c["ratio"] is None else f"{c['ratio']:.1f}x ({w['ratio']:.1f}x)"
        floor_ratio = "-" if c["floor_ratio"] is None else f"{c['floor_ratio']:.1f}x ({w['floor_ratio']:.1f}x)"
        build_model = "-" if c["build_model"] is None else f"{c['build_model']:.2f}"
        lines.append(f"| {n:,} | {both_ms(c['idiomatic'], w['idiomatic'])} | {both_ms(c['model'], w['model'])} | "
                     f"{ratio} | {both_ms(c['floor'], w['floor'])} | {floor_ratio} | "
                     f"{c['build_idiomatic']:.2f} / {build_model} | {c['rss']:.2f} | {c['runs']} |")
    lines += ["", "## 3. Pure-numpy floor", "",
              "| customers | model step ms | floor step ms | model / floor |", "|---:|---:|---:|---:|"]
    for n in sizes:
        c, w = cpu[n], wall[n]
        if c["floor_ratio"] is not None:
            lines.append(f"| {n:,} | {both_ms(c['model_interleaved'], w['model_interleaved'])} | "
                         f"{both_ms(c['floor'], w['floor'])} | {c['floor_ratio']:.2f}x ({w['floor_ratio']:.2f}x) |")
    lines += ["", "## 4. Targets", "",
              "| target | measured (CPU) | measured (wall) | limit | verdict (CPU) | verdict (wall) |",
              "|---|---:|---:|---:|---|---|"]
    for name, (limit, unit, op) in TARGETS.items():
        shown = []
        for v in (values[name], wall_values[name]):
            shown.append("-" if v is None else (f"{v:.1f} {unit}" if unit == "x" else f"{v:.2f} {unit}"))
        lines.append(f"| {name} | {shown[0]} | {shown[1]} | {op} {limit:g} {unit} | "
                     f"{verdict(name, values[name])} | {verdict(name, wall_values[name])} |")
    prof = results.get("profile")
    if prof:
        lines += profile_table(f"## 5. Where the step time goes (cProfile, {prof['steps']} steps at "
                               f"{prof['n']:,} customers, per step; profiler overhead inflates small calls)",
                               ("calls / step", "own time (ms)", "cumulative (ms)"),
                               [(row["function"], f"{row['calls'] / prof['steps']:.0f}", f"{row['own_ms']:.2f}",
                                 f"{row['cum_ms']:.2f}") for row in prof["top_own"]])
    prof = results.get("build_profile")
    if prof:
        lines += profile_table(f"## 6. Where the build time goes (cProfile, one build at {prof['n']:,} customers, "
                               f"{prof['total_s']:.2f} s CPU under the profiler)",
                               ("calls", "own time (s)", "cumulative (s)"),
                               [(row["function"], str(row["calls"]), f"{row['own_s']:.3f}", f"{row['cum_s']:.3f}")
                                for row in prof["top_own"]])
    lines += ["", NOTES, ""]
    return "\n".join(lines)


NOTES = """## Notes

- Speed numbers are reported here, never asserted in tests; the tests check that the
  baseline and the floor compute the same choices as the model
  (`tests/test_bench_equivalence.py`: utilities equal to 1e-12 customer by customer,
  chi-square on (main vendor, chosen vendor) frequencies of new workloads from one state,
  paired Wilcoxon on final HHI, spend shares, multi-homing and total migration over 20
  seeds; the floor's trajectory, collected numbers and random draws are identical to the
  model's).
- Neither baseline copies a rule: the floor makes the model's calls in the model's order,
  the idiomatic baseline calls the same rule functions one row at a time.
- 1M customers is measured once (one child); the other sizes three times or more.
- Profiler: Python's cProfile with a CPU-time timer (standard library); py-spy and
  pyinstrument were not needed.
- The build no longer makes the customers' Mesa faces (before 2026-12-03 it did: 40.37 s
  CPU and 3.25 GB at 1M, of which 17.9 s the networkx graph and 11.7 s Mesa's cells); they
  are built on first access to `m.grid` or `m.customers`, timed apart above and split into
  the networkx graph (`industry_graph.to_networkx`), Mesa's `Network` (one `Cell` per node
  and its connections) and the customer agents (one `FixedAgent` per node)."""


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--repeats", type=int, default=3, help="child processes per size (1 at 1M)")
    ap.add_argument("--steps", type=int, default=8, help="steps per child (8 = one review cycle)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    ap.add_argument("--quick", action="store_true", help="1k and 10k, one run each, print only")
    ap.add_argument("--child", choices=("scale", "idiomatic", "profile", "build-profile"), help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--floor-steps", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        if args.child == "scale":
            res = child_scale(args.n, args.steps, args.seed, args.floor_steps)
        elif args.child == "idiomatic":
            res = child_idiomatic(args.n, args.steps, args.seed)
        elif args.child == "build-profile":
            res = child_build_profile(args.n, args.seed)
        else:
            res = child_profile(args.n, args.steps, args.seed)
        print(json.dumps(res))
        return 0
    if args.quick:
        args.sizes, args.repeats = [1_000, 10_000], 1
    args.command = " ".join([Path(sys.executable).relative_to(ROOT).as_posix()
                             if Path(sys.executable).is_relative_to(ROOT) else sys.executable,
                             "benchmarks/bench_model.py", *(argv if argv is not None else sys.argv[1:])])
    info = machine()
    results = run_all(args)
    text = render(results, args, info)
    if args.quick:
        print(text)
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({results['wall_s'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
