"""Each mechanism as a paired comparison over 10+ seeds (common random numbers)."""

import numpy as np
from scipy import stats

from cloudmarket.model import CloudMarket
from cloudmarket.model.run import simulate

SEEDS = range(12)
N, STEPS = 600, 16


def paired(metric, low: dict, high: dict, scenario="china-2020", seeds=SEEDS):
    """metric(run) for the same seeds under two parameter sets; returns (low, high) arrays."""
    a, b = [], []
    for seed in seeds:
        base = {"scenario": scenario, "n_customers": N}
        a.append(metric(simulate({**base, **low}, seed=seed, steps=STEPS)))
        b.append(metric(simulate({**base, **high}, seed=seed, steps=STEPS)))
    return np.array(a), np.array(b)


def assert_higher(low, high):
    diff = high - low
    assert diff.mean() > 0, diff
    assert stats.ttest_rel(high, low, alternative="greater").pvalue < 0.01, diff


def final_share(vendor):
    def share(out):
        v = out.vendors
        return v[(v.step == STEPS) & (v.vendor == vendor)].spend_share.item()
    return share


def test_export_controls_lower_the_sanctioned_vendors_share():
    hit, free = paired(final_share("huawei"), {"export_control_severity": 0.8}, {"export_control_severity": 0.0})
    assert_higher(hit, free)


def test_higher_switching_cost_lowers_migration():
    def migration(out):
        return out.market.migration_rate.iloc[1:].sum()
    high_cost, low_cost = paired(migration, {"switching_cost": 6.0}, {"switching_cost": 2.0})
    assert_higher(high_cost, low_cost)


def test_higher_peer_weight_raises_within_industry_concentration():
    def within(out):
        return out.market.within_industry_hhi.iloc[-1]
    # peers act on new workloads only, and the end-of-run HHI of 600 firms is noisy (paired
    # difference about +140 +- 140 points): 24 seeds give the t-test its power
    low, high = paired(within, {"peer_weight": 0.0}, {"peer_weight": 5.0}, seeds=range(24))
    assert_higher(low, high)


def test_ban_drives_banned_vendor_to_zero_among_banned_customers():
    for seed in range(10):
        m = CloudMarket(scenario="global-2020", n_customers=N, rng=seed, ban_regions=["UK", "EU"],
                        ban_segments=["government", "critical"], policy_start=2, review_period=4)
        huawei = m.vendor_names.index("huawei")
        banned = ~m.allowed_vendors(3)[:, huawei]
        assert m.allowed_vendors(2).all()  # not before policy starts
        m.run_for(2)
        before = m.holdings[banned, huawei].sum()
        m.run_for(4)  # one full review cycle after the ban starts: commitments do not shield it
        assert banned.any() and before >= 0.0
        assert m.holdings[banned, huawei].sum() == 0.0
        # the ban is targeted: huawei keeps customers outside the banned group
        assert m.holdings[~banned, huawei].sum() > 0.0


def test_data_localisation_moves_foreign_vendors_out_of_cn_government():
    m = CloudMarket(n_customers=N, rng=3, data_localization=True, review_period=4)
    aws = m.vendor_names.index("aws")
    protected = m.segments["government"] | m.segments["finance"]
    m.run_for(4)
    assert m.holdings[protected, aws].sum() == 0.0
    assert m.holdings[~protected, aws].sum() > 0.0


def test_group_shares_are_each_vendors_share_of_the_groups_spend():
    from cloudmarket.model.market import GROUP_SHARES

    m = CloudMarket(scenario="global-2020", n_customers=N, rng=4, ban_regions=["UK"], ban_segments=["all"],
                    review_period=4)
    m.run_for(5)
    frame = m.vendor_frame()
    last = frame[frame.step == 5].set_index("vendor")
    groups = {**{s: m.segments[s] for s in ("large", "government", "telecom", "finance", "critical")},
              **{r.lower(): m.region == k for k, r in enumerate(m.regions)}}
    for name, members in groups.items():
        spend = m.holdings[members].sum(axis=0)
        expected = spend / spend.sum()
        np.testing.assert_allclose(last[f"spend_share_{name}"].to_numpy(), expected, rtol=1e-9, atol=1e-15)
    # within every group the vendors' shares add up to one, at every step
    sums = frame.groupby("step")[list(GROUP_SHARES)].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, rtol=1e-12)
    # the ban shows where it applies: huawei is gone from the UK after a full review cycle
    assert last.loc["huawei", "spend_share_uk"] == 0.0 and last.loc["huawei", "spend_share_cn"] > 0.05


def test_group_shares_of_regions_a_scenario_lacks_are_missing_not_zero():
    m = CloudMarket(n_customers=N, rng=3, data_localization=True, review_period=4)
    m.run_for(4)
    frame = m.vendor_frame()
    assert frame[["spend_share_us", "spend_share_eu", "spend_share_uk", "spend_share_row"]].isna().all().all()
    np.testing.assert_allclose(frame.spend_share_cn, frame.spend_share, rtol=1e-12)  # every customer is in CN
    aws = frame[(frame.vendor == "aws") & (frame.step == 4)]
    assert aws.spend_share_government.item() == 0.0 and aws.spend_share_finance.item() == 0.0  # localisation
    assert frame[(frame.vendor == "aws") & (frame.step == 0)].spend_share_government.item() > 0.0
