"""minGPT's adder: n-digit + n-digit addition, answer digits reversed, loss on the answer only.

A problem a + b is the digit string of a, of b (n digits each, zero-padded) and of a + b
written backwards (n + 1 digits), e.g. n=2: 85 + 50 = 135 -> "8550" + "531". Reversing puts
the lowest digit first, which is how addition carries. A fixed permutation (seed 1337, as in
minGPT) holds out min(1000, 20%) of all problems; they are never trained on, and the final
score is exact-match accuracy of greedy decoding on all of them (repro.eval.end_of_run).
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch

from ..config import Config
from ..errors import check


class AdditionTask:
    kind = "addition"
    vocab_size = 10

    def __init__(self, cfg: Config):
        n = self.ndigit = cfg.task.ndigit
        check(n <= 4, f"task.ndigit={n} makes {100 ** n:,} problems; use at most 4")
        total = 10 ** (2 * n)
        perm = np.random.default_rng(1337).permutation(total)
        n_test = min(1000, total // 5)
        self.test_ids = perm[:n_test]
        self.train_ids = perm[n_test:]
        self.n_train = len(self.train_ids)
        self.T = 3 * n  # 2n + (n+1) digits, minus the last one which is never an input
        check(cfg.model.block_size >= self.T,
              f"model.block_size={cfg.model.block_size} < {self.T} needed for {n}-digit addition")

    def digits(self, ids: np.ndarray) -> np.ndarray:
        """Each problem as its 3n + 1 digits: a, b, then a + b reversed."""
        n = self.ndigit
        base = 10 ** self.ndigit
        a = ids // base
        b = ids % base
        c = a + b
        cols = [(a // 10 ** (n - 1 - i)) % 10 for i in range(n)]
        cols += [(b // 10 ** (n - 1 - i)) % 10 for i in range(n)]
        cols += [(c // 10 ** i) % 10 for i in range(n + 1)]  # reversed answer
        return np.stack(cols, axis=1).astype(np.int64)

    def _batch(self, ids: np.ndarray) -> dict:
        d = torch.from_numpy(self.digits(ids))
        mask = torch.zeros(len(ids), self.T, dtype=torch.bool)
        mask[:, 2 * self.ndigit - 1:] = True  # predictions of the answer digits only
        return {"x": d[:, :-1], "y": d[:, 1:], "mask": mask}

    def train_batch(self, items: np.ndarray) -> dict:
        return self._batch(self.train_ids[items])

    def val_batches(self, batch_size: int) -> list[dict]:
        return [self._batch(self.test_ids[i:i + batch_size])
                for i in range(0, len(self.test_ids), batch_size)]

    def batch_hash(self, items: np.ndarray) -> str:
        return hashlib.sha1(self.train_ids[items].tobytes()).hexdigest()[:12]

    def describe(self) -> dict:
        return {"kind": self.kind, "ndigit": self.ndigit, "train_problems": self.n_train,
                "heldout_problems": len(self.test_ids), "tokens_per_item": self.T}

    def tokenizer_state(self) -> dict:
        return {"name": "digits", "state": {}}

    def final_evaluations(self, batch_size: int) -> dict:
        return {}   # the held-out set is scored during training and by exact match below
