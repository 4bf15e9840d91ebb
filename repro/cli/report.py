"""`python -m repro report <paper> [--size S] [--scale S] [--runs DIR] [--out DIR] [--finetune]
[--reference] [--add RUN_DIR ...]`: write a paper's report.

By default it reads your runs (runs/<group>/) and the committed reference evidence
(reports/runs/<group>/), side by side, and writes reports/local/<group>.md; it never changes a
run or the evidence. Maintainers: `--add RUN_DIR...` copies finished runs into the reference
evidence (the one explicit act that writes it) and `--reference` writes the committed report
reports/<group>.md from the reference evidence alone.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ReproError
from ..outputs import output_folder
from . import Parser, spec_of
from .train import REPORTS


def main(argv: list[str]) -> None:
    p = Parser(prog="repro report", description=__doc__.splitlines()[0])
    p.add_argument("paper")
    p.add_argument("--size", help="default: the paper's default size")
    p.add_argument("--scale", default="tiny")
    p.add_argument("--runs", default="runs", help="root folder of your run folders")
    p.add_argument("--reference-dir", default=str(REPORTS),
                   help="the committed reports folder holding runs/ and parity/ (default reports)")
    p.add_argument("--out", help="default reports/local, or the reference folder with --reference")
    p.add_argument("--reference", action="store_true",
                   help="the committed report, from the reference evidence alone")
    p.add_argument("--add", nargs="+", metavar="RUN_DIR", default=[],
                   help="copy these finished runs into the reference evidence first")
    p.add_argument("--finetune", action="store_true",
                   help="the fine-tuning report (<paper>-finetune-<scale>) instead")
    args = p.parse_args(argv)
    spec = spec_of(args.paper)
    if args.out is not None:
        output_folder(args.out, "--out")
    if args.finetune:
        return finetune_report(spec, args)
    if args.scale not in spec.scales:
        raise ReproError(f"unknown scale {args.scale!r} for {spec.name}; choose from: "
                         f"{', '.join(spec.scales)}")
    if args.size is not None and args.size not in spec.sizes:
        raise ReproError(f"unknown size {args.size!r} for {spec.name}; choose from: "
                         f"{', '.join(spec.sizes)}")
    from ..report import add_evidence, write_report
    ref = Path(args.reference_dir)
    for copy in add_evidence(spec, args.scale, args.size, [Path(d) for d in args.add], ref / "runs"):
        print(f"evidence: {copy}")
    out = Path(args.out) if args.out else (ref if args.reference else REPORTS / "local")
    print(write_report(spec, args.scale, args.size, out,
                       runs_root=None if args.reference else Path(args.runs),
                       reference_root=ref / "runs", parity_file=ref / "parity" / f"{spec.name}.json"))


def finetune_report(spec, args) -> None:
    """`--finetune`: the same yours-beside-reference, --reference and --add, for the runs of
    `python -m repro <paper> finetune`."""
    if spec.finetune is None or args.scale not in spec.finetune.scales:
        raise ReproError(f"{spec.name} has no fine-tuning recipe at scale {args.scale!r}")
    from ..report.finetune import add_finetune_evidence, write_finetune_report
    ref = Path(args.reference_dir)
    for copy in add_finetune_evidence(spec, args.scale, [Path(d) for d in args.add], ref / "runs"):
        print(f"evidence: {copy}")
    out = Path(args.out) if args.out else (ref if args.reference else REPORTS / "local")
    print(write_finetune_report(spec, args.scale, out,
                                runs_root=None if args.reference else Path(args.runs),
                                reference_root=ref / "runs"))
