"""Where a run came from: the commit of the code and the environment it ran in (env.json)."""
from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("torch", "accelerate", "transformers", "datasets", "tiktoken", "numpy", "repro")


def git_commit() -> str:
    """The commit the code runs at: $REPRO_COMMIT where the caller knows it (a tree copied to a
    GPU machine, whose .git, if any, is not this tree's), else git, else a hash of the
    package's source files ("source-...")."""
    if os.environ.get("REPRO_COMMIT"):
        return os.environ["REPRO_COMMIT"]
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                             capture_output=True, text=True, timeout=5)
        if out.returncode == 0 and out.stdout.strip():
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no",
                                    "repro", "papers"], cwd=root, capture_output=True,
                                   text=True, timeout=5).stdout.strip()
            return out.stdout.strip() + ("+changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    h = hashlib.sha256()
    for p in sorted(root.glob("repro/**/*.py")) + sorted(root.glob("papers/*.py")):
        h.update(p.read_bytes())
    return "source-" + h.hexdigest()[:10]


def environment(device: str, seed: int, world_size: int) -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return {"device": device, "world_size": world_size, "seed": seed, "git_commit": git_commit(),
            "python": platform.python_version(), "platform": platform.platform(),
            "versions": versions, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
