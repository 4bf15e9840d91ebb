"""When a step logs, evaluates and saves: one small, testable decision per step."""
from __future__ import annotations

import time
from dataclasses import dataclass

from ..config import TrainConfig


@dataclass(frozen=True)
class Due:
    log: bool
    eval: bool
    ckpt: bool
    last: bool


class Cadence:
    """Step-based intervals from the config, plus a time-based checkpoint: every scale saves at
    least every train.checkpoint_seconds, so a killed run always has something to resume. The
    clock is read by the main process only; the ranks agree on it together with the stop flag
    (see Trainer._agree), so a save is always collective."""

    def __init__(self, t: TrainConfig, total_steps: int, clock=time.monotonic):
        self.t, self.total, self.clock = t, total_steps, clock
        self.last_save = clock()

    def due(self, step: int) -> Due:
        """What the step that has just finished (1-based) must do; checkpoint steps always log
        (the loss is checked before anything is saved)."""
        t, last = self.t, step == self.total
        ev = bool(t.eval_interval and step % t.eval_interval == 0) or last
        ck = bool(t.checkpoint_interval and step % t.checkpoint_interval == 0) or last
        return Due(log=step % t.log_interval == 0 or ev or ck, eval=ev, ckpt=ck, last=last)

    def time_to_save(self) -> bool:
        return bool(self.t.checkpoint_seconds) and \
            self.clock() - self.last_save >= self.t.checkpoint_seconds

    def saved(self) -> None:
        self.last_save = self.clock()
