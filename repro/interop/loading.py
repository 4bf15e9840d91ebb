"""Loading a Hugging Face checkpoint (an object, a local folder or a hub id) as the
transformers class of its model_type, refused in one line when it cannot be found, its weights
file is missing or damaged, or its config.json disagrees with its weights."""
from __future__ import annotations

import torch

from ..errors import ReproError, check
from .convert import BUFFERS, BY_TYPE, _tf, quiet


def _hub_reachable() -> bool:
    """Fail fast offline: huggingface_hub would retry an unresolvable host for ~30 s."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants
    if constants.HF_HUB_OFFLINE:
        return False
    try:
        socket.getaddrinfo(urlparse(constants.ENDPOINT).hostname, 443)
        return True
    except OSError:
        return False


def load_hf(source, dtype=torch.float32):
    """A transformers model object, a local folder, or a hub id (cached, or online) -> the LM
    class of its model_type (ImageGPT is not an AutoModelForCausalLM)."""
    from pathlib import Path

    from transformers import AutoConfig, PreTrainedModel
    if isinstance(source, PreTrainedModel):
        return source
    source, local = str(source), Path(str(source)).is_dir()
    try:
        hf_cfg = AutoConfig.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as e:
        if local or not _hub_reachable():
            where = ("a local folder without a usable config.json" if local else
                     "not a local folder, not in the Hugging Face cache, and the Hub is unreachable "
                     "(offline?); pass a local folder")
            raise ReproError(f"{source}: {where} ({str(e).splitlines()[0][:120]})") from None
        try:
            hf_cfg = AutoConfig.from_pretrained(source)
        except (OSError, ValueError) as e:
            raise ReproError(f"{source}: not found on the Hugging Face Hub "
                             f"({str(e).splitlines()[0][:120]})") from None
    check(hf_cfg.model_type in BY_TYPE, f"{source}: model_type {hf_cfg.model_type!r} is not one "
                                        f"of {', '.join(BY_TYPE)}")
    return _weights(source, BY_TYPE[hf_cfg.model_type].cls, dtype)


def _weights(source: str, cls: str, dtype):
    """The model, or one line when its weights file is missing or cut short, or disagrees with
    config.json (transformers would fill the missing layers with random numbers and go on)."""
    try:
        with quiet():
            hf, info = _tf(cls).from_pretrained(source, dtype=dtype, output_loading_info=True)
    except Exception as e:   # noqa: BLE001 - OSError, SafetensorError, size mismatches, ...
        raise ReproError(f"{source}: its weights cannot be loaded "
                         f"({(str(e).splitlines() or [type(e).__name__])[0][:120]})") from None
    wrong = {what: [k for k in info.get(what, ()) if not str(k).endswith(BUFFERS)]
             for what in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    wrong = {what.split("_")[0]: keys for what, keys in wrong.items() if keys}
    if wrong:
        raise ReproError(f"{source}: config.json disagrees with the weights (" + "; ".join(
            f"{len(keys)} {what}, e.g. {keys[0]}" for what, keys in wrong.items()) + ")")
    return hf
