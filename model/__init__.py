"""The cloud market world: CloudMarket, its parameters and its scenarios."""

from cloudmarket.model.market import CloudMarket
from cloudmarket.model.params import ParameterError, resolve
from cloudmarket.model.scenarios import SCENARIOS, get_scenario

__all__ = ["SCENARIOS", "CloudMarket", "ParameterError", "get_scenario", "resolve"]
