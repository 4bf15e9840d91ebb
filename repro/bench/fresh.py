"""Each pair timed in several fresh processes, so a ratio is read with its spread.

Why fresh processes: a compiled model's speed moves between processes (Hugging Face's
compiled GPT-2 measured 395k, 398k and 347k tokens/s in three runs on one H200), through
what a process settles once (allocator layout, autotuning, kernel choices). Repeating rounds
inside one process cannot show that; starting the process again can.

Process i times every pair once (one_process.run_pairs), so the first process covers every
pair before a second one starts and a spent budget costs spread, not rows. A process that
dies (a crash, a sticky CUDA error, the time limit) loses only the pair it was timing: that
pair is recorded as failed for that process and a new process takes the pairs it had left.
"""
from __future__ import annotations

import collections
import subprocess
import sys
import threading
import time
from pathlib import Path

from .one_process import read_results

GRACE_S = 120.0   # a process may overrun the budget by one pair before it is stopped


def _pump(stream, tail: collections.deque) -> None:
    """Echo a worker's stderr (its progress) and keep its last lines for an error message."""
    for line in stream:
        sys.stderr.write(line)
        sys.stderr.flush()
        if line.strip():
            tail.append(line.strip())


def _spawn(cmd: list[str], timeout_s: float) -> tuple[int | None, str]:
    """Run a worker; (exit code or None if it was stopped at the time limit, last stderr line)."""
    tail: collections.deque = collections.deque(maxlen=5)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    pump = threading.Thread(target=_pump, args=(proc.stderr, tail), daemon=True)
    pump.start()
    try:
        rc = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        rc = None
    pump.join(timeout=5)
    return rc, (tail[-1] if tail else "")


def run_fresh(keys: list[str], processes: int, worker: list[str], budget_s: float,
              workdir: Path, log=lambda m: print(m, file=sys.stderr, flush=True)) -> dict:
    """Time the pairs `keys` in `processes` fresh processes each. worker: the command that
    starts one process; it is given --rows, --worker-out, --budget-s (and --matmul once).
    Returns {"env": the first process's environment, "samples": {key: [one result per
    process, each {"process": i, "stats": [...]} or {"process": i, "error": "..."}]},
    "wall_s": ...}. After the first process each one is told the previous one's slowest
    warm-up, for its budget guesses until it has compiled something (--compile-guess-s)."""
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    samples: dict = {k: [] for k in keys}
    env = None
    guess = None
    spawned = 0
    for i in range(1, processes + 1):
        todo = list(keys)
        while todo:
            left = budget_s - (time.perf_counter() - t0)
            if left <= 0:
                for k in todo:
                    samples[k].append({"process": i, "error": "skipped: the time budget was "
                                                               "spent before this process"})
                break
            spawned += 1
            out = workdir / f"process-{spawned}.jsonl"
            cmd = worker + ["--rows", ",".join(todo), "--worker-out", str(out),
                            "--budget-s", f"{left:.0f}"] + (["--matmul"] if env is None else [])
            cmd += ["--compile-guess-s", f"{guess:.0f}"] if guess is not None and i > 1 else []
            log(f"[bench] process {i}/{processes}: {len(todo)} pair(s), {left:.0f}s of budget left")
            rc, last = _spawn(cmd, left + GRACE_S)
            got_env, results = read_results(out)
            env = env or got_env
            warmups = [st.get("warmup_s") or 0 for r in results.values()
                       for st in r.get("stats", [])]
            guess = max(warmups) if warmups else guess   # the latest process's slowest
            for k in [k for k in todo if k in results]:
                samples[k].append({"process": i, **{f: v for f, v in results[k].items()
                                                    if f != "key"}})
                todo.remove(k)
            if todo:   # the process died (or was stopped) while timing todo[0]
                why = ("stopped at the time limit" if rc is None else
                       f"process exited with code {rc}" + (f": {last}" if last else ""))
                samples[todo.pop(0)].append({"process": i, "error": why[:300]})
                if rc == 0:   # it returned without them: nothing more to learn by retrying
                    for k in todo:
                        samples[k].append({"process": i, "error": "missing from the process"})
                    todo = []
    return {"env": env, "samples": samples, "wall_s": round(time.perf_counter() - t0, 1)}
