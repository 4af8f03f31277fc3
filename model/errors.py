"""ParameterError: the one error every entry point raises for a bad parameter value.

Kept apart from ``model/params.py`` so that ``model/scenarios.py`` can raise it without
importing the schema (the schema reads the scenarios, never the other way round).

Example
-------
>>> str(ParameterError("switching_cost", -1, "must be >= 0"))
'switching_cost = -1: must be >= 0'
"""

from __future__ import annotations

from typing import Any


class ParameterError(ValueError):
    """A parameter value that the schema does not allow.

    The message always names the parameter, the value given and what is allowed.
    """

    def __init__(self, name: str, value: Any, allowed: str):
        self.name, self.value, self.allowed = name, value, allowed
        super().__init__(f"{name} = {value!r}: {allowed}")
