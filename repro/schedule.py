"""Learning rate and batch size as functions of tokens seen (GPT-3 Appendix B style).

Everything is measured in tokens so that a recipe keeps its shape when a scale changes the
batch: warmup over the first W tokens, cosine (or linear) decay to a floor at D tokens, then
flat; the batch grows linearly from a small start over the first R tokens.
"""
from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from .config import Config, ScheduleConfig, validate
from .errors import check


def lr_multiplier(tokens: float, s: ScheduleConfig, horizon_tokens: int) -> float:
    """Fraction of the peak learning rate after `tokens` tokens."""
    return warmup_decay(tokens, s.warmup_tokens, s.decay_tokens or horizon_tokens, s.decay,
                        s.min_lr_ratio)


def warmup_decay(position: float, warmup: float, end: float, decay: str,
                 min_ratio: float) -> float:
    """Fraction of the peak learning rate at `position`, in any unit (tokens in pre-training,
    updates in fine-tuning): linear warmup over `warmup`, then `decay` to min_ratio at `end`."""
    if position < warmup:
        return position / warmup
    if decay == "constant":
        return 1.0
    span = max(end - warmup, 1)
    progress = min(max((position - warmup) / span, 0.0), 1.0)
    shape = 0.5 * (1 + math.cos(math.pi * progress)) if decay == "cosine" else 1 - progress
    return min_ratio + (1 - min_ratio) * shape


class BatchPlan:
    """Which global batch (in sequences) each step uses, and the tokens seen before it.

    During a ramp the batch is a multiple of the starting batch, so that any world size
    dividing the starting batch divides every batch of the run.
    """

    def __init__(self, cfg: Config):
        self.block = cfg.model.block_size
        self.full = cfg.train.batch_size
        s = cfg.schedule
        self.start = min(self.full, max(1, round(s.batch_ramp_start_tokens / self.block))) \
            if s.batch_ramp_start_tokens else self.full
        self.ramp_tokens = s.batch_ramp_tokens if self.start < self.full else 0
        self.horizon = cfg.train.tokens
        self.max_steps = cfg.train.steps

    @cached_property
    def _ramp(self) -> np.ndarray:
        """Batch sizes of the ramp's steps (empty without a ramp)."""
        sizes = []
        seen = 0
        while seen < self.ramp_tokens:
            frac = seen / self.ramp_tokens
            b = self.start + (self.full - self.start) * frac
            b = max(self.start, int(b // self.start) * self.start)
            sizes.append(b)
            seen += b * self.block
        return np.asarray(sizes, dtype=np.int64)

    @cached_property
    def _ramp_cum(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self._ramp) * self.block])

    def batch_at(self, step: int) -> int:
        return int(self._ramp[step]) if step < len(self._ramp) else self.full

    def tokens_before(self, step: int) -> int:
        n = len(self._ramp)
        if step <= n:
            return int(self._ramp_cum[step])
        return int(self._ramp_cum[n]) + (step - n) * self.full * self.block

    def sequences_before(self, step: int) -> int:
        return self.tokens_before(step) // self.block

    @cached_property
    def total_steps(self) -> int:
        """Steps to run: train.steps if set (a stop before the end), else the whole schedule."""
        return self.max_steps or self.schedule_steps

    @cached_property
    def schedule_steps(self) -> int:
        """Steps until the planned tokens are seen: the end of the learning-rate schedule."""
        n = len(self._ramp)
        ramp_tokens = int(self._ramp_cum[-1])
        if self.horizon <= ramp_tokens:
            return int(np.searchsorted(self._ramp_cum, self.horizon, side="left"))
        return n + math.ceil((self.horizon - ramp_tokens) / (self.full * self.block))

    def batch_values(self) -> set[int]:
        return set(self._ramp.tolist()) | {self.full}


def validate_run(cfg: Config) -> Config:
    """config.validate, then what needs the schedule: train.steps stops within it (a step past
    its end would train at the floor learning rate)."""
    validate(cfg)
    t = cfg.train
    if t.steps:
        end = BatchPlan(cfg).schedule_steps
        check(t.steps <= end, f"train.steps={t.steps:,} runs past the end of the schedule "
              f"({end:,} steps for train.tokens={t.tokens:,}): the rest would train at the "
              f"floor learning rate; raise train.tokens to train longer")
    return cfg
