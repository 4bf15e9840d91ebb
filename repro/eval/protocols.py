"""The three protocols of the task table (repro/eval/tasks.py) as functions of a Setup.

Every text is tokenized through `encode_cached` (one call per list of texts), so a machine
whose cache holds them needs no tokenizer front end (GPT-1's spaCy). A Setup without a
scorer only tokenizes: `repro eval --tokenize-only` fills the cache that way.

A continuation's tokens are those of context + continuation after the context's own tokens
(lm-evaluation-harness's rule, so that a word is tokenized as it is inside the sentence).
Accuracies are percentages, as the papers print them.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..data.tokens import encode_cached
from ..errors import ReproError, check
from . import data
from .detokenize import RULES, detokenize, detokenize_line
from .prompts import FORMATS, demonstrations, fit, prompt
from .scoring import Request, Scorer, windows
from .settings import EvalSettings
from .stopwords import stop_word_ids

SETTINGS = {0: "zero-shot", 1: "one-shot"}   # any other K: few-shot
POOL_NOTE = ("demonstrations drawn (seed {seed}) from the same split, never the scored example: "
             "no separate train/dev split ships for this set")


@dataclass
class Setup:
    tokenizer: object
    settings: EvalSettings
    context: int                  # the model's block_size
    scorer: Scorer | None = None  # None: tokenize only

    @property
    def prefix(self) -> int | None:
        """The token in front of a document: end-of-text, else the id an export writes as bos
        (GPT-1's newline); None for a tokenizer with neither (the first token is then context)."""
        eot = self.tokenizer.eot_id
        return eot if eot is not None else getattr(self.tokenizer, "hf_special_id", None)

    def encode(self, texts: list[str]) -> list[np.ndarray]:
        return encode_cached(self.tokenizer, list(texts))


def row(task, metric: str, shots: int, value: float, n: int, **extra) -> dict:
    return {"task": task.name, "metric": metric, "shots": shots,
            "setting": SETTINGS.get(shots, "few-shot"), "value": value, "n": n, **extra}


def pair_requests(setup: Setup, contexts: list[str], wholes: list[str]) -> list[Request]:
    out = []
    for c, w in zip(setup.encode(contexts), setup.encode(wholes)):
        check(len(w) > len(c), "a continuation tokenized to nothing (it merged into the context)")
        continuation = w[len(c):]
        if not len(c):   # an empty context: the document-start token stands in front
            check(setup.prefix is not None, "an empty context needs a document-start token")
            c = np.array([setup.prefix])
        out.append(Request(c, continuation))
    return out


def kshot_contexts(setup: Setup, fmt_name: str, contexts: list[str], answers: list[str],
                   tails: list[str], scored: range, shots: int) -> tuple[list[str], list[int]]:
    """The prompt of each scored example with up to `shots` demonstrations (pool: every
    example but itself), and how many fit the context with its longest continuation."""
    fmt = FORMATS[fmt_name]
    if shots == 0:
        return [prompt(fmt, [], contexts[i]) for i in scored], [0] * len(scored)
    picks = {i: demonstrations(len(contexts), i, shots, setup.settings.seed) for i in scored}
    demo_len = [len(t) for t in setup.encode(
        [fmt.demonstration.format(context=c, answer=a) + fmt.separator
         for c, a in zip(contexts, answers)])]
    fixed = setup.encode([prompt(fmt, [], contexts[i]) + tails[i] for i in scored])
    out = []
    used = []
    for i, f in zip(scored, fixed):
        k = fit(shots, [demo_len[j] for j in picks[i]], len(f), setup.context)
        out.append(prompt(fmt, [(contexts[j], answers[j]) for j in picks[i][:k]], contexts[i]))
        used.append(k)
    return out, used


def _k_extra(shots: int, used: list[int], seed: int) -> dict:
    if not shots:
        return {}
    return {"k_used": {"min": min(used), "mean": round(sum(used) / len(used), 2), "max": max(used)},
            "note": POOL_NOTE.format(seed=seed)}


# ---- last word -------------------------------------------------------------------------------
def last_token(r: Request) -> Request:
    """The request that scores only the last token of r's continuation, after all the rest."""
    seq = np.concatenate([r.context, r.continuation])
    return Request(seq[:-1], seq[-1:])


def last_word(setup: Setup, task, passages: list[str], shots: int, scored: range) -> list[dict]:
    split = [p.rsplit(" ", 1) for p in passages]
    check(all(len(s) == 2 for s in split),
          f"{task.name}: a passage without a space has no last word")
    contexts = [s[0] for s in split]
    words = [s[1] for s in split]
    if not task.kshot:
        check(shots == 0, f"{task.name} is zero-shot; lambada_cloze takes K shots")
        prompts = [contexts[i] for i in scored]
        used = []
    else:
        prompts, used = kshot_contexts(setup, task.kshot, contexts, words,
                                       [" " + w for w in words], scored, shots)
    requests = pair_requests(setup, prompts, [p + " " + words[i] for p, i in zip(prompts, scored)])
    if task.target == "last_token":
        requests = [last_token(r) for r in requests]
    if setup.scorer is None:
        return []
    exclude = stop_word_ids(setup.tokenizer) if task.stop_words else None
    scores = setup.scorer.score(requests, desc=f"{task.name} {shots}-shot", exclude=exclude)
    extra = _k_extra(shots, used, setup.settings.seed)
    nll = -sum(s.logprob for s in scores) / len(scores)
    return [row(task, "accuracy", shots, 100 * sum(s.greedy for s in scores) / len(scores),
                len(scores), **extra),
            row(task, "perplexity", shots, math.exp(nll), len(scores), **extra)]


# ---- multiple choice -------------------------------------------------------------------------
def choice(setup: Setup, task, examples: list[data.Choice], shots: int,
           scored: range) -> list[dict]:
    if not task.kshot:
        check(shots == 0, f"{task.name} is zero-shot")
    contexts = [e.context for e in examples]
    answers = [e.choices[e.label] for e in examples]
    longest = [" " + max(e.choices, key=len) for e in examples]
    if task.kshot:
        prompts, used = kshot_contexts(setup, task.kshot, contexts, answers, longest, scored, shots)
    else:
        prompts = [contexts[i] for i in scored]
        used = []
    flat = [(p, " " + c) for p, i in zip(prompts, scored) for c in examples[i].choices]
    requests = pair_requests(setup, [p for p, _ in flat], [p + c for p, c in flat])
    if setup.scorer is None:
        return []
    scores = iter(setup.scorer.score(requests, desc=f"{task.name} {shots}-shot"))
    right = {"per_token": 0, "sum": 0}
    for i in scored:
        s = [next(scores) for _ in examples[i].choices]
        label = examples[i].label
        right["per_token"] += int(np.argmax([x.logprob / x.tokens for x in s])) == label
        right["sum"] += int(np.argmax([x.logprob for x in s])) == label
    n = len(scored)
    extra = _k_extra(shots, used, setup.settings.seed)
    per_token = task.choice_score == "per_token"
    main, other = ("per_token", "sum") if per_token else ("sum", "per_token")
    return [row(task, "accuracy", shots, 100 * right[main] / n, n, scoring=main, **extra),
            row(task, f"accuracy_{other}", shots, 100 * right[other] / n, n, scoring=other,
                **extra)]


def cbt_choices(rules_name: str, items: list[dict]) -> list[data.Choice]:
    """A CBT question as a choice: the story and the query up to the blank, then each candidate
    with the rest of the sentence (GPT-2 §3.2 scores the choice and what follows it)."""
    rules = RULES[rules_name]
    out = []
    for item in items:
        query = detokenize_line(rules, item["query"])
        head, _, tail = query.partition("XXXXX")
        story = detokenize(rules, item["story"])
        out.append(data.Choice(f"{story}\n{head}".rstrip(" "),
                               tuple(c + tail for c in item["candidates"]),
                               item["candidates"].index(item["answer"])))
    return out


# ---- perplexity ------------------------------------------------------------------------------
def perplexity(setup: Setup, task, text: str, shots: int, limit: int) -> list[dict]:
    check(shots == 0, f"{task.name} is a zero-shot perplexity")
    lines = data.lines_of(text)
    lines = lines[:limit] if limit else lines
    end = "\n" if text.endswith("\n") or limit else ""   # a file without a final newline
    original = "\n".join(lines) + end
    rules = RULES.get(task.rules)
    stream = detokenize(rules, lines) + end if rules else original
    units = {"token": sum(len(line.split()) + 1 for line in lines),   # words + one <eos> a line
             "byte": len(original.encode("utf-8")), "character": len(original)}[task.unit]
    lm_eval_words = len(re.split(r"\s+", original))   # lm-evaluation-harness's word count
    (ids,) = setup.encode([stream])
    stride = setup.settings.stride_for(setup.context)
    requests = windows(ids, setup.prefix, setup.context, stride)
    if setup.scorer is None:
        return []
    scores = setup.scorer.score(requests, desc=f"{task.name} windows")
    nll = -sum(s.logprob for s in scores)
    scored = sum(s.tokens for s in scores)
    check(scored > 0, f"{task.name}: nothing to score (the text is a single token)")
    extra = {"stride": stride, "context": setup.context, "windows": len(requests),
             "model_tokens": scored}
    if task.unit != "token":
        metric = {"byte": "bits_per_byte", "character": "bits_per_character"}[task.unit]
        return [row(task, metric, 0, nll / math.log(2) / units, units, **extra)]
    return [row(task, "perplexity", 0, math.exp(nll / units), units, per="original token (words "
                "+ one <eos> per line)", **extra),
            row(task, "perplexity_per_model_token", 0, math.exp(nll / scored), scored, **extra),
            row(task, "word_perplexity", 0, math.exp(nll / lm_eval_words), lm_eval_words,
                per="lm-evaluation-harness word (re.split(r'\\s+') of the original text)", **extra)]


def sentiment_very(text: str) -> list[data.Choice]:
    """GPT-1 §5 (Zero-shot Behaviors): "we append the token very to each example and restrict
    the language model's output distribution to only the words positive and negative". Our
    reading: the GLUE sentence without its trailing space, then " very"; the candidates
    " negative" (label 0) and " positive" (label 1), each scored whole (the sum of its tokens'
    log-probabilities: the word's probability, also if a tokenizer splits it)."""
    from ..data.glue import parse
    split = parse("sst2", text, "SST-2 dev.tsv")
    return [data.Choice(sentence.rstrip() + " very", ("negative", "positive"), int(label))
            for sentence, label in zip(split.segments[0], split.labels)]


# ---- readers and the dispatcher --------------------------------------------------------------
READERS = {
    "passages": lambda texts, task: data.passages(texts[0]),
    "piqa": lambda texts, task: data.piqa(*texts),
    "lines": lambda texts, task: texts[0],
    "raw": lambda texts, task: texts[0],
    "cbt": lambda texts, task: cbt_choices(task.rules, data.cbt(texts[0])),
    "sst2_very": lambda texts, task: sentiment_very(texts[0]),
}


def run(setup: Setup, task, texts: list[str], shots: int, limit: int) -> list[dict]:
    examples = READERS[task.reader](texts, task)
    if task.protocol == "perplexity":
        return perplexity(setup, task, examples, shots, limit)
    n = len(examples)
    scored = range(min(limit, n) if limit else n)
    if task.protocol == "last_word":
        return last_word(setup, task, examples, shots, scored)
    if task.protocol == "choice":
        return choice(setup, task, examples, shots, scored)
    raise ReproError(f"task {task.name}: unknown protocol {task.protocol!r}")
