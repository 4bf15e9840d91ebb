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
import shutil
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .atomic import atomic_write_bytes
from .errors import ReproError
from .finetune_config import FinetuneConfig, is_finetune
from .runlock import RunLock

CHECKPOINT_PREFIX = "ckpt-"
CHECKPOINT_PATTERN = f"{CHECKPOINT_PREFIX}*.pt"


class RunDir:
    CONFIG, ENV, METRICS, SUMMARY = "config.json", "env.json", "metrics.jsonl", "summary.json"
    CHECKPOINTS, LOCK, EVIDENCE_MARK = "checkpoints", ".lock", "EVIDENCE.json"
    SAMPLE, SAMPLES, HELDOUT, PROBE, PALETTE, EVAL, DEV_PREDICTIONS = (   # the last: fine-
        "sample.txt", "samples.png", "heldout.json", "probe.json", "palette.npy", "eval.json",
        "dev_predictions.json")                 # tuning's per-example dev answers (intervals)
    EVIDENCE = (CONFIG, ENV, METRICS, SUMMARY, HELDOUT, PROBE, SAMPLE, SAMPLES, EVAL,
                DEV_PREDICTIONS)  # a copy
    EVIDENCE_GLOBS = ("eval-*.json", "probe-*.json")   # per checkpoint, small: copied too

    def __init__(self, path, made: tuple = ()):
        self.path = Path(path)
        self.made = made   # the folders create() made for this run, itself first

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

    def checkpoint_path(self, step: int) -> Path:
        return self.checkpoints / self.checkpoint_name(step)

    @staticmethod
    def checkpoint_name(step: int) -> str:
        return f"{CHECKPOINT_PREFIX}{step:08d}.pt"

    @staticmethod
    def checkpoint_step(path: Path) -> int:
        """The step a checkpoint file was saved at (checkpoint_name's inverse)."""
        return int(Path(path).stem.removeprefix(CHECKPOINT_PREFIX))

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

    def load(self) -> "Run":
        """The run record: this folder and its typed config, tagged with the run's kind. The one
        loader of a run (resume, eval, export, fine-tuning's --init, both reports)."""
        d = self.read_json(self.CONFIG)
        try:
            config = FinetuneConfig.from_dict(d) if is_finetune(d) else Config.from_dict(d)
        except ReproError as e:
            raise ReproError(f"{self.path / self.CONFIG}: {e}") from None
        return Run(self, config)

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

    def write_summary(self, summary: dict) -> Path:
        """The run's last act: summary.json says it finished (or where it stopped)."""
        return self.write_json(self.SUMMARY, summary)

    def metrics(self) -> list[dict]:
        path = self.path / self.METRICS
        return read_jsonl(path) if path.is_file() else []

    # ---- creation, the lifecycle, evidence ----------------------------------------------
    @classmethod
    def create(cls, parent: Path, name: str) -> "RunDir":
        """parent/name, or parent/name-2, -3... if a run started in the same second took it."""
        made = tuple(p for p in (parent, *parent.parents) if not p.exists())
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
                return cls(path, (path, *made))
            except FileExistsError:
                continue
            except OSError as e:
                raise ReproError(f"--out: cannot create a run folder in {parent}: "
                                 f"{e.strerror}") from None
        raise ReproError(f"could not create a new run folder in {parent}")

    def lock(self) -> RunLock:
        return RunLock(self.path / self.LOCK)

    @contextmanager
    def training(self, main: bool = True):
        """The run while it trains: locked by the main process (main); if it fails before its
        first logged step or checkpoint, a folder create() made for it is removed again, with
        the empty parents made for it: a failed start leaves no empty run."""
        with ExitStack() as stack:
            if main:   # a lock refused (another run holds it) raises here: nothing is ours
                stack.enter_context(self.lock())
            try:
                yield self
            except BaseException:
                stack.close()
                if main and self.made and not self.started():
                    shutil.rmtree(self.path, ignore_errors=True)
                    for folder in self.made[1:]:
                        try:
                            folder.rmdir()
                        except OSError:
                            break
                raise

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


@dataclass(frozen=True)
class Run:
    """A run, whatever trained it: its folder and its typed config, tagged by kind
    (Config.KIND "pretrain" or FinetuneConfig.KIND "finetune")."""
    dir: RunDir
    config: Config | FinetuneConfig

    @property
    def kind(self) -> str:
        return self.config.KIND

    def what(self) -> str:
        """"a fine-tuning run (rte)" or "a pre-training run (gpt2 small)"."""
        c = self.config
        if self.kind == FinetuneConfig.KIND:
            return f"a fine-tuning run ({c.task})"
        return f"a pre-training run ({' '.join(x for x in (c.paper, c.size, c.scale) if x)})"

    def pretraining(self, what: str, why: str) -> Config:
        """The config of a pre-training run, or ReproError "<what> DIR is a fine-tuning run
        (task): <why>" (what: how the user named the folder, e.g. "--resume")."""
        if self.kind != Config.KIND:
            where = f"{what} {self.dir}" if what else str(self.dir)
            raise ReproError(f"{where} is {self.what()}: {why}")
        return self.config


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
