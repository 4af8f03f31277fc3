"""Vendors' decisions and the balancing feedbacks: each rule on its own, then paired-seed mechanisms.

The direct tests pin each rule where it lives (``agents/economics.py``, ``agents/vendor.py``,
``agents/learning.py``, ``model/customers.py``, ``model/policy.py``), so a wrong sign or a
factor applied twice fails here and not only in a comparison with the numpy floor.
"""

from types import SimpleNamespace

import mesa
import numpy as np
import pytest
from scipy import stats

from cloudmarket.agents import economics
from cloudmarket.agents.learning import FOCUS_NAMES, Fixed, Imitate, RothErev
from cloudmarket.agents.vendor import CloudVendor, starting_focus
from cloudmarket.model import CloudMarket, policy
from cloudmarket.model.params import validated
from cloudmarket.model.run import simulate

SEEDS = range(8)
N = 800


def vendor(share=0.3, **overrides):
    p = validated(overrides)
    return CloudVendor(mesa.Model(rng=1), "acme", 0, "US", demand=100.0, spend_share=share, params=p, rule=Fixed()), p


# ---------------------------------------------------------------------- pure rules
def test_markup_rises_with_share_and_falls_with_price_sensitivity():
    assert economics.lerner_index(0.1, 4.0) < economics.lerner_index(0.4, 4.0) < economics.lerner_index(0.6, 4.0)
    assert economics.lerner_index(0.3, 8.0) < economics.lerner_index(0.3, 4.0)
    assert economics.lerner_index(0.99, 2.0) == economics.MAX_LERNER


def test_best_response_price_is_the_logit_first_order_condition():
    # profit (p - c) s(p) with ds/dp = -alpha s (1 - s) / p is flat at the best response
    c, s, alpha = 0.7, 0.3, 4.0
    p = economics.best_response_price(c, s, alpha)
    assert (p - c) / p * alpha * (1 - s) == pytest.approx(1.0)


def test_quality_ladder_is_steady_at_the_start_and_bounded_under_any_lasting_advantage():
    args = dict(frontier_growth=0.03, catch_up=0.1, returns=0.5)
    gap = 0.0
    for _ in range(400):
        gap = economics.quality_gap_step(gap, intensity=0.48, reference=0.12, **args)  # 4x the R&D for ever
    assert gap == pytest.approx(0.03 * (2.0 - 1.0) / 0.1, rel=1e-6)  # (sqrt(4) - 1) * 0.03 / 0.1
    assert economics.quality_gap_step(0.0, 0.12, 0.12, **args) == 0.0


def test_returns_to_rd_diminish():
    step = lambda x: economics.quality_gap_step(0.0, x, 0.1, 0.03, 0.1, 0.5)  # noqa: E731
    first, second = step(0.2) - step(0.1), step(0.3) - step(0.2)
    assert 0 < second < first


def test_laggards_catch_up_and_leaders_leads_erode():
    args = (0.12, 0.12, 0.03, 0.1, 0.5)
    assert economics.quality_gap_step(-0.4, *args) > -0.4
    assert economics.quality_gap_step(0.4, *args) < 0.4


def test_overload_and_export_controls_raise_unit_cost():
    base = economics.unit_cost(0.7, 1.0, demand=100.0, capacity=120.0, congestion_cost=1.0)
    assert base == 0.7
    assert economics.unit_cost(0.7, 1.0, demand=150.0, capacity=100.0, congestion_cost=1.0) == pytest.approx(0.7 * 1.5)
    assert economics.unit_cost(0.7, 1.3, demand=100.0, capacity=120.0, congestion_cost=1.0) == pytest.approx(0.91)


def test_rd_is_bounded_by_cash_and_credit():
    assert economics.affordable_rd(10.0, cash=100.0, operating_surplus=0.0, credit=0.0) == 10.0
    assert economics.affordable_rd(10.0, cash=-50.0, operating_surplus=5.0, credit=5.0) == 0.0


def test_push_is_a_bounded_budget_over_bounded_time():
    grants = [economics.push_grant(q, 3.0, 4) for q in range(0, 10)]
    assert sum(grants) == 12.0 and grants[0] == 0.0 and grants[5:] == [0.0] * 5


# ---------------------------------------------------------------------- a vendor's quarter
def test_settle_applies_export_control_supply_to_capacity_and_iaas_quality():
    free, p = vendor()
    hit, _ = vendor()
    free.settle(110.0, p, supply=1.0)
    hit.settle(110.0, p, supply=0.4)
    order = economics.capacity_order(110.0, 120.0, 0.1, p.capacity_headroom, p.depreciation)
    assert free.capacity == pytest.approx((1 - p.depreciation) * 120.0 + order)  # depreciated once
    assert hit.capacity == pytest.approx((1 - p.depreciation) * 120.0 + 0.4 * order)
    assert hit.iaas_gap < free.iaas_gap and hit.paas_gap == free.paas_gap


