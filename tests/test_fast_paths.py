"""The model's fast paths compute exactly what the plain formulas compute.

Each shortcut taken for speed (cohorts found once at build, numpy's weighted draw without its checks, the in-place Roth-Erev update)
is compared here with the straightforward version it replaced, bit for bit; the logit draw, which samples
differently from its plain form (argmax of utility plus Gumbel noise), by its frequencies.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from cloudmarket.agents.learning import MENUS, RothErev, draw_index, draw_weighted
from cloudmarket.model import CloudMarket, choice
from cloudmarket.model.customers import review_cohorts


@settings(max_examples=200, deadline=None)
@given(weights=st.lists(st.floats(0.0, 50.0), min_size=1, max_size=8).filter(lambda w: sum(w) > 1e-3),
       seed=st.integers(0, 2**32 - 1))
def test_draw_index_is_numpy_choice(weights, seed):
    p = np.asarray(weights) / np.sum(weights)
    ours, numpys = np.random.default_rng(seed), np.random.default_rng(seed)
    for _ in range(5):
        assert draw_index(p, ours) == numpys.choice(len(p), p=p)
    assert ours.random() == numpys.random()  # the same number of draws was taken


@settings(max_examples=200, deadline=None)
@given(weights=st.lists(st.floats(0.0, 50.0), min_size=1, max_size=8), seed=st.integers(0, 2**32 - 1))
def test_draw_weighted_is_draw_index_of_the_normalised_weights(weights, seed):
    total = sum(weights)  # the weights are non-negative: they sum to 0 only when all are 0
    p = [1.0 / len(weights)] * len(weights) if total <= 0 else RothErev._probabilities(weights)
    ours, reference = np.random.default_rng(seed), np.random.default_rng(seed)
    for _ in range(5):
        assert draw_weighted(weights, ours) == draw_index(p, reference)
    assert ours.random() == reference.random()  # the same number of draws was taken


def _roth_erev_reference(rule, targets, payoff, rng):
    """Roth-Erev as first written: a full gain vector added to the decayed propensities, per menu."""
    reward = max(float(payoff), 0.0)
    chosen = {}
    for name, k in targets.items():
        size = len(MENUS[name])
        gain = np.zeros(size)
        neighbours = [i for i in (k - 1, k + 1) if 0 <= i < size]
        gain[k] = reward * (1.0 - rule.experimentation)
        for i in neighbours:
            gain[i] = reward * rule.experimentation / len(neighbours)
        rule.propensity[name] = (1.0 - rule.recency) * np.asarray(rule.propensity[name]) + gain
        chosen[name] = int(rng.choice(size, p=rule.probabilities(name)))
    return chosen


@settings(max_examples=50, deadline=None)
@given(payoffs=st.lists(st.floats(-2.0, 5.0), min_size=1, max_size=40),
       recency=st.floats(0.0, 0.9), experimentation=st.floats(0.0, 0.9), seed=st.integers(0, 10_000))
def test_roth_erev_matches_the_reference_update(payoffs, recency, experimentation, seed):
    fast, slow = RothErev(recency, experimentation), RothErev(recency, experimentation)
    rng_fast, rng_slow = np.random.default_rng(seed), np.random.default_rng(seed)
    targets = {"iaas_investment_share": 2, "investment_rate": 0, "focus": 4}
    for payoff in payoffs:
        got, expected = fast.next_targets(targets, payoff, [], rng_fast), _roth_erev_reference(slow, targets, payoff, rng_slow)
        assert got == expected
        for name in MENUS:
            np.testing.assert_array_equal(fast.propensity[name], slow.propensity[name])
        targets = got


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 300), period=st.integers(1, 9), seed=st.integers(0, 10_000))
def test_review_cohorts_are_the_rows_due_each_quarter(n, period, seed):
    phase = np.random.default_rng(seed).integers(0, period, size=n)
    cohorts = review_cohorts(phase, period)
    for quarter in range(1, 2 * period + 1):
        due = np.flatnonzero((quarter + phase) % period == 0)
        np.testing.assert_array_equal(cohorts[-quarter % period], due)


def test_vendor_frame_holds_the_vendors_state_at_each_step():
    m = CloudMarket(n_customers=300, rng=2)
    m.run_for(2)
    frame = m.vendor_frame()
    last = frame[frame.step == 2].set_index("vendor")
    for v in m.vendors:
        assert last.loc[v.name, "capacity"] == v.capacity
        assert last.loc[v.name, "iaas_investment_share"] == v.iaas_investment_share
        assert last.loc[v.name, "congestion"] == v.congestion
    assert frame.step.tolist() == [s for s in range(3) for _ in m.vendors]
    assert frame.period.iloc[0] == "2020Q3" and frame.period.iloc[-1] == "2021Q1"


@settings(max_examples=100, deadline=None)
@given(bounds=st.lists(st.tuples(st.integers(1, 2**40), st.integers(0, 40)), max_size=30),
       warm=st.integers(0, 3), seed=st.integers(0, 2**32 - 1))
def test_one_bounded_draw_per_bound_equals_a_call_per_block(bounds, warm, seed):
    """sample_edges draws every cross-industry block's ends in one call with an array of bounds."""
    one, many = np.random.default_rng(seed), np.random.default_rng(seed)
    one.integers(0, 7, warm), many.integers(0, 7, warm)  # odd numbers of 32-bit draws before
    highs = [h for h, _ in bounds]
    sizes = [m for _, m in bounds]
    batched = one.integers(0, np.repeat(np.array(highs, dtype=np.int64), sizes))
    separate = [many.integers(0, h, m) for h, m in bounds]
    np.testing.assert_array_equal(batched, np.concatenate([np.zeros(0, np.int64), *separate]))
    assert one.random() == many.random()  # and the generator is left in the same state


