"""Batches on their way to the model: copied to the device, padded to one shape, counted."""
from __future__ import annotations

import torch


def to_device(batch: dict, device: torch.device) -> dict:
    """Asynchronous copies from pinned memory on CUDA; a tensor the batch holds twice
    (iGPT's x is its y) is copied once."""
    cuda = device.type == "cuda"
    moved = {}
    for v in batch.values():
        if id(v) not in moved:
            moved[id(v)] = (v.pin_memory() if cuda else v).to(device, non_blocking=cuda)
    return {k: moved[id(v)] for k, v in batch.items()}


# How pad_rows fills the rows it adds, per batch key: inputs copy the first row, targets are
# ignored (-1), the loss mask is off.
PAD = {"x": lambda t, k: t[:1].expand(k, *t.shape[1:]),
       "y": lambda t, k: t.new_full((k, *t.shape[1:]), -1),
       "mask": lambda t, k: t.new_zeros((k, *t.shape[1:]))}


def pad_rows(batch: dict, rows: int) -> dict:
    """`batch` grown to `rows` rows that add nothing to the loss, so every evaluation batch has
    one shape: a smaller last batch would make a compiled model compile again, for dynamic
    shapes (tens of seconds on a GPU, tens of minutes on a 2-core CPU)."""
    k = rows - len(batch["y"])
    return batch if k <= 0 else {key: torch.cat([t, PAD[key](t, k)]) for key, t in batch.items()}


def count_targets(batch: dict) -> int:
    """How many targets a batch's loss is the mean over (y = -1 and mask False are ignored)."""
    scored = batch["y"] >= 0
    return int((scored & batch["mask"]).sum() if "mask" in batch else scored.sum())
