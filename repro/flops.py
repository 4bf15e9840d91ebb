"""Parameter, FLOP, memory and GPU-time arithmetic, plus MFU against a per-GPU peak table."""
from __future__ import annotations

# Dense bf16 tensor-core peaks without sparsity, FLOP/s (vendor datasheets). First match wins.
PEAK_BF16 = [
    ("H200", 989.4e12),
    ("H100 PCIe", 756.0e12),
    ("H100", 989.4e12),       # SXM5
    ("A100", 312.0e12),
    ("L40S", 362.1e12),
    ("A10G", 70.0e12),
    ("RTX 4090", 165.2e12),
    ("V100", 125.0e12),       # fp16
]
PLAN_MFU = 0.40               # MFU assumed when a plan converts FLOPs into GPU-hours
H100_PEAK = 989.4e12


def peak_flops(device_name: str) -> float | None:
    for key, value in PEAK_BF16:
        if key in device_name:
            return value
    return None


def matmul_params(n_params: int, cfg) -> int:
    """Parameters that take part in a matmul per token: all but the position table and,
    when the head is untied, the input embedding lookup."""
    n = n_params - cfg.block_size * cfg.n_embd
    return n if cfg.tie_embeddings else n - cfg.vocab_size * cfg.n_embd


def flops_6n(n_params: int) -> float:
    """Training FLOPs per token as the GPT-3 paper counts them (Table D.1: 6ND, N the whole
    parameter count, D the tokens): 175B x 300B tokens -> 3.14e23."""
    return 6 * n_params


def flops_per_token(n_params: int, cfg) -> float:
    """Training FLOPs per token as executed, used for MFU: 6N for the weights that take part
    in a matmul plus 12*L*T*d for attention scores (the PaLM appendix B convention, counted
    as dense for every layer, banded ones too)."""
    return 6 * matmul_params(n_params, cfg) + 12 * cfg.n_layer * cfg.block_size * cfg.n_embd


def memory_per_gpu_bytes(n_params: int, cfg, micro_batch: int, n_gpus: int = 1) -> dict:
    """Rough training memory: fp32 weights + grads + Adam moments (16 B/param, divided by
    n_gpus when fully sharded), and bf16 activations with flash attention (about 34*T*B*d
    bytes per layer, Korthikanti et al. 2022, no T^2 term) plus fp32 logits."""
    states = 16 * n_params / n_gpus
    T = cfg.block_size
    d = cfg.n_embd
    L = cfg.n_layer
    acts = 34 * T * micro_batch * d * L + 6 * T * micro_batch * cfg.vocab_size
    return {"states_gb": states / 1e9, "activations_gb": acts / 1e9,
            "total_gb": (states + acts) / 1e9}


def mfu(tokens_per_s: float, flops_token: float, device_name: str) -> float | None:
    peak = peak_flops(device_name)
    return tokens_per_s * flops_token / peak if peak else None
