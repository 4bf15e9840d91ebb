"""Image data for Image GPT: loading images (shipped sets, the Hub, a folder) as uint8 arrays of
one size, and a grid of them for display. Their palette tokens are repro.data.palette's job."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from ..config import DataConfig
from ..errors import ReproError, check

MNIST_DIR = Path(__file__).resolve().parent.parent / "assets" / "mnist"
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
IMAGE_SOURCES = {  # shipped sources (data.source); nothing here touches the network
    "cifar10": dict(train=10_000, val=2_000, hub="uoft-cs/cifar10",
                    note="class-balanced subset of official CIFAR-10 (first 1,000 train / 200 "
                         "test images per class); val = the 2,000 test images"),
    "mnist": dict(train=8_000, val=2_000, hub="ylecun/mnist",
                  note="official MNIST *test* set only (no train images shipped): first 8,000 -> "
                       "train, last 2,000 -> val; not comparable to MNIST test numbers"),
}
HUB_ALIASES = {  # data.dataset short names; any other id goes to datasets.load_dataset as is
    "cifar10": "uoft-cs/cifar10", "cifar100": "uoft-cs/cifar100", "mnist": "ylecun/mnist",
    "fashion_mnist": "zalando-datasets/fashion_mnist", "imagenet": "ILSVRC/imagenet-1k"}
VAL_SPLITS = ("validation", "valid", "val", "test")


def data_dir() -> Path:
    """Shipped data folder: $REPRO_DATA_DIR, else <repo>/data next to the repro package."""
    return Path(os.environ.get("REPRO_DATA_DIR") or Path(__file__).resolve().parents[2] / "data")


def _to_rgb(img, size: int) -> np.ndarray:
    """PIL image, uint8 array or image file -> (size, size, 3) uint8. Grey/palette/alpha -> RGB;
    a non-square image is centre-cropped (no distortion); area (box) filter to shrink, bilinear
    to enlarge."""
    from PIL import Image, ImageOps, UnidentifiedImageError
    if isinstance(img, Path):
        try:
            with Image.open(img) as im:
                return _to_rgb(im.convert("RGB"), size)
        except (UnidentifiedImageError, OSError) as e:
            raise ReproError(f"cannot read image {img}: {type(e).__name__}") from None
    img = (Image.fromarray(img) if isinstance(img, np.ndarray) else img).convert("RGB")
    if img.size != (size, size):
        resample = Image.BOX if min(img.size) > size else Image.BILINEAR
        img = ImageOps.fit(img, (size, size), resample)
    return np.asarray(img, dtype=np.uint8)


def _resize_all(images, size: int) -> np.ndarray:
    if isinstance(images, np.ndarray) and images.shape[1:] == (size, size, 3):
        # already right: skip the PIL round trip
        return np.ascontiguousarray(images, dtype=np.uint8)
    if not len(images):
        return np.empty((0, size, size, 3), np.uint8)
    return np.stack([_to_rgb(img, size) for img in images])


def _idx(path: Path) -> np.ndarray:
    """Read a gzipped idx file (big-endian header: magic whose 4th byte is ndim, one uint32 per
    dim)."""
    b = gzip.decompress(path.read_bytes())
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(b[3])]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * b[3]).reshape(dims)


def _load_shipped(name: str) -> dict:
    if name == "cifar10":
        f = data_dir() / "cifar10-subset" / "cifar10-subset.npz"
        check(f.is_file(), f"shipped CIFAR-10 subset not found at {f}; set REPRO_DATA_DIR to "
                           f"the data folder")
        with np.load(f) as d:
            return {"train": (d["x_train"], d["y_train"]), "val": (d["x_test"], d["y_test"])}
    x = _idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    y = _idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz")
    return {"train": (x[:8000], y[:8000]), "val": (x[8000:], y[8000:])}


def _from_hub(dd, data: DataConfig) -> dict:
    """A loaded DatasetDict -> raw splits. Image column: the first Image feature (else
    'img'/'image'); label column: the first ClassLabel (else 'label'/'labels'); no label
    column -> all 0."""
    import datasets
    check("train" in dd,
          f"hub dataset {data.dataset!r} has no 'train' split (has: {', '.join(dd)})")
    feats = dd["train"].features
    img = next((k for k, v in feats.items() if isinstance(v, datasets.Image)), None) or next(
        (k for k in ("img", "image") if k in feats), None)
    check(img is not None,
          f"hub dataset {data.dataset!r} has no image column (columns: {', '.join(feats)})")
    lab = next((k for k, v in feats.items() if isinstance(v, datasets.ClassLabel)), None) or next(
        (k for k in ("label", "labels") if k in feats), None)
    train = dd["train"]
    val = next((dd[s] for s in VAL_SPLITS if s in dd), None)
    if val is None:  # no held-out split: the tail of train, as for text sources
        n = len(train) - max(1, int(len(train) * data.val_fraction))
        val = train.select(range(n, len(train)))
        train = train.select(range(n))
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
        raise ReproError(f"could not load hub dataset {name!r}: "
                         f"{type(e).__name__}: {first}") from None
    return _from_hub(dd, data)


def _list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file())


def _load_folder(data: DataConfig) -> dict:
    """A folder of images -> raw splits of file paths. Label: index of the first sub-folder name
    (sorted; top-level images get ""). Splits: <path>/train and one of
    <path>/{validation,valid,val,test} if present, else a fixed (seed 0) shuffle with
    data.val_fraction held out, so every class reaches val."""
    root = Path(data.path).expanduser()
    check(root.exists(), f"data.path={data.path!r} does not exist")
    check(root.is_dir(),
          f"data.path={data.path!r} is not a folder (expected a folder of png/jpg images)")
    val_dir = next((root / s for s in VAL_SPLITS if (root / s).is_dir()), None)
    if (root / "train").is_dir() and val_dir is not None:
        files = {"train": (root / "train", _list_images(root / "train")),
                 "val": (val_dir, _list_images(val_dir))}
    else:
        fs = _list_images(root)
        check(len(fs) >= 2, f"data.path={data.path!r}: need >= 2 images "
                            f"({'/'.join(IMAGE_EXTS)}), found {len(fs)}")
        perm = np.random.default_rng(0).permutation(len(fs))
        n_val = max(1, round(len(fs) * data.val_fraction))
        files = {"train": (root, [fs[i] for i in perm[n_val:]]),
                 "val": (root, [fs[i] for i in perm[:n_val]])}
    for base, fs in files.values():
        check(fs, f"data.path={data.path!r}: no images ({'/'.join(IMAGE_EXTS)}) in {base}")

    def cls(base, p):  # first folder below the split folder; "" for images at its top
        parts = p.relative_to(base).parts
        return parts[0] if len(parts) > 1 else ""
    classes = sorted({cls(b, p) for b, fs in files.values() for p in fs})
    return {s: (fs, np.array([classes.index(cls(b, p)) for p in fs], np.int64))
            for s, (b, fs) in files.items()}


def load_images(data: DataConfig) -> dict:
    """{'train': (uint8 (N,S,S,3), int64 (N,)), 'val': (...)} with S = data.image_size;
    data.max_images keeps the first N train images. Precedence: data.path (a folder),
    data.dataset (hub, online; nothing is downloaded unless it is set), then data.source
    (shipped: see IMAGE_SOURCES)."""
    check(data.image_size >= 1, f"data.image_size must be positive, got {data.image_size}")
    check(data.max_images >= 0, f"data.max_images must not be negative, got {data.max_images}")
    if data.path:
        raw = _load_folder(data)
    elif data.dataset:
        return _load_hub(data)
    else:
        check(data.source in IMAGE_SOURCES,
              f"data.source={data.source!r} is not an image source; use one of: "
              f"{', '.join(IMAGE_SOURCES)}, or set data.path (a folder) or data.dataset "
              f"(a hub id)")
        raw = _load_shipped(data.source)
    keep = {"train": slice(data.max_images or None), "val": slice(None)}
    return {s: (_resize_all(x[keep[s]], data.image_size), np.asarray(y[keep[s]], np.int64))
            for s, (x, y) in raw.items()}


def image_grid(images, nrow: int = 8, pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """uint8 (N,H,W,3) -> one uint8 (rows*(H+pad)+pad, nrow*(W+pad)+pad, 3) image, nrow images
    per row."""
    images = np.asarray(images, np.uint8)
    n, h, w, _ = images.shape
    rows = -(-n // nrow)
    grid = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, 3), pad_value, np.uint8)
    for i, img in enumerate(images):
        y = pad + (i // nrow) * (h + pad)
        x = pad + (i % nrow) * (w + pad)
        grid[y:y + h, x:x + w] = img
    return grid
