"""The benchmark's report: per-process results folded into rows (median and range over the
processes), MFU, ratios, and the markdown/JSON files.

A row's tokens/s is the median over the processes that timed it, each process's figure being
its median round; "ours / other" is computed inside each process (the contenders alternated
there; the other is the peer at its fastest setting in that process) and then summarised the
same way, so its range is the spread a reader should expect from one run to the next.
"""
from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

from ..flops import mfu
from ..outputs import write_files

COLUMNS = [  # header, row field, format
    ("row", "name", "{}"), ("tokens/s", "tokens_per_s", "{:,.0f}"),
    ("tokens/s min-max", "tokens_per_s_range", "{0:,.0f}-{1:,.0f}"),
    ("ms/step", "ms_per_step", "{:.2f}"), ("GPU ms/step", "kernel_ms", "{:.2f}"),
    ("MFU (datasheet)", "mfu", "{:.1%}"), ("MFU (vs matmul)", "mfu_vs_matmul", "{:.1%}"),
    ("peak mem GB", "peak_mem_gb", "{:.1f}"), ("ours / other", "ratio_vs_peer", "{:.2f}x"),
    ("ours / other min-max", "ratio_range", "{0:.2f}-{1:.2f}x"),
    ("processes", "processes_text", "{}"),
    ("compile+warm-up s (first; later)", "warmup_text", "{}"),
]
SAMPLE_FIELDS = ("tokens_per_s", "ms_per_step", "kernel_ms", "peak_mem_gb", "warmup_s",
                 "graphs_compiled_while_timed", "cudagraph_skips")

METHOD = (
    "Each pair runs in {processes} fresh process(es) (`python -m repro bench` starts them one "
    "after another; process i times every pair once). Inside a process the contenders are "
    "built, warmed up ({warm}; torch.compile's compilation happens there and is not timed), "
    "then timed in alternating rounds (A, B, ..., A, B, ...) with torch.cuda.synchronize() "
    "around every round (on CUDA), {steps} timed steps each; the process's figure is the "
    "median round. The table gives the median over the processes and the min-max range; "
    "\"ours / other\" is taken inside each process (our tokens/s over the Hugging Face "
    "peer's at its fastest setting in that process, or over our variant's) and summarised the "
    "same way. A step is the "
    "trainer's: forward and loss, backward, clip_grad_norm_(1.0), AdamW with the trainer's "
    "parameter groups (fused on CUDA), zero_grad, under {dtype}, dropout 0, the same random "
    "token batch for every contender. Ours is repro.model.GPT with model(x, y) and the "
    "trainer's options where a row names them (compile mode, cce loss, checkpointed blocks); "
    "the peer is the Hugging Face class of the same family (repro.interop), built from its "
    "config with the same shape and its own `labels=` loss, defaults left as a user gets them, "
    "run at every compile mode one of ours in the pair uses (torch.compile(model, mode=...), "
    "CUDA graphs included: the peer gets every option we take). MFU counts 6N + 12*L*T*d "
    "FLOPs per token (N: "
    "our parameter count, vocabulary padding excluded; attention counted dense, also for "
    "banded layers; recomputation of checkpointed blocks not counted), the same figure for "
    "every contender of a pair, against the datasheet bf16 peak and against the measured "
    "8192^3 bf16 matmul. Peak memory is torch.cuda.max_memory_allocated over the "
    "contender's rounds less the other contenders' resident weights, gradients and optimizer "
    "state (the highest over the processes). GPU ms/step sums the durations of the step's "
    "CUDA kernels (torch.profiler, 5 more steps after the timed rounds): the wall ms/step "
    "less the host's dispatch and launch gaps. Compile+warm-up: the first process's (cold "
    "compile caches) and the median of the later ones (torch.compile's on-disk caches warm).")


def device_slug(name: str) -> str:
    """"NVIDIA H100 80GB HBM3" -> "h100": the first word holding a digit."""
    words = [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]
    return next((w for w in words if re.search(r"\d", w)), "-".join(words) or "unknown")


def _spread(values: list) -> tuple:
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.median(values), (min(values), max(values))


