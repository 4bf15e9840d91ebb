"""Compare FlexAttention kernel options for the banded layers: GPU kernel time of the bench's
banded attention row (forward + backward) under each candidate, each checked against the
portable kernel's output. It prints the fastest correct choice; putting it into
repro/attention.py's FLEX_OPTIONS is a change to make by hand, with its reason.

    python tools/flex_sweep.py

No hint is a candidate that the sliding band breaks (ROWS_GUARANTEED_SAFE,
BLOCKS_ARE_CONTIGUOUS: see repro/attention.py); the check would catch one anyway.
"""
import torch

from repro import attention
from repro.bench.pairs import contenders
from repro.bench.timing import kernel_ms
from repro.cli.bench import pairs

CANDIDATES = [
    {},
    {"USE_TMA": True},
    {"BLOCK_M1": 64, "BLOCK_N1": 64, "BLOCK_M2": 64, "BLOCK_N2": 64},
    {"BLOCK_M1": 32, "BLOCK_N1": 128, "BLOCK_M2": 128, "BLOCK_N2": 32},
    {"BLOCK_M": 128, "BLOCK_N": 64, "num_warps": 4},
    {"num_stages": 2},
]


def measure(opts):
    attention.FLEX_OPTIONS = opts
    attention._compiled_flex.cache_clear()
    torch._dynamo.reset()
    a = pairs()["attn"]
    banded = contenders(a, torch.device("cuda"), {"eager": 3, "compiled": 3})[0]
    for _ in range(3):
        banded.step()
    q, k, v = (torch.randn(a.batch, a.heads, a.ctx, a.head_dim, device="cuda",
                           dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
    err = (attention.banded_causal(q, k, v, a.band).float()
           - attention.local_windows(q, k, v, a.band).float()).abs().max().item()
    return kernel_ms(banded.step, 20), err


def main():
    results = []
    for opts in CANDIDATES:
        try:
            ms, err = measure(opts)
            results.append((ms, err, opts))
            print(f"{ms:.4f} ms  max|diff| {err:.1e}  {opts}", flush=True)
        except Exception as e:   # an option this torch/GPU rejects
            print(f"failed: {opts}: {type(e).__name__}: {str(e).splitlines()[0][:150]}", flush=True)
    ok = [r for r in results if r[1] < 3e-2]
    if not ok:
        raise SystemExit("no candidate matched the portable kernel")
    best = min(ok, key=lambda r: r[0])
    default = next((r[0] for r in ok if r[2] == {}), float("nan"))
    print(f"fastest correct: {best[2]} at {best[0]:.4f} ms (default options: {default:.4f} ms)")


if __name__ == "__main__":
    main()
