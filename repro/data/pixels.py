"""Image modelling task (iGPT, minGPT's play_image): images -> palette tokens -> sequences.

Splits as iGPT §3 made them: a fixed 10% of the TRAIN images (seed 0) is the validation split,
used during training and to choose the probe's layer; the test images are scored once, at the
end (test loss and the probe's test accuracy). The palette is fitted on the remaining training
pixels with a fixed seed, independent of the run seed, so every seed trains on the same tokens.
With the model's sos_token the whole image is predicted (x = y = the pixels); without it,
pixel t+1 from pixels <= t. At the end (repro.eval.end_of_run): a grid of real vs sampled images
and the linear probe (repro.transfer.probe).
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch

from ..config import Config
from ..errors import check
from . import images as im
from . import palette as pal

VAL_FRACTION = 0.1   # iGPT §3: 10% of the training images held out (CIFAR, STL)


def split_train_val(n: int, fraction: float = VAL_FRACTION,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, val indices): a fixed shuffle of the n training images, the last
    `fraction` of it held out; both sorted, so the order of the images is kept."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(1, round(n * fraction))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


class ImageTask:
    kind = "images"

    def __init__(self, cfg: Config):
        self.cfg = cfg
        d = cfg.data
        self.sos = cfg.model.sos_token
        sets = im.load_images(d)
        (xall, yall), (xte, self.yte) = sets["train"], sets["val"]
        tr, va = split_train_val(len(xall))
        (xtr, self.ytr), (xva, self.yva) = (xall[tr], yall[tr]), (xall[va], yall[va])
        self.palette = pal.fit_palette(xtr.reshape(-1, 3), k=d.palette_size, seed=0)
        self.train_tokens, self.val_tokens, self.test_tokens = (
            pal.encode(x, self.palette) for x in (xtr, xva, xte))
        self.test_images = xte
        self.vocab_size = d.palette_size
        self.T = d.image_size ** 2 - (0 if self.sos else 1)
        check(cfg.model.block_size >= self.T,
              f"model.block_size={cfg.model.block_size} < {self.T} tokens of a "
              f"{d.image_size}x{d.image_size} image")
        self.n_train = len(self.train_tokens)
        n_val = max(1, min(len(self.val_tokens), cfg.train.eval_tokens // d.image_size ** 2))
        self.val_items = np.arange(n_val)

    def inputs(self, tokens: torch.Tensor) -> torch.Tensor:
        """The model's input ids for whole images (tokens): what the probe reads features of."""
        return self._batch(tokens)["x"]

    def _batch(self, tokens: torch.Tensor) -> dict:
        if self.sos:
            return {"x": tokens, "y": tokens}
        return {"x": tokens[:, :-1], "y": tokens[:, 1:]}

    def _batches(self, tokens: torch.Tensor, batch_size: int) -> list[dict]:
        return [self._batch(tokens[i:i + batch_size]) for i in range(0, len(tokens), batch_size)]

    def train_batch(self, items: np.ndarray) -> dict:
        return self._batch(self.train_tokens[torch.from_numpy(items)])

    def val_batches(self, batch_size: int) -> list[dict]:
        return self._batches(self.val_tokens[:len(self.val_items)], batch_size)

    def final_evaluations(self, batch_size: int) -> dict[str, list[dict]]:
        """Scored once, at the end: the whole validation split and the test set."""
        return {"val_loss_full": self._batches(self.val_tokens, batch_size),
                "test_loss": self._batches(self.test_tokens, batch_size)}

    def batch_hash(self, items: np.ndarray) -> str:
        return hashlib.sha1(self.train_batch(items)["x"].numpy().tobytes()).hexdigest()[:12]

    def describe(self) -> dict:
        d = self.cfg.data
        digest = hashlib.sha1(self.train_tokens.numpy().tobytes()).hexdigest()[:16]
        return {"kind": self.kind, "source": d.dataset or d.path or d.source,
                "train_images": self.n_train, "val_images": len(self.val_tokens),
                "val_images_per_eval": len(self.val_items), "test_images": len(self.test_tokens),
                "val_split": f"{VAL_FRACTION:.0%} of the training images (seed 0)",
                "image_size": d.image_size, "palette_size": d.palette_size,
                "data_hash": digest, "tokens_per_item": d.image_size ** 2}

    def tokenizer_state(self) -> dict:
        return {"name": "palette", "state": {"centres": self.palette.tolist()}}
