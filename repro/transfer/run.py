"""One fine-tuning run: the weights it starts from (a pre-training run, a Hugging Face
checkpoint or a random init), the task's data, the Finetuner, and the run folder it writes."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from ..errors import ReproError


def newest_run(spec, scale: str, out: Path) -> Path:
    from ..rundir import RunDir
    from ..spec import run_group
    folder = out / run_group(spec, None, scale)
    found = [d for d in sorted(folder.glob("*/"))
             if RunDir(d).is_run() and RunDir(d).has_checkpoint()]
    if not found:
        raise ReproError(f"no {spec.name} {scale} run with a checkpoint under {folder}; train one "
                         f"(python -m repro {spec.name} --scale {scale}) or give --init RUN_DIR, "
                         f"--init random or --hf NAME_OR_DIR")
    return found[-1]


def load_init(spec, kind: str, where: str, scale: str, seed: int):
    """(our GPT, what pre-training it had: a dict for the run's config and the report)."""
    import torch
    if kind == "run":
        from ..checkpoint import load_model
        from ..rundir import RunDir
        model, cfg, ckpt = load_model(where)
        run = RunDir(where)
        summary = run.read_optional(RunDir.SUMMARY) or {}
        vals = [m["val_loss"] for m in run.metrics() if "val_loss" in m]
        info = {"kind": "run", "run": str(Path(where).resolve()), "run_id": run.name,
                "checkpoint": ckpt.name, "paper": cfg.paper, "scale": cfg.scale,
                "tokenizer": cfg.data.tokenizer,
                "tokens": summary.get("tokens"), "steps": summary.get("steps"),
                "final_val_loss": summary.get("final_val_loss", vals[-1] if vals else None),
                "finished": bool(summary)}
    elif kind == "hf":
        from ..interop.convert import from_hf
        model = from_hf(where)
        info = {"kind": "hf", "source": where, "tokenizer": spec.recipe.data.tokenizer}
    else:
        from ..model import build_model
        from ..spec import resolve
        torch.manual_seed(seed)
        model = build_model(resolve(spec, None, scale).model)
        info = {"kind": "random", "tokenizer": spec.recipe.data.tokenizer}
    m = model.config
    info.update(architecture=f"{m.n_layer}x{m.n_embd}, {m.n_head} heads, context {m.block_size}",
                params=model.num_params())
    return model, info


def run_finetune(spec, task: str, seed: int, overrides: list[str], recipe, kind: str, where: str,
                 scale: str, out: Path, device: str = "auto", progress: bool = True,
                 say=lambda m: None, transfer: int | None = None) -> dict:
    """Fine-tune one task from the chosen weights into a new run folder under out; the
    run's summary (with its dev scores). transfer: the pre-trained blocks kept (None: all)."""
    import torch

    from ..config import Config, TrainConfig
    from ..finetune_config import FinetuneConfig
    from ..data.glue import TASKS, describe
    from ..data.tokenizers import get_tokenizer
    from ..rundir import RunDir, run_id
    from ..trainer.setup import build_accelerator
    from .data import encode_task, is_regression, n_outputs
    from .finetune import Finetuner
    from .head import FinetuneModel, add_tokens
    from .inputs import Specials
    from .layers import transfer_layers
    from .recipe import finetune_group
    ft = spec.finetune
    gpt, init = load_init(spec, kind, where, scale, seed)
    n_layer = gpt.config.n_layer
    if transfer is not None:
        gpt = transfer_layers(gpt, transfer, seed)
    tok = get_tokenizer(spec.recipe.data.tokenizer)
    if gpt.config.vocab_size != tok.vocab_size:
        raise ReproError(f"the model has a vocabulary of {gpt.config.vocab_size:,} tokens, the "
                         f"{tok.name} tokenizer {tok.vocab_size:,}: not a {spec.name} model")
    specials = Specials.after(gpt.config.vocab_size)
    max_len = gpt.config.block_size
    size = ft.scales[scale]
    say(f"tokenizing {task} (cached after the first time)")
    data = encode_task(task, ft.tasks[task], tok, specials, max_len, size.max_train, size.max_dev)
    torch.manual_seed(seed)
    model = FinetuneModel(add_tokens(gpt, 3, torch.Generator().manual_seed(seed)),
                          n_outputs(task), recipe.clf_pdrop)
    acc = build_accelerator(Config(train=TrainConfig(device=device)))
    config = FinetuneConfig(
        paper=spec.name, scale=scale, task=task, input=ft.tasks[task], seed=seed,
        transfer_layers=n_layer if transfer is None else transfer, recipe=recipe,
        overrides=overrides, init=init, model=model.gpt.config,
        specials=dataclasses.asdict(specials), max_len=max_len,
        data={**describe(task), "train_examples": len(data["train"]),
              "dev_examples": len(data["dev"]), "max_train": size.max_train,
              "max_dev": size.max_dev},
        tokenizer={"name": tok.name, **tok.state()})
    group = Path(out) / finetune_group(spec.name, scale)
    named = overrides + [f"init={kind}:{where}"] + (
        [] if transfer is None else [f"transfer_layers={transfer}"])
    run = RunDir.create(group, f"{task}-{run_id(seed, named)}")
    log = (lambda m: print(m, file=sys.stderr))
    with run.training():
        trainer = Finetuner(model, data, recipe, TASKS[task].metrics, is_regression(task),
                            seed, acc, run, max_len, log=log)
        trainer.start(config)
        say(f"fine-tuning {task}: {trainer.total_steps} updates of {recipe.batch_size} on "
            f"{acc.device.type}; run {run}")
        summary = trainer.fit(progress=progress, label=f"{group.name} {task}")
    return {"task": task, "scale": scale, "seed": seed, "init": kind, **summary}
