"""Choose FlexAttention kernel options for the banded layers: GPU kernel time of the bench's
banded attention row (forward + backward) under each candidate, checked against the
portable kernel's output. With --write, the fastest goes into repro/attention.py's
FLEX_OPTIONS if it beats the default by more than 2%.

    python tools/flex_sweep.py [--write]
"""
import re
import sys
from pathlib import Path

import torch

from repro import attention
from repro.bench.pairs import contenders
from repro.bench.timing import kernel_ms
from repro.cli.bench import pairs

SAFE = {"ROWS_GUARANTEED_SAFE": True, "BLOCKS_ARE_CONTIGUOUS": True}  # true of this pattern
CANDIDATES = [
    {},
    SAFE,
    {**SAFE, "USE_TMA": True},
    {**SAFE, "BLOCK_M1": 64, "BLOCK_N1": 64, "BLOCK_M2": 64, "BLOCK_N2": 64},
    {**SAFE, "BLOCK_M1": 32, "BLOCK_N1": 128, "BLOCK_M2": 128, "BLOCK_N2": 32},
    {**SAFE, "BLOCK_M": 128, "BLOCK_N": 64, "num_warps": 4},
    {**SAFE, "num_stages": 2},
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
           - attention.local_windows(q, k, v, a.band // 2).float()).abs().max().item()
    return kernel_ms(banded.step, 20), err


def main(write: bool):
    results = []
    for opts in CANDIDATES:
        try:
            ms, err = measure(opts)
            results.append((ms, err, opts))
            print(f"{ms:.4f} ms  max|diff| {err:.1e}  {opts}", flush=True)
        except Exception as e:   # an option this torch/GPU rejects
            print(f"failed: {opts}: {type(e).__name__}: {str(e).splitlines()[0][:150]}", flush=True)
    ok = [r for r in results if r[1] < 3e-2]
    best = min(ok, key=lambda r: r[0])
    default = next(r[0] for r in results if r[2] == {})
    print(f"best {best[0]:.4f} ms vs default {default:.4f} ms: {best[2]}")
    if write and best[0] < 0.98 * default:
        path = Path(attention.__file__)
        text = re.sub(r"^FLEX_OPTIONS: dict = .*$", f"FLEX_OPTIONS: dict = {best[2]!r}",
                      path.read_text(), flags=re.M)
        path.write_text(text)
        print(f"wrote FLEX_OPTIONS = {best[2]!r} into {path}")


if __name__ == "__main__":
    main("--write" in sys.argv)
