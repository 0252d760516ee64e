"""Small statistics the profiles need, in numpy only (no scipy/sklearn on the serving path).

* :func:`chi2_sf` — survival function of the chi-square distribution (integer degrees of freedom),
  for Kruegel & Vigna's character-distribution test and for Fisher's method.
* :func:`ledoit_wolf` — shrinkage covariance (Ledoit & Wolf 2004), the estimator behind
  ``sklearn.covariance.LedoitWolf``: well conditioned even with fewer samples than dimensions.
* :class:`TailCalibrator` — maps a raw anomaly score to its empirical tail probability on
  held-back normal traffic, so that scores of different kinds become comparable p-values.
* :func:`combine_pvalues` — one p-value from several (``"max"`` rule or ``"fisher"``).

    >>> round(chi2_sf(3.84, 1), 3), round(chi2_sf(5.99, 2), 3)
    (0.05, 0.05)
    >>> cal = TailCalibrator.fit([0.0, 1.0, 2.0, 3.0])
    >>> cal.pvalue(2.5), cal.pvalue(-1.0)
    (0.5, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def chi2_sf(x: float, k: int) -> float:
    """P(X >= x) for X ~ chi-square with ``k`` (integer >= 1) degrees of freedom.

    Closed forms: for even ``k`` the Poisson sum, for odd ``k`` the erfc term plus a finite sum
    (Abramowitz & Stegun 26.4.4/26.4.5), so no special-function library is needed.
    """
    if x <= 0:
        return 1.0
    if k % 2 == 0:
        term, total = 1.0, 1.0
        for i in range(1, k // 2):
            term *= (x / 2) / i
            total += term
        return min(1.0, math.exp(-x / 2) * total)
    s = math.sqrt(x)
    total = math.erfc(s / math.sqrt(2))
    if k > 1:
        # 2 * phi(s) * sum_{j=1}^{(k-1)/2} s^(2j-1) / (1*3*...*(2j-1))
        term = s
        acc = term
        for j in range(2, (k + 1) // 2):
            term *= x / (2 * j - 1)
            acc += term
        total += 2 * math.exp(-x / 2) / math.sqrt(2 * math.pi) * acc
    return min(1.0, max(0.0, total))


def ledoit_wolf(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean, Ledoit-Wolf shrunk covariance and the shrinkage of samples ``x`` (n, p).

    ``cov = (1 - a) * S + a * mu * I`` with ``S`` the sample covariance, ``mu = trace(S) / p``
    and ``a`` the estimated optimal shrinkage; the same estimator as
    ``sklearn.covariance.LedoitWolf`` (tested against it).

        >>> m, c, a = ledoit_wolf(np.eye(3))
        >>> c.shape, 0.0 <= a <= 1.0
        ((3, 3), True)
    """
    x = np.asarray(x, dtype=np.float64)
    n, p = x.shape
    mean = x.mean(0)
    xc = x - mean                                                     # (n, p)
    s = xc.T @ xc / n                                                 # (p, p)
    mu = np.trace(s) / p
    delta = ((s - mu * np.eye(p)) ** 2).sum() / p
    # beta: how noisy S is as an estimate, from the spread of the per-sample outer products
    sq_norms = (xc ** 2).sum(1)                                       # (n,)
    beta = ((sq_norms ** 2).sum() / n - (s ** 2).sum()) / (n * p)
    shrink = 0.0 if delta <= 0 else float(min(max(beta, 0.0), delta) / delta)
    cov = (1 - shrink) * s + shrink * mu * np.eye(p)
    return mean, cov, shrink


