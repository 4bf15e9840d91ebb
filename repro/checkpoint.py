"""Crash-safe checkpoints with everything exact resume needs.

A checkpoint is written to a temp file, fsynced, renamed into place, and only then gets its
`.sha256` sidecar (also atomic). A checkpoint without a matching sidecar is incomplete or
corrupt: resume skips it, says so, and falls back to the previous one. The newest
`keep` complete checkpoints are kept, so the last good one survives a crash mid-write.
"""
from __future__ import annotations

import errno
import hashlib
import random
import re
import sys
from pathlib import Path

import numpy as np
import torch

from .errors import ReproError
from .rundir import CHECKPOINT_PATTERN as PATTERN
from .atomic import atomic_write, atomic_write_bytes
from .rundir import RunDir


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def rng_state() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _no_space(e: BaseException) -> bool:
    """Whether e (or what it wraps: torch.save raises RuntimeError around the OSError) is a full
    disk or quota."""
    while e is not None:
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        e = e.__cause__ or e.__context__
    return False


def save(ckpt_dir: Path, step: int, state: dict, keep: int = 2) -> Path:
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    path = ckpt_dir / RunDir.checkpoint_name(step)
    try:
        atomic_write(path, lambda f: torch.save(state, f))
        atomic_write_bytes(path.with_suffix(".sha256"), _sha256(path).encode())
    except (OSError, RuntimeError) as e:
        if not _no_space(e):
            raise
        path.unlink(missing_ok=True)
        kept = newest_verified(ckpt_dir)
        raise ReproError(f"no space left on device while saving {path.stem}; " + (
            f"the previous checkpoint {kept.stem} is kept" if kept else
            "no earlier checkpoint exists") + "; free some space and resume") from None
    for old in sorted(ckpt_dir.glob(PATTERN))[:-max(keep, 1)]:
        old.unlink(missing_ok=True)
        old.with_suffix(".sha256").unlink(missing_ok=True)
    return path


def verified(path: Path) -> bool:
    sidecar = path.with_suffix(".sha256")
    return sidecar.exists() and sidecar.read_text().strip() == _sha256(path)


def newest_verified(ckpt_dir: Path) -> Path | None:
    """The newest checkpoint whose checksum matches, without loading it."""
    return next((p for p in sorted(ckpt_dir.glob(PATTERN), reverse=True) if verified(p)), None)


def load_latest(ckpt_dir: Path, log=print) -> tuple[dict, Path]:
    """The newest checkpoint that verifies and loads; older ones are fallbacks."""
    candidates = sorted(ckpt_dir.glob(PATTERN), reverse=True)
    if not candidates:
        raise ReproError(f"no checkpoint in {ckpt_dir}")
    for i, path in enumerate(candidates):
        why = "" if verified(path) else "incomplete or corrupt (checksum mismatch)"
        if not why:
            try:
                return _read(path), path
            except ReproError as e:
                why = str(e)
        if i + 1 < len(candidates):
            log(f"checkpoint {path.name} is {why}; falling back to the previous one")
        elif i == 0:
            raise ReproError(f"{path}: the only checkpoint is {why}")
    raise ReproError(f"every checkpoint in {ckpt_dir} is damaged (the oldest, "
                     f"{candidates[-1].name}, is {why})")


def _read(path: Path) -> dict:
    """torch.load, or ReproError for a file damaged before its sidecar was written (a copy cut
    short and then sealed): its checksum matches, its contents do not load."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:   # noqa: BLE001 - PytorchStreamReader, EOFError, unpickling, ...
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise ReproError(f"unreadable though its checksum matches ({first[:80]})") from None


def verified_steps(ckpt_dir: Path) -> list[int]:
    """The steps of the complete (checksum-verified) checkpoints, oldest first."""
    return [RunDir.checkpoint_step(p) for p in sorted(ckpt_dir.glob(PATTERN)) if verified(p)]


def load_step(ckpt_dir: Path, step: int) -> tuple[dict, Path]:
    """The checkpoint of one step, or ReproError naming the steps there are."""
    path = ckpt_dir / RunDir.checkpoint_name(step)
    if not (path.is_file() and verified(path)):
        have = ", ".join(map(str, verified_steps(ckpt_dir))) or "none"
        raise ReproError(f"--checkpoint {step}: no complete checkpoint of step {step} in "
                         f"{ckpt_dir} (steps there: {have})")
    try:
        return _read(path), path
    except ReproError as e:
        raise ReproError(f"{path}: {e}") from None


def load_model(run_dir, log=lambda m: print(f"repro: {m}", file=sys.stderr),
               step: int | None = None):
    """(our GPT with the weights of the run's newest verified checkpoint, or of `step`, in
    eval mode, its Config, the checkpoint path). For export, evaluation and fine-tuning."""
    from .config import Config
    from .model import build_model
    run = RunDir(run_dir).require_run("")
    saved = run.load().pretraining("", "it keeps its dev scores, not a checkpoint; use the "
                                       "pre-training run it started from")
    if not run.has_checkpoint():
        raise ReproError(f"{run}: no checkpoint (one is written every train.checkpoint_seconds, "
                         f"at train.checkpoint_interval and at the end of a run)")
    state, path = (load_latest(run.checkpoints, log=log) if step is None
                   else load_step(run.checkpoints, step))
    if not isinstance(state, dict) or "model" not in state:
        raise ReproError(f"{path}: checkpoint has no 'model' state")
    # The checkpoint's own config describes its weights; config.json is the fallback.
    try:
        cfg = Config.from_dict(state["config"]) if state.get("config") else saved
    except ReproError as e:
        raise ReproError(f"{path}: {e}") from None
    # Built on the meta device around the loaded tensors: a random init of every weight first
    # costs about a second at 124M on a CPU, for nothing.
    model = build_model(cfg.model, "meta")
    # torch.compile / DDP wrappers prefix the keys in files not written by our trainer
    sd = {re.sub(r"^(_orig_mod\.|module\.)+", "", k): v for k, v in state["model"].items()}
    try:
        model.load_state_dict(sd, strict=True, assign=True)
    except RuntimeError as e:
        raise ReproError(f"{path}: weights do not fit the run's config "
                         f"({str(e).splitlines()[0][:160]})") from None
    model.tie_weights()   # assign gives each name its own Parameter
    return model.eval(), cfg, path
