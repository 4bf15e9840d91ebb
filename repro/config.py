"""Typed run configuration: what a spec resolves to and what a run folder records.

Every field is a plain scalar so that `--set section.field=value` can reach it, a typo is
an error (not silently ignored) and `config.json` round-trips exactly.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from typing import ClassVar

from .errors import check
from .overrides import field_types, override

CHOICES = {  # field -> allowed values; validated in one place
    "model.norm_position": ("pre", "post"),
    "model.norm": ("layernorm", "rmsnorm"),
    "model.activation": ("gelu_tanh", "gelu", "gelu2"),
    "model.attention": ("dense", "alternating", "banded"),
    "model.init": ("normal", "scaled_residual", "sparse_transformer"),
    "schedule.decay": ("cosine", "linear", "constant"),
    "train.precision": ("auto", "fp32", "bf16", "fp16"),
    "train.device": ("auto", "cpu", "cuda"),
    "train.compile_mode": ("default", "reduce-overhead", "max-autotune"),
    "train.loss_impl": ("standard", "cce", "chunked"),
    "train.log_with": ("none", "tensorboard", "wandb", "mlflow", "all"),
    "data.kind": ("text", "images", "addition"),
    "data.tokenizer": ("gpt2", "gpt1", "char", "palette"),
}


@dataclass
class ModelConfig:
    vocab_size: int = 50257          # 0: take the tokenizer's vocabulary size
    block_size: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    n_inner: int = 0                 # MLP width; 0 means 4 * n_embd
    norm_position: str = "pre"       # post: GPT-1, x = LN(x + f(x)); pre: GPT-2/3, x = x + f(LN(x))
    final_norm: bool = True          # ln_f after the last block (GPT-2 onwards)
    norm: str = "layernorm"          # rmsnorm: iGPT's mean-free, gain-only norm
    norm_eps: float = 1e-5
    activation: str = "gelu_tanh"    # gelu2 = x * sigmoid(1.702 x) (iGPT)
    bias: bool = True                # biases in every Linear (iGPT has none)
    tie_embeddings: bool = True      # lm_head shares wte
    sos_token: bool = False          # learned start-of-sequence vector in front of the input (iGPT)
    attention: str = "dense"         # alternating: even layers dense, odd layers banded (GPT-3)
    band_width: int = 256            # banded layers look back at most band_width - 1 tokens
    init: str = "scaled_residual"    # normal: N(0, 0.02) everywhere; scaled_residual: residual
                                     # projections / sqrt(2L), positions N(0, 0.01);
                                     # sparse_transformer: depth-dependent attention init
    zero_init_head: bool = False     # iGPT zero-initialises the logit projection
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    resid_pdrop: float = 0.1
    vocab_pad_multiple: int = 1      # pad the embedding/head rows for faster matmuls; not counted

    @property
    def inner(self) -> int:
        return self.n_inner or 4 * self.n_embd

    @property
    def padded_vocab(self) -> int:
        m = self.vocab_pad_multiple
        return -(-self.vocab_size // m) * m

    def layer_band(self, layer: int) -> int | None:
        """Band width of a layer's attention, or None for dense causal attention."""
        if self.attention == "banded" or (self.attention == "alternating" and layer % 2 == 1):
            return self.band_width
        return None


@dataclass
class OptimConfig:
    lr: float = 6e-4
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    weight_decay: float = 0.1
    # apply weight decay to wte/wpe (all matrices); biases/gains never
    decay_embeddings: bool = True
    grad_clip: float = 1.0           # global-norm clip; 0 disables


@dataclass
class ScheduleConfig:
    """Learning rate and batch size as functions of tokens seen (GPT-3 App. B style)."""
    warmup_tokens: int = 0
    decay: str = "cosine"
    decay_tokens: int = 0            # tokens at which decay reaches min_lr_ratio; 0 = train.tokens
    min_lr_ratio: float = 0.0
    batch_ramp_start_tokens: int = 0 # batch (tokens) at the start of a linear ramp; 0 = no ramp
    batch_ramp_tokens: int = 0       # tokens over which the batch grows to train.batch_size


@dataclass
class TrainConfig:
    tokens: int = 0                  # planned training tokens: the schedule's horizon
    steps: int = 0                   # stop after this many steps of that schedule (0: at its end)
    batch_size: int = 8              # global batch in sequences (after any ramp)
    micro_batch_size: int = 0        # sequences per device per forward; 0 = whole batch
    eval_interval: int = 50          # steps between validation passes (0: only at the end)
    eval_tokens: int = 8192          # size of the fixed validation token set
    log_interval: int = 1
    checkpoint_interval: int = 0     # steps between checkpoints (0: only at the end)
    checkpoint_seconds: int = 300    # also save when this long has passed since the last save
    keep_checkpoints: int = 2
    precision: str = "auto"
    compile: bool = False
    compile_mode: str = "default"    # torch.compile mode; reduce-overhead and max-autotune replay
                                     # forward+backward as CUDA graphs (for host-bound steps)
    loss_impl: str = "standard"      # cce: cut-cross-entropy's fused head+loss, logits never
                                     # stored; chunked: the same in plain torch (losses.py)
    activation_checkpointing: bool = False  # recompute each block in the backward: less memory
    seed: int = 0
    device: str = "auto"
    sample_tokens: int = 200         # length of the text sample written to the report (0: none)
    log_with: str = "none"           # experiment tracker(s) beside metrics.jsonl, through
                                     # Accelerate; all: every one installed


