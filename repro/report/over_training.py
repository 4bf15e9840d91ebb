"""A score through pre-training: the eval-<step>.json files of a paper's pre-training runs
(`repro eval RUN --all-checkpoints`), each task's accuracy against updates, one line per run,
beside the majority-class baseline; the verdict on "the score rises over pre-training" from
the difference last checkpoint minus first, over the runs (95% intervals: the runs' spread
plus the sampling error of the scored examples)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ReproError
from ..rundir import RunDir
from ..step_scores import read_all
from .plots import _plt
from .runs import damaged, gather
from .tables import md_table
from .verdict import RULE, accuracy_interval, difference, verdict

BASELINES = {"sst2_zeroshot": ("sst2", 1)}   # eval task -> (GLUE task, label of its 2nd choice)


def load_curves(folder: Path, origin: str) -> list[dict]:
    """The runs under folder with eval-<step>.json files: {"dir", "origin", "points"}."""
    out = []
    for d in sorted(folder.glob("*/")) if folder.is_dir() else ():
        try:
            points = read_all(RunDir(d), "eval")
        except ReproError as e:
            out.append(damaged(d, e))   # gather names it and leaves it out
            continue
        if points:
            out.append({"dir": d, "origin": origin, "points": points})
    return out


def curves(runs: list[dict]) -> dict:
    """{task: {run name: [(step, accuracy %, n)]}} of every accuracy row."""
    out = {}
    for r in runs:
        for step, result in r["points"].items():
            for row in result["results"]:
                if row["metric"] == "accuracy" and row["shots"] == 0:
                    name = f"{r['origin']}: {r['dir'].name}"
                    out.setdefault(row["task"], {}).setdefault(name, []).append(
                        (step, row["value"], row["n"]))
    return out


def majority(task: str, n: int) -> float | None:
    if task not in BASELINES:
        return None
    from ..data.glue import load_task
    labels = load_task(BASELINES[task][0])["dev"].head(n).labels
    return 100 * float(np.bincount(labels).max()) / len(labels)


def over_training_section(group: str, runs_root, reference_root, finding, out_dir: Path,
                          stem: str):
    """(markdown lines, JSON) for the pre-training runs of `group`; ([], None) without points."""
    runs = gather(group, runs_root, reference_root, load_curves)
    by_task = curves(runs)
    if not by_task:
        return [], None
    rows, verdicts = [], []
    for task, lines in by_task.items():
        first = [pts[0] for pts in lines.values()]
        last = [pts[-1] for pts in lines.values()]
        a = accuracy_interval([v for _, v, _ in last], last[0][2])
        b = accuracy_interval([v for _, v, _ in first], first[0][2])
        d = difference(a, b)
        word = verdict(d["lo"], d["hi"], finding.sign if finding else 1)
        base = majority(task, first[0][2])
        rows.append({"task": task, "runs": len(lines),
                     "first checkpoint": f"{b['mean']:.1f} [{b['lo']:.1f}, {b['hi']:.1f}]",
                     "last checkpoint": f"{a['mean']:.1f} [{a['lo']:.1f}, {a['hi']:.1f}]",
                     "last - first": f"{d['diff']:+.1f} [{d['lo']:+.1f}, {d['hi']:+.1f}]",
                     "majority class": "" if base is None else f"{base:.1f}", "verdict": word})
        verdicts.append(f"- **{task}**: last minus first checkpoint {d['diff']:+.1f} points "
                        f"[{d['lo']:+.1f}, {d['hi']:+.1f}] → **{word}**")
    image = plot_over_training(by_task, out_dir / f"{stem}-zero-shot.png")
    claim = f"The paper ({finding.source}): {finding.claim}.\n" if finding else ""
    md = [f"## Zero-shot scores through pre-training ({group}; GPT-1 Figure 2 right)\n", claim,
          f"![zero-shot accuracy against updates]({image})\n", md_table(rows),
          "Each run scored at every kept checkpoint (`repro eval RUN --tasks sst2_zeroshot "
          "--all-checkpoints`). Intervals: 95%, the runs' spread plus the sampling error of the "
          f"scored examples. Verdict: {RULE}.\n", *verdicts, ""]
    return md, {"curves": by_task, "rows": rows}


def plot_over_training(by_task: dict, path: Path) -> str:
    plt = _plt()
    fig, axes = plt.subplots(1, len(by_task), figsize=(5 * len(by_task), 3.6), squeeze=False)
    for ax, (task, lines) in zip(axes[0], by_task.items()):
        for i, (name, pts) in enumerate(lines.items()):
            ax.plot([s for s, _, _ in pts], [v for _, v, _ in pts], "o-", ms=3, color=f"C{i % 10}",
                    label=name[:50])
        base = majority(task, next(iter(lines.values()))[0][2])
        if base is not None:
            ax.axhline(base, ls="--", color="gray", lw=1, label="majority class")
        ax.set_title(task)
        ax.set_xlabel("pre-training updates")
        ax.set_ylabel("zero-shot accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path.name
