"""The customers' Mesa faces (``m.grid``, ``m.customers``) are built on first access.

They must come out as an eager build's would (same graph, cells, connections and agent
ids), whenever they are first read, and reading them must change no result.
"""

import numpy as np
import pandas as pd
import pytest

from cloudmarket.agents import CloudVendor, EnterpriseCustomer
from cloudmarket.model import CloudMarket, industry_graph

PARAMS = {"scenario": "global-2020", "n_customers": 400, "export_control_severity": 0.5, "policy_start": 1}


def faces(m: CloudMarket) -> dict:
    """Everything a user can read of the Mesa faces, as plain values."""
    g = m.grid.G
    return {
        "nodes": list(g.nodes(data=True)),
        "edges": list(g.edges()),
        "cells": [(key, cell.coordinate, list(cell.connections)) for key, cell in m.grid._cells.items()],
        "agents": [(c.unique_id, c.index, c.cell is m.grid._cells[c.index], c.cell.agents == [c])
                   for c in m.customers],
        "vendor_ids": [v.unique_id for v in m.vendors],
        "all_agents": sorted((type(a).__name__, a.unique_id) for a in m.agents),
    }


def test_faces_are_not_built_until_read():
    m = CloudMarket(rng=2, **PARAMS)
    assert len(m.agents) == m.n_vendors  # only the vendors so far
    assert EnterpriseCustomer not in m.agents_by_type
    assert len(m.customers) == m.customer_base.n
    assert len(m.agents_by_type[EnterpriseCustomer]) == m.customer_base.n
    assert len(m.agents) == m.n_vendors + m.customer_base.n


def test_faces_match_the_graph_and_the_arrays():
    m = CloudMarket(rng=4, **PARAMS)
    n = m.customer_base.n
    expected = industry_graph.to_networkx(m.edges, n, m.industry)
    assert list(m.grid.G.nodes(data=True)) == list(expected.nodes(data=True))
    assert sorted(map(sorted, m.grid.G.edges())) == m.edges.tolist()
    adjacency = m.adjacency.tolil().rows
    for c in m.customers:
        assert sorted(c.cell.connections) == adjacency[c.index]
    # ids as an eager build gave them: customers 1..n first, then the vendors
    assert [c.unique_id for c in m.customers] == list(range(1, n + 1))
    assert [v.unique_id for v in m.vendors] == list(range(n + 1, n + 1 + m.n_vendors))
    c = m.customers[7]
    assert c.provider == m.vendor_names[m.provider[7]] and c.spend == m.spend[7]
    assert isinstance(m.vendors[0], CloudVendor)


def test_faces_read_late_equal_faces_read_at_once():
    early = CloudMarket(rng=6, **PARAMS)
    at_once = faces(early)
    late = CloudMarket(rng=6, **PARAMS)
    late.run_for(3)
    assert faces(late) == at_once
    # the grid first, or the customers first: one build either way
    via_customers = CloudMarket(rng=6, **PARAMS)
    agents = via_customers.customers
    assert via_customers.grid._cells[0] is agents[0].cell
    assert faces(via_customers) == at_once


@pytest.mark.parametrize("touch_at", [None, 0, 2])
def test_reading_the_faces_changes_no_result(touch_at):
    reference = CloudMarket(rng=8, customer_agents=False, **PARAMS)
    reference.run_for(5)
    m = CloudMarket(rng=8, **PARAMS)
    state = m.random.getstate(), m.rng.bit_generator.state
    for step in range(5):
        if step == touch_at:
            assert len(m.customers) == m.customer_base.n and m.grid is not None
            assert (m.random.getstate(), m.rng.bit_generator.state) == state  # no draw taken
        m.step()
        state = m.random.getstate(), m.rng.bit_generator.state
    pd.testing.assert_frame_equal(m.vendor_frame(), reference.vendor_frame(), check_exact=True)
    pd.testing.assert_frame_equal(m.market_frame(), reference.market_frame(), check_exact=True)
    assert np.array_equal(m.provider, reference.provider)


def test_no_faces_when_asked_for_none():
    m = CloudMarket(rng=1, customer_agents=False, n_customers=100)
    assert m.grid is None and m.customers == []
    assert len(m.agents) == m.n_vendors
    assert [v.unique_id for v in m.vendors] == list(range(1, m.n_vendors + 1))
