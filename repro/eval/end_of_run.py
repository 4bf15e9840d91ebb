"""The end of a training run: what each task writes and scores once its model is trained.

Above the data layer on purpose: the tasks (repro.data) only make batches; the samples, the
held-out exact match and iGPT's linear probe read a task's data and a trained model, write
run artifacts and return the numbers summary.json keeps. The trainer calls `finish` on the
main process with the full model in eval mode (Trainer(end_of_run=finish)).
"""
from __future__ import annotations

import numpy as np
import torch

from ..data import images as im
from ..data import palette as pal
from ..rundir import RunDir
from ..transfer.probe import probe_run

SAMPLE_SCALE = 4   # the image grid is enlarged (nearest neighbour) so 32-px images are visible
IMAGES_SHOWN = 16  # real test images beside as many samples, in rows of 8


@torch.no_grad()
def text_sample(task, model, device, run: RunDir) -> dict:
    """A text sample from the trained model, prompted with the start of the val split."""
    if not task.sample_tokens:
        return {}
    prompt = torch.from_numpy(np.asarray(task.data.val[:16], dtype=np.int64))[None].to(device)
    torch.manual_seed(0)
    out = model.generate(prompt, task.sample_tokens, temperature=0.8, top_k=40)
    text = task.tokenizer.decode(out[0].tolist())
    (run / run.SAMPLE).write_text(text)
    return {"sample": text}


@torch.no_grad()
def heldout_exact_match(task, model, device, run: RunDir) -> dict:
    """Greedy-decode the answer of every held-out addition problem; exact match or not."""
    n = task.ndigit
    digits = torch.from_numpy(task.digits(task.test_ids)).to(device)
    out = model.generate(digits[:, :2 * n], n + 1, do_sample=False)
    correct = (out[:, 2 * n:] == digits[:, 2 * n:]).all(dim=1).cpu().numpy()
    wrong = [f"{int(i) // 10 ** n} + {int(i) % 10 ** n}"
             for i in task.test_ids[~correct][:20]]
    result = {"heldout_accuracy": float(correct.mean()),
              "heldout_errors": int((~correct).sum()),
              "heldout_problems": int(len(correct)), "error_examples": wrong}
    run.write_json(run.HELDOUT, result)
    return result


@torch.no_grad()
def image_samples_and_probe(task, model, device, run: RunDir) -> dict:
    """The palette, a grid of real test images over sampled ones, and the linear probe
    (layer chosen on the validation split, test scored once)."""
    s = task.cfg.data.image_size
    pal.save_palette(run / run.PALETTE, task.palette)
    torch.manual_seed(0)
    n = IMAGES_SHOWN
    prefix = task.test_tokens[:n, :0 if task.sos else 1].to(device)
    samples = model.generate(prefix, s * s - prefix.size(1), temperature=1.0)
    sampled = pal.decode(samples.cpu(), task.palette, s)
    grid = np.concatenate([im.image_grid(task.test_images[:n], nrow=8),
                           im.image_grid(sampled, nrow=8)])
    _save_png(run / run.SAMPLES, grid.repeat(SAMPLE_SCALE, 0).repeat(SAMPLE_SCALE, 1))
    result = probe_run(model, task.inputs, device,
                       (task.train_tokens, task.ytr), (task.val_tokens, task.yva),
                       (task.test_tokens, task.yte))
    run.write_json(run.PROBE, result)
    return {k: result[k] for k in ("probe_best_layer", "probe_test_accuracy")}


def _save_png(path, array: np.ndarray) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.imsave(path, array)


# Each task kind's end-of-run work (Task.kind).
WORK = {"text": text_sample, "addition": heldout_exact_match, "images": image_samples_and_probe}


def finish(task, model, device, run: RunDir) -> dict:
    """Run the task's end-of-run work; returns what goes into summary.json (and the text
    sample, which stays in its own file)."""
    return WORK[task.kind](task, model, device, run)
