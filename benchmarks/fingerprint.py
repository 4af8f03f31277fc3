"""Fingerprints of seeded runs: check that an optimisation leaves results bit for bit the same.

Runs a handful of seeded markets that between them use every mechanism (both scenarios,
policy on from the start and later, bans, data localisation, a cloud push, each learning
rule, short and long review periods) and prints one SHA-256 per run over every value of
its vendor and market tables. Run it before and after a change on the same machine and
compare::

    git stash && .venv/bin/python benchmarks/fingerprint.py > /tmp/before.txt
    git stash pop && .venv/bin/python benchmarks/fingerprint.py > /tmp/after.txt
    diff /tmp/before.txt /tmp/after.txt && echo identical

Digests are of exact float bits, so compare on one machine: another CPU or numpy build may
round differently in the last bit. Across a change that adds an output column (a renamed
column kept under its old name too), leave the new one out: ``--drop rd_investment``.

Example
-------
>>> digest({"n_customers": 200}, seed=1, steps=2) == digest({"n_customers": 200}, seed=1, steps=2)
True
"""

from __future__ import annotations

import argparse
import hashlib
import sys

import numpy as np

from cloudmarket.model.run import simulate

CASES = [
    ({"n_customers": 3000}, 1, 22),
    ({"n_customers": 2000, "scenario": "global-2020", "export_control_severity": 0.7, "ban_regions": ["US"]}, 5, 12),
    ({"n_customers": 1500, "learning_rule": "imitate", "policy_start": 2}, 3, 10),
    ({"n_customers": 500, "learning_rule": "fixed", "review_period": 3}, 9, 10),
    ({"n_customers": 800, "data_localization": True, "cloud_push": 0.3, "cloud_push_vendors": ["huawei"]}, 11, 15),
]


def digest(params: dict, seed: int, steps: int, drop: tuple[str, ...] = ()) -> str:
    """SHA-256 over every column (name and values) of one run's vendor and market tables, but ``drop``."""
    h = hashlib.sha256()
    out = simulate(params, seed=seed, steps=steps)  # simulate(): the API every version has
    for frame in (out.vendors, out.market):
        for name in frame.columns:
            if name in drop:
                continue
            values = frame[name].to_numpy()
            h.update(name.encode())
            h.update("\x1f".join(map(str, values)).encode() if values.dtype == object
                     else np.ascontiguousarray(values).tobytes())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drop", nargs="*", default=[], metavar="COLUMN",
                        help="columns to leave out (ones a change added)")
    drop = tuple(parser.parse_args(argv).drop)
    for params, seed, steps in CASES:
        print(f"{digest(params, seed, steps, drop)}  seed={seed} steps={steps} {params}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
