"""What the benchmark compares: a Pair is one model shape and batch with two or more
contenders timed together. With a Hugging Face peer, the peer runs at every compile mode one
of ours uses, and each of ours is divided by the peer at its best (the fastest of its
settings in that process); without one, the last contender (a variant of ours) is "the other"
that every earlier one is divided by. Shapes come from the caller (the command line builds
them from the paper specs); nothing here knows a paper.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ..attention import banded_causal, dense_causal
from ..config import ModelConfig
from ..flops import flops_per_token
from ..model import build_model
from .timing import Timed, training_step


@dataclass(frozen=True)
class Ours:
    """Our GPT with the trainer's options. compile_mode None: eager."""
    compile_mode: str | None = "default"
    loss_impl: str = "standard"
    checkpointing: bool = False
    attention: str | None = None       # replaces the shape's attention (a variant row)


@dataclass(frozen=True)
class Peer:
    """The Hugging Face class of the shape's family (repro.interop), as a user gets it:
    compiled with plain torch.compile(model), or eager (compile_mode None)."""
    compile_mode: str | None = "default"


@dataclass(frozen=True)
class Pair:
    key: str                # what --rows selects
    label: str              # first word of every row name
    shape: ModelConfig
    batch: int
    contenders: tuple       # Ours, then Peer(s); without a Peer, the last is the divisor

    def __post_init__(self):
        """Ours as given, then the peer at every compile mode in the pair: a CUDA-graph step
        beside a plainly compiled peer overstated iGPT's lead (2.17x; 1.79x against HF given
        CUDA graphs too)."""
        if any(isinstance(c, Peer) for c in self.contenders):
            modes = dict.fromkeys(c.compile_mode for c in self.contenders)
            object.__setattr__(self, "contenders", tuple(
                c for c in self.contenders if not isinstance(c, Peer)) + tuple(map(Peer, modes)))


@dataclass(frozen=True)
class Attention:
    """One layer's causal attention forward + backward: banded vs dense (the last)."""
    key: str
    batch: int
    heads: int
    ctx: int
    head_dim: int
    band: int


