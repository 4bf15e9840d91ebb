"""GLUE's metrics, as its scorer defines them: accuracy; F1 of the positive class (label 1);
Matthews correlation of binary labels; Pearson and Spearman correlation (Spearman = Pearson of
the ranks, tied values sharing their mean rank). All return a float in the metric's own range
(accuracy and F1 in [0, 1], correlations in [-1, 1]); reports print them x100 as GLUE does.

A degenerate case (no positive predicted or gold for F1, a constant prediction for a
correlation) scores 0, as scikit-learn's scorers do, rather than NaN."""
from __future__ import annotations

import numpy as np


def _pair(pred, gold) -> tuple[np.ndarray, np.ndarray]:
    p, g = np.asarray(pred), np.asarray(gold)
    if p.shape != g.shape or p.ndim != 1 or not len(p):
        raise ValueError(f"metrics need two equal, non-empty 1-d arrays, got {p.shape} and {g.shape}")
    return p, g


def _confusion(pred, gold) -> tuple[int, int, int, int]:
    """(tp, fp, fn, tn) with label 1 the positive class."""
    p, g = _pair(pred, gold)
    p, g = p == 1, g == 1
    return (int((p & g).sum()), int((p & ~g).sum()), int((~p & g).sum()), int((~p & ~g).sum()))


def accuracy(pred, gold) -> float:
    p, g = _pair(pred, gold)
    return float((p == g).mean())


def f1(pred, gold) -> float:
    tp, fp, fn, _ = _confusion(pred, gold)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def matthews(pred, gold) -> float:
    tp, fp, fn, tn = _confusion(pred, gold)
    denominator = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    return float((tp * tn - fp * fn) / np.sqrt(float(denominator))) if denominator else 0.0


def pearson(pred, gold) -> float:
    p, g = _pair(pred, gold)
    if p.min() == p.max() or g.min() == g.max():   # a constant: 0 exactly, not rounding noise
        return 0.0
    p, g = p.astype(np.float64) - p.mean(), g.astype(np.float64) - g.mean()
    denominator = np.sqrt((p * p).sum() * (g * g).sum())
    return float((p * g).sum() / denominator) if denominator else 0.0


def ranks(x) -> np.ndarray:
    """1-based ranks; tied values get the mean of the ranks they span."""
    x = np.asarray(x)
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])   # first of each tie run
    ends = np.r_[starts[1:], len(x)]
    mean_rank = (starts + ends + 1) / 2.0                                 # ranks start..end-1, +1
    out = np.empty(len(x))
    out[order] = np.repeat(mean_rank, ends - starts)
    return out


def spearman(pred, gold) -> float:
    p, g = _pair(pred, gold)
    return pearson(ranks(p), ranks(g))


METRICS = {"accuracy": accuracy, "f1": f1, "matthews": matthews, "pearson": pearson,
           "spearman": spearman}


def score(names, pred, gold) -> dict[str, float]:
    return {name: METRICS[name](pred, gold) for name in names}