def aggregate(info: list[dict], results: list[dict]) -> list[dict]:
    """One pair's rows (pairs.rows) filled from its per-process results."""
    ok = [r for r in results if "stats" in r]
    errors = [f"process {r['process']}: {r['error']}" for r in results if "error" in r]
    others = [j for j, row in enumerate(info) if row["role"] != "ours"]
    out = []
    for j, row in enumerate(info):
        samples = []
        for r in ok:
            # the other at its best in this process: the fastest of the peer's settings
            best = max(others, key=lambda k: r["stats"][k]["tokens_per_s"])
            st = r["stats"][j]
            other = r["stats"][best]
            ours = j not in others
            samples.append({"process": r["process"], "vs": info[best]["name"] if ours else None,
                            "ratio_vs_peer": st["tokens_per_s"] / other["tokens_per_s"]
                            if ours else None, **{f: st.get(f) for f in SAMPLE_FIELDS}})
        tps, tps_range = _spread([s["tokens_per_s"] for s in samples])
        ratio, ratio_range = _spread([s["ratio_vs_peer"] for s in samples])
        warm = [s["warmup_s"] for s in samples]
        peaks = [s["peak_mem_gb"] for s in samples if s["peak_mem_gb"] is not None]
        notes = [f"{len(errors)} of {len(results)} processes failed: {errors[0]}"] if errors \
            and ok else []
        recompiled = sum(s["graphs_compiled_while_timed"] or 0 for s in samples)
        skipped = sum(s["cudagraph_skips"] or 0 for s in samples)
        if recompiled:
            notes.append(f"compiled {recompiled} graph(s) while timed")
        if skipped and "reduce-overhead" in row["name"]:
            notes.append(f"CUDA graphs skipped {skipped} time(s)")
        bests = [s["vs"] for s in samples if s["vs"]]
        if len(set(bests)) > 1:   # the peer's fastest setting differed between processes
            notes.append("the other's fastest: " + "; ".join(
                f"{n} in {bests.count(n)} processes" for n in dict.fromkeys(bests)))
        if bests:
            row = {**row, "peer": max(dict.fromkeys(bests), key=bests.count)}
        out.append({**row, "tokens_per_s": tps, "tokens_per_s_range": tps_range,
                    "ms_per_step": _spread([s["ms_per_step"] for s in samples])[0],
                    "kernel_ms": _spread([s["kernel_ms"] for s in samples])[0],
                    "peak_mem_gb": max(peaks) if peaks else None,
                    "ratio_vs_peer": ratio, "ratio_range": ratio_range,
                    "processes": len(ok), "processes_run": len(results),
                    "warmup_s_first": warm[0] if warm else None,
                    "warmup_s_later": statistics.median(warm[1:]) if len(warm) > 1 else None,
                    "samples": samples, "errors": errors,
                    "error": None if ok else (errors[0] if errors else "not run"),
                    "note": "; ".join(notes) or None})
    return out


def finalize(rows: list[dict], device_name: str, matmul: float | None) -> list[dict]:
    """MFU against the datasheet and the measured matmul, from the median tokens/s."""
    for r in rows:
        tps = r.get("tokens_per_s")
        fpt = r.get("flops_per_token")
        r["mfu"] = mfu(tps, fpt, device_name) if tps and fpt else None
        r["mfu_vs_matmul"] = tps * fpt / (matmul * 1e12) if tps and fpt and matmul else None
    return rows


def attention_time_ratio(rows: list[dict], field: str | None = None) -> float | None:
    """Banded / dense cost of the attention microbenchmark (the target is <= 0.5): GPU kernel
    time where measured (what the layer costs inside a compiled step), else wall time."""
    attn = [r for r in rows if r.get("kind") == "attention" and r.get("ms_per_step")]
    if len(attn) != 2:
        return None
    field = field or ("kernel_ms" if all(r.get("kernel_ms") for r in attn) else "ms_per_step")
    return attn[0][field] / attn[1][field]


def document(env: dict, rows: list[dict], quick: bool, processes: int, timed_steps: int,
             wall_s: float, command: str) -> dict:
    env = env or {"device": "unknown", "torch": None, "transformers": None, "cuda": None,
                  "dtype": None, "matmul_tflops": None}
    rows = finalize(rows, env["device"], env.get("matmul_tflops"))
    return {**env, "device_slug": device_slug(env["device"]), "quick": quick,
            "processes": processes, "timed_steps_per_contender": timed_steps, "wall_s": wall_s,
            "command": command, "rows": rows, "attention_time_ratio": attention_time_ratio(rows)}


# ---- markdown ----------------------------------------------------------------------------
def _cell(row: dict, field: str, fmt: str) -> str:
    if field == "processes_text":
        return f"{row.get('processes', 1)}/{row.get('processes_run', 1)}"
    if field == "warmup_text":
        first = row.get("warmup_s_first")
        later = row.get("warmup_s_later")
        if first is None:
            return ""
        return f"{first:.0f}" + ("" if later is None else f"; {later:.0f}")
    value = row.get(field)
    if value is None:
        return ""
    return fmt.format(*value) if isinstance(value, (list, tuple)) else fmt.format(value)


