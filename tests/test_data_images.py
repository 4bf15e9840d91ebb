"""Image data layer: shipped sources, folders, the k-means palette, token codes and linear probes."""
import math

import numpy as np
import pytest
import torch

from repro.config import DataConfig
from repro.data import images as I
from repro.data import palette as P
from repro.errors import ReproError
from repro.transfer.probe import linear_probe, probe_layers


def cfg(**kw):
    return DataConfig(kind="images", tokenizer="palette", **kw)


@pytest.fixture(scope="module")
def cifar():
    return I.load_images(cfg(source="cifar10"))


@pytest.fixture(scope="module")
def palette512(cifar):
    # a smaller sample / fewer Lloyd steps than the defaults keep this ~1 s on CPU
    return P.fit_palette(cifar["train"][0], 512, seed=0, sample=50_000, iters=10)


def test_cifar_shipped(cifar):
    (xt, yt), (xv, yv) = cifar["train"], cifar["val"]
    assert xt.shape == (10000, 32, 32, 3) and xv.shape == (2000, 32, 32, 3)
    assert xt.dtype == np.uint8 and yt.dtype == np.int64 and yv.dtype == np.int64
    assert yt[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]      # README
    assert yv[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert np.bincount(yt).tolist() == [1000] * 10 and np.bincount(yv).tolist() == [200] * 10
    assert np.allclose(xt.reshape(-1, 3).mean(0) / 255, [0.4936, 0.4832, 0.4470], atol=1e-3)
    small = I.load_images(cfg(source="cifar10", image_size=16, max_images=50))
    assert small["train"][0].shape == (50, 16, 16, 3) and small["val"][0].shape == (2000, 16, 16, 3)
    assert small["train"][1].tolist() == yt[:50].tolist()


def test_mnist_shipped():
    d = I.load_images(cfg(source="mnist"))
    (xt, yt), (xv, yv) = d["train"], d["val"]
    assert xt.shape == (8000, 32, 32, 3) and xv.shape == (2000, 32, 32, 3)
    assert yt[:5].tolist() == [7, 2, 1, 0, 4] and len(yv) == 2000
    assert (xt[..., 0] == xt[..., 1]).all() and (xt[..., 1] == xt[..., 2]).all()   # grey -> 3 equal channels
    native = I.load_images(cfg(source="mnist", image_size=28, max_images=10))
    assert native["train"][0].shape == (10, 28, 28, 3) and native["train"][0].max() == 255


def test_palette_round_trip(cifar, palette512):
    c = palette512
    assert c.shape == (512, 3) and c.dtype == torch.float32 and c.abs().max() <= 1
    xv = cifar["val"][0][:500]
    tok = P.encode(xv, c)
    assert tok.shape == (500, 1024) and tok.dtype == torch.long and 0 <= tok.min() and tok.max() < 512
    err = np.abs(P.decode(tok, c, 32).astype(int) - xv).mean((0, 1, 2))
    # measured ~3.8 / 255 per channel (k=512); k=16 gives ~11-12 and k=2 ~30, so 5 catches a broken palette
    assert (err < 5.0).all(), err
    c16 = P.fit_palette(cifar["train"][0], 16, seed=0, sample=20_000)
    err16 = np.abs(P.decode(P.encode(xv, c16), c16, 32).astype(int) - xv).mean((0, 1, 2))
    assert (err16 > 5.0).all() and (err16 < 20).all(), err16


def test_encode_is_nearest_centre(cifar, palette512):
    x = cifar["val"][0][:4]
    tok = P.encode(x, palette512).reshape(-1).numpy()
    p = x.reshape(-1, 3).astype(np.float64) / 127.5 - 1                 # raster order: row-major H, W
    d = ((p[:, None, :] - palette512.double().numpy()[None]) ** 2).sum(-1)
    best = d.min(1)
    assert np.all(d[np.arange(len(p)), tok] <= best + 1e-6)              # ties are the only allowed change
    assert (tok == d.argmin(1)).mean() > 0.999
    rgb = np.round(127.5 * (palette512.numpy() + 1)).astype(np.uint8)
    assert (P.decode(tok[None], palette512, (64, 64)) == rgb[tok].reshape(1, 64, 64, 3)).all()


def test_fit_palette_deterministic_and_degenerate(cifar):
    px = cifar["train"][0][:200]
    a, b = P.fit_palette(px, 16, seed=3, sample=20_000), P.fit_palette(px, 16, seed=3, sample=20_000)
    assert torch.equal(a, b)
    assert not torch.equal(a, P.fit_palette(px, 16, seed=4, sample=20_000))
    few = np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 128, 0], [7, 8, 9]], np.uint8)
    img = few[np.arange(64) % 5].reshape(1, 8, 8, 3)
    c = P.fit_palette(img, 8, seed=0)                                    # fewer colours than centres
    assert c.shape == (8, 3) and (P.decode(P.encode(img, c), c, 8) == img).all()


