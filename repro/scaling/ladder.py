"""A ladder as data, and the rules that turn one of its shapes into an ordinary run.

A spec's `ladder` holds, per scale, the (n_layer, d_model) shapes and which of them get extra
seeds; everything else is the paper's recipe at that scale. Two rules fill in the rest:
- heads: d_model // d_head with the paper's d_head (64 for GPT-3 Table 2.1's small sizes),
  one head where d_model is narrower than that;
- learning rate: the paper's own size table read at the shape's N (N the non-embedding
  parameters 12 * n_layer * d_model^2): interpolated in log-log between its sizes, and below
  its smallest size extrapolated with the table's fitted slope (lr_trend). Inferred: the
  paper gives an lr per size, not a rule.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ReproError


@dataclass(frozen=True)
class LadderScale:
    base: str                     # the spec's scale each size's run derives from
    shapes: tuple                 # ((n_layer, d_model), ...), small to large
    seeded: tuple = ()            # shapes that get --seeds seeds (the rest: one)
    seeds: int = 1                # default --seeds
    eval_limit: int = 0           # zero-shot: only the first N examples (0: all)
    overrides: tuple = ()         # further "section.key=value" for every size


@dataclass(frozen=True)
class Ladder:
    scales: dict                  # scale name -> LadderScale
    d_head: int = 64              # the paper's head width for its small sizes
    tasks: tuple = ("lambada", "wikitext2", "ptb", "piqa", "in_domain_cloze")  # zero-shot
    references: tuple = ()        # Reference-like rows: (what, quantity, value, source, note)
    about: str = ""               # what the ladder is for, one paragraph for the report


@dataclass(frozen=True)
class Rung:
    n_layer: int
    d_model: int
    n_head: int
    lr: float

    @property
    def name(self) -> str:
        return f"{self.n_layer}x{self.d_model}"

    @property
    def n_params_non_embedding(self) -> int:
        return non_embedding(self.n_layer, self.d_model)

    def overrides(self) -> list[str]:
        return [f"model.n_layer={self.n_layer}", f"model.n_embd={self.d_model}",
                f"model.n_head={self.n_head}", f"optim.lr={self.lr:.4g}"]


def non_embedding(n_layer: int, d_model: int) -> int:
    """Kaplan et al.'s count of non-embedding parameters."""
    return 12 * n_layer * d_model ** 2


def lr_trend(anchors: list[tuple[int, float]]):
    """lr(N) from the table's (N, lr) pairs: through them (linear in log-log) inside their
    range; outside it, on from the nearest pair with the slope of a least-squares line
    through all of them (log lr against log N)."""
    anchors = sorted(anchors)
    if len({n for n, _ in anchors}) < 2:
        raise ReproError("the learning-rate trend needs the paper's lr at two sizes or more")
    log_n, log_lr = np.log([n for n, _ in anchors]), np.log([lr for _, lr in anchors])
    slope = np.polyfit(log_n, log_lr, 1)[0]

    def lr(n: float) -> float:
        x = np.log(n)
        edge = 0 if x < log_n[0] else -1 if x > log_n[-1] else None
        if edge is None:
            return float(np.exp(np.interp(x, log_n, log_lr)))
        return float(np.exp(log_lr[edge] + slope * (x - log_n[edge])))
    return lr


def scale_of(ladder: Ladder | None, paper: str, scale: str) -> LadderScale:
    if ladder is None:
        raise ReproError(f"{paper} has no scaling ladder")
    if scale not in ladder.scales:
        raise ReproError(f"{paper}'s ladder has no scale {scale!r}; choose from: "
                         f"{', '.join(ladder.scales)}")
    return ladder.scales[scale]


def rungs(ladder: Ladder, scale: LadderScale, anchors: list[tuple[int, float]]) -> list[Rung]:
    lr = lr_trend(anchors)
    out = []
    for n_layer, d_model in scale.shapes:
        heads = max(1, d_model // ladder.d_head)
        if d_model % heads:
            raise ReproError(f"ladder shape {n_layer}x{d_model}: {heads} heads do not divide it")
        out.append(Rung(n_layer, d_model, heads, lr(non_embedding(n_layer, d_model))))
    return out


def seeds_of(scale: LadderScale, rung: Rung, seeds: int) -> list[int]:
    return list(range(seeds)) if (rung.n_layer, rung.d_model) in scale.seeded else [0]


def lr_anchors(spec) -> list[tuple[int, float]]:
    """(N, lr) of every size in the spec's own table (the paper's sizes and learning rates)."""
    from ..spec import size_config
    configs = [size_config(spec, size) for size in spec.sizes]
    return [(non_embedding(c.model.n_layer, c.model.n_embd), c.optim.lr) for c in configs]
