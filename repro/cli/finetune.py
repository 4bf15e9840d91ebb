"""`python -m repro <paper> finetune --task T [--init RUN_DIR | --init random | --hf NAME_OR_DIR]
[--scale S] [--seed N] [--transfer-layers K] [--set key=value ...] [--out runs] [--report-dir DIR]
[--no-report] [--json] [--no-progress] [--device D]`: fine-tune a model on a GLUE task with the
paper's recipe (its spec's `finetune`), score the dev set, then write the fine-tuning report.

Where the weights come from: --init RUN_DIR (a pre-training run of this paper: its newest
verified checkpoint), --init random (the scale's architecture, untrained), --hf (a Hugging
Face checkpoint or folder); without either, the scale's default (tiny: random; small and
medium: the newest run of that scale under --out; paper: the released weights). --scale
defaults to the --init run's own scale (paper for --hf, tiny otherwise). --set changes the
recipe, e.g. lm_coef=0 (no auxiliary LM loss).

Each run is a folder runs/<paper>-finetune-<scale>/<task>-<time>-s<seed>-<hash>/.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ..errors import ReproError
from ..numbers import number
from ..outputs import output_folder
from . import Parser, papers, report_after_run, spec_of
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
    p.add_argument("--seed", type=number("--seed", minimum=0), default=0,
                   help="seed of the head, data order, dropout")
    p.add_argument("--transfer-layers", type=number("--transfer-layers", minimum=0), metavar="K",
                   help="start from the pre-trained embeddings and first K blocks, the rest "
                   "randomly initialised (GPT-1 Figure 2 left; 0: embeddings only; default: the "
                   "whole model)")
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
    from ..transfer.run import newest_run
    return "run", str(newest_run(spec, scale, Path(args.out))), scale


def run_scale(spec, run_dir: Path) -> str:
    """The scale of a pre-training run of this paper, or ReproError naming what is wrong."""
    from ..config import Config
    from ..rundir import RunDir
    run = RunDir(run_dir).require_run("--init").load()
    pretraining = run.kind == Config.KIND
    if run.config.paper != spec.name or not pretraining:
        what = f"a {run.config.paper or 'unknown'} run" if pretraining else "a fine-tuning run"
        raise ReproError(f"--init {run_dir}: {what}, not a {spec.name} pre-training run")
    scale = run.config.scale
    if scale not in spec.finetune.scales:
        raise ReproError(f"--init {run_dir}: a {scale!r} run; fine-tuning scales: "
                         f"{', '.join(spec.finetune.scales)}")
    return scale


def main(paper: str, argv: list[str]) -> None:
    spec = spec_of(paper)
    if spec.finetune is None:
        able = [name for name, s in papers().items() if s.finetune is not None]
        raise ReproError(f"{paper} has no fine-tuning recipe; papers that fine-tune: "
                         f"{', '.join(able)}")
    ft = spec.finetune
    args = parser(paper, ft.tasks).parse_args(argv)
    output_folder(args.out, "--out")   # before any model is loaded or folder made
    if not args.no_report:
        output_folder(args.report_dir, "--report-dir")
    if args.no_progress:
        os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
    from ..finetune_config import apply_recipe_overrides
    recipe = apply_recipe_overrides(ft.recipe, args.overrides)
    kind, where, scale = choose_init(spec, args)
    if args.transfer_layers is not None and kind == "random":
        raise ReproError("--transfer-layers needs pre-trained weights (--init RUN_DIR or --hf); "
                         "the scale's default here is a random init")
    say = (lambda m: None) if args.no_progress else (lambda m: print(f"repro: {m}", file=sys.stderr))
    say(f"loading the {kind} model{' ' + where if where else ''} (importing torch)")
    from ..transfer.run import run_finetune
    summary = run_finetune(spec, args.task, args.seed, args.overrides, recipe, kind, where, scale,
                           Path(args.out), args.device, not args.no_progress, say,
                           transfer=args.transfer_layers)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        dev = summary.get("dev") or {}
        print(f"{args.task} ({scale}, seed {args.seed}): "
              + (", ".join(f"{k} {100 * v:.2f}" for k, v in dev.items()) or summary["status"])
              + f"; run {summary['run_dir']}", file=sys.stderr)
    if summary.get("completed") and not args.no_report:
        from ..report.finetune import write_finetune_report
        run_dir = Path(summary["run_dir"])
        report_after_run(run_dir, lambda: write_finetune_report(
            spec, scale, Path(args.report_dir), runs_root=run_dir.parent.parent,
            reference_root=REPORTS / "runs"))
