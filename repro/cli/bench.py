"""`python -m repro bench`: our training step against the Hugging Face peers; --largest: what fits.

Each pair is timed in several fresh processes (the report gives the median and the range);
`--largest` finds the largest size of each family that trains on this GPU.

    python -m repro bench [--rows NAMES] [--processes N] [--budget-s S] [--out DIR] [--json]
    python -m repro bench --quick [--processes N]   tiny shapes on the CPU, no compile: a smoke test
    python -m repro bench --largest [--budget-s S] [--memory-gb G] [--out DIR]

Writes <out>/bench-<gpu>.md and .json (<gpu>: "h200", ... or "cpu"), or largest-<gpu>.md and
.json, and prints the table last (with --json, the JSON document last and the table on
stderr). <out> is reports/ for the full bench and --largest, and runs/bench/ (git-ignored)
for --quick, which never writes into reports/.

The shapes are the papers' own (repro_papers), dropout 0 and the vocabulary padded to a
multiple of 64 as the training scales do; the library (repro.bench) is given them.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from . import Parser, spec_of
from ..errors import ReproError
from ..numbers import number, positive
from ..outputs import output_folder

# Run order: the cheap eager pairs first, so their numbers exist whatever compile does; then
# the compiled pairs the targets are about (a budget that runs out costs the later ones).
# DISPLAY is the report's order.
RUN_ORDER = ["gpt2-b16-eager", "gpt2-b32-eager", "igpt-b16-eager", "attn", "gpt2-b32-compiled",
             "igpt-b16-compiled", "gpt2-b16-compiled", "gpt2-b32-memory", "gpt1-b32-compiled",
             "gpt3s-b8-banded"]
DISPLAY = ["gpt2-b16-eager", "gpt2-b16-compiled", "gpt2-b32-eager", "gpt2-b32-compiled",
           "gpt2-b32-memory", "gpt1-b32-compiled", "gpt3s-b8-banded", "attn", "igpt-b16-compiled",
           "igpt-b16-eager"]
LARGEST = ("gpt2", "gpt3", "igpt")   # families of --largest, each over all its sizes


def shape(paper: str, size: str | None = None):
    """A paper's model at the size's own shape, dropout 0, vocabulary padded to 64."""
    from ..spec import size_config
    spec = spec_of(paper)
    model = size_config(spec, size or spec.default_size).model
    return replace(model, vocab_pad_multiple=64, embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0)


def pairs() -> dict:
    """key -> the pair it times (repro.bench.pairs), in RUN_ORDER."""
    from ..bench.pairs import Attention, Ours, Pair, Peer
    gpt2, gpt1, gpt3, igpt = (shape(p) for p in ("gpt2", "gpt1", "gpt3", "igpt"))
    eager = (Ours(None), Peer(None))
    table = [
        Pair("gpt2-b16-eager", "gpt2", gpt2, 16, eager),
        Pair("gpt2-b32-eager", "gpt2", gpt2, 32, eager),
        Pair("igpt-b16-eager", "igpt", igpt, 16, eager),
        # one layer of GPT-3 Small's attention, at its band
        Attention("attn", 8, gpt3.n_head, gpt3.block_size, gpt3.n_embd // gpt3.n_head,
                  gpt3.band_width),
        Pair("gpt2-b32-compiled", "gpt2", gpt2, 32, (Ours(), Peer())),
        # host-bound steps: CUDA graphs (reduce-overhead) beside the default compile; the peer
        # runs at both too (Pair), and each of ours is divided by its faster setting
        Pair("igpt-b16-compiled", "igpt", igpt, 16, (Ours(), Ours("reduce-overhead"), Peer())),
        Pair("gpt2-b16-compiled", "gpt2", gpt2, 16, (Ours(), Ours("reduce-overhead"), Peer())),
        # the memory options against the plain compiled step (the same graph as gpt2-b32-compiled,
        # so its compile is a cache hit): their cost in speed, their saving in memory; chunked is
        # the fused head + loss in plain torch (issue 28: faster, or only smaller?)
        Pair("gpt2-b32-memory", "gpt2", gpt2, 32, (Ours(loss_impl="cce"),
                                                   Ours(loss_impl="cce", checkpointing=True),
                                                   Ours(loss_impl="chunked"), Ours())),
        Pair("gpt1-b32-compiled", "gpt1", gpt1, 32, (Ours(), Peer())),
        Pair("gpt3s-b8-banded", "gpt3s", gpt3, 8, (Ours(attention="alternating"),
                                                    Ours(attention="dense"))),
    ]
    assert [p.key for p in table] == RUN_ORDER
    return {p.key: p for p in table}


def select(selectors: list[str] | None) -> list[str]:
    """Keys matching each selector exactly or as a prefix ("gpt2" -> every gpt2-* pair)."""
    if not selectors:
        return list(RUN_ORDER)
    picked = []
    for sel in selectors:
        hits = [k for k in DISPLAY if k == sel or k.startswith(sel + "-")]
        if not hits:
            raise ReproError(f"--rows {sel}: no such row; rows: {', '.join(DISPLAY)}")
        picked += hits
    return [k for k in RUN_ORDER if k in picked]


def chosen(keys: list[str], quick: bool) -> list:
    """The pairs of `keys`, made quick (and deduplicated) for --quick."""
    from ..bench.pairs import quick_pairs
    table = pairs()
    picked = [table[k] for k in keys]
    return quick_pairs(picked) if quick else picked


def candidates() -> list:
    from ..bench.largest import Candidate
    return [Candidate(paper, size, shape(paper, size))
            for paper in LARGEST for size in spec_of(paper).sizes]


def parser() -> Parser:
    p = Parser(prog="repro bench", description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print the JSON document last")
    p.add_argument("--quick", action="store_true", help="tiny CPU smoke run, no compile")
    p.add_argument("--out", help="folder for the .md/.json (default reports, or runs/bench "
                   "with --quick: a smoke run never writes into reports/)")
    p.add_argument("--rows", help="comma-separated pairs or prefixes (e.g. gpt2,attn); "
                   "replaces just those in an existing report: " + ", ".join(DISPLAY))
    p.add_argument("--processes", type=number("--processes"), default=3,
                   help="fresh processes per pair (default 3): the report gives the median "
                        "and the min-max range over them")
    p.add_argument("--budget-s", type=positive("--budget-s"), default=None,
                   help="total seconds (default 450; --largest 240): pairs or sizes that "
                        "would start past it are skipped and recorded")
    p.add_argument("--largest", action="store_true", help="the largest size of GPT-2, GPT-3 "
                   "and iGPT that trains here (cce + activation checkpointing, micro-batch 1)")
    p.add_argument("--memory-gb", type=positive("--memory-gb"),
                   help="--largest: a memory limit below the GPU's")
    # internal: one benchmark process, started by the command above
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--worker-out", help=argparse.SUPPRESS)
    p.add_argument("--matmul", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--compile-guess-s", type=float, help=argparse.SUPPRESS)
    return p


def main(argv: list[str]) -> None:
    args = parser().parse_args(argv)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()] if args.rows else None
    keys = select(rows)   # a typo fails before anything is built
    if args.worker:
        from ..bench.one_process import COMPILE_GUESS_S, run_pairs
        return run_pairs(chosen(keys, args.quick), Path(args.worker_out), args.quick,
                         args.budget_s or 450.0, measure_matmul=args.matmul,
                         compile_guess_s=args.compile_guess_s or COMPILE_GUESS_S)
    import torch
    if not args.quick and not torch.cuda.is_available():
        raise ReproError("the full bench and --largest need a CUDA GPU (paper shapes, "
                         "compile); use --quick for the CPU smoke run")
    command = " ".join(["python -m repro bench"] + argv)
    out = output_folder(args.out if args.out is not None else
                        "runs/bench" if args.quick else "reports", "--out")
    if args.largest:
        return _largest(args, out, command)
    _bench(args, keys, rows, out, command)


def _bench(args, keys: list[str], rows, out: Path, command: str) -> None:
    from ..bench import document as D
    from ..bench.fresh import run_fresh
    from ..bench.one_process import plan
    from ..bench.pairs import rows as pair_rows
    run = chosen(keys, args.quick)
    worker = [sys.executable, "-m", "repro", "bench", "--worker"] + (["--quick"] if args.quick
                                                                    else [])
    with tempfile.TemporaryDirectory(prefix="repro-bench-") as tmp:
        result = run_fresh([p.key for p in run], args.processes, worker,
                           args.budget_s or 450.0, Path(tmp))
    done = [r for p in run for r in D.aggregate(pair_rows(p), result["samples"][p.key])]
    p = plan(args.quick)
    doc = D.document(result["env"], D.in_order(done, DISPLAY), args.quick, args.processes,
                     p["rounds"] * p["steps_per_round"], result["wall_s"], command)
    md, js = D.write(doc, out, DISPLAY, keys if rows else None)
    print(f"wrote {md} and {js}", file=sys.stderr)
    failed = [r["name"] for r in doc["rows"] if r.get("error")]
    if failed:
        print(f"{len(failed)} row(s) failed or were skipped: {', '.join(failed)}",
              file=sys.stderr)
    _show(D.table(json.loads(js.read_text())["rows"]), doc, args.json)


def _largest(args, out: Path, command: str) -> None:
    from ..bench.document import device_slug
    from ..bench.largest import largest, to_markdown
    doc = largest(candidates(), args.budget_s or 240.0, memory_limit_gb=args.memory_gb)
    from ..outputs import write_files
    stem = out / f"largest-{device_slug(doc['device'])}"
    md = to_markdown(doc, command)
    write_files(out, {f"{stem.name}.md": md, f"{stem.name}.json": json.dumps(doc, indent=2) + "\n"})
    print(f"wrote {stem}.md and {stem}.json", file=sys.stderr)
    _show(md, doc, args.json)


def _show(text: str, doc: dict, as_json: bool) -> None:
    if as_json:
        print(text, file=sys.stderr)
        print(json.dumps(doc, indent=2))
    else:
        print(text)
