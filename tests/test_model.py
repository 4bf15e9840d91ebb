"""The one GPT (repro/model.py, repro/attention.py): exact parameter counts of every published
size, causality of every variant, the band of GPT-3's banded layers, the switches really
switching, the init schemes, generation and iGPT's start-of-sequence vector. CPU, fp32."""
from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from repro_papers import PAPERS
from repro.attention import banded_causal, dense_causal, local_band_mask
from repro.config import ModelConfig
from repro.model import GPT, CausalSelfAttention, build_model
from repro.spec import size_config

torch.set_num_threads(1)

# FACTS.md §2.1, §3.1, §4.1, §5.1: exact counts (tied matrix once, buffers excluded).
EXACT = {
    ("gpt1", "base"): 116_534_784,
    ("gpt2", "small"): 124_439_808, ("gpt2", "medium"): 354_823_168,
    ("gpt2", "large"): 774_030_080, ("gpt2", "xl"): 1_557_611_200,
    ("gpt3", "small"): 125_226_240, ("gpt3", "medium"): 355_871_744,
    ("gpt3", "large"): 760_300_032, ("gpt3", "xl"): 1_315_723_264,
    ("gpt3", "2.7b"): 2_651_553_280, ("gpt3", "6.7b"): 6_658_404_352,
    ("gpt3", "13b"): 12_853_386_240, ("gpt3", "175b"): 174_604_259_328,
    ("igpt", "s"): 76_571_648, ("igpt", "m"): 455_157_760,
    ("igpt", "l"): 1_362_250_752, ("igpt", "l-48"): 1_364_216_832,   # L at 48x48 (2304 rows)
    ("igpt", "xl"): 6_810_875_904,                                   # XL at 64x64 (4096 rows)
}


# FACTS.md §5, written out again here so the test does not trust the library's own formula.
def gpt_params(L, d, V, T, tied=True, bias=True, final_ln=True):
    per = 12 * d * d + (3 * d + d + 4 * d + d if bias else 0) + 2 * 2 * d
    return (V + T) * d + L * per + (2 * d if final_ln else 0) + (0 if tied else V * d)


def igpt_tf_params(L, d, V=512, T=1024):  # released image-gpt code: no biases, gain-only norm
    return (2 * V + T + 1) * d + L * (12 * d * d + 2 * d) + d


def formula(cfg: ModelConfig) -> int:
    if cfg.sos_token:
        return igpt_tf_params(cfg.n_layer, cfg.n_embd, cfg.vocab_size, cfg.block_size)
    return gpt_params(cfg.n_layer, cfg.n_embd, cfg.vocab_size, cfg.block_size,
                      tied=cfg.tie_embeddings, bias=cfg.bias, final_ln=cfg.final_norm)


def test_every_published_size_is_covered():
    sizes = {(p, s) for p in ("gpt1", "gpt2", "gpt3", "igpt") for s in PAPERS[p].sizes}
    assert sizes == set(EXACT)


@pytest.mark.parametrize("paper,size", sorted(EXACT))
def test_exact_param_count_on_meta(paper, size):
    cfg = size_config(PAPERS[paper], size).model
    model = build_model(cfg, "meta")                   # no memory, even for 175B
    assert model.num_params() == EXACT[paper, size]
    assert formula(cfg) == EXACT[paper, size]          # the spec's structure is FACTS' structure


@pytest.mark.parametrize("paper,size,tweak", [
    ("gpt1", "base", {}),
    ("gpt2", "small", {}),
    ("gpt2", "small", {"tie_embeddings": False}),
    ("igpt", "s", {}),
])
def test_formula_matches_real_small_models(paper, size, tweak):
    cfg = dataclasses.replace(size_config(PAPERS[paper], size).model, n_layer=2, n_head=4,
                              n_embd=64, n_inner=0, block_size=128, **tweak)
    model = build_model(cfg)                           # real tensors on the CPU
    counted = sum(p.numel() for p in model.parameters())
    assert model.num_params() == counted == formula(cfg)


