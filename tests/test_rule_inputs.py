"""What each vendor rule is fed, and the policy masks cell by cell: bugs that formula tests let through.

The rules' formulas are tested elsewhere (tests/test_vendor_decisions.py). These tests pin
the wiring around them, each written so that one realistic mistake fails it by name:

* ``VendorBooks.decide`` prices from the vendor's share of SPEND, not its share of
  customers (a vendor with few large customers has a high spend share and a low count
  share);
* ``Imitate`` copies the rival with the highest margin, not the largest |margin| (a rival
  losing heavily is not a model);
* every strategy dimension (IaaS share of R&D, investment rate, sales focus) moves only
  ``strategy_inertia`` of the way to its target per quarter, never straight to it;
* ``allowed_vendors``: a ban bars the sanctioned vendors for customers in a banned region
  AND a banned segment; data localisation bars vendors from outside CN only for CN
  customers in government or finance (not every CN customer, nor every government or
  finance customer anywhere).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cloudmarket.agents import economics
from cloudmarket.agents.learning import FOCUS_NAMES, FOCUS_PROFILES, RATES, SPLITS, Fixed, Imitate
from cloudmarket.agents.vendor import VendorBooks
from cloudmarket.model import policy
from cloudmarket.model.params import validated


class Choose(Fixed):
    """A rule that always picks the same targets: isolates what decide does with them."""

    def __init__(self, targets: dict[str, int]):
        self.targets = targets

    def next_targets(self, targets, payoff, rivals, rng):
        return dict(self.targets)


def books(rule=None, share=0.3, split=0.2, focus=(0.0,) * 5, **overrides) -> tuple[VendorBooks, object]:
    p = validated(overrides)
    return VendorBooks("acme", 0, "US", demand=100.0, spend_share=share, params=p, rule=rule or Fixed(), focus=focus,
                       split=split), p


# ---------------------------------------------------------------------- the price rule's input
@pytest.mark.parametrize("adjustment", [0.5, 1.0])
def test_decide_prices_new_business_from_its_new_business_share_not_the_installed_or_count_share(adjustment):
    v, p = books(price_adjustment=adjustment, price_weight=4.0)
    v.new_business_share, v.spend_share, v.customer_share = 0.45, 0.20, 0.10  # wins big deals, few of them
    v.unit_cost = 0.8
    before, recent_before = v.price, v.recent_new_business_share
    v.decide(p, rivals=[], rng=np.random.default_rng(0))
    recent = recent_before + 0.25 * (0.45 - recent_before)  # about a year's average of new business
    by_new = economics.adjust(before, economics.best_response_price(0.8, recent, 4.0), adjustment)
    by_spend = economics.adjust(before, economics.best_response_price(0.8, 0.20, 4.0), adjustment)
    by_count = economics.adjust(before, economics.best_response_price(0.8, 0.10, 4.0), adjustment)
    assert min(abs(by_new - by_spend), abs(by_new - by_count)) > 0.005  # the inputs give clearly different prices
    assert v.price == pytest.approx(by_new, rel=1e-12)


def test_decide_prices_renewals_from_retention():
    v, p = books(price_adjustment=1.0, price_weight=4.0)
    v.retention, v.unit_cost = 0.6, 0.8  # 40% of reviewed workloads left: an elastic installed base
    v.decide(p, rivals=[], rng=np.random.default_rng(0))
    assert v.renewal_price == pytest.approx(economics.best_response_price(0.8, 0.6, 4.0), rel=1e-12)


def test_cost_plus_keeps_the_starting_markup_over_this_quarters_cost():
    v, p = books(price_rule="cost-plus", price_adjustment=1.0)
    v.price_rule = "cost-plus"
    markup = v.markup
    v.unit_cost, v.spend_share = 0.9, 0.6  # shares play no part in cost-plus
    v.decide(p, rivals=[], rng=np.random.default_rng(0))
    assert v.price == pytest.approx(0.9 * (1.0 + markup), rel=1e-12)


# ---------------------------------------------------------------------- imitation
def test_imitate_copies_the_highest_margin_not_the_largest_absolute_margin():
    losing = (-0.6, {"iaas_investment_share": 0, "investment_rate": 0, "focus": 0})
    best = (0.25, {"iaas_investment_share": 4, "investment_rate": 3, "focus": 2})
    modest = (0.05, {"iaas_investment_share": 1, "investment_rate": 1, "focus": 1})
    for rivals in ([losing, best, modest], [best, modest, losing], [modest, losing, best]):
        chosen = Imitate(rate=1.0).next_targets({"iaas_investment_share": 2, "investment_rate": 2, "focus": 0}, 0.0, rivals,
                                                np.random.default_rng(0))
        assert chosen == best[1], rivals


def test_imitating_vendor_moves_toward_the_best_rivals_strategy():
    v, p = books(rule=Imitate(rate=1.0), split=0.5, strategy_inertia=1.0)
    rivals = [(-0.9, {"iaas_investment_share": 0, "investment_rate": 0, "focus": 0}),
              (0.2, {"iaas_investment_share": 4, "investment_rate": 4, "focus": FOCUS_NAMES.index("public-sector")})]
    v.decide(p, rivals, np.random.default_rng(0))
    assert v.iaas_investment_share == SPLITS[4] and v.investment_rate == RATES[4]
    np.testing.assert_allclose(v.focus, FOCUS_PROFILES["public-sector"])


def test_imitation_rate_zero_keeps_ones_own_targets():
    own = {"iaas_investment_share": 2, "investment_rate": 2, "focus": 0}
    assert Imitate(rate=0.0).next_targets(own, 0.0, [(0.9, {"iaas_investment_share": 4, "investment_rate": 4, "focus": 3})],
                                          np.random.default_rng(0)) == own


# ---------------------------------------------------------------------- inertia
@pytest.mark.parametrize("inertia", [0.25, 0.6])
def test_every_strategy_dimension_moves_only_strategy_inertia_of_the_way(inertia):
    target = {"iaas_investment_share": 4, "investment_rate": 4, "focus": FOCUS_NAMES.index("public-sector")}
    v, p = books(rule=Choose(target), split=0.2, focus=(0.0,) * 5, strategy_inertia=inertia, investment_rate=0.06)
    aim = {"iaas_investment_share": SPLITS[4], "investment_rate": RATES[4], "focus": np.array(FOCUS_PROFILES["public-sector"])}
    iaas, rate, focus = v.iaas_investment_share, v.investment_rate, v.focus.copy()
    assert (iaas, rate) == (0.2, 0.06) and not focus.any()
    rng = np.random.default_rng(0)
    for quarter in range(1, 4):
        v.decide(p, rivals=[], rng=rng)
        iaas, rate = iaas + inertia * (aim["iaas_investment_share"] - iaas), rate + inertia * (aim["investment_rate"] - rate)
        focus = focus + inertia * (aim["focus"] - focus)
        assert v.iaas_investment_share == pytest.approx(iaas, rel=1e-12), quarter
        assert v.investment_rate == pytest.approx(rate, rel=1e-12), quarter
        np.testing.assert_allclose(v.focus, focus, rtol=1e-12, err_msg=f"quarter {quarter}")
        # still short of the target on every dimension: nothing jumped there
        assert v.iaas_investment_share < aim["iaas_investment_share"] and v.investment_rate < aim["investment_rate"]
        assert (np.abs(v.focus - aim["focus"])[aim["focus"] > 0] > 1e-9).all()


def test_a_vendor_that_does_not_learn_keeps_its_strategy():
    v, p = books(rule=Choose({"iaas_investment_share": 4, "investment_rate": 4, "focus": 3}), strategy_inertia=1.0)
    v.learns = False
    before = (v.iaas_investment_share, v.investment_rate, v.focus.copy())
    v.decide(p, rivals=[], rng=np.random.default_rng(0))
    assert (v.iaas_investment_share, v.investment_rate) == before[:2] and (v.focus == before[2]).all()


# ---------------------------------------------------------------------- the policy masks, cell by cell
VENDORS = ("huawei", "alibaba", "aws", "azure", "others")
HOMES = ("CN", "CN", "US", "US", "*")
REGIONS = ("CN", "UK", "EU", "US")
SEGMENT_NAMES = ("large", "government", "telecom", "finance", "critical")


def customers():
    """One customer per region and per set of segments (none, each alone, government+finance, telecom+critical)."""
    memberships = [(), *[(s,) for s in SEGMENT_NAMES], ("government", "finance"), ("telecom", "critical")]
    rows = list(itertools.product(range(len(REGIONS)), memberships))
    region = np.array([r for r, _ in rows])
    segments = {s: np.array([s in m for _, m in rows]) for s in SEGMENT_NAMES}
    return region, segments, rows


def expected(rows, *, sanctioned, ban_regions, ban_segments, data_localization):
    """The rules of model/policy.py's doc written out per cell."""
    out = np.ones((len(rows), len(VENDORS)), dtype=bool)
    for i, (r, member) in enumerate(rows):
        region = REGIONS[r]
        banned = region in ban_regions and ("all" in ban_segments or any(s in ban_segments for s in member))
        localised = data_localization and region == "CN" and any(s in ("government", "finance") for s in member)
        for k, (name, home) in enumerate(zip(VENDORS, HOMES, strict=True)):
            if banned and name in sanctioned:
                out[i, k] = False
            if localised and home not in ("CN", "*"):
                out[i, k] = False
    return out


