"""`python -m repro probe <run_dir> [--checkpoint STEP | --all-checkpoints] [--device D] [--json]`:
iGPT's linear probe (repro/transfer/probe.py) on a checkpoint of an image run, beside that
checkpoint's validation generative loss, into the run's probe-<step>.json: the points of iGPT
Figure 3 (probe accuracy against generative loss through training). Default: the newest
kept checkpoint."""
from __future__ import annotations

import json
import sys

from ..errors import check
from ..numbers import number
from . import Parser


def main(argv: list[str]) -> None:
    p = Parser(prog="repro probe", description="The linear probe of an image run's checkpoints.")
    p.add_argument("run_dir")
    p.add_argument("--checkpoint", type=number("--checkpoint", minimum=0), metavar="STEP",
                   help="the checkpoint of this step (default: the newest kept)")
    p.add_argument("--all-checkpoints", action="store_true", help="each kept checkpoint in turn")
    p.add_argument("--device", default="auto", help="auto (CUDA if present) | cpu | cuda[:i]")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args(argv)
    check(args.checkpoint is None or not args.all_checkpoints,
          "--checkpoint STEP or --all-checkpoints, not both")
    from ..checkpoint import verified_steps
    from ..rundir import RunDir
    from ..transfer.checkpoint_probe import probe_checkpoints
    from .eval import _device
    run = RunDir(args.run_dir).require_run("")
    if args.all_checkpoints:
        steps = None
    elif args.checkpoint is not None:
        steps = [args.checkpoint]
    else:
        newest = verified_steps(run.checkpoints)
        check(bool(newest), f"{run}: no complete checkpoint to probe")
        steps = newest[-1:]
    results = probe_checkpoints(run.path, steps, _device(args.device),
                                log=lambda m: print(f"repro: {m}", file=sys.stderr))
    if args.json:
        print(json.dumps(results, indent=2))
