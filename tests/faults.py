"""`python tests/faults.py FAULT <repro args>`: `python -m repro ...` with one fault injected
(tests only), for failures a test cannot provoke for real on a shared machine, or not at a
known step:

    disk-full-at-save:N   the N-th checkpoint of this process runs out of space part-way through
                          torch.save's writes (OSError ENOSPC from the file's write, as a full
                          disk raises it; torch wraps it in a RuntimeError)
    report-raises         the report written after the run raises a plain RuntimeError (not a
                          ReproError): a bug or a broken library, after the run was saved
    sigterm-at-step:N     SIGTERM arrives during training step N (1-based): a run stopped at a
                          known step, as a scheduler's preemption stops it at an unknown one
"""
import errno
import os
import signal
import sys

import torch

import repro.report
import repro.trainer
from repro.cli import main

WRITTEN_BEFORE_FULL = 4096   # bytes a checkpoint gets onto the disk before it fills up


class FullDisk:
    """A file whose writes fail with ENOSPC once WRITTEN_BEFORE_FULL bytes went through."""

    def __init__(self, f):
        self.f, self.left = f, WRITTEN_BEFORE_FULL

    def write(self, data) -> int:
        n = len(memoryview(data).cast("B"))
        if n > self.left:
            self.f.write(bytes(memoryview(data).cast("B")[:self.left]))
            self.left = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.left -= n
        return self.f.write(data)

    def __getattr__(self, name):   # flush, fileno, tell...: the real file's
        return getattr(self.f, name)


def disk_full_at_save(n: str) -> None:
    real_save, calls = torch.save, [0]

    def save(obj, f, *args, **kwargs):
        calls[0] += 1
        return real_save(obj, FullDisk(f) if calls[0] == int(n) else f, *args, **kwargs)

    torch.save = save


def report_raises(_: str) -> None:
    def write_report(*args, **kwargs):
        raise RuntimeError("injected report failure\nsecond line of the message")

    repro.report.write_report = write_report


def sigterm_at_step(n: str) -> None:
    real_step = repro.trainer.Trainer.train_step

    def train_step(self, step):
        if step + 1 == int(n):
            os.kill(os.getpid(), signal.SIGTERM)
        return real_step(self, step)

    repro.trainer.Trainer.train_step = train_step


FAULTS = {"disk-full-at-save": disk_full_at_save, "report-raises": report_raises,
          "sigterm-at-step": sigterm_at_step}

fault, *argv = sys.argv[1:]
name, _, arg = fault.partition(":")
FAULTS[name](arg)
sys.exit(main(argv))
