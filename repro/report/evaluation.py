"""The papers' evaluation numbers beside ours: for `repro eval`'s table and for a report's
Evaluation section (each run's eval.json, averaged over the seeds of the recipe)."""
from __future__ import annotations

from .tables import md_table


# Why a scaled-down run's evaluations sit far from the paper's (reports and model cards)
NOT_THE_PAPERS = (
    "Perplexities of WikiText-2 and PTB are per original token of the tokenized file. The "
    "paper's number is for the paper's model and data. A scaled-down run trained for several "
    "epochs on one small corpus is confidently wrong on text unlike it (other eras, Wikipedia's "
    "`<unk>`, WSJ's `N`): its perplexity there can be worse than a uniform guess, and its "
    "LAMBADA accuracy is near 0, as the LAMBADA paper's baselines were.")


def paper_value(spec, size: str, task: str, metric: str, shots: int, exact_size: bool = False):
    """(value, source, note) of the paper's table for this size, else for the paper's smallest
    size that has one (marked; not with exact_size), else (None, "", ""). A few-shot K (> 1) the
    paper did not use takes the paper's few-shot row, whose K the source names."""
    rows = [e for e in spec.evaluations if (e.task, e.metric, e.shots) == (task, metric, shots)]
    if not rows and shots > 1:
        rows = [e for e in spec.evaluations if (e.task, e.metric) == (task, metric) and e.shots > 1]
    k = f", K={rows[0].shots}" if rows and rows[0].shots != shots else ""
    same = [e for e in rows if e.size == size]
    if same:
        return same[0].value, same[0].source + k, same[0].note
    if rows and not exact_size:
        return rows[0].value, f"{rows[0].source}, size {rows[0].size}{k}", rows[0].note
    return None, "", ""


def trained_here(config: dict, summary: dict) -> str:
    """Why a run of ours is not the paper's model: its shape and what it was trained on."""
    m = config["model"]
    data = config["data"]
    source = data.get("dataset") or data.get("path") or data.get("source")
    return (f"no: a {m['n_layer']}x{m['n_embd']} model trained here on "
            f"{summary.get('tokens', 0) / 1e6:,.0f}M tokens of {source}")


def evaluation_rows(spec, size: str, runs: list[dict]) -> list[dict]:
    """One row per (origin, task, shots, metric): the mean ± std over the runs' eval.json."""
    import statistics
    groups: dict = {}
    for r in runs:
        for res in (r.get("eval") or {}).get("results", []):
            key = (r["origin"], res["task"], res["shots"], res["metric"])
            groups.setdefault(key, []).append((r, res))
    rows = []
    for (origin, task, shots, metric), items in groups.items():
        values = [res["value"] for _, res in items]
        mean = statistics.fmean(values)
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        value, source, note = paper_value(spec, size, task, metric, shots)
        used = [res["k_used"] for _, res in items if res.get("k_used")]
        r0 = items[0][0]
        rows.append({"origin": origin, "task": task, "shots": shots, "metric": metric,
                     **({"K used": f"{min(u['min'] for u in used)}-{max(u['max'] for u in used)}"}
                        if used else {}),
                     "ours (mean ± std)": f"{mean:.4g} ± {std:.2g}", "seeds": len(values),
                     "n": items[0][1].get("n"), "paper": value, "paper source": source,
                     "comparable?": (trained_here(r0["config"], r0["summary"])
                                     + (f"; {note}" if note else "")) if value is not None else ""})
    return rows


def evaluation_section(spec, cfg, shown: list[dict]) -> list[str]:
    rows = evaluation_rows(spec, cfg.size, [r for r in shown if not r.get("variant")])
    if not rows:
        return []
    return ["## Evaluation (the paper's own protocols, `python -m repro eval`)\n",
            "Each run's eval.json (`python -m repro eval RUN`), averaged over the seeds; "
            f"accuracies in %. {NOT_THE_PAPERS}\n", md_table(rows)]


def paper_rows(result: dict, sizes: list, comparable: str) -> list[dict]:
    """`repro eval`'s table: each result beside the paper's number for the first of sizes (spec,
    size) that has one."""
    rows = []
    for r in result["results"]:
        value = None
        source = ""
        note = ""
        for spec, size in sizes:
            value, source, note = paper_value(spec, size, r["task"], r["metric"], r["shots"],
                                              exact_size=True)
            if value is not None:
                break
        k = r.get("k_used")
        rows.append({"task": r["task"], "setting": r["setting"],
                     "K": f"{r['shots']} (used {k['min']}-{k['max']}, mean {k['mean']})" if k
                     else r["shots"], "metric": r["metric"], "value": round(r["value"], 4),
                     "n": r["n"], "paper": value, "paper source": source,
                     "comparable": (comparable + (f"; {note}" if note else ""))
                     if value is not None else ""})
    return rows


def eval_markdown(result: dict, rows: list[dict]) -> str:
    head = (f"# Evaluation of {result['model']}\n\ncheckpoint {result['checkpoint'] or '-'}, "
            f"tokenizer {result['tokenizer']}, context {result['context']}, device "
            f"{result['device']} ({result['precision']}), commit {result['commit']}"
            + (f", first {result['limit']} examples per task" if result["limit"] else "") + "\n")
    notes = sorted({r["note"] for r in result["results"] if r.get("note")})
    strides = sorted({(r["task"], r["stride"]) for r in result["results"] if "stride" in r})
    lines = [head, md_table(rows)]
    lines += [f"- {n}" for n in notes]
    lines += [f"- {t}: windows of {result['context']} tokens, stride {s}" for t, s in strides]
    return "\n".join(lines) + "\n"
