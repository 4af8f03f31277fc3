"""One schema for every model parameter: type, default, bounds, meaning.

Everything that accepts parameters reads this module: ``CloudMarket(**params)``, the CLI's
``--set``/``--params``, experiment specs, the browser sliders and ``cloudmarket params``.
A bad value raises :class:`ParameterError`, which names the parameter, the value and what
is allowed.

Example
-------
>>> from cloudmarket.model.params import resolve
>>> p = resolve({"switching_cost": 2, "scenario": "china-2020"})
>>> p["switching_cost"], p["peer_weight"]
(2.0, 1.0)
>>> resolve({"switching_cost": -1})
Traceback (most recent call last):
...
cloudmarket.model.errors.ParameterError: switching_cost = -1: must be >= 0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cloudmarket.agents.price_rules import PRICE_RULES
from cloudmarket.agents.segments import SEGMENTS  # Mesa-free: the segment names only
from cloudmarket.model.errors import ParameterError
from cloudmarket.model.scenarios import get_scenario

# bans and localisation apply to sectors: "large" (a size class) is not one
BAN_SEGMENTS = (*(s for s in SEGMENTS if s != "large"), "all")
ROLES = ("lever", "uncertainty", "setup")
LEARNING_RULES = ("roth-erev", "imitate", "fixed")


@dataclass(frozen=True)
class Param:
    """One parameter: its type, default, bounds and one line of meaning.

    ``kind`` is one of "float", "int", "bool", "str", "list". ``choices`` restricts a str or
    the items of a list; ``choices_from`` names a scenario attribute ("vendors", "regions")
    whose values are allowed, checked once the scenario is known. ``group`` sorts
    parameters for the CLI listing and the browser ("policy" levers become sliders).
    """

    name: str
    kind: str
    default: Any
    doc: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    choices_from: str | None = None
    group: str = "behaviour"
    step: float | None = None  # slider granularity for the browser
    # what the parameter is in an experiment: a policy "lever" a government or regulator
    # sets, an "uncertainty" about behaviour and technology, or the run's "setup"
    role: str = "uncertainty"

    def range_text(self) -> str:
        """Human-readable description of the allowed values."""
        if self.kind == "bool":
            return "true | false"
        if self.choices:
            inner = " | ".join(self.choices)
            return f"list of: {inner}" if self.kind == "list" else inner
        if self.choices_from:
            what = "vendors except 'others'" if self.choices_from == "named_vendors" else self.choices_from
            return f"list of the scenario's {what}"
        lo = "-inf" if self.low is None else _fmt(self.low)
        hi = "inf" if self.high is None else _fmt(self.high)
        return f"[{lo}, {hi}]"

    def coerce(self, value: Any) -> Any:
        """Return ``value`` converted to this parameter's type, or raise ParameterError."""
        name = self.name
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise ParameterError(name, value, "must be true or false")
        if self.kind in ("float", "int"):
            given = value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                if hasattr(value, "item") and not isinstance(value, (str, bytes)):
                    value = value.item()  # numpy scalars from samplers
                else:
                    raise ParameterError(name, value, f"must be a number in {self.range_text()}")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParameterError(name, value, f"must be a number in {self.range_text()}")
            if not math.isfinite(value):
                raise ParameterError(name, value, f"must be a finite number in {self.range_text()}")
            if self.kind == "int":
                if float(value) != int(value):
                    raise ParameterError(name, value, f"must be a whole number in {self.range_text()}")
                value = int(value)
            else:
                value = float(value)
            if self.low is not None and value < self.low:
                raise ParameterError(name, given, f"must be >= {_fmt(self.low)}")
            if self.high is not None and value > self.high:
                raise ParameterError(name, given, f"must be <= {_fmt(self.high)}")
            return value
        if self.kind == "str":
            if not isinstance(value, str):
                raise ParameterError(name, value, f"must be one of {self.range_text()}")
            if self.choices and value not in self.choices:
                raise ParameterError(name, value, f"must be one of {self.range_text()}")
            return value
        if self.kind == "list":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise ParameterError(name, value, f"must be a list of strings ({self.range_text()})")
            if self.choices:
                bad = [v for v in value if v not in self.choices]
                if bad:
                    raise ParameterError(name, value, f"unknown {bad}; allowed: {', '.join(self.choices)}")
            return list(dict.fromkeys(value))  # drop repeats, keep order
        raise AssertionError(f"unknown kind {self.kind}")  # pragma: no cover