def test_cost_increases_pass_into_the_price_with_the_right_sign():
    v, p = vendor()
    before = v.price
    v.settle(100.0, p, cost_factor=1.3)
    v.decide(p, [], np.random.default_rng(0))
    assert v.price > before


def test_a_vendor_losing_new_business_cuts_its_price_and_its_installed_share_does_not_set_it():
    v, p = vendor(share=0.4)
    before = v.price
    v.spend_share = 0.05  # the price of new business answers the new-business share, not the installed one
    v.decide(p, [], np.random.default_rng(0))
    assert v.price == pytest.approx(before)
    v.new_business_share = 0.2
    v.decide(p, [], np.random.default_rng(0))
    assert v.price < before
    recent = 0.4 + 0.25 * (0.2 - 0.4)  # a year's average: a quarter moves it by a quarter of the gap
    target = economics.best_response_price(v.unit_cost, recent, p.price_weight)
    assert v.price == pytest.approx(before + p.price_adjustment * (target - before))


def test_subsidy_and_grant_fund_rd_but_are_not_the_vendors_profit():
    plain, p = vendor()
    helped, _ = vendor()
    plain.settle(100.0, p)
    helped.settle(100.0, p, subsidy=0.5, grant=4.0)
    assert helped.rd_investment == pytest.approx(plain.rd_investment * 1.5 + 4.0)
    assert helped.profit == pytest.approx(plain.profit)
    assert helped.iaas_gap > plain.iaas_gap


def test_subsidy_goes_to_chinese_vendors_only():
    m = CloudMarket(n_customers=300, rng=2, domestic_subsidy=0.5)
    m0 = CloudMarket(n_customers=300, rng=2)
    m.step()
    m0.step()
    for a, b in zip(m.vendors, m0.vendors):
        if a.home_region == "CN":
            assert a.rd_investment > b.rd_investment
        else:
            assert a.rd_investment == b.rd_investment


def test_strategies_move_with_inertia():
    m = CloudMarket(n_customers=400, rng=3, learning_rule="imitate", imitation_rate=1.0, strategy_inertia=0.25)
    m.run_for(12)
    frame = m.vendor_frame()
    for name, g in frame.groupby("vendor"):
        jumps = g.sort_values("step")[["iaas_investment_share", "investment_rate"]].diff().abs().max()
        assert jumps.iaas_investment_share <= 0.25 * 0.6 + 1e-12  # a quarter of the widest menu gap
        assert jumps.investment_rate <= 0.25 * 0.12 + 1e-12
    focus = frame[[c for c in frame if c.startswith("focus_")]]
    assert (focus >= 0).all().all() and (focus.sum(axis=1) <= 1 + 1e-12).all()


def test_focus_starts_from_the_scenario_plan():
    m = CloudMarket(n_customers=200, rng=1)
    huawei = m.vendors[m.vendor_names.index("huawei")]
    assert tuple(huawei.focus) == starting_focus(("large", "government", "telecom"))
    assert huawei.focus_large == 0.3


# ---------------------------------------------------------------------- learning rules
def test_roth_erev_learns_a_focus_that_pays():
    rule, rng = RothErev(recency=0.1, experimentation=0.1), np.random.default_rng(1)
    targets = {"iaas_investment_share": 2, "investment_rate": 2, "focus": 0}
    large = FOCUS_NAMES.index("large-enterprise")
    for _ in range(300):
        targets = rule.next_targets(targets, 3.0 if targets["focus"] == large else 0.1, [], rng)
    assert rule.probabilities("focus").argmax() == large


@pytest.mark.parametrize("rule_name", ["roth-erev", "imitate"])
def test_every_learning_rule_can_change_a_strategy(rule_name):
    m = CloudMarket(n_customers=400, rng=5, learning_rule=rule_name, imitation_rate=1.0)
    start = {v.name: (v.iaas_investment_share, v.investment_rate, tuple(v.focus)) for v in m.vendors if v.learns}
    m.run_for(10)
    now = {v.name: (v.iaas_investment_share, v.investment_rate, tuple(v.focus)) for v in m.vendors if v.learns}
    assert any(start[k] != now[k] for k in start)


def test_fixed_rule_never_changes_a_strategy():
    m = CloudMarket(n_customers=300, rng=5, learning_rule="fixed")
    start = [(v.iaas_investment_share, v.investment_rate, tuple(v.focus)) for v in m.vendors]
    m.run_for(6)
    assert start == [(v.iaas_investment_share, v.investment_rate, tuple(v.focus)) for v in m.vendors]


def test_imitation_copies_the_highest_margin_rival():
    rule = Imitate(rate=1.0)
    rivals = [(0.05, {"iaas_investment_share": 0}), (0.20, {"iaas_investment_share": 4}), (0.10, {"iaas_investment_share": 1})]
    assert rule.next_targets({"iaas_investment_share": 2}, 0.0, rivals, np.random.default_rng(0)) == {"iaas_investment_share": 4}


