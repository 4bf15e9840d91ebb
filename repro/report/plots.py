"""The report's figures (matplotlib, written as PNG)."""
from __future__ import annotations

from pathlib import Path


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_curves(runs: list[dict], path: Path, references=()) -> None:
    """Train (thin) and validation (dots) loss against tokens, one colour per run; the legend
    names each run's seed and origin. Only references comparable with these runs are drawn."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, r in enumerate(runs):
        m = r["metrics"]
        color = f"C{i % 10}"
        label = f"seed {r['config']['train']['seed']}, {r['origin']}" + (
            f", {r['variant']}" if r.get("variant") else "")
        ax.plot([x["tokens"] for x in m], [x["loss"] for x in m], color=color, alpha=0.5, lw=1)
        val = [x for x in m if "val_loss" in x]
        ax.plot([x["tokens"] for x in val], [x["val_loss"] for x in val], "o-", color=color,
                ms=3, label=label[:70])
    for ref in references:
        if ref.comparable and "loss" in ref.what:
            ax.axhline(ref.value, ls="--", color="gray", lw=1)
            ax.annotate(ref.what, (0.01, ref.value), xycoords=("axes fraction", "data"),
                        fontsize=7, va="bottom", color="gray")
    ax.set_xlabel("tokens")
    ax.set_ylabel("loss (nats/token): train line, validation dots")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_probe(per_run: list[tuple], path: Path) -> str:
    """Validation accuracy of the linear probe per layer with ±1 binomial standard error, one
    line per run (label, accuracies, standard errors[, the first layer's number: 0 for the
    embeddings, 1 in older runs])."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label, acc, se, *first in per_run:
        layers = range(first[0] if first else 1, len(acc) + (first[0] if first else 1))
        ax.errorbar(list(layers), [100 * a for a in acc], yerr=[100 * e for e in se], fmt="o-",
                    capsize=3, label=label)
    ax.set_xlabel("layer")
    ax.set_ylabel("probe accuracy on validation (%)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path.name
