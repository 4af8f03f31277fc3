"""The benchmark's baselines compute the model's rule, so the speed comparison is fair.

* The idiomatic Mesa baseline (``benchmarks/idiomatic.py``) builds the same world, computes
  the same utilities (to round-off) and makes statistically the same choices as
  CloudMarket: choice frequencies from one state (chi-square), and final HHI and churn
  over 20 seeds (paired Wilcoxon).
* The numpy floor (``benchmarks/floor.py``) reproduces CloudMarket's trajectory exactly
  from the same state and RNG.
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

POLICY = {"ban_regions": ["CN"], "ban_segments": ["government", "critical"],
          "export_control_severity": 0.5, "data_localization": True}
ALPHA = 0.001  # deterministic seeds: a failure is a real difference, not bad luck


@pytest.fixture(scope="module")
def pair() -> tuple[CloudMarket, IdiomaticMarket]:
    """A CloudMarket and an IdiomaticMarket built from the same seed, with policy on."""
    # a low switching cost makes many customers move, so the comparison has power
    return (CloudMarket(n_customers=1500, rng=11, switching_cost=0.5, **POLICY),
            IdiomaticMarket(n_customers=1500, rng=11, switching_cost=0.5, **POLICY))


def test_idiomatic_builds_the_same_world(pair):
    model, idiomatic = pair
    assert np.array_equal(model.provider, idiomatic.provider)
    assert np.array_equal(model.spend, idiomatic.spend)
    assert np.array_equal(model.intercepts, idiomatic.intercepts)
    for c in idiomatic.customers[:50]:
        neighbours = sorted(a.index for a in c.cell.neighborhood.agents)
        row = model.adjacency[[c.index]].indices
        assert neighbours == sorted(row.tolist())


def test_idiomatic_utilities_equal_the_models():
    """Deterministic check: agent-by-agent utilities equal the vectorised ones to round-off."""
    m = IdiomaticMarket(n_customers=600, rng=5, **POLICY)
    rows = np.array([0, 7, 99, 250, 333, 421, 512, 599])
    for _ in range(4):  # at the start and after quarters of choices, growth and vendor changes
        for i in range(m.n_customers):
            c = m.customers[i]
            assert c.vendor == m.provider[i] and c.annual_spend == m.spend[i]
        agent_u = np.array([m.customers[i].utilities() for i in rows])
        np.testing.assert_allclose(agent_u, m.utility(rows), rtol=0, atol=1e-12)
        m.step()
    assert m.steps == 4 and m.churn > 0


def test_idiomatic_choices_have_the_models_distribution(pair):
    """From one state, every customer chooses 20 times both ways: same (from, to) frequencies."""
    _, m = pair
    repeats = 20
    rows = np.arange(m.n_customers)
    allowed = m.allowed_vendors(True)
    allowed_lists = m.allowed_lists(True)
    rng = np.random.default_rng(2)
    utility = m.utility(rows)
    vectorised = np.concatenate([choice.draw_choices(utility, rng, allowed) for _ in range(repeats)])
    by_agent = np.array([m.customers[i].choose(allowed_lists[i]) for _ in range(repeats) for i in rows])
    J = m.n_vendors
    current = np.tile(m.provider, repeats)
    cells = lambda chosen: np.bincount(current * J + chosen, minlength=J * J)  # noqa: E731
    table = np.vstack([cells(vectorised), cells(by_agent)])
    table = table[:, table.sum(axis=0) >= 10]
    _, p_value, _, _ = stats.chi2_contingency(table)
    assert p_value > ALPHA, table
    # and both match the logit probabilities (goodness of fit per chosen vendor)
    probs = choice.choice_probabilities(utility, allowed).sum(axis=0) * repeats
    for chosen in (vectorised, by_agent):
        observed = np.bincount(chosen, minlength=J)
        keep = probs > 5
        _, p_fit = stats.chisquare(observed[keep], probs[keep] * observed[keep].sum() / probs[keep].sum())
        assert p_fit > ALPHA, (observed, probs)


def test_idiomatic_runs_match_the_models_over_seeds():
    """20 seeds x 8 quarters: final spend shares and total churn agree (paired by seed).

    Both start from the same world (same seed); only the review differs, so each paired
    difference is centred on zero if the two make the same choices in distribution.
    """
    shares, churn = [], []
    for seed in range(20):
        runs = []
        for cls in (CloudMarket, IdiomaticMarket):
            m = cls(n_customers=400, rng=seed, switching_cost=0.5)
            total = 0.0
            for _ in range(8):
                m.step()
                total += m.churn
            runs.append((np.array([v.spend_share for v in m.vendors]), total))
        shares.append(runs[1][0] - runs[0][0])
        churn.append(runs[1][1] - runs[0][1])
    shares = np.array(shares)
    level = 0.01 / (shares.shape[1] + 1)  # Bonferroni over vendors and churn
    for k in range(shares.shape[1]):
        assert stats.wilcoxon(shares[:, k]).pvalue > level, (k, shares[:, k])
    assert stats.wilcoxon(churn).pvalue > level, churn


@pytest.mark.parametrize("params", [{}, {**POLICY, "domestic_subsidy": 0.2, "policy_start": 3},
                                    {"cloud_push": 1.0, "cloud_push_vendors": ["huawei"], "cloud_push_quarters": 4,
                                     "learning_rule": "imitate", "imitation_rate": 0.5}])
def test_floor_reproduces_the_model(params):
    m = CloudMarket(n_customers=1200, rng=3, **params)
    f = FloorMarket.from_model(m)
    for _ in range(12):
        m.step()
        f.step()
        assert np.array_equal(m.provider, f.provider)
        assert np.array_equal(m.spend, f.spend) and np.array_equal(m.tenure, f.tenure)
    frame = m.market_frame()
    last = frame.iloc[-1]
    step, hhi, cr3, churn, instability, within, count_hhi = f.market_records[-1]
    assert step == last["step"] == 12
    np.testing.assert_allclose([hhi, cr3, churn, instability, within, count_hhi],
                               [last[k] for k in ("hhi", "cr3", "churn", "instability",
                                                  "within_industry_hhi", "count_hhi")], rtol=1e-12)
    for name in ("cash", "price", "investment_rate", "iaas_share", "capacity", "iaas_gap", "paas_gap"):
        assert [getattr(v, name) for v in m.vendors] == [getattr(v, name) for v in f.vendors], name
    assert [tuple(v.focus) for v in m.vendors] == [tuple(v.focus) for v in f.vendors]


def test_batch_run_model_collects_the_same_vendor_table():
    ours, theirs = CloudMarket(n_customers=400, rng=5, **POLICY), MesaCollectedMarket(n_customers=400, rng=5, **POLICY)
    ours.run_for(4)
    theirs.run_for(4)
    rows = theirs.datacollector.get_agenttype_vars_dataframe(type(theirs.vendors[0])).reset_index(drop=True)
    frame = ours.vendor_frame()
    for column in ("vendor", "share", "spend_share", "capacity", "revenue", "cash"):
        assert rows[column].tolist() == frame[column].tolist(), column
    assert theirs.datacollector.get_model_vars_dataframe().hhi.tolist() == ours.market_frame().hhi.tolist()
