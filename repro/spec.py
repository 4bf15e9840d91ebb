"""Paper specs as data, and the one rule that derives every smaller scale from them.

A `PaperSpec` holds the paper's recipe for its default size (a Config), per-size changes,
the source of each value, and `scales`. A `Scale` names the few quantities a scale shrinks
(depth, width, heads, context, batch, tokens); `derive` keeps every ratio of the recipe:
warmup, decay and batch-ramp lengths stay the same fractions of the training tokens, and
the ramp starts at the same fraction of the full batch. `paper` is the identity.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .config import Config, apply_overrides, validate
from .errors import ReproError

SCALES = ("tiny", "small", "medium", "paper")


@dataclass(frozen=True)
class Scale:
    about: str                       # where and how long, e.g. "CPU, < 60 s"
    n_layer: int = 0                 # 0 keeps the paper value
    n_head: int = 0
    n_embd: int = 0
    block_size: int = 0
    batch_size: int = 0              # global batch in sequences
    tokens: int = 0                  # training tokens
    micro_batch_size: int = 0
    overrides: tuple = ()            # further "section.key=value" settings (eval, data size...)


@dataclass(frozen=True)
class PaperSpec:
    name: str
    title: str
    citation: str
    recipe: Config                   # the paper's recipe at its default size
    sizes: dict                      # size -> {"section.key": value} changes from the recipe
    default_size: str
    scales: dict                     # scale name -> Scale
    sources: dict                    # "section.key" -> where the value comes from
    notes: tuple = ()                # (what, implemented?, why) rows for the report
    data: dict = field(default_factory=dict)        # offline default and paper-faithful source
    references: tuple = ()           # (metric, value, source, comparable-with-our-runs note)
    published_params: dict = field(default_factory=dict)  # size -> number as published


def size_config(spec: PaperSpec, size: str) -> Config:
    if size not in spec.sizes:
        raise ReproError(f"unknown size {size!r} for {spec.name}; choose from: "
                         f"{', '.join(spec.sizes)}")
    pairs = [f"{k}={v}" for k, v in spec.sizes[size].items()]
    cfg = apply_overrides(spec.recipe, pairs)
    return cfg.replace(paper=spec.name, size=size)


def planned_tokens(cfg: Config) -> int:
    """Tokens the schedule spans: train.tokens, or steps x full batch for step-based demos."""
    t = cfg.train
    return t.tokens or t.steps * t.batch_size * cfg.model.block_size


def derive(cfg: Config, scale: Scale, name: str, overrides=()) -> Config:
    """Shrink a paper config to a scale, keeping the recipe's ratios (see module docstring).
    `overrides` (the user's --set) count as part of the scale: a shorter run, another batch or
    width keeps the recipe's fractions too, unless the user sets those values as well."""
    out = cfg.replace(scale=name)
    if name == "paper":   # exact: the user's changes apply as given
        return apply_overrides(out, list(overrides))
    paper_tokens = planned_tokens(out)
    paper_batch_tokens = out.train.batch_size * out.model.block_size
    paper_embd = out.model.n_embd
    for key in ("n_layer", "n_head", "n_embd", "block_size"):
        if getattr(scale, key):
            setattr(out.model, key, getattr(scale, key))
    for key in ("batch_size", "tokens", "micro_batch_size"):
        if getattr(scale, key):
            setattr(out.train, key, getattr(scale, key))
    # Overrides first: a step-based demo's scale sets train.steps there, and the schedule must
    # keep its fractions of that run too (a warmup longer than the whole run never peaks).
    pairs = list(scale.overrides) + list(overrides)
    out = apply_overrides(out, pairs)
    m, t, s = out.model, out.train, out.schedule
    given = {pair.split("=", 1)[0].strip() for pair in pairs}
    if m.n_inner and "model.n_inner" not in given:  # an explicit MLP width keeps its ratio (GPT-1: 4x)
        m.n_inner = m.n_inner * m.n_embd // paper_embd
    ratio = planned_tokens(out) / paper_tokens if paper_tokens else 1.0
    for key in ("warmup_tokens", "decay_tokens", "batch_ramp_tokens"):
        if f"schedule.{key}" not in given:
            setattr(s, key, round(getattr(s, key) * ratio))
    if "schedule.batch_ramp_start_tokens" not in given:
        s.batch_ramp_start_tokens = round(s.batch_ramp_start_tokens
                                          * t.batch_size * m.block_size / paper_batch_tokens)
    return out


def run_group(spec: PaperSpec, size: str | None, scale: str) -> str:
    """The folder of a (paper, size, scale)'s runs and the stem of its report: "gpt2-small" for
    the default size, "gpt2-medium-small" for another (sizes never share a report)."""
    size = size or spec.default_size
    return f"{spec.name}-{scale}" if size == spec.default_size else f"{spec.name}-{size}-{scale}"


def train_command(spec: PaperSpec, size: str | None, scale: str) -> str:
    """The command that trains (paper, size, scale); --size only where it is not the default."""
    flag = f" --size {size}" if size and size != spec.default_size else ""
    return f"python -m repro {spec.name}{flag} --scale {scale}"


def resolve(spec: PaperSpec, size: str | None, scale: str, overrides=()) -> Config:
    """The full config of (paper, size, scale) with the user's --set overrides applied."""
    if scale not in spec.scales:
        raise ReproError(f"unknown scale {scale!r}; choose from: {', '.join(spec.scales)}")
    return validate(derive(size_config(spec, size or spec.default_size), spec.scales[scale],
                           scale, overrides))


def spec_rows(spec: PaperSpec, cfg: Config) -> list[dict]:
    """Rows "setting | paper | this run | source" for every value that has a source, then
    the notes (what the paper does that we do or do not implement)."""
    paper = size_config(spec, cfg.size or spec.default_size).to_dict()
    ours = cfg.to_dict()
    rows = []
    for key, source in spec.sources.items():
        section, name = key.split(".")
        rows.append({"setting": key, "paper": paper[section][name],
                     "this run": ours[section][name], "source": source})
    for what, implemented, why in spec.notes:
        rows.append({"setting": what, "paper": "", "this run": "yes" if implemented else "no",
                     "source": why})
    return rows
