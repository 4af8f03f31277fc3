"""Benchmarks of the CloudMarket model; rewrites benchmarks/RESULTS.md.

Three measurements, each in fresh child processes so that peak memory is per run:

* scale: build and step ``CloudMarket`` (china-2020, default parameters) at 1k, 10k,
  100k and 1M customers; build phases, step phases (review, vendors, metrics, data
  collection), peak RSS; then the numpy floor (``benchmarks/floor.py``) copied from the
  model's state, stepped interleaved with the model so both see the same machine load.
* idiomatic: the idiomatic Mesa baseline (``benchmarks/idiomatic.py``) interleaved with
  CloudMarket at 1k and 10k customers.
* profile: cProfile of the model's step at 100k customers (where the time goes).

Usage::

    .venv/bin/python benchmarks/bench_model.py            # everything, ~5 minutes
    .venv/bin/python benchmarks/bench_model.py --quick    # 1k and 10k only, no RESULTS.md
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
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
IDIOMATIC_SIZES = (1_000, 10_000)
SCENARIO = "china-2020"
BUILD_PHASES = ("_draw_customers", "_build_graph", "_place_customers", "_assign_initial_providers")
STEP_PHASES = ("_review", "_settle_vendors", "_record_metrics")
TARGETS = {  # name: (limit, unit, "<=" or ">=")
    "idiomatic / model step at 10k": (50.0, "x", ">="),
    "model / floor step at 100k": (1.5, "x", "<="),
    "log-log slope of step time 10k -> 100k": (1.1, "", "<="),
    "build at 100k": (10.0, "s", "<="),
    "step at 100k": (0.2, "s", "<="),
    "peak memory at 100k": (2.0, "GB", "<="),
    "build at 1M": (120.0, "s", "<="),
    "step at 1M": (2.0, "s", "<="),
    "peak memory at 1M": (8.0, "GB", "<="),
}


# ---------------------------------------------------------------------- children
def peak_rss_gb() -> float:
    """Peak resident set size of this process so far, in GB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


