"""Corpora: turn a DataConfig into train/val documents (plain strings).

Precedence: `data.path` (a user's file or folder) > `data.dataset` (a Hugging Face hub id, online) >
`data.source` (a shipped, offline corpus from SOURCES). Nothing is downloaded unless `data.dataset` is set.
"""
from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Iterable, Iterator

import repro
from ..config import DataConfig
from ..errors import ReproError, check

# Bump when a rule that shapes the documents changes (header stripping, splits): it is part of
# source_fingerprint, so stale token caches are rebuilt instead of silently reused.
LOADER_VERSION = 1

# Shipped offline sources. root "assets" = repro/assets (inside the package), "data" = the repo's data/
# folder (REPRO_DATA_DIR overrides). `files` (globs) are what source_fingerprint hashes.
SOURCES = {
    "books": dict(root="data", files=("books/MANIFEST.tsv", "books/*.txt.gz"), license="books/README.md",
                  split="MANIFEST data row i (1-based) with i % 10 == 5 is val: 51 train / 6 val books",
                  note="57 Project Gutenberg novels, one document each; the PG header/licence (outside the "
                       "START/END markers) and the closing 'End of Project Gutenberg...' line are stripped; "
                       "an offline stand-in for GPT-1's BooksCorpus"),
    "shakespeare": dict(root="assets", files=("tinyshakespeare/input.txt",),
                        license="tinyshakespeare/README.md",
                        split="first (1 - val_fraction) of the characters train, rest val (minGPT/nanoGPT)",
                        note="1.1 MB tinyshakespeare (char-rnn), one document"),
    "wikitext2": dict(root="assets", files=("wikitext-2/valid.txt", "wikitext-2/test.txt"),
                      license="wikitext-2/README.md", split="valid.txt is train, test.txt is val",
                      note="only the valid/test splits ship (train.txt is not in the repo), so valid "
                           "stands in for train; tokenized WikiText-2 ('v1' variant), one document per file"),
    "ptb": dict(root="assets", files=("ptb/ptb.valid.txt", "ptb/ptb.test.txt"), license="ptb/README.md",
                split="ptb.valid.txt is train, ptb.test.txt is val",
                note="only the valid/test splits ship (ptb.train.txt is not in the repo), so valid stands in "
                     "for train; Mikolov's word-level PTB, one document per file"),
}

# Paper-faithful hub corpora, by short name: `data.dataset=openwebtext` loads its `dataset` id with its
# `config` (unless data.dataset_config is set); any other data.dataset goes to the hub as it is (hub_id).
# Online only, ids not verified from here (no network). Scripted datasets need a parquet-converted revision
# on datasets >= 4.
HUB_SOURCES = {
    "bookcorpus": dict(dataset="bookcorpus/bookcorpus", config="", paper="GPT-1 (BooksCorpus, ~7k books)"),
    "openwebtext": dict(dataset="Skylion007/openwebtext", config="", paper="GPT-2 (open WebText replica)"),
    "fineweb-10BT": dict(dataset="HuggingFaceFW/fineweb", config="sample-10BT",
                         paper="GPT-3 (filtered Common Crawl stand-in; also sample-100BT, sample-350BT)"),
    "wikitext103": dict(dataset="Salesforce/wikitext", config="wikitext-103-raw-v1",
                        paper="GPT-2 zero-shot LM eval (one row per line; empty rows are dropped)"),
    "wikitext2-raw": dict(dataset="Salesforce/wikitext", config="wikitext-2-raw-v1", paper="GPT-2 zero-shot"),
}