def _edges_block_by_block(industry, io_weights, avg_degree, within, rng):
    """sample_edges as first written: one draw per industry pair, edges joined with np.unique."""
    n, k = len(industry), io_weights.shape[0]
    members = [np.flatnonzero(industry == b) for b in range(k)]
    sizes = np.array([len(m) for m in members], dtype=float)
    total, chunks = avg_degree * n / 2.0, []

    def pairs(a, b, m):
        return np.column_stack([a[rng.integers(0, len(a), m)], b[rng.integers(0, len(b), m)]])

    for b in range(k):
        if sizes[b] >= 2:
            chunks.append(pairs(members[b], members[b], rng.poisson(within * total * sizes[b] / n)))
    iu = np.triu_indices(k, 1)
    mass = (io_weights * np.outer(sizes, sizes))[iu]
    if mass.sum() > 0:
        for a, b, m in zip(*iu, rng.poisson((1.0 - within) * total * mass / mass.sum()), strict=True):
            if m and sizes[a] and sizes[b]:
                chunks.append(pairs(members[a], members[b], m))
    if not chunks:
        return np.zeros((0, 2), dtype=np.int64)
    edges = np.sort(np.concatenate(chunks), axis=1)
    return np.unique(edges[edges[:, 0] != edges[:, 1]], axis=0)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 400), avg_degree=st.floats(0.5, 12.0), within=st.floats(0.0, 1.0),
       few_industries=st.booleans(), seed=st.integers(0, 10_000))
def test_sample_edges_is_the_block_by_block_draw(n, avg_degree, within, few_industries, seed):
    from cloudmarket.model import industry_graph

    rng = np.random.default_rng(seed)
    industry = rng.integers(0, 3 if few_industries else industry_graph.N_INDUSTRIES, size=n)
    weights = industry_graph.io_link_weights()
    fast, slow = np.random.default_rng(seed + 1), np.random.default_rng(seed + 1)
    got = industry_graph.sample_edges(industry, weights, avg_degree, within, fast)
    expected = _edges_block_by_block(industry, weights, avg_degree, within, slow)
    np.testing.assert_array_equal(got, expected.reshape(-1, 2))
    assert fast.random() == slow.random()


def _berry_contraction(target, weights, fixed, allowed=None, tol=1e-12):
    """Berry's contraction alone, as the model first used it."""
    w, delta = weights / weights.sum(), np.log(target)
    for _ in range(100_000):
        gap = np.log(target) - np.log(w @ choice.choice_probabilities(fixed + delta, allowed))
        delta = delta + gap
        if np.max(np.abs(gap)) < tol:
            break
    return delta - delta[-1]


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 300), J=st.integers(2, 8), spread=st.floats(0.0, 4.0), masked=st.booleans(),
       seed=st.integers(0, 10_000))