def table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(h for h, _, _ in COLUMNS) + " | note |",
             "|" + "---|" * (len(COLUMNS) + 1)]
    for r in rows:
        cells = [_cell(r, f, fmt) for _, f, fmt in COLUMNS] + [r.get("error") or r.get("note")
                                                               or ""]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def to_markdown(doc: dict) -> str:
    mm = doc.get("matmul_tflops")
    ratio = doc.get("attention_time_ratio")
    head = [f"# Training-step benchmark: {doc['device']}", "",
            f"- device: {doc['device']}" + (f" (CUDA {doc['cuda']})" if doc.get("cuda") else ""),
            f"- torch {doc['torch']}, transformers {doc['transformers']}",
            f"- precision: {doc['dtype']}; timed steps per contender and process: "
            f"{doc['timed_steps_per_contender']}; fresh processes per pair: {doc['processes']}; "
            f"wall time {doc['wall_s']} s",
            "- 8192^3 bf16 matmul: " + (f"{mm:.1f} TFLOP/s" if mm else "not measured (no GPU)"),
            f"- command: `{doc['command']}`"]
    by_command: dict = {}   # the pairs kept from earlier runs, by the command that measured them
    for r in doc["rows"]:
        if r["key"] in doc.get("kept_from_earlier_run", []):
            by_command.setdefault(r["command"], set()).add(r["key"])
    if by_command:
        head.append("- pairs kept from earlier runs, with those runs' figures (processes; MFU "
                    "against "
                    "their own matmul): " + "; ".join(f"{', '.join(sorted(keys))} (`{cmd}`)"
                                                     for cmd, keys in by_command.items()))
    if ratio is not None:
        wall = attention_time_ratio(doc["rows"], "ms_per_step")
        head.append(f"- attention forward+backward, banded / dense GPU time: {ratio:.2f} "
                    f"(target <= 0.5); wall time of the eager calls: {wall:.2f}")
    if doc.get("quick"):
        head.append("- **--quick**: tiny shapes on the CPU, no compile; a smoke test, the "
                    "numbers are not claims")
    method = METHOD.format(processes=doc["processes"], steps=doc["timed_steps_per_contender"],
                           warm="1 step" if doc.get("quick") else "2 steps eager, 3 compiled",
                           dtype=doc["dtype"])
    return "\n".join(head + ["", table(doc["rows"]), "", "## Method", "", method, ""])


# ---- files -------------------------------------------------------------------------------
def in_order(rows: list[dict], order: list[str]) -> list[dict]:
    return sorted(rows, key=lambda r: order.index(r["key"]))   # stable: a pair's own order


def merge_earlier(doc: dict, path: Path, ran: list[str], order: list[str]) -> dict:
    """A --rows run replaces only its own pairs in an earlier report of the same device, so
    pairs skipped by the time budget can be run alone without losing the others; the merged
    report says which pairs came from before, and the command that measured each. A report
    whose rows do not record their command (one from before they did) is replaced, not merged:
    its rows could not say what measured them."""
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return doc
    if (old.get("device"), old.get("quick")) != (doc["device"], doc["quick"]):
        return doc
    if not all("command" in r for r in old.get("rows", [])):
        return doc
    kept = [r for r in old.get("rows", []) if r.get("key") in order and r["key"] not in ran]
    doc["rows"] = in_order(kept + doc["rows"], order)
    doc["kept_from_earlier_run"] = sorted({r["key"] for r in kept})
    doc["attention_time_ratio"] = attention_time_ratio(doc["rows"])
    return doc


def write(doc: dict, out: Path, order: list[str],
          ran: list[str] | None = None) -> tuple[Path, Path]:
    """<out>/bench-<slug>.md and .json; with `ran` (a --rows run), merged into the old ones."""
    stem = out / f"bench-{doc['device_slug']}"
    md = stem.with_suffix(".md")
    js = stem.with_suffix(".json")
    for r in doc["rows"]:   # which command measured a row: kept with it through later merges
        r.setdefault("command", doc["command"])
    if ran is not None:
        doc = merge_earlier(doc, js, ran, order)
    write_files(out, {md.name: to_markdown(doc), js.name: json.dumps(doc, indent=2) + "\n"})
    return md, js
