"""A local Hugging Face GPT-2 / OpenAI-GPT folder (config.json + model.safetensors, as
save_pretrained and `repro export` write it) read without transformers: its import and its
model's construction cost seconds (about 10 on an H200 host), more than evaluating LAMBADA
with a 124M model. The weights go straight from the file to the target device. Anything else
(a hub id, sharded or .bin weights, a config without a field we read, ImageGPT) gives None,
and the caller takes transformers' path (repro.interop.convert.from_hf).
"""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from ..errors import ReproError
from .convert import BY_TYPE, from_state
from .loading import unloadable

# config.json fields config_from_hf reads without a default, besides the family's activation
FIELDS = ("vocab_size", "n_positions", "n_layer", "n_head", "n_embd", "layer_norm_epsilon",
          "embd_pdrop", "attn_pdrop", "resid_pdrop")
TEXT_FAMILIES = [kind for kind, fam in BY_TYPE.items() if not fam.sos_row]   # not ImageGPT


def read_folder(source, device: str = "cpu"):
    """Our GPT (eval mode, fp32, on `device`) from a plain local folder, or None (see above)."""
    path = Path(str(source))
    config = path / "config.json"
    weights = path / "model.safetensors"
    if not (config.is_file() and weights.is_file()):
        return None
    try:
        fields = json.loads(config.read_text())
    except ValueError:
        return None          # transformers' path says what is wrong with it
    kind = fields.get("model_type") if isinstance(fields, dict) else None
    if kind not in TEXT_FAMILIES or any(k not in fields for k in
                                        FIELDS + (BY_TYPE[kind].act_key,)):
        return None
    from safetensors.torch import load_file
    try:
        tensors = load_file(weights, device=str(device))
    except Exception as e:   # noqa: BLE001 - SafetensorError: a file cut short or not one
        raise unloadable(source, e) from None
    state = {}
    for k, v in tensors.items():
        # a folder saved from the base model (the released gpt2's) has no "transformer." prefix
        k = k if k.startswith(("transformer.", "lm_head.")) else "transformer." + k
        state[k] = v.float() if v.is_floating_point() else v   # as load_hf: fp32
    try:
        return from_state(SimpleNamespace(**fields), state)
    except ReproError as e:   # as transformers' path says it (repro.interop.loading)
        raise ReproError(f"{source}: config.json disagrees with the weights ({e})") from None