def _fmt(x: float) -> str:
    return f"{x:g}"


_P = Param
SCHEMA: dict[str, Param] = {
    p.name: p
    for p in [
        # --- run / market set-up ---------------------------------------------------
        _P("scenario", "str", "china-2020", "calibrated starting market (see model/scenarios.py)",
           choices=("china-2020", "global-2020"), group="run", role="setup"),
        _P("n_customers", "int", 2000, "number of enterprise customers (graph nodes)",
           low=10, high=2_000_000, group="run", step=100, role="setup"),
        _P("steps", "int", 22, "quarters to simulate (step 0 = 2020Q3, step k = k quarters later); CLI and specs only",
           low=0, high=400, group="run", role="setup"),
        # --- policy levers -----------------------------------------------------------
        _P("export_control_severity", "float", 0.0,
           "export-control severity on sanctioned vendors: cuts IaaS capacity growth and chip supply, raises IaaS cost",
           low=0.0, high=1.0, group="policy", role="lever", step=0.05),
        _P("sanctioned_vendors", "list", ["huawei"], "vendors hit by export controls and by bans",
           choices_from="named_vendors", group="policy", role="lever"),
        _P("ban_regions", "list", [], "regions whose customers in ban_segments may not use sanctioned vendors",
           choices_from="regions", group="policy", role="lever"),
        _P("ban_segments", "list", ["government", "critical"], "customer segments a ban applies to ('all' = every customer)",
           choices=BAN_SEGMENTS, group="policy", role="lever"),
        _P("data_localization", "bool", False,
           "Chinese data localisation: foreign vendors barred from CN government and finance customers",
           group="policy", role="lever"),
        _P("switching_cost", "float", 6.0,
           "technical cost, in utility, of migrating an installed workload to another vendor (interoperability lowers it)",
           low=0.0, high=20.0, group="customer", step=0.1),
        _P("peer_weight", "float", 1.0, "utility weight of the spend share of graph neighbours on a vendor",
           low=0.0, high=20.0, group="customer", step=0.1),
        _P("domestic_subsidy", "float", 0.0, "state subsidy to CN-home vendors, as a fraction added to their own R&D spend",
           low=0.0, high=1.0, group="policy", role="lever", step=0.05),
        _P("cloud_push_vendors", "list", [], "vendors whose parent group funds a cloud push (Huawei from 2020)",
           choices_from="named_vendors", group="policy", role="lever"),
        _P("cloud_push", "float", 0.0,
           "parent group's R&D grant per quarter, as a share of the pushing vendor's revenue when the push starts",
           low=0.0, high=2.0, group="policy", role="lever", step=0.05),
        _P("cloud_push_quarters", "int", 12, "how many quarters the parent group's push lasts (a bounded budget)",
           low=0, high=400, group="policy", role="lever"),
        _P("policy_start", "int", 0, "policy is in force in quarters after this step (0 = from the first quarter)",
           low=0, high=400, group="policy", role="lever"),
        _P("egress_fee_cap", "float", 1.0,
           "cap on the egress fee a vendor may charge a leaving workload, as a share of its annual spend (0 = a ban; 1 = no cap in practice)",
           low=0.0, high=1.0, group="policy", role="lever", step=0.01),
        _P("egress_schedule", "str", "none",
           "a dated switching-charge rule on top of egress_fee_cap: eu-data-act = charges at cost from 2024Q1, none from 2027Q1",
           choices=("none", "eu-data-act"), group="policy", role="lever"),
        _P("commitment_discount_cap", "float", 0.5,
           "cap on the committed-spend discount a vendor may offer (0 = commitment discounts banned)",
           low=0.0, high=0.5, group="policy", role="lever", step=0.01),
        _P("interoperability", "float", 0.0,
           "interoperability and portability mandate: share of the technical switching and multi-cloud costs it removes",
           low=0.0, high=1.0, group="policy", role="lever", step=0.05),
        _P("entrants", "list", [], "vendors the scenario schedules to enter (each at its own quarter, capacity, quality, home)",
           choices_from="entrants", group="vendor"),
        # --- vendor behaviour --------------------------------------------------------
        _P("learning_rule", "str", "roth-erev",
           "how vendors learn their R&D split, investment rate and sales focus (imitate: copy the highest-margin rival)",
           choices=LEARNING_RULES, group="vendor"),
        _P("learning_recency", "float", 0.1, "Roth-Erev forgetting rate (weight of old propensities lost per quarter)",
           low=0.0, high=1.0, group="vendor"),
        _P("learning_experimentation", "float", 0.1, "Roth-Erev experimentation: share of reinforcement spilled to neighbouring menu items",
           low=0.0, high=1.0, group="vendor"),
        _P("imitation_rate", "float", 0.25, "imitate rule: chance per quarter of copying the strategy of the rival with the highest profit margin",
           low=0.0, high=1.0, group="vendor"),
        _P("strategy_inertia", "float", 0.25, "share of the way a vendor moves its R&D split, investment rate and focus toward a new target per quarter",
           low=0.01, high=1.0, group="vendor"),
        _P("price_rule", "str", "best-response",
           "how vendors price: myopic Bertrand best response to the logit demand, or cost plus the starting markup",
           choices=PRICE_RULES, group="vendor"),
        _P("price_adjustment", "float", 0.5, "share of the gap to the target price a vendor closes per quarter",
           low=0.01, high=1.0, group="vendor"),
        # Low bound above zero: prices are cost-based (cost-plus keeps a markup over cost,
        # the best response is cost / (1 - Lerner index)), so a free service would be priced
        # at zero and its markup (price / cost - 1) would be undefined. Zero is not a market.
        _P("unit_cost", "float", 0.7, "cost of serving one unit of spend (list price 1) with enough capacity; "
           "> 0, as prices are set from it", low=0.01, high=5.0, group="vendor"),
        _P("congestion_cost", "float", 1.0, "extra unit cost per unit of demand above capacity (bought-in capacity)",
           low=0.0, high=10.0, group="vendor"),
        _P("investment_rate", "float", 0.12, "starting R&D investment as a share of revenue (vendors then learn it)",
           low=0.06, high=0.18, group="vendor"),
        _P("capex_per_capacity", "float", 0.15, "capital spending (capex) that buys one unit of annual-spend capacity",
           low=0.01, high=10.0, group="vendor"),
        _P("depreciation", "float", 0.03, "quarterly depreciation of capacity",
           low=0.0, high=0.5, group="vendor"),
        _P("frontier_growth", "float", 0.03, "quarterly growth of the technology frontier (log quality)",
           low=0.0, high=0.5, group="vendor"),
        _P("catch_up", "float", 0.1, "share of a vendor's distance to the frontier closed per quarter by spillovers",
           low=0.0, high=1.0, group="vendor"),
        _P("rd_returns", "float", 0.5, "elasticity of quality gains to R&D intensity (< 1: diminishing returns)",
           low=0.0, high=2.0, group="vendor"),
        _P("export_cost_markup", "float", 0.3, "extra unit and capacity cost at full export-control severity (0.3 = +30%)",
           low=0.0, high=10.0, group="vendor"),
        _P("egress_fee", "float", 0.1,
           "egress fee a named vendor charges a leaving workload (share of its annual spend); the fringe charges half",
           low=0.0, high=1.0, group="vendor"),
        _P("commitment_discount", "float", 0.1,
           "starting committed-spend discount (vendors then learn it, within commitment_discount_cap)",
           low=0.0, high=0.5, group="vendor"),
        _P("commitment_term", "int", 12, "quarters a committed workload is locked in (cannot migrate)",
           low=1, high=40, group="vendor"),
        _P("capacity_headroom", "float", 0.2, "spare capacity vendors plan for, as a share of expected demand",
           low=0.0, high=5.0, group="vendor"),
        # --- customer behaviour ------------------------------------------------------
        _P("review_period", "int", 8, "contract length in quarters: each customer reviews its installed workloads once per period",
           low=1, high=40, group="customer"),
        _P("quality_weight", "float", 2.0, "utility weight of log quality relative to the frontier (IaaS/PaaS mixed by the customer's needs)",
           low=0.0, high=20.0, group="customer"),
        _P("price_weight", "float", 4.0, "utility weight of the log price (customers' price sensitivity; also sets vendors' markups)",
           low=0.0, high=20.0, group="customer"),
        _P("congestion_elasticity", "float", 1.0, "how fast perceived quality falls when demand exceeds capacity",
           low=0.0, high=10.0, group="customer"),
        _P("home_preference", "float", 1.0, "utility bonus for a vendor from the customer's own region",
           low=0.0, high=10.0, group="customer"),
        _P("focus_weight", "float", 0.5, "utility of a vendor's sales effort on the customer's segments (times sqrt of effort)",
           low=0.0, high=10.0, group="customer"),
        _P("market_growth", "float", 0.08, "quarterly growth of the market's cloud spend (new workloads plus new adopters)",
           low=-0.5, high=1.0, group="customer"),
        _P("adopter_share", "float", 0.3, "share of the market's growth that comes from firms adopting cloud for the first time",
           low=0.0, high=1.0, group="customer"),
        _P("prospects", "float", 1.2, "firms not yet on the cloud at the start, per customer on it (the pool new adopters come from)",
           low=0.0, high=5.0, group="customer"),
        _P("multicloud_cost", "float", 2.0,
           "utility cost of placing a new workload with a vendor the customer does not use yet (skills, integration)",
           low=0.0, high=20.0, group="customer"),
        _P("flexibility_premium", "float", 0.1,
           "committed-spend discount at which half of renewing workloads commit (take-up = d / (d + this))",
           low=0.001, high=1.0, group="customer"),
        _P("spend_sigma", "float", 1.2, "dispersion (lognormal sigma) of customer annual cloud spend",
           low=0.0, high=3.0, group="customer"),
        # --- industry graph ----------------------------------------------------------
        _P("avg_degree", "float", 10.0, "mean number of graph neighbours per customer",
           low=0.0, high=200.0, group="graph"),
        _P("within_industry", "float", 0.7, "share of a customer's links inside its own industry (rest follow input-output flows)",
           low=0.0, high=1.0, group="graph"),
    ]
}

