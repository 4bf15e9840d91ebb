"""Linear probes (iGPT §2.3-2.4, §3.1, §3.4): multinomial logistic regression on frozen features.

Features as the paper defines them: n^l = layer_norm(h^l), average-pooled over positions, for
every depth 0 <= l <= L (h^0: the embeddings; h^l: the output of block l). The layer norm is the
network's own: the norm it applies to h^l itself, which is ln_1 of block l + 1 (the released
code records exactly these inputs, as results['debug']['ln_1'] in openai/image-gpt
src/model.py), and ln_f for h^L. For iGPT that norm is mean-free with a gain (papers/FACTS.md
§4.3); a pre-norm model is required (a post-norm block's output is already normalised).

The fit: features standardised with the fitting set's mean/std (so one L2 grid suits every
layer, whatever its scale), an L2 penalty on the weights (not the bias), zero init and
full-batch torch.optim.LBFGS with a strong-Wolfe line search (the paper's L-BFGS for CIFAR),
in float64 - no randomness anywhere, so a probe is deterministic.

`probe_run` is the protocol (§3.1): each layer and each L2 strength of L2_GRID fitted on every
training image (those not held out for validation) and scored on the validation split; the
layer and the L2 strength chosen there; the validation images folded back in for the final fit
at that choice; the test set scored once. The per-layer curve (each layer at its best L2) comes
with binomial standard errors, and "peaks in the middle" is claimed only when the best layer is
neither the first nor the last and beats the last by more than twice their combined standard
error.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import check

L2_GRID = (1e-3, 1e-2, 1e-1)   # penalty strengths tried per layer, chosen on validation
FEATURES = ("mean over positions of the network's own norm of h^l, 0 <= l <= L: ln_1 of block "
            "l+1 (l < L), ln_f (l = L); h^0 = the embeddings")


def _as_tensor(a, dtype, device) -> torch.Tensor:
    t = a.detach() if torch.is_tensor(a) else torch.from_numpy(np.asarray(a))
    return t.to(device=device, dtype=dtype)


def linear_probe(train_feats, train_y, test_feats, test_y, l2: float = 1e-2, max_iter: int = 200,
                 num_classes: int | None = None, device=None) -> float:
    """Test accuracy (0..1) of logistic regression fit on (train_feats (N,D), train_y (N,)).

    l2: penalty l2/2 * ||W||^2 added to the mean cross-entropy (on standardised features).
    max_iter: L-BFGS iterations (the line search may evaluate the loss a few more times).
    device: where to fit; default = the device of train_feats if it is a tensor, else CPU."""
    if device is None:
        device = train_feats.device if torch.is_tensor(train_feats) else "cpu"
    dt = torch.float64
    xtr, xte = _as_tensor(train_feats, dt, device), _as_tensor(test_feats, dt, device)
    ytr, yte = _as_tensor(train_y, torch.long, device), _as_tensor(test_y, torch.long, device)
    check(xtr.ndim == 2 and xte.ndim == 2 and xtr.shape[1] == xte.shape[1],
          f"linear_probe: features must be (N, D) with the same D, got {tuple(xtr.shape)} and "
          f"{tuple(xte.shape)}")
    check(len(xtr) == len(ytr) and len(xte) == len(yte),
          "linear_probe: features and labels differ in length")
    check(len(xtr) > 1 and len(xte) > 0, "linear_probe: need at least 2 train and 1 test examples")
    check(int(ytr.min()) >= 0 and int(yte.min()) >= 0, "linear_probe: labels must be non-negative")
    c = num_classes or int(max(ytr.max(), yte.max())) + 1
    mean, std = xtr.mean(0), xtr.std(0)
    std = torch.where(std > 1e-8, std, torch.ones_like(std))  # constant features: leave them at 0
    xtr, xte = (xtr - mean) / std, (xte - mean) / std

    w = torch.zeros(xtr.shape[1], c, dtype=dt, device=device, requires_grad=True)
    b = torch.zeros(c, dtype=dt, device=device, requires_grad=True)
    # tolerances: tighter ones only add iterations on (nearly) separable data, no accuracy change
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, history_size=20,
                            tolerance_grad=1e-5, tolerance_change=1e-7,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(xtr @ w + b, ytr) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss
    opt.step(closure)
    with torch.no_grad():
        return float(((xte @ w + b).argmax(1) == yte).double().mean())


def probe_layers(feats_per_layer, train_y, test_y, **kwargs) -> list[float]:
    """linear_probe for each (train_feats, test_feats) pair, e.g. one per layer; kwargs go to
    linear_probe."""
    return [linear_probe(tr, train_y, te, test_y, **kwargs) for tr, te in feats_per_layer]


def feature_norms(model) -> list:
    """The norm the network applies to h^l, for l = 0..L (see the module docstring)."""
    check(model.config.norm_position == "pre",
          "the linear probe reads a pre-norm model (the norm of h^l is the next block's ln_1)")
    blocks = model.transformer.h
    return [block.ln_1 for block in blocks] + [model.transformer.ln_f]


@torch.no_grad()
def layer_features(model, inputs, tokens: torch.Tensor, device,
                   batch: int = 64) -> list[torch.Tensor]:
    """Per depth l = 0..L, the (N, d) average over positions of n^l = norm_l(h^l).
    inputs(tokens) gives the model's input ids for a batch of token rows."""
    norms, out = feature_norms(model), None
    for i in range(0, len(tokens), batch):
        _, layers = model.hidden_states(inputs(tokens[i:i + batch].to(device)), return_all=True)
        pooled = [norm(h).float().mean(dim=1).cpu() for norm, h in zip(norms, layers)]
        out = pooled if out is None else [torch.cat([a, b]) for a, b in zip(out, pooled)]
    return out


