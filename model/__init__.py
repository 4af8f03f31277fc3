"""The cloud market world: CloudMarket, its parameters and its scenarios.

``CloudMarket`` (a Mesa model) loads on first use, so reading the parameter schema
(``cloudmarket.model.params``) does not import Mesa.

>>> from cloudmarket.model import CloudMarket, resolve
>>> CloudMarket.__name__, resolve({})["n_customers"] > 0
('CloudMarket', True)
"""

from cloudmarket.model.params import ParameterError, resolve
from cloudmarket.model.scenarios import SCENARIOS, get_scenario

__all__ = ["SCENARIOS", "CloudMarket", "ParameterError", "get_scenario", "resolve"]


def __getattr__(name: str):
    if name == "CloudMarket":
        from cloudmarket.model.market import CloudMarket
        return CloudMarket
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
