"""The examples in docstrings run and give what they show."""

import doctest
import importlib
import pkgutil

import pytest

import cloudmarket
import cloudmarket.agents
import cloudmarket.experiments
import cloudmarket.model

MODULES = sorted(
    f"{pkg.__name__}.{m.name}"
    for pkg in (cloudmarket.agents, cloudmarket.model, cloudmarket.experiments)
    for m in pkgutil.iter_modules(pkg.__path__)
) + ["cloudmarket", "cloudmarket.app"] + [  # the benchmarks' building blocks (the bench_* scripts are run by `make bench`)
    "benchmarks.fingerprint", "benchmarks.floor", "benchmarks.idiomatic", "benchmarks.mesa_collected"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