POLICIES = {
    "nothing": dict(sanctioned=["huawei"], ban_regions=[], ban_segments=["all"], data_localization=False),
    "ban UK+EU government": dict(sanctioned=["huawei"], ban_regions=["UK", "EU"], ban_segments=["government"],
                                 data_localization=False),
    "ban UK everyone": dict(sanctioned=["huawei", "alibaba"], ban_regions=["UK"], ban_segments=["all"],
                            data_localization=False),
    "ban US telecom+critical": dict(sanctioned=["huawei"], ban_regions=["US"], ban_segments=["telecom", "critical"],
                                    data_localization=False),
    "localisation only": dict(sanctioned=[], ban_regions=[], ban_segments=["all"], data_localization=True),
    "localisation and a ban": dict(sanctioned=["huawei"], ban_regions=["UK"], ban_segments=["finance"],
                                   data_localization=True),
}


@pytest.mark.parametrize("name", list(POLICIES))
def test_allowed_vendors_cell_by_cell(name):
    region, segments, rows = customers()
    rules = POLICIES[name]
    got = policy.allowed_vendors(VENDORS, HOMES, REGIONS, region, segments, **rules)
    want = expected(rows, **rules)
    wrong = [(REGIONS[rows[i][0]], rows[i][1] or "(no segment)", VENDORS[k], bool(got[i, k]))
             for i, k in zip(*np.nonzero(got != want), strict=True)]
    assert not wrong, f"cells that break the rule (region, segments, vendor, allowed): {wrong[:8]}"
    assert got[:, VENDORS.index("others")].all()  # every customer keeps a vendor


def test_localisation_bars_foreign_vendors_only_for_cn_government_and_finance():
    region, segments, rows = customers()
    got = policy.allowed_vendors(VENDORS, HOMES, REGIONS, region, segments, sanctioned=[], ban_regions=[],
                                 ban_segments=["all"], data_localization=True)
    aws = VENDORS.index("aws")
    for i, (r, member) in enumerate(rows):
        barred = REGIONS[r] == "CN" and bool({"government", "finance"} & set(member))
        assert got[i, aws] == (not barred), (REGIONS[r], member)
    # the mistakes this separates: every CN customer (`local`), or government anywhere (`local | segment`)
    cn_telecom = rows.index((REGIONS.index("CN"), ("telecom",)))
    uk_government = rows.index((REGIONS.index("UK"), ("government",)))
    assert got[cn_telecom, aws] and got[uk_government, aws]
    assert got[:, VENDORS.index("huawei")].all()  # CN-home vendors are never localised away
