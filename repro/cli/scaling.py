"""`python -m repro scaling <paper> [--scale tiny|small] [--seeds N] [--jobs N] [--out DIR]
[--report-dir DIR] [--evidence DIR] [--no-eval] [--report-only] [--set KEY=VALUE] [--dry-run]`:
train the paper's scaling ladder (repro/scaling), evaluate every size zero-shot, fit, report.

Each size is an ordinary run of the recipe at the ladder's base scale with the ladder's shape
(runs under DIR/<n_layer>x<d_model>/); --jobs N runs N sizes (then N evaluations) at once as
subprocesses on one device. Finished runs and evaluations are skipped, so a killed sitting
continues; --report-only rebuilds the report from the finished runs alone.
"""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from ..errors import ReproError, check
from . import Parser, spec_of


def parser() -> Parser:
    p = Parser(prog="repro scaling", description="A scaling ladder of a paper's recipe.")
    p.add_argument("paper")
    p.add_argument("--scale", default="tiny", help="the ladder's scale: tiny | small")
    p.add_argument("--seeds", type=int, help="seeds at the ladder's seeded sizes (default: "
                   "the ladder's own)")
    p.add_argument("--jobs", type=int, default=1, help="runs (then evaluations) at once")
    p.add_argument("--out", help="the ladder's folder (default runs/<paper>-scaling-<scale>)")
    p.add_argument("--report-dir", default="reports/local", help="where the report goes "
                   "(default reports/local; the committed one: reports)")
    p.add_argument("--evidence", metavar="DIR", help="also copy each run's small files here "
                   "(the committed evidence, e.g. reports/runs/gpt3-scaling)")
    p.add_argument("--eval-batch-size", type=int, default=32)
    p.add_argument("--no-eval", action="store_true", help="train only, no zero-shot step")
    p.add_argument("--report-only", action="store_true", help="only the report, from the "
                   "finished runs in --out")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="a config change for every size (e.g. train.compile=false)")
    p.add_argument("--dry-run", action="store_true", help="print the ladder, train nothing")
    return p


def main(argv: list[str]) -> None:
    args = parser().parse_args(argv)
    spec = spec_of(args.paper)
    from ..scaling import jobs
    from ..scaling.ladder import lr_anchors, rungs, scale_of, seeds_of
    ladder = spec.ladder
    scale = scale_of(ladder, spec.name, args.scale)
    check(args.jobs >= 1, f"--jobs {args.jobs}: must be at least 1")
    check(args.seeds is None or args.seeds >= 1, f"--seeds {args.seeds}: must be at least 1")
    seeds = args.seeds or scale.seeds
    out = Path(args.out or f"runs/{spec.name}-scaling-{args.scale}")
    ladder_rungs = rungs(ladder, scale, lr_anchors(spec))
    failed: list[str] = []
    sets = list(scale.overrides) + args.overrides
    if not args.report_only:
        epochs = check_epochs(spec, scale.base, ladder_rungs, sets)
        if args.dry_run:
            return print_ladder(ladder_rungs, scale, seeds, epochs)
        todo = [jobs.train_job(spec.name, scale.base, out / r.name, s, r.overrides() + sets,
                               out / "logs")
                for r in ladder_rungs for s in seeds_of(scale, r, seeds)]
        failed = jobs.run_jobs([j for j in todo if j], args.jobs, log=_log)
        if not args.no_eval:
            from ..rundir import RunDir
            from ..scaling.gather import gather_runs
            runs = [RunDir(r["run_dir"]) for r in gather_runs(out)]
            todo = [jobs.eval_job(r, ladder.tasks, scale.eval_limit, args.eval_batch_size,
                                  out / "logs") for r in runs]
            failed += jobs.run_jobs([j for j in todo if j], args.jobs, log=_log)
    if args.evidence and Path(args.evidence).resolve() != out.resolve():
        copy_evidence(out, Path(args.evidence))
    from ..report.scaling import write_scaling_report
    command = "python -m repro scaling " + " ".join(shlex.quote(a) for a in argv)
    try:
        path = write_scaling_report(spec.name, args.scale, ladder, out, Path(args.report_dir),
                                    command)
    except ReproError as e:   # e.g. no run finished: say why the runs did not
        raise ReproError("; ".join(failed + [str(e)])) from None
    print(f"report: {path}", file=sys.stderr)
    if failed:   # the report shows what finished; the failures still fail the command
        raise ReproError("; ".join(failed) + "; run the same command again to retry them")


def _log(message: str) -> None:
    print(f"repro scaling: {message}", file=sys.stderr)


def check_epochs(spec, base: str, ladder_rungs, sets: list[str]) -> float:
    """Refuse a ladder whose runs would see a token twice; return the epochs they take."""
    os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"   # the count's one-time tokenising
    from ..plan import data_epochs
    from ..spec import resolve
    worst = 0.0
    for r in ladder_rungs:
        cfg = resolve(spec, None, base, r.overrides() + sets)
        epochs = data_epochs(cfg)
        if epochs is None:
            raise ReproError(f"{spec.name}'s ladder needs a local text corpus to count epochs")
        if epochs > 1:
            raise ReproError(f"size {r.name} would train {epochs:.2f} epochs of its data; a "
                             f"ladder trains at most one (lower train.tokens)")
        worst = max(worst, epochs)
    return worst


def print_ladder(ladder_rungs, scale, seeds: int, epochs: float) -> None:
    from ..scaling.ladder import seeds_of
    for r in ladder_rungs:
        print(f"{r.name:>9}  heads {r.n_head:2d}  lr {r.lr:.3g} (inferred)  "
              f"N {r.n_params_non_embedding:>12,}  seeds {seeds_of(scale, r, seeds)}")
    print(f"base scale {scale.base}; at most {epochs:.3f} epochs of the training split")


def copy_evidence(out: Path, dest: Path) -> None:
    from ..provenance import git_commit
    from ..rundir import RunDir
    from ..scaling.gather import gather_runs
    commit = git_commit()
    for r in gather_runs(out):
        run = RunDir(r["run_dir"])
        run.copy_evidence(dest / run.path.relative_to(out).parent, commit)
