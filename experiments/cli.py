"""The `cloudmarket` command: run one market, list parameters, serve the browser page.

Every subcommand validates its input before writing anything; a bad value prints
``error: NAME = VALUE: what is allowed`` and exits with status 2.

Example
-------
    cloudmarket params
    cloudmarket run --scenario china-2020 --steps 22 --seed 7 \\
        --set export_control_severity=0.6 --out runs/one.parquet --plot runs/one.png
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

from model.params import SCHEMA, ParameterError, describe, parse_assignment, resolve

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad command-line input: reported on stderr with exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cloudmarket", description=__doc__.split("\n\n")[0])
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

    viz = sub.add_parser("viz", help="serve the SolaraViz page (app.py) on 127.0.0.1")
    viz.add_argument("--host", default="127.0.0.1")
    viz.add_argument("--port", default="8765")
    viz.set_defaults(handler=cmd_viz)

    _add_experiment_commands(sub)
    return parser


def _add_experiment_commands(sub) -> None:
    """Hook for the experiment subcommands (sweep, status, summary, ...)."""


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (ParameterError, UsageError) as err:
        print(f"error: {err}", file=sys.stderr)
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
    """Parameters from a TOML file: top-level NAME = VALUE, or a [parameters] table."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise UsageError(f"--params = {path!r}: no such file") from None
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"--params = {path!r}: not valid TOML ({err})") from None
    return dict(data.get("parameters", data))


def parse_seed(raw: str) -> int:
    try:
        seed = int(raw)
    except ValueError:
        raise ParameterError("seed", raw, "must be a whole number >= 0") from None
    if seed < 0:
        raise ParameterError("seed", seed, "must be a whole number >= 0")
    return seed


def _check_suffix(flag: str, path: str | None, suffix: str) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if p.suffix != suffix:
        raise UsageError(f"{flag} = {path!r}: must end in {suffix}")
    if p.exists() and p.is_dir():
        raise UsageError(f"{flag} = {path!r}: is a directory")
    return p


def market_path(out: Path) -> Path:
    """Where `run --out X.parquet` puts the market series: X.market.parquet."""
    return out.with_name(out.stem + ".market.parquet")


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename into place, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------- commands
def cmd_params(args: argparse.Namespace) -> int:
    rows = [r for r in describe() if args.group in (None, r["group"])]
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in ("name", "type", "default", "range")}
    print("  ".join(k.ljust(widths[k]) for k in widths) + "  meaning")
    for r in rows:
        print("  ".join(str(r[k]).ljust(widths[k]) for k in widths) + f"  {r['doc']}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    params = collect_params(args)
    seed = parse_seed(args.seed)
    out = _check_suffix("--out", args.out, ".parquet")
    plot = _check_suffix("--plot", args.plot, ".png")

    from model.charts import plot_shares
    from model.run import simulate

    result = simulate(params, seed=seed)
    vendors, market = result.vendors, result.market
    print(summary_table(vendors, market, params, seed))
    if out is not None:
        atomic_write(out, lambda p: vendors.to_parquet(p, index=False))
        atomic_write(market_path(out), lambda p: market.to_parquet(p, index=False))
        print(f"wrote {out} and {market_path(out)}")
    if plot is not None:
        fig = plot_shares(vendors, market, title=f"{params['scenario']}, seed {seed}: share of spend")
        atomic_write(plot, lambda p: fig.savefig(p, dpi=110, format="png"))
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


def cmd_viz(args: argparse.Namespace) -> int:
    import shutil
    import subprocess

    port = parse_assignment(f"port={args.port}")[1]
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise UsageError(f"--port = {args.port!r}: must be a whole number in [1, 65535]")
    app = Path(__file__).resolve().parent.parent / "app.py"
    if not app.exists():
        raise UsageError(f"app.py not found at {app}; run from a source checkout")
    solara = shutil.which("solara", path=str(Path(sys.executable).parent)) or "solara"
    env = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}
    cmd = [solara, "run", str(app), "--host", args.host, "--port", str(port), "--no-open", "--no-check-version"]
    print(f"serving on http://{args.host}:{port}/  (Ctrl-C to stop)")
    return subprocess.call(cmd, env=env)


if __name__ == "__main__":
    sys.exit(main())
