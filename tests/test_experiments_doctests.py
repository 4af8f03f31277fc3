"""The examples in the experiments package's docstrings run and give what they show."""

import doctest
import importlib

import pytest

MODULES = ["experiments.spec", "experiments.sampling", "experiments.store", "experiments.runner",
           "experiments.analysis"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
