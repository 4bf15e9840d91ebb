"""Shared by every test: one torch thread (multi-threaded torch on 2 busy cores is 5-10x
slower), a session-wide token cache in a tmp folder (REPRO_CACHE), and `cli`, which runs
`python -m repro ...` as a single-threaded subprocess and returns (rc, stdout, stderr)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent

torch.set_num_threads(1)


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


def cli_env(extra: dict | None = None) -> dict:
    """The environment of a CLI subprocess: one thread, offline, the session's caches."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCELERATE_")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               HF_HUB_OFFLINE="1", PYTHONPATH=os.pathsep.join(
                   [str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    env.update(extra or {})
    return env


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
