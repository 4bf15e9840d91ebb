"""Reading runs for a report: the user's run folders and the committed reference evidence,
side by side, each marked with where it came from. Nothing here writes into a run.

A run is one experiment of the recipe only if nothing but its seed (and how it was executed:
device, compile, logging, checkpoints, micro-batching) differs from the scale's config and it
ran in one process, as the recipe does; any other run is a variant, listed but never averaged
into the headline.
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ReproError
from ..rundir import RunDir
from .task_sections import TASK_REPORTS

YOURS, REFERENCE = "yours", "reference"
# Settings that say how a run was executed, not what was trained: never make it a variant.
EXECUTION = {("train", k) for k in (
    "seed", "device", "compile", "compile_mode", "loss_impl", "activation_checkpointing",
    "log_interval", "sample_tokens", "checkpoint_interval", "checkpoint_seconds",
    "keep_checkpoints", "micro_batch_size", "eval_interval", "precision")}
AUTO = {("model", "vocab_size")}   # 0 in a spec means "from the data"; the run records the value


def gather(stem: str, runs_root: Path | None, reference_root: Path | None, loader,
           warn=lambda m: print(m, file=sys.stderr)) -> list[dict]:
    """loader(folder, origin) over the reference evidence, then the user's runs (the caller
    turns an empty list into an error naming both places: nowhere()). A damaged run (the
    loader's {"dir", "damaged": why}) is named with its reason: warned about and left out,
    or, when no run is usable, named in the error."""
    runs, damaged = [], []
    for root, origin in ((reference_root, REFERENCE), (runs_root, YOURS)):
        if root is not None:
            for r in loader(root / stem, origin):
                (damaged if "damaged" in r else runs).append(r)
    if damaged and not runs:
        raise ReproError(f"no usable run in {nowhere(stem, runs_root, reference_root)}: " +
                         "; ".join(f"{r['dir'].name} ({r['damaged']})" for r in damaged))
    for r in damaged:
        warn(f"repro: left out {r['dir']}: {r['damaged']}")
    return runs


def damaged(d: Path, e: Exception) -> dict:
    """A loader's entry for a run it cannot read (gather names it)."""
    why = str(e).replace(str(d) + "/", "") if isinstance(e, ReproError) else \
        f"{RunDir.METRICS} is not JSON lines ({type(e).__name__})"
    return {"dir": d, "damaged": why}


def nowhere(stem: str, runs_root: Path | None, reference_root: Path | None) -> str:
    return " or ".join(str(r / stem) for r in (runs_root, reference_root) if r is not None)


def copy_runs(run_dirs: list[Path], dest: Path, refuse) -> list[Path]:
    """Copy runs' small files into the committed reference dest (reports/runs/<group>/): the one
    explicit act that writes evidence. refuse(record) (a repro.rundir.Run) names why a run does
    not belong there, or returns "" for one that does."""
    from ..provenance import git_commit
    out = []
    for d in run_dirs:
        run = RunDir(d).require_run("--add")
        why = refuse(run.load())
        if why:
            raise ReproError(f"--add {d}: {why}")
        out.append(run.copy_evidence(dest, git_commit()))
    return out


def load_runs(folder: Path, origin: str) -> list[dict]:
    """The pre-training runs under folder that trained at least one step and have a summary, or
    stopped early (signal, deadline) after an evaluation; runs still training are skipped."""
    from ..config import Config
    runs = []
    for d in sorted(folder.glob("*/")) if folder.is_dir() else ():
        run = RunDir(d)
        if not run.has_config() or not (d / RunDir.ENV).is_file() or run.held():
            continue
        try:
            record, env, metrics = run.load(), run.read_json(RunDir.ENV), run.metrics()
            summary = run.read_optional(RunDir.SUMMARY)
        except (ReproError, ValueError) as e:
            runs.append(damaged(d, e))   # not evidence, and the user is told
            continue
        if record.kind != Config.KIND or not metrics or not metrics[-1].get("step"):
            continue   # another kind of run, or one that trained nothing
        config = record.config.to_dict()
        if summary is None:
            if not any("val_loss" in m for m in metrics):
                continue
            summary = stopped_summary(record.config, metrics)
        probe = run.read_optional(RunDir.PROBE)   # per-layer probe results (image tasks)
        runs.append({"dir": d, "run": run, "origin": origin, "config": config, "env": env,
                     "metrics": metrics, "summary": {**(probe or {}), **summary},
                     "eval": run.read_optional(RunDir.EVAL)})
    return runs


def stopped_summary(cfg, metrics: list[dict]) -> dict:
    """What summary.json would say of a run stopped before its end (cfg: its Config), from its
    metrics."""
    from ..model import build_model
    from ..schedule import BatchPlan
    last_val = [x for x in metrics if "val_loss" in x][-1]
    planned = BatchPlan(cfg).total_steps
    return {"steps": metrics[-1]["step"], "tokens": metrics[-1]["tokens"],
            "final_loss": metrics[-1]["loss"], "final_val_loss": last_val["val_loss"],
            "wall_s": None, "params": build_model(cfg.model, "meta").num_params(),
            "data": {"kind": cfg.data.kind, "source": cfg.data.source,
                     "tokenizer": cfg.data.tokenizer},
            "status": (f"trained all {planned} steps, then stopped during the end-of-run "
                       f"scoring (no summary.json)" if metrics[-1]["step"] >= planned else
                       f"stopped at step {metrics[-1]['step']} of {planned}; val loss of step "
                       f"{last_val['step']}")}


def variant(run: dict, base: dict) -> str:
    """The run's departures from the scale's config ("optim.lr=0.001 world_size=2"); "" for the
    recipe itself (see the module docstring)."""
    out = []
    for section, values in run["config"].items():
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            ref = base.get(section, {}).get(key)
            if (section, key) in EXECUTION or ref == value:
                continue
            if (section, key) in AUTO and not ref:
                continue
            out.append(f"{section}.{key}={value}")
    if run["env"].get("world_size", 1) != 1:
        out.append(f"world_size={run['env']['world_size']}")
    return " ".join(out)


def headline(runs: list[dict]) -> list[dict]:
    """Recipe runs with distinct seeds (the newest run of a repeated seed)."""
    by_seed = {}
    for r in runs:   # sorted by folder name = start time: later ones replace earlier ones
        if not r["variant"]:
            by_seed[r["config"]["train"]["seed"]] = r
    return sorted(by_seed.values(), key=lambda r: r["config"]["train"]["seed"])


def run_row(r: dict) -> dict:
    s, m = r["summary"], r["metrics"]
    timed = m[1:] or m  # the first window includes compilation and warm-up
    tps = sum(x["tokens_per_s"] for x in timed) / len(timed) if timed else None
    mfus = [x["mfu"] for x in timed if "mfu" in x]
    per_item = s["data"].get("train_tokens") or s["data"].get("train_images")
    row = {"origin": r["origin"], "run": r["dir"].name, "seed": r["config"]["train"]["seed"],
           "steps": s["steps"], "tokens": s["tokens"], "final_loss": s["final_loss"],
           "val_loss (slice)": s["final_val_loss"],
           # nanoGPT's figure: the best of the evaluations, not the last one
           "best_val_loss (slice)": min((x["val_loss"] for x in m if "val_loss" in x),
                                        default=None)}
    for key, name in (("val_loss_full", "val_loss (whole split)"), ("test_loss", "test_loss")):
        if key in s:
            row[name] = s[key]
    row.update({"wall_s": s["wall_s"], "tokens_per_s": tps,
                "mfu": sum(mfus) / len(mfus) if mfus else None,
                "peak_mem_gb": max((x.get("peak_mem_gb", 0) for x in m), default=0) or None,
                "processes": r["env"].get("world_size", 1)})
    if r.get("variant"):
        row["variant"] = r["variant"]
    if s.get("status"):
        row["status"] = s["status"]
    if s["data"].get("kind") == "text" and per_item:
        row["epochs"] = s["tokens"] / per_item
    for key in TASK_REPORTS[s["data"]["kind"]].row_keys:
        if key in s:
            row[key] = s[key]
    return row
