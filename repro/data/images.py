"""Image data for Image GPT: loading, the 512-colour k-means palette, and pixel <-> token codes.

Following iGPT's released code: pixels are scaled to [-1, 1] (x / 127.5 - 1), the palette is k-means
(k=512) on (R, G, B) values, a pixel's token is its nearest centre by squared Euclidean distance, and an
image is one token per pixel in raster order. The start-of-sequence vector belongs to the model, not here.
"""
from __future__ import annotations

import gzip
import json
import math
import os
from pathlib import Path

import numpy as np
import torch

from ..config import DataConfig
from ..errors import ReproError, check

MNIST_DIR = Path(__file__).resolve().parent.parent / "assets" / "mnist"
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
IMAGE_SOURCES = {  # shipped sources (data.source); nothing here touches the network
    "cifar10": dict(train=10_000, val=2_000, hub="uoft-cs/cifar10",
                    note="class-balanced subset of official CIFAR-10 (first 1,000 train / 200 test "
                         "images per class), data/cifar10-subset; val = the 2,000 test images"),
    "mnist": dict(train=8_000, val=2_000, hub="ylecun/mnist",
                  note="the official MNIST *test* set only (no train images shipped): first 8,000 -> "
                       "train, last 2,000 -> val; not comparable to standard MNIST test numbers"),
}
HUB_ALIASES = {  # data.dataset short names; any other id is passed to datasets.load_dataset as is
    "cifar10": "uoft-cs/cifar10", "cifar100": "uoft-cs/cifar100", "mnist": "ylecun/mnist",
    "fashion_mnist": "zalando-datasets/fashion_mnist", "imagenet": "ILSVRC/imagenet-1k",
}
VAL_SPLITS = ("validation", "valid", "val", "test")


def data_dir() -> Path:
    """Shipped data folder: $REPRO_DATA_DIR, else <repo>/data next to the package."""
    import repro
    return Path(os.environ.get("REPRO_DATA_DIR") or Path(repro.__file__).resolve().parent.parent / "data")


# ---------------------------------------------------------------- loading

def _to_rgb(img, size: int) -> np.ndarray:
    """PIL image or uint8 array -> (size, size, 3) uint8: centre-crop to a square (no distortion),
    then area (box) filter when shrinking, bilinear when enlarging; grey/palette/alpha -> RGB."""
    from PIL import Image
    if isinstance(img, np.ndarray):
        img = Image.fromarray(img)
    img = img.convert("RGB")
    w, h = img.size
    if w != h:
        s = min(w, h)
        img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    if img.size != (size, size):
        img = img.resize((size, size), Image.BOX if img.size[0] > size else Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def _resize_all(images, size: int) -> np.ndarray:
    if isinstance(images, np.ndarray) and images.ndim == 4 and images.shape[1:] == (size, size, 3):
        return np.ascontiguousarray(images, dtype=np.uint8)  # already right: skip the PIL round trip
    out = np.empty((len(images), size, size, 3), np.uint8)
    for i, img in enumerate(images):
        out[i] = _to_rgb(img, size)
    return out


def _idx(path: Path) -> np.ndarray:
    """Read an idx file (big-endian header: magic, then one uint32 per dimension)."""
    with gzip.open(path, "rb") as f:
        b = f.read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)


def _load_shipped(name: str) -> dict:
    if name == "cifar10":
        f = data_dir() / "cifar10-subset" / "cifar10-subset.npz"
        check(f.is_file(), f"shipped CIFAR-10 subset not found at {f}; set REPRO_DATA_DIR to the data folder")
        d = np.load(f)
        return {"train": (d["x_train"], d["y_train"]), "val": (d["x_test"], d["y_test"])}
    x = _idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    y = _idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz")
    return {"train": (x[:8000], y[:8000]), "val": (x[8000:], y[8000:])}


def _from_hub(dd, data: DataConfig) -> dict:
    """A loaded DatasetDict -> splits. The image column is the first Image feature (else 'img'/'image'),
    the label column the first ClassLabel (else 'label'/'labels'); no label column -> all 0."""
    import datasets
    check("train" in dd, f"hub dataset {data.dataset!r} has no 'train' split (has: {', '.join(dd)})")
    feats = dd["train"].features
    img_col = next((k for k, v in feats.items() if isinstance(v, datasets.Image)), None) or next(
        (k for k in ("img", "image") if k in feats), None)
    check(img_col is not None, f"hub dataset {data.dataset!r} has no image column (columns: {', '.join(feats)})")
    lab_col = next((k for k, v in feats.items() if isinstance(v, datasets.ClassLabel)), None) or next(
        (k for k in ("label", "labels") if k in feats), None)
    train = dd["train"]
    val_name = next((s for s in VAL_SPLITS if s in dd), None)
    if val_name is None:  # no held-out split: the tail of train, like text sources
        n_val = max(1, int(len(train) * data.val_fraction))
        val, train = train.select(range(len(train) - n_val, len(train))), train.select(range(len(train) - n_val))
    else:
        val = dd[val_name]
    if data.max_images:
        train = train.select(range(min(data.max_images, len(train))))
    out = {}
    for split, ds in (("train", train), ("val", val)):
        xs = np.empty((len(ds), data.image_size, data.image_size, 3), np.uint8)
        for i in range(0, len(ds), 1000):  # batches keep at most 1,000 decoded PIL images alive
            batch = ds[i:i + 1000]
            xs[i:i + len(batch[img_col])] = _resize_all(batch[img_col], data.image_size)
        ys = np.asarray(ds[lab_col], np.int64) if lab_col else np.zeros(len(ds), np.int64)
        out[split] = (xs, ys)
    return out


def _load_hub(data: DataConfig) -> dict:
    import datasets
    name = HUB_ALIASES.get(data.dataset.lower(), data.dataset)
    try:
        dd = datasets.load_dataset(name, data.dataset_config or None)
    except Exception as e:  # offline, unknown id, gated...: one line, not a traceback
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ReproError(f"could not load hub dataset {name!r}: {type(e).__name__}: {msg}") from None
    return _from_hub(dd, data)


def _list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file())


def _load_folder(data: DataConfig) -> dict:
    """A folder of images. Labels: index of the first sub-folder name (sorted), 0 for images at the top.
    Splits: <path>/train plus one of <path>/{validation,valid,val,test} if present, otherwise a fixed
    (seed 0) shuffle of all images with data.val_fraction held out, so every class reaches val."""
    from PIL import UnidentifiedImageError
    root = Path(data.path).expanduser()
    check(root.exists(), f"data.path={data.path!r} does not exist")
    check(root.is_dir(), f"data.path={data.path!r} is not a folder (expected a folder of png/jpg images)")
    val_dir = next((root / s for s in VAL_SPLITS if (root / s).is_dir()), None)
    if (root / "train").is_dir() and val_dir is not None:
        files = {"train": (root / "train", _list_images(root / "train")), "val": (val_dir, _list_images(val_dir))}
    else:
        all_files = _list_images(root)
        check(len(all_files) >= 2, f"data.path={data.path!r}: need at least 2 images "
                                   f"({'/'.join(IMAGE_EXTS)}), found {len(all_files)}")
        perm = np.random.default_rng(0).permutation(len(all_files))
        n_val = max(1, int(round(len(all_files) * data.val_fraction)))
        files = {"train": (root, [all_files[i] for i in perm[n_val:]]),
                 "val": (root, [all_files[i] for i in perm[:n_val]])}
    for split, (base, fs) in files.items():
        check(fs, f"data.path={data.path!r}: no images ({'/'.join(IMAGE_EXTS)}) in {base}")

    def cls(base, p):  # first path component below the split folder, "" for top-level files
        rel = p.relative_to(base).parts
        return rel[0] if len(rel) > 1 else ""
    classes = sorted({cls(b, p) for b, fs in files.values() for p in fs})
    out = {}
    for split, (base, fs) in files.items():
        if split == "train" and data.max_images:
            fs = fs[:data.max_images]
        xs = np.empty((len(fs), data.image_size, data.image_size, 3), np.uint8)
        for i, p in enumerate(fs):
            try:
                from PIL import Image
                with Image.open(p) as im:
                    xs[i] = _to_rgb(im, data.image_size)
            except (UnidentifiedImageError, OSError) as e:
                raise ReproError(f"cannot read image {p}: {type(e).__name__}") from None
        out[split] = (xs, np.array([classes.index(cls(base, p)) for p in fs], np.int64))
    return out


def load_images(data: DataConfig) -> dict:
    """{'train': (uint8 (N,S,S,3), int64 (N,)), 'val': (...)} with S = data.image_size.
    Precedence: data.path (a folder), then data.dataset (hub, online), then data.source (shipped)."""
    check(data.image_size >= 1, f"data.image_size must be positive, got {data.image_size}")
    check(data.max_images >= 0, f"data.max_images must not be negative, got {data.max_images}")
    if data.path:
        return _load_folder(data)
    if data.dataset:
        return _load_hub(data)
    check(data.source in IMAGE_SOURCES, f"data.source={data.source!r} is not an image source; use one of: "
          f"{', '.join(IMAGE_SOURCES)}, or set data.path (a folder) or data.dataset (a hub id)")
    out = {}
    for split, (x, y) in _load_shipped(data.source).items():
        if split == "train" and data.max_images:
            x, y = x[:data.max_images], y[:data.max_images]
        out[split] = (_resize_all(x, data.image_size), np.asarray(y, np.int64))
    return out


# ---------------------------------------------------------------- palette

def _unique_colours(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unique (U,3) uint8, counts (U,), inverse (N,)): 24-bit packing makes np.unique one sort."""
    p = pixels.reshape(-1, 3).astype(np.int32)
    packed = (p[:, 0] << 16) | (p[:, 1] << 8) | p[:, 2]
    u, inv, counts = np.unique(packed, return_inverse=True, return_counts=True)
    cols = np.stack([(u >> 16) & 255, (u >> 8) & 255, u & 255], 1).astype(np.uint8)
    return cols, counts, inv.reshape(-1)


def _assign(x: torch.Tensor, centres: torch.Tensor, chunk: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest centre and its squared distance for points x (n,3). The x.c term is three explicit
    multiply-adds rather than a matmul, so TF32/bf16 matmul settings can never change a token."""
    c2, m = (centres * centres).sum(1), -2 * centres.T
    idx, dist = [], []
    for i in range(0, len(x), chunk):
        xb = x[i:i + chunk]
        d = torch.addcmul(c2, xb[:, 0:1], m[0])
        d.addcmul_(xb[:, 1:2], m[1]).addcmul_(xb[:, 2:3], m[2])
        v, a = d.min(1)
        idx.append(a)
        dist.append(v + (xb * xb).sum(1))
    return torch.cat(idx), torch.cat(dist)


def _device(device) -> torch.device:
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def fit_palette(pixels, k: int = 512, seed: int = 0, sample: int = 100_000, iters: int = 25,
                device=None) -> torch.Tensor:
    """k-means colour palette: float32 (k,3) centres in [-1,1], on CPU.

    A seeded sample of up to `sample` pixels is reduced to distinct colours with counts (weighted k-means
    on them is exactly k-means on the sample, and cheaper), seeded with k-means++ (numpy, so the start does
    not depend on the device), then up to `iters` Lloyd steps. Cluster sums are integer (pixels are uint8),
    so results are bit-identical on every run and device. Empty clusters are re-seeded from the points
    farthest from their centre. With <= k distinct colours the palette is those colours, padded by
    repeating the last (encode picks the lowest index, so the copies are never used)."""
    pixels = np.asarray(pixels)
    check(pixels.dtype == np.uint8 and pixels.shape[-1] == 3, "fit_palette expects uint8 (..., 3) pixels")
    check(k >= 1, f"palette size must be positive, got {k}")
    flat = pixels.reshape(-1, 3)
    check(len(flat) > 0, "fit_palette: no pixels")
    rng = np.random.default_rng(seed)
    if len(flat) > sample:
        flat = flat[np.sort(rng.choice(len(flat), sample, replace=False))]
    cols, counts, _ = _unique_colours(flat)
    if len(cols) <= k:
        pad = np.repeat(cols[-1:], k - len(cols), 0)
        return torch.from_numpy(np.concatenate([cols, pad]).astype(np.float32) / 127.5 - 1)
    xc = [c for c in (cols.astype(np.float64) / 127.5 - 1).T]  # per-channel columns: cheap updates
    w = counts.astype(np.float64)

    def draw(p):  # one seeded draw with probability ~ p; searchsorted on the cumsum
        cs = np.cumsum(p)
        return min(int(np.searchsorted(cs, rng.random() * cs[-1], side="right")), len(p) - 1)
    chosen = [draw(w)]
    d2 = np.full(len(w), np.inf)
    for _ in range(1, k):  # k-means++: next centre with probability ~ weight * distance^2
        j = chosen[-1]
        d2 = np.minimum(d2, (xc[0] - xc[0][j]) ** 2 + (xc[1] - xc[1][j]) ** 2 + (xc[2] - xc[2][j]) ** 2)
        chosen.append(draw(w * d2))
    dev = _device(device)
    xi = torch.from_numpy(cols.astype(np.int64)).to(dev)
    x = xi.float() / 127.5 - 1
    wi = torch.from_numpy(counts.astype(np.int64)).to(dev)
    centres = x[torch.tensor(chosen, device=dev)].clone()
    prev = None
    for _ in range(iters):
        a, dist = _assign(x, centres)
        if prev is not None and torch.equal(a, prev):
            break
        prev = a
        cnt = torch.zeros(k, dtype=torch.int64, device=dev).index_add_(0, a, wi)
        sums = torch.zeros(k, 3, dtype=torch.int64, device=dev).index_add_(0, a, xi * wi[:, None])
        centres = (sums.double() / cnt.clamp(min=1)[:, None].double() / 127.5 - 1).float()
        empty = (cnt == 0).nonzero().flatten()
        if len(empty):  # re-seed from the worst-fitted distinct colours (ties broken by index)
            far = torch.argsort(dist, descending=True, stable=True)
            centres[empty] = x[far[:len(empty)]]
            prev = None
    return centres.cpu()


