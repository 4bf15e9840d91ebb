"""Conversion between our GPT and transformers' GPT2LMHeadModel / OpenAIGPTLMHeadModel /
ImageGPTForCausalImageModeling, and the logit comparison that checks it.

The HF family follows from the structural switches, never from a paper name (FAMILIES).
What differs between the layouts, and how it is mapped:
- HF stores the four projections as Conv1D, weight (in, out): exactly CONV1D are transposed.
- OpenAIGPT names its tables tokens_embed / positions_embed; the rest matches our names.
- ImageGPT packs our learned sos vector as the last wte row (id V, vocab_size V+1), has a
  V-row head, and always has linear biases: ours are exported as zeros and, for this family,
  all-zero biases read back as bias=False (nonzero ones give bias=True).
- Our vocabulary padding rows (vocab_pad_multiple) are stripped; HF never sees them.
Causal-mask buffers (attn.bias, attn.masked_bias) are not weights and are dropped.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch

from ..config import ModelConfig
from ..errors import ReproError, check
from ..model import GPT, build_model
from .loading import from_pretrained_checked, hub_reachable

CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
BUFFERS = (".attn.bias", ".attn.masked_bias")
LINEAR_BIAS = ("attn.c_attn.bias", "attn.c_proj.bias", "mlp.c_fc.bias", "mlp.c_proj.bias")
STRUCTURE = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "inner", "norm_position",
             "final_norm", "norm", "norm_eps", "activation", "bias", "tie_embeddings", "sos_token")


@dataclass(frozen=True)
class Family:
    model_type: str
    cls: str                  # transformers LM class
    config_cls: str
    tables: tuple             # HF names of our transformer.wte / transformer.wpe
    act_key: str              # config field naming the activation
    acts: dict                # our activation -> HF names (the first is written)
    init: str                 # our init scheme for a model read from this family
    sos_row: bool = False     # sos is wte row V; head has V rows (ImageGPT)
    zero_bias_is_none: bool = False  # all-zero linear biases mean "no biases" (ImageGPT)
    has_inner: bool = True    # OpenAIGPT hard-codes the MLP width to 4d


FAMILIES = {  # (norm_position, final_norm, norm) -> the HF family with that block
    ("pre", True, "layernorm"): Family(
        "gpt2", "GPT2LMHeadModel", "GPT2Config", ("transformer.wte", "transformer.wpe"),
        "activation_function", {"gelu_tanh": ("gelu_new", "gelu_pytorch_tanh"), "gelu": ("gelu",),
                                "gelu2": ("quick_gelu",)}, "scaled_residual"),
    ("post", False, "layernorm"): Family(  # HF Block: n = ln_1(x + a); h = ln_2(n + mlp(n))
        "openai-gpt", "OpenAIGPTLMHeadModel", "OpenAIGPTConfig",
        ("transformer.tokens_embed", "transformer.positions_embed"),
        # its ACT_FNS["gelu"] is gelu_new
        "afn", {"gelu_tanh": ("gelu",)}, "normal", has_inner=False),
    ("pre", True, "rmsnorm"): Family(  # ImageGPTLayerNorm: x / sqrt(mean(x^2) + eps) * g
        "imagegpt", "ImageGPTForCausalImageModeling", "ImageGPTConfig",
        ("transformer.wte", "transformer.wpe"), "activation_function",
        {"gelu2": ("quick_gelu",), "gelu_tanh": ("gelu_new",), "gelu": ("gelu",)},
        "sparse_transformer",
        sos_row=True, zero_bias_is_none=True),
}
BY_TYPE = {f.model_type: f for f in FAMILIES.values()}


def _tf(name: str):
    import transformers
    return getattr(transformers, name)


@contextmanager
def quiet():
    """No progress bars / load reports from transformers while we save and load temp folders."""
    from transformers.utils import logging as hf_logging
    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


# ---- configs -------------------------------------------------------------------------------------
def family_of(cfg: ModelConfig) -> Family:
    """The HF family for our switches, or ReproError naming what no HF class can express."""
    key = (cfg.norm_position, cfg.final_norm, cfg.norm)
    check(key in FAMILIES,
          f"no Hugging Face family for norm_position={key[0]}, final_norm={key[1]}, "
          f"norm={key[2]}; supported: {', '.join(map(str, FAMILIES))}")
    fam = FAMILIES[key]
    bands = [cfg.layer_band(i) for i in range(cfg.n_layer)]
    # a band as long as the context is dense
    check(all(b is None or b >= cfg.block_size for b in bands),
          f"attention={cfg.attention} (banded layers) has no Hugging Face equivalent")
    check(cfg.activation in fam.acts, f"{fam.cls} cannot express activation={cfg.activation}")
    check(fam.has_inner or cfg.inner == 4 * cfg.n_embd, f"{fam.cls} needs n_inner = 4 * n_embd")
    check(cfg.sos_token == fam.sos_row, f"{fam.cls} needs sos_token={fam.sos_row}")
    check(not (fam.sos_row and cfg.tie_embeddings),
          f"{fam.cls} cannot tie: its wte has the sos row")
    return fam


def hf_config(cfg: ModelConfig, special_id: int | None = None):
    """Our ModelConfig -> the HF config of its family (dropouts and eps included). special_id:
    the tokenizer's end-of-text id, written as bos and eos (None: the model has none)."""
    fam = family_of(cfg)
    kw = dict(vocab_size=cfg.vocab_size + fam.sos_row, n_positions=cfg.block_size,
              n_embd=cfg.n_embd, n_layer=cfg.n_layer, n_head=cfg.n_head,
              layer_norm_epsilon=cfg.norm_eps,
              resid_pdrop=cfg.resid_pdrop, embd_pdrop=cfg.embd_pdrop, attn_pdrop=cfg.attn_pdrop,
              tie_word_embeddings=cfg.tie_embeddings, **{fam.act_key: fam.acts[cfg.activation][0]})
    if fam.has_inner:
        kw["n_inner"] = None if cfg.inner == 4 * cfg.n_embd else cfg.inner
    # HF's GPT-2 config defaults both to its tokenizer's <|endoftext|>: wrong for any other
    # vocabulary, so they are always set from the tokenizer the caller names, or cleared.
    kw["bos_token_id"] = kw["eos_token_id"] = special_id
    return _tf(fam.config_cls)(**kw)


