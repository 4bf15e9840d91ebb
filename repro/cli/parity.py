"""`python -m repro parity <paper> [--size S] [--hf PATH_OR_ID] [--full] [--save] [--json]
[--params]`: our GPT against the transformers class of its structure (repro.interop.parity).

Without --size every size of the paper is tested; by default each keeps its full structure
(heads, vocabulary, context, every switch) at 2 layers and 16-wide heads, so a paper takes
seconds on a CPU; --full uses the exact sizes (up to three fp32 copies of the model in RAM at
once: ~19 GB for GPT-2 XL). --save writes the artifact reports read (reports/parity/<paper>.json).
Exits 2 when a logit difference exceeds 1e-4 or greedy decoding differs.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import ReproError
from ..numbers import number
from ..outputs import output_folder
from . import Parser, papers, spec_of
from .train import REPORTS


def _table(rows: list[dict], cols: list[tuple]) -> str:
    cells = [[h for h, _ in cols]] + [[fmt(r) for _, fmt in cols] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def parser() -> Parser:
    p = Parser(prog="repro parity", description="Logit parity with Hugging Face transformers.")
    p.add_argument("paper", choices=list(papers()))
    p.add_argument("--size", help="one size (default: every size; with --hf: the matching one)")
    p.add_argument("--hf", metavar="PATH_OR_ID", help="real weights: a local folder or a hub id")
    p.add_argument("--full", action="store_true",
                   help="exact sizes (default: 2 layers, 16-wide heads)")
    p.add_argument("--seed", type=number("--seed", minimum=0), default=0)
    p.add_argument("--seq-len", type=number("--seq-len"), default=256)
    p.add_argument("--params", action="store_true", help="also print the parameter-count table")
    p.add_argument("--save", nargs="?", const=str(REPORTS / "parity"), metavar="DIR",
                   help="write DIR/<paper>.json, the artifact reports read "
                        "(default reports/parity)")
    p.add_argument("--json", action="store_true")
    return p


def main(argv: list[str]) -> None:
    args = parser().parse_args(argv)
    spec = spec_of(args.paper)
    if args.save:   # before the comparisons, not after them
        output_folder(args.save, "--save")
    from ..interop.convert import load_hf
    from ..interop.parity import check_sizes, passed, stand_in_vocab, write_artifact
    from ..spec import size_config
    models = {s: size_config(spec, s).model for s in spec.sizes}
    if args.size and args.size not in models:
        raise ReproError(f"unknown size {args.size!r} for {spec.name}; choose from: "
                         f"{', '.join(models)}")
    hf = load_hf(args.hf) if args.hf else None
    sizes = _sizes(spec, models, args, hf)
    models = {s: stand_in_vocab(m) for s, m in models.items()}
    results, skipped = check_sizes({s: models[s] for s in sizes}, hf=hf, full=args.full,
                                   seed=args.seed, seq_len=args.seq_len)
    results = [{"paper": spec.name, **r} for r in results]
    if args.save:
        write_artifact(Path(args.save) / f"{spec.name}.json", spec.name, results + skipped,
                       " ".join(["python -m repro parity", *argv]))
    for row in skipped:
        print(f"{row['size']}: {row['note']}", file=sys.stderr)
    _show(spec, models, results, args)
    bad = [r["size"] for r in results if not passed(r)]
    if bad:
        raise ReproError(f"parity failed for {spec.name} size(s) {', '.join(bad)}: logit "
                         f"difference > 1e-4 or greedy decoding differs")


def _sizes(spec, models: dict, args, hf) -> list[str]:
    """The sizes to compare: --size, else every size; with --hf, the one whose structure the
    checkpoint has. A checkpoint of another family is refused, not compared (as eval does)."""
    from ..interop.convert import BY_TYPE, FAMILIES, config_from_hf
    from ..interop.parity import structure
    if hf is not None:
        m = models[spec.default_size]
        want = FAMILIES[(m.norm_position, m.final_norm, m.norm)]
        got = BY_TYPE[hf.config.model_type]
        if got is not want:
            raise ReproError(f"--hf {args.hf}: a {got.cls} checkpoint; {spec.name}'s models are "
                             f"{want.cls}")
    if args.size:
        return [args.size]
    if hf is None:
        return list(models)
    shape = structure(config_from_hf(hf.config))
    return [next((s for s, m in models.items() if structure(m) == shape), spec.default_size)]


def _show(spec, models: dict, results: list[dict], args) -> None:
    from ..interop.parity import param_rows
    if args.json:
        out = results if not args.params else {
            "parity": results, "params": param_rows(models, spec.published_params)}
        print(json.dumps(out, indent=2))
        return

    def e(k):
        return lambda r: f"{r[k]:.2e}"
    print(_table(results, [
        ("size", lambda r: f"{r['size']} ({r['n_layer']}x{r['n_embd']})"),
        ("family", lambda r: r["family"]), ("max_abs_diff", e("max_abs_diff")),
        ("round_trip", e("round_trip_max_abs_diff")),
        ("greedy", lambda r: "same" if r["greedy_match"] else "DIFFERENT"),
        ("config", lambda r: "match" if r["config_match"] else "differs from size"),
        ("params ours", lambda r: f"{r['params_ours']:,}"),
        ("params hf", lambda r: f"{r['params_hf']:,}"),
        ("s", lambda r: f"{r['seconds']:.1f}")]))
    if args.params:
        print()
        print(_table(param_rows(models, spec.published_params),
                     [(k, _count(k)) for k in ("size", "published", "formula", "ours", "hf",
                                               "note")]))


def _count(key: str):
    """A parameter-table cell: "-" for none, thousands separators for a count."""
    def cell(r: dict) -> str:
        v = r[key]
        return "-" if v is None else f"{v:,}" if isinstance(v, int) else str(v)
    return cell
