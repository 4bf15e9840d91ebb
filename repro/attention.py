"""Causal self-attention kernels: dense, and GPT-3's locally banded pattern.

GPT-3 (§2.1) alternates dense layers with "locally banded sparse" layers "similar to the
Sparse Transformer" without giving the band. Ours is the Sparse Transformer's local block
pattern: the sequence is cut into blocks of band_width/2 tokens and each token attends,
causally, to its own block and the whole previous block. A token therefore sees between
band_width/2 and band_width-1 tokens back, and never further (tests check the gradient).

It runs on the same flash SDPA kernel as dense attention, so banding really skips work:
block k's queries attend over the 2*B keys of blocks k-1 and k with an ordinary causal mask
(the first half of those queries is computed and thrown away). That costs 2*B*T score
entries per layer against T*T/2 for dense causal attention: 4*B/T, a quarter at T=2048,
band 256.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def dense_causal(q, k, v, dropout_p: float = 0.0):
    """q, k, v: (B, H, T, D) -> (B, H, T, D)."""
    return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)


def local_block_mask(T: int, block: int, device=None) -> torch.Tensor:
    """(T, T) bool, True where query t may attend key s: s <= t and block(s) >= block(t) - 1."""
    t = torch.arange(T, device=device)
    qb, kb = (t // block)[:, None], (t // block)[None, :]
    return (t[None, :] <= t[:, None]) & (kb >= qb - 1)


def banded_causal(q, k, v, band_width: int, dropout_p: float = 0.0):
    """Local block attention with blocks of band_width // 2 tokens (see module docstring)."""
    B, H, T, D = q.shape
    block = max(band_width // 2, 1)
    if T <= block:  # everything is within one block: identical to dense causal attention
        return dense_causal(q, k, v, dropout_p)
    if T % block:   # ragged length (e.g. generation): same pattern through an explicit mask
        mask = local_block_mask(T, block, q.device)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
    n = T // block
    first = dense_causal(q[:, :, :block], k[:, :, :block], v[:, :, :block], dropout_p)

    def windows(x):  # (B, H, T, D) -> (B, H*(n-1), 2*block, D): blocks k-1 and k side by side
        x = x.view(B, H, n, block, D)
        # 4-D, so SDPA can pick the flash kernel (5-D inputs fall back to the math path)
        return torch.cat([x[:, :, :-1], x[:, :, 1:]], dim=3).view(B, H * (n - 1), 2 * block, D)

    out = dense_causal(windows(q), windows(k), windows(v), dropout_p)[:, :, block:]
    return torch.cat([first, out.reshape(B, H, T - block, D)], dim=2)
