"""Cloud Market ABM: an agent-based model of competition in the cloud-computing market.

One import name for everything: ``cloudmarket.agents`` (vendors, customers, learning
rules), ``cloudmarket.model`` (the market, its parameters and scenarios),
``cloudmarket.experiments`` (batches, store, analysis, calibration) and
``cloudmarket.app`` (the SolaraViz page). The common entry points are here.

Example
-------
>>> import cloudmarket
>>> out = cloudmarket.simulate({"n_customers": 200, "switching_cost": 2.0}, seed=1, steps=4)
>>> sorted(out.market.step)
[0, 1, 2, 3, 4]
>>> spec = cloudmarket.spec_from_dict({
...     "experiment": {"name": "demo", "replications": 2, "steps": 4},
...     "parameters": {"n_customers": 200},
...     "sweep": {"values": {"switching_cost": [1.0, 3.0]}}})
>>> spec.swept, spec.replications
(('switching_cost',), 2)
"""

from __future__ import annotations

from pathlib import Path as _Path

# In a source checkout agents/, model/ and experiments/ sit beside this folder (the layout
# the project was asked for); setup.cfg maps them under this package in a wheel. Adding
# the checkout root to this package's search path makes `cloudmarket.model` resolve to
# ./model there too, so a checkout, an editable install and a wheel import the same names.
_ROOT = _Path(__file__).resolve().parent.parent
if (_ROOT / "setup.cfg").is_file() and (_ROOT / "model" / "market.py").is_file() \
        and not (_Path(__file__).parent / "model").is_dir():
    __path__.append(str(_ROOT))  # noqa: F821  (a package's __path__)

from cloudmarket.model.version import __version__  # noqa: E402  (after the search path is set)

__all__ = ["CloudMarket", "Results", "Spec", "__version__", "load_results", "parse_spec",
           "simulate", "spec_from_dict", "sweep"]


def __getattr__(name: str):
    # Loaded on first use: `cloudmarket --version` must not pay for Mesa, pandas and DuckDB.
    if name == "CloudMarket":
        from cloudmarket.model.market import CloudMarket
        return CloudMarket
    if name == "simulate":
        from cloudmarket.model.run import simulate
        return simulate
    if name in ("Spec", "parse_spec", "spec_from_dict", "load_spec"):
        from cloudmarket.experiments import spec
        return getattr(spec, name)
    if name == "sweep":
        from cloudmarket.experiments.runner import sweep
        return sweep
    if name in ("load_results", "Results"):
        from cloudmarket.experiments import analysis
        return getattr(analysis, name)
    raise AttributeError(f"module 'cloudmarket' has no attribute {name!r}")
