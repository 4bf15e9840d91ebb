"""Invertible de-tokenizers for the pre-tokenized language-modelling test sets.

WikiText and PTB ship tokenized: words and punctuation separated by single spaces, numbers
split with " @,@ " / " @.@ " / " @-@ " (WikiText), every number written "N" and rare words
"<unk>" (PTB). A byte-level BPE model never saw text like that, so before scoring each line
becomes ordinary text (`detokenize_line`); `retokenize_line` is the inverse, which gives the
original line back wherever the rules are unambiguous (the share is measured on the real
files by `round_trip`, and asserted by the tests). The loss is still normalised by the
ORIGINAL token count, so the de-tokenizer changes what the model reads, not what is counted.

The rules are token-level data (RULES): which tokens glue to the token before them, which to
the one after, which glue on both sides (written as another text), where quote marks open and
close. What stays as it is, on purpose:
- "<unk>": there is no word to restore, and any stand-in would make the inverse ambiguous;
- PTB's "N": the file has no digits at all, so the number is unknown;
- dashes, slashes, "&" and single quotes keep their spaces.
A sentence-final "." is not glued where the result would read as an abbreviation ("U.S. .",
"World War I .": 3% of WikiText-2's periods), so that the inverse can tell them apart.
A line's enclosing spaces are dropped; lines are joined with "\\n" (the "<eos>" of the
word-level count).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

CONTEXTS = {  # where the inverse splits a both-sides glue again
    "word": lambda c: c.isalnum() or c in "<>",      # letters, digits, the "<unk>" token
    "number": lambda c: c.isdigit() or c in "<>",
}


@dataclass(frozen=True)
class Rules:
    glue_left: tuple                 # no space before these: "word ," -> "word,"
    glue_right: tuple = ()           # no space after these: "( word" -> "(word"
    glue_both: tuple = ()            # (token, text, context): "1 @,@ 000" -> "1,000"; the inverse
                                     # splits text only between two characters of `context`
    quote: str = ""                  # alternates opening (glues right) and closing (glues left)
    # glued to a repeat of itself: "= = Career = =" -> "== Career =="
    repeated: tuple = ()
    abbreviation: str = ""           # a token this matches ends in its own "."; a sentence-final
                                     # "." is never glued to one that would then match it


_CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")
RULES = {
    "wikitext": Rules(
        glue_left=(",", ".", ";", ":", "!", "?", ")", "]", "}", "%", "...", *_CONTRACTIONS),
        glue_right=("(", "[", "{", "$"),
        glue_both=(("@-@", "-", "word"), ("@,@", ",", "number"), ("@.@", ".", "number")),
        quote='"', repeated=("=",),
        abbreviation=r"(?:[A-Za-z]\.)+|[A-Z][a-z]{0,3}\."),   # "U.S.", "e.g.", "A.", "No.", "Col."
    "ptb": Rules(glue_left=("n't", *_CONTRACTIONS), glue_right=("$", "#")),
    # Children's Book Test: PTB-style quotes `` '' stay as they are (no inverse is needed)
    "cbt": Rules(glue_left=(",", ".", ";", ":", "!", "?", ")", "''", "n't", *_CONTRACTIONS),
                 glue_right=("(", "``")),
}


def detokenize_line(rules: Rules, line: str) -> str:
    both = {tok: text for tok, text, _ in rules.glue_both}
    out = []
    prev = None
    quote_open = False
    for tok in line.split():
        glue = prev is not None and (
            tok in both or prev in both or tok in rules.glue_left or prev in rules.glue_right
            or (tok == prev and tok in rules.repeated)
            or (prev == rules.quote and quote_open)            # after an opening quote
            or (tok == rules.quote and quote_open))            # a closing quote
        if glue and tok == "." and _abbreviation(rules, prev + "."):
            glue = False                                       # "Type A ." stays apart from "A."
        if tok == rules.quote:
            quote_open = not quote_open
        out.append(("" if glue or prev is None else " ") + both.get(tok, tok))
        prev = tok
    return "".join(out)


def detokenize(rules: Rules, lines: list[str]) -> str:
    """The lines of a tokenized file (without their newlines) as one ordinary text."""
    return "\n".join(detokenize_line(rules, line) for line in lines)


def retokenize_line(rules: Rules, text: str) -> str:
    """The inverse of detokenize_line, with the tokenized file's enclosing spaces."""
    tokens = [t for chunk in text.split() for t in _split_chunk(rules, chunk)]
    return f" {' '.join(tokens)} " if tokens else " "


@lru_cache(maxsize=None)
def _peel_lists(rules: Rules) -> tuple[list, list, set, str, str]:
    """Opening and closing tokens (longest first), both as a set, and the characters an
    opening token starts with / a closing one ends with (a fast first test)."""
    leading = sorted({*rules.glue_right, rules.quote} - {""}, key=len, reverse=True)
    trailing = sorted({*rules.glue_left, rules.quote} - {""}, key=len, reverse=True)
    return (leading, trailing, set(leading) | set(trailing), "".join(t[0] for t in leading),
            "".join(t[-1] for t in trailing))


def _split_chunk(rules: Rules, chunk: str) -> list[str]:
    if rules.repeated and set(chunk) <= set(rules.repeated):
        return list(chunk)
    lead = []
    trail = []
    leading, trailing, fixed, firsts, lasts = _peel_lists(rules)
    while chunk[0] in firsts:   # peel opening tokens, then closing ones, while a word remains
        hit = next((t for t in leading if chunk.startswith(t) and len(chunk) > len(t)), None)
        if hit is None:
            break
        lead.append(hit)
        chunk = chunk[len(hit):]
    while chunk[-1] in lasts and chunk not in fixed and not (
            chunk.endswith(".") and _abbreviation(rules, chunk)):
        hit = next((t for t in trailing if chunk.endswith(t) and len(chunk) > len(t)), None)
        if hit is None:
            break
        trail.insert(0, hit)
        chunk = chunk[:-len(hit)]
    return lead + _split_joiners(rules, chunk) + trail


def _abbreviation(rules: Rules, token: str) -> bool:
    return bool(rules.abbreviation) and re.fullmatch(rules.abbreviation, token) is not None


def _split_joiners(rules: Rules, word: str) -> list[str]:
    """"1,000" -> ["1", "@,@", "000"]: a joiner text between two characters of its context."""
    tokens = []
    start = 0
    for i in range(1, len(word) - 1):
        for tok, text, context in rules.glue_both:
            ok = CONTEXTS[context]
            if word[i] == text and ok(word[i - 1]) and ok(word[i + 1]):
                tokens += [word[start:i], tok]
                start = i + 1
    return tokens + [word[start:]]


def round_trip(rules: Rules, lines: list[str]) -> tuple[int, int]:
    """(lines that come back unchanged through detokenize and retokenize, lines)."""
    same = sum(retokenize_line(rules, detokenize_line(rules, line)) == line for line in lines)
    return same, len(lines)
