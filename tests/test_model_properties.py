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
        "adopter_share": draw(st.floats(0, 1)),
        "prospects": draw(st.floats(0, 2)),
        "egress_fee_cap": draw(st.floats(0, 1)),
        "commitment_discount_cap": draw(st.floats(0, 0.5)),
        "interoperability": draw(st.floats(0, 1)),
        "entrants": draw(st.lists(st.sampled_from(scenario.entrants), max_size=1)),
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
            shares = np.array([v.spend_share for v in m.vendors])
            assert np.isclose(shares.sum(), 1.0)
            assert np.isclose(sum(v.customer_share for v in m.vendors), 1.0)
            base = m.customer_base
            on = base.adopted
            # firms on the cloud are the first rows; each holds spend and has a valid main vendor
            assert on[:base.n_adopted].all() and not on[base.n_adopted:].any()
            assert (m.holdings >= 0).all() and (m.holdings[~on] == 0).all()
            assert (m.holdings[on].sum(axis=1) > 0).all()
            assert ((m.provider[on] >= 0) & (m.provider[on] < m.n_vendors)).all() and (m.provider[~on] == -1).all()
            np.testing.assert_array_equal(m.holdings[on].argmax(axis=1), m.provider[on])
            for v in m.vendors:
                for x in (v.capacity, v.iaas_quality, v.paas_quality, v.price, v.renewal_price, v.egress_fee,
                          v.commitment_discount):
                    assert np.isfinite(x) and x >= 0, (v.name, x)
            market = m.market_frame().iloc[-1]
            for rate in ("switch_rate", "migration_rate", "multihoming", "adoption", "churn"):
                assert 0.0 <= market[rate] <= 1.0, rate
            if m.steps >= cycle_end:  # a full review cycle after policy starts: nobody holds a forbidden vendor
                allowed = m.allowed_vendors(m.steps)
                assert (m.holdings[~allowed] == 0).all()
            m.step()


def test_every_customer_always_has_an_allowed_vendor():
    m = CloudMarket(scenario="global-2020", n_customers=300, rng=2, data_localization=True,
                    sanctioned_vendors=list(get_scenario("global-2020").named_vendors),
                    ban_regions=list(get_scenario("global-2020").regions), ban_segments=["all"])
    allowed = m.allowed_vendors(1)
    assert allowed.any(axis=1).all()
    assert allowed[:, m.vendor_names.index("others")].all()
