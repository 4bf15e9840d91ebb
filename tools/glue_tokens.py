"""GPT-1's token ids of the shipped GLUE tasks, carried to a machine without spaCy.

`python -m repro gpt1 finetune` tokenizes each task once through repro.data.tokens.encode_cached
(ftfy + spaCy + BPE); a machine whose cache holds the ids needs neither. This packs exactly the
cache files the fine-tuning runs of every scale but tiny read, and unpacks them elsewhere.

    python tools/glue_tokens.py pack [FILE]     tokenize (here, with spaCy) and write FILE
                                                (default .cache/glue-gpt1-tokens.tar.xz)
    python tools/glue_tokens.py unpack [FILE]   into $REPRO_CACHE/encoded (or ~/.cache/repro)
    python tools/glue_tokens.py check           every task reads its ids from the cache (exit 1
                                                with the reason if one would need spaCy)
"""
from __future__ import annotations

import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

DEFAULT = Path(".cache/glue-gpt1-tokens.tar.xz")


def encode_all() -> None:
    """Every task as a run of scale small or above reads it (tiny reads a slice: other ids)."""
    from repro.data.tokenizers import get_tokenizer
    from repro.transfer.data import encode_task
    from repro.transfer.inputs import Specials
    from repro_papers import PAPERS
    ft, tok = PAPERS["gpt1"].finetune, get_tokenizer("gpt1")
    for task, kind in ft.tasks.items():
        t0 = time.perf_counter()
        data = encode_task(task, kind, tok, Specials.after(tok.vocab_size), 512)
        print(f"{task}: {len(data['train'])} + {len(data['dev'])} examples, "
              f"{time.perf_counter() - t0:.1f} s", flush=True)


def check(_path: Path) -> None:
    from repro.errors import ReproError
    if "spacy" in sys.modules:
        raise SystemExit("check: spaCy is already imported; run this in a fresh process")
    try:
        encode_all()
    except ReproError as e:
        raise SystemExit(f"GLUE token ids are not all in the cache: {e}")
    if "spacy" in sys.modules:
        raise SystemExit("GLUE token ids were not all in the cache: they were tokenized now "
                         "(spaCy was used); a machine without spaCy needs the packed file")
    print("every GLUE task's token ids are in the cache")


def pack(path: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["REPRO_CACHE"] = tmp   # a fresh cache: it ends up holding only these files
        encode_all()
        path.parent.mkdir(parents=True, exist_ok=True)
        files = sorted((Path(tmp) / "encoded").glob("*.npz"))
        with tarfile.open(path, "w:xz") as tar:
            for f in files:
                tar.add(f, arcname=f.name)
    print(f"{path}: {len(files)} files, {path.stat().st_size / 1e6:.2f} MB")


def unpack(path: Path) -> None:
    base = os.environ.get("REPRO_CACHE")
    dest = (Path(base) if base else Path.home() / ".cache" / "repro") / "encoded"
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path) as tar:
        names = tar.getnames()
        tar.extractall(dest, filter="data")
    print(f"{len(names)} token files -> {dest}")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or sys.argv[1] not in ("pack", "unpack", "check"):
        raise SystemExit(__doc__)
    {"pack": pack, "unpack": unpack, "check": check}[sys.argv[1]](Path(sys.argv[2]) if len(sys.argv) == 3 else DEFAULT)
