"""Read an experiment store and answer the questions a batch is run for.

``load_results(DIR)`` gives the run, market and vendor tables as DataFrames and runs SQL
over them through DuckDB (views ``runs``, ``market``, ``vendors``; the last two hold only
runs recorded as done). On top of that: a summary per design point (mean final shares
with 95% confidence intervals), paired differences against a baseline with bootstrap
confidence intervals (common random numbers make the pairs), and Sobol' indices.

A metric names one number per run, taken at the run's final step: ``COLUMN:VENDOR`` for a
vendor column (``share:huawei``, ``spend_share:alibaba``, ``profit:tencent``) or
``COLUMN`` for a market column (``hhi``, ``cr3``, ``churn``).

Example
-------
    from cloudmarket.experiments import load_results
    r = load_results("results/quick")
    r.runs.head()
    r.sql("SELECT vendor, avg(spend_share) FROM vendors WHERE step = 22 GROUP BY vendor")
    summarise(r)                                   # one row per design point x vendor
    paired_differences(r, "share:huawei", by="export_control_severity")
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cloudmarket.experiments.store import LAYOUT_COLUMNS, MANIFEST, Store, StoreError, runs_table

from cloudmarket.model.market import MARKET_REPORTS, VENDOR_NUMBERS

# The metric vocabulary of every command comes from the model's own tables, so a column the
# model adds is a metric at once; a store made by another version is checked against its files.
MARKET_COLUMNS = tuple(MARKET_REPORTS)
VENDOR_COLUMNS = tuple(VENDOR_NUMBERS)
SHARE_COLUMNS = ("share", "spend_share", "iaas_investment_share")  # fractions in [0, 1]
DEFAULT_METRIC = "spend_share:huawei"
MIN_CI_RUNS = 3  # fewer runs than this: a mean is shown, flagged, and no interval
METRIC_HELP = ("METRIC is VENDOR_COLUMN:VENDOR or MARKET_COLUMN, taken at the final step. Vendor columns: "
               + ", ".join(VENDOR_COLUMNS) + " (spend_share = share of spend, share = share of customers). "
               "Market columns: " + ", ".join(MARKET_COLUMNS) + ". Examples: spend_share:huawei, hhi.")


class AnalysisError(ValueError):
    """A question the store cannot answer (unknown metric, no pairs, design mismatch)."""


@dataclass(frozen=True)
class Metric:
    """One number per run at its final step: a market column, or a vendor's column."""

    column: str
    vendor: str | None = None

    @property
    def table(self) -> str:
        return "market" if self.vendor is None else "vendors"

    def __str__(self) -> str:
        return self.column if self.vendor is None else f"{self.column}:{self.vendor}"

    @property
    def is_share(self) -> bool:
        """True for a vendor share (a fraction in [0, 1]): intervals are kept within it."""
        return self.vendor is not None and self.column in SHARE_COLUMNS

    def describe(self) -> str:
        """Words for titles and tables: ``huawei share of spend``, ``hhi``.

        >>> parse_metric("spend_share:huawei").describe(), parse_metric("share:aws").describe()
        ('huawei share of spend', 'aws share of customers')
        """
        words = {"spend_share": "share of spend", "share": "share of customers"}
        if self.vendor is None:
            return self.column
        return f"{self.vendor} {words.get(self.column, self.column.replace('_', ' '))}"


def parse_metric(text: str) -> Metric:
    """Parse ``COLUMN:VENDOR`` or ``COLUMN``.

    >>> parse_metric("share:huawei"), parse_metric("hhi")
    (Metric(column='share', vendor='huawei'), Metric(column='hhi', vendor=None))
    """
    column, _, vendor = text.partition(":")
    if vendor:
        if column not in VENDOR_COLUMNS:
            raise AnalysisError(f"--metric = {text!r}: vendor column must be one of {', '.join(VENDOR_COLUMNS)}")
        return Metric(column, vendor)
    if column not in MARKET_COLUMNS:
        raise AnalysisError(f"--metric = {text!r}: give a market column ({', '.join(MARKET_COLUMNS)}) "
                            f"or VENDOR_COLUMN:VENDOR, e.g. spend_share:huawei")
    return Metric(column)


