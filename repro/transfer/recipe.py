"""A paper's fine-tuning as data (the spec holds one; `FinetuneSpec`): its recipe (a
repro.finetune_config.FinetuneRecipe, which `--set` changes through the one override path),
the scales it runs at and the paper's numbers to set beside ours.

The schedule is the recipe's: the learning rate rises linearly over the first
`warmup_fraction` of the updates and falls linearly to 0 at the last one
(repro.schedule.warmup_decay, counted in updates).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..finetune_config import FinetuneRecipe


@dataclass(frozen=True)
class FinetuneScale:
    about: str                    # where and how long
    init: str                     # default model: "random", "run" (the newest pre-training run
                                  # of this scale) or "hf:<id>"
    max_train: int = 0            # use the first N training examples (0: all)
    max_dev: int = 0              # score the first N dev examples (0: all)
    comparable: str = ""          # whether this scale's numbers can stand beside the paper's


@dataclass(frozen=True)
class TaskResult:
    """One number of the paper's results for a task: the full method ("full") or an ablation."""
    task: str
    metric: str
    value: float                  # as printed (x100)
    source: str
    variant: str = "full"         # "full", "no_aux_lm", "no_pretraining"


@dataclass(frozen=True)
class FinetuneSpec:
    recipe: FinetuneRecipe
    sources: dict                 # recipe field -> source (str) or repro.spec.inferred(why)
    tasks: dict                   # task -> input kind (repro.transfer.inputs.KINDS)
    scales: dict                  # scale -> FinetuneScale
    results: tuple = ()           # TaskResult rows
    notes: tuple = ()             # (what, why) lines the report carries
    ablation_note: str = ""       # what the paper says of its ablations


def differences(recipe: FinetuneRecipe, base: FinetuneRecipe) -> dict:
    """The fields of a run's recipe that differ from base."""
    ref = dataclasses.asdict(base)
    return {k: v for k, v in dataclasses.asdict(recipe).items() if ref[k] != v}


def finetune_group(paper: str, scale: str) -> str:
    """The folder of a paper's fine-tuning runs at a scale, and the stem of their report."""
    return f"{paper}-finetune-{scale}"
