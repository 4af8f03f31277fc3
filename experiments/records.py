"""What a valid store record looks like: manifest, run record, run table schema, design.

Every record a store reader takes in is checked here before use, and a bad one is named
with the field, its value and what is allowed, so a damaged or hand-edited store gives a
StoreError (exit 2) rather than a TypeError deep in an analysis or a silently wrong
table. The checks are on types and on agreement with the design (a point holds one
setting of the swept parameters); the part files are checked by ``Store.check``.

Example
-------
>>> record_problem({"run_id": "ab", "status": "done", "point": 0, "replication": 0, "seed": 1, "part": "../x"})
"part = '../x': must be a part file's name (letters, digits, - and _) or null"
"""

from __future__ import annotations

import json
import re
from typing import Any

import pyarrow as pa

STATUSES = ("done", "failed")
TABLES = ("market", "vendors")  # a store's row tables, one folder of part files each

RUN_TYPES = {"run_id": pa.string(), "point": pa.int64(), "replication": pa.int64(), "seed": pa.int64(),
              "status": pa.string(), "error": pa.string(), "wall_s": pa.float64(), "part": pa.string(),
              "market_sha256": pa.string(), "vendors_sha256": pa.string()}
PARAM_TYPES = {"float": pa.float64(), "int": pa.int64(), "bool": pa.bool_(), "str": pa.string(),
                "list": pa.list_(pa.string())}


_PART_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def record_problem(row: dict[str, Any], parameters: bool = True) -> str | None:
    """What is wrong with a run record's fields, in words naming the field (None: nothing).

    Checked: run_id and status; point, replication and seed (whole numbers >= 0); error
    and wall_s; part (a plain file name: it becomes a path); the hashes; and with
    ``parameters`` every model parameter present has its schema's type (a run table read
    from Parquet has its parameter types checked once, by its schema).

    >>> record_problem({"run_id": "ab", "status": "done", "point": 0, "replication": "1", "seed": 3})
    "replication = '1': must be a whole number >= 0"
    >>> record_problem({"run_id": None, "status": "done"})
    'run_id = None: must be a non-empty string'
    """
    def bad(name: str, allowed: str) -> str:
        return f"{name} = {row.get(name)!r}: {allowed}"

    if not isinstance(row.get("run_id"), str) or not row["run_id"]:
        return bad("run_id", "must be a non-empty string")
    if row.get("status") not in STATUSES:
        return bad("status", f"must be one of {' | '.join(STATUSES)}")
    for name in ("point", "replication", "seed"):
        value = row.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return bad(name, "must be a whole number >= 0")
    if row.get("error") is not None and not isinstance(row["error"], str):
        return bad("error", "must be text or null")
    wall = row.get("wall_s")
    if wall is not None and (isinstance(wall, bool) or not isinstance(wall, (int, float))):
        return bad("wall_s", "must be a number or null")
    part = row.get("part")
    if part is not None and not (isinstance(part, str) and _PART_NAME.fullmatch(part)):
        return bad("part", "must be a part file's name (letters, digits, - and _) or null")
    if row["status"] == "done" and part is None and not _PART_NAME.fullmatch(row["run_id"]):
        return bad("run_id", "names no part file (a done run of an older store is its own part)")
    for table in TABLES:
        digest = row.get(f"{table}_sha256")
        if digest is not None and not (isinstance(digest, str) and _SHA256.fullmatch(digest)):
            return bad(f"{table}_sha256", "must be 64 hex digits or null")
    if parameters:
        from cloudmarket.model.params import SCHEMA

        for name, entry in SCHEMA.items():
            value = row.get(name)
            if value is not None and not _PARAM_CHECKS[entry.kind](value):
                return bad(name, f"must be a {entry.kind} (model/params.py)")
    return None


_PARAM_CHECKS = {
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "list": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
}


def schema_problem(schema: pa.Schema) -> str | None:
    """What is wrong with runs.parquet's column types (None: nothing); run_id and status are required."""
    from cloudmarket.model.params import SCHEMA

    missing = [c for c in ("run_id", "status") if c not in schema.names]
    if missing:
        return f"no column {', '.join(missing)}"
    for name in schema.names:
        want = RUN_TYPES.get(name) or (PARAM_TYPES[SCHEMA[name].kind] if name in SCHEMA else None)
        got = schema.field(name).type
        if want is not None and got != want and not pa.types.is_null(got):
            if pa.types.is_integer(want) and pa.types.is_integer(got):
                continue
            return f"column {name} is {got}, not {want}"
    return None


