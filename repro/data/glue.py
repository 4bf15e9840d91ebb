"""Five GLUE tasks (SST-2, CoLA, MRPC, RTE, STS-B), train and dev, from the copies shipped in
data/glue/ (xz; data/glue/README.md says where they come from).

Every shipped file is decompressed and its sha256 checked against data/glue/MANIFEST.tsv before
it is read, and so is every file derived here. MRPC ships as the original Microsoft file plus
GLUE's list of dev pairs, and both splits are rebuilt by GLUE's rule (`mrpc_splits`): the copy
of GLUE's train.tsv we had lost one of its 3,668 rows.

Rows are split on tabs and nothing else. Quotes are text in these files (MRPC and SST-2 are
full of them); a CSV reader that honours quoting merges rows.
"""
from __future__ import annotations

import csv
import hashlib
import lzma
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ReproError, check
from .shipped import data_dir

SPLITS = ("train", "dev")


@dataclass(frozen=True)
class GlueTask:
    folder: str                   # under data/glue/
    fields: int                   # tab-separated fields per row
    text_columns: tuple           # 1 or 2 text segments (a sentence, or a pair)
    label_column: int
    header: bool                  # the first line names the columns
    labels: tuple                 # label strings in id order; () = a real-valued score
    metrics: tuple                # as GLUE scores the task; the first is the headline


TASKS = {
    "sst2": GlueTask("SST-2", 2, (0,), 1, True, ("0", "1"), ("accuracy",)),
    "cola": GlueTask("CoLA", 4, (3,), 1, False, ("0", "1"), ("matthews",)),
    "mrpc": GlueTask("MRPC", 5, (3, 4), 0, True, ("0", "1"), ("f1", "accuracy")),
    "rte": GlueTask("RTE", 4, (1, 2), 3, True, ("entailment", "not_entailment"), ("accuracy",)),
    "stsb": GlueTask("STS-B", 10, (7, 8), 9, True, (), ("pearson", "spearman")),
}


@dataclass
class Split:
    """One split of a task: `segments[j][i]` is text segment j of example i."""
    segments: tuple               # of lists of str, one list per text column
    labels: np.ndarray            # int64 class ids, or float32 scores (STS-B)

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, n: int) -> "Split":
        """The first n examples (all when n is 0)."""
        if not n:
            return self
        return Split(tuple(s[:n] for s in self.segments), self.labels[:n])


def glue_dir() -> Path:
    return data_dir() / "glue"


def manifest() -> dict[str, dict]:
    path = glue_dir() / "MANIFEST.tsv"
    check(path.is_file(), f"{path}: not found (set REPRO_DATA_DIR to the folder holding glue/)")
    with open(path, encoding="utf-8", newline="") as f:
        return {row["file"]: row for row in csv.DictReader(f, delimiter="\t")}


def _checked(name: str, data: bytes, rows: dict) -> str:
    """data as text, after its size and sha256 match the manifest row of `name`."""
    row = rows.get(name)
    check(row is not None, f"{glue_dir() / name}: not listed in MANIFEST.tsv")
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != int(row["bytes"]) or digest != row["sha256"]:
        raise ReproError(f"{glue_dir() / name}: sha256 {digest[:12]}... ({len(data):,} bytes) "
                         f"differs from MANIFEST.tsv ({row['sha256'][:12]}..., "
                         f"{int(row['bytes']):,} bytes); the shipped GLUE data is damaged")
    return data.decode("utf-8")


def read_shipped(name: str, rows: dict | None = None) -> str:
    """A shipped file (e.g. "RTE/dev.tsv"), decompressed and verified."""
    rows = rows or manifest()
    row = rows.get(name)
    check(row is not None and row["stored_as"] != "derived",
          f"{name}: not a shipped file of {glue_dir()}")
    path = glue_dir() / row["stored_as"]
    check(path.is_file(), f"{path}: missing (listed in MANIFEST.tsv)")
    return _checked(name, lzma.decompress(path.read_bytes()), rows)


def mrpc_splits(original: str, dev_ids: str) -> dict[str, str]:
    """GLUE's MRPC train.tsv and dev.tsv from the Microsoft file (msr_paraphrase_train.txt) and
    GLUE's dev_ids.tsv, by the rule of GLUE's download script: the header line goes to both
    files; each later line, stripped of surrounding whitespace and split on tabs into (label,
    id1, id2, sentence1, sentence2), goes to dev when the pair (id1, id2) is listed in
    dev_ids.tsv and to train otherwise, rewritten as those five fields joined by tabs."""
    dev_pairs = {tuple(line.strip().split("\t")) for line in dev_ids.splitlines() if line.strip()}
    header, *lines = original.split("\n")
    out = {"train": [header], "dev": [header]}
    for line in lines:
        if not line.strip():
            continue
        fields = line.strip().split("\t")
        check(len(fields) == 5, f"MRPC original: a row with {len(fields)} fields, expected 5")
        out["dev" if (fields[1], fields[2]) in dev_pairs else "train"].append("\t".join(fields))
    return {split: "\n".join(rows) + "\n" for split, rows in out.items()}


def raw_split(task: str, split: str, rows: dict | None = None) -> str:
    """The text of a task's train.tsv or dev.tsv, verified against the manifest."""
    rows = rows or manifest()
    folder = TASKS[task].folder
    if task == "mrpc":   # both splits are derived; each is checked like a shipped file
        text = mrpc_splits(read_shipped("MRPC/msr_paraphrase_train.txt", rows),
                           read_shipped("MRPC/dev_ids.tsv", rows))[split]
        return _checked(f"{folder}/{split}.tsv", text.encode("utf-8"), rows)
    return read_shipped(f"{folder}/{split}.tsv", rows)


def parse(task: str, text: str, what: str) -> Split:
    t = TASKS[task]
    lines = [line for line in text.split("\n") if line]
    if t.header:
        lines = lines[1:]
    segments = tuple([] for _ in t.text_columns)
    labels = []
    for n, line in enumerate(lines, 1 + t.header):
        fields = line.split("\t")
        check(len(fields) == t.fields,
              f"{what} line {n}: {len(fields)} fields, expected {t.fields}")
        for j, col in enumerate(t.text_columns):
            segments[j].append(fields[col])
        value = fields[t.label_column]
        if t.labels:
            check(value in t.labels, f"{what} line {n}: label {value!r} not one of {t.labels}")
            labels.append(t.labels.index(value))
        else:
            labels.append(float(value))
    dtype = np.int64 if t.labels else np.float32
    return Split(segments, np.asarray(labels, dtype=dtype))


def load_task(task: str) -> dict[str, Split]:
    """{"train": Split, "dev": Split} of a task, each checked against the manifest's count."""
    check(task in TASKS, f"unknown GLUE task {task!r}; choose from: {', '.join(TASKS)}")
    rows = manifest()
    out = {}
    for split in SPLITS:
        name = f"{TASKS[task].folder}/{split}.tsv"
        out[split] = parse(task, raw_split(task, split, rows), str(glue_dir() / name))
        want = int(rows[name]["records"])
        check(len(out[split]) == want, f"{name}: {len(out[split])} rows, MANIFEST.tsv says {want}")
    return out


def describe(task: str) -> dict:
    """Where a task's data comes from, for a run's config: files and their sha256."""
    rows = manifest()
    folder = TASKS[task].folder
    return {"task": task, "folder": str(Path("glue") / folder),
            "sha256": {split: rows[f"{folder}/{split}.tsv"]["sha256"] for split in SPLITS},
            "metrics": list(TASKS[task].metrics)}
