"""What transformers' from_pretrained leaves unsaid, said in one line: a hub that cannot be
reached (fail fast offline), a weights file that is missing or cut short, and a config.json that
disagrees with the weights (transformers fills the missing layers with random numbers, warns
and goes on)."""
from __future__ import annotations

from ..errors import ReproError


def hub_reachable() -> bool:
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


def unloadable(source, e: Exception) -> ReproError:
    """The one line for a weights file that is missing, cut short or not one."""
    first = (str(e).splitlines() or [type(e).__name__])[0]
    return ReproError(f"{source}: its weights cannot be loaded ({first[:120]})")


def from_pretrained_checked(model_class, source: str, dtype, ignored: tuple = ()):
    """model_class.from_pretrained(source), or ReproError naming what is wrong with the files;
    keys ending in one of `ignored` (buffers a class may or may not save) are not counted."""
    try:
        hf, info = model_class.from_pretrained(source, dtype=dtype, output_loading_info=True)
    except Exception as e:   # noqa: BLE001 - OSError, SafetensorError, size mismatches, ...
        raise unloadable(source, e) from None
    wrong = {what.split("_")[0]: [k for k in info.get(what, ()) if not str(k).endswith(ignored)]
             for what in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    wrong = {what: keys for what, keys in wrong.items() if keys}
    if wrong:
        raise ReproError(f"{source}: config.json disagrees with the weights (" + "; ".join(
            f"{len(keys)} {what}, e.g. {keys[0]}" for what, keys in wrong.items()) + ")")
    return hf
