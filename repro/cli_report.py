"""`python -m repro report <paper> [--size S] [--scale S] [--runs DIR] [--out DIR]`."""
from __future__ import annotations

from pathlib import Path

from .cli import Parser


def main(argv) -> None:
    p = Parser(prog="repro report", description="Write reports/<paper>-<scale>.md (or "
               "<paper>-<size>-<scale>.md for a size other than the default) from runs/.")
    p.add_argument("paper")
    p.add_argument("--size", help="default: the paper's default size")
    p.add_argument("--scale", default="tiny")
    p.add_argument("--runs", default="runs", help="root folder of run folders")
    p.add_argument("--out", default="reports")
    args = p.parse_args(argv)
    from .report import write_report
    print(write_report(args.paper, args.scale, Path(args.runs), Path(args.out), args.size))