def test_newton_inversion_finds_berrys_intercepts(n, J, spread, masked, seed):
    rng = np.random.default_rng(seed)
    fixed, weights = rng.normal(0.0, spread, (n, J)), rng.lognormal(0.0, 1.5, n)
    allowed = rng.random((n, J)) > 0.3 if masked else None
    if allowed is not None:
        allowed[:, 0] = True
        allowed[rng.integers(0, n), :] = True  # every vendor reachable by someone
    truth = rng.normal(0.0, 1.0, J)  # shares some intercepts give: a target that can be reached
    target = (weights / weights.sum()) @ choice.choice_probabilities(fixed + truth, allowed)
    got = choice.berry_intercepts(target, weights, fixed, allowed)
    np.testing.assert_allclose(got, truth - truth[-1], atol=1e-7)
    predicted = (weights / weights.sum()) @ choice.choice_probabilities(fixed + got, allowed)
    np.testing.assert_allclose(predicted, target, rtol=1e-9)
    np.testing.assert_allclose(got, _berry_contraction(target, weights, fixed, allowed), atol=1e-7)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_logit_draws_follow_the_logit_probabilities(seed):
    """draw_choices samples each row's logit distribution over the allowed vendors (chi-square on
    20,000 draws of each of four rows, one with a forbidden vendor); forbidden vendors never come."""
    rng = np.random.default_rng(seed)
    J, draws = 6, 20_000
    utility = rng.normal(0.0, 1.5, (4, J))
    allowed = np.ones((4, J), dtype=bool)
    allowed[1, [0, 3]] = False
    chosen = choice.draw_choices(np.repeat(utility, draws, axis=0), rng, np.repeat(allowed, draws, axis=0))
    probabilities = choice.choice_probabilities(utility, allowed)
    for row in range(4):
        observed = np.bincount(chosen[row * draws:(row + 1) * draws], minlength=J)
        assert observed[~allowed[row]].sum() == 0
        keep = allowed[row]
        _, p_value = stats.chisquare(observed[keep], probabilities[row, keep] * draws)
        assert p_value > 1e-4, (row, observed, probabilities[row] * draws)


def test_logit_draws_take_one_uniform_per_row_and_leave_the_utility_alone():
    utility = np.random.default_rng(5).normal(size=(7, 4))
    saved = utility.copy()
    ours, reference = np.random.default_rng(9), np.random.default_rng(9)
    choice.draw_choices(utility, ours)
    reference.random(7)
    assert ours.random() == reference.random()
    np.testing.assert_array_equal(utility, saved)


@pytest.mark.parametrize("n_customers", [200, 1500])
def test_multihoming_counts_the_same_along_rows_and_by_columns(n_customers, monkeypatch):
    from cloudmarket.model import customers

    m = CloudMarket(n_customers=n_customers, rng=4, customer_agents=False)
    m.run_for(3)
    held = m.holdings[:m.customer_base.n_adopted]
    expected = np.count_nonzero(np.count_nonzero(held > 0, axis=1) >= 2) / len(held)
    for small in (0, 10**9):  # every market by columns, then every market along rows
        monkeypatch.setattr(customers, "SMALL_ROWS", small)
        assert m.customer_base.multihoming() == expected
    assert 0.0 < expected < 1.0


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 300), J=st.integers(1, 7), spread=st.floats(0.1, 30.0), masked=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_logit_draws_pick_the_same_vendor_by_argmax_and_by_columns(n, J, spread, masked, seed):
    """A few rows find each row's vendor with one argmax, many rows by column passes: the same index."""
    gen = np.random.default_rng(seed)
    utility = gen.normal(scale=spread, size=(n, J))
    allowed = None
    if masked:
        allowed = gen.random((n, J)) < 0.6
        allowed[np.arange(n), gen.integers(0, J, size=n)] = True  # every row may buy from someone
    draws = []
    for few in (10**9, 0):  # every draw by argmax, then every draw by columns
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(choice, "FEW_ROWS", few)
            draws.append(choice.draw_choices(utility, np.random.default_rng(seed), allowed))
    np.testing.assert_array_equal(draws[0], draws[1])
    if allowed is not None:
        assert allowed[np.arange(n), draws[0]].all()