def test_palette_files_bits_and_grid(tmp_path, palette512):
    for name in ("p.npy", "p.json"):
        P.save_palette(tmp_path / name, palette512)
        assert torch.allclose(P.load_palette(tmp_path / name), palette512)
    (tmp_path / "bad.json").write_text("[[1, 2]]")
    with pytest.raises(ReproError):
        P.load_palette(tmp_path / "bad.json")
    with pytest.raises(ReproError):
        P.load_palette(tmp_path / "missing.npy")
    assert P.bits_per_pixel(math.log(2)) == pytest.approx(1.0)
    assert P.bits_per_subpixel(3 * math.log(2)) == pytest.approx(1.0)
    g = I.image_grid(np.zeros((10, 4, 4, 3), np.uint8), nrow=4, pad=1)
    assert g.shape == (3 * 5 + 1, 4 * 5 + 1, 3) and g.dtype == np.uint8


def _write(path, arr):
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def test_folder_of_images(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(6):
        _write(tmp_path / "imgs" / "cat" / f"{i}.png", rng.integers(0, 256, (30, 40, 3), dtype=np.uint8))
        _write(tmp_path / "imgs" / "dog" / f"{i}.jpg", rng.integers(0, 256, (10, 10), dtype=np.uint8))  # grey
    d = I.load_images(cfg(path=str(tmp_path / "imgs"), image_size=8, val_fraction=0.25))
    assert d["train"][0].shape == (9, 8, 8, 3) and d["val"][0].shape == (3, 8, 8, 3)
    assert sorted(np.concatenate([d["train"][1], d["val"][1]]).tolist()) == [0] * 6 + [1] * 6
    # explicit train/ and val/ folders; images at the top level get label 0
    _write(tmp_path / "split" / "train" / "a.png", np.zeros((5, 5, 3), np.uint8))
    _write(tmp_path / "split" / "val" / "b.png", np.full((5, 5, 3), 255, np.uint8))
    d = I.load_images(cfg(path=str(tmp_path / "split"), image_size=4))
    assert d["train"][0].shape == (1, 4, 4, 3) and d["val"][0].max() == 255 and d["val"][1].tolist() == [0]


def test_hub_columns_and_tail_split():
    datasets = pytest.importorskip("datasets")
    from PIL import Image
    ims = [Image.fromarray(np.full((6, 9, 3), i, np.uint8)) for i in range(10)]
    feats = datasets.Features({"name": datasets.Value("string"), "picture": datasets.Image(),
                               "kind": datasets.ClassLabel(names=["x", "y"])})
    ds = datasets.Dataset.from_dict({"name": ["n"] * 10, "picture": ims, "kind": [i % 2 for i in range(10)]},
                                    features=feats)
    d = I._from_hub(datasets.DatasetDict(train=ds), cfg(dataset="toy", image_size=4, max_images=5))
    assert d["train"][0].shape == (5, 4, 4, 3) and d["val"][0].shape == (1, 4, 4, 3)
    assert d["val"][0][0, 0, 0, 0] == 9 and d["train"][1].tolist() == [0, 1, 0, 1, 0]


@pytest.mark.parametrize("kw", [dict(path="/nonexistent/images"), dict(source="books"), dict(source="imagenet")])
def test_bad_inputs(kw):
    with pytest.raises(ReproError) as e:
        I.load_images(cfg(**kw))
    assert "\n" not in str(e.value)


def test_bad_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "a.txt").write_text("not an image")
    (tmp_path / "broken").mkdir()
    for n in ("a.png", "b.png"):
        (tmp_path / "broken" / n).write_bytes(b"not a png")
    (tmp_path / "file.png").write_bytes(b"x")
    for name in ("empty", "text", "broken", "file.png"):
        with pytest.raises(ReproError) as e:
            I.load_images(cfg(path=str(tmp_path / name)))
        assert "\n" not in str(e.value)


def test_linear_probe_toy():
    g = torch.Generator().manual_seed(0)
    means = torch.randn(4, 32, generator=g) * 3
    ytr, yte = torch.randint(0, 4, (2000,), generator=g), torch.randint(0, 4, (1000,), generator=g)
    xtr = means[ytr] + torch.randn(2000, 32, generator=g)
    xte = means[yte] + torch.randn(1000, 32, generator=g)
    acc = linear_probe(xtr, ytr, xte, yte)
    assert acc > 0.95 and acc == linear_probe(xtr, ytr, xte, yte)            # separable, deterministic
    rnd = linear_probe(xtr, torch.randint(0, 4, (2000,), generator=g), xte, yte)
    assert abs(rnd - 0.25) < 0.06                                             # random labels: chance
    accs = probe_layers([(xtr.numpy(), xte.numpy()), (xtr * 100 + 5, xte * 100 + 5)], ytr.numpy(), yte)
    assert len(accs) == 2 and accs[0] == pytest.approx(accs[1], abs=0.01)     # standardised: scale-free
    with pytest.raises(ReproError):
        linear_probe(xtr, ytr, xte[:, :5], yte)
