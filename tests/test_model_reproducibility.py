"""Same seed and parameters give identical outputs; the graph is part of the seed."""

import warnings

import numpy as np
import pandas as pd
import pytest

from cloudmarket.model import CloudMarket
from cloudmarket.model.run import simulate

PARAMS = {"n_customers": 400, "export_control_severity": 0.4, "data_localization": True}


def test_same_seed_same_outputs():
    a = simulate(PARAMS, seed=11, steps=8)
    b = simulate(PARAMS, seed=11, steps=8)
    pd.testing.assert_frame_equal(a.vendors, b.vendors)
    pd.testing.assert_frame_equal(a.market, b.market)


def test_different_seeds_differ():
    a = simulate(PARAMS, seed=11, steps=8)
    b = simulate(PARAMS, seed=12, steps=8)
    assert not a.vendors.spend_share.equals(b.vendors.spend_share)


def test_graph_and_customers_reproduced_by_seed():
    m1, m2, m3 = (CloudMarket(n_customers=300, rng=s) for s in (5, 5, 6))
    assert np.array_equal(m1.edges, m2.edges)
    assert sorted(m1.grid.G.edges) == sorted(m2.grid.G.edges)
    assert np.array_equal(m1.spend, m2.spend) and np.array_equal(m1.provider, m2.provider)
    assert not np.array_equal(m1.edges, m3.edges)


def test_graph_uses_industries_and_integer_nodes():
    m = CloudMarket(n_customers=2000, rng=1)
    g = m.grid.G
    n_firms = m.customer_base.n  # customers and the prospects that adopt later
    assert n_firms == 2000 + round(1.2 * 2000)
    assert sorted(g.nodes) == list(range(n_firms))
    same = m.industry[m.edges[:, 0]] == m.industry[m.edges[:, 1]]
    assert 0.6 < same.mean() < 0.8  # within_industry = 0.7 by default
    degree = 2 * len(m.edges) / n_firms
    assert 8 < degree < 11  # avg_degree = 10, minus a few repeats


def test_customers_are_fixed_agents_on_network_cells():
    m = CloudMarket(n_customers=50, rng=3)
    c = m.customers[7]
    assert c.cell is m.grid._cells[7] and c in c.cell.agents
    assert c.provider == m.vendor_names[m.provider[7]]
    row = m.holdings[7]
    assert c.holdings == {m.vendor_names[j]: row[j] for j in np.flatnonzero(row)}  # its workloads, by vendor
    assert c.holdings[c.provider] == max(c.holdings.values()) and sum(c.holdings.values()) == pytest.approx(c.spend)
    assert m.customers[-1].provider is None and m.customers[-1].spend == 0.0  # a prospect
    assert len(m.agents) == m.customer_base.n + len(m.vendors)


def test_no_deprecated_mesa_api():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        warnings.simplefilter("error", FutureWarning)
        m = CloudMarket(n_customers=200, rng=1)
        m.run_for(3)
        m.datacollector.get_model_vars_dataframe()
        m.vendor_frame()


def test_industry_network_connects_cells_like_mesa_network():
    """The fast cell wiring gives every cell the same neighbours, in order, as Mesa's own."""
    from mesa.discrete_space import Network

    m = CloudMarket(n_customers=300, rng=9)
    reference = Network(m.grid.G, layout=None, random=m.random)
    for node in (0, 17, 150, 299):
        ours = [c.coordinate for c in m.grid._cells[node].neighborhood]
        theirs = [c.coordinate for c in reference._cells[node].neighborhood]
        assert ours == theirs


def test_a_market_without_customer_agents_gives_the_same_tables():
    """Batches skip the customers' Mesa objects (simulate_columns); the rules never read them."""
    params = {"n_customers": 700, "cloud_push": 1.0, "cloud_push_vendors": ["huawei"], "export_control_severity": 0.4,
              "ban_regions": ["CN"], "learning_rule": "imitate"}
    full = CloudMarket(rng=4, **params)
    bare = CloudMarket(rng=4, customer_agents=False, **params)
    assert len(full.customers) == full.customer_base.n and bare.customers == [] and bare.grid is None
    full.run_for(10)
    bare.run_for(10)
    pd.testing.assert_frame_equal(full.vendor_frame(), bare.vendor_frame())
    pd.testing.assert_frame_equal(full.market_frame(), bare.market_frame())
