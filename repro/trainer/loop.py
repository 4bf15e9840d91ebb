"""The one training loop, on Hugging Face Accelerate (CPU, one GPU, DDP/FSDP alike).

Invariants the tests hold it to:
- the global batch of step i is a pure function of (seed, i): the same under gradient
  accumulation, any world size and after a resume;
- each micro-batch's loss is weighted by its share of the global batch, so gradients are
  the same however the batch is split;
- no host sync inside the step except at log steps (`.item()` only there), so the host
  queues the next steps while the GPU runs (train.loss_impl=cce adds one: see repro.model);
- the training forward returns no logits (nothing here reads them), so no (B, T, V) tensor
  is kept or copied to fp32 by Accelerate's mixed-precision wrapper;
- the config is resolved once (a vocabulary taken from the data included), written to
  config.json before the first step, and never changed after.
"""
from __future__ import annotations

import math
import os
import time
from contextlib import nullcontext

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import checkpoint
from ..config import Config
from ..data.tasks import make_task, sample_indices
from ..errors import ReproError
from ..flops import flops_per_token, mfu
from ..model import GPT
from ..provenance import environment
from ..rundir import MetricsLog, RunDir
from ..schedule import BatchPlan
from .batches import count_targets, pad_rows, to_device
from .cadence import Agreement, Cadence, Due, interrupts, saves
from .setup import (CUDA_GRAPH_MODES, build_accelerator, build_optimizer, build_scheduler,
                    compile_model, keep_grads)
from .signals import StopRequested
from .state import Checkpointing
from .steplog import StepLog
from .trackers import log_row, start_trackers


class Trainer(Checkpointing):
    def __init__(self, cfg: Config, run: RunDir, accelerator=None, log=print, status=None,
                 end_of_run=None):
        """log: messages a user must see (resume, signals); status: what a long start is
        doing (loading data, compiling), silent when progress output is off; end_of_run:
        (task, model, device, run) -> dict, the task's last work (repro.eval.end_of_run.finish
        from the CLI; none by default)."""
        self.run = run
        self.log = log
        self.end_of_run = end_of_run
        status = status or (lambda m: None)
        self.acc = accelerator or build_accelerator(cfg, project_dir=run.path)
        self.is_main = self.acc.is_main_process
        torch.manual_seed(cfg.train.seed)
        np.random.seed(cfg.train.seed)
        status(f"loading the data ({cfg.data.dataset or cfg.data.path or cfg.data.source}; "
            f"the first run tokenizes it once into the cache)")
        self.task = make_task(cfg)
        if cfg.model.vocab_size == 0:   # from the data (char-level): resolved here, once
            cfg = cfg.replace(model=dict(vocab_size=self.task.vocab_size))
        if cfg.model.vocab_size < self.task.vocab_size:
            raise ReproError(f"the data has token ids up to {self.task.vocab_size - 1}, outside "
                             f"model.vocab_size={cfg.model.vocab_size}; raise model.vocab_size")
        self.cfg = cfg
        self.plan = BatchPlan(cfg)
        self.world = self.acc.num_processes
        for b in self.plan.batch_values():
            if b % self.world:
                raise ReproError(f"a batch of {b} sequences cannot be split over {self.world} "
                                 f"processes; make train.batch_size a multiple of {self.world}")
        t = cfg.train
        self.model = GPT(cfg.model, loss_impl=t.loss_impl,
                         activation_checkpointing=t.activation_checkpointing)
        self.n_params = self.model.num_params()
        self.flops_token = flops_per_token(self.n_params, cfg.model)
        # Fused AdamW on GPUs, except under fp16: the grad scaler then hands the overflow check
        # to the fused kernel, whose step is always "called", so a skipped step would go unseen.
        fused = self.acc.device.type == "cuda" and self.acc.mixed_precision != "fp16"
        opt = build_optimizer(self.model, cfg, fused)
        self.scheduler = build_scheduler(opt, cfg, self.plan)
        if self.fsdp and not self.acc.is_fsdp2:
            raise ReproError("FSDP1 is not supported; use fsdp_version: 2 (configs/fsdp.yaml)")
        if os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true" and not self.fsdp:
            log("FSDP needs GPUs: accelerate runs this FSDP config as plain data parallel")
        self.cuda_graphs = t.compile and t.compile_mode in CUDA_GRAPH_MODES
        if self.cuda_graphs and self.fsdp:
            raise ReproError(f"train.compile_mode={t.compile_mode} (CUDA graphs) is not "
                             f"supported under FSDP; use train.compile_mode=default")
        if t.compile:
            status(f"compiling the model (torch.compile, mode {t.compile_mode}; the first "
                   f"steps take longer)")
        model = compile_model(self.model, t.compile_mode) if t.compile else self.model
        self.ddp_model, self.opt = self.acc.prepare(model, opt)
        if self.cuda_graphs:
            keep_grads(self.model.parameters())
        self.step = 0
        self.device_name = (torch.cuda.get_device_name(self.acc.device)
                            if self.acc.device.type == "cuda" else "cpu")

    @property
    def module(self) -> GPT:
        """Our GPT inside the DDP/FSDP wrapper and torch.compile's: its state-dict keys are the
        same whether or not the run is compiled (no "_orig_mod." prefix)."""
        return self.acc.unwrap_model(self.ddp_model, keep_torch_compile=False)

    # ---- one step ---------------------------------------------------------------------
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
            batch = to_device(self.task.train_batch(chunk), self.acc.device)
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
        self.opt.zero_grad(set_to_none=not self.cuda_graphs)   # see setup.keep_grads
        return loss_share

    @torch.no_grad()
    def evaluate(self, batches: list[dict] | None = None) -> float:
        """Mean loss over `batches` (default: the fixed validation set), split over the ranks."""
        self.ddp_model.eval()
        batches = batches if batches is not None else self.task.val_batches(self.eval_batch)
        rows = len(batches[0]["y"]) if batches else 0
        total = torch.zeros(2, device=self.acc.device)
        # Every rank runs the same number of forwards (under FSDP each one is a collective):
        # a rank short of a batch repeats one and does not count it.
        rounds = -(-len(batches) // self.world)
        for i in range(self.acc.process_index, rounds * self.world, self.world):
            real = batches[i % len(batches)]
            batch = to_device(pad_rows(real, rows), self.acc.device)
            with self.acc.autocast():
                _, loss = self.ddp_model(batch["x"], batch["y"], batch.get("mask"))
            if i < len(batches):
                n = float(count_targets(real))   # counted on the host: no sync per batch
                total += torch.stack([loss.float() * n, torch.tensor(n, device=self.acc.device)])
        total = self.acc.reduce(total, "sum")
        self.ddp_model.train()
        return (total[0] / total[1]).item()

    @property
    def eval_batch(self) -> int:
        """No larger per rank than a training micro-batch (the whole global batch could OOM)."""
        return self.cfg.train.micro_batch_size or max(self.cfg.train.batch_size // self.world, 1)

    # ---- the loop ---------------------------------------------------------------------
    def start(self) -> None:
        """Write what the run is before its first step: config.json, and env.json (a resume
        keeps the first start's environment and adds its own under "resumed"); start the
        trackers of train.log_with."""
        if not self.is_main:
            return
        start_trackers(self.acc, self.run, self.cfg.to_dict(), self.step)
        self.run.write_json(RunDir.CONFIG, self.cfg.to_dict())
        env = environment(self.device_name, self.cfg.train.seed, self.world)
        if self.step and (self.run / RunDir.ENV).is_file():
            first = self.run.read_json(RunDir.ENV)
            env = {**first, "resumed": first.get("resumed", []) + [{**env, "at_step": self.step}]}
        self.run.write_json(RunDir.ENV, env)

    def fit(self, progress: bool = True) -> dict:
        """Train to the plan's last step; on a signal, save and return early."""
        cadence = Cadence(self.cfg.train, self.plan.total_steps)
        started = time.perf_counter()
        self.skipped = 0
        self.ddp_model.train()
        with StopRequested() as stop, self._step_log(progress) as steps:
            while self.step < self.plan.total_steps:
                due, agreed = self._one_step(cadence, stop, steps)
                if saves(due, agreed):
                    self.save()
                    cadence.saved()
                if due.eval or due.ckpt or agreed.save:   # tokens/s measures training only
                    steps.meter.restart()
                if interrupts(due, agreed):
                    return self._interrupted(stop, steps)
        return self._finish(time.perf_counter() - started, steps.last_loss, steps.val_loss)

    def _step_log(self, progress: bool) -> StepLog:
        metrics = MetricsLog(self.run / RunDir.METRICS, self.step) if self.is_main else None
        bar = tqdm(total=self.plan.total_steps, initial=self.step, dynamic_ncols=True,
                   disable=not (progress and self.is_main),
                   desc=f"{self.cfg.paper}-{self.cfg.scale}")
        return StepLog(metrics, bar, track=lambda row: log_row(self.acc, row))

    def _one_step(self, cadence: Cadence, stop: StopRequested,
                  steps: StepLog) -> tuple[Due, Agreement]:
        """One optimizer step, and at a log step the agreement of the ranks and the metrics."""
        step = self.step
        loss_share = self.train_step(step)
        if self.acc.optimizer_step_was_skipped:  # fp16 overflow: counted, not fatal
            self.skipped += 1
        self.step += 1
        steps.meter.add(self.plan.batch_at(step) * self.cfg.model.block_size)
        due = cadence.due(self.step)
        agreed = Agreement()
        # One process stops at the next step; several decide together at a log step (a signal
        # may reach the ranks at different steps, and a rank that stopped alone would leave
        # the others waiting in a collective).
        if due.log or (stop.signal and self.world == 1):
            # host work before the sync, while the GPU still runs the step
            batch_hash = self.task.batch_hash(self.global_items(step))
            agreed = self._agree(loss_share, stop, cadence)
            row = self._metrics_row(step, agreed.loss, batch_hash, steps.meter.rate())
            if due.eval:
                row["val_loss"] = self.evaluate()
            steps.write(row)
        steps.bar.update(1)
        return due, agreed

    def _interrupted(self, stop: StopRequested, steps: StepLog) -> dict:
        steps.close()
        why = stop.signal or "a signal to another rank"
        self.log(f"{why}: saved at step {self.step}, resume with: "
                 f"python -m repro {self.cfg.paper} --resume {self.run}")
        return {"interrupted": True, "run_dir": str(self.run), "steps": self.step}

    def _agree(self, loss_share, stop: StopRequested, cadence: Cadence) -> Agreement:
        """One all-reduce at a log step: the global loss, whether any rank was signalled, and
        whether the main process's clock says a periodic checkpoint is due. A non-finite loss
        stops the run here, before anything of this step is logged or saved."""
        flags = [float(stop.signal is not None), float(self.is_main and cadence.time_to_save())]
        packed = torch.cat([loss_share.float().view(1),
                            torch.tensor(flags, device=loss_share.device)])
        loss, stops, saves_now = self.acc.reduce(packed, "sum").tolist()
        if not math.isfinite(loss):
            good = checkpoint.newest_verified(self.run.checkpoints)
            kept = (f"the last good checkpoint {good} is kept (--resume {self.run})" if good
                    else "no checkpoint was saved before it")
            raise ReproError(f"loss became {loss} at step {self.step}; {kept}; "
                             f"lower optim.lr or check the data")
        return Agreement(loss=loss, stop=stops > 0, save=saves_now > 0)

    def _metrics_row(self, step: int, loss: float, batch_hash: str, tps: float) -> dict:
        """The metrics.jsonl row of a log step (step is the 0-based index of the step taken;
        tps: training tokens/s since the last reading)."""
        row = {"step": self.step, "tokens": self.plan.tokens_before(self.step), "loss": loss,
               "lr": self.last_lr, "batch_size": self.plan.batch_at(step), "tokens_per_s": tps,
               "batch_hash": batch_hash}
        if (u := mfu(tps / self.world, self.flops_token, self.device_name)) is not None:
            row["mfu"] = u
        if self.acc.device.type == "cuda":
            row["peak_mem_gb"] = torch.cuda.max_memory_allocated() / 1e9
        if self.skipped:
            row["skipped_steps"] = self.skipped
        return row

    def _finish(self, wall: float, last_loss, val_loss) -> dict:
        """The end of a run: the task's one-time evaluations (the whole validation split, a
        test set scored once), its end-of-run work (samples, probes) and summary.json."""
        cfg = self.cfg
        summary = {"run_dir": str(self.run), "paper": cfg.paper, "size": cfg.size,
                   "scale": cfg.scale, "steps": self.step,
                   "tokens": self.plan.tokens_before(self.step), "final_loss": last_loss,
                   "final_val_loss": val_loss, "wall_s": wall, "params": self.n_params,
                   "device": self.device_name, "world_size": self.world,
                   "data": self.task.describe()}
        for name, batches in self.task.final_evaluations(self.eval_batch).items():
            summary[name] = self.evaluate(batches)
        model = self.full_model()
        if self.is_main:
            extra = (self.end_of_run(self.task, model.eval(), self.acc.device, self.run)
                     if self.end_of_run else {})
            summary.update({k: v for k, v in extra.items() if k != "sample"})
            self.run.write_summary(summary)
        return summary
