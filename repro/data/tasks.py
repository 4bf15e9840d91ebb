"""What the trainer trains on: a Task turns sample indices into batches.

Every task has `n_train` items; the trainer picks them with `sample_indices`, a pure
function of (seed, position), so a batch depends only on (seed, step) — resume and world
size cannot change what is seen. Items are taken without replacement within an epoch
(GPT-3 App. B), in a fresh permutation each epoch.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

import numpy as np

from ..config import Config
from ..errors import ReproError


class Task(Protocol):
    """The contract between the trainer and the data it trains on (TextTask, AdditionTask,
    ImageTask keep it without inheriting from it).

    A batch is a dict of CPU tensors: "x" (B, T) input ids, "y" (B, T) target ids (-1 =
    ignored) and, optionally, "mask" (B, T) bool, the targets the loss counts. The trainer
    takes the mean loss over the scored targets of a batch.
    """

    kind: str         # the task's name in describe() and config (data.kind)
    vocab_size: int   # every token id is below it; a vocabulary of 0 in the config takes it
    n_train: int      # training items; sample_indices(seed, position, count, n_train) picks them

    def train_batch(self, items: np.ndarray) -> dict:
        """The batch of the training items `items` (indices < n_train), in that order."""

    def val_batches(self, batch_size: int) -> list[dict]:
        """The fixed validation slice evaluated during training, in batches of batch_size."""

    def final_evaluations(self, batch_size: int) -> dict[str, list[dict]]:
        """Sets scored once at the end, by the summary key their mean loss goes under."""

    def batch_hash(self, items: np.ndarray) -> str:
        """A short digest of the training batch `items`: metrics.jsonl records it per log step
        so that a resumed run can be shown to see the same data."""

    def describe(self) -> dict:
        """The data as summary.json records it: kind, source, sizes, data_hash."""

    def tokenizer_state(self) -> dict:
        """What a checkpoint keeps to decode tokens again: {"name": ..., "state": ...}."""

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


def make_task(cfg: Config) -> Task:
    from .addition import AdditionTask
    from .pixels import ImageTask
    from .text import TextTask
    tasks = {"text": TextTask, "addition": AdditionTask, "images": ImageTask}
    if cfg.data.kind not in tasks:
        raise ReproError(f"data.kind={cfg.data.kind!r}; choose from {', '.join(tasks)}")
    return tasks[cfg.data.kind](cfg)
