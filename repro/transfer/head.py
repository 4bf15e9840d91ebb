"""The fine-tuning model (GPT-1 §3.2-3.3): the pre-trained transformer with three tokens added
to its vocabulary, a linear head on the final hidden state at the extract token, and the
language-model loss on the same inputs kept as an auxiliary objective.

    P(y | x) = softmax(h_L^m W_y)               h_L^m: the last block's output at [extract]
    L3 = L2 (task) + lambda * L1 (LM on the task's own inputs)             (eq. 3-5)

With post-LN blocks (GPT-1) the last block's output is the final hidden state (there is no
final norm); with pre-LN ones the model's final norm applies, as in its LM head.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..losses import next_token_loss
from ..model import GPT, build_model

INIT_STD = 0.02   # new embedding rows and the head: N(0, 0.02), as GPT-1's code initialises them


def add_tokens(gpt: GPT, n: int, generator: torch.Generator | None = None) -> GPT:
    """A copy of gpt with n more vocabulary rows (ids V..V+n-1), drawn from N(0, 0.02); with tied
    embeddings they are new rows of the one shared matrix, so the LM head can predict them too."""
    cfg = gpt.config
    new_cfg = dataclasses.replace(cfg, vocab_size=cfg.vocab_size + n)
    model = build_model(new_cfg)
    state = {k: v.detach().clone() for k, v in gpt.state_dict().items()}
    V = cfg.vocab_size
    for key in ("transformer.wte.weight", "lm_head.weight"):
        if key in state and (key == "transformer.wte.weight" or not cfg.tie_embeddings):
            table = torch.zeros(new_cfg.padded_vocab, cfg.n_embd, dtype=state[key].dtype)
            table[:V] = state[key][:V]
            table[V:V + n] = torch.randn(n, cfg.n_embd, generator=generator) * INIT_STD
            state[key] = table
    if cfg.tie_embeddings:
        state["lm_head.weight"] = state["transformer.wte.weight"]
    model.load_state_dict(state, strict=True)
    return model


class FinetuneModel(nn.Module):
    def __init__(self, gpt: GPT, n_outputs: int, clf_pdrop: float):
        """n_outputs: classes, or 1 for a regression (the score itself)."""
        super().__init__()
        self.gpt = gpt
        self.clf_drop = nn.Dropout(clf_pdrop)
        self.head = nn.Linear(gpt.config.n_embd, n_outputs)
        nn.init.normal_(self.head.weight, 0.0, INIT_STD)
        nn.init.zeros_(self.head.bias)

    @property
    def transformer(self):
        """The GPT's modules, where trainer.param_groups finds the embedding tables."""
        return self.gpt.transformer

    def forward(self, idx, lengths, views: int, lm: bool):
        """idx (B*views, T) right-padded sequences, lengths (B*views,) their real lengths, the
        views of one example adjacent. Returns (outputs (B, n_outputs), LM loss or None)."""
        h = self.gpt.hidden_states(idx)                                    # (N, T, d)
        N = idx.size(0)
        extract = h[torch.arange(N, device=idx.device), lengths - 1]       # (N, d)
        pooled = extract.view(N // views, views, -1).sum(1)                # similarity: summed
        out = self.head(self.clf_drop(pooled))
        if not lm:
            return out, None
        # L1 on the task's inputs: every real token after the first predicted from its prefix
        # (the delimiter and extract tokens included, as GPT-1's code does); padding ignored.
        T = idx.size(1)
        positions = torch.arange(1, T, device=idx.device)
        targets = idx[:, 1:].masked_fill(positions[None, :] >= lengths[:, None], -1)
        logits = self.gpt.lm_head(h[:, :-1])
        return out, next_token_loss(logits, targets, self.gpt.config.vocab_size)


def task_loss(outputs, labels, regression: bool):
    """Cross-entropy over the classes, or squared error of the predicted score (STS-B: the
    paper does not give the loss of its regression task; mean squared error is our choice)."""
    if regression:
        return F.mse_loss(outputs.float().squeeze(-1), labels.float())
    return F.cross_entropy(outputs.float(), labels)
