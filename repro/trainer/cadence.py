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


@dataclass(frozen=True)
class Agreement:
    """What the ranks agreed at a log step (Trainer._agree): the global loss, whether any rank
    was signalled to stop, whether the main process's clock asks for a save."""
    loss: float | None = None
    stop: bool = False
    save: bool = False


def saves(due: Due, agreed: Agreement) -> bool:
    """Whether the step writes a checkpoint: on its interval, when the clock asks, or before
    stopping on a signal (the last step saves anyway)."""
    return due.ckpt or agreed.save or (agreed.stop and not due.last)


def interrupts(due: Due, agreed: Agreement) -> bool:
    """Whether the run returns early, saved, on a signal (at the last step it just ends)."""
    return agreed.stop and not due.last


class Cadence:
    """Step-based intervals from the config, plus a time-based checkpoint: every scale saves at
    least every train.checkpoint_seconds, so a killed run always has something to resume. The
    clock is read by the main process only; the ranks agree on it together with the stop flag
    (see Trainer._agree), so a save is always collective."""

    def __init__(self, t: TrainConfig, total_steps: int, clock=time.monotonic):
        self.t = t
        self.total = total_steps
        self.clock = clock
        self.last_save = clock()

    def due(self, step: int) -> Due:
        """What the step that has just finished (1-based) must do; checkpoint steps always log
        (the loss is checked before anything is saved)."""
        t = self.t
        last = step == self.total
        ev = bool(t.eval_interval and step % t.eval_interval == 0) or last
        ck = bool(t.checkpoint_interval and step % t.checkpoint_interval == 0) or last
        return Due(log=step % t.log_interval == 0 or ev or ck, eval=ev, ckpt=ck, last=last)

    def time_to_save(self) -> bool:
        return bool(self.t.checkpoint_seconds) and \
            self.clock() - self.last_save >= self.t.checkpoint_seconds

    def saved(self) -> None:
        self.last_save = self.clock()
