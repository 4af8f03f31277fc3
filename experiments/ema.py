"""The market as an EMA Workbench model: ``ema_model(**fixed)``.

EMA Workbench (exploratory modelling and analysis) samples *uncertainties* (what nobody
controls) and *levers* (what a policy-maker sets), runs a model over them and analyses
the results (PRIM, CART, feature scores), or searches the levers for robust policies. This
module hands it the market with everything taken from ``model/params.py``:

* levers: the parameters the schema declares as levers (export controls, bans, egress caps,
  interoperability, ...);
* uncertainties: the vendor, customer and graph behaviour parameters;
* constants: the run set-up (scenario, n_customers, steps, seed) and anything in ``fixed``;
* outcomes: a time series per vendor of its share of spend (``spend_share_<vendor>``) and
  of customers (``share_<vendor>``), and the market's ``hhi`` and ``churn`` series.

Numbers become ``RealParameter`` / ``IntegerParameter`` over their schema range (or the
range given in ``ranges``), booleans ``BooleanParameter``, strings with choices and lists
``CategoricalParameter``; a list's categories are text, comma-separated (``"UK,EU"``, and
``"(none)"`` for the empty list): its default, each allowed value alone, and none.
``uncertainties=`` / ``levers=`` pick a subset of names (the rest stay at ``fixed`` or the
defaults), as the full schema is wide. Options that cannot be honoured are refused with a
ParameterError naming them: a range for a parameter that is not a number, a name both
fixed and named as a lever or uncertainty, a cloud push with no vendor to receive it.

Example
-------
>>> model = ema_model(n_customers=150, steps=3, levers=["export_control_severity"],
...                   uncertainties=["switching_cost"], ranges={"switching_cost": (0.5, 4.0)})
>>> [p.name for p in model.levers], [p.name for p in model.uncertainties]
(['export_control_severity'], ['switching_cost'])
>>> from ema_workbench import perform_experiments
>>> experiments, outcomes = perform_experiments(model, scenarios=2, policies=2)
>>> outcomes["spend_share_huawei"].shape  # 2 x 2 experiments, steps 0..3
(4, 4)
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from cloudmarket.model.params import SCHEMA, Param, current_name, renamed, resolve
from cloudmarket.model.scenarios import get_scenario

NONE = "(none)"  # the category of an empty list
SETUP = ("scenario", "n_customers", "steps")  # the run's set-up: constants, never sampled
DEFAULT_STEPS = 12  # quarters per run unless ``steps`` is given (the schema's 22 is slow for exploration)


def lever_names() -> list[str]:
    """Schema parameters declared as policy levers (``role="lever"`` in model/params.py)."""
    return [n for n, p in SCHEMA.items() if p.role == "lever"]


def uncertainty_names() -> list[str]:
    """Schema parameters declared as uncertainties about behaviour and technology (``role="uncertainty"``)."""
    return [n for n, p in SCHEMA.items() if p.role == "uncertainty"]


def _categories(p: Param, scenario: str) -> list[Any]:
    if p.kind == "list":
        allowed = list(p.choices or getattr(get_scenario(scenario), p.choices_from))
        options = [list(p.default)] + [[v] for v in allowed] + [[]]
        text = [",".join(o) if o else NONE for o in options]
        return list(dict.fromkeys(text))
    return list(p.choices)


def _parameter(name: str, scenario: str, ranges: Mapping[str, Any]):
    """The EMA parameter for one schema entry."""
    from ema_workbench import BooleanParameter, CategoricalParameter, IntegerParameter, RealParameter

    p = SCHEMA[name]
    if p.kind == "bool":
        return BooleanParameter(name)
    if p.kind in ("list", "str"):
        return CategoricalParameter(name, _categories(p, scenario))
    low, high = ranges.get(name, (p.low, p.high))
    for bound in (low, high):
        p.coerce(bound)  # a range outside the schema is an error naming the parameter
    if not low < high:
        from cloudmarket.model.errors import ParameterError

        raise ParameterError(name, [low, high], "range must be [low, high] with low < high")
    if p.kind == "int":
        return IntegerParameter(name, int(low), int(high))
    return RealParameter(name, float(low), float(high))


def _pick(given: Iterable[str] | None, default: list[str], what: str, fixed: Mapping[str, Any]) -> list[str]:
    """The names to sample: ``given`` (each checked) or the default names not fixed.

    A name both given here and fixed is refused: it cannot be sampled and constant at once
    (dropping it silently made every policy identical).
    """
    from cloudmarket.model.errors import ParameterError

    if isinstance(given, str):
        raise ParameterError(f"{what.split()[-1]}s", given, "must be a list of names, not one string")
    names = list(default if given is None else map(current_name, given))  # old names as their new ones
    for n in names:
        if n not in SCHEMA or n in SETUP:
            raise ParameterError(n, n, f"not a {what}; {what}s: {', '.join(default)}")
        if given is not None and n in fixed:
            raise ParameterError(n, fixed[n], f"given as a fixed value and named as a {what} to sample; "
                                              f"a {what} cannot also be fixed: drop one of the two")
    return [n for n in names if n not in fixed]


def from_ema(name: str, value: Any) -> Any:
    """A sampled value as the model expects it (list categories back to lists).

    >>> from_ema("ban_regions", "UK,EU"), from_ema("ban_regions", "(none)"), from_ema("switching_cost", 2)
    (['UK', 'EU'], [], 2)
    """
    if SCHEMA[name].kind == "list" and isinstance(value, str):
        return [] if value == NONE else value.split(",")
    if isinstance(value, np.generic):
        return value.item()
    return value


def run_market(seed: int = 0, **params: Any) -> dict[str, np.ndarray]:
    """One run with EMA's sampled values: the outcome series, one value per collected step."""
    from cloudmarket.model.run import simulate

    given = {k: from_ema(k, v) for k, v in params.items()}
    out = simulate(resolve(given), seed=int(seed))
    result: dict[str, np.ndarray] = {}
    for vendor, rows in out.vendors.groupby("vendor", sort=False):
        result[f"spend_share_{vendor}"] = rows.spend_share.to_numpy()
        result[f"share_{vendor}"] = rows.share.to_numpy()
    result["hhi"] = out.market.hhi.to_numpy()
    result["churn"] = out.market.churn.to_numpy()
    return result


