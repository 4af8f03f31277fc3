"""Property-based tests over random valid parameters (hypothesis)."""

import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudmarket.model import CloudMarket, get_scenario
from cloudmarket.model.params import BAN_SEGMENTS, LEARNING_RULES


@st.composite
def market_params(draw):
    scenario = get_scenario(draw(st.sampled_from(["china-2020", "global-2020"])))
    return {
        "scenario": scenario.name,
        "n_customers": draw(st.integers(30, 250)),
        "export_control_severity": draw(st.floats(0, 1)),
        "sanctioned_vendors": draw(st.lists(st.sampled_from(scenario.named_vendors), max_size=3, unique=True)),
        "ban_regions": draw(st.lists(st.sampled_from(scenario.regions), max_size=3, unique=True)),
        "ban_segments": draw(st.lists(st.sampled_from(BAN_SEGMENTS), min_size=1, max_size=3, unique=True)),
        "data_localization": draw(st.booleans()),
        "switching_cost": draw(st.floats(0, 8)),
        "peer_weight": draw(st.floats(0, 8)),
        "domestic_subsidy": draw(st.floats(0, 1)),
        "policy_start": draw(st.integers(0, 3)),
        "learning_rule": draw(st.sampled_from(LEARNING_RULES)),
        "review_period": draw(st.integers(1, 5)),
        "market_growth": draw(st.floats(-0.2, 0.3)),
        "avg_degree": draw(st.floats(0, 20)),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=market_params(), seed=st.integers(0, 2**31 - 1))
def test_market_invariants_hold_every_step(params, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow, no log(0), no 0/0
        m = CloudMarket(rng=seed, **params)
        cycle_end = params["policy_start"] + params["review_period"]
        for step in range(cycle_end + 2):
            shares = m._spend_shares
            assert np.isclose(shares.sum(), 1.0)
            assert np.isclose(sum(v.share for v in m.vendors), 1.0)
            # exactly one provider each: one valid vendor index per customer
            assert m.provider.shape == (m.n_customers,)
            assert ((m.provider >= 0) & (m.provider < m.n_vendors)).all()
            for v in m.vendors:
                for x in (v.capacity, v.iaas_quality, v.paas_quality, v.price):
                    assert np.isfinite(x) and x >= 0, (v.name, x)
            if m.steps >= cycle_end:
                allowed = m.allowed_vendors(True)
                assert allowed[np.arange(m.n_customers), m.provider].all()
            m.step()


def test_every_customer_always_has_an_allowed_vendor():
    m = CloudMarket(scenario="global-2020", n_customers=300, rng=2, data_localization=True,
                    sanctioned_vendors=list(get_scenario("global-2020").named_vendors),
                    ban_regions=list(get_scenario("global-2020").regions), ban_segments=["all"])
    allowed = m.allowed_vendors(True)
    assert allowed.any(axis=1).all()
    assert allowed[:, m.vendor_names.index("others")].all()
