"""The pairs of one benchmark process: each pair's contenders built, warmed up and timed in
alternating rounds, one pair after the other, results appended to a JSON-lines file as each
pair finishes (so a process that dies still leaves the pairs it finished).

Line 1 describes the process (device, versions, the matmul peak if asked); every further
line is {"key": ..., "stats": [one dict per contender]} or {"key": ..., "error": "..."}.
"""
from __future__ import annotations

import gc
import json
import sys
import time
import traceback
from pathlib import Path

import torch

from . import pairs as P
from .timing import kernel_ms, matmul_tflops, time_rounds

FULL = dict(eager=2, compiled=3, rounds=10, steps_per_round=2)   # 20 timed steps
QUICK = dict(eager=1, compiled=1, rounds=3, steps_per_round=1)
COMPILE_GUESS_S = 45.0   # one contender's compile before any is seen (an H200, cold caches)


def plan(quick: bool) -> dict:
    return QUICK if quick else FULL


def environment(device, measure_matmul: bool) -> dict:
    import transformers
    cuda = device.type == "cuda"
    name = torch.cuda.get_device_name(device) if cuda else "cpu"
    return {"device": name, "torch": torch.__version__, "transformers": transformers.__version__,
            "cuda": torch.version.cuda if cuda else None,
            "dtype": "bf16 autocast" if cuda else "fp32",
            "matmul_tflops": matmul_tflops(device) if cuda and measure_matmul else None}


def free(device) -> None:
    """Between two measurements: memory back to the device, fresh compile caches (no recompile
    limits, no dynamic shapes carried over; FlexAttention compiles once per shape)."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    torch._dynamo.reset()


def _cost_s(pair, slowest: float) -> float:
    """A guess of a pair's seconds, for the budget: its compiled contenders' compiles plus
    timing, from the slowest compile seen so far in this process."""
    compiled = sum(c.compile_mode is not None for c in getattr(pair, "contenders", ()))
    return compiled * slowest + 15.0


def run_pairs(pairs: list, out: Path, quick: bool, budget_s: float, measure_matmul: bool = False,
              compile_guess_s: float = COMPILE_GUESS_S,
              log=lambda m: print(m, file=sys.stderr, flush=True)) -> None:
    """Time `pairs` (already made quick by the caller if wanted) in this process, appending the
    results to `out`. A pair whose guessed cost would pass budget_s (seconds from now) is
    recorded as skipped; a failing pair (OOM, compile error) is recorded and the next runs.
    compile_guess_s: one compile's seconds until this process has timed one (fresh.py tells
    a later process the previous one's slowest, from warmer compile caches)."""
    threads = torch.get_num_threads()
    if quick:   # tiny matmuls gain nothing from threads, and a busy CI box makes them 50x slower
        torch.set_num_threads(1)
    try:
        _run(pairs, out, quick, budget_s, measure_matmul, compile_guess_s, log)
    finally:
        torch.set_num_threads(threads)


def _run(pairs, out: Path, quick: bool, budget_s: float, measure_matmul: bool,
         compile_guess_s: float, log) -> None:
    import transformers
    transformers.logging.set_verbosity_error()
    device = torch.device("cpu" if quick or not torch.cuda.is_available() else "cuda")
    cuda = device.type == "cuda"
    if cuda:   # what the trainer sets
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    t_start = time.perf_counter()
    _append(out, environment(device, measure_matmul))
    p, compiles = plan(quick), []   # warm-up seconds of this process's compiled contenders
    for pair in pairs:
        elapsed = time.perf_counter() - t_start
        log(f"[bench {elapsed:4.0f}s] {pair.key}" + (" (--quick: tiny, eager)" if quick else ""))
        timed = None
        try:
            cost = _cost_s(pair, max(compiles) if compiles else compile_guess_s)
            if cuda and elapsed + cost > budget_s:
                raise TimeoutError(f"skipped: {elapsed:.0f}s + about {cost:.0f}s would pass the "
                                   f"{budget_s:.0f}s budget; run it alone with --rows {pair.key}")
            timed = P.contenders(pair, device, p)
            stats = time_rounds(timed, device, p["rounds"], p["steps_per_round"], log)
            if cuda:
                for c, st in zip(timed, stats):
                    st["kernel_ms"] = kernel_ms(c.step)
            compiles += [s["warmup_s"] for s, c in zip(stats, getattr(pair, "contenders", ()))
                         if c.compile_mode is not None]
            _append(out, {"key": pair.key, "stats": stats})
        except Exception as e:   # OOM, compile failure, budget: recorded, the bench goes on
            if not isinstance(e, TimeoutError):
                traceback.print_exc(file=sys.stderr)
            first = (str(e).strip().splitlines() or [""])[0]
            _append(out, {"key": pair.key, "error": f"{type(e).__name__}: {first}"[:300]})
            log(f"  error: {type(e).__name__}: {first[:200]}")
        finally:
            del timed   # drop the models before the next pair allocates
            free(device)


def _append(path: Path, obj: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(obj) + "\n")


def read_results(path: Path) -> tuple[dict | None, dict]:
    """(the process's environment or None, {key: result}) from a file run_pairs wrote; a line
    cut short by a dying process is ignored."""
    env = None
    results = {}
    if not path.is_file():
        return env, results
    for line in path.read_text().splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if "key" in obj:
            results[obj["key"]] = obj
        else:
            env = obj
    return env, results