class Timer:
    """Accumulates wall time per label for wrapped callables."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    def wrap(self, label: str, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.totals[label] = self.totals.get(label, 0.0) + time.perf_counter() - start
        return timed

    def take(self) -> dict[str, float]:
        out, self.totals = self.totals, {}
        return out


def timed_market_class(timer: Timer):
    """CloudMarket subclass whose build phases, networkx graph and Mesa Network are timed."""
    import model.market as market
    from model import CloudMarket, industry_graph

    market.Network = timer.wrap("Mesa Network (cells, connections)", market.Network)
    industry_graph.to_networkx = timer.wrap("networkx graph", industry_graph.to_networkx)
    attrs = {name: timer.wrap(name, getattr(CloudMarket, name))
             for name in BUILD_PHASES if hasattr(CloudMarket, name)}
    return type("TimedMarket", (CloudMarket,), attrs)


def child_scale(n: int, steps: int, seed: int, floor_steps: int) -> dict:
    """Build and step CloudMarket at n customers, then compare with the floor."""
    t0 = time.perf_counter()
    timer = Timer()
    cls = timed_market_class(timer)
    from benchmarks.floor import FloorMarket
    import_s = time.perf_counter() - t0
    gc.collect()
    t0 = time.perf_counter()
    m = cls(scenario=SCENARIO, n_customers=n, rng=seed)
    build_s = time.perf_counter() - t0
    phases = timer.take()
    if "_place_customers" in phases:
        placed = phases.pop("_place_customers")
        nx_s = phases.get("networkx graph", 0.0)
        net_s = phases.get("Mesa Network (cells, connections)", 0.0)
        phases["customer agents (FixedAgent per node)"] = placed - nx_s - net_s
    phases["vendors, data collector, step-0 metrics"] = build_s - sum(
        v for k, v in phases.items())
    rss_build = peak_rss_gb()
    # step: wrap the phases on the instance (a few microseconds per step)
    for name in STEP_PHASES:
        if hasattr(m, name):
            setattr(m, name, timer.wrap(name, getattr(m, name)))
    m.datacollector.collect = timer.wrap("data collection", m.datacollector.collect)
    step_s, step_phases = [], []
    for _ in range(steps):
        t = time.perf_counter()
        m.step()
        step_s.append(time.perf_counter() - t)
        step_phases.append(timer.take())
    rss_steps = peak_rss_gb()
    # floor: same state and RNG, stepped interleaved with the model
    floor_s, model_s = [], []
    if floor_steps:
        f = FloorMarket.from_model(m)
        for _ in range(floor_steps):
            t = time.perf_counter()
            m.step()
            t1 = time.perf_counter()
            f.step()
            t2 = time.perf_counter()
            model_s.append(t1 - t)
            floor_s.append(t2 - t1)
        timer.take()
        assert (f.provider == m.provider).all(), "floor and model diverged"
    return {"n": n, "seed": seed, "import_s": import_s, "build_s": build_s, "build_phases": phases,
            "step_s": step_s, "step_phases": step_phases, "rss_build_gb": rss_build,
            "rss_gb": rss_steps, "interleaved_model_s": model_s, "floor_s": floor_s,
            "edges": int(m.adjacency.nnz // 2)}


def child_idiomatic(n: int, steps: int, seed: int) -> dict:
    """Step the idiomatic baseline and CloudMarket, interleaved, from the same seed."""
    from benchmarks.idiomatic import IdiomaticMarket
    from model import CloudMarket

    t = time.perf_counter()
    im = IdiomaticMarket(scenario=SCENARIO, n_customers=n, rng=seed)
    build_idiomatic = time.perf_counter() - t
    t = time.perf_counter()
    m = CloudMarket(scenario=SCENARIO, n_customers=n, rng=seed)
    build_model = time.perf_counter() - t
    idiomatic_s, model_s = [], []
    for _ in range(steps):
        t = time.perf_counter()
        im.step()
        t1 = time.perf_counter()
        m.step()
        t2 = time.perf_counter()
        idiomatic_s.append(t1 - t)
        model_s.append(t2 - t1)
    return {"n": n, "seed": seed, "build_idiomatic_s": build_idiomatic, "build_model_s": build_model,
            "idiomatic_s": idiomatic_s, "model_s": model_s}


def child_profile(n: int, steps: int, seed: int) -> dict:
    """cProfile of ``steps`` model steps at n customers: top functions by own time."""
    from model import CloudMarket

    m = CloudMarket(scenario=SCENARIO, n_customers=n, rng=seed)
    m.step()
    prof = cProfile.Profile()
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
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(12)
    return {"n": n, "steps": steps, "top_own": rows[:14], "total_ms": sum(r["own_ms"] for r in rows)}


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
    out = subprocess.run(args, check=True, capture_output=True, text=True, cwd=ROOT)
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


def run_all(args) -> dict:
    sizes = [s for s in args.sizes]
    results = {"scale": {}, "idiomatic": {}, "profile": None}
    load_before = os.getloadavg()
    t_start = time.perf_counter()
    for n in sizes:
        repeats = 1 if n >= 1_000_000 else args.repeats
        runs = []
        for r in range(repeats):
            res = run_child("scale", n=n, steps=args.steps, seed=r + 1,
                            floor_steps=args.steps if n >= 10_000 else 0)
            runs.append(res)
            print(f"scale n={n:>9,} run {r + 1}/{repeats}: build {res['build_s']:.2f} s, "
                  f"step {median(res['step_s']) * 1e3:.2f} ms, peak {res['rss_gb']:.2f} GB", flush=True)
        results["scale"][n] = runs
    for n in [s for s in IDIOMATIC_SIZES if s in sizes]:
        runs = []
        for r in range(args.repeats):
            res = run_child("idiomatic", n=n, steps=args.steps, seed=r + 1)
            runs.append(res)
            print(f"idiomatic n={n:>6,} run {r + 1}/{args.repeats}: idiomatic "
                  f"{median(res['idiomatic_s']) * 1e3:.1f} ms, model {median(res['model_s']) * 1e3:.2f} ms",
                  flush=True)
        results["idiomatic"][n] = runs
    if 100_000 in sizes:
        results["profile"] = run_child("profile", n=100_000, steps=2 * args.steps, seed=1)
    results["wall_s"] = time.perf_counter() - t_start
    results["load"] = (load_before, os.getloadavg())
    return results


# ---------------------------------------------------------------------- report
def fmt_n(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


def summarise(results: dict) -> dict:
    """Medians over runs of per-run medians; the numbers the targets are judged on."""
    s = {}
    for n, runs in results["scale"].items():
        step = median([median(r["step_s"]) for r in runs])
        collect = median([median([p.get("data collection", 0.0) for p in r["step_phases"]]) for r in runs])
        floor_ratio = [median(r["interleaved_model_s"]) / median(r["floor_s"]) for r in runs if r["floor_s"]]
        s[n] = {
            "build": median([r["build_s"] for r in runs]),
            "build_range": (min(r["build_s"] for r in runs), max(r["build_s"] for r in runs)),
            "step": step,
            "first_step": median([r["step_s"][0] for r in runs]),
            "collect": collect,
            "collect_share": median([median([p.get("data collection", 0.0) / t for p, t in
                                             zip(r["step_phases"], r["step_s"], strict=True)]) for r in runs]),
            "rss_build": median([r["rss_build_gb"] for r in runs]),
            "rss": median([r["rss_gb"] for r in runs]),
            "floor": median([median(r["floor_s"]) for r in runs if r["floor_s"]]) if floor_ratio else None,
            "model_interleaved": median([median(r["interleaved_model_s"]) for r in runs if r["floor_s"]])
            if floor_ratio else None,
            "floor_ratio": median(floor_ratio) if floor_ratio else None,
            "runs": len(runs),
            "edges": runs[0]["edges"],
            "build_phases": {k: median([r["build_phases"].get(k, 0.0) for r in runs])
                             for k in runs[0]["build_phases"]},
            "step_phases": {k: median([median([p.get(k, 0.0) for p in r["step_phases"]]) for r in runs])
                            for k in runs[0]["step_phases"][-1]},
        }
    for n, runs in results["idiomatic"].items():
        s.setdefault(n, {})["idiomatic"] = {
            "idiomatic": median([median(r["idiomatic_s"]) for r in runs]),
            "model": median([median(r["model_s"]) for r in runs]),
            "ratio": median([median(r["idiomatic_s"]) / median(r["model_s"]) for r in runs]),
            "build_idiomatic": median([r["build_idiomatic_s"] for r in runs]),
            "build_model": median([r["build_model_s"] for r in runs]),
            "runs": len(runs),
        }
    return s


def judge(s: dict) -> dict[str, float | None]:
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
        "step at 1M": get(1_000_000, "step"),
        "peak memory at 1M": get(1_000_000, "rss"),
    }


def verdict(name: str, value: float | None) -> str:
    limit, _, op = TARGETS[name]
    if value is None:
        return "not measured"
    ok = value >= limit if op == ">=" else value <= limit
    return "PASS" if ok else "MISS"


def render(results: dict, args, info: dict) -> str:
    s = summarise(results)
    values = judge(s)
    ms = lambda x: "-" if x is None else f"{x * 1e3:.2f}"  # noqa: E731
    lines = [
        "# Benchmarks: CloudMarket model",
        "",
        f"Written by `{args.command}` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} "
        f"(wall time {results['wall_s'] / 60:.1f} min). Do not edit by hand: `make bench` rewrites it.",
        "",
        "## Machine",
        "",
        f"- CPU: {info['cpu']}, {info['cores']} cores; RAM {info['ram']}; {info['platform']}",
        f"- Python {info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, "
        f"networkx {info['networkx']}, mesa {info['mesa']}",
        f"- OPENBLAS_CORETYPE = {info['openblas_coretype']} (left as found); git {info['commit']}",
        f"- Load average (1 min) before / after: {results['load'][0][0]:.2f} / {results['load'][1][0]:.2f}. "
        "The machine is shared with other work, so absolute times are noisy; ratios are measured "
        "interleaved (model step, then the other step, repeatedly, in one process) so both sides see the "
        "same load.",
        "",
        "## Method",
        "",
        f"Scenario `{SCENARIO}`, default parameters (review period 8 quarters, so 1/8 of customers review "
        f"each step; average degree 10). Each size is measured in fresh child processes "
        f"({args.repeats} per size, seeds 1..{args.repeats}; one at 1M), so peak memory (`ru_maxrss`) is per "
        f"size. A child builds the model (timed), then runs {args.steps} steps (one full review cycle); step "
        "time is the median of those steps, build time and every other number the median over children. "
        "The first step is reported apart (it builds the policy mask). Data collection is timed inside the "
        "step by wrapping `model.datacollector.collect`; step phases by wrapping the model's methods on the "
        "instance (microseconds of overhead). The numpy floor (`benchmarks/floor.py`) starts from a copy of "
        "the model's state and RNG after those steps and is stepped interleaved with the model "
        f"({args.steps} more steps each); it reproduces the model's choices exactly (checked in the child "
        "and in `tests/test_bench_equivalence.py`). The idiomatic Mesa baseline (`benchmarks/idiomatic.py`) "
        "and CloudMarket are built from the same seed and stepped interleaved.",
        "",
        "## 1. Step time vs customers",
        "",
        "| customers | edges | build (s) | step (ms) | first step (ms) | data collection (ms) | collection share "
        "| peak RSS after build (GB) | peak RSS after steps (GB) | runs |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sorted(results["scale"]):
        r = s[n]
        lo, hi = r["build_range"]
        rng_txt = f" ({lo:.2f}-{hi:.2f})" if r["runs"] > 1 else ""
        lines.append(f"| {n:,} | {r['edges']:,} | {r['build']:.2f}{rng_txt} | {ms(r['step'])} | "
                     f"{ms(r['first_step'])} | {ms(r['collect'])} | {100 * r['collect_share']:.1f} % | "
                     f"{r['rss_build']:.2f} | {r['rss']:.2f} | {r['runs']} |")
    # build phases
    sizes = sorted(results["scale"])
    phase_names = list(s[sizes[-1]]["build_phases"])
    lines += ["", "Build time by phase (s, medians):", "",
              "| phase | " + " | ".join(fmt_n(n) for n in sizes) + " |",
              "|---|" + "---:|" * len(sizes)]
    for k in phase_names:
        lines.append(f"| {k} | " + " | ".join(f"{s[n]['build_phases'].get(k, 0.0):.2f}" for n in sizes) + " |")
    step_names = list(s[sizes[-1]]["step_phases"])
    lines += ["", "Step time by phase (ms, medians; `_review` = utility + peer shares + logit draw):", "",
              "| phase | " + " | ".join(fmt_n(n) for n in sizes) + " |",
              "|---|" + "---:|" * len(sizes)]
    for k in step_names:
        lines.append(f"| {k} | " + " | ".join(ms(s[n]['step_phases'].get(k, 0.0)) for n in sizes) + " |")
    lines.append("| rest of `step` (spend growth, due rows, tenure, demand, Mesa's step wrapper) | " + " | ".join(
        ms(s[n]["step"] - sum(s[n]["step_phases"].values())) for n in sizes) + " |")
    # idiomatic
    lines += ["", "## 2. Idiomatic Mesa baseline", "",
              "Each customer's `step()` loops over its neighbours' agents and the vendor agents in Python, "
              "driven by `shuffle_do(\"step\")` then `do(\"advance\")`; vendors, policy and data collection are "
              "CloudMarket's own. Equivalence: `tests/test_bench_equivalence.py`.", "",
              "| customers | idiomatic step (ms) | model step (ms) | model is faster by | build idiomatic / model (s) "
              "| runs |", "|---:|---:|---:|---:|---:|---:|"]
    for n in sorted(results["idiomatic"]):
        r = s[n]["idiomatic"]
        lines.append(f"| {n:,} | {ms(r['idiomatic'])} | {ms(r['model'])} | {r['ratio']:.1f}x | "
                     f"{r['build_idiomatic']:.2f} / {r['build_model']:.2f} | {r['runs']} |")
    # floor
    lines += ["", "## 3. Pure-numpy floor", "",
              "| customers | model step (ms) | floor step (ms) | model / floor |", "|---:|---:|---:|---:|"]
    for n in sorted(results["scale"]):
        r = s[n]
        if r["floor_ratio"] is not None:
            lines.append(f"| {n:,} | {ms(r['model_interleaved'])} | {ms(r['floor'])} | {r['floor_ratio']:.2f}x |")
    # targets
    lines += ["", "## 4. Targets", "", "| target | measured | limit | verdict |", "|---|---:|---:|---|"]
    for name, (limit, unit, op) in TARGETS.items():
        v = values[name]
        shown = "-" if v is None else (f"{v:.2f}" if unit != "x" else f"{v:.1f}")
        lines.append(f"| {name} | {shown} {unit} | {op} {limit:g} {unit} | {verdict(name, v)} |")
    # profile
    prof = results.get("profile")
    if prof:
        lines += ["", f"## 5. Where the step time goes (cProfile, {prof['steps']} steps at "
                  f"{prof['n']:,} customers, per step; profiler overhead inflates small calls)", "",
                  "| function | calls / step | own time (ms) | cumulative (ms) |", "|---|---:|---:|---:|"]
        for row in prof["top_own"]:
            lines.append(f"| `{row['function']}` | {row['calls'] / prof['steps']:.0f} | "
                         f"{row['own_ms']:.2f} | {row['cum_ms']:.2f} |")
    lines += ["", NOTES, ""]
    return "\n".join(lines)


NOTES = """## Notes

- Speed numbers are reported here, never asserted in tests; the tests check that the
  baseline and the floor compute the same choices as the model
  (`tests/test_bench_equivalence.py`).
- Profiler: Python's cProfile (standard library); py-spy or pyinstrument are not needed.
- Build phases: `_place_customers` is split into the networkx graph (`industry_graph.to_networkx`),
  Mesa's `Network` (one `Cell` per node; `Cell.connect` per edge end) and the customer agents
  (one `FixedAgent` per node)."""


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--repeats", type=int, default=3, help="child processes per size (1 at 1M)")
    ap.add_argument("--steps", type=int, default=8, help="steps per child (8 = one review cycle)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    ap.add_argument("--quick", action="store_true", help="1k and 10k, one run each, print only")
    ap.add_argument("--child", choices=("scale", "idiomatic", "profile"), help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--floor-steps", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        if args.child == "scale":
            res = child_scale(args.n, args.steps, args.seed, args.floor_steps)
        elif args.child == "idiomatic":
            res = child_idiomatic(args.n, args.steps, args.seed)
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
    print(f"wrote {args.out.relative_to(ROOT)} ({results['wall_s'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
