"""The run folder: one type that owns every artifact name, the lock that keeps two runs apart,
and the report's evidence copy. No other module spells a file name of a run.

    runs/<group>/<run-id>/
        config.json       the full resolved config (written once, before the first step)
        env.json          device, world size, versions, git commit, seed
        metrics.jsonl     one object per logged step
        checkpoints/      ckpt-<step>.pt + .sha256 sidecars (repro.checkpoint)
        summary.json      written when the run finishes
        sample.txt / samples.png / heldout.json / probe.json / palette.npy / eval.json
        eval-<step>.json / probe-<step>.json   one checkpoint's scores (repro/step_scores.py)
        .lock             pid of the process training in it

An evidence copy (reports/runs/<group>/<run-id>/) holds the small files of a run plus
EVIDENCE.json, which says where the run was: it is read by reports, never resumed.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from .errors import ReproError

PACKAGES = ("torch", "accelerate", "transformers", "datasets", "tiktoken", "numpy", "repro")
CHECKPOINT_PATTERN = "ckpt-*.pt"


class RunDir:
    CONFIG, ENV, METRICS, SUMMARY = "config.json", "env.json", "metrics.jsonl", "summary.json"
    CHECKPOINTS, LOCK, EVIDENCE_MARK = "checkpoints", ".lock", "EVIDENCE.json"
    SAMPLE, SAMPLES, HELDOUT, PROBE, PALETTE, EVAL, DEV_PREDICTIONS = (   # the last: fine-
        "sample.txt", "samples.png", "heldout.json", "probe.json", "palette.npy", "eval.json",
        "dev_predictions.json")                 # tuning's per-example dev answers (intervals)
    EVIDENCE = (CONFIG, ENV, METRICS, SUMMARY, HELDOUT, PROBE, SAMPLE, SAMPLES, EVAL,
                DEV_PREDICTIONS)  # a copy
    EVIDENCE_GLOBS = ("eval-*.json", "probe-*.json")   # per checkpoint, small: copied too

    def __init__(self, path):
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __str__(self) -> str:
        return str(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def checkpoints(self) -> Path:
        return self.path / self.CHECKPOINTS

    # ---- what kind of folder ------------------------------------------------------------
    def has_config(self) -> bool:
        return (self.path / self.CONFIG).is_file()

    def is_evidence(self) -> bool:
        return (self.path / self.EVIDENCE_MARK).is_file()

    def is_run(self) -> bool:
        return self.has_config() and not self.is_evidence()

    def is_finished(self) -> bool:
        return (self.path / self.SUMMARY).is_file()

    def has_checkpoint(self) -> bool:
        return any(self.checkpoints.glob(CHECKPOINT_PATTERN))

    def started(self) -> bool:
        """Whether training got as far as a logged step or a checkpoint."""
        metrics = self.path / self.METRICS
        return (metrics.is_file() and metrics.stat().st_size > 0) or self.has_checkpoint()

    def require_run(self, what: str) -> "RunDir":
        """self, or ReproError "<what> DIR: ..." for an evidence copy or a folder that is not
        a run (what: how the user named it, e.g. "--resume")."""
        where = f"{what} {self}" if what else str(self)
        if self.is_evidence():
            raise ReproError(f"{where}: this is a report's evidence copy, not a run; the run "
                             f"is at {self.evidence_origin()}")
        if not self.has_config():
            raise ReproError(f"{where}: not a run folder (no {self.CONFIG})")
        return self

    def evidence_origin(self) -> str:
        try:
            return json.loads((self.path / self.EVIDENCE_MARK).read_text()).get("run", "unknown")
        except (OSError, ValueError):
            return "unknown"

    # ---- reading and writing ------------------------------------------------------------
    def read_json(self, name: str):
        """The parsed file, or ReproError naming it (a damaged run is one line, not a traceback)."""
        path = self.path / name
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise ReproError(f"{path}: missing") from None
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise ReproError(f"{path}: not readable JSON ({type(e).__name__}); "
                             f"the run folder is damaged") from None

    def read_optional(self, name: str):
        return self.read_json(name) if (self.path / name).is_file() else None

    def write_json(self, name: str, obj) -> Path:
        """Atomically: a crash leaves the old file or the new one, never half of it."""
        path = self.path / name
        atomic_write_bytes(path, (json.dumps(obj, indent=2, default=str) + "\n").encode())
        return path

    def metrics(self) -> list[dict]:
        path = self.path / self.METRICS
        return read_jsonl(path) if path.is_file() else []

    # ---- creation, locking, evidence ----------------------------------------------------
    @classmethod
    def create(cls, parent: Path, name: str) -> "RunDir":
        """parent/name, or parent/name-2, -3... if a run started in the same second took it."""
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise ReproError(f"--out: {_first_file(parent)} is a file, not a folder") from None
        except OSError as e:
            raise ReproError(f"--out: cannot create {parent}: {e.strerror}") from None
        for i in range(1, 1000):
            path = parent / (name if i == 1 else f"{name}-{i}")
            try:
                path.mkdir()
                return cls(path)
            except FileExistsError:
                continue
            except OSError as e:
                raise ReproError(f"--out: cannot create a run folder in {parent}: "
                                 f"{e.strerror}") from None
        raise ReproError(f"could not create a new run folder in {parent}")

    def lock(self) -> "RunLock":
        return RunLock(self.path / self.LOCK)

    def held(self) -> bool:
        """Whether a live process is training in this folder now."""
        return RunLock(self.path / self.LOCK).holder() is not None

    def copy_evidence(self, dest: Path, commit: str) -> Path:
        """The small files of this run under dest/<run-id>/, marked as a copy (EVIDENCE.json)."""
        out = dest / self.name
        out.mkdir(parents=True, exist_ok=True)
        steps = [p.name for g in self.EVIDENCE_GLOBS for p in sorted(self.path.glob(g))]
        for name in (*self.EVIDENCE, *steps):
            if (self.path / name).is_file():
                shutil.copy(self.path / name, out / name)
        (out / self.EVIDENCE_MARK).write_text(json.dumps(
            {"run": str(self.path.resolve()), "copied_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
             "copied_at_commit": commit}, indent=2) + "\n")
        return out


def atomic_write(path: Path, write) -> None:
    """write(file) into a temp file, fsync, rename over `path`, fsync the folder: after a crash
    `path` is either the old file or the whole new one, and the rename itself is on disk."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)   # a failed write leaves nothing half-written behind
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def _first_file(path: Path) -> Path:
    """The first component of path that exists and is not a folder."""
    for p in [*reversed(path.parents), path]:
        if p.exists() and not p.is_dir():
            return p
    return path


def run_id(seed: int, overrides: list[str]) -> str:
    """<time>-s<seed>-<hash of overrides>: the name says how to reproduce the run."""
    digest = hashlib.sha1("\n".join(sorted(overrides)).encode()).hexdigest()[:6]
    return f"{time.strftime('%Y%m%d-%H%M%S')}-s{seed}-{digest}"


class RunLock:
    """An exclusive lock file holding the pid; a lock left by a dead process is taken over."""

    def __init__(self, path: Path):
        self.path = path

    def holder(self) -> int | None:
        try:
            pid = int(self.path.read_text() or 0)
        except (OSError, ValueError):
            return None
        return pid if pid and _alive(pid) else None

    def check_free(self) -> None:
        pid = self.holder()
        if pid:
            raise ReproError(f"{self.path.parent} is in use by another run (pid {pid}); "
                             f"wait for it or choose another --out")

    def __enter__(self):
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                return self
            except FileExistsError:
                self.check_free()
                self.path.unlink(missing_ok=True)
            except OSError as e:
                raise ReproError(f"cannot write in {self.path.parent}: {e.strerror}") from None
        raise ReproError(f"could not lock {self.path.parent}")

    def __exit__(self, *exc):
        self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


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