def quick(pair: Pair | Attention) -> Pair | Attention:
    """The CPU smoke version: tiny shapes, eager, the standard loss for cce (its CPU path
    compiles); contenders that then coincide run once."""
    if isinstance(pair, Attention):
        return replace(pair, batch=2, heads=2, ctx=128, head_dim=16, band=32)
    # a 50k-row head would dominate a 2x64 model on a CI CPU; 1000 still pads to 1024
    shape = replace(pair.shape, n_layer=2, n_head=2, n_embd=64, n_inner=0, block_size=64,
                    band_width=16, vocab_size=min(pair.shape.vocab_size, 1000))
    seen = []
    for c in pair.contenders:
        cce = isinstance(c, Ours) and c.loss_impl == "cce"
        c = replace(c, compile_mode=None, **({"loss_impl": "standard"} if cce else {}))
        if c not in seen:
            seen.append(c)
    return replace(pair, shape=shape, batch=max(pair.batch // 8, 1), contenders=tuple(seen))


def _mode(compile_mode: str | None) -> str:
    if compile_mode is None:
        return "eager"
    return "compiled" if compile_mode == "default" else f"compiled {compile_mode}"


def hf_class_name(shape: ModelConfig) -> str:
    from ..interop.convert import family_of
    return family_of(shape).cls


def contender_name(pair: Pair, c) -> str:
    """E.g. "gpt2 ours B16 compiled reduce-overhead", "gpt3s ours B8 compiled alternating band
    256", "gpt2 ours B32 compiled cce checkpointed", "igpt HF <class> B16 eager"."""
    mode = _mode(c.compile_mode)
    if isinstance(c, Peer):
        return f"{pair.label} HF {hf_class_name(pair.shape)} B{pair.batch} {mode}"
    band = f" band {pair.shape.band_width}" if c.attention in ("alternating", "banded") else ""
    words = [pair.label, "ours", f"B{pair.batch}", mode, (c.attention or "") + band,
             "" if c.loss_impl == "standard" else c.loss_impl,
             "checkpointed" if c.checkpointing else ""]
    return " ".join(w for w in words if w)


def rows(pair: Pair | Attention) -> list[dict]:
    """The rows of a pair before timing: names, roles, the other's name and the FLOPs/token
    (our model's, charged to every contender of the pair)."""
    if isinstance(pair, Attention):
        shape = f"B{pair.batch} H{pair.heads} T{pair.ctx} D{pair.head_dim}"
        names = [f"attention banded {pair.band} fwd+bwd {shape}",
                 f"attention dense fwd+bwd {shape}"]
        info = dict(key=pair.key, kind="attention", batch=pair.batch, ctx=pair.ctx, params=None,
                    flops_per_token=None)
        roles = ["ours", "variant"]
    else:
        names = [contender_name(pair, c) for c in pair.contenders]
        n = build_model(pair.shape, "meta").num_params()   # exact, allocates nothing
        info = dict(key=pair.key, kind="model", batch=pair.batch, ctx=pair.shape.block_size,
                    params=n, flops_per_token=flops_per_token(n, pair.shape))
        roles = ["peer" if isinstance(c, Peer) else "ours" for c in pair.contenders]
        if "peer" not in roles:
            roles[-1] = "variant"
    others = [n for n, role in zip(names, roles) if role != "ours"]
    other = others[0] if len(others) == 1 else "the best of: " + "; ".join(others)
    return [dict(name=name, role=role, peer=None if role != "ours" else other, **info)
            for name, role in zip(names, roles)]


def hf_peer(shape: ModelConfig):
    """The transformers model of the shape's family, from its config (dropouts included) with
    random weights; SDPA attention where the class offers it."""
    import transformers

    from ..interop.convert import family_of, hf_config
    cls = getattr(transformers, family_of(shape).cls)
    load = {"attn_implementation": "sdpa"} if getattr(cls, "_supports_sdpa", False) else {}
    return cls._from_config(hf_config(shape), **load)


def contenders(pair: Pair | Attention, device, warmup: dict) -> list[Timed]:
    """The pair's contenders on one random token batch, in the pair's order. warmup: steps
    for eager and compiled contenders ({"eager": n, "compiled": m})."""
    if isinstance(pair, Attention):
        return _attention(pair, device, warmup["eager"])
    names = [r["name"] for r in rows(pair)]
    shape = pair.shape
    B = pair.batch
    T = shape.block_size
    g = torch.Generator().manual_seed(0)
    tok = torch.randint(0, shape.vocab_size, (B, T + 1), generator=g).to(device)
    x = tok[:, :T]   # iGPT predicts every pixel (the first from the sos slot), GPT the next
    y = x if shape.sos_token else tok[:, 1:]
    out = []
    for name, c in zip(names, pair.contenders):
        torch.manual_seed(0)
        steps = warmup["eager" if c.compile_mode is None else "compiled"]
        if isinstance(c, Ours):
            module = build_model(replace(shape, attention=c.attention or shape.attention), device,
                                 loss_impl=c.loss_impl, activation_checkpointing=c.checkpointing)

            def loss(m):
                return m(x, y)[1]
        else:
            module = hf_peer(shape)
            ids = x
            if shape.sos_token:   # HF iGPT takes the sos id as the first input token
                ids = torch.cat([torch.full_like(x[:, :1], shape.vocab_size), x[:, :-1]], dim=1)

            # HF shifts labels itself: labels=input_ids is the documented use
            def loss(m, ids=ids):
                return m(input_ids=ids, labels=ids).loss
        out.append(training_step(name, module, loss, B * T, c.compile_mode, device, steps))
    return out


def _attention(a: Attention, device, warmup: int) -> list[Timed]:
    dtype = torch.float32 if device.type == "cpu" else torch.bfloat16
    g = torch.Generator().manual_seed(0)
    q, k, v, grad = (torch.randn(a.batch, a.heads, a.ctx, a.head_dim, generator=g).to(device, dtype)
                     for _ in range(4))
    for t in (q, k, v):
        t.requires_grad_(True)

    def timed(name, fn):
        def step():
            fn(q, k, v).backward(grad)
            q.grad = k.grad = v.grad = None
        return Timed(name, step, a.batch * a.ctx, warmup)

    names = [r["name"] for r in rows(a)]
    return [timed(names[0], lambda q_, k_, v_: banded_causal(q_, k_, v_, a.band)),
            timed(names[1], dense_causal)]


def quick_pairs(pairs: list) -> list:
    """quick() of each pair, those whose contenders then coincide with an earlier pair's
    dropped (a compiled pair and its eager twin are the same pair on the CPU)."""
    out = []
    seen = set()
    for p in map(quick, pairs):
        signature = (p.label, p.contenders) if isinstance(p, Pair) else p.key
        if signature not in seen:
            seen.add(signature)
            out.append(p)
    return out