GROUPS = ("run", "policy", "vendor", "customer", "graph")
MODEL_PARAMS = tuple(n for n in SCHEMA if n != "steps")  # what CloudMarket(**kw) accepts
# Old parameter names, still accepted for one release wherever parameters enter (the
# Python API, --set/--params, spec files, EMA): old name -> schema name.
RENAMED = {"reinvestment_rate": "investment_rate"}
assert not set(RENAMED) & set(SCHEMA) and set(RENAMED.values()) <= set(SCHEMA)


class Params(Mapping):
    """A run's validated parameters, frozen: read by attribute (``p.switching_cost``) or key.

    Built once by :func:`validated` and handed to the model and its agents; lists become
    tuples so nothing can change a run's parameters behind its back.

    >>> p = validated({"switching_cost": 2})
    >>> p.switching_cost, p["ban_segments"]
    (2.0, ('government', 'critical'))
    >>> p.switching_cost = 1
    Traceback (most recent call last):
    ...
    AttributeError: Params are frozen: switching_cost cannot be set
    """

    __slots__ = ("_values", "__dict__")

    def __init__(self, values: Mapping[str, Any]):
        frozen = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        object.__setattr__(self, "_values", frozen)
        # Each value is also an instance attribute, so `p.switching_cost` is a plain lookup:
        # the model reads parameters in its inner loops, and __getattr__ costs ten times more.
        # (No parameter is named like a Mapping method: checked below the class.)
        self.__dict__.update(frozen)

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values") if name != "_values" else None
        if values is None or name not in values:
            raise AttributeError(f"no parameter {name!r}")
        return values[name]

    def __reduce__(self):
        return (Params, (self._values,))

    def __copy__(self) -> Params:
        return self  # immutable

    def __deepcopy__(self, memo) -> Params:
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Params are frozen: {name} cannot be set")

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Params({self._values!r})"

    def as_dict(self) -> dict[str, Any]:
        """A plain, mutable copy (lists as lists), e.g. to write back to TOML."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self._values.items()}


_CLASH = set(SCHEMA) & set(dir(Params))
assert not _CLASH, f"parameters named like Params methods: {_CLASH}"


def validated(overrides: Mapping[str, Any] | None = None, *, allow: tuple[str, ...] | None = None) -> Params:
    """:func:`resolve`, frozen into :class:`Params`; a Params object passes through unchecked."""
    if isinstance(overrides, Params):
        return overrides
    return Params(resolve(overrides, allow=allow))


def defaults() -> dict[str, Any]:
    """Every parameter's default, as a fresh dict (lists copied)."""
    return {n: (list(p.default) if isinstance(p.default, list) else p.default) for n, p in SCHEMA.items()}


