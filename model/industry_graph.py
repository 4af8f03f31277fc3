"""The industry graph: customers linked within and across industries.

A stochastic block model whose blocks are the 15 BEA industries: a share
``within_industry`` of each customer's links stays in its industry, the rest go to other
industries in proportion to their input-output flows (``use_15.csv``, symmetrised: buyer
and supplier both count as a business link). Edges are drawn with numpy from the model's
RNG, block pair by block pair (Poisson edge counts, uniform endpoints, repeats dropped), so
building 1,000,000 customers is linear in edges; networkx's own ``stochastic_block_model``
visits node pairs and is far slower at that size.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> industry = rng.integers(0, 15, size=500)
>>> edges = sample_edges(industry, io_link_weights(), avg_degree=8, within=0.7, rng=rng)
>>> 1500 < len(edges) < 2500
True
"""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources

import networkx as nx
import numpy as np
import scipy.sparse as sp

N_INDUSTRIES = 15


@cache
def _use_table() -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    with resources.files("cloudmarket.model.data").joinpath("use_15.csv").open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    names = tuple(rows[0][1:1 + N_INDUSTRIES])

    def num(x: str) -> float:
        return 0.0 if x.strip() in ("---", "") else float(x)

    flows = np.array([[num(x) for x in r[1:1 + N_INDUSTRIES]] for r in rows[1:1 + N_INDUSTRIES]])
    # Industry size: gross output of each using industry (columns), not the commodity rows'
    # total use, which is near zero for margin industries such as retail trade.
    output_row = next(r for r in rows if r[0].startswith("Total industry output"))
    output = np.array([num(x) for x in output_row[1:1 + N_INDUSTRIES]])
    return names, flows, output


def industry_names() -> tuple[str, ...]:
    """The 15 BEA industry names, in the order used for industry codes 0..14.

    >>> industry_names()[14]
    'Government'
    """
    return _use_table()[0]


def industry_weights() -> np.ndarray:
    """Share of customers in each industry: proportional to its gross output (BEA 2021).

    >>> w = industry_weights()
    >>> round(float(w.sum()), 6), bool(w.min() > 0.01)
    (1.0, True)
    """
    output = np.clip(_use_table()[2], 0, None)
    return output / output.sum()


def io_link_weights() -> np.ndarray:
    """Symmetric (15, 15) cross-industry link weights from input-output flows, zero diagonal.

    >>> w = io_link_weights()
    >>> bool(np.allclose(w, w.T)) and float(w.trace()) == 0.0
    True
    """
    flows = np.clip(_use_table()[1], 0, None)
    w = flows + flows.T
    np.fill_diagonal(w, 0.0)
    return w / w.sum()


def sample_edges(industry: np.ndarray, io_weights: np.ndarray, avg_degree: float, within: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Draw an undirected edge list (m, 2) with i < j for customers with ``industry`` codes.

    Expected degree is ``avg_degree``; a share ``within`` of links stays in the industry
    and the rest is spread over industry pairs in proportion to ``io_weights`` times the
    sizes of both industries.
    """
    n = len(industry)
    k = io_weights.shape[0]
    # members of industry b: order[start[b]:start[b + 1]], ascending (a stable sort)
    order = np.argsort(industry, kind="stable")
    counts_by_industry = np.bincount(industry, minlength=k)
    start = np.concatenate([[0], np.cumsum(counts_by_industry)])
    sizes = counts_by_industry.astype(float)
    total_edges = avg_degree * n / 2.0
    # Each block of edges draws its left ends, then its right ends, from `rng`, in the
    # order below (that order is the seed's contract); the ends are gathered into two
    # lists and joined once.
    left: list[np.ndarray] = []
    right: list[np.ndarray] = []
    # within-industry: each industry gets edges in proportion to its size
    for b in range(k):
        if sizes[b] < 2:
            continue
        m = rng.poisson(within * total_edges * sizes[b] / n)
        members = order[start[b]:start[b + 1]]
        ends = members[rng.integers(0, len(members), 2 * m)]  # = m left ends, then m right ends
        left.append(ends[:m])
        right.append(ends[m:])
    # across industries: input-output weight times both sizes, normalised to the budget
    pair_mass = io_weights * np.outer(sizes, sizes)
    iu = np.triu_indices(k, 1)
    mass = pair_mass[iu]
    if mass.sum() > 0:
        expected = (1.0 - within) * total_edges * mass / mass.sum()
        counts = rng.poisson(expected)
        drawn = (counts > 0) & (sizes[iu[0]] > 0) & (sizes[iu[1]] > 0)
        ends = np.column_stack([iu[0][drawn], iu[1][drawn]]).ravel()  # a1, b1, a2, b2, ...
        per_end = np.repeat(counts[drawn], 2)
        # One call draws every block's left then right ends in turn: the same numbers as
        # one call per end with its own bound (tests/test_fast_paths.py checks this).
        draws = rng.integers(0, np.repeat(counts_by_industry[ends], per_end))
        picked = order[np.repeat(start[ends], per_end) + draws]
        is_left = np.repeat(np.arange(len(ends)) % 2 == 0, per_end)
        left.append(picked[is_left])
        right.append(picked[~is_left])
    if not left:
        return np.zeros((0, 2), dtype=np.int64)
    ends_a, ends_b = np.concatenate(left), np.concatenate(right)
    lo, hi = np.minimum(ends_a, ends_b), np.maximum(ends_a, ends_b)
    # unique (lo, hi) pairs, sorted: one int64 key per edge, sort, drop repeats. Same result
    # as np.unique(edges, axis=0), which sorts a structured view, ~10x slower at 1M customers
    loop = lo == hi
    key = lo[~loop] * np.int64(n) + hi[~loop]
    key.sort()
    first = np.ones(len(key), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    key = key[first]
    edges = np.empty((len(key), 2), dtype=np.int64)
    np.divmod(key, n, out=(edges[:, 0], edges[:, 1]))  # (key // n, key % n), written in place
    return edges


def adjacency_matrix(edges: np.ndarray, n: int) -> sp.csr_matrix:
    """Symmetric CSR adjacency (n, n) of an edge list, for vectorised peer shares.

    >>> adjacency_matrix(np.array([[0, 1], [0, 2], [1, 2]]), 3).toarray().astype(int).tolist()
    [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
    """
    i, j = edges[:, 0], edges[:, 1]
    data = np.ones(2 * len(edges))
    # Lower-triangle entries first: with sample_edges' sorted (i < j) edges every row's
    # columns then come out ascending, and scipy skips sorting them (same matrix, ~2x faster).
    return sp.csr_matrix((data, (np.concatenate([j, i]), np.concatenate([i, j]))), shape=(n, n))


def to_networkx(edges: np.ndarray, n: int, industry: np.ndarray | None = None) -> nx.Graph:
    """A networkx Graph with integer nodes 0..n-1 (isolated customers included).

    >>> g = to_networkx(np.array([[0, 1]]), 3, np.array([4, 4, 2]))
    >>> g.number_of_nodes(), g.nodes[2]["industry"]
    (3, 2)
    """
    g = nx.Graph()
    if industry is None:
        g.add_nodes_from(range(n))
    else:
        g.add_nodes_from((i, {"industry": int(b)}) for i, b in enumerate(industry))
    g.add_edges_from(edges.tolist())
    return g
