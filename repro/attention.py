"""Causal self-attention kernels: dense, and GPT-3's locally banded pattern.

GPT-3 (§2.1) alternates dense layers with "locally banded sparse" layers "similar to the
Sparse Transformer" without giving the band. Ours is the Sparse Transformer's "local" pattern
(openai/sparse_attention, get_attn_mask 'local': a band of the lower triangle): query t
attends key s iff 0 <= t - s < band_width, i.e. exactly the previous band_width tokens,
itself included (fewer at the start of the sequence). Tests check it against that rule and
through the gradient.

Two kernels compute the same pattern, and banding really skips work in both:
- training on a GPU (gradients, no attention dropout): FlexAttention with a block mask, so
  each query tile visits only the key tiles its band reaches;
- everywhere else (CPU, attention dropout, evaluation and sampling): SDPA on windows of two
  blocks of band_width tokens. The queries of block k attend the keys of blocks k-1 and k
  through one fixed (band, 2*band) mask, the same for every window because the band is
  relative (a mask rules out the flash kernel: SDPA takes its memory-efficient or math one).
  Portable, and it needs no compilation per sequence length, which sampling would otherwise
  cost.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

_flex_masks: dict = {}   # (T, band, device) -> BlockMask; one per training length
# FlexAttention runs with its default kernel options, as measured: on an H200 the defaults were
# as fast as any block-size hint (0.381 ms for the bench's banded attention row, forward and
# backward; tools/flex_sweep.py), and the two hints the block-pair pattern allowed are wrong for
# a sliding band: a query tile's partially masked key tiles are the first and the last of its
# range, with full tiles between them (not BLOCKS_ARE_CONTIGUOUS), and the first tile a row
# visits can be all masked for that row (not ROWS_GUARANTEED_SAFE: its running max would be
# -inf). With them on, GPT-3 small went to NaN within 25 steps.


def dense_causal(q, k, v, dropout_p: float = 0.0):
    """q, k, v: (B, H, T, D) -> (B, H, T, D)."""
    return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)


def local_band_mask(T: int, band: int, device=None) -> torch.Tensor:
    """(T, T) bool, True where query t may attend key s: 0 <= t - s < band."""
    t = torch.arange(T, device=device)
    diff = t[:, None] - t[None, :]
    return (diff >= 0) & (diff < band)


def banded_causal(q, k, v, band_width: int, dropout_p: float = 0.0):
    """The sliding band of band_width keys (see module docstring)."""
    T = q.size(2)
    if T <= band_width:  # every query's band reaches the start: identical to dense causal
        return dense_causal(q, k, v, dropout_p)
    if q.is_cuda and q.requires_grad and dropout_p == 0.0:
        return local_flex(q, k, v, band_width)
    return local_windows(q, k, v, band_width, dropout_p)


def local_flex(q, k, v, band: int):
    """The sliding band through FlexAttention: tiles outside the band are skipped."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
    T = q.size(2)
    key = (T, band, str(q.device))
    if key not in _flex_masks:
        def allowed(b, h, qi, ki):
            return (qi >= ki) & (qi - ki < band)
        _flex_masks[key] = create_block_mask(allowed, None, None, T, T, device=q.device)
    # flex_attention must run compiled (uncompiled it materialises every score): inside a
    # compiled model it is traced with the rest, in an eager model it is compiled on its own
    fn = flex_attention if torch.compiler.is_compiling() else _compiled_flex()
    return fn(q, k, v, block_mask=_flex_masks[key])


@functools.cache
def _compiled_flex():
    from torch.nn.attention.flex_attention import flex_attention
    return torch.compile(flex_attention, dynamic=False)


@functools.cache
def _window_mask(band: int, device) -> torch.Tensor:
    """(band, 2*band): query a of block k may see key b of blocks (k-1, k) iff the distance
    band + a - b is in [0, band), i.e. a < b <= band + a."""
    with torch.inference_mode(False):   # cached: an inference tensor could not serve training
        a = torch.arange(band, device=device)[:, None]
        b = torch.arange(2 * band, device=device)[None, :]
        return (b > a) & (b <= band + a)


def local_windows(q, k, v, band: int, dropout_p: float = 0.0):
    """The sliding band through SDPA on 2-block windows (see module docstring)."""
    B, H, T, D = q.shape
    if T % band:   # ragged length (e.g. generation): same pattern through an explicit mask
        mask = local_band_mask(T, band, q.device)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
    n = T // band
    first = dense_causal(q[:, :, :band], k[:, :, :band], v[:, :, :band], dropout_p)

    def windows(x):  # (B, H, T, D) -> (B, H*(n-1), 2*band, D): blocks k-1 and k side by side
        x = x.view(B, H, n, band, D)
        # 4-D, so SDPA can pick a fused kernel (5-D inputs fall back to the math path)
        return torch.cat([x[:, :, :-1], x[:, :, 1:]], dim=3).view(B, H * (n - 1), 2 * band, D)

    queries = q.view(B, H, n, band, D)[:, :, 1:].reshape(B, H * (n - 1), band, D)
    out = F.scaled_dot_product_attention(queries, windows(k), windows(v),
                                         attn_mask=_window_mask(band, q.device),
                                         dropout_p=dropout_p)
    return torch.cat([first, out.reshape(B, H, T - band, D)], dim=2)
