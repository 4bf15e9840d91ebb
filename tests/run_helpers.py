"""Helpers for tests that run `python -m repro ...` as a user would, in a subprocess, and read
what the run left behind (metrics, checkpoints). Shared by test_reliability and test_multigpu."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch

from repro.rundir import CHECKPOINT_PATTERN, RunDir

REPO = Path(__file__).resolve().parent.parent
TINY = ["chargpt", "--scale", "tiny", "--set", "train.log_interval=1"]   # dropout 0.25: RNG matters
NO_DROPOUT = ["--set", "model.embd_pdrop=0", "--set", "model.attn_pdrop=0",
              "--set", "model.resid_pdrop=0"]


# fp32 CPU arithmetic is deterministic on one thread, but its kernels depend on the instruction
# set: pinning torch, MKL and oneDNN to AVX2 keeps the golden loss curves (tests/golden/) within
# float32 rounding across x86 machines (torch releases still differ by a few roundings: the
# curves are compared to 1e-5 relative, tests/test_train_tiny.py).
SAME_BITS = dict(ATEN_CPU_CAPABILITY="avx2", MKL_CBWR="AVX2", ONEDNN_MAX_CPU_ISA="AVX2")


def cli_env(extra: dict | None = None) -> dict:
    """The environment of a CLI subprocess: one thread, offline, the session's caches."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCELERATE_")}
    env.update(SAME_BITS)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               HF_HUB_OFFLINE="1", PYTHONPATH=os.pathsep.join(
                   [str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    env.update(extra or {})
    return env


def repro(env: dict, out: Path | None, *args: str, extra_env: dict | None = None,
          timeout: int = 180, launcher: list[str] | None = None, report_dir: Path | None = None,
          cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`python -m repro *args --out OUT --no-progress` and --no-report, or --report-dir; out None
    leaves --out at its default (runs/ in cwd). It runs in cwd, by default beside out."""
    report = ["--report-dir", str(report_dir)] if report_dir else ["--no-report"]
    cmd = (launcher or [sys.executable, "-m", "repro"]) + [
        *args, *(["--out", str(out)] if out else []), *report, "--no-progress"]
    return subprocess.run(cmd, env={**env, **(extra_env or {})}, cwd=cwd or out.parent,
                          timeout=timeout, capture_output=True, text=True)


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stderr[-3000:]}"
    return proc


def one_line_error(proc: subprocess.CompletedProcess, expected: str, code: int = 2) -> str:
    """Exit `code`, stderr exactly one 'repro: error: ...' line containing `expected`."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, f"exit {proc.returncode}\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("repro: error: "), lines[0]
    assert expected in lines[0], lines[0]
    return lines[0]


def ends_in_one_error_line(proc: subprocess.CompletedProcess, expected: str,
                           code: int = 2) -> str:
    """A run that got going and then failed: what it logged (e.g. "resumed from ...") and, last,
    exactly one 'repro: error: ...' line containing `expected`; exit `code`, no traceback."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, f"exit {proc.returncode}\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr
    assert [i for i, line in enumerate(lines) if "error" in line.lower()] == [len(lines) - 1], \
        proc.stderr
    assert lines[-1].startswith("repro: error: ") and expected in lines[-1], lines[-1]
    return lines[-1]


def run_dir_in(out: Path) -> Path:
    dirs = [p.parent for p in out.glob("*/*/config.json")]
    assert len(dirs) == 1, dirs
    return dirs[0]


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
            if line.strip()]


def by_step(rows: list[dict]) -> dict[int, dict]:
    return {r["step"]: r for r in rows}


def checkpoints(run_dir: Path) -> list[Path]:
    return sorted(RunDir(run_dir).checkpoints.glob(CHECKPOINT_PATTERN))


def ckpt_step(path: Path) -> int:
    return RunDir.checkpoint_step(path)


def weights(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    different = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not different, f"tensors differ: {different[:5]}"


def untracked_files() -> set[str] | None:
    """Files in the repository that git neither tracks nor ignores (None: not a git checkout)."""
    proc = subprocess.run(["git", "ls-files", "--others", "--exclude-standard", "-z"], cwd=REPO,
                          capture_output=True, text=True)
    return set(proc.stdout.split("\0")) - {""} if proc.returncode == 0 else None


def crashed_copy(run: Path, dest: Path, ckpt: int, logged: int) -> Path:
    """A copy of a finished run as a kill -9 after step `logged` would leave it: checkpoints up
    to step `ckpt` (none if 0), metrics up to `logged`, no summary."""
    shutil.copytree(run, dest)
    for p in checkpoints(dest):
        if ckpt_step(p) > ckpt:
            p.unlink()
            p.with_suffix(".sha256").unlink()
    (dest / "summary.json").unlink()
    rows = [r for r in metrics(dest) if r["step"] <= logged]
    (dest / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return dest


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>"
            for p in sorted(root.rglob("*"))}
