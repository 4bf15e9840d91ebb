"""The GPU training kernel of banded attention (FlexAttention) against the portable one.

Both kernels must compute the same function, values and gradients, alone and inside a
compiled model. CUDA only: FlexAttention has no CPU backward; CI skips, the GPU runs them.
"""
import pytest
import torch

from repro.attention import banded_causal, local_band_mask, local_windows
from repro.config import ModelConfig
from repro.model import build_model

pytestmark = [pytest.mark.gpu, pytest.mark.usefixtures("exact_fp32"),
              pytest.mark.skipif(not torch.cuda.is_available(), reason="FlexAttention needs CUDA")]


def _qkv(T, seed, dtype=torch.float32):
    g = torch.Generator(device="cuda").manual_seed(seed)
    return [torch.randn(2, 3, T, 64, generator=g, device="cuda", dtype=dtype).requires_grad_()
            for _ in range(3)]


def _value_and_grads(fn, qkv, grad):
    out = fn(*qkv)
    out.backward(grad)
    grads = [t.grad.clone() for t in qkv]
    for t in qkv:
        t.grad = None
    return out.detach(), grads


@pytest.mark.parametrize("T,band", [(2048, 256), (1024, 256), (384, 64)])
def test_flex_kernel_equals_masked_sdpa(T, band):
    qkv = _qkv(T, seed=T)
    grad = torch.randn_like(qkv[0])
    mask = local_band_mask(T, band, "cuda")   # the Sparse Transformer's sliding band
    ref, ref_grads = _value_and_grads(
        lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask),
        qkv, grad)
    for fn in (lambda q, k, v: banded_causal(q, k, v, band),          # the flex path
               lambda q, k, v: local_windows(q, k, v, band)):          # the portable path
        out, grads = _value_and_grads(fn, qkv, grad)
        torch.testing.assert_close(out, ref, atol=2e-5, rtol=1e-4)
        for g, r in zip(grads, ref_grads):
            torch.testing.assert_close(g, r, atol=2e-5, rtol=1e-4)


def test_compiled_banded_model_trains_like_eager():
    cfg = ModelConfig(vocab_size=256, block_size=512, n_layer=2, n_head=4, n_embd=128,
                      attention="alternating", band_width=128, embd_pdrop=0.0, attn_pdrop=0.0,
                      resid_pdrop=0.0)
    torch.manual_seed(0)
    eager = build_model(cfg, "cuda")
    compiled_base = build_model(cfg, "cuda")
    compiled_base.load_state_dict(eager.state_dict())
    compiled = torch.compile(compiled_base)
    x = torch.randint(0, 256, (4, 513), device="cuda")
    losses = []
    for model in (eager, compiled):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(x[:, :-1], x[:, 1:])[1]
        loss.backward()
        losses.append(loss.item())
    assert abs(losses[0] - losses[1]) < 2e-3
    for (name, a), b in zip(eager.named_parameters(), compiled_base.parameters()):
        assert (a.grad - b.grad).norm() <= 2e-2 * a.grad.norm() + 1e-6, name
