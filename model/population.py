"""A market's population (customers, industry graph, starting providers), kept for reuse.

Sweeps use common random numbers: replication r of every design point runs with the
same seed. The first part of a market's build, the population, reads the seed and only
the parameters in ``POPULATION_PARAMS``; so every design point of a replication draws
the very same customers, graph and starting providers, and only what follows (vendors,
intercepts, quarters) reads the levers a sweep varies. :class:`Populations` keeps the
last few populations a process built, by seed and those parameters, and a market built
with one takes the stored population and the random generator's state after it instead
of drawing it again: the same numbers, without the work (tests/test_population.py checks
both the tables and which parameters the population reads). At 200 customers the
population is about a quarter of a run's CPU time.

The rules that draw a population stay in ``model/market.py`` (``_draw_customers``,
``_build_graph``, ``_assign_initial_providers``); this module only stores their results.

Example
-------
>>> from cloudmarket.model import CloudMarket
>>> kept = Populations()
>>> a = CloudMarket(n_customers=200, rng=3, switching_cost=1.0, populations=kept)
>>> b = CloudMarket(n_customers=200, rng=3, switching_cost=3.0, populations=kept)  # reuses a's
>>> kept.hits, bool((a.provider == b.provider).all())
(1, True)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from cloudmarket.model.customers import CustomerBase

# Everything the population's rules read besides the seed (tests/test_population.py
# records the reads and fails on any other parameter).
POPULATION_PARAMS = ("scenario", "n_customers", "prospects", "entrants", "spend_sigma", "review_period", "avg_degree",
                     "within_industry", "home_preference", "multicloud_cost", "market_growth")


@dataclass(frozen=True)
class Population:
    """A built population: its customer base (before any quarter), graph, and the generator state after it."""

    customer_base: CustomerBase
    edges: np.ndarray
    adjacency: sp.csr_matrix
    demand: np.ndarray
    sample: np.ndarray | None  # the customers used for intercept inversions (None: all)
    rng_state: dict[str, Any]


class Populations:
    """The last ``max_entries`` populations built in this process, by seed and population parameters.

    Only integer seeds are kept (a Generator's draws cannot be keyed), and only populations
    of at most ``max_customers`` customers: that is where the build is a large part of a
    run, and the memory kept stays small (a few MB).
    """

    def __init__(self, max_entries: int = 4, max_customers: int = 20_000):
        self.max_entries, self.max_customers = max_entries, max_customers
        self._kept: OrderedDict[tuple, Population] = OrderedDict()
        self.hits = self.misses = 0

    def key(self, seed: Any, params: Any) -> tuple | None:
        """The key of a run's population, or None when it is not kept."""
        if isinstance(seed, bool) or not isinstance(seed, int):
            return None
        if params["n_customers"] > self.max_customers:
            return None
        return (int(seed), *(params[name] for name in POPULATION_PARAMS))

    def get(self, key: tuple | None) -> Population | None:
        """The population kept under ``key``, or None."""
        found = self._kept.get(key) if key is not None else None
        if found is None:
            self.misses += key is not None
            return None
        self._kept.move_to_end(key)
        self.hits += 1
        return found

    def put(self, key: tuple | None, population: Population) -> None:
        """Keep ``population`` (its shared arrays become read-only), dropping the oldest beyond the limit."""
        if key is None:
            return
        _freeze(population)
        self._kept[key] = population
        self._kept.move_to_end(key)
        while len(self._kept) > self.max_entries:
            self._kept.popitem(last=False)

    def clear(self) -> None:
        self._kept.clear()


def _freeze(population: Population) -> None:
    """Make the arrays every run shares read-only, so a run that wrote into one would fail loudly."""
    adjacency = population.adjacency
    arrays = [population.edges, population.demand, adjacency.data, adjacency.indices, adjacency.indptr,
              *population.customer_base.shared_arrays()]
    if population.sample is not None:
        arrays.append(population.sample)
    for array in arrays:
        array.flags.writeable = False
