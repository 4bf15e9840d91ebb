"""The numbers of the fine-tuning report: per-seed values of each arm, their mean and spread
beside the paper's, the ablation of paper Table 5 and the verdicts it supports."""
from __future__ import annotations

from ..data.glue import TASKS
from ..transfer.recipe import FinetuneRecipe
from .runs import REFERENCE, YOURS

ARMS = ("recipe", "no_aux_lm", "random_init")
PAPER_VARIANT = {"recipe": "full", "no_aux_lm": "no_aux_lm", "random_init": "no_pretraining"}


def arm_names(recipe: FinetuneRecipe) -> dict:
    return {"recipe": f"pre-trained, λ = {recipe.lm_coef:g}", "no_aux_lm": "pre-trained, λ = 0",
            "random_init": f"random init, λ = {recipe.lm_coef:g}"}


def seed_values(runs: list[dict]) -> dict:
    """{(origin, task, arm): {metric: [value x100 per seed]}} over finished runs, the newest
    run of a repeated seed."""
    newest = {}
    for r in runs:   # sorted by folder name within an origin: later ones replace earlier ones
        if r["summary"].get("completed") and r["arm"] in ARMS:
            key = (r["origin"], r["config"]["task"], r["arm"], r["config"]["seed"])
            newest[key] = r
    out = {}
    for (origin, task, arm, _), r in sorted(newest.items(), key=lambda kv: kv[0][3]):
        cell = out.setdefault((origin, task, arm), {})
        for metric, value in r["summary"]["dev"].items():
            cell.setdefault(metric, []).append(100 * value)
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


def results_rows(spec, scale: str, values: dict) -> list[dict]:
    """Per task and GLUE metric: the paper's number beside each origin's recipe runs."""
    origins = [o for o in (REFERENCE, YOURS) if any(k[0] == o and k[2] == "recipe" for k in values)]
    rows = []
    for task in spec.finetune.tasks:
        for metric in TASKS[task].metrics:
            value, source = paper_value(spec, task, metric)
            row = {"task": task, "metric": metric,
                   "paper": f"{value:.1f} ({source})" if value is not None else "not reported"}
            for origin in origins:
                row[origin] = fmt(stats(values.get((origin, task, "recipe"), {}).get(metric)))
            row["comparable?"] = spec.finetune.scales[scale].comparable if value is not None else ""
            rows.append(row)
    return rows


def ablation(spec, values: dict, origin: str) -> tuple[list[dict], dict]:
    """The three arms beside the paper's Table 5 per task (headline metric), an average row over
    the tasks that have all three arms, and the numbers behind the verdicts."""
    names = arm_names(spec.finetune.recipe)
    rows, means, spreads = [], {arm: {} for arm in ARMS}, {arm: {} for arm in ARMS}
    for task in spec.finetune.tasks:
        metric = TASKS[task].metrics[0]
        row = {"task": task, "metric": metric}
        for arm in ARMS:
            s = stats(values.get((origin, task, arm), {}).get(metric))
            row[names[arm]] = fmt(s)
            if s:
                means[arm][task], spreads[arm][task] = s["mean"], s["std"]
        for arm in ARMS:
            value, _ = paper_value(spec, task, metric, PAPER_VARIANT[arm])
            row[f"paper: {PAPER_VARIANT[arm]}"] = value
        if any(row[names[arm]] for arm in ARMS):
            rows.append(row)
    complete = [t for t in spec.finetune.tasks if all(t in means[arm] for arm in ARMS)]
    if complete:
        avg = {"task": f"average of {len(complete)} task{'s' * (len(complete) > 1)}",
               "metric": "headline"}
        for arm in ARMS:
            avg[names[arm]] = f"{sum(means[arm][t] for t in complete) / len(complete):.1f}"
            papers = [paper_value(spec, t, TASKS[t].metrics[0], PAPER_VARIANT[arm])[0]
                      for t in complete]
            avg[f"paper: {PAPER_VARIANT[arm]}"] = (round(sum(papers) / len(papers), 2)
                                                  if None not in papers else None)
        rows.append(avg)
    return rows, {"means": means, "spreads": spreads}


def compare(numbers: dict, a: str, b: str) -> dict | None:
    """Arm a against arm b over the tasks that have both: averages, wins, and on how many tasks
    the gap exceeds the seeds' spread (the larger of the two standard deviations)."""
    means, spreads = numbers["means"], numbers["spreads"]
    tasks = [t for t in means[a] if t in means[b]]
    if not tasks:
        return None
    gaps = {t: means[a][t] - means[b][t] for t in tasks}
    return {"tasks": tasks, "a": sum(means[a][t] for t in tasks) / len(tasks),
            "b": sum(means[b][t] for t in tasks) / len(tasks),
            "a_higher_on": [t for t in tasks if gaps[t] > 0],
            "beyond_spread": [t for t in tasks
                              if abs(gaps[t]) > max(spreads[a][t], spreads[b][t])]}


def verdicts(spec, numbers: dict, inits: list[dict]) -> list[str]:
    """The two questions of the ablation, answered from the numbers."""
    out = []
    pre = compare(numbers, "recipe", "random_init")
    if pre:
        n, beats = len(pre["tasks"]), pre["a"] > pre["b"]
        line = (f"**Does the pre-trained model beat random init on average? "
                f"{'Yes' if beats else 'No'}**: {pre['a']:.1f} vs {pre['b']:.1f} (headline "
                f"metrics averaged over {n} task{'s' * (n > 1)}); pre-trained higher on "
                f"{len(pre['a_higher_on'])} of {n}; the gap exceeds the seeds' spread on "
                f"{len(pre['beyond_spread'])} ({', '.join(pre['beyond_spread']) or 'none'}).")
        if not beats:
            within = n - len(pre["beyond_spread"])
            line += (" Why, from these runs: the pre-training behind them was "
                     + "; ".join(_pretraining_words(i) for i in inits)
                     + f"; on {within} of {n} tasks the two arms are within the seeds' spread, "
                       f"so there the runs cannot tell them apart.")
        out.append(line)
    aux = compare(numbers, "recipe", "no_aux_lm")
    if aux:
        n = len(aux["tasks"])
        out.append(f"**Auxiliary LM loss**: with it (λ = {spec.finetune.recipe.lm_coef:g}) "
                   f"{aux['a']:.1f}, without it (λ = 0) {aux['b']:.1f} (averaged over {n} "
                   f"task{'s' * (n > 1)}); higher with it on {len(aux['a_higher_on'])} of {n}; "
                   f"the gap exceeds the seeds' spread on {len(aux['beyond_spread'])}.")
    return out


def _pretraining_words(init: dict) -> str:
    if init["kind"] == "hf":
        return f"Hugging Face {init['source']}"
    tokens = f"{init['tokens']:,} tokens" if init.get("tokens") else "tokens unknown"
    loss = f"val loss {init['final_val_loss']:.3f}" if init.get("final_val_loss") else "no val loss"
    return f"{init.get('paper')} {init.get('scale')} run {init.get('run_id')}: {tokens}, {loss}"
