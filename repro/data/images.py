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
    "cifar10": dict(train=10_000, val=2_000, hub="uoft-cs/cifar10", note="class-balanced subset of official "
                    "CIFAR-10 (first 1,000 train / 200 test images per class); val = the 2,000 test images"),
    "mnist": dict(train=8_000, val=2_000, hub="ylecun/mnist", note="official MNIST *test* set only (no train "
                  "images shipped): first 8,000 -> train, last 2,000 -> val; not comparable to MNIST test numbers"),
}
HUB_ALIASES = {  # data.dataset short names; any other id goes to datasets.load_dataset as is
    "cifar10": "uoft-cs/cifar10", "cifar100": "uoft-cs/cifar100", "mnist": "ylecun/mnist",
    "fashion_mnist": "zalando-datasets/fashion_mnist", "imagenet": "ILSVRC/imagenet-1k"}
VAL_SPLITS = ("validation", "valid", "val", "test")


def data_dir() -> Path:
    """Shipped data folder: $REPRO_DATA_DIR, else <repo>/data next to the repro package."""
    return Path(os.environ.get("REPRO_DATA_DIR") or Path(__file__).resolve().parents[2] / "data")


def _to_rgb(img, size: int) -> np.ndarray:
    """PIL image, uint8 array or image file -> (size, size, 3) uint8. Grey/palette/alpha -> RGB; a
    non-square image is centre-cropped (no distortion); area (box) filter to shrink, bilinear to enlarge."""
    from PIL import Image, ImageOps, UnidentifiedImageError
    if isinstance(img, Path):
        try:
            with Image.open(img) as im:
                return _to_rgb(im.convert("RGB"), size)
        except (UnidentifiedImageError, OSError) as e:
            raise ReproError(f"cannot read image {img}: {type(e).__name__}") from None
    img = (Image.fromarray(img) if isinstance(img, np.ndarray) else img).convert("RGB")
    if img.size != (size, size):
        img = ImageOps.fit(img, (size, size), Image.BOX if min(img.size) > size else Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def _resize_all(images, size: int) -> np.ndarray:
    if isinstance(images, np.ndarray) and images.shape[1:] == (size, size, 3):
        return np.ascontiguousarray(images, dtype=np.uint8)  # already right: skip the PIL round trip
    return np.stack([_to_rgb(img, size) for img in images]) if len(images) else np.empty((0, size, size, 3), np.uint8)


def _idx(path: Path) -> np.ndarray:
    """Read a gzipped idx file (big-endian header: magic whose 4th byte is ndim, one uint32 per dim)."""
    b = gzip.decompress(path.read_bytes())
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(b[3])]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * b[3]).reshape(dims)


def _load_shipped(name: str) -> dict:
    if name == "cifar10":
        f = data_dir() / "cifar10-subset" / "cifar10-subset.npz"
        check(f.is_file(), f"shipped CIFAR-10 subset not found at {f}; set REPRO_DATA_DIR to the data folder")
        with np.load(f) as d:
            return {"train": (d["x_train"], d["y_train"]), "val": (d["x_test"], d["y_test"])}
    x, y = _idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz"), _idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz")
    return {"train": (x[:8000], y[:8000]), "val": (x[8000:], y[8000:])}


def _from_hub(dd, data: DataConfig) -> dict:
    """A loaded DatasetDict -> raw splits. Image column: the first Image feature (else 'img'/'image');
    label column: the first ClassLabel (else 'label'/'labels'); no label column -> all 0."""
    import datasets
    check("train" in dd, f"hub dataset {data.dataset!r} has no 'train' split (has: {', '.join(dd)})")
    feats = dd["train"].features
    img = next((k for k, v in feats.items() if isinstance(v, datasets.Image)), None) or next(
        (k for k in ("img", "image") if k in feats), None)
    check(img is not None, f"hub dataset {data.dataset!r} has no image column (columns: {', '.join(feats)})")
    lab = next((k for k, v in feats.items() if isinstance(v, datasets.ClassLabel)), None) or next(
        (k for k in ("label", "labels") if k in feats), None)
    train, val = dd["train"], next((dd[s] for s in VAL_SPLITS if s in dd), None)
    if val is None:  # no held-out split: the tail of train, as for text sources
        n = len(train) - max(1, int(len(train) * data.val_fraction))
        train, val = train.select(range(n)), train.select(range(n, len(train)))
    if data.max_images:  # before decoding: a 1.28M-image train split is never decoded whole
        train = train.select(range(min(data.max_images, len(train))))
    out = {}
    for split, ds in (("train", train), ("val", val)):
        xs = np.empty((len(ds), data.image_size, data.image_size, 3), np.uint8)
        for i in range(0, len(ds), 1000):  # at most 1,000 decoded PIL images alive at a time
            xs[i:i + 1000] = _resize_all(ds[i:i + 1000][img], data.image_size)
        out[split] = (xs, np.asarray(ds[lab], np.int64) if lab else np.zeros(len(ds), np.int64))
    return out


def _load_hub(data: DataConfig) -> dict:
    name = HUB_ALIASES.get(data.dataset.lower(), data.dataset)
    try:
        import datasets
        dd = datasets.load_dataset(name, data.dataset_config or None)
    except Exception as e:  # offline, unknown id, gated...: one line, not a traceback
        first = (str(e).strip().splitlines() or [""])[0]
        raise ReproError(f"could not load hub dataset {name!r}: {type(e).__name__}: {first}") from None
    return _from_hub(dd, data)


def _list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file())


def _load_folder(data: DataConfig) -> dict:
    """A folder of images -> raw splits of file paths. Label: index of the first sub-folder name (sorted;
    top-level images get ""). Splits: <path>/train and one of <path>/{validation,valid,val,test} if present,
    else a fixed (seed 0) shuffle with data.val_fraction held out, so every class reaches val."""
    root = Path(data.path).expanduser()
    check(root.exists(), f"data.path={data.path!r} does not exist")
    check(root.is_dir(), f"data.path={data.path!r} is not a folder (expected a folder of png/jpg images)")
    val_dir = next((root / s for s in VAL_SPLITS if (root / s).is_dir()), None)
    if (root / "train").is_dir() and val_dir is not None:
        files = {"train": (root / "train", _list_images(root / "train")), "val": (val_dir, _list_images(val_dir))}
    else:
        fs = _list_images(root)
        check(len(fs) >= 2, f"data.path={data.path!r}: need >= 2 images ({'/'.join(IMAGE_EXTS)}), found {len(fs)}")
        perm, n_val = np.random.default_rng(0).permutation(len(fs)), max(1, round(len(fs) * data.val_fraction))
        files = {"train": (root, [fs[i] for i in perm[n_val:]]), "val": (root, [fs[i] for i in perm[:n_val]])}
    for base, fs in files.values():
        check(fs, f"data.path={data.path!r}: no images ({'/'.join(IMAGE_EXTS)}) in {base}")

    def cls(base, p):  # first folder below the split folder; "" for images at its top
        parts = p.relative_to(base).parts
        return parts[0] if len(parts) > 1 else ""
    classes = sorted({cls(b, p) for b, fs in files.values() for p in fs})
    return {s: (fs, np.array([classes.index(cls(b, p)) for p in fs], np.int64)) for s, (b, fs) in files.items()}


def load_images(data: DataConfig) -> dict:
    """{'train': (uint8 (N,S,S,3), int64 (N,)), 'val': (...)} with S = data.image_size; data.max_images
    keeps the first N train images. Precedence: data.path (a folder), data.dataset (hub, online; nothing
    is downloaded unless it is set), then data.source (shipped: see IMAGE_SOURCES)."""
    check(data.image_size >= 1, f"data.image_size must be positive, got {data.image_size}")
    check(data.max_images >= 0, f"data.max_images must not be negative, got {data.max_images}")
    if data.path:
        raw = _load_folder(data)
    elif data.dataset:
        return _load_hub(data)
    else:
        check(data.source in IMAGE_SOURCES, f"data.source={data.source!r} is not an image source; use one "
              f"of: {', '.join(IMAGE_SOURCES)}, or set data.path (a folder) or data.dataset (a hub id)")
        raw = _load_shipped(data.source)
    keep = {"train": slice(data.max_images or None), "val": slice(None)}
    return {s: (_resize_all(x[keep[s]], data.image_size), np.asarray(y[keep[s]], np.int64))
            for s, (x, y) in raw.items()}


