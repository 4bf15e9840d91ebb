"""The evaluation sets: the shipped files (checksums verified on every load) and the user's
file for a set that does not ship (`--set eval.path=FILE`).

SETS names each shipped file, where it lives (the repository's data/ folder or the package's
assets/), the sha256 of its decompressed bytes and how many records it holds; data/eval/README.md
gives their origin and licences. A loader returns plain Python data: a list of passages, of
choice examples, or of the lines of a tokenized file.
"""
from __future__ import annotations

import hashlib
import json
import lzma
from dataclasses import dataclass
from pathlib import Path

from ..data.shipped import data_dir
from ..data.tokenizers import ASSETS
from ..errors import ReproError, check


@dataclass(frozen=True)
class ShippedFile:
    root: str                # "data" (the repository's data/, REPRO_DATA_DIR) or "assets"
    path: str
    sha256: str              # of the decompressed bytes
    records: int             # lines (jsonl, labels, text lines)

    def location(self) -> Path:
        return (data_dir() if self.root == "data" else ASSETS) / self.path


SETS = {
    "lambada_openai": ShippedFile("data", "eval/lambada_openai/lambada_test.jsonl.xz",
        "4aa8d02cd17c719165fc8a7887fddd641f43fcafa4b1c806ca8abc31fabdb226",
        5153),
    "piqa_dev": ShippedFile("data", "eval/piqa/valid.jsonl.xz",
        "93503cc97c679e459b065c3d13e848282e44b2a25213985bed3e5d458abef72d",
        1838),
    "piqa_dev_labels": ShippedFile("data", "eval/piqa/valid-labels.lst.xz",
        "b4192dc3a2a0363d9d60ccf79800cbbe2f32ebb17726efdde6970e0b8131bceb",
        1838),
    # Our construction (tools/build_in_domain_cloze.py), not a paper benchmark.
    "in_domain_cloze": ShippedFile("data", "eval/in_domain_cloze/books_val_cloze.jsonl.xz",
        "563db23882b228920e873ed0e9cfa179e903d576434323806bc070f28d7f53c0",
        1000),
    # GLUE's SST-2 dev set as repro.data.glue ships it (header + 872 sentences)
    "sst2_dev": ShippedFile("data", "glue/SST-2/dev.tsv.xz",
        "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0",
        873),
    "wikitext2_test": ShippedFile("assets", "wikitext-2/test.txt",
        "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0",
        4358),
    "ptb_test": ShippedFile("assets", "ptb/ptb.test.txt",
        "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
        3761),
}


def _read(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return lzma.decompress(raw) if path.suffix == ".xz" else raw
    except FileNotFoundError:
        raise ReproError(f"{path}: missing (set REPRO_DATA_DIR to the folder holding eval/, or "
                         f"point --set eval.path=FILE at a copy)") from None
    except (OSError, lzma.LZMAError) as e:
        raise ReproError(f"{path}: not readable ({type(e).__name__}: {e})") from None


def shipped_text(name: str) -> str:
    """The decompressed text of a shipped file, after checking its sha256 and record count."""
    f = SETS[name]
    data = _read(f.location())
    digest = hashlib.sha256(data).hexdigest()
    check(digest == f.sha256, f"{f.location()}: sha256 {digest[:16]}... differs from the "
                              f"recorded {f.sha256[:16]}...; the shipped file is damaged")
    text = data.decode("utf-8")
    check(text.count("\n") == f.records, f"{f.location()}: {text.count(chr(10))} lines, "
                                         f"expected {f.records}")
    return text


def checksums(names) -> dict:
    """sha256 of the shipped files behind `names`, for the results file."""
    return {SETS[n].path: SETS[n].sha256 for n in names}


def user_text(path: str) -> str:
    """The user's file (xz or plain), refused in one line where training would refuse it as
    data.path (missing, a folder, empty, binary, not UTF-8) or where it holds no text."""
    from ..data.text_files import check_text_file
    p = Path(path).expanduser()
    what = f"--set eval.path={path}"
    try:
        if p.suffix != ".xz":
            check_text_file(p)
            return _some_text(p.read_text("utf-8"), p)
        check(p.is_file(), f"{p}: no such file" if not p.exists() else f"{p} is a folder")
        raw = _read(p)
        check(b"\0" not in raw, f"{p} looks binary (NUL byte), not UTF-8 text")
        return _some_text(raw.decode("utf-8"), p)
    except ReproError as e:
        raise ReproError(f"{what}: {e}") from None
    except UnicodeDecodeError as e:   # inside an .xz
        raise ReproError(f"{what}: not UTF-8 text (bad byte at offset {e.start})") from None


def _some_text(text: str, path: Path) -> str:
    if not text.strip():
        raise ReproError(f"{path} has no text (only blank lines)")
    return text


# ---- record formats ------------------------------------------------------------------------
def lines_of(text: str) -> list[str]:
    """The lines of a file without their newlines (a final newline ends the last line)."""
    return text[:-1].split("\n") if text.endswith("\n") else text.split("\n")


def passages(text: str) -> list[str]:
    """LAMBADA's jsonl: one {"text": passage} per line."""
    try:
        return [json.loads(line)["text"] for line in lines_of(text) if line.strip()]
    except (ValueError, KeyError, TypeError) as e:
        raise ReproError(f"LAMBADA file: expected one {{\"text\": ...}} per line ({e})") from None


@dataclass(frozen=True)
class Choice:
    """A multiple-choice example: the context, the candidate continuations, the right one."""
    context: str
    choices: tuple
    label: int
    suffix: str = ""        # text after the blank that every candidate shares (CBT)


def piqa(examples_text: str, labels_text: str) -> list[Choice]:
    rows = [json.loads(line) for line in lines_of(examples_text)]
    labels = [int(x) for x in lines_of(labels_text)]
    check(len(rows) == len(labels), f"PIQA: {len(rows)} examples but {len(labels)} labels")
    return [Choice(r["goal"], (r["sol1"], r["sol2"]), y) for r, y in zip(rows, labels)]


def cbt(text: str) -> list[dict]:
    """The Children's Book Test format: stories of 20 numbered context lines and a 21st line
    "21 query with XXXXX<TAB>answer<TAB><TAB>cand1|cand2|...", stories apart by a blank line."""
    out = []
    story = []
    for line in lines_of(text):
        if not line.strip():
            story = []
            continue
        number, _, rest = line.partition(" ")
        if "\t" in rest:
            query, answer, *more = rest.split("\t")
            candidates = tuple(c for c in more[-1].split("|") if c)
            check(answer in candidates and "XXXXX" in query,
                  f"CBT file: line {number} has no XXXXX blank or its answer is not a candidate")
            out.append({"story": list(story), "query": query, "answer": answer,
                        "candidates": candidates})
        else:
            story.append(rest)
    check(out, "CBT file: no question lines (\"21 ...<TAB>answer<TAB><TAB>a|b|...\") found")
    return out
