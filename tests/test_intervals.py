"""The statistics behind the fine-tuning report's verdicts (repro/report/intervals.py): GLUE's
headline metrics over a batch of resamples equal the one-row metrics, the seed-only interval on
a hand-computed case, Student's t against scipy, and the paired bootstrap over dev examples and
seeds on constructed predictions: an interval that excludes 0 where the arms differ and
contains it where they do not."""
from __future__ import annotations

import numpy as np
import pytest

from repro.report import intervals as iv
from repro.report.intervals import Cell, average_difference, difference, verdict
from repro.transfer import metrics


def test_batch_metrics_equal_the_row_metrics():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 2, (6, 50))
    pred = np.where(rng.random((6, 50)) < 0.7, gold, 1 - gold)
    pred[0] = 1                                   # a constant row: F1 defined, Matthews 0
    score, guess = rng.normal(size=(6, 40)), rng.normal(size=(6, 40))
    guess[1] = 2.5                                # a constant regression: correlation 0
    for name in ("accuracy", "f1", "matthews"):
        got = iv.BATCH_METRICS[name](pred, gold)
        assert got == pytest.approx([metrics.METRICS[name](p, g) for p, g in zip(pred, gold)])
    got = iv.BATCH_METRICS["pearson"](guess, score)
    assert got == pytest.approx([metrics.pearson(p, g) for p, g in zip(guess, score)])
    assert got[1] == 0.0


def test_t_quantiles_match_scipy():
    from scipy.stats import t
    for df in (1, 2, 4, 9, 30):
        assert iv.t975(df) == pytest.approx(t.ppf(0.975, df), abs=1e-3)
    assert iv.t975(200) == 1.96


def test_seed_only_interval_by_hand():
    a, b = Cell([80.0, 81.0, 79.0]), Cell([70.0, 71.0, 69.0])
    r = difference(a, b, None, "accuracy")
    half = 4.303 * np.sqrt(1 / 3 + 1 / 3)          # variances 1 each, 3 seeds, t(2)
    assert r["interval"] == iv.SEED_ONLY and r["difference"] == pytest.approx(10.0)
    assert (r["low"], r["high"]) == pytest.approx((10 - half, 10 + half))
    assert verdict(r, "a higher", "b higher") == "a higher"
    close = difference(Cell([80.0, 84.0, 76.0]), Cell([79.0, 81.0, 77.0]), None, "accuracy")
    assert close["low"] < 0 < close["high"]
    assert verdict(close, "a", "b") == "no detectable difference"
    assert verdict(difference(Cell([80.0]), b, None, "accuracy"), "a", "b") == \
        "no interval (one seed)"
    # a constant baseline adds no variance: only a's spread counts, at a's degrees of freedom
    base = difference(a, Cell([52.0], exact=True), None, "accuracy")
    assert base["high"] - base["low"] == pytest.approx(2 * 4.303 * np.sqrt(1 / 3))


def _arm(gold: np.ndarray, right: float, seeds: int, rng) -> Cell:
    """Seeds of an arm that answers each example right with probability `right`."""
    preds = np.stack([np.where(rng.random(len(gold)) < right, gold, 1 - gold)
                      for _ in range(seeds)])
    return Cell([100 * metrics.accuracy(p, gold) for p in preds], preds)


def test_paired_bootstrap_excludes_0_only_where_the_arms_differ():
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 2, 400)
    good, bad, good_again = (_arm(gold, 0.9, 5, rng), _arm(gold, 0.6, 5, rng),
                             _arm(gold, 0.9, 5, rng))
    far = difference(good, bad, gold, "accuracy")
    assert far["interval"] == iv.BOOTSTRAP and far["low"] > 20 and far["high"] < 40
    assert far["difference"] == pytest.approx(np.mean(good.values) - np.mean(bad.values))
    assert verdict(far, "good higher", "bad higher") == "good higher"
    assert verdict(difference(bad, good, gold, "accuracy"), "x", "good higher") == "good higher"
    same = difference(good, good_again, gold, "accuracy")
    assert same["low"] < 0 < same["high"] and same["high"] - same["low"] < 10
    assert difference(good, good_again, gold, "accuracy") == same        # a fixed generator
    # the average over tasks: one clear task and one null one stay clear, not twice as wide
    both = average_difference([(good, bad, gold, "accuracy"),
                               (good, good_again, gold, "accuracy")])
    assert both["difference"] == pytest.approx((far["difference"] + same["difference"]) / 2)
    assert both["low"] > 0
    # one arm without predictions: the whole comparison falls back to seed-only
    assert difference(good, Cell(bad.values), gold, "accuracy")["interval"] == iv.SEED_ONLY
