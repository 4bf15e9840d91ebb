"""The one GPT. Each paper is a set of switches on ModelConfig, not a subclass.

Module names follow the GPT-2 checkpoints (wte, wpe, h, ln_1, attn.c_attn, attn.c_proj,
ln_2, mlp.c_fc, mlp.c_proj, ln_f) so that conversion is a table plus transposes.

    pre-LN (GPT-2/3, iGPT)              post-LN (GPT-1)
    x = x + attn(ln_1(x))               x = ln_1(x + attn(x))
    x = x + mlp(ln_2(x))                x = ln_2(x + mlp(x))
    ... then ln_f if final_norm         ... no final norm
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .attention import banded_causal, dense_causal
from .config import ModelConfig
from .losses import LOSSES


class RMSNorm(nn.Module):
    """iGPT's norm: no mean subtraction, no bias: x * rsqrt(mean(x^2) + eps) * g."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


def make_norm(cfg: ModelConfig) -> nn.Module:
    if cfg.norm == "rmsnorm":
        return RMSNorm(cfg.n_embd, cfg.norm_eps)
    return nn.LayerNorm(cfg.n_embd, eps=cfg.norm_eps)


ACTIVATIONS = {
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),    # GPT-1/2/3 code ("gelu_new")
    "gelu": F.gelu,
    "gelu2": lambda x: x * torch.sigmoid(1.702 * x),          # iGPT ("quick_gelu")
}


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: ModelConfig, band: int | None):
        super().__init__()
        self.n_head = cfg.n_head
        self.band = band
        self.dropout = cfg.attn_pdrop
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_drop = nn.Dropout(cfg.resid_pdrop)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        p = self.dropout if self.training else 0.0
        y = dense_causal(q, k, v, p) if self.band is None else banded_causal(q, k, v, self.band, p)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_drop(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, cfg.inner, bias=cfg.bias)
        self.c_proj = nn.Linear(cfg.inner, cfg.n_embd, bias=cfg.bias)
        self.act = ACTIVATIONS[cfg.activation]
        self.drop = nn.Dropout(cfg.resid_pdrop)

    def forward(self, x):
        return self.drop(self.c_proj(self.act(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.post_norm = cfg.norm_position == "post"
        self.ln_1 = make_norm(cfg)
        self.ln_2 = make_norm(cfg)
        self.attn = CausalSelfAttention(cfg, cfg.layer_band(layer))
        self.mlp = MLP(cfg)

    def forward(self, x):
        if self.post_norm:
            x = self.ln_1(x + self.attn(x))
            return self.ln_2(x + self.mlp(x))
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg: ModelConfig, loss_impl: str = "standard",
                 activation_checkpointing: bool = False):
        """loss_impl and activation_checkpointing (train.* options) change how a training step
        computes, never what: the same loss and gradients, less memory."""
        super().__init__()
        self.config = cfg
        self.loss_fn = LOSSES[loss_impl]()   # "cce" fails here, at once, if it is not installed
        self.activation_checkpointing = activation_checkpointing
        V = cfg.padded_vocab
        d = cfg.n_embd
        # nn.Embedding's own init on the meta device imports torch._dynamo (~2 s); handed an
        # empty table it skips that init. Elsewhere it draws as always (seeded runs unchanged).
        table = (lambda n: torch.empty(n, d)) if torch.empty(0).is_meta else (lambda n: None)
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(V, d, _weight=table(V)),
            wpe=nn.Embedding(cfg.block_size, d, _weight=table(cfg.block_size)),
            drop=nn.Dropout(cfg.embd_pdrop),
            h=nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layer)),
            ln_f=make_norm(cfg) if cfg.final_norm else nn.Identity(),
        ))
        self.lm_head = nn.Linear(d, V, bias=False)
        self.tie_weights()
        if cfg.sos_token:  # iGPT: a learned vector stands in front of the sequence
            self.sos = nn.Parameter(torch.zeros(d))
        self.reset_parameters()

    def tie_weights(self):
        """The head is the token table (tie_embeddings); again after loading with assign=True."""
        if self.config.tie_embeddings:
            self.lm_head.weight = self.transformer.wte.weight

    # ---- initialisation -------------------------------------------------------------
    def reset_parameters(self):
        if self.lm_head.weight.is_meta:   # no values to set (a count, a dry run); on the meta
            return                        # device each init op costs ~10 ms of Python dispatch
        cfg = self.config
        std = 0.02
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, 0.0, std)
            elif isinstance(module, (nn.LayerNorm, RMSNorm)):
                nn.init.ones_(module.weight)
            if isinstance(module, (nn.Linear, nn.LayerNorm)) and module.bias is not None:
                nn.init.zeros_(module.bias)
        if cfg.init == "scaled_residual":
            # GPT-2 §2.3: residual-path weights scaled by 1/sqrt(N); N = 2 * n_layer residual
            # layers (attention and MLP each add to the residual stream), as HF and nanoGPT do.
            # Positions N(0, 0.01) as in the released GPT-2 code (openai/gpt-2 src/model.py).
            nn.init.normal_(self.transformer.wpe.weight, 0.0, 0.01)
            for block in self.transformer.h:
                for proj in (block.attn.c_proj, block.mlp.c_proj):
                    nn.init.normal_(proj.weight, 0.0, std / math.sqrt(2 * cfg.n_layer))
        elif cfg.init == "sparse_transformer":
            # The depth-dependent init of the Sparse Transformer as image-gpt's src/model.py
            # has it: wpe N(0, 0.01); q/k/v N(0, 1/sqrt(d)); attention output N(0, 1/sqrt(d*L));
            # MLP weights keep N(0, 0.02); sos N(0, 0.02).
            nn.init.normal_(self.transformer.wpe.weight, 0.0, 0.01)
            for block in self.transformer.h:
                nn.init.normal_(block.attn.c_attn.weight, 0.0, 1 / math.sqrt(cfg.n_embd))
                nn.init.normal_(block.attn.c_proj.weight, 0.0,
                                1 / math.sqrt(cfg.n_embd * cfg.n_layer))
        if cfg.sos_token:
            nn.init.normal_(self.sos, 0.0, std)
        if cfg.zero_init_head and not cfg.tie_embeddings:
            nn.init.zeros_(self.lm_head.weight)
        if cfg.padded_vocab > cfg.vocab_size:  # padding rows are never used; keep them zero
            with torch.no_grad():
                self.transformer.wte.weight[cfg.vocab_size:].zero_()
                self.lm_head.weight[cfg.vocab_size:].zero_()

    # ---- counting -------------------------------------------------------------------
    def num_params(self, non_embedding: bool = False) -> int:
        """Exact parameter count: tied matrix once, vocab padding rows excluded."""
        cfg = self.config
        n = sum(p.numel() for p in self.parameters())
        n -= (cfg.padded_vocab - cfg.vocab_size) * cfg.n_embd * (1 if cfg.tie_embeddings else 2)
        if non_embedding:
            n -= self.transformer.wpe.weight.numel() + cfg.vocab_size * cfg.n_embd
        return n

    # ---- forward --------------------------------------------------------------------
    def hidden_states(self, idx, return_all: bool = False):
        """idx (B, T) -> final hidden (B, T, d) [and, if asked, the residual stream before
        ln_f at every depth: [embeddings h^0, output of block 1, ..., of block L]].

        With sos_token the input is shifted right behind the learned sos vector, so the
        output at t predicts idx[:, t] (iGPT predicts every pixel, the first included).
        """
        B, T = idx.shape
        if T > self.config.block_size:
            raise ValueError(f"sequence of {T} tokens exceeds block_size {self.config.block_size}")
        tok = self.transformer.wte(idx)
        if self.config.sos_token:
            tok = torch.cat([self.sos.to(tok.dtype).expand(B, 1, -1), tok[:, :-1]], dim=1)
        pos = self.transformer.wpe(torch.arange(T, device=idx.device))
        x = self.transformer.drop(tok + pos)
        layers = [x] if return_all else []
        # Checkpointed blocks keep only their input for the backward and run again there
        # (RNG state restored, so dropout masks repeat): about a third more compute.
        recompute = self.activation_checkpointing and self.training and torch.is_grad_enabled()
        for block in self.transformer.h:
            x = checkpoint(block, x, use_reentrant=False) if recompute else block(x)
            if return_all:
                layers.append(x)
        x = self.transformer.ln_f(x)
        return (x, layers) if return_all else x

    def forward(self, idx, targets=None, loss_mask=None):
        """Without targets: (logits of the last position, None). With targets: (None, loss),
        the mean over positions where loss_mask is true (all without a mask); targets of -1
        are ignored as well. Training never gets the logits back: a returned (B, T, V) tensor
        must be kept, and under mixed precision Accelerate copies every output to fp32 (for
        GPT-2 at 32x1024 that is 6.6 GB written per micro-batch); with loss_impl="cce" they
        never exist. Use logits(), or head() on the positions wanted, for scores."""
        x = self.hidden_states(idx)
        if targets is None:
            return self.head(x[:, [-1]]), None
        if loss_mask is not None:
            targets = targets.masked_fill(~loss_mask, -1)
        return None, self.loss_fn(x, self.lm_head.weight, targets, self.config.vocab_size)

    def logits(self, idx):
        """idx (B, T) -> logits (B, T, vocab_size) at every position."""
        return self.head(self.hidden_states(idx))

    def head(self, x):
        """Final hidden states (..., d) -> logits (..., vocab_size). Scoring calls it on the
        positions it scores only (hidden_states, then head): LAMBADA scores about 1.5 of a
        passage's positions, and the head with its log-softmax is the widest op in the model."""
        logits = self.lm_head(x)
        V = self.config.vocab_size
        return logits[..., :V] if logits.size(-1) != V else logits

    @torch.no_grad()
    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None, do_sample: bool = True):
        """Extend idx (B, T) by max_new_tokens tokens. With sos_token, idx may be empty (B, 0)."""
        T = self.config.block_size
        for _ in range(max_new_tokens):
            ctx = idx[:, -T:]
            if self.config.sos_token:  # a placeholder slot whose output predicts the next token
                ctx = torch.cat([ctx, ctx.new_zeros(ctx.size(0), 1)], dim=1)[:, -T:]
            logits = self.head(self.hidden_states(ctx)[:, -1]).float()
            if not do_sample:
                nxt = logits.argmax(-1, keepdim=True)
            else:
                logits = logits / max(temperature, 1e-8)
                if top_k:
                    kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                nxt = torch.multinomial(F.softmax(logits, dim=-1), 1)
            idx = torch.cat([idx, nxt], dim=1)
        return idx


def build_model(cfg: ModelConfig, device: str | torch.device = "cpu", **options) -> GPT:
    """Build on `device`; "meta" allocates no memory (used by --dry-run at paper scale).
    options: GPT's loss_impl and activation_checkpointing."""
    with torch.device(device):
        return GPT(cfg, **options)
