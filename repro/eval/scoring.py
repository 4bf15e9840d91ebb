"""Batched log-likelihood scoring: every protocol reduces to "log P(continuation | context)".

A Request is a context and a continuation of token ids. The model sees the last
block_size tokens of context + continuation (left truncation, as lm-evaluation-harness does);
the continuation's tokens are scored from the logits one position earlier (a continuation
longer than the context, in pieces). Requests are
sorted by length (longest first), right-padded into batches (padding sits after every scored
position, so causal attention never lets it matter) and run with one forward each:
`model.hidden_states(idx)`, then `model.head` at the scored positions only (one contract for
every protocol: LAMBADA scores ~1.5 positions of a passage, perplexity windows nearly all).
On CUDA the forward runs under bf16 autocast unless eval.precision says fp32; log-softmax and
sums are always fp32.

`windows` turns a long token stream into Requests for perplexity: every window holds a full
context where the stream allows; the first scores all its tokens, each later one the
`stride` tokens that follow (the last one the rest), so each token is scored exactly once.
With stride = context this is lm-evaluation-harness's loglikelihood_rolling.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import check

MAX_BATCH_TOKENS = 32_768     # input tokens per forward, whatever --batch-size says
CPU_BATCH = 32                # sequences per forward on a CPU unless told
SCORE_CHUNK = 4096            # scored positions per fp32 log-softmax (bounds its memory)


@dataclass(frozen=True)
class Request:
    context: np.ndarray       # at least one token
    continuation: np.ndarray  # at least one token


@dataclass(frozen=True)
class Score:
    logprob: float            # sum of log P(token) over the continuation, natural log
    tokens: int
    greedy: bool              # every continuation token is the argmax


class Scorer:
    def __init__(self, model, device: str = "cpu", batch_size: int | None = None,
                 precision: str = "auto", progress: bool = True):
        """batch_size None: as many sequences as MAX_BATCH_TOKENS holds on a GPU (LAMBADA in
        ~15 forwards, not 160: fewer launches and host syncs), CPU_BATCH on a CPU."""
        check(batch_size is None or batch_size > 0,
              f"--batch-size must be positive, got {batch_size}")
        self.model = model.to(device).eval()
        self.device, self.progress = torch.device(device), progress
        self.batch_size = batch_size or (MAX_BATCH_TOKENS if self.device.type == "cuda" else
                                         CPU_BATCH)
        self.context = model.config.block_size
        bf16 = self.device.type == "cuda" and precision != "fp32"
        self.autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if bf16 else \
            contextlib.nullcontext
        self.dtype = "bf16 autocast, fp32 scores" if bf16 else "fp32"

    def score(self, requests: list[Request], desc: str = "scoring",
              exclude: np.ndarray | None = None) -> list[Score]:
        """One Score per request. A continuation longer than the context is scored in pieces
        of at most block_size tokens, each after as much of what precedes it as fits.
        exclude: token ids that never count as the argmax (a stop-word filter); the log-
        probabilities stay those of the whole vocabulary."""
        T = self.context
        owner, inputs, targets = [], [], []
        for k, r in enumerate(requests):
            check(len(r.context) >= 1 and len(r.continuation) >= 1,
                  "a scored continuation needs a context token and at least one token")
            seq = np.concatenate([r.context, r.continuation])
            for a in range(len(r.context), len(seq), T):
                b = min(a + T, len(seq))
                owner.append(k)
                inputs.append(seq[max(0, b - 1 - T):b - 1])
                targets.append(seq[a:b])
        order = sorted(range(len(inputs)), key=lambda i: -len(inputs[i]))
        batches, start = [], 0
        while start < len(order):
            rows = max(1, min(self.batch_size, MAX_BATCH_TOKENS // len(inputs[order[start]])))
            batches.append(order[start:start + rows])
            start += rows
        banned = None if exclude is None else torch.as_tensor(exclude, dtype=torch.long,
                                                              device=self.device)
        pieces: list[Score | None] = [None] * len(inputs)
        from tqdm.auto import tqdm
        for batch in tqdm(batches, desc=desc, unit="batch", disable=not self.progress,
                          leave=False):
            for i, piece in zip(batch, self._batch([inputs[i] for i in batch],
                                                   [targets[i] for i in batch], banned)):
                pieces[i] = piece
        out = [Score(0.0, 0, True) for _ in requests]
        for k, p in zip(owner, pieces):
            s = out[k]
            out[k] = Score(s.logprob + p.logprob, s.tokens + p.tokens, s.greedy and p.greedy)
        return out

    @torch.inference_mode()
    def _batch(self, inputs: list[np.ndarray], targets: list[np.ndarray],
               banned: torch.Tensor | None = None) -> list[Score]:
        lengths = [len(x) for x in inputs]
        idx = torch.zeros((len(inputs), max(lengths)), dtype=torch.long)
        for j, x in enumerate(inputs):
            idx[j, :len(x)] = torch.from_numpy(x.astype(np.int64))
        # the positions whose logits predict each continuation token, flattened over the batch
        counts = torch.tensor([len(t) for t in targets])
        row = torch.repeat_interleave(torch.arange(len(inputs)), counts)
        pos = torch.cat([torch.arange(L - len(t), L) for L, t in zip(lengths, targets)])
        tgt = torch.from_numpy(np.concatenate(targets).astype(np.int64)).to(self.device)
        row, pos = row.to(self.device), pos.to(self.device)
        with self.autocast():
            hidden = self.model.hidden_states(idx.to(self.device))[row, pos]   # (M, d)
        logprob = torch.empty(len(tgt), device=self.device)
        hit = torch.empty(len(tgt), dtype=torch.bool, device=self.device)
        for a in range(0, len(tgt), SCORE_CHUNK):
            with self.autocast():   # the head on scored positions only, as logits() would
                sel = self.model.head(hidden[a:a + SCORE_CHUNK]).float()          # (M, V)
            t = tgt[a:a + SCORE_CHUNK, None]
            logprob[a:a + SCORE_CHUNK] = (sel.gather(1, t) - sel.logsumexp(-1, keepdim=True))[:, 0]
            if banned is not None:
                sel[:, banned] = float("-inf")   # after the log-probabilities: argmax only
            hit[a:a + SCORE_CHUNK] = sel.argmax(-1) == t[:, 0]
        sums = torch.zeros(len(inputs), dtype=torch.float64, device=self.device)
        sums.index_add_(0, row, logprob.double())
        misses = torch.zeros(len(inputs), device=self.device).index_add_(0, row, (~hit).float())
        return [Score(float(s), int(n), bool(m == 0))
                for s, n, m in zip(sums.cpu(), counts, misses.cpu())]


def windows(ids: np.ndarray, prefix: int | None, context: int, stride: int) -> list[Request]:
    """Requests scoring every token of ids once (after `prefix`, the tokenizer's document start;
    without one the first token is context only): see the module docstring."""
    seq = np.asarray(ids if prefix is None else np.concatenate([[prefix], ids]), dtype=np.int64)
    check(1 <= stride <= context,
          f"eval.stride={stride} must be between 1 and the context ({context})")
    out, a, b = [], 1, min(context + 1, len(seq))
    while a < len(seq):
        out.append(Request(seq[max(0, b - 1 - context):a], seq[a:b]))
        a, b = b, min(b + stride, len(seq))
    return out
