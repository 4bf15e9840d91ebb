"""The stop-word filter of LAMBADA's `lambada_stopword` variant (GPT-2 §3.3).

GPT-2 §3.3 says only that most wrong predictions were valid continuations of the sentence but
not valid final words, and that "a stop-word filter as an approximation" of that constraint
raised the 1542M model from 52.66% to 63.24% (papers/FACTS.md §2.3). Neither the list nor
where it applies is published. Our choice: at the scored position, a token that is a stop word
by itself (decoded, stripped of spaces, lower-cased, in STOP_WORDS below) can never be the
prediction; the argmax is taken over the rest of the vocabulary. A target that is itself a stop
word can then never be right, which is what a filter that forbids stop words does.

STOP_WORDS: English function words (articles, pronouns, auxiliaries, prepositions,
conjunctions, a few adverbs), written here for this purpose; no published list is copied.
"""
from __future__ import annotations

import numpy as np

STOP_WORDS = frozenset("""
a an the this that these those some any each every no
i me my mine myself you your yours yourself yourselves he him his himself she her hers herself
it its itself we us our ours ourselves they them their theirs themselves one
who whom whose which what when where why how
am is are was were be been being have has had having do does did doing done
will would shall should can could may might must
and but or nor so yet if then than because as while until unless although though
of at by for with about against between into through during before after above below
to from up down in out on off over under again further once
here there all both few more most other such only own same too very just also not
s t d ll m re ve don didn doesn isn wasn aren weren won wouldn couldn shouldn
""".split())


def is_stop_word(text: str) -> bool:
    return text.strip().lower() in STOP_WORDS


def stop_word_ids(tokenizer) -> np.ndarray:
    """The ids of the tokenizer's vocabulary that decode to a stop word (with or without a
    leading space: " the" and "the" both)."""
    ids = []
    for i in range(tokenizer.vocab_size):
        try:
            text = tokenizer.decode([i])
        except (KeyError, ValueError):   # an id with no text of its own (a special token)
            continue
        if is_stop_word(text):
            ids.append(i)
    return np.array(ids, dtype=np.int64)
