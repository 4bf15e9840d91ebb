"""`python -m repro <paper> finetune --task T [--init RUN_DIR | --init random | --hf NAME_OR_DIR]
[--scale S] [--seed N] [--set key=value ...] [--out runs] [--report-dir DIR] [--no-report]
[--json] [--no-progress] [--device D]`: fine-tune a model on a GLUE task with the paper's recipe
(its spec's `finetune`), score the dev set, then write the fine-tuning report.

Where the weights come from: --init RUN_DIR (a pre-training run of this paper: its newest
verified checkpoint), --init random (the scale's architecture, untrained), --hf (a Hugging
Face checkpoint or folder); without either, the scale's default (tiny: random; small and
medium: the newest run of that scale under --out; paper: the released weights). --scale
defaults to the --init run's own scale (paper for --hf, tiny otherwise). --set changes the
recipe, e.g. lm_coef=0 (no auxiliary LM loss).

Each run is a folder runs/<paper>-finetune-<scale>/<task>-<time>-s<seed>-<hash>/.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

from ..errors import ReproError
from . import Parser, papers, spec_of
from .train import REPORTS


def parser(paper: str, tasks) -> Parser:
    p = Parser(prog=f"repro {paper} finetune", description="Fine-tune a model on a GLUE task "
               "with the paper's recipe, score the dev set, write the fine-tuning report.")
    p.add_argument("--task", required=True, choices=list(tasks))
    p.add_argument("--init", metavar="RUN_DIR|random", help="a pre-training run folder, or random "
                   "(default: the scale's: tiny random; small, medium the newest run of that "
                   "scale under --out; paper the released weights)")
    p.add_argument("--hf", metavar="NAME_OR_DIR", help="a Hugging Face model id or folder")
    p.add_argument("--scale", help="tiny | small | medium | paper (default: the --init run's; "
                   "paper with --hf; else tiny)")
    p.add_argument("--seed", type=int, default=0, help="seed of the head, data order, dropout")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="change a recipe value, e.g. lm_coef=0 (repeatable)")
    p.add_argument("--out", default="runs", help="root folder of run folders (default runs)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--report-dir", default=str(REPORTS / "local"),
                   help="where the report goes (default reports/local)")
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    p.add_argument("--json", action="store_true", help="print the run's summary as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    return p


def choose_init(spec, args) -> tuple[str, str, str]:
    """(kind, where, scale): kind is "run", "hf" or "random"."""
    ft = spec.finetune
    if args.init and args.hf:
        raise ReproError("--init and --hf both given; the weights come from one of them")
    if args.scale is not None and args.scale not in ft.scales:
        raise ReproError(f"unknown scale {args.scale!r} for fine-tuning; choose from: "
                         f"{', '.join(ft.scales)}")
    if args.hf:
        return "hf", args.hf, args.scale or "paper"
    if args.init == "random":
        return "random", "", args.scale or "tiny"
    if args.init:
        scale = run_scale(spec, Path(args.init))
        if args.scale and args.scale != scale:
            raise ReproError(f"--init {args.init} is a {spec.name} {scale} run; --scale "
                             f"{args.scale} disagrees (leave --scale out)")
        return "run", args.init, scale
    scale = args.scale or "tiny"
    default = ft.scales[scale].init
    if default.startswith("hf:"):
        return "hf", default[3:], scale
    if default == "random":
        return "random", "", scale
    return "run", str(newest_run(spec, scale, Path(args.out))), scale


def run_scale(spec, run_dir: Path) -> str:
    """The scale of a pre-training run of this paper, or ReproError naming what is wrong."""
    from ..rundir import RunDir
    run = RunDir(run_dir)
    if run.is_evidence():
        raise ReproError(f"--init {run_dir}: a report's evidence copy (no weights); the run was "
                         f"at {run.evidence_origin()}")
    if not run.has_config():
        raise ReproError(f"--init {run_dir}: not a run folder (no {RunDir.CONFIG})")
    cfg = run.read_json(RunDir.CONFIG)
    if cfg.get("paper") != spec.name or "recipe" in cfg:
        what = "a fine-tuning run" if "recipe" in cfg else f"a {cfg.get('paper') or 'unknown'} run"
        raise ReproError(f"--init {run_dir}: {what}, not a {spec.name} pre-training run")
    scale = cfg.get("scale")
    if scale not in spec.finetune.scales:
        raise ReproError(f"--init {run_dir}: a {scale!r} run; fine-tuning scales: "
                         f"{', '.join(spec.finetune.scales)}")
    return scale


def newest_run(spec, scale: str, out: Path) -> Path:
    from ..rundir import CHECKPOINT_PATTERN, RunDir
    from ..spec import run_group
    folder = out / run_group(spec, None, scale)
    found = [d for d in sorted(folder.glob("*/")) if RunDir(d).is_run()
             and any((d / RunDir.CHECKPOINTS).glob(CHECKPOINT_PATTERN))]
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


def main(paper: str, argv: list[str]) -> None:
    spec = spec_of(paper)
    if spec.finetune is None:
        able = [name for name, s in papers().items() if s.finetune is not None]
        raise ReproError(f"{paper} has no fine-tuning recipe; papers that fine-tune: "
                         f"{', '.join(able)}")
    ft = spec.finetune
    args = parser(paper, ft.tasks).parse_args(argv)
    if args.no_progress:
        os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
    from ..transfer.recipe import apply_overrides
    recipe = apply_overrides(ft.recipe, args.overrides)
    kind, where, scale = choose_init(spec, args)
    say = (lambda m: None) if args.no_progress else (lambda m: print(f"repro: {m}", file=sys.stderr))
    say(f"loading the {kind} model{' ' + where if where else ''} (importing torch)")
    summary = run_finetune(spec, args, recipe, kind, where, scale, say)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        dev = summary.get("dev") or {}
        print(f"{args.task} ({scale}, seed {args.seed}): "
              + (", ".join(f"{k} {100 * v:.2f}" for k, v in dev.items()) or summary["status"])
              + f"; run {summary['run_dir']}", file=sys.stderr)
    if summary.get("completed") and not args.no_report:
        write_run_report(spec, scale, Path(summary["run_dir"]), Path(args.report_dir))


def run_finetune(spec, args, recipe, kind: str, where: str, scale: str, say) -> dict:
    import shutil

    import torch

    from ..config import Config, TrainConfig
    from ..data.glue import TASKS, describe
    from ..data.tokenizers import get_tokenizer
    from ..rundir import RunDir, run_id
    from ..trainer.setup import build_accelerator
    from ..transfer.data import encode_task, is_regression, n_outputs
    from ..transfer.finetune import Finetuner
    from ..transfer.head import FinetuneModel, add_tokens
    from ..transfer.inputs import Specials
    from ..transfer.recipe import finetune_group
    ft, task, seed = spec.finetune, args.task, args.seed
    gpt, init = load_init(spec, kind, where, scale, seed)
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
    acc = build_accelerator(Config(train=TrainConfig(device=args.device)))
    config = {"paper": spec.name, "scale": scale, "task": task, "input": ft.tasks[task],
              "seed": seed, "recipe": dataclasses.asdict(recipe), "overrides": args.overrides,
              "init": init, "model": dataclasses.asdict(model.gpt.config),
              "specials": dataclasses.asdict(specials), "max_len": max_len,
              "data": {**describe(task), "train_examples": len(data["train"]),
                       "dev_examples": len(data["dev"]), "max_train": size.max_train,
                       "max_dev": size.max_dev},
              "tokenizer": {"name": tok.name, **tok.state()}}
    group = Path(args.out) / finetune_group(spec.name, scale)
    run = RunDir.create(group, f"{task}-{run_id(seed, args.overrides + [f'init={kind}:{where}'])}")
    log = (lambda m: print(m, file=sys.stderr))
    try:
        with run.lock():
            trainer = Finetuner(model, data, recipe, TASKS[task].metrics, is_regression(task),
                                seed, acc, run, max_len, log=log)
            trainer.start(config)
            say(f"fine-tuning {task}: {trainer.total_steps} updates of {recipe.batch_size} on "
                f"{acc.device.type}; run {run}")
            summary = trainer.fit(progress=not args.no_progress,
                                  label=f"{group.name} {task}")
    except BaseException:
        if not (run / RunDir.METRICS).is_file() or not (run / RunDir.METRICS).stat().st_size:
            shutil.rmtree(run.path, ignore_errors=True)   # a failed start leaves no empty run
        raise
    return {"task": task, "scale": scale, "seed": seed, "init": kind, **summary}


def write_run_report(spec, scale: str, run_dir: Path, report_dir: Path) -> None:
    """The fine-tuning report of the runs root this run belongs to, beside the committed
    reference; a failure here says so and loses nothing (the run is saved)."""
    from ..report.finetune import write_finetune_report
    try:
        out = write_finetune_report(spec, scale, report_dir, runs_root=run_dir.parent.parent,
                                    reference_root=REPORTS / "runs")
    except Exception as e:   # noqa: BLE001 - any failure of the report, after a saved run
        why = str(e) if isinstance(e, ReproError) else f"{type(e).__name__}: {e}"
        raise ReproError(f"the run finished and is saved in {run_dir}, but its report could "
                         f"not be written: {why.splitlines()[0] if why else ''}") from None
    print(f"report: {out}", file=sys.stderr)