def config_from_hf(hf_cfg, bias: bool | None = None) -> ModelConfig:
    """HF config -> our ModelConfig. ImageGPT's biases are assumed zero (bias=False) unless told."""
    check(hf_cfg.model_type in BY_TYPE, f"model_type {hf_cfg.model_type!r} is not one of "
                                        f"{', '.join(BY_TYPE)}")
    fam = BY_TYPE[hf_cfg.model_type]
    g = lambda k, d=None: getattr(hf_cfg, k, d)  # noqa: E731
    check(g("scale_attn_weights", True) and not g("scale_attn_by_inverse_layer_idx", False)
          and not g("add_cross_attention", False),
          "attention scaling variants / cross-attention have no equivalent in our model")
    act = {h: ours for ours, names in fam.acts.items() for h in names}.get(g(fam.act_key))
    check(act is not None, f"activation {g(fam.act_key)!r} of {fam.cls} is not supported")
    norm_position, final_norm, norm = next(k for k, f in FAMILIES.items() if f is fam)
    return ModelConfig(
        vocab_size=hf_cfg.vocab_size - fam.sos_row, block_size=hf_cfg.n_positions,
        n_layer=hf_cfg.n_layer, n_head=hf_cfg.n_head, n_embd=hf_cfg.n_embd,
        n_inner=(g("n_inner") or 0) if fam.has_inner else 0, norm_position=norm_position,
        final_norm=final_norm, norm=norm, norm_eps=hf_cfg.layer_norm_epsilon, activation=act,
        bias=(not fam.zero_bias_is_none) if bias is None else bias,
        tie_embeddings=bool(g("tie_word_embeddings", True)) and not fam.sos_row,
        sos_token=fam.sos_row, init=fam.init, zero_init_head=fam.sos_row,
        embd_pdrop=hf_cfg.embd_pdrop, attn_pdrop=hf_cfg.attn_pdrop, resid_pdrop=hf_cfg.resid_pdrop)


