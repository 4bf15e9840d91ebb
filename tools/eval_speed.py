"""`repro eval` against lm-evaluation-harness's own Hugging Face model on LAMBADA, each timed in
fresh processes: end to end (the process's wall time, imports included) and the scoring.

    python tools/eval_speed.py [--processes 3] [--budget-s 280] [--out reports]
    python tools/eval_speed.py --tiny --limit 5 --processes 1 --device cpu --out DIR  (the test)

1. DIR: a GPT2LMHeadModel with random weights (GPT2Config(): the 124M shape; --tiny: 2 layers
   of 32) written with save_pretrained into a temporary folder.
2. Not timed: `repro eval --hf DIR --tasks lambada --set eval.precision=fp32` fills the token
   cache and the page cache (the issue's figures are with a warm token cache) and gives the
   fp32 perplexity that lm_eval's fp32 model must agree with.
3. Rounds (round i runs process i of every contender, so a budget that runs out costs each
   contender its last processes, not one contender all of them):
   - `python -m repro eval --hf DIR --tasks lambada` (its defaults: bf16 autocast on a GPU,
     batches of 32,768 tokens); scoring = the task's seconds in its eval.json;
   - lm_eval's model "hf" (pretrained=DIR, dtype float32) through `lm_eval.simple_evaluate`
     on the same shipped LAMBADA file (repro/eval/lm_eval_tasks/repro_lambada.yaml), at batch
     64 and at batch 1; scoring = the simple_evaluate call (after lm_eval's imports; its
     model load included, as it is in `repro eval`'s end to end).
   A process that would end past --budget-s from the tool's start (its guess: the slowest
   one of its kind so far) is not started; the report says how many ran.
4. Writes <out>/eval-speed-<gpu>.md and .json: median and min-max over the processes; every
   perplexity against lm_eval's at batch 64 (they must agree within 0.1%).

On an H200 (issue 28's figures: lm_eval about 34 s at batch 64 and 55 s at batch 1 after its
imports) the default budget, 280 s, fits 3 processes of `repro eval` and probably 2 of each
lm_eval setting; 3 of everything needs about 7 minutes (--budget-s 420).
Needs torch, transformers, safetensors, lm-eval (0.4.x) and datasets; the repository's data/
holds the LAMBADA file.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))          # run as a script: the repository's repro package
TOLERANCE = 1e-3                       # relative perplexity agreement
TARGETS = {"end_to_end_s": 8.0, "scoring_s": 2.0}   # repro eval, LAMBADA, 124M, H200 (issue 28)
CONTENDERS = ("repro eval", "lm_eval hf batch 64", "lm_eval hf batch 1")


def build_model_dir(out: Path, tiny: bool) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=2, n_head=2, n_embd=32) if tiny else GPT2Config()
    GPT2LMHeadModel(cfg).save_pretrained(out)
    from repro.data.tokenizers import get_tokenizer   # lm_eval's model reads it from the folder
    get_tokenizer("gpt2").hf_tokenizer(cfg.n_positions).save_pretrained(out)
    return out


def _run(cmd: list[str]) -> str:
    """stdout of a finished process; its stderr's tail if it failed. Offline: everything is
    local, and a GPU machine without a network must not wait on the Hub."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    if done.returncode:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return done.stdout


def repro_eval(model_dir: Path, args, *extra: str) -> dict:
    """One `python -m repro eval` process: its wall time, its scoring time and perplexity."""
    cmd = [sys.executable, "-m", "repro", "eval", "--hf", str(model_dir), "--tasks", "lambada",
           "--json", "--no-progress", "--device", args.device, *extra]
    cmd += ["--limit", str(args.limit)] if args.limit else []
    start = time.perf_counter()
    out = _run(cmd)
    wall = time.perf_counter() - start
    result = json.loads(out)
    rows = {r["metric"]: r for r in result["results"]}
    return {"end_to_end_s": wall, "scoring_s": rows["perplexity"]["seconds"],
            "perplexity": rows["perplexity"]["value"], "accuracy": rows["accuracy"]["value"],
            "n": rows["perplexity"]["n"], "startup": result.get("startup"),
            "precision": result["precision"]}


