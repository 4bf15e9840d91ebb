"""The ladder's work as subprocesses: each size's run (`python -m repro <paper> ...`, an
ordinary run) and its zero-shot evaluation (`python -m repro eval RUN ...`), up to `jobs` at a
time on one device, each with its log under <out>/logs/.

Re-entrant: a (size, seed) whose run finished is not trained again, a run stopped half-way
is resumed from its newest checkpoint (or restarted in place), and a run whose eval.json
already holds every task at the same limit is not evaluated again; so a killed sitting
continues where it stopped.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ReproError
from ..rundir import RunDir


@dataclass(frozen=True)
class Job:
    name: str                 # e.g. "train 4x256 seed 1"
    argv: tuple
    log: Path


def runs_of(rung_dir: Path, seed: int) -> list[RunDir]:
    """The run folders of one (size, seed) under its folder, oldest first."""
    found = sorted(rung_dir.glob(f"*/*-s{seed}-*"), key=lambda p: p.name)
    return [RunDir(p) for p in found if RunDir(p).has_config()]


def finished(run: RunDir) -> bool:
    return run.is_finished() and not (run.read_optional(RunDir.SUMMARY) or {}).get("interrupted")


def train_job(paper: str, base: str, rung_dir: Path, seed: int, sets: list[str],
              logs: Path) -> Job | None:
    """None when the (size, seed) has a finished run; else the command that trains it (a
    resume of an unfinished run, or a new one)."""
    runs = runs_of(rung_dir, seed)
    if any(finished(r) for r in runs):
        return None
    name = f"{rung_dir.name}-s{seed}"
    repro = (sys.executable, "-m", "repro", paper)
    quiet = ("--no-report", "--no-progress")
    if runs:
        if runs[-1].held():
            raise ReproError(f"{runs[-1]} is being trained by another process")
        argv = (*repro, "--resume", str(runs[-1]), *quiet)
    else:
        sets_args = tuple(a for s in sets for a in ("--set", s))
        argv = (*repro, "--scale", base, "--seed", str(seed), "--out", str(rung_dir), *quiet,
                *sets_args)
    return Job(f"train {name}", argv, logs / f"{name}-train.log")


def evaluated(run: RunDir, tasks: tuple, limit: int) -> bool:
    rows = (run.read_optional(RunDir.EVAL) or {}).get("results", [])
    done = {r["task"] for r in rows if r["shots"] == 0 and r.get("limit") == (limit or None)}
    return set(tasks) <= done


def eval_job(run: RunDir, tasks: tuple, limit: int, batch_size: int, logs: Path) -> Job | None:
    if evaluated(run, tasks, limit):
        return None
    argv = (sys.executable, "-m", "repro", "eval", str(run.path), "--tasks", ",".join(tasks),
            "--shots", "0", "--no-progress", "--batch-size", str(batch_size))
    argv += ("--limit", str(limit)) if limit else ()
    return Job(f"eval {run.path.parent.parent.name}/{run.name}", argv,
               logs / f"{run.path.parent.parent.name}-{run.name}-eval.log")


def run_jobs(jobs: list[Job], at_once: int, log=print) -> list[str]:
    """Run the jobs, at most `at_once` together; return a line per failed one naming its log
    (the caller goes on with what finished). Ctrl-C passes SIGINT on (a training run saves a
    checkpoint) and waits for them."""
    pending, running, failed = list(jobs), [], []
    try:
        while pending or running:
            while pending and len(running) < at_once:
                job = pending.pop(0)
                job.log.parent.mkdir(parents=True, exist_ok=True)
                with open(job.log, "w") as out:
                    running.append((job, subprocess.Popen(job.argv, stdout=out,
                                                          stderr=subprocess.STDOUT),
                                    time.perf_counter()))
                log(f"started {job.name} (log {job.log})")
            time.sleep(0.2)
            for item in [r for r in running if r[1].poll() is not None]:
                running.remove(item)
                job, proc, t0 = item
                took = f"{time.perf_counter() - t0:.0f} s"
                if proc.returncode:
                    failed.append(job)
                log(f"{'FAILED' if proc.returncode else 'done'} {job.name} ({took})")
    except KeyboardInterrupt:
        for _, proc, _ in running:
            proc.send_signal(signal.SIGINT)
        for _, proc, _ in running:
            proc.wait()
        raise
    return [f"{j.name} failed (see {j.log})" for j in failed]
