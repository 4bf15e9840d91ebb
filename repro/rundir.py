"""Run folders: naming, the lock that keeps two runs apart, env.json and metrics.jsonl."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .errors import ReproError

PACKAGES = ("torch", "accelerate", "transformers", "datasets", "tiktoken", "numpy", "repro")


def run_id(seed: int, overrides: list[str]) -> str:
    """<time>-s<seed>-<hash of overrides>: the name says how to reproduce the run."""
    digest = hashlib.sha1("\n".join(sorted(overrides)).encode()).hexdigest()[:6]
    return f"{time.strftime('%Y%m%d-%H%M%S')}-s{seed}-{digest}"


def is_run_dir(path: Path) -> bool:
    return (path / "config.json").is_file()


class RunLock:
    """An exclusive lock file; a lock left by a dead process is taken over."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / ".lock"

    def __enter__(self):
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                return self
            except FileExistsError:
                try:
                    pid = int(self.path.read_text() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and _alive(pid):
                    raise ReproError(f"{self.path.parent} is in use by another run (pid {pid}); "
                                     f"wait for it or choose another --out") from None
                self.path.unlink(missing_ok=True)
        raise ReproError(f"could not lock {self.path.parent}")

    def __exit__(self, *exc):
        self.path.unlink(missing_ok=True)

    @staticmethod
    def held(run_dir: Path) -> bool:
        """Whether a live process is training in run_dir now."""
        try:
            pid = int((run_dir / ".lock").read_text() or 0)
        except (OSError, ValueError):
            return False
        return bool(pid) and _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def git_commit() -> str:
    try:
        root = Path(__file__).resolve().parent.parent
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


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


class MetricsLog:
    """metrics.jsonl, one object per logged step, flushed at once so a crash loses nothing."""

    def __init__(self, path: Path, resume_step: int = 0):
        self.path = path
        if resume_step and path.exists():  # drop rows logged after the checkpoint we resume from
            rows = [r for r in read_jsonl(path) if r.get("step", 0) <= resume_step]
            path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        elif not resume_step:
            path.write_text("")

    def write(self, row: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    rows = []
    for line in Path(path).read_text().splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows
