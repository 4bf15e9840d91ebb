"""A ladder folder's finished runs as plain rows, one per run and one per size.

Layout (jobs.py writes it; a report's evidence copy mirrors it):
    <out>/<n_layer>x<d_model>/<run group>/<run-id>/   config.json, summary.json, metrics.jsonl,
                                                      eval.json (after the zero-shot step)
Epochs (plan.epochs_of): tokens trained over the unique tokens the training windows cover; at
most 1 means no token was seen twice (windows are drawn without replacement within an epoch).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ReproError
from ..plan import epochs_of
from ..rundir import RunDir
from .ladder import non_embedding


def run_row(run: RunDir) -> dict:
    cfg = run.load().pretraining("", "a ladder holds pre-training runs")
    summary, m = run.read_json(RunDir.SUMMARY), cfg.model
    data = summary["data"]
    curve = [(r["tokens"], r["val_loss"]) for r in run.metrics() if "val_loss" in r]
    zero_shot: dict = {}
    for r in (run.read_optional(RunDir.EVAL) or {}).get("results", []):
        if r["shots"] == 0:
            zero_shot.setdefault(r["task"], {})[r["metric"]] = r["value"]
    return {"name": f"{m.n_layer}x{m.n_embd}", "n_layer": m.n_layer,
            "d_model": m.n_embd, "n_head": m.n_head, "lr": cfg.optim.lr,
            "seed": cfg.train.seed, "block_size": m.block_size,
            "n_params_non_embedding": non_embedding(m.n_layer, m.n_embd),
            "n_params": summary["params"], "tokens": summary["tokens"],
            "train_tokens_available": data["train_tokens"],
            "epochs": epochs_of(summary["tokens"], data["train_tokens"], m.block_size,
                                cfg.data.stride),
            "val_loss": summary.get("val_loss_full", summary.get("final_val_loss")),
            "val_curve": curve, "zero_shot": zero_shot, "device": summary.get("device", ""),
            "wall_s": summary.get("wall_s"), "data_hash": data.get("data_hash", ""),
            "run_dir": str(run.path)}


def gather_runs(out: Path) -> list[dict]:
    """Every finished run (or evidence copy) under the ladder folder, smallest size first."""
    found = [RunDir(p.parent) for p in sorted(Path(out).glob(f"*/*/*/{RunDir.SUMMARY}"))]
    rows = [run_row(r) for r in found if r.has_config()]
    if not rows:
        raise ReproError(f"{out}: no finished ladder runs (<size>/<group>/<run>/summary.json)")
    return sorted(rows, key=lambda r: (r["n_params_non_embedding"], r["seed"]))


def by_size(runs: list[dict]) -> list[dict]:
    """One row per size: the mean over its seeds, with the seeds' values beside it."""
    out = []
    for name in dict.fromkeys(r["name"] for r in runs):
        group = [r for r in runs if r["name"] == name]
        losses = [r["val_loss"] for r in group]
        first = group[0]
        tasks = {t: sorted({m for r in group for m in r["zero_shot"].get(t, {})})
                 for t in dict.fromkeys(t for r in group for t in r["zero_shot"])}
        out.append({
            **{k: first[k] for k in ("name", "n_layer", "d_model", "n_head", "lr",
                                    "n_params_non_embedding", "n_params", "block_size")},
            "tokens": max(r["tokens"] for r in group),
            "epochs": max(r["epochs"] for r in group),
            "compute_flops": 6 * first["n_params_non_embedding"] * max(r["tokens"] for r in group),
            "val_loss": float(np.mean(losses)),
            "val_loss_sd": float(np.std(losses, ddof=1)) if len(group) > 1 else None,
            "seeds": [r["seed"] for r in group], "val_loss_seeds": losses,
            "zero_shot": {t: {m: float(np.mean([r["zero_shot"][t][m] for r in group
                                                if m in r["zero_shot"].get(t, {})]))
                              for m in metrics} for t, metrics in tasks.items()},
            "run_dirs": [r["run_dir"] for r in group]})
    return out
