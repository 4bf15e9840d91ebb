"""`python -m repro <paper> ...`: train a paper's recipe at a scale (or resume a run), then write
its report beside the committed reference.

--steps, --seed and --device are shorthands for --set train.steps/seed/device and go through
the same override and validation path as every --set.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ..errors import ReproError
from ..numbers import number
from ..outputs import output_folder
from . import Parser, report_after_run, spec_of

REPORTS = Path("reports")   # the committed reference: reports/<group>.md and reports/runs/<group>/


def parser(paper: str) -> Parser:
    p = Parser(prog=f"repro {paper}", description=f"Train the {paper} recipe.")
    p.add_argument("--size", help="model size (python -m repro list shows them)")
    p.add_argument("--scale", default="tiny", help="tiny | small | medium | paper (default tiny)")
    p.add_argument("--steps", type=number("--steps"),
                   help="stop after N steps of the recipe's schedule (the "
                   "schedule itself is unchanged; N past its end is refused: to train longer or "
                   "shorter set --set train.tokens=...)")
    p.add_argument("--seed", type=number("--seed", minimum=0),
                   help="seed of init, data order and dropout (default 0)")
    p.add_argument("--out", default="runs", help="root folder of run folders (default runs)")
    p.add_argument("--device", help="auto (default: CUDA if present) | cpu | cuda")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its newest good "
                   "checkpoint (a run without one restarts from step 0 in place)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="change any config value, e.g. optim.lr=3e-4 (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="print the plan, train nothing")
    p.add_argument("--json", action="store_true", help="print the plan or final summary as JSON")
    p.add_argument("--report-dir", default=str(REPORTS / "local"),
                   help="where the report goes (default reports/local, beside the committed "
                        "reference reports/)")
    p.add_argument("--no-report", action="store_true", help="do not write a report at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    return p


def flag_overrides(args) -> list[str]:
    """--steps/--seed/--device as --set pairs (--steps 0 is refused by its type: train.steps=0
    in a config means "to the end of the schedule", which the flag never means)."""
    flags = {"steps": args.steps, "seed": args.seed, "device": args.device}
    return [f"train.{k}={v}" for k, v in flags.items() if v is not None]


def resume_config(spec, run_dir: Path, overrides: list[str]):
    """The saved config of run_dir with the overrides applied; a change of the model or the
    seed is refused, and so is a run that already reached the steps asked for."""
    from ..config import apply_overrides
    from ..schedule import validate_run
    from ..rundir import RunDir
    run = RunDir(run_dir).require_run("--resume")
    run.lock().check_free()
    saved = run.load().pretraining("--resume", f"it cannot be resumed; start it again with "
                                               f"python -m repro {spec.name} finetune")
    if saved.paper != spec.name:
        raise ReproError(f"--resume {run_dir}: that run is {saved.paper!r}, not {spec.name!r}")
    cfg = apply_overrides(saved, overrides)
    changed = [(f"model.{k}", old, getattr(cfg.model, k)) for k, old in
               saved.to_dict()["model"].items() if getattr(cfg.model, k) != old]
    if cfg.train.seed != saved.train.seed:
        changed.append(("train.seed", saved.train.seed, cfg.train.seed))
    for key, old, new in changed:
        raise ReproError(f"refusing to resume {run_dir}: {key} changed {old} -> {new}")
    cfg = validate_run(cfg)
    summary = run.read_optional(RunDir.SUMMARY)
    if summary is not None:   # finished once: go on only from a checkpoint short of the goal
        from ..checkpoint import newest_verified
        from ..schedule import BatchPlan
        want, newest = BatchPlan(cfg).total_steps, newest_verified(run.checkpoints)
        if newest is None:
            raise ReproError(f"--resume {run_dir}: the run finished and has no checkpoint to go "
                             f"on from; it is left as it is")
        done = RunDir.checkpoint_step(newest)
        if done >= want:
            raise ReproError(f"--resume {run_dir}: the run already finished (step {done:,} of "
                             f"{want:,}); it is left as it is. To go on, give --steps beyond "
                             f"{done} (within the schedule) or start a new run")
    return run, cfg


def main(paper: str, argv: list[str]) -> None:
    spec = spec_of(paper)
    args = parser(paper).parse_args(argv)
    if args.no_progress:  # also the data layer's "tokenizing" bars (datasets reads this at import)
        os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
        if "datasets" in sys.modules:
            sys.modules["datasets"].disable_progress_bars()
    overrides = args.overrides + flag_overrides(args)
    if not args.resume:   # before anything is resolved, built or written
        output_folder(args.out, "--out")
    if not (args.no_report or args.dry_run):
        output_folder(args.report_dir, "--report-dir")
    if args.resume:
        run, cfg = resume_config(spec, Path(args.resume), overrides)
    else:
        from ..spec import resolve
        run, cfg = None, resolve(spec, args.size, args.scale, overrides)
    if args.dry_run:
        from ..plan import plan, print_plan
        info = plan(cfg)
        if cfg.scale != "paper":   # the paper scale is meant for the paper's (online) data
            from ..plan import data_epochs
            info["epochs"] = data_epochs(cfg)
        info["data"] = {"this run": cfg.data.dataset or cfg.data.path or cfg.data.source,
                        "tokenizer": cfg.data.tokenizer, **spec.data}
        print(json.dumps(info, indent=2) if args.json else print_plan(info))
        return
    summary = run_training(spec, cfg, args, run)
    if not summary.get("is_main", True):
        return
    summary.pop("is_main", None)
    if args.json:
        print(json.dumps(summary, indent=2))
    if not summary.get("interrupted") and not args.no_report:
        from ..report import write_report
        run_dir = Path(summary["run_dir"])   # its report: of the runs root it belongs to
        report_after_run(run_dir, lambda: write_report(
            spec, cfg.scale, cfg.size, Path(args.report_dir), runs_root=run_dir.parent.parent,
            reference_root=REPORTS / "runs", parity_file=REPORTS / "parity" / f"{spec.name}.json"))


def run_training(spec, cfg, args, run) -> dict:
    if not args.no_progress:
        print("repro: starting (importing torch and accelerate)", file=sys.stderr)
    from accelerate import PartialState

    from ..eval.end_of_run import finish
    from ..trainer import Trainer, build_accelerator
    from ..trainer.setup import accelerator_options
    from ..trainer.trackers import finish_trackers, require_trackers
    require_trackers(cfg.train.log_with)   # refused before anything is created
    # The processes first (the state Accelerator shares), so that the run folder exists when
    # the Accelerator is built: its trackers write into it.
    state = PartialState(cpu=accelerator_options(cfg)["cpu"])
    if run is None:
        run = new_run_folder(spec, cfg, args, state.is_main_process)
    # The lifecycle: locked by the main process; a start that fails (the Accelerator or its
    # trackers included) leaves no folder made for it.
    with run.training(main=state.is_main_process):
        acc = build_accelerator(cfg, project_dir=run.path)
        log = (lambda m: print(m, file=sys.stderr)) if acc.is_main_process else (lambda m: None)
        status = (lambda m: log(f"repro: {m}")) if not args.no_progress else None
        try:
            trainer = Trainer(cfg, run, accelerator=acc, log=log, status=status,
                              end_of_run=finish)
            if args.resume:
                if run.has_checkpoint():
                    trainer.resume()
                else:
                    log(f"no checkpoint in {run}: restarting it from step 0 in the same folder")
            trainer.start()
            summary = trainer.fit(progress=not args.no_progress)
        finally:
            finish_trackers(acc)   # closed before a failed start's folder is removed
    summary["is_main"] = acc.is_main_process
    return summary


def new_run_folder(spec, cfg, args, is_main: bool):
    """The new run folder: the main process creates it (RunDir.create, which records the
    folders it made), every rank gets its name."""
    from accelerate.utils import broadcast_object_list

    from ..rundir import RunDir, run_id
    from ..spec import run_group
    made = (RunDir.create(Path(args.out) / run_group(spec, cfg.size, cfg.scale),
                          run_id(cfg.train.seed, args.overrides)) if is_main else None)
    name = [str(made) if made else None]
    broadcast_object_list(name)
    return made or RunDir(name[0])
