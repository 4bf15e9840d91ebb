"""How many pre-trained layers a fine-tuned model starts from (GPT-1 §5, Figure 2 left): the
embeddings and the first K blocks come from the pre-trained model, every other tensor is the
architecture's random init, as a model trained from scratch would start.

K = 0 transfers the embeddings only (token, position and, for iGPT, the start vector); K = L
the whole model. A final norm (pre-LN models; GPT-1 has none) sits on top of the last block,
so it is transferred only with it, at K = L; so is an untied LM head (iGPT's).
"""
from __future__ import annotations

import torch

from ..errors import ReproError
from ..model import GPT, build_model


def check_transfer_layers(k: int, n_layer: int) -> None:
    if not 0 <= k <= n_layer:
        raise ReproError(f"--transfer-layers {k}: the model has {n_layer} blocks; choose 0 "
                         f"(embeddings only) to {n_layer} (the whole model)")


def is_transferred(name: str, k: int, n_layer: int, tied: bool = True) -> bool:
    """Whether the state-dict entry `name` comes from the pre-trained model."""
    parts = name.split(".")
    if parts[:2] == ["transformer", "h"]:
        return int(parts[2]) < k
    if parts[:2] == ["transformer", "ln_f"] or (parts[0] == "lm_head" and not tied):
        return k == n_layer    # on top of the last block: they read its output
    return True   # embeddings (wte, wpe, sos) and a head tied to wte


def transfer_layers(pretrained: GPT, k: int, seed: int) -> GPT:
    """A model with pretrained's embeddings and first k blocks, the rest a fresh init drawn
    after torch.manual_seed(seed) (the init `--init random` gives with the same seed)."""
    cfg = pretrained.config
    check_transfer_layers(k, cfg.n_layer)
    if k == cfg.n_layer:
        return pretrained
    torch.manual_seed(seed)
    model = build_model(cfg)
    fresh, source = model.state_dict(), pretrained.state_dict()
    keep = lambda name: is_transferred(name, k, cfg.n_layer, cfg.tie_embeddings)  # noqa: E731
    state = {name: source[name] if keep(name) else fresh[name] for name in fresh}
    model.load_state_dict(state, strict=True)
    return model.train(pretrained.training)
