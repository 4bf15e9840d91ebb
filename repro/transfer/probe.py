"""Linear probes (iGPT §2.3-2.4, §3.4): multinomial logistic regression on frozen features.

Features as the paper defines them: f_l = the average over positions of LayerNorm(h_l), h_l the
output of block l (the last block's through the model's final norm, ln_f). The paper fits
logistic regression with L-BFGS (for CIFAR). Here: features standardised with the *train*
mean/std (so one L2 strength suits every layer, whatever its scale), a small L2 penalty on the
weights (not the bias), zero init and full-batch torch.optim.LBFGS with a strong-Wolfe line
search, in float64 - no randomness anywhere, so a probe is deterministic.

`probe_run` is the protocol: a probe per layer trained on the train features and scored on the
validation split (held out from the training images), the best layer chosen there, and the
test set scored once, at that layer.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import check

PROBE_TRAIN = 5000   # training images whose features train each layer's probe


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
          f"linear_probe: features must be (N, D) with the same D, got {tuple(xtr.shape)} and {tuple(xte.shape)}")
    check(len(xtr) == len(ytr) and len(xte) == len(yte), "linear_probe: features and labels differ in length")
    check(len(xtr) > 1 and len(xte) > 0, "linear_probe: need at least 2 train and 1 test examples")
    check(int(ytr.min()) >= 0 and int(yte.min()) >= 0, "linear_probe: labels must be non-negative")
    c = num_classes or int(max(ytr.max(), yte.max())) + 1
    mean, std = xtr.mean(0), xtr.std(0)
    std = torch.where(std > 1e-8, std, torch.ones_like(std))  # constant features: leave them at 0
    xtr, xte = (xtr - mean) / std, (xte - mean) / std

    w = torch.zeros(xtr.shape[1], c, dtype=dt, device=device, requires_grad=True)
    b = torch.zeros(c, dtype=dt, device=device, requires_grad=True)
    # tolerances: tighter ones only add iterations on (nearly) separable data, with no accuracy change
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, history_size=20,
                            tolerance_grad=1e-5, tolerance_change=1e-7, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(xtr @ w + b, ytr) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss
    opt.step(closure)
    with torch.no_grad():
        return float(((xte @ w + b).argmax(1) == yte).double().mean())


def probe_layers(feats_per_layer, train_y, test_y, **kwargs) -> list[float]:
    """linear_probe for each (train_feats, test_feats) pair, e.g. one per layer; kwargs go to linear_probe."""
    return [linear_probe(tr, train_y, te, test_y, **kwargs) for tr, te in feats_per_layer]


@torch.no_grad()
def layer_features(model, inputs, tokens: torch.Tensor, device, batch: int = 64) -> list[torch.Tensor]:
    """Per block l, the (N, d) average over positions of LayerNorm(h_l); the last block's
    through ln_f. inputs(tokens) gives the model's input ids for a batch of token rows."""
    out = None
    for i in range(0, len(tokens), batch):
        final, layers = model.hidden_states(inputs(tokens[i:i + batch].to(device)), return_all=True)
        normed = [F.layer_norm(h.float(), h.shape[-1:]) for h in layers[:-1]] + [final.float()]
        pooled = [h.mean(dim=1).cpu() for h in normed]
        out = pooled if out is None else [torch.cat([a, b]) for a, b in zip(out, pooled)]
    return out


def binomial_se(p: float, n: int) -> float:
    """Standard error of an accuracy p measured on n examples."""
    return (p * (1 - p) / n) ** 0.5 if n else float("nan")


def probe_run(model, inputs, device, train, val, test) -> dict:
    """The paper's protocol on (tokens, labels) splits; see the module docstring."""
    k = min(PROBE_TRAIN, len(train[0]))
    f_train = layer_features(model, inputs, train[0][:k], device)
    f_val = layer_features(model, inputs, val[0], device)
    val_acc = probe_layers(list(zip(f_train, f_val)), train[1][:k], val[1])
    best = int(np.argmax(val_acc))
    f_test = layer_features(model, inputs, test[0], device)[best]
    test_acc = linear_probe(f_train[best], train[1][:k], f_test, test[1])
    n_val, n_test = len(val[1]), len(test[1])
    return {"probe_val_accuracy_per_layer": val_acc,
            "probe_val_se_per_layer": [binomial_se(a, n_val) for a in val_acc],
            "probe_best_layer": best + 1, "probe_test_accuracy": test_acc,
            "probe_test_se": binomial_se(test_acc, n_test), "probe_train_images": k,
            "probe_val_images": n_val, "probe_test_images": n_test,
            "features": "mean over positions of LayerNorm(h_l); last layer through ln_f"}
