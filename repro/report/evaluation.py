"""The report's Evaluation section: each run's eval.json (written by `repro eval`) beside the
paper's number for the same task, metric and number of shots."""
from __future__ import annotations

from .tables import md_table


def paper_value(spec, size: str, task: str, metric: str, shots: int, exact_size: bool = False):
    """(value, source) of the paper's table for this size, else for the paper's smallest size
    that has one (marked; not with exact_size), else (None, ""). A few-shot K (> 1) the paper
    did not use takes the paper's few-shot row, whose K the source names."""
    rows = [e for e in spec.evaluations if (e.task, e.metric, e.shots) == (task, metric, shots)]
    if not rows and shots > 1:
        rows = [e for e in spec.evaluations if (e.task, e.metric) == (task, metric) and e.shots > 1]
    k = f", K={rows[0].shots}" if rows and rows[0].shots != shots else ""
    same = [e for e in rows if e.size == size]
    if same:
        return same[0].value, same[0].source + k
    if rows and not exact_size:
        return rows[0].value, f"{rows[0].source}, size {rows[0].size}{k}"
    return None, ""


def evaluation_rows(spec, size: str, runs: list[dict]) -> list[dict]:
    rows = []
    for r in runs:
        ev = r.get("eval")
        if not ev:
            continue
        for res in ev["results"]:
            value, source = paper_value(spec, size, res["task"], res["metric"], res["shots"])
            used = res.get("k_used")
            rows.append({"run": f"seed {r['config']['train']['seed']} ({r['origin']})",
                         "task": res["task"], "shots": res["shots"], "metric": res["metric"],
                         **({"K used (min-max)": f"{used['min']}-{used['max']}"} if used else {}),
                         "this run": res["value"], "n": res.get("n"),
                         "paper": value, "paper source": source,
                         "comparable?": "no: a scaled-down model trained on the shipped books, "
                                        "not the paper's model and data" if value is not None
                         else ""})
    return rows


def evaluation_section(spec, cfg, shown: list[dict]) -> list[str]:
    rows = evaluation_rows(spec, cfg.size, [r for r in shown if not r.get("variant")])
    if not rows:
        return []
    return ["## Evaluation (the paper's own protocols, `python -m repro eval`)\n",
            md_table(rows)]
