"""The benchmark's baselines run the model's own rules, so the speed comparison is fair.

* The numpy floor (``benchmarks/floor.py``) reproduces CloudMarket's trajectory exactly
  from the same state and RNG: the same holdings, commitments, providers and tenure every
  quarter, the same collected vendor and market numbers, and the same random draws in the
  same order (the generators end in the same state).
* The idiomatic Mesa baseline (``benchmarks/idiomatic.py``) builds the same world, computes
  the same utilities (to round-off) and makes statistically the same choices as
  CloudMarket: (main vendor, chosen vendor) frequencies of new workloads from one state
  (chi-square), and final HHI, spend shares, migration and multi-homing over 20 seeds
  (paired Wilcoxon).
* The model given to ``mesa.batch_run`` in ``benchmarks/bench_batch.py``
  (``benchmarks/mesa_collected.py``) runs the same trajectory and its agent-type rows
  hold the same vendor table as ``CloudMarket.vendor_frame()``.

Speed is never asserted here: ``make bench`` reports it in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from benchmarks.floor import FloorMarket
from benchmarks.idiomatic import IdiomaticMarket
from benchmarks.mesa_collected import MesaCollectedMarket
from cloudmarket.model import CloudMarket, choice
from cloudmarket.model.market import MARKET_REPORTS, VENDOR_NUMBERS, VENDOR_REPORTS

POLICY = {"ban_regions": ["CN"], "ban_segments": ["government", "critical"],
          "export_control_severity": 0.5, "data_localization": True}
ALPHA = 0.001  # deterministic seeds: a failure is a real difference, not bad luck

FLOOR_CASES = {
    "defaults": ("china-2020", {}, 0),
    # every lever, in force from quarter 3, and an entrant in quarter 5
    "levers": ("china-2020", {**POLICY, "domestic_subsidy": 0.2, "policy_start": 3, "entrants": ["volcengine"],
                              "egress_fee_cap": 0.0, "commitment_discount_cap": 0.05, "interoperability": 0.5,
                              "switching_cost": 0.5}, 0),
    # the parent push and imitation, copied mid-run (the push's budget is already fixed)
    "push-mid-run": ("china-2020", {"cloud_push": 1.0, "cloud_push_vendors": ["huawei"], "cloud_push_quarters": 4,
                                    "learning_rule": "imitate", "imitation_rate": 0.5}, 3),
    # several regions (shares within each), the EU Data Act's dates, an entrant in quarter 10
    "global": ("global-2020", {"egress_schedule": "eu-data-act", "entrants": ["coreweave"]}, 10),
    "shrinking": ("china-2020", {"market_growth": -0.05}, 0),
}


@pytest.mark.parametrize("case", list(FLOOR_CASES))
def test_floor_reproduces_the_model(case):
    scenario, params, start = FLOOR_CASES[case]
    m = CloudMarket(scenario=scenario, n_customers=1200, rng=3, **params)
    if start:
        m.run_for(start)
    f = FloorMarket.from_model(m)
    for _ in range(8):
        m.step()
        f.step()
        base, twin = m.customer_base, f.customer_base
        assert np.array_equal(base.holdings, twin.holdings)
        assert np.array_equal(base.locked_until, twin.locked_until)
        assert np.array_equal(base.provider, twin.provider) and np.array_equal(base.tenure, twin.tenure)
        assert base.n_adopted == twin.n_adopted
    assert f.steps == m.steps == start + 8
    # the same random draws in the same order: the generators end in the same state
    assert f.rng.bit_generator.state == m.rng.bit_generator.state
    collected = np.stack(m.datacollector.model_vars["vendors"][start + 1:])
    assert np.array_equal(np.stack(f.vendor_records), collected, equal_nan=True)
    frame = m.market_frame().iloc[start + 1:]
    records = np.array(f.market_records)
    assert records[:, 0].tolist() == frame.step.tolist()
    assert np.array_equal(records[:, 1:], frame[list(MARKET_REPORTS)].to_numpy(dtype=float))
    for name in ("cash", "price", "renewal_price", "egress_fee", "commitment_discount", "iaas_gap", "targets"):
        assert [getattr(v, name) for v in m.vendors] == [getattr(v, name) for v in f.vendors], name
    if case == "levers":  # the case moves workloads and reaches the entrant: the comparison above saw both
        assert frame.migration_rate.sum() > 0 and m.vendor("volcengine").spend_share > 0


def test_floor_leaves_the_model_alone():
    m = CloudMarket(n_customers=500, rng=4)
    holdings, state = m.holdings.copy(), m.rng.bit_generator.state
    cash = [v.cash for v in m.vendors]
    f = FloorMarket.from_model(m)
    for _ in range(3):
        f.step()
    assert np.array_equal(m.holdings, holdings) and m.rng.bit_generator.state == state
    assert [v.cash for v in m.vendors] == cash and m.steps == 0
    assert not np.array_equal(f.holdings, holdings)


@pytest.fixture(scope="module")
def pair() -> tuple[CloudMarket, IdiomaticMarket]:
    """A CloudMarket and an IdiomaticMarket built from the same seed, with policy on."""
    return (CloudMarket(n_customers=1500, rng=11, **POLICY),
            IdiomaticMarket(n_customers=1500, rng=11, **POLICY))


def test_idiomatic_builds_the_same_world(pair):
    model, idiomatic = pair
    assert np.array_equal(model.holdings, idiomatic.holdings)
    assert np.array_equal(model.customer_base.locked_until, idiomatic.customer_base.locked_until)
    assert np.array_equal(model.intercepts, idiomatic.intercepts)
    assert [v.price for v in model.vendors] == [v.price for v in idiomatic.vendors]
    assert len(idiomatic.customers) == idiomatic.customer_base.n
    for c in idiomatic.customers[::25]:
        neighbours = sorted(a.index for a in c.cell.neighborhood.agents)
        assert neighbours == sorted(model.adjacency[[c.index]].indices.tolist())


def test_idiomatic_utilities_equal_the_models():
    """Agent by agent, each customer's utility of a new workload equals the vectorised one to round-off."""
    m = IdiomaticMarket(n_customers=600, rng=5, **POLICY)
    for _ in range(4):  # at the start and after quarters of new spend, migration and vendor changes
        m.customers_look(m.steps + 1)
        base = m.customer_base
        rows = np.flatnonzero(base.adopted)[::7]
        for i in rows:
            m.customers[i].look()
        by_agent = np.vstack([m.customers[i].new_workload_utility() for i in rows])
        np.testing.assert_allclose(by_agent, m.utility(rows), rtol=0, atol=1e-12)
        m.step()
    assert m.steps == 4 and m.market_frame().migration_rate.sum() > 0


