"""What the trainer trains on: a Task turns sample indices into batches.

Every task has `n_train` items; the trainer picks them with `sample_indices`, a pure
function of (seed, position), so a batch depends only on (seed, step) — resume and world
size cannot change what is seen. Items are taken without replacement within an epoch
(GPT-3 App. B), in a fresh permutation each epoch.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from ..config import Config
from ..errors import ReproError

_PERMS: OrderedDict = OrderedDict()


def _permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    key = (seed, epoch, n)
    if key not in _PERMS:
        _PERMS[key] = np.random.default_rng([seed, epoch]).permutation(n)
        while len(_PERMS) > 2:
            _PERMS.popitem(last=False)
    return _PERMS[key]


def sample_indices(seed: int, start: int, count: int, n_items: int) -> np.ndarray:
    """Items at global sample positions [start, start + count)."""
    pos = np.arange(start, start + count)
    out = np.empty(count, dtype=np.int64)
    for epoch in np.unique(pos // n_items):
        sel = pos // n_items == epoch
        out[sel] = _permutation(seed, int(epoch), n_items)[pos[sel] % n_items]
    return out


def make_task(cfg: Config):
    from .addition import AdditionTask
    from .pixels import ImageTask
    from .text import TextTask
    tasks = {"text": TextTask, "addition": AdditionTask, "images": ImageTask}
    if cfg.data.kind not in tasks:
        raise ReproError(f"data.kind={cfg.data.kind!r}; choose from {', '.join(tasks)}")
    return tasks[cfg.data.kind](cfg)