def manifest_problem(manifest: Any) -> str | None:
    """What is wrong with a manifest, naming the field (None: nothing).

    The spec it records (``spec.canonical``) is validated as a spec file would be, and
    ``design.swept`` must name its swept parameters in its order: readers group runs by it.

    >>> manifest_problem({"name": "x", "design": {"swept": [], "runs": "lots", "points": 1}, "spec": {"canonical": {}}})
    "design.runs = 'lots': must be a whole number >= 0"
    """
    if not isinstance(manifest, dict):
        return "not a JSON object"
    for path in (("name",), ("design", "swept"), ("design", "runs"), ("design", "points"), ("spec", "canonical")):
        node = manifest
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return f"no {'.'.join(path)}"
            node = node[key]
    design, canonical = manifest["design"], manifest["spec"]["canonical"]
    if not isinstance(manifest["name"], str):
        return f"name = {manifest['name']!r}: must be text"
    for key in ("runs", "points", "replications"):
        value = design.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return f"design.{key} = {value!r}: must be a whole number >= 0"
    blocks = design.get("lhs_blocks")
    if blocks is not None and not (isinstance(blocks, list) and blocks
                                   and all(isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in blocks)):
        return f"design.lhs_blocks = {blocks!r}: must be a list of whole numbers >= 1, or null"
    sweeps = manifest.get("sweeps", [])
    if not (isinstance(sweeps, list) and all(isinstance(s, dict) for s in sweeps)):
        return "sweeps: must be a list of objects (one per sweep)"
    if not isinstance(canonical, dict):
        return "spec.canonical: must be an object"
    problem = _canonical_problem(canonical)
    if problem:
        return f"spec.canonical: {problem}"
    swept = list(canonical["values"] or canonical["ranges"])
    if design["swept"] != swept:
        return (f"design.swept = {design['swept']!r} does not match the spec's swept parameters {swept!r} "
                "(readers group runs by them)")
    if canonical["design"] == "lhs" and (blocks is None or sum(blocks) != canonical["samples"]):
        return f"design.lhs_blocks = {blocks!r}: must add up to the spec's samples ({canonical['samples']})"
    return None


_CANONICAL_KEYS = ("name", "seed", "collect", "design", "parameters", "values", "ranges", "replications", "samples")


def _canonical_problem(canonical: dict[str, Any]) -> str | None:
    """A stored spec, validated as the spec file it came from would be (None: valid)."""
    from cloudmarket.experiments.spec import MISSING, SpecError, spec_from_dict
    from cloudmarket.model.params import SCHEMA

    missing = [k for k in _CANONICAL_KEYS if k not in canonical]
    if missing:
        return f"no {', '.join(missing)}"
    for key in ("parameters", "values", "ranges"):
        if not isinstance(canonical[key], dict):
            return f"{key} = {canonical[key]!r}: must be an object"
    sweep: dict[str, Any] = {"design": canonical["design"]}
    if canonical["design"] == "grid":
        sweep["values"] = canonical["values"]
        if canonical["ranges"] or canonical["samples"] is not None:
            return "a grid design has no ranges or samples"
    else:
        if canonical["values"]:
            return f"a {canonical['design']!r} design has no values"
        # ranges are stored as floats; a whole-number parameter's bounds are whole numbers
        sweep["ranges"] = {k: [int(x) if isinstance(x, float) and x.is_integer() and k in SCHEMA
                               and SCHEMA[k].kind == "int" else x for x in v] if isinstance(v, list) else v
                           for k, v in canonical["ranges"].items()}
        sweep["samples"] = canonical["samples"]
    document = {"experiment": {"name": canonical["name"], "replications": canonical["replications"],
                               "seed": canonical["seed"], "collect": canonical["collect"],
                               "description": canonical.get("description", "")},
                "parameters": canonical["parameters"], "sweep": sweep}
    try:
        spec_from_dict(document, source="spec.canonical")
    except SpecError as err:
        return f"{err.path}{'' if err.value is MISSING else f' = {err.value!r}'}: {err.allowed}"
    return None


def design_problem(rows: list[dict[str, Any]], manifest: dict[str, Any]) -> str | None:
    """Records that disagree with the design (None: none): what readers group runs by must hold.

    Each point must hold one setting of the swept parameters, and no setting two points
    (else ``summary`` pools or mislabels them); each replication's seed must be the one the
    spec's seed gives it (common random numbers pair runs by it).

    >>> m = {"design": {"swept": ["a"]}, "spec": {"canonical": {"seed": 0}}}
    >>> from cloudmarket.experiments.sampling import replication_seed
    >>> seed = replication_seed(0, 0)
    >>> design_problem([{"run_id": "x", "point": 0, "replication": 0, "seed": seed, "a": 1.0},
    ...                 {"run_id": "y", "point": 0, "replication": 0, "seed": seed, "a": 2.0}], m)
    'point 0 holds runs of different settings of a (x: [1.0], y: [2.0])'
    """
    from cloudmarket.experiments.sampling import replication_seed

    swept = manifest["design"]["swept"]
    base = manifest["spec"]["canonical"]["seed"]
    setting_of: dict[int, tuple[str, str]] = {}
    point_of: dict[str, tuple[int, str]] = {}
    seeds: dict[int, int] = {}
    for row in rows:
        setting = json.dumps([row.get(name) for name in swept], default=str)
        point = row["point"]
        if setting_of.setdefault(point, (setting, row["run_id"]))[0] != setting:
            first_setting, first = setting_of[point]
            return (f"point {point} holds runs of different settings of {', '.join(swept)} "
                    f"({first}: {first_setting}, {row['run_id']}: {setting})")
        if point_of.setdefault(setting, (point, row["run_id"]))[0] != point:
            return (f"the setting {setting} of {', '.join(swept)} is in two points, {point_of[setting][0]} "
                    f"({point_of[setting][1]}) and {point} ({row['run_id']})")
        replication = row["replication"]
        if replication not in seeds:
            seeds[replication] = replication_seed(base, replication)
        if row["seed"] != seeds[replication]:
            return (f"run {row['run_id']}: seed {row['seed']} is not replication {replication}'s seed "
                    f"({seeds[replication]})")
    return None