def encode(images, centres: torch.Tensor, device=None) -> torch.Tensor:
    """uint8 (N,H,W,3) -> int64 tokens (N, H*W), raster order, nearest centre (squared Euclidean in
    [-1,1]). Distinct colours are coded once (natural images repeat colours a lot); the distance matrix is
    built 2,048 colours at a time to bound memory. Returned on CPU."""
    images = np.asarray(images)
    check(images.dtype == np.uint8 and images.ndim == 4 and images.shape[-1] == 3,
          f"encode expects uint8 (N,H,W,3) images, got {images.dtype} {images.shape}")
    cols, _, inv = _unique_colours(images)
    dev = _device(device)
    x = torch.from_numpy(cols).to(dev).float() / 127.5 - 1
    a, _ = _assign(x, centres.to(dev, torch.float32))
    return a.cpu()[torch.from_numpy(inv)].reshape(len(images), -1)


def decode(tokens, centres: torch.Tensor, size) -> np.ndarray:
    """int tokens (N, H*W) -> uint8 (N,H,W,3) with value round(127.5 * (c + 1)); size = S or (H, W)."""
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    t = torch.as_tensor(np.asarray(tokens) if not torch.is_tensor(tokens) else tokens).long().cpu()
    check(t.ndim == 2 and t.shape[1] == h * w, f"decode: tokens {tuple(t.shape)} do not match size {h}x{w}")
    rgb = torch.round(127.5 * (centres.float().cpu() + 1)).clamp(0, 255).to(torch.uint8)
    return rgb[t].reshape(len(t), h, w, 3).numpy()


def bits_per_pixel(nats_per_token):
    """nats/token / ln 2 = bits per pixel (one token per pixel). Over the lossy 512-colour palette, so NOT
    comparable to the standard bits/dim of lossless 8-bit image models."""
    return nats_per_token / math.log(2)


def bits_per_subpixel(nats_per_token):
    """bits_per_pixel / 3 (three sub-pixels per pixel): over the lossy palette; NOT comparable to bits/dim
    of lossless models, though it has the same units."""
    return nats_per_token / math.log(2) / 3


def save_palette(path, centres: torch.Tensor) -> None:
    """.npy (float32) or .json (list of [r, g, b] in [-1, 1])."""
    path = Path(path)
    arr = np.asarray(centres.detach().cpu() if torch.is_tensor(centres) else centres, np.float32)
    if path.suffix == ".json":
        path.write_text(json.dumps(arr.tolist()))
    else:
        np.save(path, arr)


def load_palette(path) -> torch.Tensor:
    path = Path(path)
    check(path.is_file(), f"palette file {path} not found")
    try:
        arr = np.array(json.loads(path.read_text()) if path.suffix == ".json" else np.load(path), np.float32)
    except (ValueError, OSError) as e:
        raise ReproError(f"cannot read palette {path}: {type(e).__name__}") from None
    check(arr.ndim == 2 and arr.shape[1] == 3 and np.abs(arr).max() <= 1 + 1e-6,
          f"palette {path} must be (k,3) values in [-1,1], got shape {arr.shape}")
    return torch.from_numpy(arr)


def image_grid(images, nrow: int = 8, pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """uint8 (N,H,W,3) -> one uint8 (rows*(H+pad)+pad, nrow*(W+pad)+pad, 3) image, nrow images per row."""
    images = np.asarray(images, np.uint8)
    n, h, w, _ = images.shape
    rows = -(-n // nrow)
    grid = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, 3), pad_value, np.uint8)
    for i in range(n):
        r, c = divmod(i, nrow)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = images[i]
    return grid