def lm_eval_process(model_dir: Path, batch: int, args) -> dict:
    """One fresh process running worker() below."""
    cmd = [sys.executable, __file__, "--worker", str(model_dir), "--batch", str(batch),
           "--device", args.device, "--limit", str(args.limit)]
    start = time.perf_counter()
    out = _run(cmd)
    return {**json.loads(out.strip().splitlines()[-1]), "end_to_end_s": time.perf_counter() - start}


def worker(model_dir: str, batch: int, device: str, limit: int) -> None:
    """lm_eval's HF model on the shipped LAMBADA file; prints one JSON line."""
    start = time.perf_counter()
    import lm_eval
    from lm_eval.tasks import TaskManager

    import repro.eval.harness as H
    # include_defaults=False: only our YAMLs are indexed, not lm_eval's 26k task files
    tm = TaskManager(include_path=str(H.TASKS_DIR), include_defaults=False)
    ready = time.perf_counter()
    out = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={model_dir},dtype=float32",
                                  tasks=["repro_lambada"], task_manager=tm, device=device,
                                  batch_size=batch, limit=limit or None, bootstrap_iters=0)
    done = time.perf_counter()
    res = out["results"]["repro_lambada"]
    print(json.dumps({"imports_s": ready - start, "scoring_s": done - ready,
                      "perplexity": res["perplexity,none"], "accuracy": 100 * res["acc,none"],
                      "n": out["n-samples"]["repro_lambada"]["effective"]}))


def rounds(run: dict, processes: int, budget_s: float, start: float, log) -> dict:
    """run: {contender: a callable timing one fresh process} -> {contender: [its results]}.
    A process is not started if the slowest of its kind so far would end past budget_s
    seconds after `start` (time.perf_counter()); skipped processes are absent."""
    samples = {name: [] for name in run}
    for i in range(processes):
        for name, once in run.items():
            guess = max((s["end_to_end_s"] for s in samples[name]), default=0.0)
            if time.perf_counter() - start + guess > budget_s:
                log(f"skipped {name} process {i + 1}: about {guess:.0f} s more would pass "
                    f"--budget-s {budget_s:.0f}")
                continue
            samples[name].append(once())
            log(f"{name} process {i + 1}: {samples[name][-1]['end_to_end_s']:.1f} s end to end, "
                f"{samples[name][-1]['scoring_s']:.2f} s scoring")
    return samples


def spread(values: list) -> dict | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(samples: dict, reference: dict) -> dict:
    """Per contender: median/min/max of the times; every perplexity against lm_eval's at batch
    64 (the fp32 repro eval reference included)."""
    base = next((s["perplexity"] for s in samples["lm_eval hf batch 64"]), None)
    out = {}
    for name, runs in {**samples, "repro eval fp32 (not timed)": [reference]}.items():
        ppl = [r["perplexity"] for r in runs]
        rel = [abs(p / base - 1) for p in ppl] if base else []
        out[name] = {"processes": len(runs),
                     "end_to_end_s": spread([r["end_to_end_s"] for r in runs]),
                     "scoring_s": spread([r["scoring_s"] for r in runs]),
                     "perplexity": spread(ppl), "max_rel_diff_vs_lm_eval_b64": max(rel, default=None),
                     "accuracy": spread([r["accuracy"] for r in runs]),
                     "n": runs[0]["n"] if runs else None, "samples": runs}
    diffs = [v["max_rel_diff_vs_lm_eval_b64"] for v in out.values()
             if v["max_rel_diff_vs_lm_eval_b64"] is not None]
    return {"contenders": out, "perplexities_agree": bool(diffs) and max(diffs) <= TOLERANCE,
            "tolerance": TOLERANCE}


