"""Training-step throughput of our GPT against the Hugging Face model of the same shape (or
against a variant of ours), measured the same way in one process on one device.

What is timed is the trainer's whole step: forward + loss, backward, clip_grad_norm_(1.0),
AdamW.step (fused on CUDA), zero_grad, under bf16 autocast on CUDA (fp32 on CPU).

Why alternating rounds (A, B, A, B, ...): clocks, temperature and neighbours drift over
minutes; timing all of A and then all of B would charge that drift to one side. Each
contender's figure is its median round, so one hiccup does not move it. Warm-up steps (the
torch.compile compilation included) run before any timing and are reported separately.

Why peak memory subtracts the other contender's resident state: both models and their Adam
moments live on the device at once, and a contender should not be charged for the other's.
"""
from __future__ import annotations

import gc
import re
import statistics
import sys
import time
import traceback
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Callable

import torch

from .attention import banded_causal, dense_causal
from .config import ModelConfig
from .flops import flops_per_token, mfu
from .model import build_model

NO_DROP = dict(embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0)
GPT2 = dict(vocab_size=50257, n_layer=12, n_head=12, n_embd=768, vocab_pad_multiple=64, **NO_DROP)
SHAPES = {  # ours; the logits are sliced back to vocab_size, so padding leaves the spec exact
    "gpt2": ModelConfig(block_size=1024, **GPT2),
    "gpt1": ModelConfig(**{**GPT2, "vocab_size": 40478}, block_size=512, norm_position="post",
                        final_norm=False, init="normal"),
    "gpt3s": ModelConfig(block_size=2048, attention="alternating", band_width=256, **GPT2),
    "igpt": ModelConfig(vocab_size=512, block_size=1024, n_layer=24, n_head=8, n_embd=512,
                        norm="rmsnorm", activation="gelu2", bias=False, tie_embeddings=False,
                        sos_token=True, init="sparse_transformer", zero_init_head=True, **NO_DROP),
}


# key -> (HF model class, config class, config extras, ids beyond ours, load options). Built
# from the config with our shape and dropout 0; everything else is HF's default, as a user
# gets it. OpenAIGPT's afn "gelu" is the tanh form, like ours; ImageGPT counts the sos id
# in its vocabulary (its head still predicts 512 colours). Only GPT-2 offers SDPA.
PEERS = {
    "hf-gpt2": ("GPT2LMHeadModel", "GPT2Config", dict(activation_function="gelu_new"), 0,
                dict(attn_implementation="sdpa")),
    "hf-gpt1": ("OpenAIGPTLMHeadModel", "OpenAIGPTConfig", dict(afn="gelu"), 0, {}),
    "hf-igpt": ("ImageGPTForCausalImageModeling", "ImageGPTConfig",
                dict(activation_function="quick_gelu"), 1, {}),
}


def build_peer(key: str, m: ModelConfig):
    import transformers
    model_cls, config_cls, extra, more_ids, load = PEERS[key]
    cfg = getattr(transformers, config_cls)(
        vocab_size=m.vocab_size + more_ids, n_positions=m.block_size, n_embd=m.n_embd,
        n_layer=m.n_layer, n_head=m.n_head, **NO_DROP, **extra)
    return getattr(transformers, model_cls)._from_config(cfg, **load)


@dataclass(frozen=True)
class Pair:
    key: str        # what --rows selects
    shape: str
    batch: int
    compiled: bool
    peer: str       # a PEERS key, or "dense": ours with attention="dense"


# Run order: the cheap eager pairs first, so their numbers exist whatever compile does; the
# pair whose story the others already tell (compiled GPT-2 at B32) last, so a time budget
# that runs out costs the least. DISPLAY is the report's order.
PAIRS = [Pair("gpt2-b16-eager", "gpt2", 16, False, "hf-gpt2"),
         Pair("gpt2-b32-eager", "gpt2", 32, False, "hf-gpt2"),
         Pair("igpt-b16-eager", "igpt", 16, False, "hf-igpt"),
         Pair("gpt2-b16-compiled", "gpt2", 16, True, "hf-gpt2"),
         Pair("gpt1-b32-compiled", "gpt1", 32, True, "hf-gpt1"),
         Pair("gpt3s-b8-banded", "gpt3s", 8, True, "dense"),
         Pair("igpt-b16-compiled", "igpt", 16, True, "hf-igpt"),
         Pair("gpt2-b32-compiled", "gpt2", 32, True, "hf-gpt2")]
