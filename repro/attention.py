"""Causal self-attention kernels: dense, and GPT-3's locally banded pattern.

GPT-3 (§2.1) alternates dense layers with "locally banded sparse" layers "similar to the
Sparse Transformer" without giving the band. Ours is the Sparse Transformer's local block
pattern: the sequence is cut into blocks of band_width/2 tokens and each token attends,
causally, to its own block and the whole previous block. A token therefore sees between
band_width/2 and band_width-1 tokens back, and never further (tests check the gradient).

Two kernels compute the same pattern, and banding really skips work in both:
- training on a GPU (gradients, no attention dropout): FlexAttention with a block mask, so
  each query tile visits only its own and the previous tile of keys: about 2*B*T score
  entries per layer (B the block) against T*T/2 for dense causal attention, a quarter at
  T=2048, band 256;
- everywhere else (CPU, attention dropout, evaluation and sampling): flash SDPA on windows.
  Block k's queries attend over the 2*B keys of blocks k-1 and k with an ordinary causal
  mask; the first half of those queries is computed and thrown away (twice the entries of
  the flex kernel), and the windows are copies. Portable, and it needs no compilation per
  sequence length, which sampling would otherwise cost.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

_flex_masks: dict = {}   # (T, block, device) -> BlockMask; one per training length
# FlexAttention kernel options, chosen by tools/flex_sweep.py on an H200 (GPU kernel time of
# forward + backward at B8 H12 T2048 D64, band 256: 0.272 ms, default options 0.285 ms; the
# TMA and smaller-tile candidates were slower). Both hints hold for this pattern: every query
# sees at least itself, and each row's key tiles are adjacent.
FLEX_OPTIONS: dict = {'ROWS_GUARANTEED_SAFE': True, 'BLOCKS_ARE_CONTIGUOUS': True}


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
    T = q.size(2)
    block = max(band_width // 2, 1)
    if T <= block:  # everything is within one block: identical to dense causal attention
        return dense_causal(q, k, v, dropout_p)
    if q.is_cuda and q.requires_grad and dropout_p == 0.0:
        return local_flex(q, k, v, block)
    return local_windows(q, k, v, block, dropout_p)


def local_flex(q, k, v, block: int):
    """The local block pattern through FlexAttention: tiles outside the band are skipped."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    T = q.size(2)
    key = (T, block, str(q.device))
    if key not in _flex_masks:
        def allowed(b, h, qi, ki):
            return (ki <= qi) & (ki // block >= qi // block - 1)
        _flex_masks[key] = create_block_mask(allowed, None, None, T, T, device=q.device)
    # flex_attention must run compiled (uncompiled it materialises every score): inside a
    # compiled model it is traced with the rest, in an eager model it is compiled on its own
    fn = flex_attention if torch.compiler.is_compiling() else _compiled_flex()
    return fn(q, k, v, block_mask=_flex_masks[key], kernel_options=FLEX_OPTIONS or None)


@functools.cache
def _compiled_flex():
    from torch.nn.attention.flex_attention import flex_attention
    return torch.compile(flex_attention, dynamic=False)


def local_windows(q, k, v, block: int, dropout_p: float = 0.0):
    """The local block pattern through flash SDPA on 2-block windows (see module docstring)."""
    B, H, T, D = q.shape
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
