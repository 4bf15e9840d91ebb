"""lm-evaluation-harness over our runs, without export: the model class "repro" (importing this
module registers it) and the data functions of the task YAMLs in lm_eval_tasks/.

    import lm_eval, repro.eval.harness as H
    lm_eval.simple_evaluate(model="repro", model_args="run_dir=runs/gpt2-small/<run>",
                            tasks=["repro_wikitext2", "repro_lambada"],
                            task_manager=lm_eval.tasks.TaskManager(include_path=str(H.TASKS_DIR)))

(TaskManager(..., include_defaults=False) skips indexing lm_eval's own 26k task files when only
these are wanted; metadata={"lines": N} keeps the first N lines of WikiText-2 / PTB.)

ReproLM scores with repro.eval.scoring (our batched forward) but takes every other decision
from lm_eval: how a context and continuation are split into tokens, the rolling windows of
loglikelihood_rolling, the metrics and their aggregation. That is what makes it a cross-check
of `repro eval` (tests/test_eval.py). Texts are tokenized through the token cache, in one
call per request list. lm_eval is an optional dependency (pip install -e ".[eval]"), imported
only here.
"""
from __future__ import annotations

from pathlib import Path

import lm_eval.models  # noqa: F401  (its built-in models register only into an empty registry)
import numpy as np
import torch
from lm_eval.api.model import TemplateLM
from lm_eval.api.registry import register_model
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

from ..data.tokens import encode_cached
from . import data
from .detokenize import RULES, detokenize
from .models import from_hf, from_run
from .scoring import Request, Scorer

TASKS_DIR = Path(__file__).resolve().parent / "lm_eval_tasks"


@register_model("repro")
class ReproLM(TemplateLM):
    def __init__(self, run_dir: str | None = None, hf: str | None = None, device: str = "cpu",
                 batch_size: int | str = 16, max_gen_toks: int = 256, **_):
        super().__init__()
        em = from_run(run_dir) if run_dir else from_hf(hf)
        self.tokenizer_ = em.tokenizer
        self.scorer = Scorer(em.model, device, int(batch_size), progress=False)
        self.max_gen_toks = int(max_gen_toks)

    @property
    def eot_token_id(self) -> int:
        tok = self.tokenizer_
        return tok.eot_id if tok.eot_id is not None else tok.hf_special_id

    @property
    def max_length(self) -> int:
        return self.scorer.context

    def tok_encode(self, string: str, add_special_tokens=None, **kwargs) -> list[int]:
        return list(self.tokenizer_.encode(string))

    def tok_decode(self, ids) -> str:
        return self.tokenizer_.decode(ids)

    def _encode(self, texts: list[str]) -> list[list[int]]:
        return [ids.tolist() for ids in encode_cached(self.tokenizer_, texts)]

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        """TemplateLM's rule (trailing spaces of the context move to the continuation; the
        continuation is what context + continuation adds to the context's tokens; an empty
        context is the end-of-text token), with the tokenizing done in two cached calls."""
        pairs = []
        for context, continuation in (r.args for r in requests):
            spaces = len(context) - len(context.rstrip())
            if spaces:
                context, continuation = context[:-spaces], context[-spaces:] + continuation
            pairs.append((context, continuation))
        contexts = self._encode([c for c, _ in pairs])
        wholes = self._encode([c + k for c, k in pairs])
        todo = []
        for (context, continuation), c, w in zip(pairs, contexts, wholes):
            if context:
                ctx = c
                cont = w[len(c):]
            else:    # as TemplateLM: the prefix token, unless the continuation starts with it
                prefix = self.prefix_token_id
                ctx, cont = ([prefix], w) if w[0] != prefix else (w[:1], w[1:])
            todo.append(((context, continuation), ctx, cont))
        return self._loglikelihood_tokens(todo)

    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, **kwargs):
        scores = self.scorer.score([Request(np.asarray(c), np.asarray(k)) for _, c, k in requests])
        return [(s.logprob, s.greedy) for s in scores]

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        """lm_eval's disjoint rolling windows (utils.get_rolling_token_windows, context_len 1)."""
        counts = []
        flat = []
        for ids in self._encode([r.args[0] for r in requests]):
            w = [make_disjoint_window(p) for p in get_rolling_token_windows(
                token_list=ids, prefix_token=self.prefix_token_id, max_seq_len=self.max_length,
                context_len=1)]
            counts.append(len(w))
            flat += [Request(np.asarray(c), np.asarray(k)) for c, k in w]
        scores = self.scorer.score(flat)
        out = []
        at = 0
        for n in counts:
            out.append(sum(s.logprob for s in scores[at:at + n]))
            at += n
        return out

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Greedy continuation of each context, cut at the first stop string."""
        model = self.scorer.model
        out = []
        for context, gen_kwargs in (r.args for r in requests):
            until = gen_kwargs.get("until", [])
            until = [until] if isinstance(until, str) else list(until)
            n = int(gen_kwargs.get("max_gen_toks", self.max_gen_toks))
            ids = self.tok_encode(context)[-max(1, self.max_length - n):] or [self.eot_token_id]
            idx = torch.tensor([ids], device=self.scorer.device)
            text = self.tok_decode(model.generate(idx, n, do_sample=False)[0, len(ids):].tolist())
            for stop in until:
                text = text.split(stop, 1)[0] if stop else text
            out.append(text)
        return out


# ---- data of the task YAMLs (lm_eval_tasks/*.yaml), from the shipped, verified files -----------
def _dataset(rows: list[dict]):
    from datasets import Dataset, DatasetDict
    return DatasetDict({"test": Dataset.from_list(rows)})


def _first_lines(name: str, lines: int) -> str:
    kept = data.lines_of(data.shipped_text(name))
    kept = kept[:int(lines)] if lines else kept
    return "\n".join(kept) + "\n"


def wikitext2_dataset(lines: int = 0, **_):
    """WikiText-2 test as one document (the first `lines` lines: TaskManager metadata)."""
    return _dataset([{"page": _first_lines("wikitext2_test", lines)}])


def ptb_dataset(lines: int = 0, **_):
    return _dataset([{"page": _first_lines("ptb_test", lines)}])


def lambada_dataset(**_):
    return _dataset([{"text": t} for t in data.passages(data.shipped_text("lambada_openai"))])


def _detokenized(rules: str, doc: dict) -> str:
    return detokenize(RULES[rules], data.lines_of(doc["page"])) + "\n"


def wikitext_target(doc: dict) -> str:
    return _detokenized("wikitext", doc)


def ptb_target(doc: dict) -> str:
    return _detokenized("ptb", doc)
