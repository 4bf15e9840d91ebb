"""Image GPT's colour palette: k-means (k=512) centres, and pixel <-> token codes.

Following iGPT's released code: pixels are scaled to [-1, 1] (x / 127.5 - 1), the palette is
k-means on (R, G, B) values, a pixel's token is its nearest centre by squared Euclidean
distance, and an image is one token per pixel in raster order. The start-of-sequence vector
belongs to the model, not here.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from ..errors import ReproError, check


def _unique_colours(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unique (U,3) uint8, counts (U,), inverse (N,)): 24-bit packing makes np.unique one
    sort."""
    p = pixels.reshape(-1, 3).astype(np.int32)
    packed = (p[:, 0] << 16) | (p[:, 1] << 8) | p[:, 2]
    u, inv, counts = np.unique(packed, return_inverse=True, return_counts=True)
    colours = np.stack([u >> 16, (u >> 8) & 255, u & 255], 1).astype(np.uint8)
    return colours, counts, inv.reshape(-1)


def _scaled(cols: np.ndarray, device) -> torch.Tensor:
    """uint8 colours -> float32 x / 127.5 - 1, in numpy: torch divides by a scalar via its
    reciprocal on CUDA, which is 1 ulp off for some values and made CPU and CUDA tokens
    differ."""
    return torch.from_numpy(cols.astype(np.float32) / np.float32(127.5) - np.float32(1)).to(device)


