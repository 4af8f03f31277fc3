"""The cloud market world: CloudMarket, its parameters and its scenarios.

Every name loads on first use: ``import cloudmarket`` reads the version from
``model/version.py`` without loading numpy (the command line sets its thread limits
first), and reading the parameter schema (``cloudmarket.model.params``) never imports Mesa.

>>> from cloudmarket.model import CloudMarket, resolve
>>> CloudMarket.__name__, resolve({})["n_customers"] > 0
('CloudMarket', True)
"""

__all__ = ["SCENARIOS", "CloudMarket", "ParameterError", "get_scenario", "resolve"]


def __getattr__(name: str):
    if name == "CloudMarket":
        from cloudmarket.model.market import CloudMarket
        return CloudMarket
    if name in ("ParameterError", "resolve"):
        from cloudmarket.model import params
        return getattr(params, name)
    if name in ("SCENARIOS", "get_scenario"):
        from cloudmarket.model import scenarios
        return getattr(scenarios, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
