"""The `cloudmarket` command: run one market or a batch, list parameters, serve the browser page.

Every subcommand validates its input before writing anything; a bad value prints
``error: NAME = VALUE: what is allowed`` and exits with status 2.

Example
-------
    cloudmarket params
    cloudmarket run --scenario china-2020 --steps 22 --seed 7 \\
        --set export_control_severity=0.6 --out runs/one.parquet --plot runs/one.png
    cloudmarket sweep experiments/specs/quick.toml --out results/quick
    cloudmarket summary results/quick
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

# Before numpy and pyarrow load: no helper threads in this process unless the user asks
# for them. Batches are parallel over processes (BLAS threads would only oversubscribe
# the cores), and a driver with a single thread may fork its pool's workers, which start
# at once instead of importing the model again (experiments.runner.pool_context).
SINGLE_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                     "JE_ARROW_MALLOC_CONF": "background_thread:false"}
for _name, _value in SINGLE_THREAD_ENV.items():
    os.environ.setdefault(_name, _value)

from cloudmarket import __version__  # noqa: E402
from cloudmarket.model.params import (SCHEMA, ParameterError, check_name, describe, parse_assignment,  # noqa: E402
                                      resolve)

EXIT_USAGE = 2
EXIT_FAILED_RUNS = 1
BACKEND_NAMES = ("serial", "local", "dask")


class UsageError(Exception):
    """Bad command-line input: reported on stderr with exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cloudmarket", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"cloudmarket {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one market and print its shares, HHI and churn")
    run.add_argument("--scenario", help="starting market (china-2020 | global-2020)")
    run.add_argument("--steps", help="quarters to simulate (default 22)")
    run.add_argument("--seed", default="0", help="random seed (integer, default 0)")
    run.add_argument("--n-customers", dest="n_customers", help="number of customers")
    run.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="set a parameter; VALUE is TOML (lists: '[\"UK\",\"SE\"]')")
    run.add_argument("--params", metavar="FILE.toml", help="read many parameters from a TOML file")
    run.add_argument("--out", metavar="FILE.parquet",
                     help="write vendor time series here and market series beside it (.market.parquet)")
    run.add_argument("--plot", metavar="FILE.png", help="draw share over time to this PNG")
    run.set_defaults(handler=cmd_run)

    params = sub.add_parser("params", help="list every parameter: type, default, range, meaning")
    params.add_argument("--group", choices=sorted({p.group for p in SCHEMA.values()}))
    params.set_defaults(handler=cmd_params)

    viz = sub.add_parser("viz", help="serve the SolaraViz page (cloudmarket.app) on 127.0.0.1")
    viz.add_argument("--host", default="127.0.0.1")
    viz.add_argument("--port", default="8765")
    viz.set_defaults(handler=cmd_viz)

    _add_experiment_commands(sub)
    return parser


