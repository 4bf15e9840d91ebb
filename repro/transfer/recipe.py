"""A paper's fine-tuning recipe as data (the spec holds one; `FinetuneSpec`), the scales it runs
at, the paper's numbers to set beside ours, and the one path that applies `--set key=value`.

The schedule is the recipe's: the learning rate rises linearly over the first
`warmup_fraction` of the updates and falls linearly to 0 at the last one
(repro.schedule.lr_multiplier, counted in updates).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

from ..config import _coerce
from ..errors import ReproError, check


@dataclass(frozen=True)
class FinetuneRecipe:
    lr: float
    batch_size: int               # examples per update (a similarity example is two sequences)
    epochs: int
    warmup_fraction: float        # of all updates
    lm_coef: float                # lambda: weight of the auxiliary LM loss (0: none)
    clf_pdrop: float              # dropout on the extract state, before the head
    weight_decay: float           # decoupled (AdamW) on every matrix, the head's included
    grad_clip: float              # global norm; 0: none
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8


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


def apply_overrides(recipe: FinetuneRecipe, pairs: list[str]) -> FinetuneRecipe:
    """`key=value` strings over the recipe's fields (e.g. lm_coef=0); unknown keys and bad
    values are errors."""
    types = {f.name: {"int": int, "float": float}[f.type] for f in fields(FinetuneRecipe)}
    changes = {}
    for pair in pairs:
        check("=" in pair, f"--set {pair!r}: expected key=value, e.g. lm_coef=0")
        key, text = (s.strip() for s in pair.split("=", 1))
        if key not in types:
            raise ReproError(f"--set {key}: unknown fine-tuning setting; valid: {', '.join(types)}")
        changes[key] = _coerce(key, text, types[key])
    return validate(dataclasses.replace(recipe, **changes))


def validate(r: FinetuneRecipe) -> FinetuneRecipe:
    check(r.lr > 0, f"lr must be positive, got {r.lr}")
    check(r.batch_size > 0 and r.epochs > 0, "batch_size and epochs must be positive")
    check(0 <= r.warmup_fraction < 1, f"warmup_fraction must be in [0, 1), got {r.warmup_fraction}")
    check(r.lm_coef >= 0, f"lm_coef must not be negative, got {r.lm_coef}")
    check(0 <= r.clf_pdrop < 1, f"clf_pdrop must be in [0, 1), got {r.clf_pdrop}")
    check(r.weight_decay >= 0 and r.grad_clip >= 0, "weight_decay and grad_clip must not be negative")
    return r


def differences(recipe: dict, base: FinetuneRecipe) -> dict:
    """The fields of a run's recipe (as saved) that differ from base."""
    ref = dataclasses.asdict(base)
    return {k: v for k, v in recipe.items() if k in ref and ref[k] != v}


def recipe_rows(spec: FinetuneSpec, recipe: FinetuneRecipe) -> list[dict]:
    """"setting | paper (source) | inferred (source) | this run" rows, as spec_rows has them."""
    from ..spec import Inferred, source_text
    rows = []
    for f in fields(FinetuneRecipe):
        paper, ours = getattr(spec.recipe, f.name), getattr(recipe, f.name)
        source = spec.sources.get(f.name)
        cell = f"{paper:g} ({source_text(source)})" if source is not None else f"{paper:g}"
        inferred = source is None or isinstance(source, Inferred)
        rows.append({"setting": f.name, "paper (source)": "" if inferred else cell,
                     "inferred (source)": cell if inferred else "", "this run": f"{ours:g}"})
    return rows



def finetune_group(paper: str, scale: str) -> str:
    """The folder of a paper's fine-tuning runs at a scale, and the stem of their report."""
    return f"{paper}-finetune-{scale}"
