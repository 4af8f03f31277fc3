"""The cloud market world: CloudMarket, its parameters and its scenarios."""

from model.market import CloudMarket
from model.params import ParameterError, resolve
from model.scenarios import SCENARIOS, get_scenario

__all__ = ["SCENARIOS", "CloudMarket", "ParameterError", "get_scenario", "resolve"]