@dataclass
class TailCalibrator:
    """Empirical tail probability of a score among held-back normal scores.

    ``pvalue(x) = (1 + #{cal >= x}) / (n + 1)`` (the conformal p-value) at the calibration scores,
    linearly interpolated between them: a step function would give every score between two
    calibration scores the same p-value, and those ties would cost ranking resolution once
    p-values of several components are combined. Beyond the largest calibration score the
    empirical value would be stuck at ``1 / (n + 1)`` and every stronger anomaly would tie; there
    the tail continues exponentially, ``2 / (n + 1) * exp(-(x - max) / scale)``, with ``scale`` the
    spread of the upper half of the calibration scores. Monotone (never increasing) in ``x``.
    """

    scores: np.ndarray           # (n,) sorted ascending
    scale: float

    @classmethod
    def fit(cls, scores: Sequence[float]) -> "TailCalibrator":
        s = np.sort(np.asarray(scores, dtype=np.float64))
        if len(s) == 0:
            raise ValueError("a calibrator needs at least one calibration score")
        upper = s[len(s) // 2:]
        scale = float(upper.max() - np.median(upper)) if len(upper) > 1 else 0.0
        scale = max(scale, float(s.std()), 1e-6)
        return cls(s, scale)

    def pvalue(self, x: float) -> float:
        s, n = self.scores, len(self.scores)
        top = float(s[-1])
        if x > top:
            ge_top = n - int(np.searchsorted(s, top, side="left"))          # ties at the top
            return float((1 + ge_top) / (n + 1) * math.exp(-(x - top) / self.scale))
        i = int(np.searchsorted(s, x, side="left"))                          # first score >= x
        ge = float(n - i)                                                     # calibration scores >= x
        if 0 < i and s[i] > x:
            # between s[i-1] and s[i]: slide from #{>= s[i-1]} down to #{>= s[i]}
            j = int(np.searchsorted(s, s[i - 1], side="left"))
            ge += (n - j - ge) * float((s[i] - x) / (s[i] - s[i - 1]))
        return (1 + ge) / (n + 1)

    def log_pvalue(self, x: float) -> float:
        """``ln pvalue(x)``, exact in the exponential tail where ``pvalue`` underflows to 0, so that
        far-out scores keep their order."""
        s, n = self.scores, len(self.scores)
        top = float(s[-1])
        if x > top:
            ge_top = n - int(np.searchsorted(s, top, side="left"))
            return math.log((1 + ge_top) / (n + 1)) - (x - top) / self.scale
        return math.log(self.pvalue(x))

    def pvalues(self, xs: Sequence[float]) -> np.ndarray:
        return np.array([self.pvalue(float(x)) for x in xs])


COMBINE_RULES = ("max", "fisher")


def combine_pvalues(ps: Sequence[float], rule: str = "max") -> float:
    """Combine the tail probabilities of independent evidence into one p-value.

    * ``"max"`` (default): the strongest single signal decides — ``min(1, k * min(p))``
      (Bonferroni). Most site anomalies show in ONE component (an unseen endpoint is invisible to
      the attack detector; a textbook payload in a free-text field is invisible to the structure
      model), and this rule lets any one of them fire on its own.
    * ``"fisher"``: ``-2 * sum(log p)`` against chi-square with ``2k`` degrees of freedom; better
      when several components are each mildly unusual, weaker when only one fires.

        >>> combine_pvalues([0.001, 0.9])
        0.002
        >>> combine_pvalues([0.001, 0.9], "fisher") > combine_pvalues([0.001, 0.9], "max")
        True
    """
    ps = [min(1.0, max(float(p), 1e-300)) for p in ps]
    if not ps:
        return 1.0
    if rule == "max":
        return min(1.0, len(ps) * min(ps))
    if rule == "fisher":
        return chi2_sf(-2.0 * sum(math.log(p) for p in ps), 2 * len(ps))
    raise ValueError(f"unknown combine rule {rule!r}; expected one of {COMBINE_RULES}")


def threshold_at_fpr(pvalues: Sequence[float], fpr: float) -> float:
    """Largest p-value threshold ``t`` such that at most ``fpr`` of ``pvalues`` satisfy ``p < t``.

    Verdicts are ``anomalous`` when ``p < t``; ``pvalues`` are those of held-back normal traffic.

        >>> threshold_at_fpr([0.5, 0.2, 0.01, 0.9], 0.25)
        0.2
    """
    ps = np.sort(np.asarray(pvalues, dtype=np.float64))
    k = int(math.floor(fpr * len(ps) + 1e-9))       # how many calibration normals may be flagged
    if k >= len(ps):
        return float("inf")
    return float(ps[k])
