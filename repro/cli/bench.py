"""`python -m repro bench`: training-step throughput of ours vs the Hugging Face peers.

    python -m repro bench [--json] [--quick] [--out reports] [--rows NAMES] [--budget-s S]

Writes <out>/bench-<gpu>.md and <out>/bench-<gpu>.json (<gpu>: "h100", ... or "cpu") and
prints the table last (with --json, the JSON document last and the table on stderr).
--quick runs tiny shapes on the CPU without compile in seconds: a smoke test, not a claim.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from . import Parser
from ..errors import ReproError

COLUMNS = [  # header, row field, format
    ("row", "name", "{}"), ("tokens/s", "tokens_per_s", "{:,.0f}"),
    ("ms/step", "ms_per_step", "{:.2f}"), ("GPU ms/step", "kernel_ms", "{:.2f}"),
    ("MFU (datasheet)", "mfu", "{:.1%}"),
    ("MFU (vs matmul)", "mfu_vs_matmul", "{:.1%}"), ("peak mem GB", "peak_mem_gb", "{:.1f}"),
    ("ours / other", "ratio_vs_peer", "{:.2f}x"), ("compile+warm-up s", "warmup_s", "{:.0f}"),
]

METHOD = (
    "Each pair runs in one process on one device: both contenders are built, warmed up "
    "({warm}; torch.compile's compilation happens there and is not timed), then timed in "
    "alternating rounds (A, B, A, B, ...) with torch.cuda.synchronize() around every round "
    "(on CUDA), "
    "{steps} timed steps each; the figure is the median round. A step is the trainer's: "
    "forward and loss, backward, clip_grad_norm_(1.0), AdamW.step (fused on CUDA), "
    "zero_grad, under {dtype}, dropout 0, the same random token batch for both. Ours is "
    "repro.model.GPT with model(x, y); the peer is the Hugging Face model built from its "
    "config with the same shape and its own `labels=` loss, defaults left as a user gets "
    "them (compiled with plain torch.compile(model)). MFU counts 6N + 12*L*T*d FLOPs per "
    "token (N: our parameter count, vocabulary padding excluded; attention counted dense, "
    "also for banded layers), the same figure for both contenders of a row, against the "
    "datasheet bf16 peak and against the measured 8192^3 bf16 matmul. Peak memory is "
    "torch.cuda.max_memory_allocated over the contender's rounds less the other "
    "contender's resident weights and optimizer state. \"ours / other\" divides our "
    "tokens/s by the peer's (or the variant's). GPU ms/step sums the durations of the "
    "step's CUDA kernels (torch.profiler, 5 more steps after the timed rounds): the wall "
    "ms/step less the host's dispatch and launch gaps.")


def _cell(row: dict, field: str, fmt: str) -> str:
    value = row.get(field)
    return "" if value is None else fmt.format(value)


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(h for h, _, _ in COLUMNS) + " | note |",
             "|" + "---|" * (len(COLUMNS) + 1)]
    for r in rows:
        cells = [_cell(r, f, fmt) for _, f, fmt in COLUMNS] + [r.get("error") or ""]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def to_markdown(doc: dict) -> str:
    from ..bench import attention_time_ratio
    mm = doc.get("matmul_tflops")
    ratio = doc.get("attention_time_ratio")
    head = [f"# Training-step benchmark: {doc['device']}", "",
            f"- device: {doc['device']}" + (f" (CUDA {doc['cuda']})" if doc.get("cuda") else ""),
            f"- torch {doc['torch']}, transformers {doc['transformers']}",
            f"- precision: {doc['dtype']}; timed steps per contender: "
            f"{doc['timed_steps_per_contender']}; wall time {doc['wall_s']} s",
            "- 8192^3 bf16 matmul: " + (f"{mm:.1f} TFLOP/s" if mm else "not measured (no GPU)"),
            f"- command: `python -m repro bench{' --quick' if doc.get('quick') else ''}`"]
    if doc.get("kept_from_earlier_run"):
        head.append(f"- pairs kept from an earlier run: {', '.join(doc['kept_from_earlier_run'])}")
    if ratio is not None:
        wall = attention_time_ratio(doc["rows"], "ms_per_step")
        head.append(f"- attention forward+backward, banded / dense GPU time: {ratio:.2f} "
                    f"(target <= 0.5); wall time of the eager calls: {wall:.2f}")
    if doc.get("quick"):
        head.append("- **--quick**: tiny shapes on the CPU, no compile; a smoke test, the "
                    "numbers are not claims")
    steps = doc["timed_steps_per_contender"]
    method = METHOD.format(warm="1 step" if doc.get("quick") else "2 steps eager, 3 compiled",
                           steps=steps, dtype=doc["dtype"])
    return "\n".join(head + ["", table(doc["rows"]), "", "## Method", "", method, ""])


def merge_earlier(doc: dict, path: Path, ran: list[str]) -> dict:
    """A --rows run replaces only its own pairs in an earlier report of the same device, so
    rows skipped by the time budget can be run alone without losing the others. Each pair
    is still timed within one process; the merged rows say which pairs came from before."""
    from ..bench import DISPLAY, attention_time_ratio, in_display_order
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return doc
    if (old.get("device"), old.get("quick")) != (doc["device"], doc["quick"]):
        return doc
    kept = [r for r in old.get("rows", []) if r.get("key") in DISPLAY and r["key"] not in ran]
    doc["rows"] = in_display_order(kept + doc["rows"])
    doc["kept_from_earlier_run"] = sorted({r["key"] for r in kept})
    doc["attention_time_ratio"] = attention_time_ratio(doc["rows"])
    return doc


def write(doc: dict, out: Path, ran: list[str] | None = None) -> tuple[Path, Path]:
    """<out>/bench-<slug>.md and .json; with `ran` (a --rows run), merged into the old ones."""
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"bench-{doc['device_slug']}"
    md, js = stem.with_suffix(".md"), stem.with_suffix(".json")
    if ran is not None:
        doc = merge_earlier(doc, js, ran)
    md.write_text(to_markdown(doc))
    js.write_text(json.dumps(doc, indent=2) + "\n")
    return md, js


def main(argv: list[str]) -> None:
    from .. import bench
    p = Parser(prog="repro bench", description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print the JSON document last")
    p.add_argument("--quick", action="store_true", help="tiny CPU smoke run, no compile")
    p.add_argument("--out", default="reports", help="folder for bench-<gpu>.md/.json")
    p.add_argument("--rows", help="comma-separated pairs or prefixes (e.g. gpt2,attn); "
                   "replaces just those in an existing report: " + ", ".join(bench.DISPLAY))
    p.add_argument("--budget-s", type=float, default=450.0,
                   help="skip (and record) pairs that would start past this many seconds")
    args = p.parse_args(argv)
    rows = [r.strip() for r in args.rows.split(",") if r.strip()] if args.rows else None
    ran = bench.select(rows)   # a typo fails before anything is built
    import torch
    if not args.quick and not torch.cuda.is_available():
        raise ReproError("the full bench needs a CUDA GPU (paper shapes, compile); "
                         "use --quick for the CPU smoke run")
    doc = bench.run_bench(quick=args.quick, rows=rows, budget_s=args.budget_s)
    md, js = write(doc, Path(args.out), ran if rows else None)
    print(f"wrote {md} and {js}", file=sys.stderr)
    failed = [r["name"] for r in doc["rows"] if r.get("error")]
    if failed:
        print(f"{len(failed)} row(s) failed or were skipped: {', '.join(failed)}",
              file=sys.stderr)
    if args.json:
        print(table(doc["rows"]), file=sys.stderr)
        print(json.dumps(doc, indent=2))
    else:
        print(table(doc["rows"]))
