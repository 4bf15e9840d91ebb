"""Corpora: turn a DataConfig into train/val documents (plain strings).

Precedence: `data.path` (a user's file or folder: repro.data.text_files) > `data.dataset` (a
Hugging Face hub id, online) > `data.source` (a shipped, offline corpus: repro.data.shipped).
Nothing is downloaded unless `data.dataset` is set.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable, Iterator

from ..config import DataConfig
from ..errors import ReproError, check
from .shipped import SOURCES, check_source, source_documents, source_files, source_root
from .text_files import first_line, path_documents, path_files

# Bump when a rule that shapes the documents changes (header stripping, splits): it is part of
# source_fingerprint, so stale token caches are rebuilt instead of silently reused.
LOADER_VERSION = 1

# Paper-faithful hub corpora, by short name: `data.dataset=openwebtext` loads its `dataset` id
# with its `config` (unless data.dataset_config is set); any other data.dataset goes to the hub
# as it is (hub_id). Online only, ids not verified from here (no network). Scripted datasets
# need a parquet-converted revision on datasets >= 4.
HUB_SOURCES = {
    "bookcorpus": dict(dataset="bookcorpus/bookcorpus", config="",
                       paper="GPT-1 (BooksCorpus, ~7k books)"),
    "openwebtext": dict(dataset="Skylion007/openwebtext", config="",
                        paper="GPT-2 (open WebText replica)"),
    "fineweb-10BT": dict(dataset="HuggingFaceFW/fineweb", config="sample-10BT",
                         paper="GPT-3 (filtered Common Crawl stand-in; also sample-100BT, "
                               "sample-350BT)"),
    "wikitext103": dict(dataset="Salesforce/wikitext", config="wikitext-103-raw-v1",
                        paper="GPT-2 zero-shot LM eval (one row per line; empty rows are dropped)"),
    "wikitext2-raw": dict(dataset="Salesforce/wikitext", config="wikitext-2-raw-v1",
                          paper="GPT-2 zero-shot"),
}

def hub_id(data: DataConfig) -> tuple[str, str]:
    """(hub id, config) that data.dataset names: a HUB_SOURCES short name is resolved, anything
    else kept."""
    alias = HUB_SOURCES.get(data.dataset)
    if alias is None:
        return data.dataset, data.dataset_config
    return alias["dataset"], data.dataset_config or alias["config"]


def _hub_documents(data: DataConfig) -> dict[str, Iterable[str]]:
    from datasets import load_dataset

    dataset, config = hub_id(data)
    name = f"{dataset!r}" + (f" (config {config!r})" if config else "")
    try:
        dd = load_dataset(dataset, config or None)
    except Exception as e:
        raise ReproError(f"could not load hub dataset {name}: {first_line(e)}") from None
    check("train" in dd, f"hub dataset {name} has no train split; splits: {', '.join(dd)}")
    train = dd["train"]
    check(data.text_field in train.column_names,
          f"hub dataset {name}: no field {data.text_field!r} (data.text_field); fields: "
          f"{', '.join(train.column_names)}")
    val = dd["validation"] if "validation" in dd else dd["test"] if "test" in dd else None
    if val is None:   # no published held-out split: the tail of train, as for a user's folder
        n = len(train)
        n_val = max(1, round(n * data.val_fraction))
        val = train.select(range(n - n_val, n))
        train = train.select(range(n - n_val))
    return {"train": _rows(train, data.text_field), "val": _rows(val, data.text_field)}


def _rows(ds, field: str) -> Iterator[str]:
    """Lazily, so that max_chars reads only the head of a large dataset."""
    for batch in ds.iter(batch_size=1000):
        yield from (t for t in batch[field] if isinstance(t, str))


def _take(docs: Iterable[str], max_chars: int) -> list[str]:
    """Non-empty documents; with max_chars > 0 only the first max_chars characters of their
    concatenation (whole documents while they fit, then the head of the next one)."""
    out = []
    left = max_chars
    for doc in docs:
        if not doc.strip():
            continue
        if max_chars > 0:
            doc = doc[:left]
            left -= len(doc)
        out.append(doc)
        if max_chars > 0 and left <= 0:
            break
    return out


def load_documents(data: DataConfig) -> dict[str, list[str]]:
    """{"train": [...], "val": [...]} documents for data.path, else data.dataset, else
    data.source."""
    if data.path:
        docs = path_documents(data)
    elif data.dataset:
        docs = _hub_documents(data)
    else:
        docs = source_documents(data)
    out = {split: _take(docs[split], data.max_chars) for split in ("train", "val")}
    for split, d in out.items():
        check(d, f"{describe_source(data)}: the {split} split is empty")
    return out


def describe_source(data: DataConfig) -> str:
    if data.path:
        return f"path {Path(data.path).expanduser().resolve()}"
    if data.dataset:
        dataset, config = hub_id(data)
        return f"hub {dataset}" + (f" ({config})" if config else "")
    return f"source {data.source}"


def source_fingerprint(data: DataConfig) -> str:
    """Stable hash of what load_documents would read and how it splits/cuts it (a token-cache key
    part). User files: path, size, mtime. Shipped files: content (mtimes change on checkout).
    Hub: id + config."""
    ident = {"loader": LOADER_VERSION, "val_fraction": data.val_fraction,
             "max_chars": data.max_chars}
    if data.path:
        files = path_files(Path(data.path).expanduser().resolve())
        stamps = [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
        ident.update(text_field=data.text_field, files=stamps)
    elif data.dataset:
        ident.update(hub=[*hub_id(data), data.text_field])
    else:
        check_source(data.source)
        root = source_root(data.source)
        ident.update(source=data.source, split=SOURCES[data.source]["split"],
                     files={str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
                            for f in source_files(data.source)})
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()
