"""Run a plan of (task, K) on one model and return the results file's content:
{"model", "commit", ..., "results": [{"task", "metric", "shots", "value", "n", ...}]}
(report/evaluation.py reads the rows; the rest says what produced them)."""
from __future__ import annotations

import dataclasses
import time

from ..provenance import git_commit
from . import data
from .protocols import Setup, run
from .scoring import Scorer
from .tasks import read_task_files


def evaluate(em, plan: list, limit: int, settings, device: str, batch_size: int,
             progress: bool = True) -> dict:
    scorer = Scorer(em.model, device, batch_size, settings.precision, progress)
    setup = Setup(em.tokenizer, settings, em.model.config.block_size, scorer)
    rows = []
    files = {}
    commit = git_commit()
    for task, shots in plan:
        start = time.perf_counter()
        texts = read_task_files(task, settings.path)
        new = run(setup, task, texts, shots, limit)
        seconds = round(time.perf_counter() - start, 2)
        rows += [{**r, "seconds": seconds, "checkpoint": em.checkpoint, "commit": commit,
                  "limit": limit or None} for r in new]
        files.update({settings.path: "the user's file (no checksum known)"} if settings.path
                     else data.checksums(task.sets))
    return {"model": em.name, "checkpoint": em.checkpoint, "commit": commit,
            "tokenizer": em.tokenizer.name, "context": setup.context, "device": device,
            "precision": scorer.dtype, "limit": limit or None,
            "settings": dataclasses.asdict(settings), "data": files, "results": rows}


def tokenize_only(tokenizer, context: int, plan: list, limit: int, settings) -> int:
    """Every text the plan scores, through the token cache, without a model; the number of
    (task, K) done."""
    setup = Setup(tokenizer, settings, context)
    for task, shots in plan:
        run(setup, task, read_task_files(task, settings.path), shots, limit)
    return len(plan)


def merge(old: dict | None, new: dict) -> dict:
    """The new results file, keeping the old rows of (task, metric, shots) not evaluated now
    (a run evaluated task by task accumulates one file; each row keeps its own checkpoint,
    commit and limit, so a kept row is described by what made it, not by the new header)."""
    if not old:
        return new
    fresh = {(r["task"], r["metric"], r["shots"]) for r in new["results"]}
    kept = [r for r in old.get("results", []) if (r["task"], r["metric"], r["shots"]) not in fresh]
    return {**new, "results": kept + new["results"]}