def binomial_se(p: float, n: int) -> float:
    """Standard error of an accuracy p measured on n examples."""
    return (p * (1 - p) / n) ** 0.5 if n else float("nan")


def peak(val_acc: list[float], val_se: list[float]) -> dict:
    """Does the curve peak in the middle? Only if the best layer is neither 0 nor L and beats
    the last layer by more than twice their combined standard error."""
    best, last = int(np.argmax(val_acc)), len(val_acc) - 1
    gap, se = val_acc[best] - val_acc[last], (val_se[best] ** 2 + val_se[last] ** 2) ** 0.5
    return {"best_minus_last": gap, "combined_se": se,
            "peaks_in_middle": bool(0 < best < last and gap > 2 * se)}


def probe_run(model, inputs, device, train, val, test) -> dict:
    """The paper's protocol on (tokens, labels) splits; see the module docstring."""
    f_train = layer_features(model, inputs, train[0], device)
    f_val = layer_features(model, inputs, val[0], device)
    grid = np.array([probe_layers(list(zip(f_train, f_val)), train[1], val[1], l2=l2,
                                  device=device) for l2 in L2_GRID])       # (L2, layers)
    val_acc = grid.max(0).tolist()                       # each layer at its best L2
    best = int(np.argmax(val_acc))
    l2_at = int(np.argmax(grid[:, best]))
    f_test = layer_features(model, inputs, test[0], device)[best]
    both_y = torch.cat([torch.as_tensor(train[1]), torch.as_tensor(val[1])])
    test_acc = linear_probe(torch.cat([f_train[best], f_val[best]]), both_y, f_test, test[1],
                            l2=L2_GRID[l2_at], device=device)   # fits on the GPU when there is one
    n_val, n_test = len(val[1]), len(test[1])
    val_se = [binomial_se(a, n_val) for a in val_acc]
    return {"probe_val_accuracy_per_layer": val_acc, "probe_val_se_per_layer": val_se,
            "probe_first_layer": 0, "probe_best_layer": best, "probe_l2": L2_GRID[l2_at],
            "probe_l2_grid": list(L2_GRID), "probe_test_accuracy": test_acc,
            "probe_test_se": binomial_se(test_acc, n_test), "probe_peak": peak(val_acc, val_se),
            "probe_train_images": len(train[1]), "probe_val_images": n_val,
            "probe_final_fit_images": len(both_y), "probe_test_images": n_test,
            "features": FEATURES}
