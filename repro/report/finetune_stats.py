"""What the fine-tuning report's verdicts rest on (DESIGN.md §11): each task's trivial baselines
from its dev labels, each arm as a Cell (seed values, per-example predictions where every run
saved them), signed comparisons of the arms with 95% intervals (report/intervals.py), and the
words that follow them. The numbers are x100, as the report prints them."""
from __future__ import annotations

import numpy as np

from ..data.glue import TASKS, load_task
from ..transfer.baselines import baselines, majority_prediction
from .intervals import SEED_ONLY, Cell, average_difference, difference, fmt_difference, verdict
from .tables import md_table

PAIRS = (("recipe", "random_init"), ("recipe", "no_aux_lm"))


def dev_gold(task: str, n: int) -> np.ndarray:
    """The first n dev labels of a task (the runs score the first max_dev, all when 0)."""
    labels = load_task(task)["dev"].labels
    return labels[:n] if n else labels


def arm_cell(runs: list[dict], metric: str) -> Cell | None:
    """The finished runs of one arm on one task (one per seed) as a Cell."""
    if not runs:
        return None
    values = [100 * r["summary"]["dev"][metric] for r in runs]
    preds = [r.get("predictions") for r in runs]
    if any(p is None for p in preds) or len({len(p["predictions"]) for p in preds}) != 1:
        return Cell(values)
    return Cell(values, np.array([p["predictions"] for p in preds]))


def task_baseline(task: str, gold: np.ndarray) -> dict:
    """Baselines x100 and the majority constant as a Cell of the headline metric."""
    b = baselines(task, gold)
    metric = TASKS[task].metrics[0]
    constant = majority_prediction(gold, not TASKS[task].labels)
    return {"majority": {m: 100 * v for m, v in b["majority"].items()},
            "majority_label": b["majority_label"],
            "chance": {m: 100 * v for m, v in b["chance"].items()},
            "cell": Cell([100 * b["majority"][metric]], constant[None], exact=True)}


def baseline_words(result: dict) -> str:
    """A score against its majority baseline, flagged when not above it."""
    return verdict(result, "above", "BELOW majority").replace(
        "no detectable difference", "AT majority baseline").replace(
        "no interval (one seed)", "one seed: no interval")


def against_baseline(cell: Cell, base: dict, gold: np.ndarray, metric: str) -> dict:
    r = difference(cell, base["cell"], gold, metric)
    return {**r, "flag": baseline_words(r)}


def comparisons(cells: dict, golds: dict, names: dict) -> list[dict]:
    """Per pair of arms: every task that has both, then their average; signed A - B."""
    rows = []
    for a, b in PAIRS:
        tasks = [t for t in cells if cells[t].get(a) and cells[t].get(b)]
        per = [(cells[t][a], cells[t][b], golds[t], TASKS[t].metrics[0]) for t in tasks]
        labelled = [(t, difference(*p)) for t, p in zip(tasks, per)]
        if len(tasks) > 1:
            labelled.append((f"average of {len(tasks)} tasks", average_difference(per)))
        for task, r in labelled:
            rows.append({"comparison": f"{names[a]} − {names[b]}", "task": task,
                         "difference (95% interval)": fmt_difference(r),
                         "verdict": verdict(r, f"{names[a]} higher", f"{names[b]} higher"),
                         "_a": a, "_b": b, "_result": r})
    return rows


def verdict_lines(rows: list[dict], names: dict) -> list[str]:
    """One sentence per pair, from its average row (its only task when there is one)."""
    out = []
    for a, b in PAIRS:
        mine = [r for r in rows if (r["_a"], r["_b"]) == (a, b)]
        if not mine:
            continue
        avg, tasks = mine[-1], (mine[:-1] if len(mine) > 1 else mine)
        clear = [f"{r['task']}: {r['verdict']}" for r in tasks if "higher" in r["verdict"]]
        out.append(f"**{names[a]} − {names[b]}** ({avg['task']}): "
                   f"{avg['difference (95% interval)']}: **{avg['verdict']}**. Per task, the "
                   f"interval excludes 0 on {len(clear)} of {len(tasks)}"
                   + (f" ({'; '.join(clear)})" if clear else "") + ".")
    return out


def shown(rows: list[dict]) -> list[dict]:
    """The rows without their private keys (for the table and the JSON)."""
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]


def task_evidence(by_seed: dict) -> dict:
    """{task: {"gold": the dev labels the runs scored, "base": its baselines}} (task_baseline)."""
    out = {}
    for (_, task, _), runs in sorted(by_seed.items()):
        if task not in out:
            gold = dev_gold(task, runs[0]["summary"].get("dev_examples", 0))
            out[task] = {"gold": gold, "base": task_baseline(task, gold)}
    return out


def baseline_columns(task: str, metric: str, evidence: dict) -> dict:
    if task not in evidence:
        return {"majority (dev labels)": "", "chance": ""}
    base = evidence[task]["base"]
    label = f" (all {base['majority_label']})" if base["majority_label"] else " (the mean)"
    chance = base["chance"].get(metric)
    return {"majority (dev labels)": f"{base['majority'][metric]:.1f}{label}",
            "chance": "" if chance is None else f"{chance:.1f}"}


def flag(cell, task: str, evidence: dict) -> str:
    """A headline score against its majority baseline: ' — AT majority baseline' etc."""
    r = against_baseline(cell, evidence[task]["base"], evidence[task]["gold"],
                            TASKS[task].metrics[0])
    return "" if r["flag"] == "above" else f" — {r['flag']}"


def comparison_section(names: dict, by_seed: dict, cells: dict, evidence: dict,
                       origin: str) -> tuple:
    """(markdown lines, JSON rows): the signed comparisons of the arms of one origin
    (names: arm -> its words) with their intervals."""
    per_task = {}
    for (o, task, arm), cell in cells.items():
        if o == origin:
            per_task.setdefault(task, {})[arm] = cell
    per_task = {t: per_task[t] for t in TASKS if t in per_task}   # GLUE's order, as the tables
    rows = comparisons(per_task, {t: e["gold"] for t, e in evidence.items()}, names)
    if not rows:
        return [], []
    runs = [r for (o, _, _), rs in by_seed.items() if o == origin for r in rs]
    missing = sum(r["predictions"] is None for r in runs)
    lines = ["Comparisons between the arms: signed (first minus second), on the headline "
             "metric, with a 95% interval; \"no detectable difference\" when it contains 0.\n",
             md_table(shown(rows))]
    if missing:
        lines.append(f"{missing} of these {len(runs)} runs saved no per-example dev "
                     f"predictions (they predate dev_predictions.json), so an interval that "
                     f"involves them is {SEED_ONLY}: the seeds' spread only, without the dev "
                     f"set's sampling error, hence too narrow.\n")
    numbers = [{**row, **r["_result"]} for row, r in zip(shown(rows), rows)]   # for the JSON
    return lines + [v + "\n" for v in verdict_lines(rows, names)], numbers