@pytest.mark.parametrize("paper,size,multiple", [("gpt2", "small", 64), ("igpt", "s", 100)])
def test_vocab_padding_is_not_counted(paper, size, multiple):
    base = dataclasses.replace(size_config(PAPERS[paper], size).model, n_layer=1, n_head=2,
                               n_embd=32, n_inner=0)
    padded = dataclasses.replace(base, vocab_pad_multiple=multiple)
    a, b = build_model(base), build_model(padded)
    assert b.config.padded_vocab > b.config.vocab_size
    assert a.num_params() == b.num_params() == formula(base)
    extra = (padded.padded_vocab - padded.vocab_size) * padded.n_embd
    copies = 1 if base.tie_embeddings else 2
    assert sum(p.numel() for p in b.parameters()) - sum(p.numel() for p in a.parameters()) \
        == extra * copies
    idx = torch.randint(0, base.vocab_size, (1, 8))
    assert b.logits(idx).shape[-1] == base.vocab_size  # padding rows never reach the logits
    assert b(idx)[0].shape[-1] == base.vocab_size


# ---- small models for behaviour tests -------------------------------------------------------------
def tiny(**changes) -> GPT:
    cfg = ModelConfig(vocab_size=97, block_size=64, n_layer=4, n_head=2, n_embd=32,
                      embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0)
    torch.manual_seed(0)
    return GPT(dataclasses.replace(cfg, **changes)).eval()


def all_logits(model, idx):
    with torch.no_grad():
        return model.head(model.hidden_states(idx))


VARIANTS = {
    "dense": {},
    "alternating-banded": {"attention": "alternating", "band_width": 8},
    "banded": {"attention": "banded", "band_width": 8},
    "post-ln": {"norm_position": "post", "final_norm": False},
    "igpt-sos": {"sos_token": True, "norm": "rmsnorm", "bias": False, "tie_embeddings": False,
                 "activation": "gelu2", "init": "sparse_transformer"},
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_causality(variant):
    model = tiny(**VARIANTS[variant])
    if variant == "igpt-sos":      # the zero-initialised head would hide everything
        torch.nn.init.normal_(model.lm_head.weight, 0.0, 0.02)
    g = torch.Generator().manual_seed(1)
    T = 48                          # several 4-token blocks of the banded layers
    idx = torch.randint(0, 97, (2, T), generator=g)
    base = all_logits(model, idx)
    # with sos the output at t predicts idx[t], so it may only see idx[< t]
    shift = 1 if model.config.sos_token else 0
    for t in (0, 17, T - 1):
        changed = idx.clone()
        changed[:, t] = (changed[:, t] + 1 + torch.arange(2)) % 97
        out = all_logits(model, changed)
        diff = (out - base).abs().amax(dim=(0, 2))  # per position
        assert torch.equal(out[:, :t + shift], base[:, :t + shift])
        if t + shift < T:
            assert diff[t + shift].item() > 1e-4, (variant, t)


def attention_grad(band, T, t, seed=0):
    """d(attention output at t) / d(input at every s), as (T,) norms."""
    cfg = ModelConfig(n_head=2, n_embd=16, block_size=T, attn_pdrop=0.0, resid_pdrop=0.0)
    torch.manual_seed(seed)
    attn = CausalSelfAttention(cfg, band).eval()
    x = torch.randn(1, T, 16, requires_grad=True)
    attn(x)[0, t].sum().backward()
    return x.grad[0].abs().sum(-1)


def sparse_transformer_local(n: int, band: int) -> torch.Tensor:
    """The Sparse Transformer's 'local' mask as its code builds it: the lower-triangular band
    of an all-ones matrix with min(n - 1, band - 1) diagonals below the main one."""
    ctx = min(n - 1, band - 1)
    ones = torch.ones(n, n)
    return (torch.tril(ones) - torch.tril(ones, diagonal=-ctx - 1)).bool()


@pytest.mark.parametrize("T", [64, 61])        # a multiple of the band and not
def test_banded_layer_sees_exactly_its_band(T):
    W = 16
    for t in (3, 20, 39, 40, T - 1):
        banded, dense = attention_grad(W, T, t), attention_grad(None, T, t)
        allowed = sparse_transformer_local(T, W)[t]
        assert allowed.sum().item() == min(t + 1, W)         # the previous W tokens, itself included
        assert banded[allowed].min().item() > 0.0
        assert banded[~allowed].abs().max().item() == 0.0    # exactly zero, not small
        far = torch.arange(T) <= t - W
        if far.any():
            assert dense[far].min().item() > 0.0             # the dense layer does look there


@pytest.mark.parametrize("T", [1, 5, 16, 40])
@pytest.mark.parametrize("band", [1, 3, 8])
def test_band_mask_is_the_sparse_transformer_rule(T, band):
    assert torch.equal(local_band_mask(T, band), sparse_transformer_local(T, band))


@pytest.mark.parametrize("T,band", [(64, 16), (61, 16), (8, 16), (100, 32), (33, 2)])
def test_banded_kernel_equals_masked_sdpa(T, band):
    g = torch.Generator().manual_seed(T)
    q, k, v = (torch.randn(2, 3, T, 8, generator=g) for _ in range(3))
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=sparse_transformer_local(T, band))
    out = banded_causal(q, k, v, band)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-6)
    if T > band:                                # the band really cuts something off
        assert (dense_causal(q, k, v) - ref).abs().max().item() > 1e-3


