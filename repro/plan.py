"""The plan of a run, without training: parameters, tokens, FLOPs, memory, GPU-hours.

The model is built on the meta device, so even GPT-3 175B costs no memory; the count is
the model's own `num_params()`, not a formula.
"""
from __future__ import annotations

from .config import Config
from .flops import H100_PEAK, PLAN_MFU, flops_6n, flops_per_token, memory_per_gpu_bytes
from .model import build_model
from .schedule import BatchPlan


def plan(cfg: Config) -> dict:
    m = cfg.model
    if m.vocab_size == 0:  # char-level: the vocabulary comes from the data
        from .data.tasks import make_task
        m.vocab_size = make_task(cfg).vocab_size
    params = build_model(m, "meta").num_params()
    batches = BatchPlan(cfg)
    steps = batches.total_steps
    tokens = batches.tokens_before(steps)
    fpt = flops_per_token(params, m)
    total = fpt * tokens
    micro = cfg.train.micro_batch_size or cfg.train.batch_size
    return {
        "paper": cfg.paper, "size": cfg.size, "scale": cfg.scale,
        "n_layer": m.n_layer, "n_head": m.n_head, "n_embd": m.n_embd,
        "block_size": m.block_size, "vocab_size": m.vocab_size, "params": params,
        "attention": m.attention, "steps": steps, "tokens": tokens,
        "batch_size": cfg.train.batch_size, "batch_tokens": cfg.train.batch_size * m.block_size,
        "flops_per_token": fpt, "total_flops": total,
        "flops_6nd": flops_6n(params) * tokens,
        "memory_per_gpu_gb": memory_per_gpu_bytes(params, m, micro),
        "mfu_assumed": PLAN_MFU,
        "gpu_hours_h100": total / (H100_PEAK * PLAN_MFU) / 3600,
    }


def print_plan(info: dict) -> str:
    mem = info["memory_per_gpu_gb"]
    lines = [
        f"{info['paper']} size={info['size']} scale={info['scale']}",
        f"  model    {info['n_layer']} layers x {info['n_embd']} wide, {info['n_head']} heads, "
        f"context {info['block_size']}, vocab {info['vocab_size']:,}, "
        f"{info['attention']} attention",
        f"  params   {info['params']:,}",
        f"  tokens   {info['tokens']:,} in {info['steps']:,} steps of "
        f"{info['batch_tokens']:,} tokens",
        f"  compute  6ND (the papers' count, GPT-3 Table D.1): {info['flops_6nd']:.3e} FLOPs; "
        f"with attention (PaLM App. B, used for MFU and time): {info['total_flops']:.3e} "
        f"({info['flops_per_token']:.3e}/token)",
        f"  memory   {mem['states_gb']:.1f} GB weights+grads+Adam, {mem['activations_gb']:.1f} GB "
        f"activations per micro-batch (one GPU, no sharding)",
        f"  time     {info['gpu_hours_h100']:,.1f} H100/H200-hours (the same bf16 peak) at "
        f"{info['mfu_assumed']:.0%} MFU",
    ]
    if info.get("epochs") is not None:
        lines.append(f"  epochs   {info['epochs']:.2f} of the training split's unique tokens")
        if info["epochs"] > 1:
            lines.append("  WARNING  more than one epoch: every token is seen again (GPT-2/3 saw "
                         "their bulk data less than once); lower train.tokens or add data")
    lines += [f"  data     {k}: {v}" for k, v in info.get("data", {}).items()]
    return "\n".join(lines)


def data_epochs(cfg: Config) -> float | None:
    """Epochs the run takes of its training split's windows (tokenising the corpus once, as
    training would), or None for data that are not a local text corpus (hub data, images)."""
    if cfg.data.kind != "text" or cfg.data.dataset:
        return None
    from .data.tokens import load_tokens
    n = len(load_tokens(cfg.data, cfg.data.tokenizer).train)
    return epochs_of(BatchPlan(cfg).tokens_before(BatchPlan(cfg).total_steps), n,
                     cfg.model.block_size, cfg.data.stride)


def epochs_of(tokens: int, train_tokens: int, block_size: int, stride: int = 0) -> float:
    """Tokens trained over the unique tokens the windows cover: at most 1 means no token was
    seen twice (windows of stride block_size, drawn without replacement within an epoch)."""
    stride = stride or block_size
    windows = (train_tokens - 1 - block_size) // stride + 1
    return tokens / (windows * stride)
