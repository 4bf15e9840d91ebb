"""Scores of one checkpoint of a run, a file each: eval-<step>.json (`repro eval --checkpoint`)
and probe-<step>.json (`repro probe --checkpoint`). Together they are the points of a curve
over training (GPT-1 Figure 2 right, iGPT Figure 3); the report's evidence copy keeps them
(RunDir.EVIDENCE_GLOBS), never the weights they came from."""
from __future__ import annotations

from .rundir import RunDir

KINDS = ("eval", "probe")


def file_name(kind: str, step: int) -> str:
    """e.g. file_name("eval", 1000) = "eval-1000.json"."""
    assert kind in KINDS, kind
    return f"{kind}-{step}.json"


def read_all(run: RunDir, kind: str) -> dict[int, dict]:
    """{step: content} of the run's <kind>-<step>.json files, by step."""
    found = {}
    for path in run.path.glob(f"{kind}-*.json"):
        step = path.stem.split("-", 1)[1]
        if step.isdigit():
            found[int(step)] = run.read_json(path.name)
    return dict(sorted(found.items()))
