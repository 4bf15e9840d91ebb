"""`python tests/nan_at_step.py N[:grad] <repro args>`: `python -m repro ...` whose training step N
(1-based, as logged) goes bad (tests only). "N" makes that step's loss NaN (the divergence
guard must stop the run); "N:grad" makes only its gradients NaN while the loss stays finite,
which is what an fp16 overflow looks like to the grad scaler (the step must be skipped)."""
import sys

import torch

import repro.model
import repro.trainer
from repro.cli import main

step_spec, *argv = sys.argv[1:]
at, _, what = step_spec.partition(":")
bad = {"now": False}


class NanGrad(torch.autograd.Function):
    """Identity whose gradient is NaN."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float("nan")


_train_step, _forward = repro.trainer.Trainer.train_step, repro.model.GPT.forward


def train_step(self, step):
    bad["now"] = step + 1 == int(at)
    try:
        return _train_step(self, step)
    finally:
        bad["now"] = False


def forward(self, *args, **kwargs):
    logits, loss = _forward(self, *args, **kwargs)
    if bad["now"] and loss is not None:
        loss = NanGrad.apply(loss) if what == "grad" else loss * float("nan")
    return logits, loss


repro.trainer.Trainer.train_step, repro.model.GPT.forward = train_step, forward
sys.exit(main(argv))
