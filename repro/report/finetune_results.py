"""The numbers of the fine-tuning report: per-seed values of each arm, their mean and spread
beside the paper's and the task's trivial baselines (flagged where a score is not above the
majority class), and the ablation of paper Table 5. The signed comparisons and the verdicts
they support: report/finetune_stats.py."""
from __future__ import annotations

from ..data.glue import TASKS
from ..finetune_config import FinetuneRecipe
from . import finetune_stats as fs
from .runs import REFERENCE, YOURS

ARMS = ("recipe", "no_aux_lm", "random_init")
PAPER_VARIANT = {"recipe": "full", "no_aux_lm": "no_aux_lm", "random_init": "no_pretraining"}


def arm_names(recipe: FinetuneRecipe) -> dict:
    return {"recipe": f"pre-trained, λ = {recipe.lm_coef:g}", "no_aux_lm": "pre-trained, λ = 0",
            "random_init": f"random init, λ = {recipe.lm_coef:g}"}


def seed_runs(runs: list[dict]) -> dict:
    """{(origin, task, arm): [finished run per seed, by seed]}, the newest run of a repeated
    seed."""
    newest = {}
    for r in runs:   # sorted by folder name within an origin: later ones replace earlier ones
        if r["summary"].get("completed") and r["arm"] in ARMS:
            key = (r["origin"], r["config"].task, r["arm"], r["config"].seed)
            newest[key] = r
    out = {}
    for (origin, task, arm, _), r in sorted(newest.items(), key=lambda kv: kv[0][3]):
        out.setdefault((origin, task, arm), []).append(r)
    return out


def seed_values(by_seed: dict) -> dict:
    """{(origin, task, arm): {metric: [value x100 per seed]}}."""
    out = {}
    for key, runs in by_seed.items():
        for r in runs:
            for metric, value in r["summary"]["dev"].items():
                out.setdefault(key, {}).setdefault(metric, []).append(100 * value)
    return out


def stats(values: list[float] | None) -> dict | None:
    from . import summarize
    return summarize(values or [])


def fmt(s: dict | None) -> str:
    """mean ± std [min, max] (n seeds)."""
    if not s:
        return ""
    if s["n"] == 1:
        return f"{s['mean']:.1f} (n=1)"
    return f"{s['mean']:.1f} ± {s['std']:.1f} [{s['min']:.1f}, {s['max']:.1f}] (n={s['n']})"


def paper_value(spec, task: str, metric: str, variant: str = "full"):
    return next(((r.value, r.source) for r in spec.finetune.results
                 if (r.task, r.metric, r.variant) == (task, metric, variant)), (None, ""))


def results_rows(spec, scale: str, values: dict, cells: dict, evidence: dict) -> list[dict]:
    """Per task and GLUE metric: the paper's number beside each origin's recipe runs and the
    task's trivial baselines; a headline score not above the majority baseline is flagged."""
    origins = [o for o in (REFERENCE, YOURS) if any(k[0] == o and k[2] == "recipe" for k in values)]
    rows = []
    for task in spec.finetune.tasks:
        for metric in TASKS[task].metrics:
            value, source = paper_value(spec, task, metric)
            row = {"task": task, "metric": metric,
                   "paper": f"{value:.1f} ({source})" if value is not None else "not reported",
                   **fs.baseline_columns(task, metric, evidence)}
            for origin in origins:
                row[origin] = fmt(stats(values.get((origin, task, "recipe"), {}).get(metric)))
                cell = cells.get((origin, task, "recipe"))
                if cell and metric == TASKS[task].metrics[0]:
                    row[origin] += fs.flag(cell, task, evidence)
            row["comparable?"] = spec.finetune.scales[scale].comparable if value is not None else ""
            rows.append(row)
    return rows


def ablation(spec, values: dict, cells: dict, evidence: dict, origin: str) -> list[dict]:
    """The three arms beside the paper's Table 5 per task (headline metric, flagged against
    the majority baseline), and an average row over the tasks that have all three arms."""
    names = arm_names(spec.finetune.recipe)
    rows, means = [], {arm: {} for arm in ARMS}
    for task in spec.finetune.tasks:
        metric = TASKS[task].metrics[0]
        row = {"task": task, "metric": metric,
               "majority (dev labels)": fs.baseline_columns(task, metric, evidence)[
                   "majority (dev labels)"]}
        for arm in ARMS:
            s = stats(values.get((origin, task, arm), {}).get(metric))
            row[names[arm]] = fmt(s)
            if s:
                means[arm][task] = s["mean"]
                row[names[arm]] += fs.flag(cells[(origin, task, arm)], task, evidence)
        for arm in ARMS:
            value, _ = paper_value(spec, task, metric, PAPER_VARIANT[arm])
            row[f"paper: {PAPER_VARIANT[arm]}"] = value
        if any(row[names[arm]] for arm in ARMS):
            rows.append(row)
    complete = [t for t in spec.finetune.tasks if all(t in means[arm] for arm in ARMS)]
    if complete:
        avg = {"task": f"average of {len(complete)} task{'s' * (len(complete) > 1)}",
               "metric": "headline", "majority (dev labels)": ""}
        for arm in ARMS:
            avg[names[arm]] = f"{sum(means[arm][t] for t in complete) / len(complete):.1f}"
            papers = [paper_value(spec, t, TASKS[t].metrics[0], PAPER_VARIANT[arm])[0]
                      for t in complete]
            avg[f"paper: {PAPER_VARIANT[arm]}"] = (
                f"{sum(papers) / len(papers):.2f} (derived: our mean of the paper's values)"
                if None not in papers else None)
        rows.append(avg)
    return rows
