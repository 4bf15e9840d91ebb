"""Task input transformations (GPT-1 §3.3, Figure 1): every task becomes token sequences that a
language model can read, bracketed by tokens added to its vocabulary for fine-tuning.

    classification   [start] text [extract]
    entailment       [start] premise [delim] hypothesis [extract]
    similarity       [start] a [delim] b [extract]  and  [start] b [delim] a [extract]
                     (no order between the two sentences: both are read, and the two extract
                     states are summed before the head)

The head reads the final hidden state at [extract], which is always the last real token of a
sequence: padding goes after it. A sequence longer than the model's context is cut at the
end of its text segments, the longer segment first (our choice; the paper does not say how it
truncates, and its code caps each segment at half the context).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = {"classification": 1, "entailment": 2, "similarity": 2}   # kind -> text segments
VIEWS = {"classification": 1, "entailment": 1, "similarity": 2}   # sequences per example


@dataclass(frozen=True)
class Specials:
    """Ids of the added tokens: the three rows after the pre-trained vocabulary (as GPT-1's
    code appends _start_, _delimiter_, _classify_)."""
    start: int
    delimiter: int
    extract: int

    @classmethod
    def after(cls, vocab_size: int) -> "Specials":
        return cls(vocab_size, vocab_size + 1, vocab_size + 2)


def fit(lengths: list[int], budget: int) -> list[int]:
    """Segment lengths cut to a total of at most `budget`: the longest segment loses a token
    until they fit."""
    lengths = list(lengths)
    while sum(lengths) > budget:
        lengths[int(np.argmax(lengths))] -= 1
    return lengths


def transform(kind: str, segments: list, specials: Specials, max_len: int) -> list[list[int]]:
    """The sequences (1 or 2) of one example; segments are its token-id lists."""
    if kind not in KINDS:
        raise ValueError(f"unknown input kind {kind!r}; one of {', '.join(KINDS)}")
    if len(segments) != KINDS[kind]:
        raise ValueError(f"{kind} takes {KINDS[kind]} text segment(s), got {len(segments)}")
    s, d, e = specials.start, specials.delimiter, specials.extract
    extra = 1 + len(segments)                          # start, extract and one delimiter per pair
    keep = fit([len(x) for x in segments], max_len - extra)
    parts = [[int(t) for t in x[:n]] for x, n in zip(segments, keep)]
    if kind == "classification":
        return [[s, *parts[0], e]]
    a, b = parts
    first = [s, *a, d, *b, e]
    return [first] if kind == "entailment" else [first, [s, *b, d, *a, e]]


def transform_all(kind: str, columns: tuple, specials: Specials, max_len: int) -> tuple[list, int]:
    """(per example its list of sequences, how many examples were cut to fit max_len);
    columns[j][i] is segment j of example i as token ids."""
    out, cut = [], 0
    for segments in zip(*columns):
        seqs = transform(kind, list(segments), specials, max_len)
        text_tokens = len(seqs[0]) - 1 - len(segments)   # without start, delimiter, extract
        cut += text_tokens < sum(len(x) for x in segments)
        out.append(seqs)
    return out, cut
