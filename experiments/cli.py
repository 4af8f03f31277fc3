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

from cloudmarket.model.version import __version__  # noqa: E402
from cloudmarket.model.params import (SCHEMA, ParameterError, check_name, describe, parse_assignment,  # noqa: E402
                                      resolve)

EXIT_USAGE = 2
EXIT_FAILED_RUNS = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
BACKEND_NAMES = ("serial", "local", "dask")


class UsageError(Exception):
    """Bad command-line input: reported on stderr with exit status 2."""


def _metric_help() -> str:
    from cloudmarket.experiments.analysis import METRIC_HELP

    return METRIC_HELP


def _command(sub, name: str, summary: str, description: str) -> argparse.ArgumentParser:
    """A subcommand with a one-line summary (in `cloudmarket --help`) and a description (in its own --help)."""
    # argparse %-formats help strings but prints descriptions as they are
    text = f"{summary[0].upper()}{summary[1:]}. {description}".replace("%%", "%")
    return sub.add_parser(name, help=summary, description=text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cloudmarket", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"cloudmarket {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = _command(sub, "run", "run one market and print its shares, HHI and churn",
                   "Every parameter of `cloudmarket params` can be set; bad values exit with status 2 "
                   "and write nothing.")
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

    params = _command(sub, "params", "list every parameter: type, default, range, meaning",
                      "The one schema (model/params.py) that runs, specs and the browser page all check against.")
    params.add_argument("--group", choices=sorted({p.group for p in SCHEMA.values()}),
                        help="only the parameters of this group")
    params.set_defaults(handler=cmd_params)

    viz = _command(sub, "viz", "serve the SolaraViz page (cloudmarket.app) on 127.0.0.1",
                   "Watch one market in the browser, with the policy levers as controls. The page's front-end "
                   "files come from a seeded copy when there is one (works offline), else from Solara's CDN "
                   "(needs internet); `cloudmarket viz --seed-assets` seeds them once, from the npm registry.")
    viz.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    viz.add_argument("--port", default="8765", help="port to listen on (default 8765)")
    viz.add_argument("--cdn", action="store_true",
                     help="serve from Solara's CDN even when it does not answer now (the page needs it to load)")
    viz.add_argument("--seed-assets", dest="seed_assets", action="store_true",
                     help="download Solara's front-end files from the npm registry into this environment, "
                          "so the page works offline; then exit")
    viz.set_defaults(handler=cmd_viz)

    _add_experiment_commands(sub)
    return parser


def _add_experiment_commands(sub) -> None:
    """The experiment subcommands: sweep, status, summary, compare, sensitivity."""
    sweep = _command(sub, "sweep", "run an experiment spec (TOML) into a Parquet store; resumes and extends",
                     "Re-running the same command runs only what is missing or failed; more replications or "
                     "samples extend the store. A bad spec exits with status 2 and leaves the store untouched.")
    sweep.add_argument("spec", metavar="SPEC", help="experiment spec: a TOML file, or the name of a shipped one (quick, sanctions, sensitivity)")
    sweep.add_argument("--out", required=True, metavar="DIR", help="store directory (created; re-use it to resume)")
    sweep.add_argument("--backend", choices=BACKEND_NAMES, help="serial | local (process pool, default) | dask")
    sweep.add_argument("--workers", metavar="N", help="worker processes (default: all cores)")
    sweep.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="Dask scheduler address (implies --backend dask)")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.set_defaults(handler=cmd_sweep)

    status = _command(sub, "status", "runs done / failed / pending in a store",
                      "Also the design, and when the last sweep started and whether it finished.")
    status.add_argument("dir", metavar="DIR", help="experiment store (the --out of a sweep)")
    status.set_defaults(handler=cmd_status)

    summary = _command(sub, "summary", "per design point: mean final shares with 95%% CI",
                       "One line per design point, one cell per vendor: the mean over replications and a "
                       "Student-t 95%% interval, kept within [0, 1] for shares. Points with fewer than 3 runs "
                       "show the mean only, flagged (n<3). " + _metric_help())
    summary.add_argument("dir", metavar="DIR", help="experiment store (the --out of a sweep)")
    summary.add_argument("--column", default="spend_share", metavar="VENDOR_COLUMN",
                         help="vendor column to summarise, as in a metric COLUMN:VENDOR (default spend_share)")
    summary.set_defaults(handler=cmd_summary)

    compare = _command(sub, "compare", "paired differences vs a baseline value, bootstrap 95%% CI",
                       "Runs are paired when they share the replication (so the seed) and every other swept "
                       "parameter. " + _metric_help())
    compare.add_argument("dir", metavar="DIR", help="experiment store (a grid design)")
    compare.add_argument("--metric", default="spend_share:huawei", metavar="METRIC",
                         help="what to compare (default spend_share:huawei); see above")
    compare.add_argument("--by", required=True, help="swept parameter whose values are compared")
    compare.add_argument("--baseline", help="value of --by to compare against (default: its first value)")
    compare.set_defaults(handler=cmd_compare)

    sensitivity = _command(sub, "sensitivity", "Sobol' indices (first, total) with 95%% CI",
                           "Needs a store with design = \"sobol\". Warns below 64 base samples and when the "
                           "indices cannot be right (S1 > ST, intervals beyond [0, 1]). " + _metric_help())
    sensitivity.add_argument("dir", metavar="DIR", help="experiment store (a Sobol' design)")
    sensitivity.add_argument("--metric", default="spend_share:huawei", metavar="METRIC",
                             help="output to analyse (default spend_share:huawei); see above")
    sensitivity.set_defaults(handler=cmd_sensitivity)

    calibrate = _command(sub, "calibrate", "fit behavioural parameters to observed shares and check the fit",
                         "Pattern-oriented ABC-SMC (experiments/calibration.py): shares, share changes, the HHI "
                         "band and churn fitted at once; the fitted ensemble run over the full horizon; "
                         "rolling-origin scores against frozen and trend forecasts.")
    calibrate.add_argument("spec", metavar="SPEC",
                           help="calibration spec: a TOML file, or a shipped name (calibrate_china, calibrate_global)")
    calibrate.add_argument("--out", required=True, metavar="DIR",
                           help="output directory: fitted.toml, fit.json, fit_by_period.csv, points.csv, calibration.png")
    calibrate.add_argument("--holdout", metavar="K", help="keep the last K observed periods out of the main fit")
    calibrate.add_argument("--backend", choices=("serial", "local"), help="where runs go (default local: all cores)")
    calibrate.add_argument("--workers", metavar="N", help="worker processes (default: all cores)")
    calibrate.add_argument("--quiet", action="store_true", help="no progress lines")
    calibrate.set_defaults(handler=cmd_calibrate, scheduler=None)

    plot = _command(sub, "plot", "draw a vendor's share over time at every design point (PNG)",
                    "A grid store gets one colour per value of the first swept parameter and one line style "
                    "per value of the second; an LHS or Sobol' store gets the final value over the parameter "
                    "space and partial-dependence lines. The metric is COLUMN:VENDOR, from --vendor and "
                    "--column (or --metric). " + _metric_help())
    plot.add_argument("dir", metavar="DIR", help="experiment store (the --out of a sweep)")
    plot.add_argument("--vendor", default="huawei", help="vendor to draw (default huawei)")
    plot.add_argument("--column", default="spend_share", metavar="VENDOR_COLUMN",
                      help="vendor column (default spend_share = share of spend; share = share of customers)")
    plot.add_argument("--metric", metavar="COLUMN:VENDOR", help="the same as --column COLUMN --vendor VENDOR")
    plot.add_argument("--out", required=True, metavar="FILE.png", help="where to write the chart")
    plot.set_defaults(handler=cmd_plot)

    discover = _command(sub, "discover", "scenario discovery: which parameter ranges give an outcome (PRIM or CART)",
                        "A run is a case of interest when METRIC is below (or above) the threshold. EMA "
                        "Workbench's PRIM or CART finds boxes of the swept parameters holding those runs; "
                        "it prints each box (coverage, density, the limits of each restricted parameter) and "
                        "the feature scores of every varied parameter, and writes the trade-off curve and box "
                        "plots (PNG) with boxes.csv and feature_scores.csv under --out. Best on an LHS store. "
                        + _metric_help())
    discover.add_argument("dir", metavar="DIR", help="experiment store (an LHS, Sobol' or grid design)")
    discover.add_argument("--metric", required=True, metavar="METRIC", help="outcome, e.g. spend_share:huawei or hhi")
    bound = discover.add_mutually_exclusive_group(required=True)
    bound.add_argument("--below", metavar="X", help="cases of interest: METRIC < X (shares are fractions: 0.05 = 5%%)")
    bound.add_argument("--above", metavar="X", help="cases of interest: METRIC > X")
    discover.add_argument("--step", metavar="N", help="take METRIC at step N instead of the final step")
    discover.add_argument("--method", default="prim", choices=("prim", "cart"), help="rule induction (default prim)")
    discover.add_argument("--min-density", dest="min_density", default="0.8", metavar="D",
                          help="the box reported from PRIM's trade-off is the one with most coverage among those "
                               "with density >= D (default 0.8)")
    discover.add_argument("--out", metavar="DIR", help="write PNGs and CSVs here (default DIR/discover)")
    discover.set_defaults(handler=cmd_discover)

    export = _command(sub, "export", "write a store as tidy CSV files joined with every run's parameters",
                      "runs.csv (one row per run, every parameter), market.csv (run x step) and vendors.csv "
                      "(run x step x vendor), each row with its run's parameters; lists as a;b.")
    export.add_argument("dir", metavar="DIR", help="experiment store (the --out of a sweep)")
    export.add_argument("--csv", required=True, metavar="OUT_DIR", help="folder for the CSV files (created)")
    export.set_defaults(handler=cmd_export)


def main(argv: list[str] | None = None) -> int:
    from cloudmarket.experiments.analysis import AnalysisError
    from cloudmarket.experiments.spec import SpecError
    from cloudmarket.experiments.store import StoreError

    from cloudmarket.experiments.outputs import OutputError
    from cloudmarket.experiments.frontend import FrontendError
    from cloudmarket.experiments.serve import AddressError
    from cloudmarket.experiments.store import os_error_text

    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (ParameterError, UsageError, SpecError, StoreError, AnalysisError, OutputError, AddressError,
            FrontendError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C: one line, the shell's 128 + SIGINT, outputs as they were
        return _interrupted()
    except BrokenPipeError:  # before OSError, which it is a kind of
        return _reader_left()
    except OSError as err:  # a place that cannot be read or written (full disk, read-only folder)
        print(f"error: {os_error_text(err)}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as err:
        duckdb = sys.modules.get("duckdb")
        if duckdb is not None and isinstance(err, duckdb.InterruptException):  # Ctrl-C inside a DuckDB query
            return _interrupted()
        raise


def _interrupted() -> int:
    print("\ninterrupted (Ctrl-C): nothing more was written; files from before are as they were", file=sys.stderr)
    return EXIT_INTERRUPTED


EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what `yes | head` reports


def _reader_left() -> int:
    """The reader of our output (e.g. `| head`) closed the pipe: stop quietly, as Unix tools do."""
    # Point stdout at /dev/null so that flushing it at exit does not raise again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


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


def refuse_inert_push(push: Any, vendor_options: list[list[str]], fix: str) -> None:
    """Refuse a cloud push that no vendor receives: cloud_push > 0 while cloud_push_vendors is always empty.

    ``push`` is the value (or the largest swept value); ``vendor_options`` every value
    cloud_push_vendors takes. The run would go ahead as if the lever were 0, silently.

    >>> refuse_inert_push(0.5, [[]], "x")
    Traceback (most recent call last):
    ...
    cloudmarket.experiments.cli.UsageError: cloud_push = 0.5: no vendor receives the push, as cloud_push_vendors is empty; set it (x), or leave cloud_push at 0
    >>> refuse_inert_push(0.5, [[], ["huawei"]], "x")
    """
    if push and push > 0 and not any(vendor_options):
        raise UsageError(f"cloud_push = {push!r}: no vendor receives the push, as cloud_push_vendors is empty; "
                         f"set it ({fix}), or leave cloud_push at 0")


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
    refuse_inert_push(params["cloud_push"], [params["cloud_push_vendors"]], "--set 'cloud_push_vendors=[\"huawei\"]'")
    seed = parse_seed(args.seed)
    # Every output is checked before the run, and all are published together after it:
    # a failure leaves every file that existed as it was (experiments/outputs.py).
    out = check_output("--out", args.out, ".parquet")
    market_out = check_output("--out", str(market_path(out)), ".parquet") if out is not None else None
    plot = check_output("--plot", args.plot, ".png")
    check_memory([params])

    from cloudmarket.experiments.run_progress import run_progress
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
    if "switch_rate" in market and len(market) > 1:  # tables written before the workload model have none
        later = market.iloc[1:]
        lines.append(f"customers switching all their spend: {400 * later.switch_rate.mean():.2f}% a year; "
                     f"installed spend migrating: {400 * later.migration_rate.mean():.2f}% a year; "
                     f"multi-homing {100 * m1.multihoming:.0f}% of customers")
    return "\n".join(lines)


# ---------------------------------------------------------------------- experiments
def cmd_sweep(args: argparse.Namespace) -> int:
    """Validate the spec, then run what is missing; exit 1 if any run failed."""
    from cloudmarket.experiments.runner import sweep
    from cloudmarket.experiments.spec import load_spec

    backend, workers = backend_options(args)
    spec = load_spec(args.spec)
    push = (spec.values.get("cloud_push") or (spec.ranges["cloud_push"][1:] if "cloud_push" in spec.ranges else None)
            or [spec.fixed.get("cloud_push", 0.0)])
    refuse_inert_push(max(push), spec.values.get("cloud_push_vendors") or [spec.fixed.get("cloud_push_vendors", [])],
                      f"cloud_push_vendors = [\"huawei\"] under [parameters] of {spec.source}")
    try:
        report = sweep(spec, args.out, backend=backend, workers=workers, scheduler=args.scheduler, quiet=args.quiet)
    except KeyboardInterrupt:
        print("\ninterrupted: finished runs are stored; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    pending = report.total - report.done - report.failed
    for note in report.notes():  # what the sweep repaired, naming the cause
        print(note, file=sys.stderr)
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
    """Run experiments.calibration.calibrate and print its report; exit 1 if any run failed."""
    from cloudmarket.experiments.calibration import OUTPUT_FILES, calibrate, load_calibration, report_text
    from cloudmarket.experiments.outputs import check_folder

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
    check_folder("--out", args.out, OUTPUT_FILES)  # calibrate checks it too; here before the pool starts
    report = calibrate(cspec, args.out, backend=backend, workers=workers, quiet=args.quiet)
    print(report_text(report))
    print("wrote " + ", ".join(str(f) for f in report.files))
    if report.failed_runs:
        print(f"{report.failed_runs} runs failed and were never accepted; see fit.json", file=sys.stderr)
        return EXIT_FAILED_RUNS
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Counts of done / failed / pending runs, after checking every done run's rows (exit 1 if damaged)."""
    from cloudmarket.experiments.status import status_report

    text, code = status_report(args.dir)
    print(text)
    return code


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
    from cloudmarket.experiments.analysis import MIN_CI_RUNS

    lines = [f"final {column}{' (%)' if percent else ''}: mean [95% CI] over replications"]
    few = False
    head = [*swept, "runs", *vendors]
    rows = []
    for _, point in table.groupby("point", sort=True):
        first = point.iloc[0]
        cells = [_fmt_value(first[k]) for k in swept] + [str(int(first.runs))]
        by_vendor = point.set_index("vendor")
        for v in vendors:
            r = by_vendor.loc[v]
            if r.runs < MIN_CI_RUNS:
                few = True
                cells.append(f"{scale * r['mean']:.1f} (n<{MIN_CI_RUNS})")
            else:
                cells.append(f"{scale * r['mean']:.1f} [{scale * r.ci_low:.1f}, {scale * r.ci_high:.1f}]"
                             if r.ci_low == r.ci_low else f"{scale * r['mean']:.1f}")
        rows.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    lines.append("  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    if few:
        lines.append(f"(n<{MIN_CI_RUNS}): fewer than {MIN_CI_RUNS} runs at this point, too few for an interval; "
                     "the mean alone is shown. Add replications to get one.")
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
        if SCHEMA[args.by].kind == "list":
            # a store names list values as text, "UK,EU" and "(none)" for []: --baseline '["UK","EU"]',
            # UK,EU, [] and (none) all name theirs
            baseline = ",".join(v for v in baseline if v != "(none)") or "(none)"
    table = paired_differences(results, metric, args.by, baseline=baseline)
    scale = 100.0 if metric.column in ("share", "spend_share", "iaas_investment_share") else 1.0
    unit = " (percentage points)" if scale == 100.0 else ""
    base = table.baseline.iloc[0]
    print(f"{metric} at the final step: paired difference vs {args.by} = {_fmt_value(base)}{unit}, "
          f"bootstrap 95% CI; pairs share replication seed and other swept parameters")
    print(f"{args.by:>24} {'pairs':>6} {'mean':>10} {'baseline':>10} {'difference':>11} {'95% CI':>22}")
    from cloudmarket.experiments.analysis import MIN_CI_RUNS

    few = False
    for _, r in table.iterrows():
        if r.pairs < MIN_CI_RUNS:
            few, ci = True, f"(n<{MIN_CI_RUNS})"
        else:
            ci = "[" + format(scale * r.ci_low, "+.3f") + ", " + format(scale * r.ci_high, "+.3f") + "]"
        print(f"{_fmt_value(r[args.by]):>24} {int(r.pairs):>6} {scale * r['mean']:>10.3f} "
              f"{scale * r.mean_baseline:>10.3f} {scale * r.difference:>+11.3f} {ci:>22}")
    if few:
        print(f"(n<{MIN_CI_RUNS}): fewer than {MIN_CI_RUNS} pairs, too few for an interval; add replications")
    return 0


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from cloudmarket.experiments.analysis import load_results, parse_metric, sobol_indices

    import warnings

    metric = parse_metric(args.metric)
    results = load_results(args.dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the same messages are printed below, once, in plain words
        table = sobol_indices(results, metric)
    print(f"Sobol' indices of {metric} at the final step (mean over replications), 95% CI")
    print(f"{'parameter':>26} {'first (S1)':>10} {'95% CI':>18} {'total (ST)':>10} {'95% CI':>18}")
    for _, r in table.iterrows():
        print(f"{r.parameter:>26} {r.S1:>10.3f} {f'[{r.S1_ci_low:.3f}, {r.S1_ci_high:.3f}]':>18} "
              f"{r.ST:>10.3f} {f'[{r.ST_ci_low:.3f}, {r.ST_ci_high:.3f}]':>18}")
    for message in table.attrs.get("warnings", []):
        print(f"warning: {message}", file=sys.stderr)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from cloudmarket.experiments.analysis import VENDOR_COLUMNS, load_results, parse_metric
    from cloudmarket.experiments.outputs import check_output, publish
    from cloudmarket.experiments.plots import plot_vendor_share

    out = check_output("--out", args.out, ".png")
    column, vendor = args.column, args.vendor
    if args.metric is not None:
        metric = parse_metric(args.metric)
        if metric.vendor is None:
            raise UsageError(f"--metric = {args.metric!r}: plot draws a vendor column, COLUMN:VENDOR "
                             "(e.g. spend_share:huawei)")
        column, vendor = metric.column, metric.vendor
    if column not in VENDOR_COLUMNS:
        raise UsageError(f"--column = {column!r}: must be one of {', '.join(VENDOR_COLUMNS)}")
    fig = plot_vendor_share(load_results(args.dir), vendor, column)
    # the PNG describes itself: its alt text goes into the file's Description
    publish([(out, lambda p: fig.savefig(p, dpi=110, format="png", metadata={"Description": fig.alt_text}))])
    print(f"wrote {out}")
    return 0


def cmd_viz(args: argparse.Namespace) -> int:
    import importlib.util

    from cloudmarket.experiments.serve import check_host, check_local_address, check_port, is_loopback, url

    if importlib.util.find_spec("solara") is None:
        raise UsageError("solara is not installed: pip install 'cloudmarket[viz]' (make test does it)")
    from cloudmarket.experiments import frontend

    if args.seed_assets:
        seeded = frontend.seed()
        print(f"Solara's front-end files are in {frontend.cache_dir()} ({len(seeded)} packages downloaded now): "
              "`cloudmarket viz` serves them offline")
        return 0
    try:
        port = int(args.port)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise UsageError(f"--port = {args.port!r}: must be a whole number in [1, 65535]")
    check_host(args.host)
    check_local_address(args.host)
    if not is_loopback(args.host):
        print(f"warning: --host = {args.host!r} is not a loopback address: every machine that can reach this one "
              "can open the page and make it run models; use 127.0.0.1 unless that is what you want",
              file=sys.stderr, flush=True)
    check_port(args.host, port)  # before saying "serving on"
    source = frontend_source(frontend, args.cdn)
    env = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}
    # the page is a module of the package, so an installed wheel serves it as a checkout does
    cmd = [sys.executable, "-m", "solara", "run", "cloudmarket.app", "--host", args.host, "--port", str(port),
           "--no-open", "--no-check-version", "--production"]  # production: no file watchers
    print(f"front end: {source}", flush=True)
    print(f"serving on {url(args.host, port)}  (Ctrl-C to stop)", flush=True)
    # exec, not a child process: the server keeps this PID, so stopping it by PID works
    os.execve(sys.executable, cmd, env)


def frontend_source(frontend, force_cdn: bool) -> str:
    """Which front-end files the page will use, in words; UsageError when neither can work."""
    missing = frontend.missing_packages()
    if not missing:
        return f"the seeded copy in {frontend.cache_dir()} (works offline)"
    cdn = frontend.cdn_url()
    if force_cdn or frontend.cdn_reachable(cdn):
        return (f"Solara's CDN ({cdn}), fetched as the page asks (needs internet; `cloudmarket viz --seed-assets` "
                "once makes the page work offline)")
    raise UsageError(f"Solara's front-end files are not seeded ({', '.join(missing)} not in {frontend.cache_dir()}) "
                     f"and Solara's CDN ({cdn}) cannot be reached: the page would stay blank. Seed them once with "
                     "`cloudmarket viz --seed-assets` (needs only the npm registry), or pass --cdn to serve anyway")


def missing_frontend_files() -> tuple[str, list[str]] | None:
    """(cache folder, missing packages) when Solara's front end is not seeded; None when it is."""
    from cloudmarket.experiments import frontend

    missing = frontend.missing_packages()
    return (str(frontend.cache_dir()), missing) if missing else None


# ---------------------------------------------------------------------- discovery and export
def cmd_discover(args: argparse.Namespace) -> int:
    """Scenario discovery on a store (experiments/discover.py); PNGs and CSVs under --out."""
    from cloudmarket.experiments.analysis import load_results, parse_metric
    from cloudmarket.experiments.discover import discover, output_names, write_outputs
    from cloudmarket.experiments.outputs import check_folder

    metric = parse_metric(args.metric)
    below = _number("--below", args.below)
    above = _number("--above", args.above)
    step = None
    if args.step is not None:
        try:
            step = int(args.step)
        except ValueError:
            step = -1
        if step < 0:
            raise UsageError(f"--step = {args.step!r}: must be a whole number >= 0")
    min_density = _number("--min-density", args.min_density)
    if not 0.0 < min_density <= 1.0:
        raise UsageError(f"--min-density = {args.min_density!r}: must be a number in (0, 1]")
    # the output folder is checked before the analysis, and named as the user gave it
    out = check_folder("--out", args.out if args.out is not None else str(Path(args.dir) / "discover"),
                       output_names())
    results = load_results(args.dir)
    found = discover(results, metric, below=below, above=above, step=step, method=args.method,
                     min_density=min_density)
    print(found.report())
    files = write_outputs(found, out, title=results.manifest["name"])
    print("wrote " + ", ".join(str(f) for f in files))
    return 0


def _number(flag: str, raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"{flag} = {raw!r}: must be a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise UsageError(f"{flag} = {raw!r}: must be a finite number")
    return value


def cmd_export(args: argparse.Namespace) -> int:
    """Tidy CSVs of a store (experiments/export.py)."""
    from cloudmarket.experiments.analysis import load_results
    from cloudmarket.experiments.export import OUTPUT_FILES, export_csv
    from cloudmarket.experiments.outputs import check_folder

    check_folder("--csv", args.csv, OUTPUT_FILES)  # before reading the store: `--csv ""` is refused here
    results = load_results(args.dir)
    for path in export_csv(results, args.csv):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
