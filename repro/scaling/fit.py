"""Fits of a ladder (the report writes METHOD out beside the numbers).

L(N): two forms are fitted to every run's final validation loss (seeds as separate points)
with scipy.optimize.curve_fit: Kaplan's pure power law L = (N_c/N)^alpha_N (a straight line
in log-log space), and L = E + (N_c/N)^alpha_N with an irreducible loss E >= 0. The
irreducible form is kept only if the data need it: its small-sample AIC (AICc) must be lower
by more than 2. alpha_N's 95% interval: percentile bootstrap over runs (2,000 resamples with
replacement, the chosen form refitted each time; a resample with fewer than 3 distinct sizes
is drawn again). R^2 = 1 - SS_res/SS_tot of L itself.

L(C): C = 6 N D (non-embedding N, D tokens seen so far) in PF-days (8.64e19 FLOPs), as GPT-3
Figure 3.1. Every validation point of every run after the first FRONTIER_SKIP of its tokens
(the warm-up's steep start), the lower envelope of them all (the points no cheaper point
beats), and L = a C^-alpha_C fitted to the envelope in log-log space.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.stats import spearmanr

PF_DAY = 1e15 * 86400
FRONTIER_SKIP = 0.1
BOOT = 2000


def _pure(n, log_nc, alpha):
    return np.exp(alpha * (log_nc - np.log(n)))


def _with_floor(n, e, log_nc, alpha):
    return e + _pure(n, log_nc, alpha)


def _fit(form: str, n: np.ndarray, loss: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():   # a flat bootstrap resample: no covariance, no matter
        warnings.simplefilter("ignore", OptimizeWarning)
        return _fit_quietly(form, n, loss)


def _fit_quietly(form: str, n: np.ndarray, loss: np.ndarray) -> np.ndarray:
    slope, icpt = np.polyfit(np.log(n), np.log(loss), 1)   # the start: the log-log line
    start = [icpt / -slope, -slope]
    if form == "pure":
        return curve_fit(_pure, n, loss, p0=start, maxfev=20000)[0]
    bounds = ([0.0, -np.inf, 1e-4], [float(loss.min()), np.inf, 5.0])
    p0 = [0.5 * loss.min(), start[0], max(start[1], 1e-3)]
    return curve_fit(_with_floor, n, loss, p0=p0, bounds=bounds, maxfev=20000)[0]


def _predict(form: str, params, n):
    return _pure(n, *params) if form == "pure" else _with_floor(n, *params)


def _aicc(resid: np.ndarray, k: int) -> float:
    m = len(resid)
    rss = max(float(resid @ resid), 1e-300)
    return m * np.log(rss / m) + 2 * k + (2 * k * (k + 1) / (m - k - 1) if m > k + 1 else np.inf)


def r_squared(y: np.ndarray, pred: np.ndarray) -> float:
    return float(1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))


def fit_loss_vs_size(n_params, losses, seed: int = 0, boot: int = BOOT) -> dict:
    n, loss = np.asarray(n_params, float), np.asarray(losses, float)
    fits = {"pure": _fit("pure", n, loss)}
    try:
        fits["floor"] = _fit("floor", n, loss)
    except (RuntimeError, ValueError):       # no convergence: the pure form stands
        pass
    aicc = {f: _aicc(loss - _predict(f, p, n), len(p)) for f, p in fits.items()}
    form = "floor" if "floor" in aicc and aicc["floor"] < aicc["pure"] - 2 else "pure"
    params = fits[form]
    alpha = float(params[-1])
    lo, hi = bootstrap_alpha(form, n, loss, seed, boot)
    out = {"form": "E + (N_c/N)^alpha_N" if form == "floor" else "(N_c/N)^alpha_N",
           "irreducible": form == "floor", "alpha_N": alpha, "alpha_N_ci95": [lo, hi],
           "log_N_c": float(params[-2]), "N_c": _finite(np.exp(min(params[-2], 700))),
           "E": float(params[0]) if form == "floor" else 0.0,
           "r2": r_squared(loss, _predict(form, params, n)), "points": len(n),
           "aicc": {("E + power law" if f == "floor" else "power law"): float(v)
                    for f, v in aicc.items()}}
    if "floor" in fits and form == "pure":
        out["alpha_N_if_irreducible"] = float(fits["floor"][-1])
    return out


def _finite(x) -> float | None:
    return float(x) if np.isfinite(x) else None


def bootstrap_alpha(form: str, n: np.ndarray, loss: np.ndarray, seed: int, boot: int) -> tuple:
    rng = np.random.default_rng(seed)
    alphas = []
    for _ in range(boot):
        pick = rng.integers(0, len(n), len(n))
        if len(set(n[pick])) < 3:
            continue
        try:
            alphas.append(_fit(form, n[pick], loss[pick])[-1])
        except (RuntimeError, ValueError):
            continue
    if len(alphas) < boot // 2:
        return float("nan"), float("nan")
    return float(np.percentile(alphas, 2.5)), float(np.percentile(alphas, 97.5))


def frontier(curves: list[tuple[int, int, list]]) -> dict:
    """curves: (N non-embedding, tokens of the run, [(tokens, val_loss), ...]) per run."""
    points = sorted((6 * n * t / PF_DAY, loss) for n, total, curve in curves
                    for t, loss in curve if t >= FRONTIER_SKIP * total and t > 0)
    envelope, best = [], np.inf
    for c, loss in points:
        if loss < best:
            envelope.append((c, loss))
            best = loss
    if len(envelope) < 3:
        return {"points": len(envelope)}
    c, loss = np.array(envelope).T
    slope, icpt = np.polyfit(np.log(c), np.log(loss), 1)
    pred = np.exp(icpt + slope * np.log(c))
    return {"alpha_C": float(-slope), "coefficient": float(np.exp(icpt)), "unit": "PF-days",
            "r2": r_squared(loss, pred), "points": len(envelope),
            "envelope": [[float(a), float(b)] for a, b in envelope]}


def rank_trends(sizes: list[dict]) -> dict:
    """Spearman's rho of each zero-shot (task, metric) with N over the sizes that have it."""
    out = {}
    keys = dict.fromkeys((t, m) for s in sizes for t, ms in s["zero_shot"].items() for m in ms)
    for task, metric in keys:
        have = [(s["n_params_non_embedding"], s["zero_shot"][task][metric]) for s in sizes
                if metric in s["zero_shot"].get(task, {})]
        if len(have) < 3 or len({b for _, b in have}) < 2:   # constant: rho undefined
            continue
        rho, p = spearmanr([a for a, _ in have], [b for _, b in have])
        out[f"{task}/{metric}"] = {"rho": float(rho), "p": float(p), "sizes": len(have)}
    return out