class Results:
    """The tables of one store. DataFrames load on first use; ``sql`` reads the files directly.

    Only the part files that done runs name are read, listed file by file (a part left by
    a kill or copied in by hand is no result; a store path may hold glob characters). A
    store with no part files yet has empty tables with the model's columns.
    """

    def __init__(self, root: str | Path, checked: bool = False):
        self.root = Path(root)
        self._store = Store(self.root)
        self.manifest = self._store.read_manifest()
        self._checked = checked  # load_results has checked every part already

    @property
    def swept(self) -> list[str]:
        """Names of the swept parameters."""
        return list(self.manifest["design"]["swept"])

    @cached_property
    def _rows(self) -> list[dict[str, Any]]:
        rows = self._store.read_run_rows()
        if not self._checked:
            self._store.refuse_damage(self._store.check(rows))
        self._store.refuse_mislabelled(rows, self.manifest)
        return rows

    def part_files(self, table: str) -> list[Path]:
        """The part files of ``table`` ("market" or "vendors") that hold done runs: what is read."""
        return self._store.done_parts(table, self._rows)

    @cached_property
    def _db(self):
        import duckdb
        import pyarrow.dataset as ds

        con = duckdb.connect()
        # The run table comes through Store (runs.parquet plus the journal of a sweep that
        # is running or was killed); the big tables are read from their files.
        con.register("runs_arrow", self._runs_arrow)
        con.execute("CREATE VIEW runs AS SELECT * FROM runs_arrow")
        for table in ("market", "vendors"):
            files = self.part_files(table)
            if files:
                # An Arrow dataset over the literal list of files: DuckDB's read_parquet would
                # expand `*`, `?` or `[` in a store's path as a glob, reading another store.
                con.register(f"{table}_parts", ds.dataset([str(f) for f in files], format="parquet",
                                                          schema=self._schema(table, files)))
                con.execute(f"CREATE VIEW {table} AS SELECT * FROM {table}_parts "
                            f"WHERE run_id IN (SELECT run_id FROM runs WHERE status = 'done')")
            else:
                con.execute(f"CREATE VIEW {table} AS SELECT * FROM ({empty_table_sql(table)}) WHERE false")
        return con

    def _schema(self, table: str, files: list[Path]):
        """The columns of all of ``table``'s parts (an Arrow dataset would take the first file's alone)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return pa.unify_schemas([pq.read_schema(f) for f in files])
        except (pa.ArrowException, OSError) as err:
            raise StoreError(f"{self.root / table}: its part files do not share their columns' types ({err}); "
                             "run the experiment into a new --out directory") from None

    def sql(self, query: str) -> pd.DataFrame:
        """Run a DuckDB query over the views ``runs``, ``market`` and ``vendors``."""
        return self._db.execute(query).df()

    @cached_property
    def _runs_arrow(self):
        table = runs_table(self._rows, self.swept)
        return table.drop_columns([c for c in LAYOUT_COLUMNS if c in table.column_names])

    @cached_property
    def runs(self) -> pd.DataFrame:
        """One row per run: run_id, swept parameters, point, replication, seed, status, error, wall_s."""
        return self._runs_arrow.to_pandas()

    @cached_property
    def market(self) -> pd.DataFrame:
        """Market rows of the done runs: run_id, step, period, hhi, cr3, churn, ..."""
        return self.sql("SELECT * FROM market ORDER BY run_id, step")

    @cached_property
    def vendors(self) -> pd.DataFrame:
        """Vendor rows of the done runs: run_id, step, period, vendor, share, spend_share, ..."""
        return self.sql("SELECT * FROM vendors ORDER BY run_id, step, vendor")

    def final(self, metric: Metric | str, step: int | None = None) -> pd.DataFrame:
        """One row per done run: run_id, swept parameters, point, replication, value at the last step.

        ``step`` takes the value at that step instead (it must be a collected step).
        """
        metric = parse_metric(metric) if isinstance(metric, str) else metric
        self._check_column(metric)
        where = "" if metric.vendor is None else f"AND t.vendor = {_quote(metric.vendor)}"
        if step is None:
            last = f"(SELECT run_id, max(step) AS last FROM {metric.table} GROUP BY run_id)"
        else:
            steps = self.sql(f"SELECT DISTINCT step FROM {metric.table} ORDER BY step").step.tolist()
            if int(step) not in steps:
                shown = f"{steps[0]}..{steps[-1]}" if len(steps) > 5 else ", ".join(map(str, steps)) or "none"
                raise AnalysisError(f"--step = {step!r}: not a collected step of this store; steps: {shown}")
            last = f"(SELECT DISTINCT run_id, {int(step)} AS last FROM {metric.table})"
        values = self.sql(
            f"SELECT t.run_id, t.{metric.column} AS value FROM {metric.table} t "
            f"JOIN {last} l ON t.run_id = l.run_id AND t.step = l.last {where}")
        done = self.runs[self.runs.status == "done"]
        if metric.vendor is not None and len(done) and values.empty:
            known = self.sql("SELECT DISTINCT vendor FROM vendors ORDER BY vendor").vendor.tolist()
            raise AnalysisError(f"--metric = {str(metric)!r}: no vendor {metric.vendor!r}; vendors: {', '.join(known)}")
        return done.merge(values, on="run_id", how="inner")

    def _check_column(self, metric: Metric) -> None:
        """A metric column the model knows but this store's files lack (an older model) is an error."""
        files = self.part_files(metric.table)
        if files:
            import pyarrow.parquet as pq

            names = pq.read_schema(files[0]).names
            if metric.column not in names:
                known = [n for n in names if n not in ("run_id", "step", "period", "vendor")]
                raise AnalysisError(f"--metric = {str(metric)!r}: this store's {metric.table} tables have no column "
                                    f"{metric.column!r}; columns: {', '.join(known)}")

    def parameters(self) -> pd.DataFrame:
        """One row per run: run_id, point, replication, seed, status and EVERY model parameter.

        runs.parquet may hold only the swept parameters (stores written before it held them
        all); the fixed ones then come from the manifest's spec, and what the spec left out
        from the model's defaults of this version.
        """
        from cloudmarket.model.params import SCHEMA, defaults

        runs = self.runs.copy()
        fixed = {**defaults(), **self.manifest["spec"]["canonical"].get("parameters", {})}
        for name in SCHEMA:
            if name not in runs.columns:
                value = fixed[name]
                runs[name] = [list(value) for _ in range(len(runs))] if isinstance(value, list) else value
        return runs

    def fixed_parameters(self) -> dict[str, Any]:
        """Parameters the spec set and did not sweep (as given in the manifest)."""
        given = self.manifest["spec"]["canonical"].get("parameters", {})
        return {k: v for k, v in given.items() if k not in self.swept}