def _add_experiment_commands(sub) -> None:
    """The experiment subcommands: sweep, status, summary, compare, sensitivity."""
    sweep = sub.add_parser("sweep", help="run an experiment spec (TOML) into a Parquet store; resumes and extends")
    sweep.add_argument("spec", metavar="SPEC", help="experiment spec: a TOML file, or the name of a shipped one (quick, sanctions, sensitivity)")
    sweep.add_argument("--out", required=True, metavar="DIR", help="store directory (created; re-use it to resume)")
    sweep.add_argument("--backend", choices=BACKEND_NAMES, help="serial | local (process pool, default) | dask")
    sweep.add_argument("--workers", metavar="N", help="worker processes (default: all cores)")
    sweep.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="Dask scheduler address (implies --backend dask)")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.set_defaults(handler=cmd_sweep)

    status = sub.add_parser("status", help="runs done / failed / pending in a store")
    status.add_argument("dir", metavar="DIR")
    status.set_defaults(handler=cmd_status)

    summary = sub.add_parser("summary", help="per design point: mean final shares with 95%% CI")
    summary.add_argument("dir", metavar="DIR")
    summary.add_argument("--column", default="spend_share", help="vendor column to summarise (default spend_share)")
    summary.set_defaults(handler=cmd_summary)

    compare = sub.add_parser("compare", help="paired differences vs a baseline value, bootstrap 95%% CI")
    compare.add_argument("dir", metavar="DIR")
    compare.add_argument("--metric", required=True, help="COLUMN:VENDOR (share:huawei) or a market column (hhi)")
    compare.add_argument("--by", required=True, help="swept parameter whose values are compared")
    compare.add_argument("--baseline", help="value of --by to compare against (default: its first value)")
    compare.set_defaults(handler=cmd_compare)

    sensitivity = sub.add_parser("sensitivity", help="Sobol' indices (first, total) with 95%% CI")
    sensitivity.add_argument("dir", metavar="DIR")
    sensitivity.add_argument("--metric", default="spend_share:huawei",
                             help="COLUMN:VENDOR or a market column (default spend_share:huawei)")
    sensitivity.set_defaults(handler=cmd_sensitivity)

    calibrate = sub.add_parser("calibrate", help="fit behavioural parameters to observed shares "
                               "(experiments/calibration.py; stages are resumable stores)")
    calibrate.add_argument("spec", metavar="SPEC", help="calibration spec: a TOML file, or a shipped name (calibrate_china)")
    calibrate.add_argument("--out", required=True, metavar="DIR", help="output directory (one store per stage)")
    calibrate.add_argument("--holdout", metavar="K", help="keep the last K observed quarters out of the objective")
    calibrate.add_argument("--backend", choices=BACKEND_NAMES)
    calibrate.add_argument("--workers", metavar="N")
    calibrate.add_argument("--scheduler", metavar="tcp://HOST:PORT")
    calibrate.add_argument("--quiet", action="store_true", help="no progress bars")
    calibrate.set_defaults(handler=cmd_calibrate)

    plot = sub.add_parser("plot", help="draw a vendor's share over time at every design point (PNG)")
    plot.add_argument("dir", metavar="DIR")
    plot.add_argument("--vendor", default="huawei", help="vendor to draw (default huawei)")
    plot.add_argument("--column", default="spend_share", help="vendor column (default spend_share)")
    plot.add_argument("--out", required=True, metavar="FILE.png", help="where to write the chart")
    plot.set_defaults(handler=cmd_plot)


