"""The shipped, offline corpora (data.source): where their files are, the books' manifest and
Project Gutenberg trimming, and their fixed train/val splits."""
from __future__ import annotations

import csv
import gzip
import hashlib
import os
import re
from pathlib import Path

import repro
from ..config import DataConfig
from ..errors import check
from .text_files import check_text_file, split_chars

# Shipped offline sources. root "assets" = repro/assets (inside the package), "data" = the
# repo's data/
# folder (REPRO_DATA_DIR overrides). `files` (globs) are what source_fingerprint hashes.
SOURCES = {
    "books": dict(root="data", files=("books/MANIFEST.tsv", "books/*.txt.gz"),
                  license="books/README.md",
                  split="MANIFEST data row i (1-based) with i % 10 == 5 is val: "
                        "51 train / 6 val books",
                  note="57 Project Gutenberg novels, one document each; the PG header/licence "
                       "(outside the START/END markers) and the closing 'End of Project "
                       "Gutenberg...' line are stripped; "
                       "an offline stand-in for GPT-1's BooksCorpus"),
    "shakespeare": dict(root="assets", files=("tinyshakespeare/input.txt",),
                        license="tinyshakespeare/README.md",
                        split="first (1 - val_fraction) of the characters train, rest val "
                              "(minGPT/nanoGPT)",
                        note="1.1 MB tinyshakespeare (char-rnn), one document"),
    "wikitext2": dict(root="assets", files=("wikitext-2/valid.txt", "wikitext-2/test.txt"),
                      license="wikitext-2/README.md", split="valid.txt is train, test.txt is val",
                      note="only the valid/test splits ship (train.txt is not in the repo), so "
                           "valid stands in for train; tokenized WikiText-2 ('v1' variant), one "
                           "document per file"),
    "ptb": dict(root="assets", files=("ptb/ptb.valid.txt", "ptb/ptb.test.txt"),
                license="ptb/README.md",
                split="ptb.valid.txt is train, ptb.test.txt is val",
                note="only the valid/test splits ship (ptb.train.txt is not in the repo), so "
                     "valid stands in "
                     "for train; Mikolov's word-level PTB, one document per file"),
}

_PG_END = re.compile(r"^[ \t]*End of (the )?Project Gutenberg", re.I | re.M)


def data_dir() -> Path:
    repo = Path(repro.__file__).resolve().parent.parent
    return Path(os.environ.get("REPRO_DATA_DIR") or repo / "data")


def source_root(name: str) -> Path:
    assets = Path(repro.__file__).resolve().parent / "assets"
    return assets if SOURCES[name]["root"] == "assets" else data_dir()


def source_files(name: str) -> list[Path]:
    root = source_root(name)
    files = []
    for pattern in SOURCES[name]["files"]:
        matches = sorted(root.glob(pattern))
        check(matches, f"source {name!r}: no {pattern} under {root} "
                       f"(for books, set REPRO_DATA_DIR to the folder that holds books/)")
        files += matches
    return files


def _read_text(path: Path) -> str:
    check_text_file(path)
    return path.read_text("utf-8")


def _books() -> dict[str, list[str]]:
    root = data_dir() / "books"
    manifest = root / "MANIFEST.tsv"
    check(manifest.is_file(),
          f"{manifest}: not found (set REPRO_DATA_DIR to the folder holding books/)")
    out = {"train": [], "val": []}
    with open(manifest, encoding="utf-8") as f:
        for i, row in enumerate(csv.DictReader(f, delimiter="\t"), 1):
            path = root / (row["file"] + ".gz")
            check(path.is_file(), f"{path}: listed in {manifest} but missing")
            raw = gzip.decompress(path.read_bytes())
            check(hashlib.sha256(raw).hexdigest() == row["sha256"],
                  f"{path}: sha256 differs from {manifest}")
            lines = raw.decode("utf-8").split("\n")
            start = int(row["start_line"])
            end = int(row["end_line"])
            start += row["pg_id"] == "1257"   # its START marker wraps onto a second line (README)
            body = _drop_pg_closing("\n".join(lines[start:end - 1]))
            out["val" if i % 10 == 5 else "train"].append(body)
    return out


def _drop_pg_closing(body: str) -> str:
    """Cut the closing "End of (the) Project Gutenberg EBook of ..." line (and its wrapped tail)."""
    hits = list(_PG_END.finditer(body))
    if hits and len(body) - hits[-1].start() < 300:   # only at the very end, never inside the story
        body = body[:hits[-1].start()]
    return body.strip("\n")


def check_source(name: str) -> None:
    check(name in SOURCES, f"unknown data.source {name!r}; valid choices: {', '.join(SOURCES)} "
                           f"(or set data.path / data.dataset)")


def source_documents(data: DataConfig) -> dict[str, list[str]]:
    name = data.source
    check_source(name)
    if name == "books":
        return _books()
    texts = [_read_text(p) for p in (source_root(name) / f for f in SOURCES[name]["files"])]
    if name == "shakespeare":
        return split_chars(texts[0], data.val_fraction)
    return {"train": [texts[0]], "val": [texts[1]]}
