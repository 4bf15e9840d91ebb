"""Reports: run folders -> <out>/<paper>-<scale>.md, a PNG of the curves and a JSON of the numbers.

A report reads (never writes) two sets of runs: the user's (runs/<group>/) and the committed
reference evidence (reports/runs/<group>/), and shows them side by side; headline numbers are
the mean and spread of each set's recipe runs with distinct seeds. Parity comes from the
artifact `repro parity` writes (reports/parity/<paper>.json), not from running it here.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from ..errors import ReproError
from ..outputs import write_files
from ..provenance import git_commit
from .markdown import render
from .plots import plot_curves
from .probe_loss import probe_loss_section
from .runs import (REFERENCE, YOURS, copy_runs, gather, headline, load_runs, nowhere, run_row,
                   variant)
from .task_sections import LOSS_KEYS, TASK_REPORTS, TASK_SCORES

# The numbers summarized over each origin's seeds (report JSON "stats").
SUMMARY_KEYS = ("final_loss", *LOSS_KEYS, *TASK_SCORES, "wall_s", "tokens_per_s", "mfu")


def summarize(values) -> dict | None:
    import pandas as pd
    s = pd.Series([v for v in values if v is not None], dtype=float)
    if s.empty:
        return None
    return {"mean": float(s.mean()), "std": float(s.std()) if len(s) > 1 else 0.0,
            "min": float(s.min()), "max": float(s.max()), "n": int(len(s))}


def write_report(spec, scale: str, size: str | None, out_dir: Path, runs_root: Path | None,
                 reference_root: Path | None, parity_file: Path | None = None) -> Path:
    from ..config import Config
    from ..spec import resolve, run_group, train_command
    stem = run_group(spec, size, scale)
    runs = gather(stem, runs_root, reference_root, load_runs)
    if not runs:
        raise ReproError(f"no finished runs in {nowhere(stem, runs_root, reference_root)}; "
                         f"train first: {train_command(spec, size, scale)}")
    base = resolve(spec, size, scale).to_dict()
    for r in runs:
        r["variant"] = variant(r, base)
    groups = {origin: headline([r for r in runs if r["origin"] == origin])
              for origin in (REFERENCE, YOURS)}
    shown = sorted(runs, key=lambda r: (r["origin"] != REFERENCE, bool(r["variant"]),
                                        r["config"]["train"]["seed"], r["dir"].name))
    rows = [run_row(r) for r in shown]
    latest = (groups[YOURS] or groups[REFERENCE] or shown)[-1]
    cfg = Config.from_dict(latest["config"])
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_curves(shown, out_dir / f"{stem}.png", spec.references)
    stats = {origin: {key: summarize(run_row(r).get(key) for r in group) for key in SUMMARY_KEYS}
             for origin, group in groups.items() if group}
    images = TASK_REPORTS[cfg.data.kind].images(shown, latest, out_dir, stem)
    result = {
        "paper": spec.name, "scale": scale, "size": cfg.size, "stem": stem,
        "device": latest["env"]["device"], "params": latest["summary"]["params"],
        "headline_runs": {o: [r["dir"].name for r in g] for o, g in groups.items()},
        "stats": stats, "run_rows": rows, "data": latest["summary"]["data"],
        "run_commits": sorted({r["env"].get("git_commit", "unknown") for r in shown}),
        "report_commit": git_commit(), "versions": latest["env"]["versions"],
        "generated": time.strftime("%Y-%m-%d %H:%M"),
        "command": train_command(spec, cfg.size, scale),
    }
    parity = _parity(parity_file, cfg.size)
    md = render(spec, cfg, result, shown, groups, parity, images)
    found, result["findings"] = probe_loss_section(spec, shown, out_dir, stem)
    md += "\n" + "\n".join(found) if found else ""
    write_files(out_dir, {f"{stem}.json": json.dumps(result, indent=2, default=str) + "\n",
                          f"{stem}.md": md})   # each whole: a reader never sees half of one
    return out_dir / f"{stem}.md"


def _parity(path: Path | None, size: str) -> list[dict]:
    """The parity artifact's rows for this size; a missing or damaged artifact is a row that
    says so, never an error (the report of a finished run must not fail on it)."""
    if path is None:
        return []
    if not path.is_file():
        return [{"size": size, "error": f"no parity artifact at {path}; run python -m repro "
                                        f"parity {path.stem} --save"}]
    try:
        doc = json.loads(path.read_text())
        return [dict(r, commit=doc.get("commit")) for r in doc["results"] if r["size"] == size]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return [{"size": size, "error": f"{path} is not a parity artifact ({type(e).__name__})"}]


def add_evidence(spec, scale: str, size: str | None, run_dirs: list[Path],
                 reference_root: Path) -> list[Path]:
    """Copy finished runs of this paper, size and scale into the reference evidence; a run
    stopped before its summary is accepted once it has evaluated (reports say where it stopped)."""
    from ..config import Config
    from ..spec import run_group
    stem = run_group(spec, size, scale)

    def refuse(record) -> str:
        run, cfg = record.dir, record.config
        if record.kind != Config.KIND:
            return f"{record.what()}, not a {spec.name} pre-training run"
        if not (run.is_finished() or any("val_loss" in m for m in run.metrics())):
            return "not a run that finished or evaluated"
        if cfg.paper != spec.name:
            return f"a {cfg.paper or 'unknown'} run, not a {spec.name} run"
        got = run_group(spec, cfg.size or None, cfg.scale)
        return "" if got == stem else f"a {got} run, not {stem}"
    return copy_runs(run_dirs, reference_root / stem, refuse)