def current_name(name: str) -> str:
    """The schema name of ``name``: the new name of an old one (``RENAMED``), else ``name`` itself.

    >>> current_name("reinvestment_rate"), current_name("switching_cost")
    ('investment_rate', 'switching_cost')
    """
    return RENAMED.get(name, name)


def renamed(given: Mapping[str, Any] | None) -> dict[str, Any]:
    """``given`` with old parameter names replaced by their schema names, order kept.

    Giving an old name and its new name together is an error naming both (which value
    would win is not obvious).

    >>> renamed({"reinvestment_rate": 0.1, "switching_cost": 2})
    {'investment_rate': 0.1, 'switching_cost': 2}
    >>> renamed({"reinvestment_rate": 0.1, "investment_rate": 0.15})
    Traceback (most recent call last):
    ...
    cloudmarket.model.errors.ParameterError: reinvestment_rate = 0.1: old name of investment_rate, which is given too (investment_rate = 0.15); give investment_rate only
    """
    out: dict[str, Any] = {}
    for name, value in (given or {}).items():
        new = RENAMED.get(name)
        if new is not None and new in given:
            raise ParameterError(name, value, f"old name of {new}, which is given too ({new} = {given[new]!r}); "
                                              f"give {new} only")
        out[new or name] = value
    return out