def test_idiomatic_choices_have_the_models_distribution(pair):
    """From one state, every customer places a new workload 20 times both ways: same (main vendor,
    chosen vendor) frequencies, and both as the logit probabilities say."""
    _, m = pair
    repeats = 20
    base = m.customer_base
    m.customers_look(1)
    m.customer_agents.do("look")
    rows = np.flatnonzero(base.adopted)
    view = m.view
    allowed = None if view.allowed is None else view.allowed[rows]
    assert allowed is not None and not allowed.all()  # the bans are in force: the test sees them
    utility = base.new_workload_utility(rows, base.value_of(rows, view.offer, base.peer_shares()[rows]),
                                        view.offer, view.technical)
    rng = np.random.default_rng(2)
    vectorised = np.concatenate([choice.draw_choices(utility, rng, allowed) for _ in range(repeats)])
    saved = base.holdings.copy()
    by_agent = []
    for _ in range(repeats):
        for i in rows:
            by_agent.append(int(np.argmax(m.customers[i].place_workload(1.0))))
        base.holdings[:] = saved  # every repeat from the same state
    by_agent = np.array(by_agent)
    J = m.n_vendors
    current = np.tile(base.provider[rows], repeats)
    cells = lambda chosen: np.bincount(current * J + chosen, minlength=J * J)  # noqa: E731
    table = np.vstack([cells(vectorised), cells(by_agent)])
    table = table[:, table.sum(axis=0) >= 10]
    _, p_value, _, _ = stats.chi2_contingency(table)
    assert p_value > ALPHA, table
    probs = choice.choice_probabilities(utility, allowed).sum(axis=0) * repeats
    for chosen in (vectorised, by_agent):
        observed = np.bincount(chosen, minlength=J)
        keep = probs > 5
        _, p_fit = stats.chisquare(observed[keep], probs[keep] * observed[keep].sum() / probs[keep].sum())
        assert p_fit > ALPHA, (observed, probs)


def test_idiomatic_runs_match_the_models_over_seeds():
    """20 seeds x 8 quarters: final HHI, spend shares and multi-homing, and total migration agree (paired by seed).

    Both start from the same world (same seed); only the loop differs, so each paired
    difference is centred on zero if the two make the same choices in distribution.
    """
    outcomes = []
    for seed in range(20):
        runs = []
        for cls in (CloudMarket, IdiomaticMarket):
            m = cls(n_customers=400, rng=seed, switching_cost=0.5)
            m.run_for(8)
            market = m.market_frame()
            runs.append(np.array([market.hhi.iloc[-1], market.migration_rate.sum(), market.multihoming.iloc[-1],
                                  *(v.spend_share for v in m.vendors)]))
        outcomes.append(runs)
    outcomes = np.array(outcomes)  # (seeds, model / idiomatic, outcomes)
    assert outcomes[:, :, 1].min() > 0  # workloads migrated in every run: the comparison has something to see
    differences = outcomes[:, 1] - outcomes[:, 0]
    level = 0.01 / differences.shape[1]  # Bonferroni over the outcomes
    for k in range(differences.shape[1]):
        assert stats.wilcoxon(differences[:, k]).pvalue > level, (k, differences[:, k])


def test_batch_run_model_collects_the_same_vendor_table():
    ours = CloudMarket(n_customers=400, rng=5, **POLICY)
    theirs = MesaCollectedMarket(n_customers=400, rng=5, **POLICY)
    ours.run_for(4)
    theirs.run_for(4)
    rows = theirs.datacollector.get_agenttype_vars_dataframe(type(theirs.vendors[0])).reset_index(drop=True)
    frame = ours.vendor_frame()
    assert rows.vendor.tolist() == frame.vendor.tolist()
    assert set(VENDOR_REPORTS) <= set(rows.columns)
    for column in VENDOR_NUMBERS:
        assert np.array_equal(rows[column].to_numpy(dtype=float), frame[column].to_numpy(dtype=float),
                              equal_nan=True), column
    market = theirs.datacollector.get_model_vars_dataframe()
    for column in MARKET_REPORTS:
        assert market[column].tolist() == ours.market_frame()[column].tolist(), column
