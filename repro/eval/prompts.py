"""K-shot prompts: which demonstrations an example gets, how they are written, how many fit.

Demonstrations are drawn without replacement from the whole set the task scores, never
including the example being scored, by a generator seeded with (seed, example index): the
same example always gets the same demonstrations, whatever --limit or batching. (GPT-3 draws
from a training split, or a development split where there is none; our shipped sets are one
split each, so the pool is that split minus the scored example, and the output says so.)

A Format writes one solved example (a demonstration) and one open one (the query whose
continuation is scored); demonstrations are joined by `separator` after an optional task
description. K shrinks, per example, to what fits the model's context with the continuation
(estimated from the pieces' token counts); the K actually used is reported.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import check


def demonstrations(pool_size: int, index: int, k: int, seed: int) -> list[int]:
    """k distinct indices of range(pool_size) other than `index`."""
    check(k <= pool_size - 1, f"--shots {k} is larger than the pool of {pool_size - 1:,} "
                              f"demonstrations (the set minus the scored example)")
    rng = np.random.default_rng([seed, index])
    picks = rng.choice(pool_size - 1, size=k, replace=False)
    return [int(p) + (p >= index) for p in picks]      # skip the scored example


@dataclass(frozen=True)
class Format:
    description: str          # written once, before the demonstrations ("" for none)
    demonstration: str        # str.format with {context} and {answer}
    query: str                # str.format with {context}; the scored text follows it
    separator: str            # between demonstrations, and before the query


FORMATS = {
    # GPT-3 §3.1.2 and Figure G.21: "Fill in blank:" then "passage ____. -> word" examples
    "cloze": Format("Fill in blank:\n\n", "{context} ____. -> {answer}", "{context} ____. ->",
                    "\n\n"),
    # GPT-3 Figure G.4: the goal, then the solution; one example per line (our separator)
    "choice": Format("", "{context} {answer}", "{context}", "\n"),
}


def prompt(fmt: Format, shots: list[tuple[str, str]], context: str) -> str:
    """The text before the scored continuation."""
    demos = "".join(fmt.demonstration.format(context=c, answer=a) + fmt.separator for c, a in shots)
    return fmt.description + demos + fmt.query.format(context=context)


def fit(k: int, demo_tokens: list[int], fixed_tokens: int, context: int) -> int:
    """The largest j <= k whose first j demonstrations (token counts `demo_tokens`, separators
    included) fit in `context` beside `fixed_tokens` (description, query and continuation)."""
    used = fixed_tokens
    for j in range(k):
        used += demo_tokens[j]
        if used > context:
            return j
    return k