def check_name(name: str, value: Any = None) -> Param:
    """Return the Param called ``name`` (or an old name of it) or raise a ParameterError suggesting known names."""
    try:
        return SCHEMA[current_name(name)]
    except KeyError:
        import difflib

        near = difflib.get_close_matches(name, SCHEMA, n=3)
        hint = f"did you mean {', '.join(near)}? " if near else ""
        raise ParameterError(name, value, f"unknown parameter; {hint}run `cloudmarket params` for the list") from None


def resolve(overrides: Mapping[str, Any] | None = None, *, allow: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Defaults updated with ``overrides``, every value type-checked and range-checked.

    Scenario-dependent checks (vendor and region names) happen here too, against the
    scenario given in ``overrides`` or the default one. ``allow`` restricts which names
    may be given (e.g. ``MODEL_PARAMS`` for the Python API, which has no ``steps``).

    >>> resolve({"ban_regions": ["UK"], "scenario": "global-2020"})["ban_regions"]
    ['UK']
    """
    params = defaults()
    given_as = {RENAMED[k]: k for k in overrides or {} if k in RENAMED}  # for errors: the name the user wrote
    for name, value in renamed(overrides).items():
        spec = check_name(name, value)
        if allow is not None and name not in allow:
            raise ParameterError(name, value, f"not accepted here; accepted: {', '.join(allow)}")
        try:
            params[name] = spec.coerce(value)
        except ParameterError as err:
            if name not in given_as:
                raise
            raise ParameterError(given_as[name], value, f"{err.allowed} ({given_as[name]} is the old name of "
                                                        f"{name})") from None
    _check_scenario_names(params)
    return params


def _check_scenario_names(params: dict[str, Any]) -> None:
    scenario = get_scenario(params["scenario"])
    for name, spec in SCHEMA.items():
        if spec.choices_from is None:
            continue
        allowed = getattr(scenario, spec.choices_from)
        bad = [v for v in params[name] if v not in allowed]
        if bad:
            raise ParameterError(
                name, params[name],
                f"unknown {spec.choices_from.split('_')[-1][:-1]} {bad} in scenario {scenario.name}; allowed: {', '.join(allowed)}",
            )


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse a CLI ``NAME=VALUE`` where VALUE is a TOML value; bare words are strings.

    >>> parse_assignment('ban_regions=["UK", "EU"]')
    ('ban_regions', ['UK', 'EU'])
    >>> parse_assignment("learning_rule=fixed")
    ('learning_rule', 'fixed')
    """
    import tomllib

    if "=" not in text:
        raise ParameterError(text, text, "expected NAME=VALUE (VALUE in TOML syntax)")
    name, raw = (s.strip() for s in text.split("=", 1))
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word such as fixed or china-2020
    check_name(name, value)
    return name, value


def describe() -> list[dict[str, Any]]:
    """Rows for `cloudmarket params`: name, group, type, default, allowed range, meaning."""
    return [
        {"name": p.name, "group": p.group, "type": p.kind, "default": p.default,
         "range": p.range_text(), "doc": p.doc}
        for p in sorted(SCHEMA.values(), key=lambda p: GROUPS.index(p.group))
    ]

