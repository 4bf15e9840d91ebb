"""`python -m repro export <run_dir> --out DIR [--json]`: a run folder as a Hugging Face model
(repro.interop.export says what is written and how it is checked), with a model card
(README.md: repro.report.card)."""
from __future__ import annotations

import json

from . import Parser


def main(argv: list[str]) -> None:
    p = Parser(prog="repro export", description="Export a run folder as a Hugging Face model.")
    p.add_argument("run_dir")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    from ..interop.export import export_run
    info = export_run(args.run_dir, args.out, card=lambda: card(args.run_dir, args.out))
    if args.json:
        print(json.dumps(info, indent=2))
        return
    print(f"exported {info['run_dir']} ({info['checkpoint']}) -> {info['out_dir']} "
          f"as {info['family']}")
    print(f"  load with {info['loader']}.from_pretrained({info['out_dir']!r}); "
          f"max abs logit diff {info['max_abs_diff']:.2e}")
    print(f"  tokenizer: {info['tokenizer'] or 'none (not a shipped BPE)'}; "
          f"files: {', '.join(info['files'])}")


def card(run_dir: str, out: str):
    """The model card of the run, from its paper's spec; none for a run of no known paper."""
    from pathlib import Path

    from ..report.card import model_card
    from ..rundir import RunDir
    from . import papers
    run = RunDir(run_dir)
    spec = papers().get(run.load().config.paper)
    return model_card(spec, run, Path(out).name) if spec else None