def load_results(root: str | Path) -> Results:
    """Open the experiment store at ``root`` (a directory written by ``cloudmarket sweep``).

    Returns a :class:`Results` with ``.runs``, ``.market``, ``.vendors`` (DataFrames),
    ``.manifest`` (dict), ``.swept`` and ``.sql(query)`` (DuckDB; views runs, market, vendors).
    """
    root = Path(root)
    if not (root / MANIFEST).is_file():
        raise StoreError(f"{root}: no {MANIFEST}; not an experiment store")
    # integrity first (footers and content hashes): a damaged store is refused here, by file
    # name, rather than returning a short or wrong table or failing on first use
    results = Results(root, checked=True)
    results._store.refuse_damage(results._store.check(results._rows))
    return results


def empty_table_sql(table: str) -> str:
    """A one-row SELECT with the columns and types of ``table`` ("market" or "vendors") as the model writes it.

    >>> empty_table_sql("market")[:60]
    'SELECT NULL::VARCHAR AS run_id, NULL::BIGINT AS step, NULL::'
    """
    columns = ["NULL::VARCHAR AS run_id", "NULL::BIGINT AS step", "NULL::VARCHAR AS period"]
    if table == "vendors":
        columns.append("NULL::VARCHAR AS vendor")
    columns += [f"NULL::DOUBLE AS {name}" for name in (VENDOR_COLUMNS if table == "vendors" else MARKET_COLUMNS)]
    return "SELECT " + ", ".join(columns)