BUILDERS = {".txt": "text", ".md": "text", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
_PG_END = re.compile(r"^[ \t]*End of (the )?Project Gutenberg", re.I | re.M)


def data_dir() -> Path:
    return Path(os.environ.get("REPRO_DATA_DIR") or Path(repro.__file__).resolve().parent.parent / "data")


def source_root(name: str) -> Path:
    assets = Path(repro.__file__).resolve().parent / "assets"
    return assets if SOURCES[name]["root"] == "assets" else data_dir()


def _source_files(name: str) -> list[Path]:
    root, files = source_root(name), []
    for pattern in SOURCES[name]["files"]:
        matches = sorted(root.glob(pattern))
        check(matches, f"source {name!r}: no {pattern} under {root} "
                       f"(for books, set REPRO_DATA_DIR to the folder that holds books/)")
        files += matches
    return files


def check_text_file(path: Path) -> None:
    """Fail early, naming the file, on what the text builder would report as an opaque arrow error."""
    check(path.exists(), f"{path}: no such file")
    check(path.is_file(), f"{path} is a folder, not a file")
    check(path.stat().st_size > 0, f"{path} is empty")
    decoder, offset = codecs.getincrementaldecoder("utf-8")(), 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                raise ReproError(f"{path} is not UTF-8 text (bad byte at offset {offset + e.start}); "
                                 f"convert it to UTF-8") from None
            check(b"\0" not in chunk, f"{path} looks binary (NUL byte), not UTF-8 text")
            offset += len(chunk)
    check(not decoder.buffer, f"{path} is not UTF-8 text (truncated character at the end)")


def _read_text(path: Path) -> str:
    check_text_file(path)
    return path.read_text("utf-8")


def _books() -> dict[str, list[str]]:
    root = data_dir() / "books"
    manifest = root / "MANIFEST.tsv"
    check(manifest.is_file(), f"{manifest}: not found (set REPRO_DATA_DIR to the folder holding books/)")
    out = {"train": [], "val": []}
    with open(manifest, encoding="utf-8") as f:
        for i, row in enumerate(csv.DictReader(f, delimiter="\t"), 1):
            path = root / (row["file"] + ".gz")
            check(path.is_file(), f"{path}: listed in {manifest} but missing")
            raw = gzip.decompress(path.read_bytes())
            check(hashlib.sha256(raw).hexdigest() == row["sha256"], f"{path}: sha256 differs from {manifest}")
            lines = raw.decode("utf-8").split("\n")
            start, end = int(row["start_line"]), int(row["end_line"])
            start += row["pg_id"] == "1257"   # its START marker wraps onto a second line (README)
            out["val" if i % 10 == 5 else "train"].append(_drop_pg_closing("\n".join(lines[start:end - 1])))
    return out


def _drop_pg_closing(body: str) -> str:
    """Cut the closing "End of (the) Project Gutenberg EBook of ..." line (and its wrapped tail)."""
    hits = list(_PG_END.finditer(body))
    if hits and len(body) - hits[-1].start() < 300:   # only at the very end, never inside the story
        body = body[:hits[-1].start()]
    return body.strip("\n")


def _check_source(name: str) -> None:
    check(name in SOURCES, f"unknown data.source {name!r}; valid choices: {', '.join(SOURCES)} "
                           f"(or set data.path / data.dataset)")


def _first_line(e: Exception) -> str:
    """Loader errors (arrow, json, hub) are long and generic; the first line of the cause says why."""
    cause = e.__cause__ or e
    return f"{type(cause).__name__}: {(str(cause).splitlines() or [''])[0]}"


def _source_documents(data: DataConfig) -> dict[str, list[str]]:
    name = data.source
    _check_source(name)
    if name == "books":
        return _books()
    texts = [_read_text(p) for p in (source_root(name) / f for f in SOURCES[name]["files"])]
    if name == "shakespeare":
        return _split_chars(texts[0], data.val_fraction)
    return {"train": [texts[0]], "val": [texts[1]]}


def _path_files(path: Path) -> list[Path]:
    check(path.exists(), f"data.path {path}: no such file or folder")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in BUILDERS
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    check(files, f"data.path {path}: no {'/'.join(BUILDERS)} files in this folder")
    return files


def _load_group(builder: str, files: list[Path], field: str) -> list[str]:
    """One load_dataset call for all files of one kind (text: one document per file)."""
    from datasets import load_dataset

    kwargs = {"sample_by": "document"} if builder == "text" else {}
    names = ", ".join(str(f) for f in files[:3]) + (" ..." if len(files) > 3 else "")
    try:
        ds = load_dataset(builder, data_files=[str(f) for f in files], split="train", **kwargs)
    except Exception as e:   # any reader failure becomes one line naming the files
        raise ReproError(f"could not read {names} as {builder}: {_first_line(e)}") from None
    column = "text" if builder == "text" else field
    check(column in ds.column_names, f"{names}: no field {field!r} (data.text_field); "
                                     f"fields: {', '.join(ds.column_names)}")
    return [t for t in ds[column] if isinstance(t, str)]


def _path_documents(data: DataConfig) -> dict[str, list[str]]:
    path = Path(data.path).expanduser()
    files = _path_files(path)
    groups: dict[str, list[Path]] = {}
    for f in files:   # a named file with another suffix is read as text; the UTF-8 check guards it
        groups.setdefault(BUILDERS.get(f.suffix.lower(), "text"), []).append(f)
    docs = []
    for builder in ("text", "json", "parquet"):   # fixed order, so the split is reproducible
        for f in groups.get(builder, []):
            if builder == "text":
                check_text_file(f)
            check(f.stat().st_size > 0, f"{f} is empty")
        if builder in groups:
            docs += _load_group(builder, groups[builder], data.text_field)
    docs = [d for d in docs if d.strip()]
    check(docs, f"data.path {path} is empty (no text in any document)")
    if len(docs) == 1:
        return _split_chars(docs[0], data.val_fraction)
    n_val = max(1, round(len(docs) * data.val_fraction))
    return {"train": docs[:-n_val], "val": docs[-n_val:]}


def _split_chars(text: str, val_fraction: float) -> dict[str, list[str]]:
    n = int(len(text) * (1 - val_fraction))
    return {"train": [text[:n]], "val": [text[n:]]}


def hub_id(data: DataConfig) -> tuple[str, str]:
    """(hub id, config) that data.dataset names: a HUB_SOURCES short name is resolved, anything else kept."""
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
        raise ReproError(f"could not load hub dataset {name}: {_first_line(e)}") from None
    check("train" in dd, f"hub dataset {name} has no train split; splits: {', '.join(dd)}")
    train = dd["train"]
    check(data.text_field in train.column_names, f"hub dataset {name}: no field {data.text_field!r} "
                                                 f"(data.text_field); fields: {', '.join(train.column_names)}")
    val = dd["validation"] if "validation" in dd else dd["test"] if "test" in dd else None
    if val is None:   # no published held-out split: the tail of train, as for a user's folder
        n = len(train)
        n_val = max(1, round(n * data.val_fraction))
        train, val = train.select(range(n - n_val)), train.select(range(n - n_val, n))
    return {"train": _rows(train, data.text_field), "val": _rows(val, data.text_field)}


def _rows(ds, field: str) -> Iterator[str]:
    """Lazily, so that max_chars reads only the head of a large dataset."""
    for batch in ds.iter(batch_size=1000):
        yield from (t for t in batch[field] if isinstance(t, str))


def _take(docs: Iterable[str], max_chars: int) -> list[str]:
    """Non-empty documents; with max_chars > 0 only the first max_chars characters of their concatenation
    (whole documents while they fit, then the head of the next one)."""
    out, left = [], max_chars
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
    """{"train": [...], "val": [...]} documents for data.path, else data.dataset, else data.source."""
    if data.path:
        docs = _path_documents(data)
    elif data.dataset:
        docs = _hub_documents(data)
    else:
        docs = _source_documents(data)
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
    """Stable hash of what load_documents would read and how it splits/cuts it (a token-cache key part).
    User files: path, size, mtime. Shipped files: content (mtimes change on checkout). Hub: id + config."""
    ident = {"loader": LOADER_VERSION, "val_fraction": data.val_fraction, "max_chars": data.max_chars}
    if data.path:
        files = _path_files(Path(data.path).expanduser().resolve())
        ident.update(text_field=data.text_field, files=[(str(f), f.stat().st_size, f.stat().st_mtime_ns)
                                                        for f in files])
    elif data.dataset:
        ident.update(hub=[*hub_id(data), data.text_field])
    else:
        _check_source(data.source)
        root = source_root(data.source)
        ident.update(source=data.source, split=SOURCES[data.source]["split"],
                     files={str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
                            for f in _source_files(data.source)})
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()
