"""The typed config of a fine-tuning run: the recipe (`FinetuneRecipe`, a spec's data and what
`--set` changes) and everything the run records (`FinetuneConfig`, its config.json).

A fine-tuning run's config.json is tagged `"kind": "finetune"`. Runs written before the tag
(the committed evidence of reports/runs/) are recognised by their shape: see `is_finetune`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

from .config import ModelConfig, section_from_dict
from .errors import check
from .overrides import override

UNTAGGED = {"task", "recipe", "init"}   # the keys only a fine-tuning config.json has


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


def apply_recipe_overrides(recipe: FinetuneRecipe, pairs: list[str]) -> FinetuneRecipe:
    """`key=value` strings over the recipe's fields (e.g. lm_coef=0), through the one override
    path (repro.overrides); unknown keys and bad values are errors."""
    return validate_recipe(override(recipe, pairs, unknown="unknown fine-tuning setting; valid",
                                    example="lm_coef=0"))


def validate_recipe(r: FinetuneRecipe) -> FinetuneRecipe:
    check(r.lr > 0, f"lr must be positive, got {r.lr}")
    check(r.batch_size > 0 and r.epochs > 0, "batch_size and epochs must be positive")
    check(0 <= r.warmup_fraction < 1, f"warmup_fraction must be in [0, 1), got {r.warmup_fraction}")
    check(r.lm_coef >= 0, f"lm_coef must not be negative, got {r.lm_coef}")
    check(0 <= r.clf_pdrop < 1, f"clf_pdrop must be in [0, 1), got {r.clf_pdrop}")
    check(r.weight_decay >= 0 and r.grad_clip >= 0,
          "weight_decay and grad_clip must not be negative")
    return r


@dataclass
class FinetuneConfig:
    """A fine-tuning run's config (the record's tag: KIND)."""
    KIND: ClassVar[str] = "finetune"
    paper: str
    scale: str
    task: str
    seed: int
    recipe: FinetuneRecipe
    overrides: list               # the --set pairs, as typed
    init: dict                    # where the weights came from and what pre-training they had
    model: ModelConfig            # the fine-tuned GPT (with the three added tokens)
    transfer_layers: int | None = None   # pre-trained blocks kept (None: all; older runs)
    # What the run saw, recorded for the reader; nothing is decided by it (a hand-made record,
    # as tests write, may leave it out).
    input: str = ""               # the task's input kind (repro.transfer.inputs.KINDS)
    specials: dict = field(default_factory=dict)    # start, delimiter, extract token ids
    max_len: int = 0
    data: dict = field(default_factory=dict)        # the task's files, checksums, counts
    tokenizer: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"kind": self.KIND, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "FinetuneConfig":
        d = {k: v for k, v in d.items() if k != "kind"}
        d["recipe"] = section_from_dict(FinetuneRecipe, d.get("recipe", {}), "recipe")
        d["model"] = section_from_dict(ModelConfig, d.get("model", {}), "model")
        return section_from_dict(cls, d)


def is_finetune(d: dict) -> bool:
    """Whether a config.json is a fine-tuning run's: tagged, or of the untagged shape."""
    return d.get("kind") == FinetuneConfig.KIND or UNTAGGED <= set(d)