# ---------------------------------------------------------------------- statistics
def mean_ci(values: np.ndarray, level: float = 0.95,
            bounds: tuple[float, float] | None = None) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval; NaN bounds below MIN_CI_RUNS values.

    With fewer than three values the interval says more about the t quantile (12.7 at two
    values) than about the data, so none is given. ``bounds`` keeps the interval inside the
    range the quantity can take (shares: (0, 1)), where a symmetric t interval could not be.

    >>> [round(x, 3) for x in mean_ci(np.array([1.0, 2.0, 3.0]))]
    [2.0, -0.484, 4.484]
    >>> [round(x, 3) for x in mean_ci(np.array([0.01, 0.02, 0.12]), bounds=(0.0, 1.0))]
    [0.05, 0.0, 0.201]
    >>> mean_ci(np.array([0.4, 0.5]))[1:]
    (nan, nan)
    """
    from scipy import stats

    values = np.asarray(values, dtype=float)
    mean = float(values.mean()) if len(values) else float("nan")
    if len(values) < MIN_CI_RUNS:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return mean, float(low), float(high)


def bootstrap_ci(values: np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean (seeded, so reproducible)."""
    values = np.asarray(values, dtype=float)
    if len(values) < MIN_CI_RUNS:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def _hashable(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Copy with list-valued parameter columns turned into text, so they can be grouped."""
    frame = frame.copy()
    for c in columns:
        if frame[c].map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any():
            frame[c] = frame[c].map(lambda v: ",".join(map(str, v)) if len(v) else "(none)")
    return frame


def summarise(results: Results, column: str = "spend_share", level: float = 0.95) -> pd.DataFrame:
    """Per design point and vendor: runs, mean final ``column`` and its confidence interval.

    Shares get intervals within [0, 1]; points with fewer than MIN_CI_RUNS runs get none.
    """
    if column not in VENDOR_COLUMNS:
        raise AnalysisError(f"--column = {column!r}: must be one of {', '.join(VENDOR_COLUMNS)}")
    bounds = (0.0, 1.0) if column in SHARE_COLUMNS else None
    finals = results.sql(
        f"SELECT v.run_id, v.vendor, v.{column} AS value FROM vendors v "
        f"JOIN (SELECT run_id, max(step) AS last FROM vendors GROUP BY run_id) l "
        f"ON v.run_id = l.run_id AND v.step = l.last")
    keys = results.swept
    runs = _hashable(results.runs[results.runs.status == "done"], keys)
    table = runs[["run_id", "point", *keys]].merge(finals, on="run_id")
    rows = []
    for (point, vendor), group in table.groupby(["point", "vendor"], sort=False):
        mean, low, high = mean_ci(group.value.to_numpy(), level, bounds)
        rows.append({"point": point, **group.iloc[0][keys].to_dict(), "vendor": vendor, "runs": len(group),
                     "mean": mean, "ci_low": low, "ci_high": high})
    out = pd.DataFrame(rows, columns=["point", *keys, "vendor", "runs", "mean", "ci_low", "ci_high"])
    order = {v: i for i, v in enumerate(dict.fromkeys(table.vendor))}
    return out.sort_values(["point", "vendor"], key=lambda s: s.map(order) if s.name == "vendor" else s,
                           ignore_index=True)


def paired_differences(results: Results, metric: str | Metric, by: str, baseline: Any = None,
                       n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Paired differences of ``metric`` between each value of ``by`` and the baseline value.

    Runs are paired when they share the replication (hence the seed, by common random
    numbers) and every other swept parameter. Each row gives the level, the mean metric
    at the level and at the baseline over the pairs, the mean difference and its
    percentile-bootstrap 95% CI, and the number of pairs. The baseline defaults to the
    first value of ``by`` in the spec (for a grid) or the smallest value.
    """
    if by not in results.swept:
        raise AnalysisError(f"--by = {by!r}: not a swept parameter; swept: {', '.join(results.swept) or '(none)'}")
    finals = _hashable(results.final(metric), results.swept)
    levels = _levels(results, by, finals)
    if baseline is None:
        baseline = levels[0]
    elif baseline not in levels:
        raise AnalysisError(f"--baseline = {baseline!r}: not a value of {by}; values: {', '.join(map(str, levels))}")
    others = [c for c in results.swept if c != by]
    base = finals[finals[by] == baseline][["replication", *others, "value"]]
    rows = []
    for level in levels:
        if level == baseline:
            continue
        arm = finals[finals[by] == level][["replication", *others, "value"]]
        pairs = arm.merge(base, on=["replication", *others], suffixes=("", "_base"))
        diff = (pairs.value - pairs.value_base).to_numpy()
        low, high = bootstrap_ci(diff, n_boot=n_boot, seed=seed)
        rows.append({by: level, "baseline": baseline, "pairs": len(pairs),
                     "mean": pairs.value.mean(), "mean_baseline": pairs.value_base.mean(),
                     "difference": diff.mean() if len(diff) else float("nan"), "ci_low": low, "ci_high": high})
    if not rows or all(r["pairs"] == 0 for r in rows):
        raise AnalysisError(f"no paired runs for --by {by}: compare needs runs that differ only in {by} "
                            "(a grid design with done runs at the baseline and other values)")
    return pd.DataFrame(rows)


def _levels(results: Results, by: str, finals: pd.DataFrame) -> list[Any]:
    spec = results.manifest["spec"]["canonical"]
    if by in spec.get("values", {}):
        from cloudmarket.model.params import SCHEMA

        given = spec["values"][by]
        if SCHEMA[by].kind == "list":
            given = [",".join(map(str, v)) if v else "(none)" for v in given]
        return list(given)
    return sorted(finals[by].unique().tolist())


def sobol_indices(results: Results, metric: str | Metric, seed: int = 0) -> pd.DataFrame:
    """First-order and total Sobol' indices of ``metric`` with 95% CIs (SALib).

    The metric is averaged over replications at each design point (common random numbers
    keep the noise the same across points), then analysed in the design's row order.
    """
    from SALib.analyze import sobol

    from cloudmarket.experiments.runner import plan
    from cloudmarket.experiments.sampling import sobol_problem
    from cloudmarket.experiments.spec import Spec

    spec = Spec.from_dict(results.manifest["spec"]["canonical"])
    if spec.design != "sobol":
        raise AnalysisError(f"{results.root}: design is {spec.design!r}; sensitivity needs design = \"sobol\"")
    tasks = plan(spec, unique=False)  # every design row, even ones that share a run
    finals = results.final(metric).set_index("run_id").value
    missing = [t.run_id for t in tasks if t.run_id not in finals.index]
    if missing:
        raise AnalysisError(f"{results.root}: {len(missing)} of {len(tasks)} runs are not done; "
                            "re-run the sweep to finish them")
    per_point = pd.DataFrame({"point": [t.point for t in tasks],
                              "value": [finals[t.run_id] for t in tasks]}).groupby("point").value.mean()
    y = per_point.reindex(range(int(results.manifest["design"]["points"]))).to_numpy()
    problem = sobol_problem(spec.ranges)
    # SALib leaves the bootstrap unseeded when seed is falsy: shift by one so that every
    # seed, 0 included, gives the same confidence intervals on every call.
    indices = sobol.analyze(problem, y, calc_second_order=False, conf_level=0.95, seed=int(seed) + 1)
    table = pd.DataFrame({"parameter": problem["names"],
                         "S1": indices["S1"], "S1_ci_low": indices["S1"] - indices["S1_conf"],
                         "S1_ci_high": indices["S1"] + indices["S1_conf"],
                         "ST": indices["ST"], "ST_ci_low": indices["ST"] - indices["ST_conf"],
                         "ST_ci_high": indices["ST"] + indices["ST_conf"]})
    table.attrs["warnings"] = sobol_warnings(table, int(spec.samples or 0))
    for message in table.attrs["warnings"]:
        warnings.warn(message, SobolWarning, stacklevel=2)
    return table


class SobolWarning(UserWarning):
    """Sobol' indices from too few samples, or indices that cannot both be right."""


MIN_SOBOL_SAMPLES = 64  # base samples below which Saltelli estimates are mostly noise
SOBOL_SLACK = 0.05  # estimation noise tolerated before S1 > ST or a bound outside [0, 1] is flagged


def sobol_warnings(table: pd.DataFrame, samples: int) -> list[str]:
    """Plain-language warnings about a Sobol' table: too few samples, implausible indices.

    S1 > ST cannot hold (a parameter's effect alone cannot exceed its effect with all its
    interactions), and indices are shares of variance, in [0, 1]: estimates that break
    either say the sample is too small to read, not something about the model.

    >>> t = pd.DataFrame({"parameter": ["a"], "S1": [0.6], "ST": [0.3], "S1_ci_low": [0.1],
    ...                   "S1_ci_high": [1.2], "ST_ci_low": [0.1], "ST_ci_high": [0.5]})
    >>> for w in sobol_warnings(t, 16): print(w)
    only 16 base samples (fewer than 64): the indices and their intervals are rough; raise samples
    a: first-order index above total (S1 0.60 > ST 0.30), which cannot hold: too few samples to read these indices
    a: 95% CI of S1 reaches beyond [0, 1] ([0.10, 1.20]): too few samples to read these indices
    """
    out = []
    if samples < MIN_SOBOL_SAMPLES:
        out.append(f"only {samples} base samples (fewer than {MIN_SOBOL_SAMPLES}): the indices and their "
                   "intervals are rough; raise samples")
    for _, r in table.iterrows():
        if r.S1 > r.ST + SOBOL_SLACK:
            out.append(f"{r.parameter}: first-order index above total (S1 {r.S1:.2f} > ST {r.ST:.2f}), "
                       "which cannot hold: too few samples to read these indices")
        for kind in ("S1", "ST"):
            low, high = r[f"{kind}_ci_low"], r[f"{kind}_ci_high"]
            if low < -SOBOL_SLACK or high > 1 + SOBOL_SLACK:
                out.append(f"{r.parameter}: 95% CI of {kind} reaches beyond [0, 1] ([{low:.2f}, {high:.2f}]): "
                           "too few samples to read these indices")
    return out


def _quote(value: Any) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"
