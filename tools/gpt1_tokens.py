"""GPT-1's token ids of everything a GPU sitting reads, carried to a machine without spaCy.

GPT-1's tokenizer runs ftfy and spaCy (repro/data/tokenizers.py), which the GPU machine lacks;
every tokenization goes through the token cache ($REPRO_CACHE), and a machine whose cache holds
the ids needs neither. This fills a fresh cache with exactly what those runs read, packs it, and
unpacks it there:
  - the books corpus at the scales above tiny (repro.data.tokens.load_tokens),
  - the zero-shot evaluation sets (`python -m repro eval --tokenize-only`),
  - the five GLUE tasks of the fine-tuning scales above tiny (repro.transfer.data).

    python tools/gpt1_tokens.py pack [FILE]     tokenize here (spaCy) and write FILE
                                                (default .dev/carry/gpt1-tokens.tar.xz)
    python tools/gpt1_tokens.py unpack [FILE]   into $REPRO_CACHE (or ~/.cache/repro)
    python tools/gpt1_tokens.py check           everything is read from the cache, no spaCy
"""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

DEFAULT = Path(".dev/carry/gpt1-tokens.tar.xz")   # what tools/gpu_env.sh unpacks
EVAL_TASKS = "lambada,wikitext2,ptb,sst2_zeroshot"   # + GPT-1 Figure 2 (right)


def tokenize_all() -> None:
    from repro.data.tokenizers import get_tokenizer
    from repro.data.tokens import load_tokens
    from repro.spec import resolve
    from repro.transfer.data import encode_task
    from repro.transfer.inputs import Specials
    from repro_papers import PAPERS
    spec = PAPERS["gpt1"]
    cfg = resolve(spec, None, "small")   # medium and paper read the same corpus
    load_tokens(cfg.data, cfg.data.tokenizer)
    tok = get_tokenizer("gpt1")
    for task, kind in spec.finetune.tasks.items():
        encode_task(task, kind, tok, Specials.after(tok.vocab_size), spec.recipe.model.block_size)
    subprocess.run([sys.executable, "-m", "repro", "eval", "--tokenize-only", "--tokenizer",
                    "gpt1", "--tasks", EVAL_TASKS, "--no-progress"], check=True)


def check(_path: Path) -> None:
    if "spacy" in sys.modules:
        raise SystemExit("check: spaCy is already imported; run this in a fresh process")
    tokenize_all()
    if "spacy" in sys.modules:
        raise SystemExit("not everything was in the cache: spaCy was used")
    print("every GPT-1 token id a sitting reads is in the cache")


def pack(path: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["REPRO_CACHE"] = tmp   # a fresh cache: it ends up holding only these files
        tokenize_all()
        path.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(path, "w:xz") as tar:
            for f in sorted(Path(tmp).rglob("*")):
                if f.is_file():
                    tar.add(f, arcname=str(f.relative_to(tmp)))
    print(f"{path}: {path.stat().st_size / 1e6:.1f} MB")


def unpack(path: Path) -> None:
    base = os.environ.get("REPRO_CACHE")
    dest = Path(base) if base else Path.home() / ".cache" / "repro"
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path) as tar:
        tar.extractall(dest, filter="data")
    print(f"{path} -> {dest}")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or sys.argv[1] not in ("pack", "unpack", "check"):
        raise SystemExit(__doc__)
    {"pack": pack, "unpack": unpack, "check": check}[sys.argv[1]](
        Path(sys.argv[2]) if len(sys.argv) == 3 else DEFAULT)
