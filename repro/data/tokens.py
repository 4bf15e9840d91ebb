"""Tokenise a corpus once and cache it as flat token files (nanoGPT-style train.bin / val.bin);
and `encode_cached`, the same for any list of texts (evaluation and fine-tuning sets).

A cache folder is keyed by sha256(source_fingerprint, tokenizer name, tokenizer state), so any
change to the data, its split/cut rules or the tokenizer files gives a new folder; a hit just
memory-maps the files. Documents are packed back to back with the tokenizer's end-of-text id after
each one (GPT-2/3 packing); tokenizers without one (gpt1, char) simply concatenate them.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import DataConfig
from ..errors import ReproError, check
from .corpora import describe_source, load_documents, source_fingerprint
from .tokenizers import NAMES, get_tokenizer

# layout of a cache folder; part of the key so a new layout never reads an old one
FORMAT = 1
# The DataConfig fields that decide the documents (recorded in meta.json; the others do not apply).
SOURCE_FIELDS = ("source", "path", "dataset", "dataset_config", "text_field", "val_fraction",
                 "max_chars")
# below this, one process is faster: both BPE backends already use every core
PARALLEL_DOCS = 10_000


@dataclass
class TokenData:
    train: np.ndarray   # read-only memmaps of token ids (uint16 or uint32)
    val: np.ndarray
    tokenizer: object
    cache_key: str
    cache_dir: Path


def token_cache_root(cache_root: Path | None = None) -> Path:
    """cache_root, else $REPRO_CACHE/tokens, else ~/.cache/repro/tokens."""
    if cache_root is not None:
        return Path(cache_root)
    base = os.environ.get("REPRO_CACHE")
    return Path(base) / "tokens" if base else Path.home() / ".cache" / "repro" / "tokens"


def load_tokens(data: DataConfig, tokenizer_name: str, cache_root: Path | None = None) -> TokenData:
    check(tokenizer_name in NAMES,
          f"unknown tokenizer {tokenizer_name!r}; valid choices: {', '.join(NAMES)}")
    # char's vocabulary is a function of the corpus, which the fingerprint already pins; it is only
    # known after reading the documents, so it is stored in meta.json and restored from there.
    tok = None if tokenizer_name == "char" else get_tokenizer(tokenizer_name)
    key = _sha256_json({"format": FORMAT, "source": source_fingerprint(data),
                        "tokenizer": tokenizer_name,
                        "state": tok.state() if tok else "vocabulary of the corpus"})
    root = token_cache_root(cache_root)
    folder = root / f"{tokenizer_name}-{key[:16]}"
    if not (folder / "meta.json").is_file():
        _build(data, tokenizer_name, tok, root, folder, key)
    return _open(folder, tok, key)


def require_tokens(arr: np.ndarray, n: int, what: str = "training split") -> None:
    """Raise unless `arr` holds at least n = block_size + 1 tokens (one input block plus its
    target)."""
    check(len(arr) >= n, f"{what} has {len(arr)} tokens, fewer than block_size+1 = {n}; "
                         f"use a larger corpus or a smaller model.block_size")


def _sha256_json(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _build(data: DataConfig, name: str, tok, root: Path, folder: Path, key: str) -> None:
    docs = load_documents(data)
    if tok is None:
        # All splits, as nanoGPT's shakespeare_char does: held-out books contain characters (Greek,
        # accents) that no training book has, and an unknown character cannot be encoded at all.
        tok = get_tokenizer("char", texts=docs["train"] + docs["val"])
    dtype = np.dtype(np.uint16 if tok.vocab_size <= 65535 else np.uint32)
    root.mkdir(parents=True, exist_ok=True)
    # Build in a private temp folder and rename it into place: readers never see a half-written
    # folder, and if two processes race, the second rename fails and the loser uses the winner's.
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=root))
    # mkdtemp makes it private; the finished folder should read like any other
    os.chmod(tmp, 0o755)
    try:
        counts = {split: _write_split(tok, docs[split], tmp / f"{split}.bin", dtype,
                                      f"{key[:16]}-{split}")
                  for split in ("train", "val")}
        meta = {"format": FORMAT, "cache_key": key, "dtype": dtype.name,
                "vocab_size": tok.vocab_size, "eot_id": tok.eot_id, "tokenizer": name,
                "tokenizer_state": tok.state(), "source": describe_source(data),
                "data": {k: getattr(data, k) for k in SOURCE_FIELDS},
                "documents": {s: len(d) for s, d in docs.items()},
                "tokens": counts}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        try:
            os.rename(tmp, folder)
        except OSError:
            if not (folder / "meta.json").is_file():   # not a lost race: a real filesystem problem
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_split(tok, docs: list[str], path: Path, dtype: np.dtype, fingerprint: str) -> int:
    """Tokenise docs through datasets.map and append them to `path` as one flat id array."""
    from datasets import Dataset

    eot = [] if tok.eot_id is None else [tok.eot_id]

    def encode(batch):
        return {"ids": [ids + eot for ids in tok.encode_batch(batch["text"])]}

    workers = min(os.cpu_count() or 1, 8)
    ds = Dataset.from_dict({"text": docs}).map(
        encode, batched=True, batch_size=256, remove_columns=["text"],
        desc=f"tokenizing {path.stem}",
        num_proc=workers if len(docs) >= PARALLEL_DOCS and workers > 2 else None,
        # explicit: hashing the tokenizer object for a fingerprint is slow
        new_fingerprint=fingerprint)
    total = 0
    with open(path, "wb") as f:
        for batch in ds.with_format("arrow").iter(batch_size=1024):
            ids = batch.column("ids").combine_chunks().flatten().to_numpy()
            if ids.size and int(ids.max()) >= tok.vocab_size:
                raise ReproError(f"token id {int(ids.max())} outside vocab of size "
                                 f"{tok.vocab_size}")
            ids.astype(dtype).tofile(f)
            total += ids.size
    return total


def _open(folder: Path, tok, key: str) -> TokenData:
    meta = json.loads((folder / "meta.json").read_text())
    if tok is None:
        tok = get_tokenizer("char", state=meta["tokenizer_state"])
    check(meta["vocab_size"] == tok.vocab_size,
          f"{folder}: cached vocab size {meta['vocab_size']} != tokenizer's {tok.vocab_size}; "
          f"delete the folder")
    dtype = np.dtype(meta["dtype"])
    arrays = {}
    for split in ("train", "val"):
        path = folder / f"{split}.bin"
        n = meta["tokens"][split]
        check(path.is_file() and path.stat().st_size == n * dtype.itemsize,
              f"{path}: size does not match meta.json ({n} tokens); delete {folder} to rebuild it")
        arrays[split] = np.memmap(path, dtype=dtype, mode="r") if n else np.zeros(0, dtype)
    return TokenData(arrays["train"], arrays["val"], tok, key, folder)


def encode_cached(tok, texts: list[str], cache_root: Path | None = None) -> list[np.ndarray]:
    """tok.encode_batch(texts) as one int32 array per text, cached under <cache>/encoded/ by a
    hash of the texts and the tokenizer's state: an evaluation or fine-tuning set is tokenized
    once per tokenizer, and a machine that has the cache needs no tokenizer front end at all
    (GPT-1's ftfy and spaCy are imported only on a miss)."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    key = _sha256_json({"format": FORMAT, "tokenizer": tok.name, "state": tok.state(),
                        "texts": h.hexdigest(), "n": len(texts)})
    path = token_cache_root(cache_root).parent / "encoded" / f"{tok.name}-{key[:16]}.npz"
    if path.is_file():
        with np.load(path) as f:
            ids = f["ids"]
            offsets = f["offsets"]
    else:
        encoded = tok.encode_batch(texts) if texts else []
        offsets = np.cumsum([0] + [len(e) for e in encoded]).astype(np.int64)
        ids = np.fromiter((i for e in encoded for i in e), np.int32, count=int(offsets[-1]))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
        np.savez(tmp, ids=ids, offsets=offsets)
        os.replace(tmp, path)   # atomic: a reader sees the whole file or none
    return [ids[a:b] for a, b in zip(offsets[:-1], offsets[1:])]
