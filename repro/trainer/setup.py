"""What a run is built from: the Accelerator (device, precision), AdamW's parameter groups and
the learning-rate schedule. Shared with the benchmark, so both step the same optimizer."""
from __future__ import annotations

import torch

from ..config import Config
from ..errors import ReproError
from ..schedule import BatchPlan, lr_multiplier
from .trackers import require_trackers


def accelerator_options(cfg: Config) -> dict:
    """Accelerator's cpu and mixed_precision for the run, or ReproError: checked before
    anything is created."""
    want = cfg.train.device
    if want == "cuda" and not torch.cuda.is_available():
        raise ReproError("--device cuda: no CUDA device is visible; use --device cpu")
    cpu = want == "cpu" or not torch.cuda.is_available()
    precision = cfg.train.precision
    if precision == "auto":
        precision = "bf16" if not cpu and torch.cuda.is_bf16_supported() else "fp32"
    if cpu and precision != "fp32":
        raise ReproError(f"train.precision={precision} needs a GPU; use fp32 on CPU")
    mixed = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[precision]
    return {"cpu": cpu, "mixed_precision": mixed}


def build_accelerator(cfg: Config, project_dir=None):
    """The run's Accelerator; with train.log_with, its trackers write under project_dir (the
    run folder: repro.trainer.trackers)."""
    from accelerate import Accelerator
    options = accelerator_options(cfg)
    if not options["cpu"]:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    names = require_trackers(cfg.train.log_with)
    return Accelerator(**options, log_with=names or None,
                       project_dir=str(project_dir) if project_dir else None)


def param_groups(model, weight_decay: float, decay_embeddings: bool = True) -> list[dict]:
    """Decay matrices (optionally not the embeddings); never biases, norm gains or sos. With
    decay_embeddings any module works (the benchmark's Hugging Face peers): only the split
    by dimension is needed."""
    embeddings = set() if decay_embeddings else {id(model.transformer.wte.weight),
                                                 id(model.transformer.wpe.weight)}
    decay, no_decay = [], []
    for p in model.parameters():
        is_matrix = p.dim() >= 2 and (decay_embeddings or id(p) not in embeddings)
        (decay if is_matrix else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model, cfg: Config, fused: bool) -> torch.optim.AdamW:
    o = cfg.optim
    return torch.optim.AdamW(param_groups(model, o.weight_decay, o.decay_embeddings), lr=o.lr,
                             betas=(o.beta1, o.beta2), eps=o.eps, fused=fused)


def build_scheduler(opt, cfg: Config, plan: BatchPlan):
    """The LR of step i uses the tokens seen once step i is done (no wasted 0-LR step)."""
    horizon = cfg.train.tokens
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda i: lr_multiplier(
        plan.tokens_before(i + 1), cfg.schedule, horizon))


# torch.compile modes that replay the compiled forward and backward as CUDA graphs
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")


def compile_model(model, mode: str = "default"):
    """torch.compile in train.compile_mode. Only the model's forward and backward are compiled
    (and, in CUDA_GRAPH_MODES, captured): clipping and the fused AdamW step stay eager, a few
    foreach kernels, so the learning rate stays a plain float that no graph holds."""
    return torch.compile(model, mode=None if mode == "default" else mode)


def keep_grads(params) -> None:
    """Zeroed .grad buffers made before any CUDA graph runs, for CUDA_GRAPH_MODES (then zero
    the gradients with set_to_none=False). Without them the first backward hands its own output
    buffers to .grad, and the next replay writes over them: gradient accumulation would add a
    micro-batch's gradient to itself. With them, every backward adds into buffers it does not
    own, as in eager."""
    for p in params:
        if p.requires_grad and p.grad is None:
            p.grad = torch.zeros_like(p)
