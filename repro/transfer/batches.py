"""Batches of transformed examples: padded on the right to the longest sequence in the batch,
examples of similar length batched together so that little of a batch is padding.

An epoch's batches are a pure function of (seed, epoch): the examples are shuffled, the last
partial batch is dropped (as GPT-1's code does: every update sees a full batch), windows of
BUCKET batches are sorted by length and cut into batches, and the batches are shuffled again.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

BUCKET = 50          # batches per length-sorted window: enough to pad little, few enough to mix
PAD_MULTIPLE = 8     # padded lengths round up to this (fewer distinct shapes, aligned matmuls)


@dataclass
class Encoded:
    """A split after the input transformation: per example its sequences (all of one length)."""
    sequences: list          # [example][view] -> list of token ids
    labels: np.ndarray
    views: int               # sequences per example
    cut: int = 0             # examples cut to fit the context

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(s[0]) for s in self.sequences), np.int64, len(self.sequences))


def epoch_batches(enc: Encoded, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    rng = np.random.default_rng([seed, epoch])
    n = len(enc) // batch_size * batch_size
    order = rng.permutation(len(enc))[:n]
    lengths, batches = enc.lengths, []
    for start in range(0, n, batch_size * BUCKET):
        window = order[start:start + batch_size * BUCKET]
        window = window[np.argsort(lengths[window], kind="stable")]
        batches += [window[i:i + batch_size] for i in range(0, len(window), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def steps_per_epoch(n_examples: int, batch_size: int) -> int:
    return n_examples // batch_size


def eval_batches(enc: Encoded, batch_size: int) -> list[np.ndarray]:
    """Every example once, shortest first."""
    order = np.argsort(enc.lengths, kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def collate(enc: Encoded, items: np.ndarray, max_len: int) -> dict:
    """{"idx": (B*views, T) int64, "lengths": (B*views,), "labels": (B,)}: the views of an
    example adjacent; padding (id 0) only after a sequence's last token, where a causal model's
    earlier positions never look and the losses never count."""
    seqs = [view for i in items for view in enc.sequences[i]]
    longest = max(len(s) for s in seqs)
    T = min(-(-longest // PAD_MULTIPLE) * PAD_MULTIPLE, max_len)
    idx = np.zeros((len(seqs), T), dtype=np.int64)
    for row, s in enumerate(seqs):
        idx[row, :len(s)] = s
    labels = enc.labels[items]
    return {"idx": torch.from_numpy(idx),
            "lengths": torch.tensor([len(s) for s in seqs], dtype=torch.long),
            "labels": torch.from_numpy(labels.astype(np.float32 if labels.dtype.kind == "f"
                                                     else np.int64))}
