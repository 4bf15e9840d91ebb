"""Language-model task over a flat token array: item i is the window starting at i*T."""
from __future__ import annotations

import hashlib

import numpy as np
import torch

from ..config import Config
from .tokens import load_tokens, require_tokens


class TextTask:
    kind = "text"

    def __init__(self, cfg: Config):
        self.T = cfg.model.block_size
        self.data = load_tokens(cfg.data, cfg.data.tokenizer)
        self.tokenizer = self.data.tokenizer
        self.vocab_size = self.tokenizer.vocab_size
        require_tokens(self.data.train, self.T + 1, "training split")
        require_tokens(self.data.val, self.T + 1, "validation split")
        # Item i is the window at i*stride; stride 1 = every offset (nanoGPT's random windows).
        self.stride = cfg.data.stride or self.T
        self.n_train = (len(self.data.train) - 1 - self.T) // self.stride + 1
        n_val = max(1, min(cfg.train.eval_tokens // self.T, (len(self.data.val) - 1) // self.T))
        self.val_items = np.arange(n_val)
        self.sample_tokens = cfg.train.sample_tokens

    def _windows(self, arr: np.ndarray, items: np.ndarray, stride: int) -> dict:
        rows = np.stack([arr[i * stride: i * stride + self.T + 1] for i in items]).astype(np.int64)
        t = torch.from_numpy(rows)
        return {"x": t[:, :-1], "y": t[:, 1:]}

    def train_batch(self, items: np.ndarray) -> dict:
        return self._windows(self.data.train, items, self.stride)

    def val_batches(self, batch_size: int) -> list[dict]:
        """The fixed slice evaluated during training: the first windows of the validation
        split (the opening of its first document), up to train.eval_tokens."""
        return self._val_windows(self.val_items, batch_size)

    def final_evaluations(self, batch_size: int) -> dict[str, list[dict]]:
        """Once, at the end: every whole window of the validation split."""
        return {"val_loss_full": self._val_windows(np.arange((len(self.data.val) - 1) // self.T),
                                                   batch_size)}

    def _val_windows(self, items: np.ndarray, batch_size: int) -> list[dict]:
        return [self._windows(self.data.val, items[i:i + batch_size], self.T)
                for i in range(0, len(items), batch_size)]

    def batch_hash(self, items: np.ndarray) -> str:
        return hashlib.sha1(self.train_batch(items)["x"].numpy().tobytes()).hexdigest()[:12]

    def describe(self) -> dict:
        return {"kind": self.kind, "tokenizer": self.tokenizer.name, "vocab_size": self.vocab_size,
                "train_tokens": int(len(self.data.train)), "val_tokens": int(len(self.data.val)),
                "val_tokens_per_eval": int(len(self.val_items) * self.T),
                "data_hash": self.data.cache_key[:16], "tokens_per_item": self.T}

    def tokenizer_state(self) -> dict:
        return {"name": self.tokenizer.name, "state": self.tokenizer.state()}
