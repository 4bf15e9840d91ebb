"""The scaling report's figure: (a) every run's validation loss against its compute with the
fitted frontier over them, drawn as GPT-3 Figure 3.1; (b) final validation loss against
non-embedding parameters with the L(N) fit."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..scaling.fit import PF_DAY
from .plots import _plt


def plot_scaling(runs: list[dict], fit: dict, frontier: dict, path: Path) -> None:
    plt = _plt()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.5))
    names = list(dict.fromkeys(r["name"] for r in runs))
    cmap = plt.get_cmap("viridis")
    for r in runs:
        color = cmap(names.index(r["name"]) / max(1, len(names) - 1))
        pts = [(6 * r["n_params_non_embedding"] * t / PF_DAY, v) for t, v in r["val_curve"] if t]
        if pts:
            c, v = np.array(pts).T
            ax.plot(c, v, color=color, lw=1, alpha=0.8,
                    label=r["name"] if r["seed"] == 0 else None)
        bx.plot(r["n_params_non_embedding"], r["val_loss"], "o", color=color, ms=4)
    if "alpha_C" in frontier:
        c = np.array([e[0] for e in frontier["envelope"]])
        ax.plot(c, frontier["coefficient"] * c ** -frontier["alpha_C"], "k--", lw=1.5,
                label=f"L = {frontier['coefficient']:.2f} C^-{frontier['alpha_C']:.3f}")
    ax.set(xscale="log", xlabel="compute C = 6 N D (PF-days)", ylabel="validation loss (nats)",
           title="validation loss vs compute (as GPT-3 Fig. 3.1)")
    n = np.geomspace(min(r["n_params_non_embedding"] for r in runs),
                     max(r["n_params_non_embedding"] for r in runs), 50)
    bx.plot(n, fit["E"] + np.exp(fit["alpha_N"] * (fit["log_N_c"] - np.log(n))), "k--", lw=1.5,
            label=f"{fit['form']}, alpha_N = {fit['alpha_N']:.3f}, R^2 = {fit['r2']:.3f}")
    bx.set(xscale="log", xlabel="non-embedding parameters N = 12 n_layer d^2",
           ylabel="final validation loss, whole split (nats)", title="L(N)")
    for a in (ax, bx):
        a.grid(alpha=0.3, which="both")
        a.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
