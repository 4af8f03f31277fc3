"""The customer base: every enterprise customer as one row of arrays, and how customers choose.

The customers' rule lives here and only here. Utility of vendor j for customer i
(``model/ODD.md`` section 3.2; names as in ``model/params.py``)::

    u_ij = intercept_j
         + quality_weight * (need_i * iaas_gap_j + (1 - need_i) * paas_gap_j
                             + congestion_elasticity * ln min(1, capacity_j / demand_j))
         - price_weight * ln price_j
         + peer_weight * peer_ij                       (spend share of i's neighbours on j)
         + home_preference * [home_j == region_i]
         + focus_weight * sum_s [i in segment s] * sqrt(effort_js)
         - switching_cost * [j != current provider of i]

Each quarter the customers of one review cohort (contracts up for renewal) choose at once
among the vendors they may use: a multinomial-logit draw on that utility. The Mesa face
of each row is ``agents.customer.EnterpriseCustomer``; keeping the rows as arrays and the
behaviour in this class is the mesa-frames AgentSet pattern.

Example
-------
>>> from cloudmarket.model import CloudMarket
>>> m = CloudMarket(n_customers=300, rng=2)
>>> base = m.customer_base
>>> u = base.utility(0, m.offer())
>>> u.shape == (len(base.cohorts[0]), m.n_vendors)
True
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from cloudmarket.agents import SEGMENTS
from cloudmarket.model import choice


@dataclass(frozen=True)
class Offer:
    """What every vendor offers this quarter, as arrays over vendors (J,); focus_reach is (segments, J)."""

    intercepts: np.ndarray
    iaas_gap: np.ndarray
    paas_gap: np.ndarray
    log_congestion: np.ndarray
    log_price: np.ndarray
    focus_reach: np.ndarray


class CustomerBase:
    """Enterprise customers as arrays: attributes, provider, tenure, review cohorts; their choice rule.

    Parameters
    ----------
    params : Params
        The run's parameters (weights of the utility terms, review period).
    spend, iaas_need : float arrays (n,)
    region, industry, review_phase, tenure, provider : int arrays (n,)
    segments : dict segment name -> bool array (n,)
    home_match : bool array (n, J): vendor j is from customer i's region
    adjacency : scipy CSR (n, n): the industry graph
    """

    def __init__(self, params, *, spend, iaas_need, region, industry, segments, review_phase, tenure,
                 home_match, adjacency) -> None:
        self.params = params
        self.spend, self.iaas_need = spend, iaas_need
        self.region, self.industry = region, industry
        self.segments = segments
        self.review_phase, self.tenure = review_phase, tenure
        self.home_match = home_match
        self.adjacency = adjacency
        self.n, self.n_vendors = home_match.shape
        self.provider = np.zeros(self.n, dtype=np.int64)
        self.in_segment = np.column_stack([segments[s] for s in SEGMENTS]).astype(float)  # (n, segments)
        # The graph and review phases never change: each cohort's rows, its slice of the
        # adjacency and its fixed attributes are found once, not every time it reviews.
        self.cohorts = review_cohorts(review_phase, params.review_period)
        self._cohort_peers = [choice.peer_slice(adjacency, rows, self.n_vendors) for rows in self.cohorts]
        self._cohort_need = [iaas_need[rows] for rows in self.cohorts]
        self._cohort_home = [params.home_preference * home_match[rows] for rows in self.cohorts]
        self._cohort_segments = [self.in_segment[rows] for rows in self.cohorts]

    def copy(self, params=None) -> CustomerBase:
        """This customer base for another run (with ``params``): the fixed attributes, graph and
        cohorts are shared; provider, tenure and spend, which a run changes, are copied."""
        twin = copy.copy(self)
        twin.params = self.params if params is None else params
        twin.provider, twin.tenure, twin.spend = self.provider.copy(), self.tenure.copy(), self.spend.copy()
        return twin

    def shared_arrays(self) -> list:
        """The arrays :meth:`copy` shares between runs (fixed attributes, cohorts, graph slices' parts)."""
        return [self.iaas_need, self.region, self.industry, self.review_phase, self.home_match, self.in_segment,
                *self.segments.values(), *self.cohorts, *self._cohort_need, *self._cohort_home, *self._cohort_segments]

    # ------------------------------------------------------------------ the rule
    def utility(self, cohort: int, offer: Offer) -> np.ndarray:
        """Utility (cohort size, J) of every vendor for the customers of review cohort ``cohort``."""
        return self.utility_of(self.cohorts[cohort], offer, self._cohort_need[cohort], self._cohort_home[cohort],
                               self._cohort_segments[cohort], self._cohort_peers[cohort])

    def utility_of(self, rows: np.ndarray, offer: Offer, need=None, home=None, in_segment=None,
                   peers: choice.PeerSlice | None = None) -> np.ndarray:
        """Utility (len(rows), J) for any customers ``rows``; the formula of the module doc.

        The optional arguments are the rows' fixed attributes when the caller has them.
        """
        p = self.params
        need = self.iaas_need[rows] if need is None else need
        home = p.home_preference * self.home_match[rows] if home is None else home
        in_segment = self.in_segment[rows] if in_segment is None else in_segment
        if peers is None:
            peers = choice.peer_slice(self.adjacency, rows, self.n_vendors)
        need = need[:, None]
        # quality, congestion and price: vendor-level terms mixed by each customer's IaaS need
        u = need * offer.iaas_gap[None, :] + (1.0 - need) * offer.paas_gap[None, :]
        u += p.congestion_elasticity * offer.log_congestion
        u *= p.quality_weight
        u += offer.intercepts - p.price_weight * offer.log_price
        u += p.peer_weight * choice.peer_shares_of(peers, self.provider, self.spend, self.n_vendors)
        u += home
        u += p.focus_weight * (in_segment @ offer.focus_reach)
        u += choice.switching_penalty(np.take(self.provider, rows), self.n_vendors, p.switching_cost)
        return u

    def review(self, cohort: int, offer: Offer, allowed: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        """Customers of ``cohort`` choose a vendor (logit draw); returns the rows that switched.

        All choose against last quarter's peers and offers (synchronous update); a customer
        whose provider is no longer allowed for it must leave.
        """
        due = self.cohorts[cohort]
        self.tenure += 1
        if len(due) == 0:
            return due
        chosen = choice.draw_choices(self.utility(cohort, offer), rng, allowed)
        moved = chosen != np.take(self.provider, due)
        self.provider[due] = chosen
        switched = due[moved]
        self.tenure[switched] = 0
        return switched


def review_cohorts(review_phase: np.ndarray, period: int) -> list[np.ndarray]:
    """Rows of each review phase, ascending: cohort r reviews in quarters q with (q + r) % period == 0.

    >>> [c.tolist() for c in review_cohorts(np.array([1, 0, 1, 2]), 3)]
    [[1], [0, 2], [3]]
    """
    order = np.argsort(review_phase, kind="stable")
    bounds = np.searchsorted(review_phase[order], np.arange(period + 1))
    return [order[bounds[r]:bounds[r + 1]] for r in range(period)]