def ema_model(name: str = "cloudmarket", *, levers: Iterable[str] | None = None,
              uncertainties: Iterable[str] | None = None, ranges: Mapping[str, Any] | None = None,
              objectives: Mapping[str, str] | None = None, replications: int = 1, seed: int = 0,
              **fixed: Any):
    """An EMA Workbench model of the market; ``fixed`` parameters are constants.

    ``objectives`` ({"spend_share_huawei": "min", "hhi": "min"}) adds a scalar outcome
    ``final_<series>``, the series' last value (with replications, its mean over them), to
    minimise or maximise: what EMA's ``optimize`` and ``robust_optimize`` search on.
    ``replications`` > 1 gives a ``ReplicatorModel`` whose replication r uses the seed that
    ``cloudmarket sweep`` gives replication r (common random numbers across experiments);
    EMA then returns one series per replication. Every value is checked against
    ``model/params.py`` first: a bad one raises ParameterError naming it.
    """
    from ema_workbench import Constant, Model, ReplicatorModel, TimeSeriesOutcome

    from cloudmarket.experiments.sampling import replication_seed

    # old parameter names (model.params.RENAMED) are accepted here too, as their new names
    ranges = renamed(ranges)
    fixed = {"steps": DEFAULT_STEPS, **renamed(fixed)}
    checked = resolve(fixed)  # raises ParameterError on a bad name or value
    scenario = checked["scenario"]
    lever_list = _pick(levers, lever_names(), "policy lever", fixed)
    uncertainty_list = _pick(uncertainties, uncertainty_names(), "behavioural uncertainty", fixed)
    from cloudmarket.model.errors import ParameterError

    for n in ranges:
        if n not in lever_list + uncertainty_list:
            raise ParameterError(n, ranges[n], "a range is only for a sampled lever or uncertainty")
        if SCHEMA[n].kind not in ("float", "int"):
            raise ParameterError(n, ranges[n], f"a range is (low, high) for a number; {n} is a {SCHEMA[n].kind}, "
                                               "sampled over its values (see the module doc): drop it from ranges")
    if isinstance(replications, bool) or not isinstance(replications, int) or replications < 1:
        raise ParameterError("replications", replications, "must be a whole number >= 1")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ParameterError("seed", seed, "must be a whole number >= 0")
    if fixed.get("cloud_push", 0) and not fixed.get("cloud_push_vendors") and "cloud_push_vendors" not in \
            lever_list + uncertainty_list:
        raise ParameterError("cloud_push", fixed["cloud_push"], "no vendor receives the push, as cloud_push_vendors "
                                                                "is empty; fix cloud_push_vendors=[\"huawei\"] too")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # EMA's note on optional parallel back-ends
        if replications > 1:
            model = ReplicatorModel(name, function=run_market)
            model.replications = [{"seed": replication_seed(seed, r)} for r in range(int(replications))]
        else:
            model = Model(name, function=run_market)
    model.levers = [_parameter(n, scenario, ranges) for n in lever_list]
    model.uncertainties = [_parameter(n, scenario, ranges) for n in uncertainty_list]
    sampled = set(lever_list) | set(uncertainty_list)
    # Given values, and what the run needs to know; defaults of this version stand for the rest.
    constants = {k: v for k, v in fixed.items() if k not in sampled}
    if replications == 1:
        constants["seed"] = int(seed)
    model.constants = [Constant(k, (",".join(v) or NONE) if isinstance(v, list) else v)
                       for k, v in constants.items()]
    vendors = get_scenario(scenario).vendors
    series = ([f"spend_share_{v}" for v in vendors] + [f"share_{v}" for v in vendors] + ["hhi", "churn"])
    model.outcomes = [TimeSeriesOutcome(n) for n in series] + _objectives(objectives or {}, series)
    return model


def _objectives(objectives: Mapping[str, str], series: list[str]):
    """Scalar outcomes final_<series> (the last value) to minimise or maximise."""
    from ema_workbench import ScalarOutcome

    from cloudmarket.model.errors import ParameterError

    kinds = {"min": ScalarOutcome.MINIMIZE, "max": ScalarOutcome.MAXIMIZE}
    out = []
    for name, sense in objectives.items():
        if name not in series:
            raise ParameterError("objectives", name, f"not an outcome series; series: {', '.join(series)}")
        if sense not in kinds:
            raise ParameterError("objectives", {name: sense}, "each objective is 'min' or 'max'")
        out.append(ScalarOutcome(f"final_{name}", kind=kinds[sense], variable_name=name, function=_last))
    return out


def _last(values):
    """The final value of a series (the quarter the run ends in); with replications, their mean.

    A ``ReplicatorModel`` hands over one series per replication (a 2-D array): the
    objective is then the expected final value over the common-random-number seeds.

    >>> _last([0.1, 0.2, 0.3]), _last([[0.1, 0.2], [0.1, 0.4]])
    (0.3, 0.3)
    """
    return round(float(np.mean(np.asarray(values, dtype=float)[..., -1])), 15)

