"""`python -m repro`: train a paper's recipe at a scale, or one of the verbs.

    python -m repro <paper> [--size NAME] [--scale tiny|small|medium|paper] [--steps N]
                    [--seed S] [--out DIR] [--device auto|cpu|cuda] [--resume RUN_DIR]
                    [--set key=value ...] [--dry-run] [--json]
                    [--report-dir DIR] [--no-report] [--no-progress]
    python -m repro list | report | parity | export | bench | tokenize ...

Misuse exits with status 2 and one line naming the culprit; no traceback.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from .errors import ReproError

VERBS = ("list", "report", "parity", "export", "bench", "tokenize")


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise ReproError(f"{self.prog}: {message}")


def _papers():
    from papers import PAPERS
    return PAPERS


def train_parser(paper: str) -> Parser:
    p = Parser(prog=f"repro {paper}", description=f"Train the {paper} recipe.")
    p.add_argument("--size", help="model size (python -m repro list shows them)")
    p.add_argument("--scale", default="tiny", help="tiny | small | medium | paper (default tiny)")
    p.add_argument("--steps", type=int, help="stop after N steps; a token-based recipe keeps its "
                   "schedule, a step-based demo (adder) spreads its schedule over N steps")
    p.add_argument("--seed", type=int, help="seed of init, data order and dropout (default 0)")
    p.add_argument("--out", default="runs", help="root folder of run folders")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default auto: CUDA if present")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its newest good checkpoint")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="change any config value, e.g. optim.lr=3e-4 (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="print the plan, train nothing")
    p.add_argument("--json", action="store_true", help="print the plan or final summary as JSON")
    p.add_argument("--report-dir", default="reports", help="where the report is written")
    p.add_argument("--no-report", action="store_true", help="do not write a report at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    return p


def cmd_list(argv) -> None:
    from .spec import size_config
    for name, spec in _papers().items():
        sizes = []
        for size in spec.sizes:
            m = size_config(spec, size).model
            sizes.append(f"{size} ({m.n_layer}x{m.n_embd})")
        print(f"{name:9s} {spec.title}")
        print(f"{'':9s} sizes:  {', '.join(sizes)}  [default {spec.default_size}]")
        print(f"{'':9s} scales: " + "; ".join(f"{k}: {v.about}" for k, v in spec.scales.items()))


def resolve_args(paper: str, args):
    from .spec import resolve
    spec = _papers()[paper]
    cfg = resolve(spec, args.size, args.scale, args.overrides)
    for key, value in (("steps", args.steps), ("seed", args.seed), ("device", args.device)):
        if value is not None:
            setattr(cfg.train, key, value)
    return spec, cfg


def resume_config(paper: str, args):
    """The saved config of RUN_DIR, with --set/--steps applied; model changes are refused."""
    from .config import Config, apply_overrides, validate
    from .rundir import is_run_dir
    run_dir = Path(args.resume)
    if not is_run_dir(run_dir):
        raise ReproError(f"--resume {run_dir}: not a run folder (no config.json)")
    saved = Config.from_dict(json.loads((run_dir / "config.json").read_text()))
    if saved.paper != paper:
        raise ReproError(f"--resume {run_dir}: that run is {saved.paper!r}, not {paper!r}")
    cfg = apply_overrides(saved, args.overrides)
    for key, old in saved.to_dict()["model"].items():
        new = getattr(cfg.model, key)
        if new != old:
            raise ReproError(f"refusing to resume {run_dir}: model.{key} changed {old} -> {new}")
    for key, value in (("steps", args.steps), ("device", args.device)):
        if value is not None:
            setattr(cfg.train, key, value)
    return run_dir, validate(cfg)


def cmd_train(paper: str, argv) -> None:
    args = train_parser(paper).parse_args(argv)
    if args.no_progress:  # also the data layer's "tokenizing" bars (datasets reads this at import)
        import os
        os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
        if "datasets" in sys.modules:
            sys.modules["datasets"].disable_progress_bars()
    if args.resume:
        run_dir, cfg = resume_config(paper, args)
        spec = _papers()[paper]
    else:
        spec, cfg = resolve_args(paper, args)
    if args.dry_run:
        from .plan import plan, print_plan
        info = plan(cfg)
        info["data"] = {"this run": cfg.data.dataset or cfg.data.path or cfg.data.source,
                        "tokenizer": cfg.data.tokenizer, **spec.data}
        print(json.dumps(info, indent=2) if args.json else print_plan(info))
        return
    summary = run_training(cfg, args, run_dir if args.resume else None)
    if args.json and summary.get("is_main", True):
        summary.pop("is_main", None)
        print(json.dumps(summary, indent=2))
    if not summary.get("interrupted") and not args.no_report and summary.get("is_main", True):
        from .report import write_report
        out = write_report(spec.name, cfg.scale, runs_root=Path(args.out),
                           report_dir=Path(args.report_dir), size=cfg.size)
        print(f"report: {out}", file=sys.stderr)


def run_training(cfg, args, run_dir: Path | None) -> dict:
    from accelerate.utils import broadcast_object_list
    from .rundir import RunLock, run_id
    from .trainer import Trainer, build_accelerator
    acc = build_accelerator(cfg)
    created = run_dir is None
    if created:  # the main process creates the folder; every rank uses its name
        name = [None]
        if acc.is_main_process:
            from .spec import run_group
            group = run_group(_papers()[cfg.paper], cfg.size, cfg.scale)
            name[0] = str(new_run_dir(Path(args.out) / group,
                                      run_id(cfg.train.seed, args.overrides)))
        broadcast_object_list(name)
        run_dir = Path(name[0])
    # Taken outside the try: a lock refused because another run holds it is not ours to remove.
    lock = RunLock(run_dir).__enter__() if acc.is_main_process else None
    try:
        trainer = Trainer(cfg, run_dir, accelerator=acc, log=lambda m: print(
            m, file=sys.stderr) if acc.is_main_process else None)   # once, not once per rank
        if args.resume:
            trainer.resume()
        if acc.is_main_process:  # after a successful resume: a refused one leaves the run as it was
            (run_dir / "config.json").write_text(cfg.to_json())
        summary = trainer.fit(progress=not args.no_progress)
    except BaseException:
        if lock:
            lock.__exit__(None, None, None)
            lock = None
        if created and acc.is_main_process and not started(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)  # a failed start leaves no empty run behind
        raise
    finally:
        if lock:
            lock.__exit__(None, None, None)
    summary["is_main"] = acc.is_main_process
    return summary


def new_run_dir(parent: Path, name: str) -> Path:
    """Create parent/name, or parent/name-2, -3... if a run started in the same second took it."""
    parent.mkdir(parents=True, exist_ok=True)
    for i in range(1, 1000):
        path = parent / (name if i == 1 else f"{name}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise ReproError(f"could not create a new run folder in {parent}")


def started(run_dir: Path) -> bool:
    """Whether training got as far as a logged step or a checkpoint."""
    from . import checkpoint
    metrics = run_dir / "metrics.jsonl"
    return ((metrics.is_file() and metrics.stat().st_size > 0)
            or any((run_dir / "checkpoints").glob(checkpoint.PATTERN)))


def cmd_tokenize(argv) -> None:
    p = Parser(prog="repro tokenize")
    p.add_argument("--tokenizer", default="gpt2")
    p.add_argument("text")
    args = p.parse_args(argv)
    from .data.tokenizers import tokenize_command
    print(tokenize_command(args.tokenizer, args.text))


def dispatch(argv: list[str]) -> None:
    papers = _papers()
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        print(f"\npapers: {', '.join(papers)}\nverbs:  {', '.join(VERBS)}")
        return
    command, rest = argv[0], argv[1:]
    if command in papers:
        return cmd_train(command, rest)
    if command == "list":
        return cmd_list(rest)
    if command == "tokenize":
        return cmd_tokenize(rest)
    if command in VERBS:
        from importlib import import_module
        return import_module(f".cli_{command}", __package__).main(rest)
    raise ReproError(f"unknown paper or command {command!r}; papers: {', '.join(papers)}; "
                     f"commands: {', '.join(VERBS)}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    try:
        dispatch(argv)
    except ReproError as e:
        print(f"repro: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("repro: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # out of GPU memory: say which knob to turn
        if type(e).__name__ == "OutOfMemoryError":
            print("repro: error: out of GPU memory; lower --set train.micro_batch_size=N "
                  "(gradient accumulation keeps the batch) or use a smaller --scale/--size",
                  file=sys.stderr)
            sys.exit(3)
        raise
