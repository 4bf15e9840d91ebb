"""The linear probe of one checkpoint of an image run, beside that checkpoint's validation
generative loss (iGPT §4.2, Figure 3: "better generative models learn better representations").

The image task is rebuilt from the run's config (its palette is fitted with a fixed seed, so
the tokens are the run's), the checkpoint's weights loaded, the probe run by the paper's
protocol (repro.transfer.probe.probe_run) and the loss of the next-token objective measured on
the whole validation split (the images the probe chooses its layer on; never the test set).
Each result goes to the run's probe-<step>.json.
"""
from __future__ import annotations

import torch

from ..checkpoint import load_model, verified_steps
from ..errors import check
from ..rundir import RunDir
from ..step_scores import file_name
from .probe import probe_run

LOSS_BATCH = 64   # images per forward of the validation loss


@torch.no_grad()
def validation_loss(model, task, device) -> float:
    """Mean next-token loss (nats) over every validation image."""
    total, count = 0.0, 0
    for i in range(0, len(task.val_tokens), LOSS_BATCH):
        batch = task._batch(task.val_tokens[i:i + LOSS_BATCH])
        _, loss = model(batch["x"].to(device), batch["y"].to(device))
        n = batch["y"].numel()
        total, count = total + loss.item() * n, count + n
    return total / count


def probe_checkpoints(run_dir, steps: list[int] | None, device: str, log=print) -> list[dict]:
    """Probe each of `steps` (None: every kept checkpoint) of an image run into its
    probe-<step>.json; the results, in step order."""
    from ..data.tasks import make_task
    run = RunDir(run_dir).require_run("")
    steps = verified_steps(run.checkpoints) if steps is None else steps
    check(bool(steps), f"{run}: no complete checkpoint to probe")
    task, out = None, []
    for step in steps:
        model, cfg, path = load_model(run.path, log=log, step=step)
        check(cfg.data.kind == "images", f"{run}: a {cfg.data.kind} run; the probe reads images")
        task = task or make_task(cfg)
        model = model.to(device).eval()
        result = {"step": step, "checkpoint": path.name,
                  "val_loss": validation_loss(model, task, device),
                  "val_loss_images": len(task.val_tokens),
                  **probe_run(model, task.inputs, device, (task.train_tokens, task.ytr),
                              (task.val_tokens, task.yva), (task.test_tokens, task.yte))}
        run.write_json(file_name("probe", step), result)
        log(f"step {step}: validation loss {result['val_loss']:.4f}, probe (layer "
            f"{result['probe_best_layer']}) test accuracy "
            f"{100 * result['probe_test_accuracy']:.2f}")
        out.append(result)
    return out
