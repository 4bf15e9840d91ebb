"""How a training step is timed: the trainer's step for any module, alternating rounds, GPU
kernel time, and the measured matmul peak.

Why alternating rounds (A, B, A, B, ...): clocks, temperature and neighbours drift over
minutes; timing all of A and then all of B would charge that drift to one side. Each
contender's figure is its median round, so one hiccup does not move it. Warm-up steps (the
torch.compile compilation included) run before any timing and are reported separately.

Why peak memory subtracts the other contenders' resident state: every model of a pair and its
Adam moments live on the device at once, and a contender should not be charged for another's.
"""
from __future__ import annotations

import statistics
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable

import torch

from ..config import Config
from ..trainer.setup import CUDA_GRAPH_MODES, build_optimizer, compile_model, keep_grads


@dataclass
class Timed:
    name: str
    step: Callable[[], None]
    tokens: int                                  # tokens per step
    warmup: int
    resident: Callable[[], int] = lambda: 0      # bytes that stay allocated between steps
    warmup_s: float = 0.0


def timed_run(c: Timed, steps: int, cuda: bool) -> float:
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        c.step()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def _compile_counts() -> tuple[int, int]:
    """(graphs compiled, CUDA-graph skips) so far in this process: a contender that compiles
    while it is timed, or whose CUDA graphs were skipped, is not what its row says."""
    from torch._dynamo.utils import counters
    return counters["stats"]["unique_graphs"], counters["inductor"]["cudagraph_skips"]


def time_rounds(contenders: list[Timed], device, rounds: int, per_round: int, log) -> list[dict]:
    cuda = device.type == "cuda"
    skips0 = _compile_counts()[1]
    for c in contenders:
        log(f"  warm-up {c.name} ({c.warmup} steps)")
        c.warmup_s = timed_run(c, c.warmup, cuda)
    resident = [c.resident() for c in contenders]
    graphs0 = _compile_counts()[0]
    times = [[] for _ in contenders]
    peaks = [0] * len(contenders)
    for _ in range(rounds):
        for i, c in enumerate(contenders):
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            times[i].append(timed_run(c, per_round, cuda) / per_round)
            if cuda:
                others = sum(resident) - resident[i]
                peaks[i] = max(peaks[i], torch.cuda.max_memory_allocated() - others)
    graphs, skips = _compile_counts()
    return [{"tokens_per_s": c.tokens / statistics.median(t),
             "ms_per_step": statistics.median(t) * 1e3, "ms_min": min(t) * 1e3,
             "ms_max": max(t) * 1e3, "timed_steps": rounds * per_round,
             "warmup_s": round(c.warmup_s, 2), "peak_mem_gb": peak / 1e9 if cuda else None,
             "graphs_compiled_while_timed": graphs - graphs0,
             "cudagraph_skips": skips - skips0}
            for c, t, peak in zip(contenders, times, peaks)]


def kernel_events(step: Callable[[], None], steps: int):
    """The CUDA kernels of `steps` calls of step, as torch.profiler's key averages."""
    from torch.profiler import ProfilerActivity, profile
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step()
        torch.cuda.synchronize()
    return [e for e in prof.key_averages() if e.device_type.name == "CUDA"]


def kernel_ms(step: Callable[[], None], steps: int = 5) -> float:
    """GPU time of one step: the sum of its kernels' durations, without the host's dispatch
    and launch gaps. A compiled model's step keeps the GPU busy, so this is what a layer
    costs in training; an eager microbenchmark's wall time can be the host's, not the GPU's."""
    return sum(e.self_device_time_total for e in kernel_events(step, steps)) / steps / 1e3


def resident_bytes(params, opt) -> int:
    """Weights, kept gradients and optimizer state, each storage once."""
    tensors = list(params) + [p.grad for p in params if p.grad is not None] + [
        v for st in opt.state.values() for v in st.values() if torch.is_tensor(v)]
    seen = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return sum(seen.values())


def training_step(name: str, module, loss_fn, tokens: int, compile_mode: str | None, device,
                  warmup: int) -> Timed:
    """The trainer's step for any module (loss_fn(model) -> scalar loss): forward and loss,
    backward, clip_grad_norm_(1.0), AdamW with the trainer's parameter groups (fused on
    CUDA), zero_grad, under bf16 autocast on CUDA. compile_mode: None (eager) or a
    train.compile_mode, compiled the trainer's way (CUDA-graph modes keep their gradients)."""
    module.to(device).train()
    model = module if compile_mode is None else compile_model(module, compile_mode)
    params = list(module.parameters())   # tied weights appear once
    opt = build_optimizer(module, Config(), fused=device.type == "cuda")
    graphs = compile_mode in CUDA_GRAPH_MODES
    if graphs:
        keep_grads(params)
    amp = ((lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda"
           else nullcontext)

    def step():
        with amp():
            loss = loss_fn(model)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=not graphs)

    return Timed(name, step, tokens, warmup, lambda: resident_bytes(params, opt))


def matmul_tflops(device, n: int = 8192, iters: int = 30) -> float:
    """Achievable bf16 tensor-core throughput on this device: a realistic MFU denominator."""
    a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
    mm = Timed("matmul", lambda: a @ b, 0, 0)
    timed_run(mm, 3, cuda=True)   # cuBLAS heuristics and clocks settle
    return 2 * n ** 3 * iters / timed_run(mm, iters, cuda=True) / 1e12