def _assign(x: torch.Tensor, centres: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest centre (lowest index on exact ties) and squared distance for points x (n,3), in
    chunks of ~1M distances. sum_ch (x_ch - c_ch)^2 by separate sub/square/add ops (no matmul,
    no |x|^2-2x.c+|c|^2: that flipped ~1 pixel in 1e5 between CPU and CUDA, TF32 many more):
    exact float32 on every device."""
    ct = centres.T.contiguous()
    chunk = max(1, 2**20 // len(centres))
    tmp = torch.empty(min(chunk, len(x)), len(centres), device=x.device)
    idx = []
    dist = []
    for i in range(0, len(x), chunk):
        xb = x[i:i + chunk]
        t = tmp[:len(xb)]
        d = torch.sub(xb[:, 0:1], ct[0]).square_()
        for ch in (1, 2):
            d.add_(torch.sub(xb[:, ch:ch + 1], ct[ch], out=t).square_())
        idx.append(d.argmin(1))
        dist.append(d.gather(1, idx[-1][:, None])[:, 0])
    return torch.cat(idx), torch.cat(dist)


def fit_palette(pixels, k: int = 512, seed: int = 0, sample: int = 100_000, iters: int = 25,
                device=None) -> torch.Tensor:
    """k-means colour palette: float32 (k,3) centres in [-1,1], on CPU.

    A seeded sample of up to `sample` pixels becomes distinct colours with counts (weighted
    k-means on them = k-means on the sample, but cheaper); k-means++ start (numpy, device-free),
    then up to `iters` Lloyd steps (stop once no colour moves). Exact float32 assignment
    (_assign, _scaled) and integer cluster sums: bit-identical on CPU and CUDA (default: CUDA if
    available). Empty clusters are re-seeded from the worst-fitted colours. <= k distinct
    colours: those, then copies of the last (encode takes the first)."""
    pixels = np.asarray(pixels)
    check(pixels.dtype == np.uint8 and pixels.shape[-1:] == (3,) and pixels.size > 0,
          f"fit_palette expects uint8 (..., 3) pixels, got {pixels.dtype} {pixels.shape}")
    check(k >= 1, f"palette size must be positive, got {k}")
    flat = pixels.reshape(-1, 3)
    rng = np.random.default_rng(seed)
    if len(flat) > sample:
        flat = flat[np.sort(rng.choice(len(flat), sample, replace=False))]
    cols, counts, _ = _unique_colours(flat)
    if len(cols) <= k:
        return _scaled(np.concatenate([cols, np.repeat(cols[-1:], k - len(cols), 0)]), "cpu")
    chosen = _kmeans_plus_plus(cols, counts, k, rng)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    xi, wi = (torch.from_numpy(a.astype(np.int64)).to(dev) for a in (cols, counts))
    x = _scaled(cols, dev)
    centres = x[torch.tensor(chosen, device=dev)].clone()
    prev = None
    for _ in range(iters):
        a, dist = _assign(x, centres)
        if prev is not None and torch.equal(a, prev):
            break
        prev = a
        cnt = torch.zeros(k, dtype=torch.int64, device=dev).index_add_(0, a, wi)
        sums = torch.zeros(k, 3, dtype=torch.int64, device=dev).index_add_(0, a, xi * wi[:, None])
        # mean/127.5 - 1 as one tensor/tensor division: IEEE-exact on CPU and CUDA alike
        n = 127.5 * cnt.clamp(min=1)[:, None].double()
        centres = ((sums.double() - n) / n).float()
        empty = (cnt == 0).nonzero().flatten()
        if len(empty):  # stable sort: ties broken by index, so still deterministic
            centres[empty] = x[torch.argsort(dist, descending=True, stable=True)[:len(empty)]]
            prev = None
    return centres.cpu()


def _kmeans_plus_plus(cols: np.ndarray, counts: np.ndarray, k: int,
                      rng: np.random.Generator) -> list[int]:
    """k-means++ on the distinct colours (in numpy, device-free): the indices of the k start
    centres, each next one drawn with probability ~ count * squared distance."""
    xc = (cols.astype(np.float64) / 127.5 - 1).T.copy()
    w = counts.astype(np.float64)
    chosen = []
    d2 = np.full(len(w), np.inf)
    for _ in range(k):
        cs = np.cumsum(w if not chosen else w * d2)
        drawn = int(np.searchsorted(cs, rng.random() * cs[-1], side="right"))
        chosen.append(min(drawn, len(w) - 1))
        d2 = np.minimum(d2, ((xc - xc[:, chosen[-1]:chosen[-1] + 1]) ** 2).sum(0))
    return chosen


def encode(images, centres: torch.Tensor, device=None) -> torch.Tensor:
    """uint8 (N,H,W,3) -> int64 tokens (N, H*W) on CPU, raster order, nearest centre (squared
    Euclidean in [-1,1]). Each distinct colour is coded once (natural images repeat colours a
    lot)."""
    images = np.asarray(images)
    check(images.dtype == np.uint8 and images.ndim == 4 and images.shape[-1] == 3,
          f"encode expects uint8 (N,H,W,3) images, got {images.dtype} {images.shape}")
    cols, _, inv = _unique_colours(images)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    a, _ = _assign(_scaled(cols, dev), centres.to(dev, torch.float32))
    return a.cpu()[torch.from_numpy(inv)].reshape(len(images), -1)


def decode(tokens, centres: torch.Tensor, size) -> np.ndarray:
    """int tokens (N, H*W) -> uint8 (N,H,W,3) with value round(127.5 * (c + 1)); size = S or
    (H, W)."""
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    t = (tokens if torch.is_tensor(tokens) else torch.from_numpy(np.asarray(tokens))).long().cpu()
    check(t.ndim == 2 and t.shape[1] == h * w,
          f"decode: tokens {tuple(t.shape)} do not match size {h}x{w}")
    rgb = torch.round(127.5 * (centres.float().cpu() + 1)).clamp(0, 255).to(torch.uint8)
    return rgb[t].reshape(len(t), h, w, 3).numpy()


def bits_per_pixel(nats_per_token):
    """nats/token / ln 2 (one token per pixel). Over the lossy palette: NOT comparable to
    lossless bits/dim."""
    return nats_per_token / math.log(2)


def bits_per_subpixel(nats_per_token):
    """bits_per_pixel / 3. Same units as bits/dim, but over the lossy palette: NOT comparable to
    it."""
    return nats_per_token / math.log(2) / 3


def save_palette(path, centres: torch.Tensor) -> None:
    """.json (list of [r, g, b] in [-1, 1]) or anything else as .npy (float32)."""
    arr = np.asarray(centres.detach().cpu() if torch.is_tensor(centres) else centres, np.float32)
    if str(path).endswith(".json"):
        Path(path).write_text(json.dumps(arr.tolist()))
    else:
        np.save(path, arr)


def load_palette(path) -> torch.Tensor:
    path = Path(path)
    check(path.is_file(), f"palette file {path} not found")
    try:
        values = json.loads(path.read_text()) if path.suffix == ".json" else np.load(path)
        arr = np.array(values, np.float32)
    except (ValueError, OSError) as e:
        raise ReproError(f"cannot read palette {path}: {type(e).__name__}") from None
    check(arr.ndim == 2 and arr.shape[1] == 3 and arr.size > 0 and np.abs(arr).max() <= 1 + 1e-6,
          f"palette {path} must be (k,3) values in [-1,1], got shape {arr.shape}")
    return torch.from_numpy(arr)
