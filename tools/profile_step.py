"""Where a compiled training step of ours spends its GPU time: the top kernels by CUDA time.

    python tools/profile_step.py [gpt2|gpt1|gpt3|igpt] [BATCH] [COMPILE_MODE]
    python tools/profile_step.py attn        (the banded and dense attention microbenchmark)

COMPILE_MODE is a train.compile_mode (default, reduce-overhead, max-autotune); the wall time
per step is printed beside the kernel time, so a host-bound step shows its gap.

The step is the benchmark's (bf16 autocast, fused AdamW, clip, compiled model); kernels are
grouped into matmul / attention / fused elementwise (Triton) / optimizer / other so that the
MFU gap can be read off: the benchmark says how fast, this says where the time goes.
"""
import sys
import time

import torch

from repro.bench.pairs import contenders
from repro.bench.timing import kernel_events, training_step
from repro.cli.bench import pairs, shape as paper_shape
from repro.model import build_model

GROUPS = (("attention", ("flash", "fmha", "attention", "flex", "cudnn")),
          ("matmul", ("gemm", "nvjet", "sm90_xmma", "cutlass", "matmul")),
          ("optimizer", ("adam", "foreach", "multi_tensor")),
          ("triton fused", ("triton",)))


def group(name: str) -> str:
    low = name.lower()
    return next((g for g, keys in GROUPS if any(k in low for k in keys)), "other")


def main(shape="gpt2", batch=32, mode="default"):
    torch.backends.cuda.matmul.allow_tf32 = True
    dev = torch.device("cuda")
    if shape == "attn":
        for c in contenders(pairs()["attn"], dev, {"eager": 3, "compiled": 3}):
            show(c.name, c.step, c.tokens, steps=20)
        return
    cfg = paper_shape(shape)
    x = torch.randint(0, cfg.vocab_size, (batch, cfg.block_size + 1), device=dev)
    step = training_step("ours", build_model(cfg, dev), lambda m: m(x[:, :-1], x[:, 1:])[1],
                         batch * cfg.block_size, mode, dev, 3)
    show(f"{shape} B{batch} compiled {mode}", step.step, step.tokens)


def show(name, step, tokens, steps=5):
    for _ in range(4):   # compilation and warm-up
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    wall_ms = (time.perf_counter() - t0) / steps * 1e3
    events = kernel_events(step, steps)
    total = sum(e.self_device_time_total for e in events)
    per_step_ms = total / steps / 1e3
    print(f"{name}: {per_step_ms:.3f} ms of GPU kernels per step, {wall_ms:.3f} ms wall; "
          f"{tokens / per_step_ms * 1e3:,.0f} tokens/s if nothing else ran")
    groups = {}
    for e in events:
        groups[group(e.key)] = groups.get(group(e.key), 0) + e.self_device_time_total
    for g, t in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {g:14s} {t / total:6.1%}  {t / steps / 1e3:7.2f} ms/step")
    print("top kernels:")
    for e in sorted(events, key=lambda e: -e.self_device_time_total)[:20]:
        print(f"  {e.self_device_time_total / total:6.1%} {e.count // steps:4d}x  {e.key[:110]}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "gpt2", int(sys.argv[2]) if len(sys.argv) > 2 else 32,
         sys.argv[3] if len(sys.argv) > 3 else "default")
