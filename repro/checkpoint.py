"""Crash-safe checkpoints with everything exact resume needs.

A checkpoint is written to a temp file, fsynced, renamed into place, and only then gets its
`.sha256` sidecar (also atomic). A checkpoint without a matching sidecar is incomplete or
corrupt: resume skips it, says so, and falls back to the previous one. The newest
`keep` complete checkpoints are kept, so the last good one survives a crash mid-write.
"""
from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import numpy as np
import torch

from .errors import ReproError

PATTERN = "ckpt-*.pt"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write(path: Path, write) -> None:
    """write(file) into a temp file, fsync, rename over `path`, fsync the folder: after a crash
    `path` is either the old file or the whole new one, and the rename itself is on disk."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


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


def save(ckpt_dir: Path, step: int, state: dict, keep: int = 2) -> Path:
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    path = ckpt_dir / f"ckpt-{step:08d}.pt"
    atomic_write(path, lambda f: torch.save(state, f))
    atomic_write_bytes(path.with_suffix(".sha256"), _sha256(path).encode())
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
    """The newest checkpoint whose checksum matches; older ones are fallbacks."""
    candidates = sorted(ckpt_dir.glob(PATTERN), reverse=True)
    if not candidates:
        raise ReproError(f"no checkpoint in {ckpt_dir}; nothing to resume")
    for path in candidates:
        if verified(path):
            return torch.load(path, map_location="cpu", weights_only=False), path
        log(f"checkpoint {path.name} is incomplete or corrupt (checksum mismatch); "
            f"falling back to the previous one")
    raise ReproError(f"every checkpoint in {ckpt_dir} is corrupt; cannot resume")
