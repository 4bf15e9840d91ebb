"""The one training loop, on Hugging Face Accelerate (CPU, one GPU, DDP/FSDP alike).

Invariants the tests hold it to:
- the global batch of step i is a pure function of (seed, i): the same under gradient
  accumulation, any world size and after a resume;
- each micro-batch's loss is weighted by its share of the global batch, so gradients are
  the same however the batch is split;
- no host sync inside the step except at log steps (`.item()` only there);
- a checkpoint holds model, optimizer, scheduler, RNG states and the step (the data cursor).
"""
from __future__ import annotations

import json
import math
import os
import signal
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import checkpoint
from .config import Config
from .data.tasks import make_task, sample_indices
from .errors import ReproError
from .flops import flops_per_token, mfu
from .model import GPT
from .rundir import MetricsLog, environment
from .schedule import BatchPlan, lr_multiplier


def build_accelerator(cfg: Config):
    from accelerate import Accelerator
    want = cfg.train.device
    if want == "cuda" and not torch.cuda.is_available():
        raise ReproError("--device cuda: no CUDA device is visible; use --device cpu")
    cpu = want == "cpu" or not torch.cuda.is_available()
    precision = cfg.train.precision
    if precision == "auto":
        precision = "bf16" if not cpu and torch.cuda.is_bf16_supported() else "fp32"
    if cpu and precision != "fp32":
        raise ReproError(f"train.precision={precision} needs a GPU; use fp32 on CPU")
    mp = {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[precision]
    if not cpu:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return Accelerator(cpu=cpu, mixed_precision=mp)


def param_groups(model: GPT, cfg: Config) -> list[dict]:
    """Decay matrices (optionally not the embeddings); never biases, norm gains or sos."""
    embeddings = {id(model.transformer.wte.weight), id(model.transformer.wpe.weight)}
    decay, no_decay = [], []
    for p in model.parameters():
        is_matrix = p.dim() >= 2 and (cfg.optim.decay_embeddings or id(p) not in embeddings)
        (decay if is_matrix else no_decay).append(p)
    wd = cfg.optim.weight_decay
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]


def _rekey(optim_sd: dict, key) -> dict:
    """An optimizer state dict with each parameter key k replaced by key[k] (index <-> name)."""
    return {"state": {key[k]: s for k, s in optim_sd["state"].items()},
            "param_groups": [{**g, "params": [key[k] for k in g["params"]]}
                             for g in optim_sd["param_groups"]]}


class StopRequested:
    """SIGTERM/SIGINT set a flag; the loop saves at the next step boundary and exits 0."""

    def __init__(self):
        self.signal = None
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signal = signal.Signals(signum).name
        signal.signal(signum, self._old[signum])  # a second Ctrl-C is not swallowed

    def __exit__(self, *exc):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


