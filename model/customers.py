"""The customer base: every firm as one row of arrays, what it holds with whom, and how it chooses.

The customers' rules live here and only here (``model/ODD.md`` section 3.2; names as in
``model/params.py``). A customer holds workloads (annual spend) with one or more vendors
(``holdings[i, j]``). What a vendor offers enters through one value, common to new and
installed workloads::

    v_ij = intercept_j
         + quality_weight * (need_i * iaas_gap_j + (1 - need_i) * paas_gap_j
                             + congestion_elasticity * ln min(1, capacity_j / demand_j))
         + peer_weight * peer_ij                  (share of i's neighbours' spend held with j)
         + home_preference * [home_j == region_i]
         + focus_weight * sum_s [i in segment s] * sqrt(effort_js)

Each quarter (``t`` = 1 - interoperability while policy is in force, else 1):

1. **New adopters** (firms on the cloud for the first time) come from the pool of
   prospects, in a random order drawn with the population, until their spend fills the
   adopters' part of the market's growth.
2. **New spend is placed by a logit choice**: every customer's growth (its share of the
   rest of the market's growth) and every adopter's first spend goes, as one new workload,
   to the vendor drawn from::

       u_ij = v_ij - price_weight * ln price_j - t * multicloud_cost * [i holds nothing with j]

3. **Installed workloads migrate rarely.** The customers whose contracts come up
   (one review cohort a quarter) review each workload not locked in by a commitment; the
   workload with vendor k stays or moves whole to vendor j, by a logit draw over::

       stay:    v_ik - price_weight * ln(renewal_price_k * (1 - take_up_k * discount_k))
       move j:  u_ij - t * switching_cost - price_weight * ln(1 + egress_k * 4 / review_period)

   (the egress fee is paid once, to k, and spread over the contract it buys; a workload
   whose vendor is no longer allowed for it must move, even from under a commitment). A workload that stays, or
   arrives, then commits with probability ``take_up = discount / (discount +
   flexibility_premium)``, and is locked in for ``commitment_term`` quarters.

The Mesa face of each row is ``agents.customer.EnterpriseCustomer``; keeping the rows as
arrays and the behaviour in this class is the mesa-frames AgentSet pattern.

Example
-------
>>> from cloudmarket.model import CloudMarket
>>> m = CloudMarket(n_customers=300, rng=2)
>>> base = m.customer_base
>>> u = base.utility_of(base.cohorts[0][:5], m.offer())
>>> u.shape == (5, m.n_vendors)
True
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from cloudmarket.agents import SEGMENTS
from cloudmarket.model import choice

UNLOCKED = 0  # locked_until of a workload under no commitment


@dataclass(frozen=True)
class Offer:
    """What every vendor offers this quarter, as arrays over vendors (J,); focus_reach is (segments, J).

    The customer base reads vendors through this, and :meth:`from_vendors` is the one place
    their numbers are turned into the terms the utility uses (logs, square roots, take-up).
    """

    intercepts: np.ndarray
    iaas_gap: np.ndarray
    paas_gap: np.ndarray
    log_congestion: np.ndarray  # ln min(1, capacity / demand): 0 when uncongested, negative when overloaded
    log_price: np.ndarray  # new business
    log_renewal_price: np.ndarray  # renewal, net of the expected committed-spend discount
    egress_fee: np.ndarray  # share of a leaving workload's annual spend
    take_up: np.ndarray  # chance a renewing workload commits
    focus_reach: np.ndarray

    @classmethod
    def from_vendors(cls, vendors, intercepts: np.ndarray, flexibility_premium: float) -> Offer:
        """The offer of ``vendors`` (CloudVendor or VendorBooks, in column order)."""
        discount = np.array([v.commitment_discount for v in vendors])
        take_up = commitment_take_up(discount, flexibility_premium)
        return cls(
            intercepts=np.array(intercepts, dtype=float),  # a copy: the offer is this quarter's, fixed
            iaas_gap=np.array([v.iaas_gap for v in vendors]),
            paas_gap=np.array([v.paas_gap for v in vendors]),
            log_congestion=np.log([v.capacity_ratio for v in vendors]),
            log_price=np.log([v.price for v in vendors]),
            log_renewal_price=np.log([v.renewal_price for v in vendors]) + np.log1p(-take_up * discount),
            egress_fee=np.array([v.egress_fee for v in vendors]),
            take_up=take_up,
            focus_reach=np.sqrt(np.maximum(np.column_stack([v.focus for v in vendors]), 0.0)),
        )


def commitment_take_up(discount: np.ndarray, flexibility_premium: float) -> np.ndarray:
    """Chance a renewing workload commits: discount / (discount + flexibility_premium); 0 with no discount.

    >>> np.round(commitment_take_up(np.array([0.0, 0.1, 0.3]), 0.1), 6).tolist()
    [0.0, 0.5, 0.75]
    """
    discount = np.asarray(discount, dtype=float)
    return discount / (discount + flexibility_premium)


@dataclass
class Review:
    """What one quarter's review of installed workloads did (arrays over vendors, J)."""

    reviewed: np.ndarray  # spend reviewed, by the vendor it was with
    moved_out: np.ndarray  # spend that left each vendor
    egress_income: np.ndarray  # egress fees paid to each vendor (a quarter's money)
    moved: float  # spend that moved, in all
    full_switchers: int  # customers that moved all their installed spend

    def retention(self, k: int) -> float | None:
        """Share of vendor k's reviewed spend that stayed; None when none was reviewed."""
        return None if self.reviewed[k] <= 0 else 1.0 - self.moved_out[k] / self.reviewed[k]

    def rates(self, n_before: int, installed: float) -> tuple[float, float]:
        """(switch_rate, migration_rate) of the quarter: the share of the ``n_before`` firms on the
        cloud before it that moved all their installed spend, and the share of the ``installed``
        spend that moved.

        >>> Review(np.zeros(2), np.zeros(2), np.zeros(2), moved=3.0, full_switchers=1).rates(4, 60.0)
        (0.25, 0.05)
        """
        return self.full_switchers / max(n_before, 1), self.moved / installed if installed > 0 else 0.0


class CustomerBase:
    """Firms as arrays: attributes, holdings, commitments, review cohorts, adoption; their choice rules.

    Rows ``0 .. n_customers - 1`` are on the cloud at the start; the rest are prospects, in
    the random order they will adopt.

    Parameters
    ----------
    params : Params
        The run's parameters (weights of the utility terms, review period, costs).
    spend : float array (N,)
        Annual cloud spend: today's for customers, the first year's for prospects.
    iaas_need : float array (N,)
    region, industry, review_phase, tenure : int arrays (N,)
    segments : dict segment name -> bool array (N,)
    home_match : bool array (N, J): vendor j is from customer i's region
    adjacency : scipy CSR (N, N): the industry graph
    n_customers : int
        How many rows are on the cloud at the start.
    """

    def __init__(self, params, *, spend, iaas_need, region, industry, segments, review_phase, tenure,
                 home_match, adjacency, n_customers: int) -> None:
        self.params = params
        self.size = spend  # the spend each firm brings when it adopts
        self.iaas_need = iaas_need
        self.region, self.industry = region, industry
        self.segments = segments
        self.review_phase, self.tenure = review_phase, tenure
        self.home_match = home_match
        self.adjacency = adjacency
        self.n, self.n_vendors = home_match.shape
        self.n_customers = n_customers
        self.holdings = np.zeros((self.n, self.n_vendors))
        self.locked_until = np.zeros((self.n, self.n_vendors), dtype=np.int32)
        self.adopted = np.arange(self.n) < n_customers
        self.n_adopted = n_customers
        self.provider = np.full(self.n, -1, dtype=np.int64)  # main vendor (largest holding); -1 before adopting
        self.in_segment = np.column_stack([segments[s] for s in SEGMENTS]).astype(float)  # (N, segments)
        self.home_term = params.home_preference * home_match
        self.cohorts = review_cohorts(review_phase, params.review_period)
        self._pending_adopters = 0.0  # adopters' spend due but not yet filled by a whole firm
        self._links = None  # (n, the graph's links among the first n firms), for peer_totals
        # what other modules derive from the fixed attributes (metrics' group indicators),
        # kept here so every copy of this base (every run of a kept population) shares it
        self.derived: dict = {}

    def copy(self, params=None) -> CustomerBase:
        """This customer base for another run (with ``params``): the fixed attributes and graph are
        shared; what a run changes (holdings, commitments, adoption, provider, tenure) is copied."""
        twin = copy.copy(self)
        twin.params = self.params if params is None else params
        for name in ("holdings", "locked_until", "adopted", "provider", "tenure"):
            setattr(twin, name, getattr(self, name).copy())
        if params is not None and params.home_preference != self.params.home_preference:
            twin.home_term = params.home_preference * self.home_match
        return twin

    def shared_arrays(self) -> list:
        """The arrays :meth:`copy` shares between runs (fixed attributes and cohorts)."""
        return [self.size, self.iaas_need, self.region, self.industry, self.review_phase, self.home_match,
                self.in_segment, *self.segments.values(), *self.cohorts]

    # ------------------------------------------------------------------ observed
    @property
    def spend(self) -> np.ndarray:
        """Each firm's annual cloud spend, all vendors together (N,); 0 before it adopts."""
        return self.holdings.sum(axis=1)

    def installed(self, n_rows: int) -> np.ndarray:
        """Annual spend of each of the first ``n_rows`` firms, all vendors together (n_rows,)."""
        return self.holdings[:n_rows] @ np.ones(self.n_vendors)

    def vendor_spend(self) -> np.ndarray:
        """Installed spend with each vendor (J,)."""
        # a matrix-vector product over the firms on the cloud (the rows after them hold
        # nothing): several times faster than numpy's column sum of a narrow array
        return np.ones(self.n_adopted) @ self.holdings[:self.n_adopted]

    def committed_spend(self, quarter: int) -> np.ndarray:
        """Spend locked in by a commitment after ``quarter``, by vendor (J,)."""
        n = self.n_adopted
        total = np.zeros(self.n_vendors)
        for block in _blocks(n):  # in cache-sized blocks: no (N, J) temporary
            total += np.ones(block.stop - block.start) @ np.where(self.locked_until[block] > quarter,
                                                                    self.holdings[block], 0.0)
        return total

    def multihoming(self) -> float:
        """Share of the firms on the cloud that hold spend with two or more vendors."""
        if self.n_adopted == 0:
            return 0.0
        held = self.holdings[:self.n_adopted]
        if len(held) <= SMALL_ROWS:  # a few hundred firms: one count along the rows costs less than J passes
            vendors = (held > 0).sum(axis=1)
        else:
            vendors = np.zeros(len(held), dtype=np.int64)
            for j in range(self.n_vendors):  # column by column: faster than a count along the short axis
                vendors += held[:, j] > 0
        return float(np.count_nonzero(vendors >= 2) / self.n_adopted)

    def peer_shares(self, n_rows: int | None = None) -> np.ndarray:
        """Share of each firm's neighbours' spend held with each vendor, (n_rows, J) for the first
        ``n_rows`` firms (all when None); zeros for a firm whose neighbours hold nothing."""
        return _row_shares(self.peer_totals(self.n if n_rows is None else n_rows))

    def peer_totals(self, n_rows: int) -> np.ndarray:
        """Spend of each of the first ``n_rows`` firms' neighbours with each vendor, (n_rows, J).

        Only firms on the cloud hold spend, and they are the first rows: the product reads
        the graph's links among the first firms only (at the start, about a fifth of the
        whole graph's links, prospects included). Those links are kept for some rows past
        the firms on the cloud (zero holdings add nothing), so new adopters extend them
        only every few quarters.
        """
        reach = max(n_rows, self.n_adopted)
        margin = max(BLOCK_ROWS, reach // 8)
        if self._links is None or not reach <= self._links[0] <= reach + 2 * margin:
            ahead = min(self.n, reach + margin)
            self._links = (ahead, links_among(self.adjacency, ahead))
        ahead, links = self._links
        return (links @ self.holdings[:ahead])[:n_rows]

    # ------------------------------------------------------------------ the utility
    def value_of(self, rows: np.ndarray, offer: Offer, peers: np.ndarray) -> np.ndarray:
        """``v`` of the module doc for firms ``rows``, (len(rows), J); ``peers`` are those rows' peer shares."""
        p = self.params
        # the vendor-level terms, gathered first so each firm's row is a few passes over J numbers:
        # quality_weight * (need * iaas_gap + (1 - need) * paas_gap + congestion_elasticity * log_congestion)
        #   = need * quality_gap + (the rest, the same for every firm)
        quality_gap = p.quality_weight * (offer.iaas_gap - offer.paas_gap)
        common = p.quality_weight * (offer.paas_gap + p.congestion_elasticity * offer.log_congestion) \
            + offer.intercepts
        v = np.multiply.outer(self.iaas_need[rows], quality_gap)
        v += common
        v += self.in_segment[rows] @ (p.focus_weight * offer.focus_reach)
        v += p.peer_weight * peers
        v += self.home_term[rows]
        return v

    def new_workload_utility(self, rows: np.ndarray, value: np.ndarray, offer: Offer, technical: float) -> np.ndarray:
        """``u`` of the module doc: a new workload of firms ``rows`` placed with each vendor."""
        u = value - self.params.price_weight * offer.log_price
        u -= (technical * self.params.multicloud_cost) * (self.holdings[rows] <= 0)
        return u

    def migration_utility(self, rows: np.ndarray, current: np.ndarray, value: np.ndarray, offer: Offer,
                          technical: float) -> np.ndarray:
        """Utility of each place for an installed workload of firm ``rows[e]`` now with vendor ``current[e]``:
        staying (renewal terms) or moving to each other vendor (module doc), (len(rows), J)."""
        p = self.params
        u = self.new_workload_utility(rows, value, offer, technical)
        u -= technical * p.switching_cost
        u -= p.price_weight * np.log1p(offer.egress_fee * 4.0 / p.review_period)[current][:, None]
        u[np.arange(len(current)), current] = value[np.arange(len(current)), current] \
            - p.price_weight * offer.log_renewal_price[current]
        return u

    def utility_of(self, rows: np.ndarray, offer: Offer, technical: float = 1.0) -> np.ndarray:
        """Utility (len(rows), J) of a new workload of firms ``rows``, with today's peers."""
        rows = np.asarray(rows)
        peers = self.peer_shares()[rows]
        return self.new_workload_utility(rows, self.value_of(rows, offer, peers), offer, technical)

    # ------------------------------------------------------------------ the quarter
    def adopt(self, adopters_spend: float) -> np.ndarray:
        """Prospects adopt, in their order, until their spend fills ``adopters_spend``; returns their rows.

        What a whole firm cannot fill is carried to the next quarter, so adopters' spend
        follows the target on average.
        """
        due = self._pending_adopters + max(adopters_spend, 0.0)
        first = self.n_adopted
        sizes = np.cumsum(self.size[first:])
        k = int(np.searchsorted(sizes, due, side="right"))
        taken = float(sizes[k - 1]) if k > 0 else 0.0
        self._pending_adopters = due - taken if k < len(sizes) else 0.0
        rows = np.arange(first, first + k)
        self.adopted[rows] = True
        self.n_adopted += k
        return rows

    def place_new_spend(self, rows: np.ndarray, amounts: np.ndarray, utility: np.ndarray,
                        allowed: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        """Each of ``rows`` places ``amounts`` as one new workload, by a logit draw; returns new spend by vendor (J,)."""
        chosen = choice.draw_choices(utility, rng, allowed)
        np.add.at(self.holdings, (rows, chosen), amounts)
        return np.bincount(chosen, weights=amounts, minlength=self.n_vendors)

    def place_growth(self, market_growth: float, adopter_share: float, offer: Offer, technical: float,
                     allowed: np.ndarray | None, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """The quarter's new spend (module doc, steps 1-2): the market grows by ``market_growth``;
        adopters join to fill ``adopter_share`` of that growth, then every firm on the cloud
        places its part of the rest (in proportion to its spend), and every adopter its first
        spend, as one new workload.

        Returns the new spend won by each vendor (J,) and every firm's value ``v`` of every
        vendor this quarter, (firms on the cloud, J), which the review reads. Peers are
        last quarter's holdings (every firm looks before any places). The utility and the
        draw run in blocks of rows that fit in the processor's cache, with the random
        numbers drawn in the same order as one draw over all rows.
        """
        n_before = self.n_adopted
        installed = self.installed(n_before)
        total = float(installed.sum())
        growth = market_growth * total
        adopters = self.adopt(adopter_share * growth) if growth > 0 else np.arange(0)
        n = self.n_adopted
        peers = self.peer_totals(n)
        values = np.empty((n, self.n_vendors))
        won = np.zeros(self.n_vendors)
        if growth > 0:
            existing = max(growth - float(self.size[adopters].sum()), 0.0)  # the rest comes from customers' growth
            amounts = np.concatenate([existing * installed / total, self.size[adopters]])
        for block in _blocks(n):
            rows = np.arange(block.start, block.stop)
            values[block] = value = self.value_of(block, offer, _row_shares(peers[block]))
            if growth > 0:
                utility = self.new_workload_utility(block, value, offer, technical)
                won += self.place_new_spend(rows, amounts[block], utility,
                                            None if allowed is None else allowed[block], rng)
        if growth <= 0:  # a shrinking market: every workload shrinks in place
            self.holdings[:n_before] *= 1.0 + market_growth
        return won, values

    def review(self, rows: np.ndarray, value: np.ndarray, offer: Offer, technical: float,
               allowed: np.ndarray | None, rng: np.random.Generator, quarter: int) -> Review:
        """Firms ``rows`` (this quarter's review cohort, ``value`` their v) review their unlocked workloads.

        Every workload not locked in stays or moves whole (module doc); then the workloads
        of these firms that are not locked in commit, or not, for the next term.
        """
        J = self.n_vendors
        before = self.holdings[rows]
        due = (before > 0) & (self.locked_until[rows] <= quarter)
        if allowed is not None:  # a workload with a vendor it may no longer use must leave, commitment or not
            due |= (before > 0) & ~allowed[rows]
        which, k = np.nonzero(due)  # one entry per workload under review: firm position, vendor
        reviewed = np.bincount(k, weights=before[which, k], minlength=J)
        moved_out, egress = np.zeros(J), np.zeros(J)
        moved_total, full = 0.0, 0
        if len(which):
            u = self.migration_utility(rows[which], k, value[which], offer, technical)
            may = None if allowed is None else allowed[rows[which]]
            to = choice.draw_choices(u, rng, may)
            moves = to != k
            if moves.any():
                w, src, dst = which[moves], k[moves], to[moves]
                amount = before[w, src]
                self.holdings[rows[w], src] = 0.0
                np.add.at(self.holdings, (rows[w], dst), amount)
                moved_out = np.bincount(src, weights=amount, minlength=J)
                egress = np.bincount(src, weights=amount * offer.egress_fee[src], minlength=J)
                moved_total = float(amount.sum())
                by_firm = np.bincount(w, weights=amount, minlength=len(rows))
                installed = before.sum(axis=1)
                full = int(np.count_nonzero((installed > 0) & (by_firm >= installed * (1.0 - 1e-12))))
        self._commit(rows, offer, rng, quarter)
        return Review(reviewed, moved_out, egress, moved_total, full)

    def _commit(self, rows: np.ndarray, offer: Offer, rng: np.random.Generator, quarter: int) -> None:
        """Workloads of ``rows`` not locked in commit for the next term with their vendor's take-up."""
        held = self.holdings[rows] > 0
        free = held & (self.locked_until[rows] <= quarter)
        draws = rng.random(free.shape)
        commits = free & (draws < offer.take_up[None, :])
        locked = self.locked_until[rows]
        locked[free] = UNLOCKED
        locked[commits] = quarter + self.params.commitment_term
        self.locked_until[rows] = locked

    def _update_provider(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Main vendor (largest holding) of ``rows`` (all adopted when None); tenure restarts where it changed.

        Returns the rows whose main vendor changed.
        """
        if rows is None:  # the firms on the cloud are the first rows: a view, no copy
            rows = np.arange(self.n_adopted)
            held = self.holdings[:self.n_adopted]
        else:
            held = self.holdings[rows]
        main, largest = choice.row_argmax(held)
        main[largest <= 0] = -1  # holds nothing
        before = self.provider[rows]
        changed = rows[(main != before) & (before >= 0)]
        self.provider[rows] = main
        self.tenure[changed] = 0
        return changed

    def main_vendor_changes(self) -> int:
        """Bring every adopted firm's main vendor up to date; returns how many changed."""
        return len(self._update_provider())

    # ------------------------------------------------------------------ the review's bookkeeping
    def due_for_review(self, quarter: int, n_before: int) -> np.ndarray:
        """Rows whose contracts come up in ``quarter``: its review cohort among the ``n_before``
        firms on the cloud before the quarter (its new adopters signed just now).

        >>> from types import SimpleNamespace
        >>> base = SimpleNamespace(cohorts=review_cohorts(np.array([1, 0, 1, 2]), 3),
        ...                        params=SimpleNamespace(review_period=3))
        >>> [CustomerBase.due_for_review(base, 2, n_before).tolist() for n_before in (4, 2)]
        [[0, 2], [0]]
        """
        rows = self.cohorts[-quarter % self.params.review_period]
        return rows[rows < n_before]

    def finish_review(self) -> float:
        """Close the quarter's review: every firm on the cloud has a quarter more with its main
        vendor, which restarts where the main vendor changed; returns churn, the share of the
        firms on the cloud whose main vendor (largest holding) changed."""
        self.tenure[:self.n_adopted] += 1
        return self.main_vendor_changes() / max(self.n_adopted, 1)


def _row_shares(totals: np.ndarray) -> np.ndarray:
    """Each row of ``totals`` as shares of its sum (a row of zeros stays zeros).

    >>> _row_shares(np.array([[1.0, 3.0], [0.0, 0.0]])).tolist()
    [[0.25, 0.75], [0.0, 0.0]]
    """
    norm = totals.sum(axis=1, keepdims=True)
    norm[norm == 0] = 1.0
    return totals / norm


SMALL_ROWS = 512  # below this many rows a reduction along the short vendor axis beats column passes (measured)
BLOCK_ROWS = 4096  # rows per block of the quarter's row-wise work: its arrays stay in the processor's cache


def _blocks(n: int) -> list[slice]:
    """Slices of ``BLOCK_ROWS`` rows covering rows 0 .. n - 1, in order."""
    return [slice(start, min(start + BLOCK_ROWS, n)) for start in range(0, n, BLOCK_ROWS)]


def links_among(adjacency, n: int):
    """The graph's links among its first ``n`` nodes: ``adjacency[:n, :n]`` of a CSR matrix, each row's
    links in their stored order (so sums over them are the same sums as over the whole row).

    >>> import scipy.sparse as sp
    >>> a = sp.csr_matrix(np.array([[0, 1, 1], [1, 0, 0], [1, 0, 0]], dtype=float))
    >>> links_among(a, 2).toarray().tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    end = adjacency.indptr[n]
    columns = adjacency.indices[:end]
    keep = columns < n
    if keep.all():
        indptr = adjacency.indptr[:n + 1]
        return type(adjacency)((adjacency.data[:end], columns, indptr), shape=(n, n))
    kept = np.concatenate([[0], np.cumsum(keep)])[adjacency.indptr[:n + 1]]
    return type(adjacency)((adjacency.data[:end][keep], columns[keep], kept), shape=(n, n))


def review_cohorts(review_phase: np.ndarray, period: int) -> list[np.ndarray]:
    """Rows of each review phase, ascending: cohort r reviews in quarters q with (q + r) % period == 0.

    >>> [c.tolist() for c in review_cohorts(np.array([1, 0, 1, 2]), 3)]
    [[1], [0, 2], [3]]
    """
    order = np.argsort(review_phase, kind="stable")
    bounds = np.searchsorted(review_phase[order], np.arange(period + 1))
    return [order[bounds[r]:bounds[r + 1]] for r in range(period)]
