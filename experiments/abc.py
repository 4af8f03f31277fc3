"""Adaptive population Monte Carlo ABC (APMC; Lenormand, Jabot and Deffuant 2013).

An ABC-SMC algorithm made for costly stochastic simulators evaluated in batches, such as
agent-based models: every generation proposes a whole batch of particles at once, so a
batch runs in parallel and the result does not depend on which worker finishes first
(unlike ABC-SMC samplers that stop as soon as N particles are accepted).

1. Draw ``particles`` points from the uniform prior (a Latin hypercube, for even cover),
   simulate, keep the ``keep`` share with the smallest distance; the tolerance ``eps``
   is the largest kept distance.
2. Each generation: draw ``particles - kept`` new points by picking a kept particle by
   weight and moving it with a Gaussian kernel of twice the kept particles' weighted
   covariance (Beaumont et al. 2009), redrawn until inside the prior box. A new point's
   importance weight is ``prior / sum_j w_j N(theta; theta_j, Sigma)``. Pool kept and
   new particles, keep the best ``keep`` share, lower ``eps`` to their largest distance.
3. Stop when fewer than ``min_acceptance`` of a generation's new points beat the previous
   tolerance (the posterior no longer moves), or after ``max_generations``.

The kept particles and their weights are the approximate posterior. Against a Latin
hypercube with rejection at the same number of simulations, the proposals concentrate
where the distance is small, so the accepted set is drawn more densely there and the
tolerance ends lower (``tests/test_calibration.py`` checks this on a model whose
posterior is known).

Every draw comes from the ``rng`` given, so a seed fixes the whole run.

Example
-------
>>> def distance(theta, generation):       # a toy simulator: data at x = 0.3, no noise
...     return np.abs(theta[:, 0] - 0.3)
>>> r = apmc(distance, np.array([0.0]), np.array([1.0]), particles=40, keep=0.5,
...          min_acceptance=0.05, max_generations=8, rng=np.random.default_rng(1))
>>> bool(abs(r.mean()[0] - 0.3) < 0.01), r.epsilons[-1] < r.epsilons[0], r.simulations == 40 + 20 * (r.generations - 1)
(True, True, True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ApmcResult:
    """The kept particles (rows), their normalised weights and distances, and the run's history."""

    particles: np.ndarray
    weights: np.ndarray
    distances: np.ndarray
    epsilons: list[float] = field(default_factory=list)
    acceptance: list[float] = field(default_factory=list)  # share of a generation's new points below eps
    simulations: int = 0
    generations: int = 0
    stopped: str = ""

    def mean(self) -> np.ndarray:
        return self.weights @ self.particles

    def sd(self) -> np.ndarray:
        return np.sqrt(self.weights @ np.square(self.particles - self.mean()))

    def quantile(self, q: float) -> np.ndarray:
        """Weighted quantile ``q`` per parameter."""
        return np.array([weighted_quantile(self.particles[:, k], self.weights, q)
                         for k in range(self.particles.shape[1])])

    def resample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` particles drawn by weight (posterior predictive draws)."""
        return self.particles[rng.choice(len(self.weights), size=n, p=self.weights)]


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Quantile of a weighted sample (inverse of the weighted empirical CDF, midpoint rule).

    >>> weighted_quantile(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 1.0]), 0.5)
    2.0
    """
    order = np.argsort(values)
    v, w = values[order], weights[order] / weights.sum()
    cdf = np.cumsum(w) - 0.5 * w
    return float(np.interp(q, cdf, v))


def apmc(distance: Callable[[np.ndarray, int], np.ndarray], lows: np.ndarray, highs: np.ndarray,
         particles: int, keep: float, min_acceptance: float, max_generations: int,
         rng: np.random.Generator) -> ApmcResult:
    """Run APMC; ``distance(thetas, generation)`` simulates a batch (rows) and returns distances."""
    from scipy.stats import qmc

    lows, highs = np.asarray(lows, float), np.asarray(highs, float)
    d = len(lows)
    n_keep = max(2, int(np.floor(keep * particles)))
    if n_keep >= particles:
        raise ValueError(f"keep = {keep}: must keep fewer than all {particles} particles")
    unit = qmc.LatinHypercube(d=d, rng=rng).random(particles)
    theta = lows + unit * (highs - lows)
    dist = _checked(distance(theta, 0), particles)
    order = np.argsort(dist, kind="stable")[:n_keep]
    # ``raw`` weights are prior / proposal density ratios: 1 for prior draws, and for a
    # kernel move (1 / box volume) / sum_j w_j N(theta; theta_j, Sigma). Old and new
    # particles are then on one scale and can be pooled, as in Lenormand et al.
    volume = float(np.prod(highs - lows))
    theta, dist, raw = theta[order], dist[order], np.ones(n_keep)
    result = ApmcResult(theta, raw / raw.sum(), dist, [float(dist.max())], [1.0], particles, 1)
    while result.generations < max_generations:
        weights = raw / raw.sum()
        cov = 2.0 * np.atleast_2d(np.cov(theta.T, aweights=weights))
        cov += np.diag(1e-12 * np.square(highs - lows))  # never singular (a collapsed coordinate)
        new = _propose(theta, weights, cov, lows, highs, particles - n_keep, rng)
        new_dist = _checked(distance(new, result.generations), len(new))
        new_raw = (1.0 / volume) / np.maximum(_kernel_density(new, theta, weights, cov), 1e-300)
        eps = result.epsilons[-1]
        accepted = float(np.mean(new_dist < eps))
        pool_theta = np.vstack([theta, new])
        pool_dist = np.concatenate([dist, new_dist])
        pool_raw = np.concatenate([raw, new_raw])
        order = np.argsort(pool_dist, kind="stable")[:n_keep]
        theta, dist, raw = pool_theta[order], pool_dist[order], pool_raw[order]
        result = ApmcResult(theta, raw / raw.sum(), dist, [*result.epsilons, float(dist.max())],
                            [*result.acceptance, accepted], result.simulations + len(new), result.generations + 1)
        if accepted < min_acceptance:
            result.stopped = f"acceptance {accepted:.3f} < min_acceptance {min_acceptance}"
            return result
    result.stopped = f"max_generations {max_generations} reached"
    return result


def _checked(dist: np.ndarray, n: int) -> np.ndarray:
    dist = np.asarray(dist, dtype=float)
    if dist.shape != (n,):
        raise ValueError(f"distance returned shape {dist.shape}, expected ({n},)")
    return np.where(np.isnan(dist), np.inf, dist)  # a failed simulation is never accepted


def _propose(theta: np.ndarray, weights: np.ndarray, cov: np.ndarray, lows: np.ndarray, highs: np.ndarray,
             n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` kernel moves from parents drawn by weight, each redrawn until inside the prior box."""
    out = np.empty((n, theta.shape[1]))
    chol = np.linalg.cholesky(cov)
    for i in range(n):
        parent = theta[rng.choice(len(weights), p=weights)]
        for _ in range(1000):
            x = parent + chol @ rng.standard_normal(theta.shape[1])
            if np.all(x >= lows) and np.all(x <= highs):
                break
        else:  # pragma: no cover - a kernel far wider than the box: fall back to clipping
            x = np.clip(x, lows, highs)
        out[i] = x
    return out


def _kernel_density(x: np.ndarray, centres: np.ndarray, weights: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """``sum_j w_j N(x; centre_j, cov)`` for each row of ``x`` (uniform prior: its constant cancels)."""
    inv = np.linalg.inv(cov)
    _, logdet = np.linalg.slogdet(cov)
    diff = x[:, None, :] - centres[None, :, :]
    maha = np.einsum("ijk,kl,ijl->ij", diff, inv, diff)
    dens = np.exp(-0.5 * maha - 0.5 * logdet - 0.5 * x.shape[1] * np.log(2 * np.pi))
    return dens @ weights
