"""The trainer's steady tokens/s on GPT-2's `--scale medium` shape (124M, micro-batch 32 x 1024,
4 micro-batches a step, compiled), beside the benchmark's row for the same micro-batch.

    python tools/steady_tokens.py [--steps 250] [--dropout] [--bench reports/bench-h200.json]
                                  [--set KEY=VALUE ...]

It runs `python -m repro gpt2 --scale medium --steps N` as a user would (real data, the
trainer's loop, logging every 10 steps; no evaluation before the last step, no timed
checkpoints), then reads metrics.jsonl: each row's tokens/s covers the 10 steps since the
previous row, measured between two host syncs. The steady figure is the median row after
step --skip (compilation and warm-up excluded). Dropout is 0 unless --dropout, as in the
benchmark, so the two are comparable; with --dropout it is the recipe's 0.1, whose cost is then
the difference. About 2.5 minutes on an H200 for 250 steps (compile ~45 s, 250 steps ~65 s,
the final evaluation's compile ~30 s). Extra --set values go to the run (e.g.
train.compile_mode=reduce-overhead).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH_PAIR = "gpt2-b32-compiled"   # the medium scale's micro-batch, compiled the same way
NO_DROPOUT = ["model.embd_pdrop=0", "model.attn_pdrop=0", "model.resid_pdrop=0"]
QUIET = ["train.log_interval=10", "train.eval_interval=0", "train.checkpoint_seconds=0",
         "train.sample_tokens=0", "data.max_chars=4000000"]   # a short final evaluation


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=250)
    p.add_argument("--skip", type=int, default=50, help="steps before the steady part")
    p.add_argument("--dropout", action="store_true", help="keep the recipe's dropout 0.1")
    p.add_argument("--bench", default="reports/bench-h200.json")
    p.add_argument("--set", dest="sets", action="append", default=[])
    p.add_argument("--out", help="keep the run here (default: a temporary folder)")
    args = p.parse_args()
    sets = QUIET + ([] if args.dropout else NO_DROPOUT) + args.sets
    with tempfile.TemporaryDirectory(prefix="steady-") as tmp:
        root = Path(args.out or tmp)
        cmd = [sys.executable, "-m", "repro", "gpt2", "--scale", "medium", "--steps",
               str(args.steps), "--out", str(root), "--no-report", "--no-progress"]
        cmd += [a for s in sets for a in ("--set", s)]
        print("running:", " ".join(cmd), file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True)
        metrics = next(root.glob("gpt2-medium/*/metrics.jsonl"))
        rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    steady = [r for r in rows if r["step"] > args.skip and r["step"] < args.steps]
    if not steady:
        raise SystemExit(f"no logged window after step {args.skip}: give --steps well above --skip")
    tps = [r["tokens_per_s"] for r in steady]
    med = statistics.median(tps)
    out = {"steps": args.steps, "windows": len(tps), "tokens_per_s": med,
           "tokens_per_s_range": [min(tps), max(tps)],
           "mfu": statistics.median(r["mfu"] for r in steady) if "mfu" in steady[0] else None,
           "peak_mem_gb": max(r.get("peak_mem_gb") or 0 for r in rows), "sets": sets}
    try:
        bench = json.loads(Path(args.bench).read_text())
        row = next(r for r in bench["rows"] if r["key"] == BENCH_PAIR and r["role"] == "ours")
        out.update(bench_row=row["name"], bench_tokens_per_s=row["tokens_per_s"],
                   bench_tokens_per_s_range=row.get("tokens_per_s_range"),
                   trainer_over_bench=med / row["tokens_per_s"])
    except (OSError, StopIteration, KeyError, ValueError):
        out["bench_row"] = f"no {BENCH_PAIR} row of ours in {args.bench}"
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