def _outputs_with(state, **changes):
    model = tiny(**changes)
    missing, unexpected = model.load_state_dict(state, strict=False)
    idx = torch.arange(40).remainder(97).view(2, 20)
    return all_logits(model, idx), missing, unexpected


def test_norm_position_and_final_norm_switch_the_computation():
    ref_model = tiny()
    with torch.no_grad():                       # make LN gains/biases non-trivial
        for name, p in ref_model.named_parameters():
            if "ln" in name:
                p.add_(0.3 * torch.randn_like(p))
    state = ref_model.state_dict()
    same, missing, unexpected = _outputs_with(state)
    assert not missing and not unexpected
    post, missing, unexpected = _outputs_with(state, norm_position="post")
    assert not missing and not unexpected       # same tensors, another data flow
    no_final, missing, unexpected = _outputs_with(state, final_norm=False)
    assert not missing and set(unexpected) == {"transformer.ln_f.weight", "transformer.ln_f.bias"}
    gpt1_like, _, _ = _outputs_with(state, norm_position="post", final_norm=False)
    ref = all_logits(ref_model, torch.arange(40).remainder(97).view(2, 20))
    assert torch.equal(same, ref)
    for other in (post, no_final, gpt1_like):
        assert (other - ref).abs().max().item() > 0.05


def test_post_ln_block_is_ln_of_residual():
    model = tiny(norm_position="post", final_norm=False)
    block = model.transformer.h[0]
    x = torch.randn(2, 10, 32)
    with torch.no_grad():
        h = block.ln_1(x + block.attn(x))
        expect = block.ln_2(h + block.mlp(h))
        torch.testing.assert_close(block(x), expect, atol=0, rtol=0)
    assert isinstance(model.transformer.ln_f, torch.nn.Identity)


def _std(t):
    return t.detach().float().std().item()


def test_init_schemes():
    L, d = 8, 128
    gpt2 = tiny(n_layer=L, n_embd=d, n_head=4, init="scaled_residual")
    gpt1 = tiny(n_layer=L, n_embd=d, n_head=4, init="normal")
    resid = 0.02 / (2 * L) ** 0.5                 # GPT-2 §2.3 with N = 2L: 0.005
    for block in gpt2.transformer.h:
        assert _std(block.attn.c_proj.weight) == pytest.approx(resid, rel=0.05)
        assert _std(block.mlp.c_proj.weight) == pytest.approx(resid, rel=0.05)
        assert _std(block.attn.c_attn.weight) == pytest.approx(0.02, rel=0.05)
        assert _std(block.mlp.c_fc.weight) == pytest.approx(0.02, rel=0.05)
        assert block.attn.c_attn.bias.abs().max().item() == 0.0
    for block in gpt1.transformer.h:
        assert _std(block.attn.c_proj.weight) == pytest.approx(0.02, rel=0.05)
        assert _std(block.mlp.c_proj.weight) == pytest.approx(0.02, rel=0.05)
    assert _std(gpt2.transformer.wte.weight) == pytest.approx(0.02, rel=0.05)
    assert _std(gpt2.transformer.wpe.weight) == pytest.approx(0.01, rel=0.05)  # openai/gpt-2 code
    assert _std(gpt1.transformer.wpe.weight) == pytest.approx(0.02, rel=0.05)
    # iGPT (image-gpt src/model.py): wpe 0.01, q/k/v 1/sqrt(d), attn out 1/sqrt(d L),
    # MLP 0.02, zero head, sos 0.02
    igpt = tiny(n_layer=L, n_embd=d, n_head=4, init="sparse_transformer", **{
        k: v for k, v in VARIANTS["igpt-sos"].items() if k != "init"}, zero_init_head=True)
    assert _std(igpt.transformer.wpe.weight) == pytest.approx(0.01, rel=0.05)
    for block in igpt.transformer.h:
        assert _std(block.attn.c_attn.weight) == pytest.approx(d ** -0.5, rel=0.05)
        assert _std(block.attn.c_proj.weight) == pytest.approx((d * L) ** -0.5, rel=0.05)
        assert _std(block.mlp.c_proj.weight) == pytest.approx(0.02, rel=0.05)
        assert block.attn.c_attn.bias is None
    assert igpt.lm_head.weight.abs().max().item() == 0.0
    assert igpt.lm_head.weight is not igpt.transformer.wte.weight
    assert gpt2.lm_head.weight is gpt2.transformer.wte.weight