def _unique_colours(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unique (U,3) uint8, counts (U,), inverse (N,)): 24-bit packing makes np.unique one sort."""
    p = pixels.reshape(-1, 3).astype(np.int32)
    u, inv, counts = np.unique((p[:, 0] << 16) | (p[:, 1] << 8) | p[:, 2], return_inverse=True, return_counts=True)
    return np.stack([u >> 16, (u >> 8) & 255, u & 255], 1).astype(np.uint8), counts, inv.reshape(-1)


def _scaled(cols: np.ndarray, device) -> torch.Tensor:
    """uint8 colours -> float32 x / 127.5 - 1, in numpy: torch divides by a scalar via its reciprocal on
    CUDA, which is 1 ulp off for some values and made CPU and CUDA tokens differ."""
    return torch.from_numpy(cols.astype(np.float32) / np.float32(127.5) - np.float32(1)).to(device)


def _assign(x: torch.Tensor, centres: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest centre (lowest index on exact ties) and squared distance for points x (n,3), in chunks of
    ~1M distances. sum_ch (x_ch - c_ch)^2 by separate sub/square/add ops (no matmul, no |x|^2-2x.c+|c|^2:
    that flipped ~1 pixel in 1e5 between CPU and CUDA, TF32 many more): exact float32 on every device."""
    ct, chunk = centres.T.contiguous(), max(1, 2**20 // len(centres))
    tmp = torch.empty(min(chunk, len(x)), len(centres), device=x.device)
    idx, dist = [], []
    for i in range(0, len(x), chunk):
        xb, t = x[i:i + chunk], tmp[:len(x[i:i + chunk])]
        d = torch.sub(xb[:, 0:1], ct[0]).square_()
        for ch in (1, 2):
            d.add_(torch.sub(xb[:, ch:ch + 1], ct[ch], out=t).square_())
        idx.append(d.argmin(1))
        dist.append(d.gather(1, idx[-1][:, None])[:, 0])
    return torch.cat(idx), torch.cat(dist)


def fit_palette(pixels, k: int = 512, seed: int = 0, sample: int = 100_000, iters: int = 25,
                device=None) -> torch.Tensor:
    """k-means colour palette: float32 (k,3) centres in [-1,1], on CPU.

    A seeded sample of up to `sample` pixels becomes distinct colours with counts (weighted k-means on them
    = k-means on the sample, but cheaper); k-means++ start (numpy, device-free), then up to `iters` Lloyd
    steps (stop once no colour moves). Exact float32 assignment (_assign, _scaled) and integer cluster sums:
    bit-identical on CPU and CUDA (default: CUDA if available). Empty clusters are re-seeded from the
    worst-fitted colours. <= k distinct colours: those, then copies of the last (encode takes the first)."""
    pixels = np.asarray(pixels)
    check(pixels.dtype == np.uint8 and pixels.shape[-1:] == (3,) and pixels.size > 0,
          f"fit_palette expects uint8 (..., 3) pixels, got {pixels.dtype} {pixels.shape}")
    check(k >= 1, f"palette size must be positive, got {k}")
    flat, rng = pixels.reshape(-1, 3), np.random.default_rng(seed)
    if len(flat) > sample:
        flat = flat[np.sort(rng.choice(len(flat), sample, replace=False))]
    cols, counts, _ = _unique_colours(flat)
    if len(cols) <= k:
        return _scaled(np.concatenate([cols, np.repeat(cols[-1:], k - len(cols), 0)]), "cpu")
    xc, w = (cols.astype(np.float64) / 127.5 - 1).T.copy(), counts.astype(np.float64)
    chosen, d2 = [], np.full(len(w), np.inf)
    for _ in range(k):  # k-means++: next centre drawn with probability ~ count * distance^2
        cs = np.cumsum(w if not chosen else w * d2)
        chosen.append(min(int(np.searchsorted(cs, rng.random() * cs[-1], side="right")), len(w) - 1))
        d2 = np.minimum(d2, ((xc - xc[:, chosen[-1]:chosen[-1] + 1]) ** 2).sum(0))
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    xi, wi = (torch.from_numpy(a.astype(np.int64)).to(dev) for a in (cols, counts))
    x = _scaled(cols, dev)
    centres, prev = x[torch.tensor(chosen, device=dev)].clone(), None
    for _ in range(iters):
        a, dist = _assign(x, centres)
        if prev is not None and torch.equal(a, prev):
            break
        prev = a
        cnt = torch.zeros(k, dtype=torch.int64, device=dev).index_add_(0, a, wi)
        sums = torch.zeros(k, 3, dtype=torch.int64, device=dev).index_add_(0, a, xi * wi[:, None])
        n = 127.5 * cnt.clamp(min=1)[:, None].double()  # mean/127.5 - 1 as one tensor/tensor division:
        centres = ((sums.double() - n) / n).float()     # IEEE-exact on CPU and CUDA alike
        empty = (cnt == 0).nonzero().flatten()
        if len(empty):  # stable sort: ties broken by index, so still deterministic
            centres[empty] = x[torch.argsort(dist, descending=True, stable=True)[:len(empty)]]
            prev = None
    return centres.cpu()


def encode(images, centres: torch.Tensor, device=None) -> torch.Tensor:
    """uint8 (N,H,W,3) -> int64 tokens (N, H*W) on CPU, raster order, nearest centre (squared Euclidean
    in [-1,1]). Each distinct colour is coded once (natural images repeat colours a lot)."""
    images = np.asarray(images)
    check(images.dtype == np.uint8 and images.ndim == 4 and images.shape[-1] == 3,
          f"encode expects uint8 (N,H,W,3) images, got {images.dtype} {images.shape}")
    cols, _, inv = _unique_colours(images)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    a, _ = _assign(_scaled(cols, dev), centres.to(dev, torch.float32))
    return a.cpu()[torch.from_numpy(inv)].reshape(len(images), -1)


def decode(tokens, centres: torch.Tensor, size) -> np.ndarray:
    """int tokens (N, H*W) -> uint8 (N,H,W,3) with value round(127.5 * (c + 1)); size = S or (H, W)."""
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    t = (tokens if torch.is_tensor(tokens) else torch.from_numpy(np.asarray(tokens))).long().cpu()
    check(t.ndim == 2 and t.shape[1] == h * w, f"decode: tokens {tuple(t.shape)} do not match size {h}x{w}")
    rgb = torch.round(127.5 * (centres.float().cpu() + 1)).clamp(0, 255).to(torch.uint8)
    return rgb[t].reshape(len(t), h, w, 3).numpy()


def bits_per_pixel(nats_per_token):
    """nats/token / ln 2 (one token per pixel). Over the lossy palette: NOT comparable to lossless bits/dim."""
    return nats_per_token / math.log(2)


def bits_per_subpixel(nats_per_token):
    """bits_per_pixel / 3. Same units as bits/dim, but over the lossy palette: NOT comparable to it."""
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
        arr = np.array(json.loads(path.read_text()) if path.suffix == ".json" else np.load(path), np.float32)
    except (ValueError, OSError) as e:
        raise ReproError(f"cannot read palette {path}: {type(e).__name__}") from None
    check(arr.ndim == 2 and arr.shape[1] == 3 and arr.size > 0 and np.abs(arr).max() <= 1 + 1e-6,
          f"palette {path} must be (k,3) values in [-1,1], got shape {arr.shape}")
    return torch.from_numpy(arr)


def image_grid(images, nrow: int = 8, pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """uint8 (N,H,W,3) -> one uint8 (rows*(H+pad)+pad, nrow*(W+pad)+pad, 3) image, nrow images per row."""
    images = np.asarray(images, np.uint8)
    n, h, w, _ = images.shape
    grid = np.full((-(-n // nrow) * (h + pad) + pad, nrow * (w + pad) + pad, 3), pad_value, np.uint8)
    for i, img in enumerate(images):
        y, x = pad + (i // nrow) * (h + pad), pad + (i % nrow) * (w + pad)
        grid[y:y + h, x:x + w] = img
    return grid