# ---------------------------------------------------------------------- customers and policy
def test_tenure_resets_when_the_main_vendor_changes_and_grows_otherwise():
    m = CloudMarket(n_customers=500, rng=4, switching_cost=0.0, review_period=2)
    on = m.customer_base.n_adopted
    before_tenure, before_provider = m.tenure[:on].copy(), m.provider[:on].copy()
    m.step()
    moved = m.provider[:on] != before_provider
    assert moved.any()
    assert (m.tenure[:on][moved] == 0).all()
    assert (m.tenure[:on][~moved] == before_tenure[~moved] + 1).all()


def test_bans_apply_to_the_named_segments_only():
    seg = {s: np.array(flags) for s, flags in {"government": [True, False], "finance": [False, True],
                                               "telecom": [False, False], "critical": [False, False]}.items()}
    allowed = policy.allowed_vendors(("huawei", "others"), ("CN", "*"), ("UK",), np.array([0, 0]), seg,
                                     sanctioned=["huawei"], ban_regions=["UK"], ban_segments=["government"],
                                     data_localization=False)
    assert allowed.tolist() == [[False, True], [True, True]]


# ---------------------------------------------------------------------- paired-seed mechanisms
def final(out, vendor, column="spend_share", step=None):
    v = out.vendors
    step = v.step.max() if step is None else step
    return v[(v.step == step) & (v.vendor == vendor)][column].item()


def test_a_price_cut_gains_share_for_the_cutter():
    gains = []
    for seed in SEEDS:
        shares = []
        for cut in (1.0, 0.85):
            m = CloudMarket(n_customers=N, rng=seed, price_rule="cost-plus")
            tencent = m.vendors[m.vendor_names.index("tencent")]
            tencent.markup = (1 + tencent.markup) * cut - 1  # a lasting cut of 15% in its price
            tencent.price *= cut
            m.run_for(8)
            shares.append(tencent.spend_share)
        gains.append(shares[1] - shares[0])
    gains = np.array(gains)
    assert gains.mean() > 0.01 and stats.ttest_1samp(gains, 0, alternative="greater").pvalue < 0.01, gains


def test_rivals_losing_share_to_a_push_answer_with_lower_prices():
    base, push = {"n_customers": N}, {"n_customers": N, "cloud_push": 1.0, "cloud_push_vendors": ["huawei"]}
    lost, cut = [], []

    def late_price(out):  # its new-business price over the last two years (single quarters are noisy)
        v = out.vendors
        return v[(v.vendor == "alibaba") & (v.step > 8)].price.mean()

    for seed in range(12):
        a, b = simulate(base, seed=seed, steps=16), simulate(push, seed=seed, steps=16)
        lost.append(final(b, "alibaba") - final(a, "alibaba"))
        cut.append(late_price(b) - late_price(a))
    assert np.mean(lost) < 0 and np.mean(cut) < 0, (lost, cut)
    assert stats.ttest_1samp(cut, 0, alternative="less").pvalue < 0.01


@pytest.mark.parametrize("quarters", [12, 400])
def test_even_the_strongest_push_gives_a_bounded_gain_that_does_not_tip_the_market(quarters):
    params = {"n_customers": N, "cloud_push": 2.0, "cloud_push_vendors": ["huawei"], "cloud_push_quarters": quarters}
    for seed in range(4):
        out = simulate(params, seed=seed, steps=22)
        shares = out.vendors.pivot(index="step", columns="vendor", values="spend_share")
        gain = shares.huawei.iloc[-1] - shares.huawei.iloc[0]
        assert 0.0 < gain < 0.15, gain  # it helps, by less than 15 points in 5.5 years
        assert (shares.diff(4).abs().max() < 0.07).all(), shares.diff(4).abs().max()
        assert shares.max(axis=1).max() < 0.5
        assert out.market.hhi.max() < 3000


def test_with_no_policy_change_the_market_starts_at_a_steady_state():
    drift = []
    for seed in SEEDS:
        out = simulate({"n_customers": N, "learning_rule": "fixed"}, seed=seed, steps=8)
        shares = out.vendors.pivot(index="step", columns="vendor", values="spend_share")
        drift.append((shares.iloc[-1] - shares.iloc[0]).to_numpy())
    mean_drift = np.abs(np.mean(drift, axis=0))
    assert mean_drift.max() < 0.01, mean_drift  # under a point after two years, on average over seeds


def test_with_learning_on_the_market_stays_near_its_start_over_the_whole_horizon():
    drift, hhi = [], []
    for seed in SEEDS:
        out = simulate({"n_customers": N}, seed=seed, steps=22)
        shares = out.vendors.pivot(index="step", columns="vendor", values="spend_share")
        drift.append((shares.iloc[-1] - shares.iloc[0]).to_numpy())
        hhi.append(out.market.hhi.to_numpy())
    mean_drift = np.abs(np.mean(drift, axis=0))
    assert mean_drift.max() < 0.02, mean_drift  # learning explores, but no vendor drifts 2 points on average
    mean_hhi = np.mean(hhi, axis=0)
    assert 1900 < mean_hhi.min() and mean_hhi.max() < 2600, (mean_hhi.min(), mean_hhi.max())