def test_generate_shapes_greedy_and_top_k():
    model = tiny()
    idx = torch.randint(0, 97, (3, 5), generator=torch.Generator().manual_seed(0))
    out = model.generate(idx, 7, do_sample=False)
    assert out.shape == (3, 12) and torch.equal(out[:, :5], idx)
    # greedy: each new token is the argmax of the logits of the sequence so far
    for t in range(5, 12):
        assert torch.equal(out[:, t], all_logits(model, out[:, :t])[:, -1].argmax(-1))
    torch.manual_seed(0)
    assert torch.equal(model.generate(idx, 7, top_k=1), out)      # top-1 sampling is greedy
    # top_k=3 at a high temperature: 400 draws, never outside the top 3, all 3 seen
    ctx = idx[:1].expand(400, -1)
    top3 = set(all_logits(model, idx[:1])[0, -1].topk(3).indices.tolist())
    torch.manual_seed(1)
    drawn = set(model.generate(ctx, 1, temperature=100.0, top_k=3)[:, -1].tolist())
    assert drawn == top3
    # longer than block_size: the context is cropped, generation goes on
    long = model.generate(idx[:1], 70, do_sample=False)
    assert long.shape == (1, 75)


def test_sos_model_predicts_the_first_token():
    model = tiny(**VARIANTS["igpt-sos"])
    torch.nn.init.normal_(model.lm_head.weight, 0.0, 0.02)
    a = torch.randint(0, 97, (2, 16), generator=torch.Generator().manual_seed(0))
    b = (a + 5) % 97
    la, lb = all_logits(model, a), all_logits(model, b)
    assert torch.equal(la[:, 0], lb[:, 0])              # position 0 sees only sos
    assert torch.equal(la[0, 0], la[1, 0])
    assert (la[:, 1] - lb[:, 1]).abs().max().item() > 1e-4
    # the loss covers every token, the first included: targets are the inputs themselves
    _, loss = model(a, a)
    manual = F.cross_entropy(la.reshape(-1, 97), a.reshape(-1))
    torch.testing.assert_close(loss, manual)
    # generation can start from nothing: the first pixel comes from sos alone
    out = model.generate(a[:, :0], 4, do_sample=False)
    assert out.shape == (2, 4)
    assert torch.equal(out[:, 0], la[:, 0].argmax(-1))


def test_sequence_longer_than_block_size_is_refused():
    with pytest.raises(ValueError, match="block_size"):
        tiny()(torch.zeros(1, 65, dtype=torch.long))


@pytest.mark.parametrize("padded", [70, 64])
def test_next_token_loss_equals_cross_entropy(padded):
    """The trainer's loss (vocab padding at -inf instead of sliced off) is F.cross_entropy
    over the real vocabulary, value and gradient, ignored targets included."""
    from repro.losses import next_token_loss
    g = torch.Generator().manual_seed(padded)
    logits = torch.randn(3, 5, padded, generator=g, requires_grad=True)
    targets = torch.randint(0, 64, (3, 5), generator=g)
    targets[0, 1] = targets[2, 4] = -1
    ours = next_token_loss(logits, targets, 64)
    ref = F.cross_entropy(logits[..., :64].reshape(-1, 64), targets.reshape(-1), ignore_index=-1)
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=1e-6)
    g_ours, = torch.autograd.grad(ours, logits)
    g_ref, = torch.autograd.grad(ref, logits)
    torch.testing.assert_close(g_ours, g_ref, atol=1e-7, rtol=1e-5)
    assert torch.count_nonzero(g_ours[..., 64:]) == 0   # padding columns get no gradient
