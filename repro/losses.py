"""The training loss: next-token cross-entropy over the real vocabulary, from the final hidden
states and the head's weight (train.loss_impl picks how it is computed, never what)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import ReproError


def next_token_loss(logits, targets, vocab_size: int):
    """Mean cross-entropy over targets >= 0 (-1: ignored) and the real vocabulary.

    Vocab padding columns are set to -inf rather than sliced off: a slice's backward
    zero-fills and copies the whole logit gradient (profiled on GPT-2 B32, H200: the loss
    kernels went from 8.5 to 6.4 ms of a 64 ms step). Written instead as logsumexp minus
    the picked logit, the compiled step was slower (65.6 vs 64.9 GPU ms) and held 6 GB more.
    """
    P = logits.size(-1)
    scores = logits if P == vocab_size else logits.masked_fill(
        torch.arange(P, device=logits.device) >= vocab_size, float("-inf"))
    return F.cross_entropy(scores.float().view(-1, P), targets.reshape(-1), ignore_index=-1)


def standard_loss():
    """The head as a matmul (padded rows included: a multiple of 64 is the fast shape), then
    next_token_loss over the real vocabulary."""
    def loss(x, head_weight, targets, vocab_size: int):
        return next_token_loss(F.linear(x, head_weight), targets, vocab_size)
    return loss


def cce_loss():
    """cut-cross-entropy (Wijmans et al. 2024, `pip install cut-cross-entropy`): the head's
    matmul and the logsumexp over the vocabulary fused tile by tile, so the (B*T, V) logits
    never reach memory. Only the real vocabulary's rows go in, so the padding rows stay out of
    the softmax (and get no gradient). On CUDA its Triton kernels; elsewhere its torch.compile
    path. Its inputs are cast to the autocast dtype (the kernels take bf16/fp16 activations)."""
    try:
        from cut_cross_entropy import linear_cross_entropy
    except ImportError:
        raise ReproError("train.loss_impl=cce needs cut-cross-entropy: pip install "
                         "cut-cross-entropy (or use train.loss_impl=standard)") from None

    # Outside torch.compile: its kernels are Triton launched by hand, and it finds the kept
    # targets with nonzero(), a host sync that no graph can hold.
    @torch.compiler.disable
    def loss(x, head_weight, targets, vocab_size: int):
        dtype = (torch.get_autocast_dtype(x.device.type)
                 if torch.is_autocast_enabled(x.device.type) else x.dtype)
        return linear_cross_entropy(x.to(dtype), head_weight[:vocab_size].to(dtype), targets,
                                    ignore_index=-1, impl="cce" if x.is_cuda else "torch_compile")
    return loss


CHUNK_TOKENS = 8192   # tokens per chunk: a (8192, 50304) fp32 block is 1.6 GB


class _ChunkedCrossEntropy(torch.autograd.Function):
    """The loss and its gradients in one pass over chunks of tokens. Per chunk: the logits,
    their logsumexp, and at once the gradients of the mean loss for x and W (softmax minus
    one-hot, over the kept targets' count); backward only scales them by the incoming
    gradient. No (B*T, V) tensor is ever whole (nor its fp32 copy, nor its gradient), and
    nothing is recomputed: the head's three matmuls, as in the plain path. Padding columns
    are -inf, so their rows get no gradient; with every target ignored the loss is 0."""

    @staticmethod
    def forward(ctx, x, weight, targets, vocab_size: int, chunk: int):
        x2 = x.reshape(-1, x.size(-1))
        t = targets.reshape(-1)
        n = (t >= 0).sum().clamp(min=1)
        grad_x = torch.empty_like(x2)
        grad_w = torch.zeros_like(weight, dtype=torch.float32)
        total = torch.zeros((), dtype=torch.float32, device=x.device)
        for a in range(0, x2.size(0), chunk):
            xc = x2[a:a + chunk]
            tc = t[a:a + chunk]
            logits = F.linear(xc, weight).float()
            if logits.size(-1) != vocab_size:
                logits[:, vocab_size:] = float("-inf")
            keep = tc >= 0
            safe = tc.clamp(min=0)
            lse = logits.logsumexp(-1)
            total = total + ((lse - logits.gather(1, safe[:, None])[:, 0]) * keep).sum()
            g = (logits - lse[:, None]).exp_()
            g[torch.arange(len(tc), device=g.device), safe] -= 1.0
            g = (g * (keep[:, None] / n)).to(xc.dtype)
            grad_x[a:a + chunk] = g @ weight.to(g.dtype)
            grad_w += (g.t() @ xc).float()
        ctx.save_for_backward(grad_x.view_as(x), grad_w.to(weight.dtype))
        return total / n

    @staticmethod
    def backward(ctx, grad_out):
        grad_x, grad_w = ctx.saved_tensors
        return grad_x * grad_out, grad_w * grad_out, None, None, None


def chunked_loss(chunk_tokens: int = CHUNK_TOKENS):
    """The plain loss in chunks (_ChunkedCrossEntropy), in plain torch: no package, no logits
    in memory; what it does to a compiled step's speed is for the bench to say."""
    def loss(x, head_weight, targets, vocab_size: int):
        return _ChunkedCrossEntropy.apply(x, head_weight, targets, vocab_size, chunk_tokens)
    return loss


LOSSES = {"standard": standard_loss, "cce": cce_loss,   # train.loss_impl -> loss(x, W, y, V)
          "chunked": chunked_loss}