def environment(device: str) -> dict:
    import torch
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
    versions = {}
    for pkg in ("torch", "transformers", "lm_eval"):
        try:
            versions[pkg] = __import__(pkg).__version__
        except (ImportError, AttributeError):
            versions[pkg] = None
    return {"device": name, **versions}


def fmt(s: dict | None, unit: str = " s", digits: int = 2) -> str:
    if not s:
        return ""
    return f"{s['median']:.{digits}f}{unit} ({s['min']:.{digits}f}-{s['max']:.{digits}f})"


def markdown(doc: dict) -> str:
    lines = [f"# Evaluation speed: {doc['device']}", "",
             f"- LAMBADA ({doc['passages']} passages), a random-weight GPT2LMHeadModel "
             f"({doc['model']}) saved with save_pretrained; torch {doc['torch']}, "
             f"transformers {doc['transformers']}, lm_eval {doc['lm_eval']}",
             f"- command: `{doc['command']}` ({doc['wall_s']:.0f} s)",
             f"- targets for `repro eval` (124M, H200): end to end <= "
             f"{TARGETS['end_to_end_s']:.0f} s, scoring <= {TARGETS['scoring_s']:.0f} s",
             f"- perplexities agree within {100 * doc['tolerance']:.1f}% of lm_eval's at batch "
             f"64: **{'yes' if doc['perplexities_agree'] else 'NO'}**", "",
             "| contender | processes | end to end s, median (min-max) | scoring s | perplexity "
             "| vs lm_eval b64 | accuracy % |", "|---|---|---|---|---|---|---|"]
    for name, c in doc["contenders"].items():
        rel = c["max_rel_diff_vs_lm_eval_b64"]
        lines.append(f"| {name} | {c['processes']} | {fmt(c['end_to_end_s'], '')} | "
                     f"{fmt(c['scoring_s'], '')} | {fmt(c['perplexity'], '', 3)} | "
                     f"{'' if rel is None else f'{100 * rel:.4f}%'} | {fmt(c['accuracy'], '')} |")
    lines += ["", "## Method", "", __doc__.split("\n\n", 2)[2].split("\nOn an H200")[0], ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--processes", type=int, default=3)
    p.add_argument("--budget-s", type=float, default=280.0,
                   help="seconds from the start within which every started process should end")
    p.add_argument("--out", default=str(REPO / "reports"))
    p.add_argument("--device", default="cuda")
    p.add_argument("--limit", type=int, default=0, help="first N passages only (a smoke run)")
    p.add_argument("--tiny", action="store_true", help="2 layers of 32 (a smoke run)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.batch, args.device, args.limit)
    log = lambda m: print(f"[eval_speed] {m}", file=sys.stderr, flush=True)  # noqa: E731
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="eval-speed-") as tmp:
        model_dir = build_model_dir(Path(tmp) / "gpt2", args.tiny)
        reference = repro_eval(model_dir, args, "--set", "eval.precision=fp32")
        log(f"warm-up (fp32 reference): {reference['end_to_end_s']:.1f} s")
        samples = rounds({CONTENDERS[0]: lambda: repro_eval(model_dir, args),
                          CONTENDERS[1]: lambda: lm_eval_process(model_dir, 64, args),
                          CONTENDERS[2]: lambda: lm_eval_process(model_dir, 1, args)},
                         args.processes, args.budget_s, start, log)
    from repro.bench.document import device_slug
    env = environment(args.device)
    doc = {**env, "command": " ".join(["python tools/eval_speed.py"] + (argv or sys.argv[1:])),
           "model": "2x32 (--tiny)" if args.tiny else "124M, GPT2Config()",
           "passages": reference["n"], "limit": args.limit or None,
           "wall_s": time.perf_counter() - start, **summarize(samples, reference)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"eval-speed-{device_slug(env['device'])}"
    stem.with_suffix(".json").write_text(json.dumps(doc, indent=2) + "\n")
    stem.with_suffix(".md").write_text(markdown(doc))
    print(markdown(doc))
    log(f"wrote {stem}.md and {stem}.json")


if __name__ == "__main__":
    main()