# ---- weights -------------------------------------------------------------------------------------
def _load_checked(module, sd: dict, what: str, assign: bool = False) -> None:
    target = module.state_dict()
    missing = set(target) - set(sd)
    extra = set(sd) - set(target)
    check(not missing and not extra,
          f"{what}: missing {sorted(missing)[:4]}, unexpected {sorted(extra)[:4]}")
    for k, v in sd.items():
        check(v.shape == target[k].shape,
              f"{what}: {k} has shape {tuple(v.shape)}, expected {tuple(target[k].shape)} "
              f"(a transpose missing?)")
    module.load_state_dict(sd, strict=True, assign=assign)


def to_hf(model: GPT):
    """Our GPT -> the transformers model of its family, same weights, eval mode."""
    cfg = model.config
    fam = family_of(cfg)
    V, (wte, wpe) = cfg.vocab_size, fam.tables
    with quiet():
        hf = _tf(fam.cls)(hf_config(cfg))
    sd = {}
    for k, v in model.state_dict().items():
        v = v.detach()
        if k in ("transformer.wte.weight", "lm_head.weight"):
            v = v[:V]  # strip vocabulary padding
        if k.endswith(CONV1D):
            v = v.t().contiguous()
        k = k.replace("transformer.wte.", wte + ".").replace("transformer.wpe.", wpe + ".")
        sd[k] = v
    if fam.sos_row:  # our sos vector becomes token id V
        sd[wte + ".weight"] = torch.cat([sd[wte + ".weight"], sd.pop("sos")[None]])
    for k, v in hf.state_dict().items():
        if k.endswith(LINEAR_BIAS) and k not in sd:  # bias=False: HF has them, all zero
            sd[k] = torch.zeros_like(v, dtype=sd[wte + ".weight"].dtype)
    _load_checked(hf, sd, f"to_hf ({fam.cls})")
    return hf.eval()


def load_hf(source, dtype=torch.float32):
    """A transformers model object, a local folder, or a hub id (cached, or online) -> the LM
    class of its model_type (ImageGPT is not an AutoModelForCausalLM)."""
    from pathlib import Path

    from transformers import AutoConfig, PreTrainedModel
    if isinstance(source, PreTrainedModel):
        return source
    source, local = str(source), Path(str(source)).is_dir()
    try:
        hf_cfg = AutoConfig.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as e:
        if local or not hub_reachable():
            where = ("a local folder without a usable config.json" if local else
                     "not a local folder, not in the Hugging Face cache, and the Hub is "
                     "unreachable (offline?); pass a local folder")
            raise ReproError(f"{source}: {where} ({str(e).splitlines()[0][:120]})") from None
        try:
            hf_cfg = AutoConfig.from_pretrained(source)
        except (OSError, ValueError) as e:
            raise ReproError(f"{source}: not found on the Hugging Face Hub "
                             f"({str(e).splitlines()[0][:120]})") from None
    check(hf_cfg.model_type in BY_TYPE, f"{source}: model_type {hf_cfg.model_type!r} is not one "
                                        f"of {', '.join(BY_TYPE)}")
    with quiet():
        return from_pretrained_checked(_tf(BY_TYPE[hf_cfg.model_type].cls), source, dtype, BUFFERS)


def from_hf(source) -> GPT:
    """HF LM (object, folder or hub id) -> our GPT with the same weights, eval mode."""
    hf = load_hf(source)
    names = [f.cls for f in BY_TYPE.values()]
    check(type(hf).__name__ in names, f"{type(hf).__name__}: expected one of {', '.join(names)}")
    return from_state(hf.config, hf.state_dict())


