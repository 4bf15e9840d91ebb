"""The largest model of each family that trains on this device: a few real training steps per
size, from the smallest up, with the memory options on (train.loss_impl=cce,
train.activation_checkpointing), bf16 autocast and fused AdamW, micro-batch 1 at the size's
own context. A family stops at its first size that runs out of memory (the larger ones would
too); its largest is the last size that trained.

Eager, not compiled: a compile per size would cost minutes at the largest sizes, and
checkpointed blocks hold about the same memory either way (the weights, their gradients and
Adam's moments, 16 bytes a parameter, dominate). Peak memory is torch.cuda.max_memory_allocated
over the whole attempt. On the CPU (tests) it is the weights, their gradients and the
optimizer state, and memory_limit_gb is a fake limit checked against it, so the search logic
can be tested without a GPU.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import torch

from ..config import ModelConfig
from ..losses import LOSSES
from ..model import build_model
from .one_process import environment, free
from .timing import timed_run, training_step


@dataclass(frozen=True)
class Candidate:
    family: str
    size: str
    shape: ModelConfig


class OverLimit(Exception):
    """The attempt's memory passed memory_limit_gb (an out-of-memory by another name)."""


def _out_of_memory(e: Exception) -> bool:
    return isinstance(e, OverLimit) or type(e).__name__ == "OutOfMemoryError"


def try_size(c: Candidate, device, steps: int, loss_impl: str,
             limit_bytes: float | None) -> dict:
    """Build the size, run 1 + steps training steps at micro-batch 1; its tokens/s (over the
    timed steps) and peak memory. OverLimit or the device's out-of-memory error escape."""
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    shape = c.shape
    T = c.shape.block_size
    g = torch.Generator().manual_seed(0)
    tok = torch.randint(0, shape.vocab_size, (1, T + 1), generator=g).to(device)
    x = tok[:, :T]
    y = tok[:, :T] if shape.sos_token else tok[:, 1:]
    model = timed = None
    try:   # building may be what runs out of memory
        model = build_model(shape, device, loss_impl=loss_impl, activation_checkpointing=True)
        n_params = model.num_params()
        timed = training_step(f"{c.family} {c.size}", model, lambda m: m(x, y)[1], T, None,
                              device, 1)
        timed_run(timed, 1, cuda)   # allocates the gradients and Adam's moments
        seconds = timed_run(timed, steps, cuda)
        if cuda:
            peak = torch.cuda.max_memory_allocated()
        else:   # the weights and Adam's moments left resident, and the gradients the step held
            peak = timed.resident() + sum(p.numel() * p.element_size() for p in model.parameters())
        if limit_bytes is not None and peak > limit_bytes:
            raise OverLimit(f"{peak / 1e9:.3g} GB > the {limit_bytes / 1e9:.3g} GB limit")
        return {"params": n_params, "tokens_per_s": steps * T / seconds,
                "step_s": seconds / steps, "peak_mem_gb": peak / 1e9}
    finally:
        del timed, model


def largest(candidates: list[Candidate], budget_s: float, steps: int = 2,
            memory_limit_gb: float | None = None, device=None,
            log=lambda m: print(m, file=sys.stderr, flush=True)) -> dict:
    """Try the candidates family by family (each family's sizes in the given order, smallest
    first). Sizes not reached within budget_s seconds are recorded as skipped."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = device.type == "cuda"
    loss_impl = "cce" if cuda else "standard"   # cce's CPU path compiles: slow, and no saving
    LOSSES[loss_impl]()   # a missing cut-cross-entropy is one clear error, before any size
    limit = memory_limit_gb * 1e9 if memory_limit_gb else None
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        if limit:   # a real limit: the allocator refuses past it, as a smaller GPU would
            total = torch.cuda.get_device_properties(device).total_memory
            torch.cuda.set_per_process_memory_fraction(min(1.0, limit / total), device)
    t0 = time.perf_counter()
    rows = []
    families = {}
    for c in candidates:
        fam = families.setdefault(c.family, {"family": c.family, "largest": None,
                                             "stopped": None})
        row = {"family": c.family, "size": c.size, "ctx": c.shape.block_size,
               "params": build_model(c.shape, "meta").num_params(), "fits": None,
               "tokens_per_s": None, "step_s": None, "peak_mem_gb": None, "error": None}
        rows.append(row)
        elapsed = time.perf_counter() - t0
        if fam["stopped"]:
            row["error"] = f"not tried: {fam['stopped']}"
            continue
        if elapsed > budget_s:
            row["error"] = f"skipped: the {budget_s:.0f}s budget was spent"
            continue
        log(f"[largest {elapsed:4.0f}s] {c.family} {c.size} ({row['params']:,} parameters, "
            f"context {c.shape.block_size})")
        try:
            row.update(try_size(c, device, steps, loss_impl, limit), fits=True)
            fam["largest"] = c.size
            log(f"  {row['tokens_per_s']:,.0f} tokens/s, peak {row['peak_mem_gb']:.1f} GB")
        except Exception as e:   # out of memory ends the family; anything else too, said so
            first = (str(e).strip().splitlines() or [""])[0]
            row.update(fits=False, error=f"{type(e).__name__}: {first}"[:300])
            fam["stopped"] = (f"{c.size} ran out of memory" if _out_of_memory(e)
                              else f"{c.size} failed")
            log(f"  {row['error']}")
        finally:
            free(device)
    env = environment(device, measure_matmul=False)
    return {**env, "options": f"loss_impl={loss_impl}, activation checkpointing, fused AdamW "
                              f"on CUDA, micro-batch 1, eager, {steps} timed steps after 1",
            "memory_limit_gb": memory_limit_gb, "budget_s": budget_s,
            "wall_s": round(time.perf_counter() - t0, 1), "families": list(families.values()),
            "rows": rows}


def to_markdown(doc: dict, command: str) -> str:
    head = [f"# Largest model that trains on one {doc['device']}", "",
            f"- torch {doc['torch']}, {doc['dtype']}; {doc['options']}",
            f"- memory limit: {doc['memory_limit_gb'] or 'the whole device'}"
            + ("" if doc["device"] != "cpu" else " (CPU: resident weights, gradients and "
               "optimizer state checked against it)"),
            f"- wall time {doc['wall_s']} s (budget {doc['budget_s']:.0f} s); "
            f"command: `{command}`", "",
            "| family | largest size that trains |", "|---|---|"]
    head += [f"| {f['family']} | {f['largest'] or 'none'}"
             + (f" ({f['stopped']})" if f["stopped"] else "") + " |" for f in doc["families"]]
    head += ["", "| family | size | parameters | context | trains | tokens/s | s/step | "
                 "peak GB | note |", "|---|---|---|---|---|---|---|---|---|"]
    for r in doc["rows"]:
        fits = {True: "yes", False: "no", None: ""}[r["fits"]]
        cells = [r["family"], r["size"], f"{r['params']:,}", str(r["ctx"]), fits,
                 f"{r['tokens_per_s']:,.0f}" if r["tokens_per_s"] else "",
                 f"{r['step_s']:.3f}" if r["step_s"] else "",
                 f"{r['peak_mem_gb']:.1f}" if r["peak_mem_gb"] is not None else "",
                 (r["error"] or "").replace("|", "/")]
        head.append("| " + " | ".join(cells) + " |")
    return "\n".join(head + [""])

