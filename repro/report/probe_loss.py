"""The image report's probe-against-loss section (iGPT Figure 3): the probe-<step>.json files
of its runs (`repro probe RUN --all-checkpoints`), linear-probe test accuracy against the
checkpoint's validation generative loss, one line per run through its checkpoints; Spearman's
rank correlation over every point with a 95% interval (two-level bootstrap: runs, then their
checkpoints) and the verdict on "lower loss, better features" (a negative correlation)."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import ReproError
from ..rundir import RunDir
from ..step_scores import read_all
from .plots import _plt
from .runs import REFERENCE, YOURS
from .tables import md_table
from .verdict import RULE, spearman_interval, verdict


def probe_points(runs: list[dict], origin: str) -> dict:
    """{run label: [(step, val loss, probe test accuracy %, test images)]} with >= 2 points."""
    out = {}
    for r in runs:
        if r["origin"] != origin:
            continue
        try:
            points = read_all(RunDir(r["dir"]), "probe")
        except ReproError as e:   # one damaged file: the run is left out, and the user told
            print(f"repro: left out of the probe-vs-loss figure: {e}", file=sys.stderr)
            continue
        if len(points) >= 2:
            label = f"seed {r['config']['train']['seed']}: {r['dir'].name}"
            out[label] = [(s, p["val_loss"], 100 * p["probe_test_accuracy"],
                           p["probe_test_images"]) for s, p in points.items()]
    return out


def probe_loss_section(spec, runs: list[dict], out_dir: Path, stem: str) -> tuple[list, dict]:
    finding = next((f for f in spec.findings if f.name == "probe_vs_loss"), None)
    lines, out = [], {}
    for origin in (REFERENCE, YOURS):
        by_run = probe_points(runs, origin)
        if not by_run:
            continue
        groups = [([p[1] for p in pts], [p[2] for p in pts]) for pts in by_run.values()]
        rho = spearman_interval(groups)
        word = verdict(rho["lo"], rho["hi"], finding.sign if finding else -1)
        image = plot_probe_loss(by_run, out_dir / f"{stem}-probe-vs-loss-{origin}.png")
        rows = [{"run": name, "step": s, "val loss (nats)": f"{loss:.4f}",
                 "probe test accuracy (%)": f"{acc:.1f}", "test images": n}
                for name, pts in by_run.items() for s, loss, acc, n in pts]
        lines += [f"## Probe accuracy against generative loss ({origin}; iGPT Figure 3)\n",
                  f"The paper ({finding.source}): {finding.claim}.\n" if finding else "",
                  f"![probe accuracy against validation loss]({image})\n", md_table(rows),
                  f"Spearman's rank correlation of validation loss and probe accuracy over "
                  f"{rho['points']} checkpoints of {rho['groups']} runs: **{rho['rho']:+.2f}** "
                  f"(95% interval [{rho['lo']:+.2f}, {rho['hi']:+.2f}], {rho['reps']} bootstrap "
                  f"resamples of runs, then of their checkpoints) → **{word}**. Verdict: "
                  f"{RULE}; the paper's side is a negative correlation.\n"]
        out[origin] = {"spearman": rho, "verdict": word, "points": by_run}
    return lines, out


def plot_probe_loss(by_run: dict, path: Path) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (name, pts) in enumerate(by_run.items()):
        ax.plot([p[1] for p in pts], [p[2] for p in pts], "o-", ms=4, color=f"C{i % 10}",
                label=name[:50])
        for s, loss, acc, _ in (pts[0], pts[-1]):
            ax.annotate(f"{s}", (loss, acc), fontsize=6, color=f"C{i % 10}")
    ax.invert_xaxis()   # as the paper draws it: better generative models to the right
    ax.set_xlabel("validation generative loss (nats/token), lower to the right")
    ax.set_ylabel("linear-probe test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path.name
