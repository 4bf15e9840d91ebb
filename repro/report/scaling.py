"""The scaling report: a ladder folder's finished runs -> <out>/<paper>-scaling.md, .png, .json.

It reads runs (never changes them): the sizes' final validation losses and curves, their
zero-shot results, the fits of repro/scaling/fit.py, and the paper's reference exponents
from the spec's ladder; the reading of the zero-shot trend follows the measured signs.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

from ..provenance import git_commit
from ..scaling import fit as fits
from ..scaling.gather import by_size, gather_runs
from .scaling_markdown import render
from .scaling_plot import plot_scaling

def monotone(sizes: list[dict]) -> list[dict]:
    """Each step of the ladder: does the mean validation loss fall, and by more than twice
    the larger seed standard deviation of the two sizes (where seeds exist)?"""
    out = []
    for a, b in zip(sizes, sizes[1:]):
        sd = max(s["val_loss_sd"] or 0.0 for s in (a, b))
        drop = a["val_loss"] - b["val_loss"]
        out.append({"step": f"{a['name']} -> {b['name']}", "drop": drop, "falls": drop > 0,
                    "beyond_seed_spread": (drop > 2 * sd) if sd else None})
    return out


def build(paper: str, scale: str, ladder, out: Path, command: str, boot: int) -> dict:
    runs = gather_runs(out)
    sizes = by_size(runs)
    fit = fits.fit_loss_vs_size([r["n_params_non_embedding"] for r in runs],
                                [r["val_loss"] for r in runs], boot=boot)
    frontier = fits.frontier([(r["n_params_non_embedding"], r["tokens"], r["val_curve"])
                              for r in runs])
    return {"paper": paper, "scale": scale, "command": command, "commit": git_commit(),
            "written": time.strftime("%Y-%m-%d %H:%M:%S"),
            "device": ", ".join(sorted({r["device"] for r in runs})),
            "sizes": sizes, "fit": fit, "frontier": frontier,
            "spearman": fits.rank_trends(sizes), "monotone": monotone(sizes),
            "max_epochs": max(r["epochs"] for r in runs),
            "references": [dict(zip(("what", "quantity", "value", "source"), ref))
                           for ref in ladder.references],
            "runs": [{k: v for k, v in r.items() if k != "val_curve"} for r in runs]}


def write_scaling_report(paper: str, scale: str, ladder, out: Path, report_dir: Path,
                         command: str, boot: int = fits.BOOT) -> Path:
    result = build(paper, scale, ladder, out, command, boot)
    report_dir.mkdir(parents=True, exist_ok=True)
    stem = report_dir / (f"{paper}-scaling" if scale == "small" else f"{paper}-scaling-{scale}")
    plot_scaling(gather_runs(out), result["fit"], result["frontier"], stem.with_suffix(".png"))
    stem.with_suffix(".json").write_text(json.dumps(finite(result), indent=2) + "\n")
    stem.with_suffix(".md").write_text(render(result, ladder, stem.name))
    return stem.with_suffix(".md")


def finite(obj):
    """The result with every NaN or infinity as null (strict JSON; "not computable")."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj
