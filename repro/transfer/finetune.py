"""The fine-tuning loop (on Accelerate: CPU or one GPU, bf16 autocast on a GPU): AdamW with the
trainer's parameter groups, the recipe's linear warmup and decay counted in updates, the task
loss plus lambda times the LM loss, gradient clipping, the dev set scored after every epoch.

A run folder gets config.json and env.json before the first step, metrics.jsonl as it goes
(losses every few steps, dev metrics after each epoch) and at the end dev_predictions.json (the
prediction for each dev example, which the report's intervals resample) and summary.json: the
dev metrics after the last epoch (no model selection on dev: the dev set is our test set). A
SIGTERM/SIGINT stops at the next step; summary.json then says where it stopped and has no
final metrics.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import ReproError
from ..finetune_config import FinetuneConfig, FinetuneRecipe
from ..provenance import environment
from ..rundir import MetricsLog, RunDir
from ..schedule import warmup_decay
from ..trainer.setup import param_groups
from ..trainer.signals import StopRequested
from .batches import Encoded, collate, epoch_batches, eval_batches, steps_per_epoch
from .head import FinetuneModel, task_loss
from .metrics import score

LOG_ROWS = 50        # about this many loss rows per run in metrics.jsonl (evidence stays small)
EVAL_BATCH = 64      # examples per dev forward


def schedule(recipe: FinetuneRecipe, total_steps: int):
    """LR multiplier of update i (0-based): linear warmup over warmup_fraction of the updates,
    then linear decay to 0 at the last. As in pre-training, update i runs at the schedule's
    value once it is done (counted in updates here, not tokens), so the first is not at 0."""
    warmup_updates = recipe.warmup_fraction * total_steps
    return lambda i: warmup_decay(i + 1, warmup_updates, total_steps, "linear", 0.0)


class Finetuner:
    def __init__(self, model: FinetuneModel, data: dict[str, Encoded], recipe: FinetuneRecipe,
                 metrics: tuple, regression: bool, seed: int, accelerator, run: RunDir,
                 max_len: int, log=print):
        self.recipe, self.metric_names, self.regression = recipe, metrics, regression
        self.data, self.seed, self.acc, self.run, self.max_len = data, seed, accelerator, run, max_len
        self.log = log
        self.views = data["train"].views
        self.steps_per_epoch = steps_per_epoch(len(data["train"]), recipe.batch_size)
        if self.steps_per_epoch == 0:
            raise ReproError(f"{len(data['train'])} training examples: fewer than one batch of "
                             f"{recipe.batch_size}")
        self.total_steps = self.steps_per_epoch * recipe.epochs
        fused = accelerator.device.type == "cuda"
        opt = torch.optim.AdamW(param_groups(model, recipe.weight_decay), lr=recipe.lr,
                                betas=(recipe.beta1, recipe.beta2), eps=recipe.eps, fused=fused)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(opt, schedule(recipe, self.total_steps))
        self.model, self.opt = accelerator.prepare(model, opt)
        self.n_params = sum(p.numel() for p in model.parameters())
        self.device_name = (torch.cuda.get_device_name(accelerator.device)
                            if accelerator.device.type == "cuda" else "cpu")

    def start(self, config: FinetuneConfig) -> None:
        self.run.write_json(RunDir.CONFIG, config.to_dict())
        self.run.write_json(RunDir.ENV, environment(self.device_name, self.seed, 1))

    def _batch(self, enc: Encoded, items) -> dict:
        # Pinned and non-blocking on a GPU: a copy from pageable memory would wait for the
        # previous update to finish, and the host could not queue the next one meanwhile.
        cuda = self.acc.device.type == "cuda"
        return {k: (v.pin_memory() if cuda else v).to(self.acc.device, non_blocking=cuda)
                for k, v in collate(enc, items, self.max_len).items()}

    def train_step(self, items) -> tuple[torch.Tensor, torch.Tensor | None]:
        b = self._batch(self.data["train"], items)
        lm = self.recipe.lm_coef > 0
        with self.acc.autocast():
            out, lm_loss = self.model(b["idx"], b["lengths"], self.views, lm)
        loss_task = task_loss(out, b["labels"], self.regression)
        loss = loss_task + self.recipe.lm_coef * lm_loss if lm else loss_task
        self.acc.backward(loss)
        if self.recipe.grad_clip > 0:
            self.acc.clip_grad_norm_(self.model.parameters(), self.recipe.grad_clip)
        self.opt.step()
        self.scheduler.step()
        self.opt.zero_grad(set_to_none=True)
        return loss_task.detach(), None if lm_loss is None else lm_loss.detach()

    @torch.no_grad()
    def evaluate(self) -> tuple[dict, np.ndarray]:
        """GLUE's metrics of the task on the dev set, and the prediction for each example."""
        dev = self.data["dev"]
        self.model.eval()
        pred = np.zeros(len(dev), dtype=np.float32 if self.regression else np.int64)
        for items in eval_batches(dev, EVAL_BATCH):
            b = self._batch(dev, items)
            with self.acc.autocast():
                out, _ = self.model(b["idx"], b["lengths"], self.views, False)
            out = out.float()
            pred[items] = (out.squeeze(-1) if self.regression else out.argmax(-1)).cpu().numpy()
        self.model.train()
        return score(self.metric_names, pred, dev.labels), pred

    def fit(self, progress: bool = True, label: str = "finetune") -> dict:
        metrics = MetricsLog(self.run / RunDir.METRICS)
        every = max(1, self.total_steps // LOG_ROWS)
        bar = tqdm(total=self.total_steps, disable=not progress, dynamic_ncols=True, desc=label)
        t0, step, dev, stopped = time.perf_counter(), 0, None, None
        self.model.train()
        with StopRequested() as stop:
            for epoch in range(self.recipe.epochs):
                for items in epoch_batches(self.data["train"], self.recipe.batch_size, self.seed,
                                           epoch):
                    lr = self.scheduler.get_last_lr()[0]
                    task, lm = self.train_step(items)
                    step += 1
                    bar.update(1)
                    if step % every == 0 or step == self.total_steps:
                        row = {"step": step, "epoch": step / self.steps_per_epoch,
                               "loss": task.item(), "lr": lr}
                        if lm is not None:
                            row["lm_loss"] = lm.item()
                        if not all(math.isfinite(v) for v in row.values()):
                            raise ReproError(f"loss became {row['loss']} (LM loss "
                                             f"{row.get('lm_loss')}) at step {step}; lower lr")
                        metrics.write(row)
                        bar.set_postfix(loss=f"{row['loss']:.3f}", refresh=False)
                    if stop.signal:
                        stopped = stop.signal
                        break
                if stopped:
                    break
                dev, predictions = self.evaluate()
                metrics.write({"step": step, "epoch": epoch + 1, "dev": dev})
                self.log(f"epoch {epoch + 1}/{self.recipe.epochs}: dev "
                         + ", ".join(f"{k} {100 * v:.2f}" for k, v in dev.items()))
        bar.close()
        wall = time.perf_counter() - t0
        summary = {"run_dir": str(self.run), "steps": step, "planned_steps": self.total_steps,
                   "epochs": step / self.steps_per_epoch, "wall_s": wall,
                   "examples_per_s": step * self.recipe.batch_size / max(wall, 1e-9),
                   "params": self.n_params, "device": self.device_name,
                   "train_examples": len(self.data["train"]), "dev_examples": len(self.data["dev"]),
                   "cut_to_context": {k: v.cut for k, v in self.data.items()}}
        if self.acc.device.type == "cuda":
            summary["peak_mem_gb"] = torch.cuda.max_memory_allocated() / 1e9
        if stopped:
            summary.update(completed=False, interrupted=True,
                           status=f"stopped by {stopped} at step {step} of {self.total_steps}")
        else:
            summary.update(completed=True, status="finished", dev=dev)
            self.run.write_json(RunDir.DEV_PREDICTIONS, {"dev_examples": len(predictions),
                                                         "predictions": _plain(predictions)})
        self.run.write_summary(summary)
        return summary


def _plain(pred: np.ndarray) -> list:
    """Class ids as ints; regression scores to 4 decimals (GLUE's gold has 3): small JSON."""
    return [round(float(p), 4) for p in pred] if pred.dtype.kind == "f" else pred.tolist()
