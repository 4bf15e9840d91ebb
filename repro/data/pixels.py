"""Image modelling task (iGPT, minGPT's play_image): images -> palette tokens -> sequences.

The palette is fitted on training pixels with a fixed seed (0), independent of the run
seed, so every seed of a run trains on the same tokens. With the model's sos_token the whole
image is predicted (x = y = the pixels); without it, pixel t+1 from pixels <= t.
At the end: bits per pixel, a grid of real vs sampled images, and a linear probe of the
average-pooled output of every layer on held-out images (iGPT §2.3).
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import torch

from ..config import Config
from ..errors import check
from . import images as im

PROBE_TRAIN = 5000   # images whose features train each layer's probe


class ImageTask:
    def __init__(self, cfg: Config):
        self.cfg, d = cfg, cfg.data
        self.sos = cfg.model.sos_token
        sets = im.load_images(d)
        (xtr, self.ytr), (xva, self.yva) = sets["train"], sets["val"]
        self.palette = im.fit_palette(xtr.reshape(-1, 3), k=d.palette_size, seed=0)
        self.train_tokens, self.val_tokens = im.encode(xtr, self.palette), im.encode(xva, self.palette)
        self.val_images = xva
        self.vocab_size = d.palette_size
        self.T = d.image_size ** 2 - (0 if self.sos else 1)
        check(cfg.model.block_size >= self.T,
              f"model.block_size={cfg.model.block_size} < {self.T} tokens of a "
              f"{d.image_size}x{d.image_size} image")
        self.n_train = len(self.train_tokens)
        n_val = max(1, min(len(self.val_tokens), cfg.train.eval_tokens // d.image_size ** 2))
        self.val_items = np.arange(n_val)

    def _batch(self, tokens: torch.Tensor) -> dict:
        if self.sos:
            return {"x": tokens, "y": tokens}
        return {"x": tokens[:, :-1], "y": tokens[:, 1:]}

    def train_batch(self, items: np.ndarray) -> dict:
        return self._batch(self.train_tokens[torch.from_numpy(items)])

    def val_batches(self, batch_size: int) -> list[dict]:
        return [self._batch(self.val_tokens[i:i + batch_size])
                for i in range(0, len(self.val_items), batch_size)]

    def batch_hash(self, items: np.ndarray) -> str:
        return hashlib.sha1(self.train_batch(items)["x"].numpy().tobytes()).hexdigest()[:12]

    def describe(self) -> dict:
        d = self.cfg.data
        digest = hashlib.sha1(self.train_tokens.numpy().tobytes()).hexdigest()[:16]
        return {"kind": "images", "source": d.dataset or d.path or d.source,
                "train_images": self.n_train, "val_images": len(self.val_tokens),
                "image_size": d.image_size, "palette_size": d.palette_size,
                "data_hash": digest, "tokens_per_item": d.image_size ** 2}

    def tokenizer_state(self) -> dict:
        return {"name": "palette", "state": {"centres": self.palette.tolist()}}

    @torch.no_grad()
    def features(self, model, tokens: torch.Tensor, device, batch: int = 64) -> list[torch.Tensor]:
        """Average-pooled output of every block, one (N, d) tensor per layer."""
        out = None
        for i in range(0, len(tokens), batch):
            x = self._batch(tokens[i:i + batch].to(device))["x"]
            _, layers = model.hidden_states(x, return_all=True)
            pooled = [h.float().mean(dim=1).cpu() for h in layers]
            out = pooled if out is None else [torch.cat([a, b]) for a, b in zip(out, pooled)]
        return out

    @torch.no_grad()
    def finish(self, model, device, run_dir) -> dict:
        from ..probe import probe_layers
        s = self.cfg.data.image_size
        im.save_palette(run_dir / "palette.npy", self.palette)
        torch.manual_seed(0)
        n = 16
        prefix = self.val_tokens[:n, :0 if self.sos else 1].to(device)
        samples = model.generate(prefix, s * s - prefix.size(1), temperature=1.0)
        grid = np.concatenate([im.image_grid(self.val_images[:n], nrow=8),
                               im.image_grid(im.decode(samples.cpu(), self.palette, s), nrow=8)])
        _save_png(run_dir / "samples.png", grid)
        k = min(PROBE_TRAIN, self.n_train)
        train_f = self.features(model, self.train_tokens[:k], device)
        val_f = self.features(model, self.val_tokens, device)
        acc = probe_layers(list(zip(train_f, val_f)), self.ytr[:k], self.yva)
        result = {"probe_accuracy_per_layer": acc, "probe_best_layer": int(np.argmax(acc)) + 1,
                  "probe_train_images": k, "probe_test_images": len(self.yva)}
        (run_dir / "probe.json").write_text(json.dumps(result, indent=2))
        return result


def _save_png(path, array: np.ndarray) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.imsave(path, array)
