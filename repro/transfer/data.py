"""A GLUE task made ready for fine-tuning: read (repro.data.glue), tokenized once into the token
cache (encode_cached: a machine holding the cache needs no tokenizer front end), transformed
into sequences with the added tokens (repro.transfer.inputs)."""
from __future__ import annotations

from ..data.glue import TASKS, load_task
from ..data.tokens import encode_cached
from .batches import Encoded
from .inputs import VIEWS, Specials, transform_all


def encode_task(task: str, kind: str, tokenizer, specials: Specials, max_len: int,
                max_train: int = 0, max_dev: int = 0) -> dict[str, Encoded]:
    """{"train": Encoded, "dev": Encoded}; max_train / max_dev keep the first N examples (0: all)."""
    splits = load_task(task)
    limits = {"train": max_train, "dev": max_dev}
    out = {}
    for name, split in splits.items():
        split = split.head(limits[name])
        columns = tuple(encode_cached(tokenizer, list(texts)) for texts in split.segments)
        sequences, cut = transform_all(kind, columns, specials, max_len)
        out[name] = Encoded(sequences, split.labels, VIEWS[kind], cut)
    return out


def is_regression(task: str) -> bool:
    return not TASKS[task].labels


def n_outputs(task: str) -> int:
    return len(TASKS[task].labels) or 1