ATTN = "attn"       # the attention microbenchmark's --rows key; runs right after the eager pairs
RUN_ORDER = [p.key for p in PAIRS[:3]] + [ATTN] + [p.key for p in PAIRS[3:]]
DISPLAY = ["gpt2-b16-eager", "gpt2-b16-compiled", "gpt2-b32-eager", "gpt2-b32-compiled",
           "gpt1-b32-compiled", "gpt3s-b8-banded", ATTN, "igpt-b16-compiled", "igpt-b16-eager"]
FULL = dict(warmup=2, compile_warmup=3, rounds=10, steps_per_round=2)   # 20 timed steps
QUICK = dict(warmup=1, compile_warmup=1, rounds=3, steps_per_round=1, batch=4)


def select(selectors: list[str] | None) -> list[str]:
    """Keys matching each selector exactly or as a prefix ("gpt2" -> every gpt2-* pair)."""
    if not selectors:
        return list(RUN_ORDER)
    picked = []
    for sel in selectors:
        hits = [k for k in DISPLAY if k == sel or k.startswith(sel + "-")]
        if not hits:
            from .errors import ReproError
            raise ReproError(f"--rows {sel}: no such row; rows: {', '.join(DISPLAY)}")
        picked += hits
    return [k for k in RUN_ORDER if k in picked]


def device_slug(name: str) -> str:
    """"NVIDIA H100 80GB HBM3" -> "h100": the first word holding a digit."""
    words = [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]
    return next((w for w in words if re.search(r"\d", w)), "-".join(words) or "unknown")


# ---- timing ----------------------------------------------------------------------------
@dataclass
class Timed:
    name: str
    step: Callable[[], None]
    tokens: int                                  # tokens per step
    warmup: int
    resident: Callable[[], int] = lambda: 0      # bytes that stay allocated between steps


