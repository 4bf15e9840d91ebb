"""The fine-tuning report's layers-transferred section: dev accuracy against K, the number of
pre-trained blocks a fine-tuned model starts from (`finetune --transfer-layers K`), with 95%
intervals and the majority-class baseline, per task; the verdict on the paper's claim from the
difference full transfer (K = L) minus embeddings only (K = 0).

Runs: pre-trained, the recipe as is (arm "recipe" at K = L, "layers K of L" below it); the
newest finished run of each seed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.glue import TASKS, load_task
from .plots import _plt
from .tables import md_table
from .verdict import RULE, accuracy_interval, difference, verdict


WHAT_WOULD_SHOW = (
    "Read the verdicts with the pre-training behind these runs (above): blocks that pre-training "
    "taught little add little when transferred. What would make a trend show where there is "
    "one: a better pre-trained model (more tokens; a larger size of the scaling ladder trained "
    "on the same data), more seeds, or a larger dev set (narrower intervals).")


def transfer_of(run: dict) -> tuple[int, int]:
    """(K, L) of a fine-tuning run; a run from before the flag transferred every block."""
    c = run["config"]
    return (c.model.n_layer if c.transfer_layers is None else c.transfer_layers), c.model.n_layer


def majority(task: str, n: int) -> float | None:
    """The majority class's share (%) of the first n dev examples (None: not an accuracy)."""
    if TASKS[task].metrics[0] != "accuracy":
        return None
    labels = load_task(task)["dev"].head(n).labels
    return 100 * float(np.bincount(labels).max()) / len(labels)


def layer_runs(runs: list[dict], origin: str) -> dict:
    """{task: {K: [run per seed]}} of the pre-trained recipe runs of the tasks scored by
    accuracy (the intervals are an accuracy's)."""
    newest = {}
    for r in runs:
        k, n_layer = transfer_of(r)
        pretrained = r["arm"] == "recipe" or r["arm"].startswith("layers ")
        accuracy = TASKS[r["config"].task].metrics[0] == "accuracy"
        if r["origin"] == origin and pretrained and accuracy and r["summary"].get("completed"):
            newest[(r["config"].task, k, r["config"].seed)] = r
    out = {}
    for (task, k, _), r in sorted(newest.items()):
        out.setdefault(task, {}).setdefault(k, []).append(r)
    return out


def full_minus_embeddings(task: str, high: list[dict], low: list[dict], fallback: dict) -> dict:
    """K = L minus K = 0: the statistics issue's paired bootstrap over dev examples and seeds
    when every run saved its dev predictions, else `fallback` (verdict.difference: the seeds'
    spread plus the binomial sampling error)."""
    from .finetune_stats import arm_cell, dev_gold
    from .intervals import BOOTSTRAP, difference as paired
    metric = TASKS[task].metrics[0]
    n = high[0]["summary"]["dev_examples"]
    r = paired(arm_cell(high, metric), arm_cell(low, metric), dev_gold(task, n), metric)
    if r["interval"] == BOOTSTRAP:
        return {"diff": r["difference"], "lo": r["low"], "hi": r["high"], "how": BOOTSTRAP}
    return {**fallback, "how": "normal: seeds' spread + binomial sampling error"}


def layers_section(runs: list[dict], origin: str, finding, out_dir: Path, stem: str):
    """(markdown lines, JSON) of the section for one origin; ([], None) without K < L runs."""
    by_task = {t: v for t, v in layer_runs(runs, origin).items() if len(v) > 1}
    if not by_task:
        return [], None
    rows, verdicts, intervals = [], [], {}
    for task, by_k in by_task.items():
        metric, base = TASKS[task].metrics[0], None
        for k, group in sorted(by_k.items()):
            accs = [100 * r["summary"]["dev"][metric] for r in group]
            n = group[0]["summary"]["dev_examples"]
            ci = intervals.setdefault(task, {})[k] = accuracy_interval(accs, n)
            base = majority(task, n)
            rows.append({"task": task, "K": k, "seeds": len(accs), metric: f"{ci['mean']:.1f}",
                         "95% interval": f"[{ci['lo']:.1f}, {ci['hi']:.1f}]",
                         "per seed": ", ".join(f"{a:.1f}" for a in accs),
                         "majority class": "" if base is None else f"{base:.1f}"})
        ks = sorted(by_k)
        d = full_minus_embeddings(task, by_k[ks[-1]], by_k[ks[0]],
                                  difference(intervals[task][ks[-1]], intervals[task][ks[0]]))
        word = verdict(d["lo"], d["hi"], finding.sign if finding else 1)
        verdicts.append(f"- **{task}**: K = {ks[-1]} minus K = {ks[0]}: {d['diff']:+.1f} points "
                        f"[{d['lo']:+.1f}, {d['hi']:+.1f}] ({d['how']}) → **{word}**")
    image = plot_layers(intervals, out_dir / f"{stem}-layers-{origin}.png")
    claim = (f"The paper ({finding.source}): {finding.claim}.\n" if finding else "")
    lines = [f"## Layers transferred ({origin}; GPT-1 Figure 2 left)\n", claim,
             f"![accuracy against layers transferred]({image})\n", md_table(rows),
             "Intervals per K: 95%, the seeds' spread plus the dev set's sampling error (normal); "
             "of the difference: as named on its line. Verdict: "
             f"{RULE}.\n", *verdicts, "", WHAT_WOULD_SHOW, ""]
    return lines, {"intervals": intervals, "verdicts": verdicts}


def plot_layers(intervals: dict, path: Path) -> str:
    plt = _plt()
    fig, axes = plt.subplots(1, len(intervals), figsize=(4.5 * len(intervals), 3.6), squeeze=False)
    for ax, (task, by_k) in zip(axes[0], intervals.items()):
        ks = sorted(by_k)
        mean = [by_k[k]["mean"] for k in ks]
        err = [[by_k[k]["mean"] - by_k[k]["lo"] for k in ks],
               [by_k[k]["hi"] - by_k[k]["mean"] for k in ks]]
        ax.errorbar(ks, mean, yerr=err, fmt="o-", capsize=3)
        n = by_k[ks[0]]["n"]
        base = majority(task, n)
        if base is not None:
            ax.axhline(base, ls="--", color="gray", lw=1, label="majority class")
            ax.legend(fontsize=7)
        ax.set_title(task)
        ax.set_xlabel("blocks transferred (0: embeddings only)")
        ax.set_ylabel(f"dev {TASKS[task].metrics[0]} (%), 95% interval")
        ax.set_xticks(ks)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path.name
