"""Experiment specs: read a TOML file, check every key against the parameter schema.

A spec says which market to run (``[experiment]``), which parameters stay fixed
(``[parameters]``, optionally from a separate file named by ``experiment.params``) and
which are swept (``[sweep]``: a grid of values, or a Latin hypercube / Sobol' design over
ranges). Every error names the key path, the value and what is allowed, so a user can fix
the file without reading code; nothing is run or written before the whole spec is valid.

Example
-------
>>> spec = parse_spec('''
... [experiment]
... name = "demo"
... replications = 2
... seed = 1
... [parameters]
... n_customers = 200
... [sweep]
... design = "grid"
... [sweep.values]
... switching_cost = [0.5, 1.5]
... ''')
>>> spec.swept, spec.replications, spec.fixed["n_customers"]
(('switching_cost',), 2, 200)
>>> parse_spec('[experiment]\\n[sweep]\\ndesign = "grid"\\n[sweep.values]\\nswitching_cost = [-1]')
Traceback (most recent call last):
...
cloudmarket.experiments.spec.SpecError: <spec>: sweep.values.switching_cost[0] = -1: must be >= 0
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudmarket.model.params import RENAMED, ParameterError, check_name, current_name

DESIGNS = ("grid", "lhs", "sobol")
COLLECT_TEXT = '"step", "end" or a whole number k >= 1 (every k steps and the last)'
MAX_REPLICATIONS = 100_000
MAX_RUNS = 1_000_000  # design points x replications; checked from the lengths, before anything is enumerated
MIN_SOBOL_SAMPLES = 8
MAX_SEED = 2**63 - 1

_TABLES = {"experiment", "parameters", "sweep"}
_EXPERIMENT_KEYS = {"name", "description", "scenario", "steps", "replications", "seed", "collect", "params"}
_SWEEP_KEYS = {"design", "values", "ranges", "samples"}


class SpecError(ValueError):
    """A spec that cannot be run: names the file, the key path, the value and what is allowed."""

    def __init__(self, source: str, path: str, value: Any, allowed: str):
        self.source, self.path, self.value, self.allowed = source, path, value, allowed
        shown = "" if value is MISSING else f" = {value!r}"
        super().__init__(f"{source}: {path}{shown}: {allowed}")


MISSING = object()


@dataclass(frozen=True)
class Spec:
    """A validated experiment: fixed parameters, the sweep, replications and seeds.

    ``fixed`` holds every fixed parameter given (from ``[experiment]`` scenario/steps, the
    params file and ``[parameters]``), already type-checked. ``values`` (grid) or
    ``ranges`` (lhs, sobol) hold the swept parameters in the order the spec gives them.
    """

    name: str
    replications: int
    seed: int
    collect: str | int
    design: str
    fixed: dict[str, Any]
    values: dict[str, list[Any]] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    samples: int | None = None
    description: str = ""
    source: str = "<spec>"
    text: str = ""  # the spec file as given, kept in the store's manifest
    params_file: dict[str, str] | None = None  # {"path", "text"} of experiment.params

    @property
    def swept(self) -> tuple[str, ...]:
        """Names of the swept parameters, in spec order."""
        return tuple(self.values or self.ranges)

    def identity(self) -> dict[str, Any]:
        """Everything that fixes what each run computes, except replications and samples.

        Two specs with equal identities describe the same experiment; one may only have
        more replications or samples than the other (then it extends it). The name and
        description are labels, not part of the identity.
        """
        return {
            "seed": self.seed,
            "collect": self.collect,
            "design": self.design,
            "parameters": self.fixed,
            "values": self.values,
            "ranges": {k: list(v) for k, v in self.ranges.items()},
        }

    def to_dict(self) -> dict[str, Any]:
        """Canonical, JSON-ready form (what the manifest stores and ``from_dict`` reads)."""
        return {"name": self.name, **self.identity(), "replications": self.replications,
                "samples": self.samples, "description": self.description}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Spec":
        """Rebuild a Spec stored by ``to_dict`` (e.g. from a store's manifest)."""
        return cls(name=d["name"], replications=d["replications"], seed=d["seed"], collect=d["collect"],
                   design=d["design"], fixed=dict(d["parameters"]), values=dict(d["values"]),
                   ranges={k: tuple(v) for k, v in d["ranges"].items()}, samples=d["samples"],
                   description=d.get("description", ""), source="<manifest>")

    def digest(self) -> str:
        """Short SHA-256 of the canonical spec (identity, replications and samples)."""
        return hashlib.sha256(canonical_json(self.to_dict()).encode()).hexdigest()[:16]


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no spaces: equal objects give equal text (for hashes)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def shipped_specs() -> dict[str, Path]:
    """The specs shipped with the package, by name (file stem): quick, sanctions, ...

    >>> {"quick", "sanctions", "calibrate_china"} <= set(shipped_specs())
    True
    """
    folder = Path(__file__).resolve().parent / "specs"  # beside this module, in a checkout and a wheel
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def spec_path(name_or_path: str | Path) -> Path:
    """A spec file: ``name_or_path`` itself when it is a file, else the shipped spec of that name.

    A path to a file always wins, so a local ``quick.toml`` is read rather than the shipped one.

    >>> spec_path("quick").name
    'quick.toml'
    """
    path = Path(name_or_path)
    if path.exists() or path.suffix == ".toml" or len(path.parts) > 1:
        return path
    return shipped_specs().get(str(name_or_path), path)


def load_spec(path: str | Path) -> Spec:
    """Read and validate the spec file at ``path``, or the shipped spec of that name.

    Raises SpecError with the key path.
    """
    path = spec_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(str(path), "(file)", MISSING,
                        f"no such file, and no shipped spec of that name ({' | '.join(shipped_specs())})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(str(path), "(file)", MISSING, f"cannot be read ({err})") from None
    return parse_spec(text, source=str(path), base_dir=path.parent)


def parse_spec(text: str, source: str = "<spec>", base_dir: str | Path = ".") -> Spec:
    """Validate spec ``text`` (TOML); ``base_dir`` resolves ``experiment.params``."""
    return _spec_from_document(read_toml(text, source), text, source, base_dir)


def spec_from_dict(document: dict[str, Any], source: str = "<dict>", base_dir: str | Path = ".") -> Spec:
    """Validate a spec given as a dict with the TOML file's tables (experiment, parameters, sweep).

    >>> s = spec_from_dict({"experiment": {"replications": 3},
    ...                     "sweep": {"values": {"export_control_severity": [0.0, 0.5]}}})
    >>> s.replications, s.values
    (3, {'export_control_severity': [0.0, 0.5]})
    """
    if not isinstance(document, dict):
        raise SpecError(source, "(spec)", document, "must be a dict of tables: experiment, parameters, sweep")
    return _spec_from_document(document, canonical_json(document), source, base_dir)


def _spec_from_document(doc: dict[str, Any], text: str, source: str, base_dir: str | Path) -> Spec:
    _check_keys(source, "", doc, _TABLES)
    experiment = _table(source, doc, "experiment", required=True)
    _check_keys(source, "experiment.", experiment, _EXPERIMENT_KEYS)
    name = _string(source, "experiment.name", experiment.get("name", Path(source).stem or "experiment"))
    description = _string(source, "experiment.description", experiment.get("description", ""))
    replications = _whole(source, "experiment.replications", experiment.get("replications", 1), 1, MAX_REPLICATIONS)
    seed = _whole(source, "experiment.seed", experiment.get("seed", 0), 0, MAX_SEED)
    collect = _collect(source, experiment.get("collect", "step"))

    # Fixed parameters: params file first, then [experiment] scenario/steps, then
    # [parameters]; a name given twice is an error rather than a silent override.
    fixed: dict[str, Any] = {}
    origin: dict[str, str] = {}
    params_file = None
    if "params" in experiment:
        params_file, file_params = _read_params_file(source, experiment["params"], Path(base_dir))
        for key, value in file_params.items():
            _set_fixed(source, f"experiment.params ({params_file['path']}): {key}", key, value, fixed, origin)
    for key in ("scenario", "steps"):
        if key in experiment:
            _set_fixed(source, f"experiment.{key}", key, experiment[key], fixed, origin)
    parameters = _table(source, doc, "parameters", required=False)
    for key, value in parameters.items():
        _set_fixed(source, f"parameters.{key}", key, value, fixed, origin)

    sweep = _table(source, doc, "sweep", required=True)
    _check_keys(source, "sweep.", sweep, _SWEEP_KEYS)
    design = sweep.get("design", "grid")
    if design not in DESIGNS:
        raise SpecError(source, "sweep.design", design, f"unknown design; allowed: {' | '.join(DESIGNS)}")
    values: dict[str, list[Any]] = {}
    ranges: dict[str, tuple[float, float]] = {}
    samples = None
    if design == "grid":
        for unused in ("ranges", "samples"):
            if unused in sweep:
                raise SpecError(source, f"sweep.{unused}", MISSING,
                                "not used by design \"grid\" (give lists in [sweep.values])")
        values = _grid_values(source, _table(source, sweep, "values", required=True, prefix="sweep."), origin)
    else:
        if "values" in sweep:
            raise SpecError(source, "sweep.values", MISSING,
                            f"not used by design \"{design}\" (give [low, high] in [sweep.ranges])")
        if "samples" not in sweep:
            raise SpecError(source, "sweep.samples", MISSING, f"missing: design \"{design}\" needs samples = N")
        samples = _whole(source, "sweep.samples", sweep["samples"], 1, 1_000_000)
        if design == "sobol" and samples & (samples - 1):
            raise SpecError(source, "sweep.samples", samples,
                            "must be a power of 2 for a Sobol' design (the sequence is balanced only then)")
        ranges = _ranges(source, _table(source, sweep, "ranges", required=True, prefix="sweep."), origin)
        if design == "sobol" and samples < MIN_SOBOL_SAMPLES:
            raise SpecError(source, "sweep.samples", samples,
                            f"must be at least {MIN_SOBOL_SAMPLES} for a Sobol' design (a power of 2); with fewer "
                            "the indices are noise (first- and total-order estimates outside [0, 1])")
    _check_size(source, design_size(design, values, ranges, samples), replications)

    return Spec(name=name, replications=replications, seed=seed, collect=collect, design=design,
                fixed=fixed, values=values, ranges=ranges, samples=samples, description=description,
                source=source, text=text, params_file=params_file)


def design_size(design: str, values: dict[str, list[Any]], ranges: dict[str, Any], samples: int | None) -> int:
    """Number of design points, computed from the lengths alone (nothing is enumerated).

    >>> design_size("grid", {"a": [1, 2, 3], "b": [0] * 1000}, {}, None)
    3000
    >>> design_size("sobol", {}, {"a": (0, 1), "b": (0, 1)}, 64)   # Saltelli: samples x (parameters + 2)
    256
    """
    if design == "grid":
        return math.prod(len(v) for v in values.values())
    if design == "sobol":
        return (samples or 0) * (len(ranges) + 2)
    return samples or 0


def _check_size(source: str, points: int, replications: int) -> None:
    runs = points * replications
    if runs > MAX_RUNS:
        raise SpecError(source, "sweep", MISSING,
                        f"the design has {points:,} points x {replications:,} replications = {runs:,} runs, above "
                        f"the limit of {MAX_RUNS:,} runs; use fewer values, samples or replications "
                        "(or split the experiment)")


def read_toml(text: str, source: str, path: str = "(toml)", value: Any = MISSING) -> dict[str, Any]:
    """Parse TOML ``text``; a syntax error becomes a SpecError at ``path``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError(source, path, value, f"not valid TOML: {err}") from None


def _swept_name(source: str, path: str, name: str, given: Any, origin: dict, swept: dict):
    """The schema entry of a swept parameter; refuses unknown names, fixed-and-swept and twice-swept ones.

    ``name`` may be an old name (``model.params.RENAMED``); ``origin`` and ``swept`` are by schema name.
    """
    check = _coerce_name(source, path, name)
    new = current_name(name)
    if new in origin:
        raise SpecError(source, path, given, f"also fixed at {origin[new]}; a parameter is fixed or swept, not both"
                        + _old_name_note(name, new))
    if new in swept:
        raise SpecError(source, path, given, f"{new} is swept twice; give it once{_old_name_note(name, new)}")
    return check


def _old_name_note(given: str, name: str) -> str:
    """For an error about a parameter given under two names: say which name is the old one."""
    old = given if given in RENAMED else next((o for o, n in RENAMED.items() if n == name), None)
    return f" ({old} is the old name of {name})" if old else ""


def origin_of(spec: Spec, name: str) -> str:
    """Key path where parameter ``name`` is set in ``spec`` (for errors found later)."""
    if name in spec.values:
        return f"sweep.values.{name}"
    if name in spec.ranges:
        return f"sweep.ranges.{name}"
    if name in ("scenario", "steps") and name in spec.fixed:
        return f"experiment.{name} / parameters.{name}"
    return f"parameters.{name}"


# ---------------------------------------------------------------------- helpers
def _check_keys(source: str, prefix: str, table: dict, allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            raise SpecError(source, f"{prefix}{key}", MISSING, f"unknown key; allowed: {', '.join(sorted(allowed))}")


def _table(source: str, parent: dict, key: str, required: bool, prefix: str = "") -> dict:
    if key not in parent:
        if required:
            raise SpecError(source, f"{prefix}{key}", MISSING, f"missing table [{prefix}{key}]")
        return {}
    value = parent[key]
    if not isinstance(value, dict):
        raise SpecError(source, f"{prefix}{key}", value, f"must be a table [{prefix}{key}]")
    return value


def _string(source: str, path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise SpecError(source, path, value, "must be a string")
    return value


def _whole(source: str, path: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SpecError(source, path, value, f"must be a whole number in [{low}, {high}]")
    return value


def _collect(source: str, value: Any) -> str | int:
    if value in ("step", "end"):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise SpecError(source, "experiment.collect", value, f"must be {COLLECT_TEXT}")


def _coerce(source: str, path: str, name: str, value: Any) -> Any:
    """Type- and range-check one parameter value, reporting errors at ``path``."""
    try:
        return check_name(name).coerce(value)
    except ParameterError as err:
        if err.value == "(unknown parameter)":
            raise SpecError(source, path, MISSING, f"unknown parameter; {err.allowed}") from None
        raise SpecError(source, path, value, err.allowed) from None


def _set_fixed(source: str, path: str, name: str, value: Any, fixed: dict, origin: dict) -> None:
    given, name = name, current_name(name)  # an old name sets its new one (model.params.RENAMED)
    if name in origin and not origin[name].startswith("experiment.params"):
        raise SpecError(source, path, value, f"already set at {origin[name]}; give it once{_old_name_note(given, name)}")
    fixed[name] = _coerce(source, path, name, value)
    origin[name] = path


def _read_params_file(source: str, name: Any, base_dir: Path) -> tuple[dict[str, str], dict[str, Any]]:
    if not isinstance(name, str) or not name:
        raise SpecError(source, "experiment.params", name, "must be the path of a TOML file of parameters")
    path = base_dir / name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SpecError(source, "experiment.params", name, f"cannot read {path} ({err.strerror or err})") from None
    except UnicodeDecodeError as err:
        raise SpecError(source, "experiment.params", name, f"cannot read {path}: not UTF-8 text ({err})") from None
    doc = read_toml(text, source, "experiment.params", name)
    try:
        params, _ = parameter_table(doc)
    except ValueError as err:
        raise SpecError(source, f"experiment.params ({name})", MISSING, str(err)) from None
    return {"path": name, "text": text}, params


def parameter_table(doc: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The NAME = VALUE pairs of a parameter file and the key prefix they sit under.

    A parameter file holds top-level ``NAME = VALUE`` lines, or a single ``[parameters]``
    table; anything beside that table is refused (ValueError) rather than dropped.

    >>> parameter_table({"parameters": {"switching_cost": 1.0}})
    ({'switching_cost': 1.0}, 'parameters.')
    >>> parameter_table({"parameters": {"switching_cost": 1.0}, "other": {"x": 1}})
    Traceback (most recent call last):
    ...
    ValueError: other: unknown key beside [parameters]; a parameter file holds NAME = VALUE lines, or one [parameters] table
    """
    if "parameters" not in doc:
        return doc, ""
    params = doc["parameters"]
    if not isinstance(params, dict):
        raise ValueError(f"parameters = {params!r}: must be a table [parameters] of NAME = VALUE lines")
    others = [k for k in doc if k != "parameters"]
    if others:
        raise ValueError(f"{others[0]}: unknown key beside [parameters]; a parameter file holds NAME = VALUE "
                         "lines, or one [parameters] table")
    return params, "parameters."


def _grid_values(source: str, table: dict, origin: dict) -> dict[str, list[Any]]:
    if not table:
        raise SpecError(source, "sweep.values", {}, "empty sweep: give at least one parameter = [values]")
    values = {}
    for name, given in table.items():
        path = f"sweep.values.{name}"
        check = _swept_name(source, path, name, given, origin, values)
        if not isinstance(given, list):
            raise SpecError(source, path, given, "must be a list of values, e.g. [0.0, 0.5]")
        if not given:
            raise SpecError(source, path, given, "empty sweep: give at least one value")
        if check.kind == "list" and not all(isinstance(v, list) for v in given):
            raise SpecError(source, path, given, "a list parameter sweeps over lists, e.g. [[], [\"UK\"]]")
        coerced = [_coerce(source, f"{path}[{i}]", name, v) for i, v in enumerate(given)]
        seen = set()
        for i, v in enumerate(coerced):
            key = canonical_json(v)
            if key in seen:
                raise SpecError(source, f"{path}[{i}]", given[i], "repeated value; each value once")
            seen.add(key)
        values[current_name(name)] = coerced
    return values


def _ranges(source: str, table: dict, origin: dict) -> dict[str, tuple[float, float]]:
    if not table:
        raise SpecError(source, "sweep.ranges", {}, "empty sweep: give at least one parameter = [low, high]")
    ranges = {}
    for name, given in table.items():
        path = f"sweep.ranges.{name}"
        check = _swept_name(source, path, name, given, origin, ranges)
        if check.kind not in ("float", "int"):
            raise SpecError(source, path, given, f"{name} is a {check.kind}; only numbers can be sampled over a range")
        if not isinstance(given, list) or len(given) != 2:
            raise SpecError(source, path, given, f"must be [low, high] within {check.range_text()}")
        low = _coerce(source, f"{path}[0]", name, given[0])
        high = _coerce(source, f"{path}[1]", name, given[1])
        if not low < high:
            raise SpecError(source, path, given, "low must be below high")
        ranges[current_name(name)] = (float(low), float(high))
    return ranges


def _coerce_name(source: str, path: str, name: str):
    try:
        return check_name(name)
    except ParameterError as err:
        raise SpecError(source, path, MISSING, f"unknown parameter; {err.allowed}") from None
