"""The word a finding gets beside the paper's claim, and the intervals it follows.

The rule (DESIGN.md §11: a verdict follows its statistics). A claim is a direction: the
effect (a difference, a rank correlation) is positive or negative. With a 95% interval
[lo, hi] of the effect:
- reproduced:     the whole interval lies on the claimed side of zero;
- not reproduced: the whole interval lies on the other side;
- inconclusive:   the interval holds zero (these runs cannot tell).

Intervals here (until the statistics issue's paired bootstrap over dev examples lands in
report/finetune_results.py; `difference` is the seam to route through it):
- an accuracy over seeds on one fixed dev set of n examples: the mean over seeds, with the
  variance of that mean from the seeds' spread (s^2 / m) plus the dev set's sampling error
  (p (1 - p) / n, not divided by m: every seed is scored on the same examples), normal 95%;
- a difference of two such accuracies: the sum of their variances (conservative: both are
  scored on the same examples, so their sampling errors partly cancel);
- a rank correlation: a two-level bootstrap (runs, then points within each run).
"""
from __future__ import annotations

import math

import numpy as np

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
Z95 = 1.959963984540054
RULE = ("reproduced when the 95% interval of the effect lies wholly on the paper's side of "
        "zero, not reproduced when wholly on the other side, inconclusive when it holds zero")


def verdict(lo: float, hi: float, claimed_sign: int) -> str:
    """The word for an effect whose 95% interval is [lo, hi]; claimed_sign +1 or -1."""
    assert claimed_sign in (1, -1), claimed_sign
    if math.isnan(lo) or math.isnan(hi):
        return INCONCLUSIVE          # no interval: nothing to tell
    lo, hi = sorted((claimed_sign * lo, claimed_sign * hi))
    if lo > 0:
        return REPRODUCED
    if hi < 0:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def accuracy_interval(values: list[float], n: int) -> dict:
    """values: one accuracy (%) per seed, each on the same n examples. Mean, its variance
    and the 95% interval (see the module docstring)."""
    m = len(values)
    mean = float(np.mean(values))
    seeds = float(np.var(values, ddof=1)) / m if m > 1 else 0.0
    p = mean / 100
    var = seeds + 1e4 * p * (1 - p) / n
    half = Z95 * math.sqrt(var)
    return {"mean": mean, "var": var, "lo": mean - half, "hi": mean + half, "seeds": m, "n": n}


def difference(a: dict, b: dict) -> dict:
    """a - b of two accuracy_interval results, with its 95% interval."""
    diff = a["mean"] - b["mean"]
    half = Z95 * math.sqrt(a["var"] + b["var"])
    return {"diff": diff, "lo": diff - half, "hi": diff + half}


def ranks(x) -> np.ndarray:
    """Ranks 1..n, ties sharing their average rank (as Spearman's rho needs)."""
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="mergesort")
    r = np.empty(len(x))
    r[order] = np.arange(1, len(x) + 1)
    for value in np.unique(x):
        tied = x == value
        r[tied] = r[tied].mean()
    return r


def spearman(x, y) -> float:
    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def spearman_interval(groups: list[tuple[list, list]], reps: int = 2000, seed: int = 0) -> dict:
    """rho over every (x, y) point of every group (a run: its checkpoints), with a 95%
    percentile interval from resampling groups, then points within each chosen group."""
    x = [v for g in groups for v in g[0]]
    y = [v for g in groups for v in g[1]]
    rng = np.random.default_rng(seed)
    rhos = []
    for _ in range(reps):
        bx, by = [], []
        for gi in rng.integers(0, len(groups), len(groups)):
            gx, gy = groups[gi]
            pick = rng.integers(0, len(gx), len(gx))
            bx += [gx[i] for i in pick]
            by += [gy[i] for i in pick]
        rho = spearman(bx, by)
        if not math.isnan(rho):
            rhos.append(rho)
    lo, hi = (np.percentile(rhos, [2.5, 97.5]) if rhos else (float("nan"),) * 2)
    return {"rho": spearman(x, y), "lo": float(lo), "hi": float(hi), "points": len(x),
            "groups": len(groups), "reps": reps}