def from_state(hf_cfg, state: dict) -> GPT:
    """HF config (or an object with its config.json's fields) + its LM's state dict -> our GPT,
    eval mode, built on the meta device around the tensors themselves (no init, no copy)."""
    fam = BY_TYPE[hf_cfg.model_type]
    wte, wpe = fam.tables
    sd = {k: v.detach() for k, v in state.items() if not k.endswith(BUFFERS)}
    biases = [v for k, v in sd.items() if k.endswith(LINEAR_BIAS)]
    bias = any(bool(b.any()) for b in biases) if fam.zero_bias_is_none else None
    cfg = config_from_hf(hf_cfg, bias=bias)
    out = {}
    for k, v in sd.items():
        if k.endswith(LINEAR_BIAS) and not cfg.bias:
            continue
        if k.endswith(CONV1D):
            v = v.t().contiguous()
        out[k.replace(wte + ".", "transformer.wte.").replace(wpe + ".", "transformer.wpe.")] = v
    if fam.sos_row:  # token id V is our sos vector
        table = out["transformer.wte.weight"]
        out["transformer.wte.weight"], out["sos"] = table[:cfg.vocab_size], table[cfg.vocab_size]
    if cfg.tie_embeddings:  # a tied checkpoint may list only one of the two names
        out.setdefault("lm_head.weight", out["transformer.wte.weight"])
    model = build_model(cfg, "meta")
    _load_checked(model, out, f"from_hf ({fam.cls})", assign=True)
    model.tie_weights()   # assign gives each name its own Parameter
    return model.eval()


# ---- checks --------------------------------------------------------------------------------------
def _hf_prompt(hf, prompt):
    """ImageGPT wants the sos id (V) in front; our model puts its sos vector there itself."""
    if BY_TYPE[hf.config.model_type].sos_row:
        sos = prompt.new_full((prompt.size(0), 1), hf.config.vocab_size - 1)
        return torch.cat([sos, prompt], 1)
    return prompt


def _hf_inputs(hf, idx):
    """HF input whose logits at t line up with ours at t (for ImageGPT: sos + idx[:, :-1])."""
    return _hf_prompt(hf, idx[:, :-1]) if BY_TYPE[hf.config.model_type].sos_row else idx


@torch.no_grad()
def logits_max_abs_diff(ours: GPT, hf, idx) -> float:
    """max |ours - HF| over all positions' logits; both are put in fp32 eval mode (in place).
    Our logits at t predict idx[:, t] from idx[:, <t] (behind sos for iGPT); so do HF's from
    _hf_inputs(idx). Only the first V columns are compared (HF ImageGPT's head has V rows)."""
    ours.float().eval()
    hf.float().eval()
    V = ours.config.vocab_size
    a = ours.logits(idx)
    b = hf(input_ids=_hf_inputs(hf, idx)).logits[..., :V]
    check(a.shape == b.shape, f"logit shapes differ: ours {tuple(a.shape)}, HF {tuple(b.shape)}")
    return (a - b).abs().max().item()


@torch.no_grad()
def greedy_match(ours: GPT, hf, prompt, n: int = 20) -> bool:
    """Greedy decoding of n tokens with our generate() and HF's generate() (with its KV cache
    where it has one) must give the same tokens. HF must not stop at (or, through
    min_new_tokens, suppress) its eos token: a GenerationConfig with eos_token_id=None is
    filled from the model's generation_config in transformers 5, so we clear that instead."""
    from transformers import GenerationConfig
    n = min(n, ours.config.block_size - prompt.size(1))   # HF does not crop to its context
    a = ours.generate(prompt, n, do_sample=False)[:, prompt.size(1):]
    x = _hf_prompt(hf, prompt)
    gen = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=n, pad_token_id=0)
    eos = hf.generation_config.eos_token_id
    hf.generation_config.eos_token_id = None
    try:
        with quiet():
            b = hf.generate(x, generation_config=gen, attention_mask=torch.ones_like(x))
    finally:
        hf.generation_config.eos_token_id = eos
    b = b[:, x.size(1):]
    return a.shape == b.shape and bool(torch.equal(a, b))