@dataclass
class DataConfig:
    kind: str = "text"
    source: str = "books"            # a shipped source name (see repro.data.shipped.SOURCES)
    path: str = ""                   # a user's file or folder; overrides `source`
    dataset: str = ""                # a hub dataset id (online); overrides `source`
    dataset_config: str = ""
    text_field: str = "text"
    tokenizer: str = "gpt2"
    val_fraction: float = 0.1        # held-out tail for sources without a fixed split
    max_chars: int = 0               # use only the first N characters of each split (0: all)
    # tokens between training windows (0: block_size; 1: any offset)
    stride: int = 0
    image_size: int = 32             # images are resized to image_size x image_size
    palette_size: int = 512          # k-means colours (iGPT: 512)
    max_images: int = 0              # use only the first N training images (0: all)


@dataclass
class TaskConfig:
    ndigit: int = 2                  # the adder demo: n-digit + n-digit addition


SECTIONS = {"model": ModelConfig, "optim": OptimConfig, "schedule": ScheduleConfig,
            "train": TrainConfig, "data": DataConfig, "task": TaskConfig}


@dataclass
class Config:
    """A pre-training run's config (the record's tag: KIND)."""
    KIND: ClassVar[str] = "pretrain"
    paper: str = ""
    size: str = ""
    scale: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    task: TaskConfig = field(default_factory=TaskConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        """The config a run recorded (its config.json); a key this Config does not have is an
        error (a typo or another kind of run), not silently dropped."""
        unknown = sorted(set(d) - {"paper", "size", "scale", *SECTIONS})
        check(not unknown, f"unknown config key {', '.join(unknown)}")
        kwargs = {k: d[k] for k in ("paper", "size", "scale") if k in d}
        for name, klass in SECTIONS.items():
            kwargs[name] = section_from_dict(klass, d.get(name, {}), name)
        return cls(**kwargs)

    def replace(self, **sections) -> "Config":
        """A copy with some fields changed: replace(model=dict(n_layer=4), train=dict(...))."""
        out = Config.from_dict(self.to_dict())
        for section, changes in sections.items():
            if isinstance(changes, dict):
                setattr(out, section, dataclasses.replace(getattr(out, section), **changes))
            else:
                setattr(out, section, changes)
        return out


def section_from_dict(klass, d: dict, name: str = ""):
    """klass(**d), refusing a key klass does not have, or lacking one it needs, in one line
    naming it (name: the section's, as a prefix)."""
    prefix = f"{name}." if name else ""
    names = {f.name: f for f in fields(klass)}
    unknown = sorted(set(d) - set(names))
    check(not unknown, f"unknown config key {', '.join(prefix + k for k in unknown)}")
    missing = [k for k, f in names.items() if k not in d and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    check(not missing, f"missing config key {', '.join(prefix + k for k in missing)}")
    return klass(**d)


def valid_keys() -> list[str]:
    """The keys --set reaches in a Config: section.field (never paper, size or scale)."""
    return [f"{s}.{f.name}" for s, klass in SECTIONS.items() for f in fields(klass)]


def apply_overrides(cfg: Config, pairs: list[str]) -> Config:
    """Apply `section.field=value` strings (repro.overrides: the one --set path); unknown keys
    and bad values are errors."""
    types = field_types(cfg)
    return override(cfg, pairs, {k: types[k] for k in valid_keys()})


def validate(cfg: Config) -> Config:
    """Raise ReproError naming the first inconsistent value; return cfg unchanged otherwise."""
    for section in SECTIONS:
        for f in fields(SECTIONS[section]):
            value = getattr(getattr(cfg, section), f.name)
            if isinstance(value, float):
                check(math.isfinite(value), f"{section}.{f.name}={value} is not a finite number")
    for key, allowed in CHOICES.items():
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        check(value in allowed, f"{key}={value!r} is not one of: {', '.join(allowed)}")
    m = cfg.model
    t = cfg.train
    check(m.vocab_size >= 0, "model.vocab_size must not be negative (0: the tokenizer's)")
    for key in ("block_size", "n_layer", "n_head", "n_embd", "band_width", "vocab_pad_multiple"):
        check(getattr(m, key) > 0, f"model.{key} must be positive, got {getattr(m, key)}")
    check(m.n_embd % m.n_head == 0,
          f"model.n_embd={m.n_embd} is not divisible by model.n_head={m.n_head}")
    for key in ("embd_pdrop", "attn_pdrop", "resid_pdrop"):
        check(0.0 <= getattr(m, key) < 1.0, f"model.{key} must be in [0, 1)")
    check(cfg.optim.lr > 0, f"optim.lr must be positive, got {cfg.optim.lr}")
    check(t.batch_size > 0, f"train.batch_size must be positive, got {t.batch_size}")
    for key in ("micro_batch_size", "steps", "seed", "eval_interval", "checkpoint_interval",
                "checkpoint_seconds", "eval_tokens", "sample_tokens"):
        check(getattr(t, key) >= 0, f"train.{key} must not be negative, got {getattr(t, key)}")
    check(t.tokens > 0, f"train.tokens must be positive, got {t.tokens}")
    check(t.log_interval > 0, "train.log_interval must be positive")
    check(t.compile or t.compile_mode == "default",
          f"train.compile_mode={t.compile_mode} applies to a compiled model; "
          f"set train.compile=true")
    check(0.0 <= cfg.schedule.min_lr_ratio <= 1.0, "schedule.min_lr_ratio must be in [0, 1]")
    check(0.0 < cfg.data.val_fraction < 1.0, "data.val_fraction must be in (0, 1)")
    check(cfg.task.ndigit >= 1, "task.ndigit must be at least 1")
    return cfg