def _timed_run(c: Timed, steps: int, cuda: bool) -> float:
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        c.step()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def time_rounds(contenders: list[Timed], device, rounds: int, per_round: int, log) -> list[dict]:
    cuda = device.type == "cuda"
    for c in contenders:
        log(f"  warm-up {c.name} ({c.warmup} steps)")
        c.warmup_s = _timed_run(c, c.warmup, cuda)
    resident = [c.resident() for c in contenders]
    times, peaks = [[] for _ in contenders], [0] * len(contenders)
    for _ in range(rounds):
        for i, c in enumerate(contenders):
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            times[i].append(_timed_run(c, per_round, cuda) / per_round)
            if cuda:
                others = sum(resident) - resident[i]
                peaks[i] = max(peaks[i], torch.cuda.max_memory_allocated() - others)
    return [{"tokens_per_s": c.tokens / statistics.median(t),
             "ms_per_step": statistics.median(t) * 1e3, "ms_min": min(t) * 1e3,
             "ms_max": max(t) * 1e3, "timed_steps": rounds * per_round,
             "warmup_s": round(c.warmup_s, 2), "peak_mem_gb": peak / 1e9 if cuda else None}
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


def _resident_bytes(params, opt) -> int:
    tensors = list(params) + [v for st in opt.state.values() for v in st.values()
                              if torch.is_tensor(v)]
    seen = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return sum(seen.values())


def training_step(name, module, loss_fn, tokens, compiled, device, warmup) -> Timed:
    """The trainer's step for any module; loss_fn(model) -> scalar loss."""
    module.to(device).train()
    model = torch.compile(module) if compiled else module
    params = list(module.parameters())   # tied weights appear once
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=6e-4, betas=(0.9, 0.95), eps=1e-8,
                            fused=device.type == "cuda")
    amp = ((lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda"
           else nullcontext)

    def step():
        with amp():
            loss = loss_fn(model)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    return Timed(name, step, tokens, warmup, lambda: _resident_bytes(params, opt))


def pair_rows(pair: Pair, shape: ModelConfig) -> list[dict]:
    """The two rows of a pair before timing: names, roles and the shared FLOPs/token."""
    B, mode = pair.batch, "compiled" if pair.compiled else "eager"
    ours = f"{pair.shape} ours B{B} {mode}"
    if pair.peer == "dense":
        names, roles = [f"{ours} {shape.attention} band {shape.band_width}", f"{ours} dense"], \
            ("ours", "variant")
    else:
        names, roles = [ours, f"{pair.shape} HF {PEERS[pair.peer][0]} B{B} {mode}"], ("ours", "peer")
    n = build_model(shape, "meta").num_params()   # exact, allocates nothing
    info = dict(key=pair.key, batch=B, ctx=shape.block_size, compiled=pair.compiled, params=n,
                flops_per_token=flops_per_token(n, shape))
    return [dict(name=names[0], role=roles[0], peer=names[1], **info),
            dict(name=names[1], role=roles[1], peer=None, **info)]


def pair_contenders(pair: Pair, shape: ModelConfig, names, device, warmup) -> list[Timed]:
    """[ours, peer-or-variant] on the same random token batch; losses as a user gets them."""
    B, T = pair.batch, shape.block_size
    g = torch.Generator().manual_seed(0)
    tok = torch.randint(0, shape.vocab_size, (B, T + 1), generator=g).to(device)
    x = tok[:, :T]   # iGPT predicts every pixel (the first from the sos slot), GPT the next
    y = x if shape.sos_token else tok[:, 1:]
    torch.manual_seed(0)

    def ours_loss(m):
        return m(x, y)[1]

    timed = [training_step(names[0], build_model(shape, device), ours_loss, B * T,
                           pair.compiled, device, warmup)]
    if pair.peer == "dense":
        other, loss = build_model(replace(shape, attention="dense"), device), ours_loss
    else:
        other, ids = build_peer(pair.peer, shape), x
        if shape.sos_token:   # HF iGPT takes the sos id as the first input token
            ids = torch.cat([torch.full_like(x[:, :1], shape.vocab_size), x[:, :-1]], dim=1)

        def loss(m):   # HF shifts labels itself: labels=input_ids is the documented use
            return m(input_ids=ids, labels=ids).loss
    timed.append(training_step(names[1], other, loss, B * T, pair.compiled, device, warmup))
    return timed


ATTN_SHAPE = {False: (8, 12, 2048, 64, 256), True: (2, 2, 128, 16, 32)}   # B, H, T, D, band


def attention_rows(quick: bool) -> list[dict]:
    B, H, T, D, band = ATTN_SHAPE[quick]
    shape = f"B{B} H{H} T{T} D{D}"
    names = [f"attention banded {band} fwd+bwd {shape}", f"attention dense fwd+bwd {shape}"]
    info = dict(key=ATTN, batch=B, ctx=T, compiled=False, params=None, flops_per_token=None)
    return [dict(name=names[0], role="ours", peer=names[1], **info),
            dict(name=names[1], role="variant", peer=None, **info)]


def attention_contenders(quick: bool, names, device, warmup) -> list[Timed]:
    """One layer's attention forward + backward: banded (band 256) vs dense causal."""
    B, H, T, D, band = ATTN_SHAPE[quick]
    dtype = torch.float32 if device.type == "cpu" else torch.bfloat16
    g = torch.Generator().manual_seed(0)
    q, k, v, grad = (torch.randn(B, H, T, D, generator=g).to(device, dtype) for _ in range(4))
    for t in (q, k, v):
        t.requires_grad_(True)

    def timed(name, fn):
        def step():
            fn(q, k, v).backward(grad)
            q.grad = k.grad = v.grad = None
        return Timed(name, step, B * T, warmup)

    return [timed(names[0], lambda a, b, c: banded_causal(a, b, c, band)),
            timed(names[1], dense_causal)]


def matmul_tflops(device, n: int = 8192, iters: int = 30) -> float:
    """Achievable bf16 tensor-core throughput on this device: a realistic MFU denominator."""
    a, b = (torch.randn(n, n, device=device, dtype=torch.bfloat16) for _ in range(2))
    mm = Timed("matmul", lambda: a @ b, 0, 0)
    _timed_run(mm, 3, cuda=True)   # cuBLAS heuristics and clocks settle
    return 2 * n ** 3 * iters / _timed_run(mm, iters, cuda=True) / 1e12


def _free(device):
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    torch._dynamo.reset()   # fresh compile caches per pair: no recompile limits, no dynamic shapes


def _quick_shape(shape: ModelConfig) -> ModelConfig:
    # a 50k-row head would dominate a 2x64 model on a CI CPU; 1000 still pads to 1024
    return replace(shape, n_layer=2, n_head=2, n_embd=64, block_size=64, band_width=16,
                   vocab_size=min(shape.vocab_size, 1000))


def run_bench(quick: bool = False, rows: list[str] | None = None, budget_s: float = 450.0,
              log=lambda m: print(m, file=sys.stderr, flush=True)) -> dict:
    """Time the selected rows; returns the report document (repro.cli.bench writes the files)."""
    threads = torch.get_num_threads()
    if quick:   # tiny matmuls gain nothing from threads, and a busy CI box makes them 50x slower
        torch.set_num_threads(1)
    try:
        return _run(quick, rows, budget_s, log)
    finally:
        torch.set_num_threads(threads)


def _run(quick: bool, rows, budget_s: float, log) -> dict:
    import transformers
    transformers.logging.set_verbosity_error()
    device = torch.device("cpu" if quick or not torch.cuda.is_available() else "cuda")
    cuda = device.type == "cuda"
    if cuda:   # what the trainer sets
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    name = torch.cuda.get_device_name(device) if cuda else "cpu"
    plan = QUICK if quick else FULL
    t_start = time.perf_counter()
    doc = {"device": name, "device_slug": device_slug(name), "quick": quick,
           "torch": torch.__version__, "transformers": transformers.__version__,
           "cuda": torch.version.cuda if cuda else None,
           "dtype": "bf16 autocast" if cuda else "fp32", "matmul_tflops": None,
           "timed_steps_per_contender": plan["rounds"] * plan["steps_per_round"]}
    if cuda:
        doc["matmul_tflops"] = matmul_tflops(device)
        log(f"[bench] 8192^3 bf16 matmul: {doc['matmul_tflops']:.1f} TFLOP/s")
    done, slowest, seen = [], 45.0, set()   # slowest compile warm-up: a guess until one is seen
    for key in select(rows):
        pair = next((p for p in PAIRS if p.key == key), None)
        if pair and quick:   # no compile, tiny shapes: pairs that then coincide run once
            pair = replace(pair, batch=QUICK["batch"], compiled=False)
            if (pair.shape, pair.peer) in seen:
                continue
            seen.add((pair.shape, pair.peer))
        shape = pair and (_quick_shape if quick else lambda s: s)(SHAPES[pair.shape])
        info = pair_rows(pair, shape) if pair else attention_rows(quick)
        elapsed = time.perf_counter() - t_start
        log(f"[bench {elapsed:4.0f}s] {key}" + (" (--quick: tiny, eager)" if quick else ""))
        timed = None
        try:
            cost = 2 * slowest + 15 if pair and pair.compiled else 20.0
            if cuda and elapsed + cost > budget_s:
                raise TimeoutError(f"skipped: {elapsed:.0f}s + about {cost:.0f}s would pass the "
                                   f"{budget_s:.0f}s budget; run it alone with --rows {key}")
            names = [r["name"] for r in info]
            warm = plan["compile_warmup"] if pair and pair.compiled else plan["warmup"]
            timed = (pair_contenders(pair, shape, names, device, warm) if pair
                     else attention_contenders(quick, names, device, warm))
            stats = time_rounds(timed, device, plan["rounds"], plan["steps_per_round"], log)
            if cuda:
                for c, st in zip(timed, stats):
                    st["kernel_ms"] = kernel_ms(c.step)
            if pair and pair.compiled:
                slowest = max([slowest] + [s["warmup_s"] for s in stats])
            for row, s in zip(info, stats):
                row.update(s, error=None)
        except Exception as e:   # OOM, compile failure, budget: recorded, the bench goes on
            if not isinstance(e, TimeoutError):
                traceback.print_exc(file=sys.stderr)
            first = (str(e).strip().splitlines() or [""])[0]
            for row in info:
                row.update(tokens_per_s=None, error=f"{type(e).__name__}: {first}"[:300])
            log(f"  error: {info[0]['error']}")
        finally:
            del timed   # drop the models before the next pair allocates
            _free(device)
        done += finalize(info, doc["device"], doc["matmul_tflops"])
    doc["rows"] = in_display_order(done)
    doc["attention_time_ratio"] = attention_time_ratio(doc["rows"])
    doc["wall_s"] = round(time.perf_counter() - t_start, 1)
    return doc


def finalize(rows: list[dict], device_name: str, matmul: float | None) -> list[dict]:
    """MFU against the datasheet and the measured matmul; ours/peer throughput ratio."""
    by_name = {r["name"]: r for r in rows}
    for r in rows:
        tps, fpt = r.get("tokens_per_s"), r.get("flops_per_token")
        r["mfu"] = mfu(tps, fpt, device_name) if tps and fpt else None
        r["mfu_vs_matmul"] = tps * fpt / (matmul * 1e12) if tps and fpt and matmul else None
        other = by_name.get(r.get("peer") or "")
        r["ratio_vs_peer"] = (tps / other["tokens_per_s"]
                              if tps and other and other.get("tokens_per_s") else None)
        r.setdefault("peak_mem_gb", None)
        r.setdefault("ms_per_step", None)
        r.setdefault("kernel_ms", None)
    return rows


def in_display_order(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: DISPLAY.index(r["key"]))   # stable: ours before peer


def attention_time_ratio(rows: list[dict], field: str | None = None) -> float | None:
    """Banded / dense cost of the attention microbenchmark (the target is <= 0.5): GPU kernel
    time where measured (what the layer costs inside a compiled step), else wall time."""
    attn = [r for r in rows if r["key"] == ATTN and r.get("ms_per_step")]
    if len(attn) != 2:
        return None
    field = field or ("kernel_ms" if all(r.get("kernel_ms") for r in attn) else "ms_per_step")
    return attn[0][field] / attn[1][field]
