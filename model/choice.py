"""Vectorised customer choice: multinomial logit over vendors, in pure numpy.

All customers that review in a quarter choose at once: utilities are an (n, J) array,
choices are drawn with the Gumbel-max trick (argmax of utility plus Gumbel noise is a draw
from the logit probabilities), and forbidden vendors get utility -inf. Nothing here knows
about Mesa, so it can be tested and benchmarked alone.

The utility itself (which terms, with which weights) lives in ``model/customers.py``.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> u = np.log(np.tile([0.7, 0.2, 0.1], (100_000, 1)))
>>> np.bincount(draw_choices(u, rng), minlength=3) / 100_000  # doctest: +SKIP
array([0.70, 0.20, 0.10])
"""

from __future__ import annotations

import hashlib

import numpy as np

# Up to this many rows, a logit draw finds each row's vendor with one argmax along the rows
# (measured at 6 vendors: 3.3 against 7.8 us at 250 rows, 8.9 against 12.9 us at 1,024);
# from about 2,000 rows on, J - 1 column passes cost less than the (rows, J) comparison
# argmax reads (28 against 32 us at 4,096 rows, 0.5 against 1.5 ms at 100,000).
FEW_ROWS = 1024


def masked(utility: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """Utility with forbidden vendors set to -inf (allowed is a bool array like utility)."""
    return utility if allowed is None else np.where(allowed, utility, -np.inf)


def choice_probabilities(utility: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """Logit probabilities row by row (numerically stable softmax over allowed vendors).

    >>> choice_probabilities(np.log(np.array([[1.0, 1.0, 2.0]]))).tolist()
    [[0.25, 0.25, 0.5]]
    """
    u = masked(utility, allowed)
    u = u - _row_max(u)[:, None]
    e = np.exp(u)
    return e / e.sum(axis=1, keepdims=True)


def draw_choices(utility: np.ndarray, rng: np.random.Generator,
                 allowed: np.ndarray | None = None) -> np.ndarray:
    """One logit draw per row over the allowed vendors: vendor j with probability exp(u_j) / sum_k exp(u_k).

    Sampled by the inverse of each row's cumulative distribution, with one uniform per
    row: the same distribution as argmax(utility + Gumbel noise), at one ``exp`` per
    element instead of two logarithms and a uniform (tests/test_fast_paths.py checks the
    frequencies against the logit probabilities). A vendor with probability 0 (not
    allowed) is never drawn. ``utility`` is not changed.

    >>> draw_choices(np.zeros((2, 3)), np.random.default_rng(1), np.array([[0, 1, 0], [1, 0, 0]], bool)).tolist()
    [1, 0]
    """
    # Row-wise work over a few vendors runs column by column: numpy's reductions along a
    # short last axis cost several times more than J whole-column operations.
    weights = masked(utility, allowed)
    weights = weights - _row_max(weights)[:, None]
    np.exp(weights, out=weights)
    for j in range(1, weights.shape[1]):  # cumulative weights, in place
        weights[:, j] += weights[:, j - 1]
    # a point in (0, total] of each row: the first vendor whose cumulative weight reaches it
    # has positive weight, and the last cumulative weight is the total, so one always does
    point = (1.0 - rng.random(len(weights))) * weights[:, -1]
    if len(weights) <= FEW_ROWS:  # the first vendor that reaches it: one argmax along the rows
        return (weights >= point[:, None]).argmax(axis=1)
    chosen = np.zeros(len(weights), dtype=np.intp)
    for j in range(weights.shape[1] - 1):  # vendors whose cumulative weight is short of the point: the same index
        chosen += weights[:, j] < point
    return chosen


def _row_max(values: np.ndarray) -> np.ndarray:
    """Largest value of each row of a (n, J) array, column by column."""
    largest = values[:, 0].copy()
    for j in range(1, values.shape[1]):
        np.maximum(largest, values[:, j], out=largest)
    return largest


def row_argmax(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column of the largest value of each row (the first one on ties, as ``argmax``) and that value.

    ``argmax`` along the rows and a gather: unlike ``max`` along a short last axis, numpy's
    ``argmax`` there is fast (measured: 4.5 against 23 us for the column-by-column loop at
    250 x 6, 32 against 71 ms at 1M rows).

    >>> main, largest = row_argmax(np.array([[1.0, 3.0, 3.0], [0.0, 0.0, 0.0], [2.0, 1.0, 0.5]]))
    >>> main.tolist(), largest.tolist()
    ([1, 0, 0], [3.0, 0.0, 2.0])
    """
    main = values.argmax(axis=1)
    return main, values[np.arange(len(values)), main]


def berry_intercepts(target_shares: np.ndarray, weights: np.ndarray, fixed_utility: np.ndarray,
                     allowed: np.ndarray | None = None, tol: float = 1e-10,
                     max_iter: int = 5000, start: np.ndarray | None = None) -> np.ndarray:
    """Vendor intercepts that make expected spend shares equal ``target_shares``.

    Solves ln(target) = ln(predicted(intercepts)), where ``fixed_utility`` (n, J) holds
    every other utility term, so the intercepts are "adjusted for the other terms". The
    last vendor's intercept is normalised to 0. Newton steps on the log shares (the
    Jacobian of logit shares is known in closed form) converge in a handful of
    iterations. The first step, and any step after one that failed to shrink the
    largest log gap, is Berry's (1994) contraction, intercept += ln(target) -
    ln(predicted), which always converges (about 50 iterations alone at this tolerance).
    Stops when the largest log gap is below ``tol``. ``start`` (intercepts of a nearby
    problem) starts the search there instead of at ln(target).

    >>> w = np.ones(4); X = np.zeros((4, 3))
    >>> d = berry_intercepts(np.array([0.5, 0.3, 0.2]), w, X)
    >>> np.round(d - d[-1], 4).tolist() == np.round(np.log([2.5, 1.5, 1.0]), 4).tolist()
    True
    """
    target = np.asarray(target_shares, dtype=float)
    w = np.asarray(weights, dtype=float) / np.sum(weights)
    log_target = np.log(np.maximum(target, 1e-300))
    delta = log_target.copy() if start is None else np.array(start, dtype=float)
    last_gap = np.inf
    for _ in range(max_iter):
        probabilities = choice_probabilities(fixed_utility + delta, allowed)
        predicted = np.maximum(w @ probabilities, 1e-300)
        gap = log_target - np.log(predicted)
        largest = np.max(np.abs(gap))
        if largest < tol:
            break
        step = gap  # Berry's contraction: exact when customers differ only in intercepts
        if largest < last_gap < np.inf:
            # d ln s_j / d delta_k = [j == k] - sum_i w_i P_ij P_ik / s_j; fix the last intercept
            jacobian = np.eye(len(delta)) - (probabilities.T * w) @ probabilities / predicted[:, None]
            try:
                step = np.append(np.linalg.solve(jacobian[:-1, :-1], gap[:-1]), 0.0)
            except np.linalg.LinAlgError:
                pass
            if not np.all(np.isfinite(step)):
                step = gap
        last_gap = largest
        delta = delta + step
    return delta - delta[-1]


def steady_state_intercepts(shares: np.ndarray, weights: np.ndarray, fixed_utility: np.ndarray,
                            migration: tuple | None = None, rounds: int = 4) -> np.ndarray:
    """Intercepts under which the first quarter's expected new spend, net of expected migration, keeps ``shares``.

    Without ``migration``, Berry's inversion of the new spend alone (:func:`berry_intercepts`).
    With ``migration = (stay_or_move, amount, current, growth)``, the workloads due for
    review (``stay_or_move``: their utility of staying with vendor ``current`` or moving to
    each vendor, before intercepts; ``amount``: their spend) move as the logit says, and
    new spend (``growth`` in all) must make up the net flow: the target shares of new
    spend are ``shares - net migration / growth`` (at most half of any share), a fixed
    point found in ``rounds`` rounds, each starting from the last round's intercepts.

    >>> shares, w, X = np.array([0.5, 0.3, 0.2]), np.ones(4), np.zeros((4, 3))
    >>> bool(np.allclose(steady_state_intercepts(shares, w, X), berry_intercepts(shares, w, X)))
    True
    >>> leave = (np.array([[-50.0, 0.0, -50.0]] * 2), np.full(2, 0.05), np.array([0, 0]), 1.0)  # 0 -> 1, surely
    >>> bool(steady_state_intercepts(shares, w, X, leave)[0] > berry_intercepts(shares, w, X)[0])  # new spend makes up
    True
    """
    intercepts = berry_intercepts(shares, weights, fixed_utility)
    if migration is None:
        return intercepts
    stay_or_move, amount, current, growth = migration
    for _ in range(rounds):
        moving = choice_probabilities(stay_or_move + intercepts) * amount[:, None]
        net = moving.sum(axis=0) - np.bincount(current, weights=amount, minlength=len(shares))
        # new business can offset migration only so far: at most half of any share
        correction = net / growth
        scale = min(1.0, 0.5 * float(np.min(shares / np.maximum(np.abs(correction), 1e-300))))
        target = shares - scale * correction
        intercepts = berry_intercepts(target / target.sum(), weights, fixed_utility, start=intercepts)
    return intercepts


def digest(*values) -> str:
    """A digest of arrays and numbers, bit for bit: equal digests, equal inputs (for memoising pure functions).

    >>> digest(np.array([1.0, 2.0]), 3.0) == digest(np.array([1.0, 2.0]), 3.0) != digest(np.array([1.0, 2.5]), 3.0)
    True
    """
    h = hashlib.sha256()
    for value in values:
        array = np.ascontiguousarray(value)
        h.update(f"{array.dtype.str}{array.shape}".encode())
        h.update(array.tobytes())
    return h.hexdigest()


def rebalance(provider: np.ndarray, spend: np.ndarray, target_shares: np.ndarray,
              allowed: np.ndarray | None = None, tol: float = 0.002, max_rounds: int = 1_000,
              owner: np.ndarray | None = None) -> np.ndarray:
    """Move items (customers or workloads) between vendors until realised spend shares are within tol.

    A finite, heavy-tailed sample drawn from the calibrated logit misses the target
    shares by sampling noise (about 2 points at 2,000 customers); this repair moves items
    from the most over-served vendor to the most under-served one, respecting
    ``allowed``: in each round the first items of the over-served vendor, in their
    (random) order, whose spend adds up to no more than the smaller of the two gaps, or
    else the one item whose spend best fits it. A round is one pass over the items, so a
    market of millions of workloads is repaired in a few dozen passes. Moves must shrink
    both gaps, so the loop ends and never makes the fit worse. Returns a new array.

    With ``owner`` (the firm each item belongs to), the items of firms that already hold
    something with the under-served vendor go first: the repair then moves spend between
    vendors a firm already uses, and adds as few new vendor relationships (multi-homing)
    as the gaps allow, instead of one for almost every item it moves.

    >>> p = rebalance(np.array([0, 0, 0, 0]), np.ones(4), np.array([0.5, 0.5]))
    >>> np.bincount(p).tolist()
    [2, 2]
    >>> rebalance(np.array([0, 0, 1, 0]), np.ones(4), np.array([0.5, 0.5]), owner=np.array([0, 1, 1, 2])).tolist()
    [0, 1, 1, 0]
    """
    provider = provider.copy()
    if owner is not None:  # items per firm and vendor, kept up to date as items move
        n_firms, n_vendors = int(owner.max()) + 1, len(target_shares)
        holds = np.bincount(owner * n_vendors + provider, minlength=n_firms * n_vendors).reshape(n_firms, n_vendors)
    total = spend.sum()
    realised = np.bincount(provider, weights=spend, minlength=len(target_shares)) / total
    for _ in range(max_rounds):
        gap = realised - target_shares
        over, under = int(np.argmax(gap)), int(np.argmin(gap))
        if gap[over] < tol and -gap[under] < tol:
            break
        movable = provider == over
        if allowed is not None:
            movable &= allowed[:, under]
        candidates = np.flatnonzero(movable)
        if owner is not None:  # firms that already use `under` first, each group in item order
            known = (holds[:, under] > 0)[owner[candidates]]
            candidates = np.concatenate([candidates[known], candidates[~known]])
        if len(candidates) == 0:
            break
        want = min(gap[over], -gap[under]) * total
        filled = np.cumsum(spend[candidates])
        k = int(np.searchsorted(filled, want, side="right"))  # items that fit within the gap, in order
        if k > 0:
            picked = candidates[:k]
        else:
            picked = candidates[[np.argmin(np.abs(spend[candidates] - want))]]
        moved = spend[picked].sum() / total
        # Only moves that shrink the two gaps: guarantees the loop ends (no ping-pong of
        # one large item between two vendors) and never makes the fit worse.
        if abs(gap[over] - moved) + abs(gap[under] + moved) >= gap[over] - gap[under]:
            break
        provider[picked] = under
        if owner is not None:
            moved_items = np.bincount(owner[picked], minlength=n_firms)
            holds[:, over] -= moved_items
            holds[:, under] += moved_items
        realised[over] -= moved
        realised[under] += moved
    return provider