class Trainer:
    def __init__(self, cfg: Config, run_dir: Path, accelerator=None, log=print):
        self.cfg, self.run_dir, self.log = cfg, run_dir, log
        self.acc = accelerator or build_accelerator(cfg)
        self.is_main = self.acc.is_main_process
        torch.manual_seed(cfg.train.seed)
        np.random.seed(cfg.train.seed)
        self.task = make_task(cfg)
        m = cfg.model
        if m.vocab_size == 0:
            m.vocab_size = self.task.vocab_size
        if m.vocab_size < self.task.vocab_size:
            raise ReproError(f"the data has token ids up to {self.task.vocab_size - 1}, outside "
                             f"model.vocab_size={m.vocab_size}; raise model.vocab_size")
        self.plan = BatchPlan(cfg)
        self.world = self.acc.num_processes
        for b in self.plan.batch_values():
            if b % self.world:
                raise ReproError(f"a batch of {b} sequences cannot be split over {self.world} "
                                 f"processes; make train.batch_size a multiple of {self.world}")
        self.model = GPT(m)
        self.n_params = self.model.num_params()
        self.flops_token = flops_per_token(self.n_params, m)
        # Fused AdamW on GPUs, except under fp16: the grad scaler then hands the overflow check
        # to the fused kernel, whose step is always "called", so a skipped step would go unseen.
        fused = self.acc.device.type == "cuda" and self.acc.mixed_precision != "fp16"
        opt = torch.optim.AdamW(param_groups(self.model, cfg), lr=cfg.optim.lr,
                                betas=(cfg.optim.beta1, cfg.optim.beta2), eps=cfg.optim.eps,
                                fused=fused)
        horizon = cfg.train.tokens or self.plan.tokens_before(self.plan.total_steps)
        # The LR of step i uses the tokens seen once step i is done (no wasted 0-LR step).
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: lr_multiplier(
            self.plan.tokens_before(i + 1), cfg.schedule, horizon))
        if self.fsdp and not self.acc.is_fsdp2:
            raise ReproError("FSDP1 is not supported; use fsdp_version: 2 (configs/fsdp.yaml)")
        if os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true" and not self.fsdp:
            log("FSDP needs GPUs: accelerate runs this FSDP config as plain data parallel")
        model = torch.compile(self.model) if cfg.train.compile else self.model
        self.ddp_model, self.opt = self.acc.prepare(model, opt)
        self.step = 0
        self.device_name = (torch.cuda.get_device_name(self.acc.device)
                            if self.acc.device.type == "cuda" else "cpu")

    @property
    def module(self) -> GPT:
        """Our GPT inside the DDP/FSDP wrapper and torch.compile's: its state-dict keys are the
        same whether or not the run is compiled (no "_orig_mod." prefix)."""
        return self.acc.unwrap_model(self.ddp_model, keep_torch_compile=False)

    # ---- checkpoints ------------------------------------------------------------------
    # Under FSDP each rank holds a shard of the weights and of the AdamW state: gathering them
    # is a collective every rank must join, so state() runs on every rank and only rank 0
    # writes. The file is the same as without FSDP (full tensors, the optimizer keyed by
    # parameter index), so a run can be resumed with any world size and with or without FSDP.
    @property
    def fsdp(self) -> bool:
        from accelerate.utils import DistributedType
        return self.acc.distributed_type == DistributedType.FSDP

    def _param_names(self) -> list[str]:
        """The optimizer's parameters in index order, by name (how torch numbers them)."""
        names = {id(p): n for n, p in self.module.named_parameters()}
        return [names[id(p)] for g in self.opt.param_groups for p in g["params"]]

    def _full_state_dicts(self) -> tuple[dict, dict]:
        """(model, optimizer) state dicts, full tensors on the CPU of rank 0 (empty elsewhere)."""
        if not self.fsdp:
            return (self.module.state_dict(), self.opt.state_dict())
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict
        model_sd, optim_sd = get_state_dict(
            self.module, self.opt.optimizer,
            options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if optim_sd:   # keyed by name; number them as torch.optim does
            optim_sd = _rekey(optim_sd, {n: i for i, n in enumerate(self._param_names())})
        return model_sd, optim_sd

    def _load_state_dicts(self, model_sd: dict, optim_sd: dict) -> None:
        if not self.fsdp:
            self.module.load_state_dict(model_sd)
            self.opt.load_state_dict(optim_sd)
            return
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict
        # Every rank passes the full state; each keeps its own shard.
        set_state_dict(self.module, self.opt.optimizer, model_state_dict=model_sd,
                       optim_state_dict=_rekey(optim_sd, self._param_names()),
                       options=StateDictOptions(full_state_dict=True))

    def state(self) -> dict:
        """The checkpoint; every rank must call it (a collective under FSDP)."""
        model_sd, optim_sd = self._full_state_dicts()
        return {"step": self.step, "model": model_sd,
                "optimizer": optim_sd, "scheduler": self.scheduler.state_dict(),
                "rng": checkpoint.rng_state(), "config": self.cfg.to_dict(),
                "tokenizer": self.task.tokenizer_state()}

    def save(self) -> Path | None:
        self.acc.wait_for_everyone()
        path = None
        state = self.state() if self.is_main or self.fsdp else None
        if self.is_main:
            path = checkpoint.save(self.run_dir / "checkpoints", self.step, state,
                                   keep=self.cfg.train.keep_checkpoints)
        self.acc.wait_for_everyone()
        return path

    def resume(self) -> None:
        state, path = checkpoint.load_latest(self.run_dir / "checkpoints", log=self.log)
        self._load_state_dicts(state["model"], state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        checkpoint.set_rng_state(state["rng"])
        self.step = state["step"]
        self.log(f"resumed from {path.name} at step {self.step}")

    def full_model(self) -> GPT | None:
        """The trained model, whole, on rank 0 (None elsewhere); every rank must call it.
        Under FSDP the wrapped module only holds a shard and its forward is a collective, so
        rank 0 gets an unsharded copy to sample from alone."""
        if not self.fsdp:
            return self.module if self.is_main else None
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
        model_sd = get_model_state_dict(self.module, options=(
            StateDictOptions(full_state_dict=True, cpu_offload=True)))
        if not self.is_main:
            return None
        model = GPT(self.cfg.model)
        model.load_state_dict(model_sd)
        return model.to(self.acc.device)

    # ---- one step ---------------------------------------------------------------------
    def _to_device(self, batch: dict) -> dict:
        cuda = self.acc.device.type == "cuda"
        return {k: (v.pin_memory() if cuda else v).to(self.acc.device, non_blocking=cuda)
                for k, v in batch.items()}

    def global_items(self, step: int) -> np.ndarray:
        B = self.plan.batch_at(step)
        return sample_indices(self.cfg.train.seed, self.plan.sequences_before(step), B,
                              self.task.n_train)

    def train_step(self, step: int) -> torch.Tensor:
        """One optimizer step; returns this rank's share of the global mean loss (on device)."""
        items = self.global_items(step)
        B = len(items)
        per_rank = B // self.world
        mine = items[self.acc.process_index * per_rank:(self.acc.process_index + 1) * per_rank]
        mb = self.cfg.train.micro_batch_size or per_rank
        chunks = [mine[i:i + mb] for i in range(0, per_rank, mb)]
        loss_share = torch.zeros((), device=self.acc.device)
        for j, chunk in enumerate(chunks):
            batch = self._to_device(self.task.train_batch(chunk))
            last = j == len(chunks) - 1
            with (nullcontext() if last else self.acc.no_sync(self.ddp_model)):
                with self.acc.autocast():
                    _, loss = self.ddp_model(batch["x"], batch["y"], batch.get("mask"))
                weight = len(chunk) / B
                # DDP averages gradients over ranks; scaling by world makes that a global sum.
                self.acc.backward(loss * weight * self.world)
            loss_share += loss.detach() * weight
        if self.cfg.optim.grad_clip > 0:
            self.acc.clip_grad_norm_(self.ddp_model.parameters(), self.cfg.optim.grad_clip)
        self.opt.step()
        self.last_lr = self.scheduler.get_last_lr()[0]  # the rate this step used, for the log
        self.scheduler.step()
        self.opt.zero_grad(set_to_none=True)
        return loss_share

    @torch.no_grad()
    def evaluate(self) -> float:
        self.ddp_model.eval()
        # no larger per rank than a training micro-batch (the whole global batch could OOM)
        mb = self.cfg.train.micro_batch_size or max(self.cfg.train.batch_size // self.world, 1)
        batches = self.task.val_batches(mb)
        total = torch.zeros(2, device=self.acc.device)
        # Every rank runs the same number of forwards (under FSDP each one is a collective):
        # a rank short of a batch repeats one and does not count it.
        rounds = -(-len(batches) // self.world)
        for i in range(self.acc.process_index, rounds * self.world, self.world):
            batch = self._to_device(batches[i % len(batches)])
            with self.acc.autocast():
                _, loss = self.ddp_model(batch["x"], batch["y"], batch.get("mask"))
            if i < len(batches):
                total += torch.stack([loss.float() * len(batch["x"]), torch.tensor(
                    float(len(batch["x"])), device=self.acc.device)])
        total = self.acc.reduce(total, "sum")
        self.ddp_model.train()
        return (total[0] / total[1]).item()

    # ---- the loop ---------------------------------------------------------------------
    def fit(self, progress: bool = True) -> dict:
        cfg, t = self.cfg, self.cfg.train
        total_steps = self.plan.total_steps
        if self.is_main:
            (self.run_dir / "env.json").write_text(json.dumps(
                environment(self.device_name, t.seed, self.world), indent=2))
        metrics = MetricsLog(self.run_dir / "metrics.jsonl", self.step) if self.is_main else None
        self.ddp_model.train()
        bar = tqdm(total=total_steps, initial=self.step, disable=not (progress and self.is_main),
                   dynamic_ncols=True, desc=f"{cfg.paper}-{cfg.scale}")
        val_loss, last_loss, skipped = None, None, 0
        window_t, window_tokens = time.perf_counter(), 0
        t0 = time.perf_counter()
        with StopRequested() as stop:
            while self.step < total_steps:
                step = self.step
                loss_share = self.train_step(step)
                if self.acc.optimizer_step_was_skipped:  # fp16 overflow: counted, not fatal
                    skipped += 1
                self.step += 1
                window_tokens += self.plan.batch_at(step) * cfg.model.block_size
                done = self.step == total_steps
                is_eval = (t.eval_interval and self.step % t.eval_interval == 0) or done
                is_ckpt = (t.checkpoint_interval and self.step % t.checkpoint_interval == 0) or done
                # Checkpoint steps always check the loss first: a NaN is never saved.
                is_log = self.step % t.log_interval == 0 or is_eval or is_ckpt
                stopping = False
                # One process stops at the next step; several decide together at a log step
                # (a signal may reach the ranks at different steps, and a rank that stopped
                # alone would leave the others waiting in a collective).
                if is_log or (stop.signal and self.world == 1):
                    flag = torch.tensor(float(stop.signal is not None), device=loss_share.device)
                    loss, stops = self.acc.reduce(torch.stack([loss_share.float(), flag]),
                                                  "sum").tolist()
                    stopping = stops > 0
                    if not math.isfinite(loss):
                        bar.close()
                        good = checkpoint.newest_verified(self.run_dir / "checkpoints")
                        kept = (f"the last good checkpoint {good} is kept (--resume "
                                f"{self.run_dir})" if good else "no checkpoint was saved before it")
                        raise ReproError(f"loss became {loss} at step {self.step}; {kept}; "
                                         f"lower optim.lr or check the data")
                    now = time.perf_counter()
                    tps = window_tokens / max(now - window_t, 1e-9)
                    window_t, window_tokens = now, 0
                    row = {"step": self.step, "tokens": self.plan.tokens_before(self.step),
                           "loss": loss, "lr": self.last_lr,
                           "batch_size": self.plan.batch_at(step), "tokens_per_s": tps,
                           "batch_hash": self.task.batch_hash(self.global_items(step))}
                    if (u := mfu(tps / self.world, self.flops_token, self.device_name)) is not None:
                        row["mfu"] = u
                    if self.acc.device.type == "cuda":
                        row["peak_mem_gb"] = torch.cuda.max_memory_allocated() / 1e9
                    if skipped:
                        row["skipped_steps"] = skipped
                    if is_eval:
                        row["val_loss"] = val_loss = self.evaluate()
                    last_loss = loss
                    if metrics:
                        metrics.write(row)
                    bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tps:,.0f}", refresh=False)
                bar.update(1)
                if is_ckpt:
                    self.save()
                if is_eval or is_ckpt:  # tokens/s measures training only
                    window_t = time.perf_counter()
                if stopping and not done:
                    if not is_ckpt:
                        self.save()
                    bar.close()
                    why = stop.signal or "a signal to another rank"
                    self.log(f"{why}: saved at step {self.step}, resume with: "
                             f"python -m repro {cfg.paper} --resume {self.run_dir}")
                    return {"interrupted": True, "run_dir": str(self.run_dir), "steps": self.step}
        bar.close()
        wall = time.perf_counter() - t0
        summary = {"run_dir": str(self.run_dir), "paper": cfg.paper, "size": cfg.size,
                   "scale": cfg.scale, "steps": self.step,
                   "tokens": self.plan.tokens_before(self.step), "final_loss": last_loss,
                   "final_val_loss": val_loss, "wall_s": wall, "params": self.n_params,
                   "device": self.device_name, "world_size": self.world,
                   "data": self.task.describe()}
        model = self.full_model()
        if self.is_main:
            extra = self.task.finish(model.eval(), self.acc.device, self.run_dir)
            summary.update({k: v for k, v in extra.items() if k != "sample"})
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary
