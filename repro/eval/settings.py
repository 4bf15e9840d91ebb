"""The evaluation's own settings, reached with `--set eval.KEY=VALUE` (a typo is an error)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

from ..errors import check
from ..numbers import parse_number

PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class EvalSettings:
    # the data file of a task that does not ship (or to replace a shipped one)
    path: str = ""
    stride: int = 0          # perplexity: tokens each window adds after the first; 0 = half the
                             # context (every scored token then sees at least half a context);
                             # the context itself gives lm-evaluation-harness's disjoint windows
    seed: int = 1234         # which K-shot demonstrations each example gets
    precision: str = "auto"  # auto: bf16 autocast on CUDA (scores in fp32), fp32 elsewhere

    def stride_for(self, context: int) -> int:
        return min(self.stride, context) if self.stride else max(1, context // 2)


def parse_settings(pairs: list[str]) -> EvalSettings:
    kinds = {f.name: f.type for f in fields(EvalSettings)}
    valid = ", ".join(f"eval.{k}" for k in kinds)
    changes = {}
    for pair in pairs:
        key, eq, text = pair.partition("=")
        section, _, name = key.strip().partition(".")
        check(eq and section == "eval" and name in kinds,
              f"--set {pair!r}: repro eval takes eval.KEY=VALUE; valid keys: {valid}")
        if kinds[name] == "int":   # stride and seed: 0 is meaningful, a negative is not
            changes[name] = parse_number(text, int, f"eval.{name}", minimum=0)
        else:
            changes[name] = text
    out = dataclasses.replace(EvalSettings(), **changes)
    check(out.precision in PRECISIONS, f"eval.precision={out.precision!r} is not one of: "
                                       f"{', '.join(PRECISIONS)}")
    return out
