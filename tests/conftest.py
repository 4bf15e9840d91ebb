"""Shared by every test: one torch thread (multi-threaded torch on 2 busy cores is 5-10x
slower), a session-wide token cache in a tmp folder (REPRO_CACHE), `cli`, which runs
`python -m repro ...` as a single-threaded subprocess and returns (rc, stdout, stderr), and for
the tests that run training subprocesses: `env` (their environment) and `launch` (the command
that starts several processes with `accelerate launch`)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from run_helpers import cli_env, ok, repro, run_dir_in, untracked_files

REPO = Path(__file__).resolve().parent.parent

torch.set_num_threads(1)
# The suite is offline by design: no test may reach the Hub, also in this process (set before
# transformers/huggingface_hub are imported: they read it once).
os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.fixture(scope="session", autouse=True)
def repro_cache(tmp_path_factory):
    """Every test and every subprocess tokenises into one tmp cache: never ~/.cache, never the repo."""
    old = os.environ.get("REPRO_CACHE")
    path = tmp_path_factory.mktemp("repro-cache")
    os.environ["REPRO_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("REPRO_CACHE", None)
    else:
        os.environ["REPRO_CACHE"] = old


@pytest.fixture(scope="session")
def cli(tmp_path_factory):
    """run(*args, timeout=600, env=None) -> (rc, stdout, stderr) of `python -m repro *args`.

    It runs in a tmp folder, so a command that forgets --out/--report-dir cannot write into the
    repository."""
    cwd = tmp_path_factory.mktemp("cli-cwd")

    def run(*args, timeout: float = 600, env: dict | None = None):
        proc = subprocess.run([sys.executable, "-m", "repro", *map(str, args)], cwd=cwd,
                              env=cli_env(env), capture_output=True, text=True, timeout=timeout)
        return proc.returncode, proc.stdout, proc.stderr

    return run


@pytest.fixture(scope="session")
def env(tmp_path_factory) -> dict:
    """The environment of every run: one thread, a token cache shared by the session, HF caches
    and accelerate's config file under tmp, progress bars as a user sees them."""
    root = tmp_path_factory.mktemp("env")
    e = cli_env(dict(REPRO_CACHE=str(root / "repro-cache"), HF_HOME=str(root / "hf")))
    for k in [k for k in e if k.startswith("HF_DATASETS_DISABLE")]:
        del e[k]
    return e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def launch():
    """launch(n=2, config=None, script=None) -> the command prefix that runs `python -m repro`
    (or `script`) in n gloo processes on the CPU; append repro's arguments and --device cpu.

    accelerate 1.x's `--cpu --num_processes 2` starts ONE process (its simple launcher needs
    mpirun for more), so this uses the torchrun launcher (--multi_gpu, or a config file naming a
    GPU distributed type) and the run keeps the model on the CPU with --device cpu. HF_HOME under
    tmp (`env`) means no user config file is read; mixed precision is off (fp32 on CPU)."""
    def cmd(n: int = 2, config: Path | None = None, script: Path | None = None) -> list[str]:
        how = ["--config_file", str(config)] if config else ["--multi_gpu", "--num_machines", "1"]
        return [sys.executable, "-m", "accelerate.commands.launch", *how, "--num_processes",
                str(n), "--mixed_precision", "no", "--dynamo_backend", "no",
                "--main_process_port", str(free_port()),
                *([str(script)] if script else ["-m", "repro"])]
    return cmd


@pytest.fixture(scope="session")
def kept_image_run(env, tmp_path_factory) -> dict:
    """igpt tiny, the recipe as it is, run as a user who keeps runs in a folder of their own
    (issue 21), from an empty working folder and with relative paths: --out keep and no
    report, stopped by SIGTERM at step 30 of 60 (tests/faults.py), then --resume to the end
    with --report-dir rep and --json, --out left at its default. {"first", "second": the two
    processes, "run": the run folder, "cwd": the working folder, "untracked": the repository's
    untracked files before and after}."""
    cwd = tmp_path_factory.mktemp("kept-image-run") / "cwd"
    cwd.mkdir()
    before = untracked_files()
    stop_at_30 = [sys.executable, str(Path(__file__).with_name("faults.py")), "sigterm-at-step:30"]
    first = ok(repro(env, Path("keep"), "igpt", "--scale", "tiny", launcher=stop_at_30, cwd=cwd,
                     timeout=300))
    run = run_dir_in(cwd / "keep")
    second = repro(env, None, "igpt", "--resume", str(run.relative_to(cwd)), "--json",
                   report_dir=Path("rep"), cwd=cwd, timeout=300)
    return {"first": first, "second": second, "run": run, "cwd": cwd,
            "untracked": (before, untracked_files())}


@pytest.fixture
def exact_fp32():
    """fp32 references in fp32: a trainer earlier in the process turns TF32 on for all of it."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old
