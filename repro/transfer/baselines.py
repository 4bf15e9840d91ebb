"""The trivial baselines every GLUE dev score sits beside (DESIGN.md §11), from the dev labels.

- majority: the constant prediction of the dev set's most frequent class, scored with GLUE's
  own metrics (accuracy = that class's share; F1 of the positive class when the majority is
  positive, else 0; Matthews correlation 0, as for any constant). For STS-B, a regression, the
  constant is the mean gold score: both correlations are 0 by the metrics' degenerate rule.
- chance: the expected accuracy of a uniform random guess, 1 / number of classes (accuracy
  only; for the other metrics chance is not one number we quote).
"""
from __future__ import annotations

import numpy as np

from ..data.glue import TASKS
from .metrics import score


def majority_prediction(labels: np.ndarray, regression: bool) -> np.ndarray:
    """The constant prediction, one per example."""
    labels = np.asarray(labels)
    if regression:
        return np.full(len(labels), float(labels.mean()), dtype=np.float32)
    counts = np.bincount(labels.astype(np.int64))
    return np.full(len(labels), int(np.argmax(counts)), dtype=np.int64)   # ties: the lower id


def baselines(task: str, labels: np.ndarray) -> dict:
    """{"majority": {metric: value}, "majority_label": id or None, "chance": {metric: value}}:
    values in the metric's own range (x100 in the reports)."""
    spec = TASKS[task]
    regression = not spec.labels
    constant = majority_prediction(labels, regression)
    return {"majority": score(spec.metrics, constant, labels),
            "majority_label": None if regression else spec.labels[int(constant[0])],
            "chance": {m: 1 / len(spec.labels) for m in spec.metrics if m == "accuracy"}}
