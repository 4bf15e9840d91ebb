"""Signed comparisons with 95% intervals, for verdicts that follow their statistics (DESIGN.md
§11): arm A minus arm B (or minus a trivial baseline) on a dev set, per task and averaged over
tasks.

The interval holds two sources of error: which seeds were run and which dev examples the set
happens to hold. When every run of both arms saved its per-example dev predictions, it is a
paired bootstrap (percentile, REPLICATES draws, a fixed generator so a report is repeatable):
each draw resamples the dev examples with replacement (the same draw for both arms: paired),
and each arm's seeds with replacement (independently: seed s of one arm has nothing to do with
seed s of the other); the metric is recomputed on the drawn examples for every drawn seed and
averaged over the drawn seeds. An average over tasks draws every task independently and
averages the task differences of each draw.

When a run lacks its predictions (runs from before they were saved) the interval is seed-only
and says so: Welch's standard error of the difference of the seed means with Student's t at
the conservative min(n_A, n_B) - 1 degrees of freedom. It leaves out the dev-set sampling error,
so it is too narrow. One seed on a side gives no interval.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ReproError

REPLICATES = 2000
LEVEL = 0.95
BOOTSTRAP, SEED_ONLY, NONE = "paired bootstrap (dev examples x seeds)", "seed-only (t)", "none"
# Student's t, two-sided 95% (the 0.975 quantile), for 1..30 degrees of freedom; 1.96 beyond
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


@dataclass
class Cell:
    """One arm on one task: the headline metric x100 per seed, and the (seeds, examples) dev
    predictions when every one of those runs saved them. exact: a constant baseline (no spread)."""
    values: list
    predictions: np.ndarray | None = None
    exact: bool = False


def t975(df: int) -> float:
    return T975[df - 1] if df <= len(T975) else 1.96


# ---- GLUE's headline metrics over a batch of resamples (last axis = examples) ---------------
def _counts(p, g):
    p, g = p == 1, g == 1
    return ((p & g).sum(-1), (p & ~g).sum(-1), (~p & g).sum(-1), (~p & ~g).sum(-1))


def _f1(p, g):
    tp, fp, fn, _ = (c.astype(np.float64) for c in _counts(p, g))
    return np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)


def _matthews(p, g):
    tp, fp, fn, tn = (c.astype(np.float64) for c in _counts(p, g))
    den = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    return np.where(den > 0, (tp * tn - fp * fn) / np.sqrt(np.maximum(den, 1e-300)), 0.0)


def _pearson(p, g):
    varies = (p.max(-1) > p.min(-1)) & (g.max(-1) > g.min(-1))   # a constant row scores 0
    p = p.astype(np.float64) - p.mean(-1, keepdims=True)
    g = g.astype(np.float64) - g.mean(-1, keepdims=True)
    den = np.sqrt((p * p).sum(-1) * (g * g).sum(-1))
    ok = varies & (den > 0)
    return np.where(ok, (p * g).sum(-1) / np.where(ok, den, 1.0), 0.0)


BATCH_METRICS = {"accuracy": lambda p, g: (p == g).mean(-1), "f1": _f1, "matthews": _matthews,
                 "pearson": _pearson}   # as repro.transfer.metrics, row by row (tests check)


def _replicates(cell: Cell, gold: np.ndarray, metric: str, idx: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """(R,) the arm's score x100 on each draw: the drawn examples idx (R, n), drawn seeds."""
    fn = BATCH_METRICS[metric]
    per_seed = np.stack([fn(p[idx], gold[idx]) for p in cell.predictions])      # (S, R)
    seeds = rng.integers(0, len(per_seed), (idx.shape[0], len(per_seed)))       # (R, S)
    return 100 * np.take_along_axis(per_seed.T, seeds, axis=1).mean(1)


def _seed_se(cell: Cell) -> tuple[float, int | None]:
    """(squared standard error of the mean, degrees of freedom; None = no spread to speak of)."""
    if cell.exact:
        return 0.0, None
    v = np.asarray(cell.values, dtype=np.float64)
    return (float(v.var(ddof=1)) / len(v), len(v) - 1) if len(v) > 1 else (float("nan"), 0)


def difference(a: Cell, b: Cell, gold: np.ndarray | None, metric: str, seed: int = 0) -> dict:
    """A - B on one task: the difference of the seed means and its 95% interval."""
    return average_difference([(a, b, gold, metric)], seed)


def average_difference(tasks: list[tuple], seed: int = 0) -> dict:
    """The mean over tasks of A - B, tasks = [(a, b, gold, metric)], with its 95% interval."""
    if not tasks:
        raise ReproError("a comparison needs at least one task")
    point = float(np.mean([np.mean(a.values) - np.mean(b.values) for a, b, _, _ in tasks]))
    out = {"difference": point, "low": None, "high": None, "interval": NONE}
    if all(a.predictions is not None and b.predictions is not None and g is not None
           for a, b, g, _ in tasks):
        rng = np.random.default_rng(seed)
        total = np.zeros(REPLICATES)
        for a, b, gold, metric in tasks:
            idx = rng.integers(0, len(gold), (REPLICATES, len(gold)))
            total += _replicates(a, gold, metric, idx, rng) - _replicates(b, gold, metric, idx, rng)
        lo, hi = np.quantile(total / len(tasks), [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
        return {**out, "low": float(lo), "high": float(hi), "interval": BOOTSTRAP}
    var, dfs = 0.0, []
    for a, b, _, _ in tasks:
        for cell in (a, b):
            v, df = _seed_se(cell)
            var += v
            dfs += [] if df is None else [df]
    if not dfs or min(dfs) < 1 or not np.isfinite(var):
        return out
    half = t975(min(dfs)) * np.sqrt(var) / len(tasks)
    return {**out, "low": point - half, "high": point + half, "interval": SEED_ONLY}


def verdict(result: dict, higher_a: str, higher_b: str) -> str:
    """Words that follow the interval: which side is higher, or no detectable difference."""
    if result["interval"] == NONE:
        return "no interval (one seed)"
    if result["low"] > 0:
        return higher_a
    if result["high"] < 0:
        return higher_b
    return "no detectable difference"


def fmt_difference(result: dict) -> str:
    """+1.9 [-0.5, +4.3] (label of the interval)."""
    if result["interval"] == NONE:
        return f"{result['difference']:+.1f} (no interval)"
    return (f"{result['difference']:+.1f} [{result['low']:+.1f}, {result['high']:+.1f}] "
            f"({result['interval']})")
