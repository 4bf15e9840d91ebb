"""The sections of a report that test the paper's analysis claims (spec.findings), each
stated beside the claim as reproduced / not reproduced / inconclusive (report/verdict.py)."""
from __future__ import annotations

from pathlib import Path

from .layers import layers_section
from .over_training import over_training_section
from .runs import REFERENCE, YOURS


def finding(spec, name: str):
    return next((f for f in spec.findings if f.name == name), None)


def findings_sections(spec, scale: str, runs: list[dict], out_dir: Path, stem: str,
                      runs_root, reference_root) -> tuple[list[str], dict]:
    """The fine-tuning report's: layers transferred (from its runs) and the zero-shot scores
    through the pre-training runs of the same scale (their eval-<step>.json)."""
    from ..spec import run_group
    out_dir.mkdir(parents=True, exist_ok=True)
    lines, out = [], {}
    for origin in (REFERENCE, YOURS):
        md, data = layers_section(runs, origin, finding(spec, "layers_transferred"), out_dir,
                                  stem)
        lines += md
        if data:
            out[f"layers_transferred/{origin}"] = data
    md, data = over_training_section(run_group(spec, None, scale), runs_root, reference_root,
                                     finding(spec, "zero_shot_over_training"), out_dir, stem)
    lines += md
    if data:
        out["zero_shot_over_training"] = data
    return lines, out