def main(argv: list[str] | None = None) -> int:
    from cloudmarket.experiments.analysis import AnalysisError
    from cloudmarket.experiments.spec import SpecError
    from cloudmarket.experiments.store import StoreError

    from cloudmarket.experiments.outputs import OutputError
    from cloudmarket.experiments.serve import AddressError
    from cloudmarket.experiments.store import os_error_text

    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (ParameterError, UsageError, SpecError, StoreError, AnalysisError, OutputError, AddressError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:  # a place that cannot be read or written (full disk, read-only folder)
        print(f"error: {os_error_text(err)}", file=sys.stderr)
        return EXIT_USAGE


# ---------------------------------------------------------------------- params
def collect_params(args: argparse.Namespace) -> dict[str, Any]:
    """Merge --params FILE, dedicated flags and --set NAME=VALUE (later wins), validated."""
    given: dict[str, Any] = {}
    if getattr(args, "params", None):
        given.update(read_params_file(args.params))
    for flag in ("scenario", "steps", "n_customers"):
        raw = getattr(args, flag, None)
        if raw is not None:
            given[flag] = parse_assignment(f"{flag}={raw}")[1]
    for text in args.set:
        name, value = parse_assignment(text)
        given[name] = value
    return resolve(given)


def read_params_file(path: str) -> dict[str, Any]:
    """Parameters from a TOML file: top-level NAME = VALUE, or a [parameters] table.

    Every key must be a parameter and every value allowed; anything else is refused,
    naming the file and the key, rather than dropped.
    """
    from cloudmarket.experiments.spec import parameter_table

    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise UsageError(f"--params = {path!r}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"--params = {path!r}: is a directory, not a TOML file") from None
    except OSError as err:
        raise UsageError(f"--params = {path!r}: cannot be read ({err.strerror or err})") from None
    except UnicodeDecodeError as err:
        raise UsageError(f"--params = {path!r}: not UTF-8 text ({err})") from None
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"--params = {path!r}: not valid TOML ({err})") from None
    try:
        params, prefix = parameter_table(data)
    except ValueError as err:
        raise UsageError(f"--params = {path!r}: {err}") from None
    for name, value in params.items():
        try:
            check_name(name, value).coerce(value)
        except ParameterError as err:
            raise UsageError(f"--params = {path!r}: {prefix}{name} = {value!r}: {err.allowed}") from None
    return dict(params)


def parse_seed(raw: str) -> int:
    try:
        seed = int(raw)
    except ValueError:
        raise ParameterError("seed", raw, "must be a whole number >= 0") from None
    if seed < 0:
        raise ParameterError("seed", seed, "must be a whole number >= 0")
    return seed


def _check_suffix(flag: str, path: str | None, suffix: str) -> Path | None:
    """An output path with the right suffix in a place that can be written (experiments/outputs.py)."""
    from cloudmarket.experiments.outputs import check_output

    return check_output(flag, path, suffix)


def market_path(out: Path) -> Path:
    """Where `run --out X.parquet` puts the market series: X.market.parquet."""
    return out.with_name(out.stem + ".market.parquet")


# ---------------------------------------------------------------------- commands
def cmd_params(args: argparse.Namespace) -> int:
    rows = [r for r in describe() if args.group in (None, r["group"])]
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in ("name", "type", "default", "range")}
    print("  ".join(k.ljust(widths[k]) for k in widths) + "  meaning")
    for r in rows:
        print("  ".join(str(r[k]).ljust(widths[k]) for k in widths) + f"  {r['doc']}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from cloudmarket.experiments.outputs import check_output, publish
    from cloudmarket.model.run import check_memory

    params = collect_params(args)
    seed = parse_seed(args.seed)
    # Every output is checked before the run, and all are published together after it:
    # a failure leaves every file that existed as it was (experiments/outputs.py).
    out = check_output("--out", args.out, ".parquet")
    market_out = check_output("--out", str(market_path(out)), ".parquet") if out is not None else None
    plot = check_output("--plot", args.plot, ".png")
    check_memory([params])

    from cloudmarket.experiments.progress import run_progress
    from cloudmarket.model.charts import plot_shares
    from cloudmarket.model.run import simulate

    progress = run_progress(params["n_customers"], params["steps"])
    try:
        result = simulate(params, seed=seed, progress=progress)
    finally:
        if progress is not None:
            progress.close()
    vendors, market = result.vendors, result.market
    writes = []
    if out is not None:
        writes += [(out, lambda p: vendors.to_parquet(p, index=False)),
                   (market_out, lambda p: market.to_parquet(p, index=False))]
    if plot is not None:
        fig = plot_shares(vendors, market, title=f"{params['scenario']}, seed {seed}: share of spend")
        writes.append((plot, lambda p: fig.savefig(p, dpi=110, format="png")))
    publish(writes)
    print(summary_table(vendors, market, params, seed))
    if out is not None:
        print(f"wrote {out} and {market_out}")
    if plot is not None:
        print(f"wrote {plot}")
    return 0


def summary_table(vendors, market, params: dict[str, Any], seed: int) -> str:
    """Text table: each vendor's shares at the first and last step, then HHI and churn."""
    first, last = vendors.step.min(), vendors.step.max()
    a = vendors[vendors.step == first].set_index("vendor")
    b = vendors[vendors.step == last].set_index("vendor")
    p_first, p_last = a.period.iloc[0], b.period.iloc[0]
    lines = [f"scenario {params['scenario']}, {params['n_customers']} customers, seed {seed}, "
             f"steps {first}..{last} ({p_first}..{p_last})",
             f"{'vendor':<10} {'spend ' + p_first:>13} {'spend ' + p_last:>13} "
             f"{'cust ' + p_first:>12} {'cust ' + p_last:>12}"]
    for v in a.index:
        lines.append(f"{v:<10} {100 * a.spend_share[v]:12.1f}% {100 * b.spend_share[v]:12.1f}% "
                     f"{100 * a.share[v]:11.1f}% {100 * b.share[v]:11.1f}%")
    m0, m1 = market.iloc[0], market.iloc[-1]
    mean_churn = market.churn.iloc[1:].mean() if len(market) > 1 else 0.0
    lines.append(f"HHI {m0.hhi:,.0f} -> {m1.hhi:,.0f}; CR3 {100 * m0.cr3:.1f}% -> {100 * m1.cr3:.1f}%; "
                 f"churn per quarter: mean {100 * mean_churn:.2f}%, last {100 * m1.churn:.2f}%")
    return "\n".join(lines)


# ---------------------------------------------------------------------- experiments
def cmd_sweep(args: argparse.Namespace) -> int:
    """Validate the spec, then run what is missing; exit 1 if any run failed."""
    from cloudmarket.experiments.runner import sweep
    from cloudmarket.experiments.spec import load_spec

    backend, workers = backend_options(args)
    spec = load_spec(args.spec)
    try:
        report = sweep(spec, args.out, backend=backend, workers=workers, scheduler=args.scheduler, quiet=args.quiet)
    except KeyboardInterrupt:
        print("\ninterrupted: finished runs are stored; run the same command again to resume", file=sys.stderr)
        return 130
    pending = report.total - report.done - report.failed
    if report.repaired:
        print(f"re-ran {len(report.repaired)} runs whose stored rows were missing or unreadable: "
              f"{', '.join(report.repaired[:10])}{' ...' if len(report.repaired) > 10 else ''}", file=sys.stderr)
    print(f"{spec.name}: {report.total} runs: {report.done} done, {report.failed} failed, {pending} pending "
          f"(this sweep ran {report.ran} in {report.wall_s:.1f} s) -> {args.out}")
    for run, error in report.failures[:10]:
        print(f"  failed {run}: {error}")
    if len(report.failures) > 10:
        print(f"  ... and {len(report.failures) - 10} more (tracebacks in runs.parquet, column error)")
    if report.failed:
        print(f"{report.failed} runs failed; fix the cause and run the same command again to retry them",
              file=sys.stderr)
        return EXIT_FAILED_RUNS
    return 0


def backend_options(args: argparse.Namespace) -> tuple[str, int | None]:
    """Validated --backend / --scheduler / --workers: (backend name, workers or None)."""
    backend = args.backend or ("dask" if args.scheduler else "local")
    if args.scheduler and backend != "dask":
        raise UsageError(f"--scheduler = {args.scheduler!r}: only used with --backend dask (got {backend})")
    if args.scheduler and not args.scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
        raise UsageError(f"--scheduler = {args.scheduler!r}: must be an address like tcp://127.0.0.1:8786")
    workers = None
    if args.workers is not None:
        try:
            workers = int(args.workers)
        except ValueError:
            workers = 0
        if workers < 1:
            raise UsageError(f"--workers = {args.workers!r}: must be a whole number >= 1")
    return backend, workers


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Run experiments.calibration.calibrate and print the fit; exit 1 if any run failed."""
    from cloudmarket.experiments.calibration import baseline_verdicts, calibrate, load_calibration

    backend, workers = backend_options(args)
    holdout = None
    if args.holdout is not None:
        try:
            holdout = int(args.holdout)
        except ValueError:
            holdout = -1
        if holdout < 0:
            raise UsageError(f"--holdout = {args.holdout!r}: must be a whole number >= 0")
    cspec = load_calibration(args.spec, holdout=holdout)
    report = calibrate(cspec, args.out, backend=backend, workers=workers, scheduler=args.scheduler,
                       quiet=args.quiet)
    print(f"fitted parameters (objective: RMSE {report.objective:.2f} percentage points):")
    print(report.posterior.to_string(float_format=lambda x: f"{x:.4g}"))
    print("\nmean absolute error per vendor (percentage points), fitted model vs naive forecasts:")
    print(report.mae.to_string(index=False))
    for verdict in baseline_verdicts(report.mae):
        print(verdict)
    print("wrote " + ", ".join(str(f) for f in report.files))
    if report.failed_runs:
        print(f"{report.failed_runs} runs failed; run the same command again to retry them", file=sys.stderr)
        return EXIT_FAILED_RUNS
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Counts of done / failed / pending runs, after checking every done run's rows (exit 1 if damaged)."""
    from cloudmarket.experiments.runner import planned_run_ids
    from cloudmarket.experiments.store import Store

    store = Store(args.dir)
    manifest = store.read_manifest()
    rows = store.read_run_rows()
    planned = planned_run_ids(manifest)
    strangers = sorted(r["run_id"] for r in rows if planned is not None and r["run_id"] not in planned)
    rows = [r for r in rows if r["run_id"] not in strangers]
    found = store.check(rows)
    ours = [r for r in rows if r["run_id"] not in found.damaged]
    design = manifest["design"]
    total = design["runs"]
    done = sum(r["status"] == "done" for r in ours)
    failed = sum(r["status"] == "failed" for r in ours)
    print(f"{manifest['name']}: {design['design']} design, {design['points']} points x "
          f"{design['replications']} replications = {total} runs")
    print(f"done {done}  failed {failed}  pending {max(total - done - failed, 0)}")
    if found.damaged or found.bad_parts:
        print(f"damaged {len(found.damaged)}: done runs whose rows are missing or unreadable (counted as pending; "
              f"`cloudmarket sweep` re-runs them)")
        print("  " + found.describe().replace("\n", "\n  "))
    if strangers:
        print(f"{len(strangers)} records are not runs of this experiment's design (a damaged record, or parameter "
              f"defaults changed since): {', '.join(strangers[:10])}{' ...' if len(strangers) > 10 else ''}")
    last = (manifest.get("sweeps") or [{}])[-1]
    if last.get("started_at"):
        state = f"finished {last['finished_at']}" if last.get("finished_at") else "did not finish (killed or running)"
        print(f"last sweep: {last.get('backend')} backend, started {last['started_at']}, {state}")
    return EXIT_FAILED_RUNS if (found.damaged or found.bad_parts or strangers) else 0


def cmd_summary(args: argparse.Namespace) -> int:
    from cloudmarket.experiments.analysis import load_results, summarise

    results = load_results(args.dir)
    table = summarise(results, column=args.column)
    print(format_summary(table, results.swept, args.column))
    n_failed = int((results.runs.status == "failed").sum())
    if n_failed:
        print(f"({n_failed} failed runs left out; see `cloudmarket status {args.dir}`)")
    return 0


def format_summary(table, swept: list[str], column: str) -> str:
    """Text table: one line per design point, one "mean [low, high]" cell per vendor."""
    if table.empty:
        return "no finished runs yet"
    percent = column in ("share", "spend_share", "iaas_investment_share")
    scale = 100.0 if percent else 1.0
    vendors = list(dict.fromkeys(table.vendor))
    lines = [f"final {column}{' (%)' if percent else ''}: mean [95% CI] over replications"]
    head = [*swept, "runs", *vendors]
    rows = []
    for _, point in table.groupby("point", sort=True):
        first = point.iloc[0]
        cells = [_fmt_value(first[k]) for k in swept] + [str(int(first.runs))]
        by_vendor = point.set_index("vendor")
        for v in vendors:
            r = by_vendor.loc[v]
            cells.append(f"{scale * r['mean']:.1f} [{scale * r.ci_low:.1f}, {scale * r.ci_high:.1f}]"
                         if r.ci_low == r.ci_low else f"{scale * r['mean']:.1f}")
        rows.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    lines.append("  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def _fmt_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def cmd_compare(args: argparse.Namespace) -> int:
    from cloudmarket.experiments.analysis import load_results, paired_differences, parse_metric

    metric = parse_metric(args.metric)
    results = load_results(args.dir)
    baseline = None
    if args.baseline is not None:
        if args.by not in SCHEMA:
            raise UsageError(f"--by = {args.by!r}: not a parameter")
        baseline = SCHEMA[args.by].coerce(parse_assignment(f"{args.by}={args.baseline}")[1])
    table = paired_differences(results, metric, args.by, baseline=baseline)
    scale = 100.0 if metric.column in ("share", "spend_share", "iaas_investment_share") else 1.0
    unit = " (percentage points)" if scale == 100.0 else ""
    base = table.baseline.iloc[0]
    print(f"{metric} at the final step: paired difference vs {args.by} = {_fmt_value(base)}{unit}, "
          f"bootstrap 95% CI; pairs share replication seed and other swept parameters")
    print(f"{args.by:>24} {'pairs':>6} {'mean':>10} {'baseline':>10} {'difference':>11} {'95% CI':>22}")
    for _, r in table.iterrows():
        print(f"{_fmt_value(r[args.by]):>24} {int(r.pairs):>6} {scale * r['mean']:>10.3f} "
              f"{scale * r.mean_baseline:>10.3f} {scale * r.difference:>+11.3f} "
              f"{'[' + format(scale * r.ci_low, '+.3f') + ', ' + format(scale * r.ci_high, '+.3f') + ']':>22}")
    return 0


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from cloudmarket.experiments.analysis import load_results, parse_metric, sobol_indices

    metric = parse_metric(args.metric)
    results = load_results(args.dir)
    table = sobol_indices(results, metric)
    print(f"Sobol' indices of {metric} at the final step (mean over replications), 95% CI")
    print(f"{'parameter':>26} {'first (S1)':>10} {'95% CI':>18} {'total (ST)':>10} {'95% CI':>18}")
    for _, r in table.iterrows():
        print(f"{r.parameter:>26} {r.S1:>10.3f} {f'[{r.S1_ci_low:.3f}, {r.S1_ci_high:.3f}]':>18} "
              f"{r.ST:>10.3f} {f'[{r.ST_ci_low:.3f}, {r.ST_ci_high:.3f}]':>18}")
    from cloudmarket.experiments.sampling import sobol_warnings

    for warning in sobol_warnings(table, samples=results.manifest["spec"]["canonical"].get("samples")):
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from cloudmarket.experiments.analysis import VENDOR_COLUMNS, load_results
    from cloudmarket.experiments.outputs import check_output
    from cloudmarket.experiments.plots import plot_vendor_share
    from cloudmarket.experiments.store import atomic_write

    out = check_output("--out", args.out, ".png")
    if args.column not in VENDOR_COLUMNS:
        raise UsageError(f"--column = {args.column!r}: must be one of {', '.join(VENDOR_COLUMNS)}")
    fig = plot_vendor_share(load_results(args.dir), args.vendor, args.column)
    atomic_write(out, lambda p: fig.savefig(p, dpi=110, format="png"))
    print(f"wrote {out}")
    return 0


def cmd_viz(args: argparse.Namespace) -> int:
    import importlib.util

    from cloudmarket.experiments.serve import check_host, check_port, is_loopback, url

    try:
        port = int(args.port)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise UsageError(f"--port = {args.port!r}: must be a whole number in [1, 65535]")
    check_host(args.host)
    if importlib.util.find_spec("solara") is None:
        raise UsageError("solara is not installed: pip install 'cloudmarket[viz]' (make test does it)")
    if not is_loopback(args.host):
        print(f"warning: --host = {args.host!r} is not a loopback address: every machine that can reach this one "
              "can open the page and make it run models; use 127.0.0.1 unless that is what you want",
              file=sys.stderr, flush=True)
    check_port(args.host, port)  # before saying "serving on"
    env = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}
    # the page is a module of the package, so an installed wheel serves it as a checkout does
    cmd = [sys.executable, "-m", "solara", "run", "cloudmarket.app", "--host", args.host, "--port", str(port),
           "--no-open", "--no-check-version", "--production"]  # production: no file watchers
    print(f"serving on {url(args.host, port)}  (Ctrl-C to stop)", flush=True)
    # exec, not a child process: the server keeps this PID, so stopping it by PID works
    os.execve(sys.executable, cmd, env)


if __name__ == "__main__":
    sys.exit(main())
