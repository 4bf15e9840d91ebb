"""`python -m repro bench`: the CPU smoke run CI can afford (--quick, 2 fresh processes), the
folding of per-process results into medians and ranges, what happens when a process dies, and
the largest-size search under a fake memory limit. The quick numbers are not claims; what is
checked is the report's shape and arithmetic."""
from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys

import pytest
import torch

from repro.bench import document as D
from repro.bench import fresh
from repro.bench.largest import Candidate, largest, to_markdown
from repro.bench.one_process import read_results, run_pairs
from repro.bench.pairs import Ours, Pair, Peer, quick_pairs
from repro.cli import bench as cli_bench
from repro.config import ModelConfig
from repro.errors import ReproError
from run_helpers import cli_env

FIELDS = ("name", "key", "role", "tokens_per_s", "tokens_per_s_range", "ms_per_step", "mfu",
          "peak_mem_gb", "ratio_vs_peer", "ratio_range", "processes", "samples", "error")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The quick run as a user types it (no --out), in a fresh folder: (doc, where, stderr)."""
    cwd = tmp_path_factory.mktemp("bench")
    proc = subprocess.run([sys.executable, "-m", "repro", "bench", "--quick", "--processes", "2",
                           "--json"], capture_output=True, text=True,
                          timeout=400, env=cli_env(), cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout), cwd, proc.stderr


def test_quick_report_rows(quick):
    doc, cwd, stderr = quick
    out = cwd / "runs" / "bench"
    assert doc["device"] == "cpu" and doc["quick"] and doc["matmul_tflops"] is None
    assert doc["processes"] == 2 and stderr.count("[bench] process ") == 2   # one per repetition
    assert json.loads((out / "bench-cpu.json").read_text()) == doc
    rows = doc["rows"]
    # the pairs that stay distinct on the CPU: GPT-2 vs HF, GPT-2 with checkpointed blocks,
    # GPT-1, GPT-3's banded vs dense, iGPT, the attention microbenchmark
    assert {r["key"] for r in rows} == {"gpt2-b16-eager", "gpt2-b32-memory", "gpt1-b32-compiled",
                                        "gpt3s-b8-banded", "igpt-b16-eager", "attn"}
    assert len(rows) == 13 and len({r["name"] for r in rows}) == 13
    for r in rows:
        assert set(FIELDS) <= set(r), r
        assert r["error"] is None and r["processes"] == 2 and len(r["samples"]) == 2, r
        tps = [s["tokens_per_s"] for s in r["samples"]]
        assert r["tokens_per_s"] == statistics.median(tps)
        assert r["tokens_per_s_range"] == [min(tps), max(tps)]
        assert r["peak_mem_gb"] is None and r["mfu"] is None   # CPU: no memory stats, no peak
        for s in r["samples"]:
            assert math.isclose(r["batch"] * r["ctx"] / s["tokens_per_s"] * 1e3, s["ms_per_step"],
                                rel_tol=1e-9)
        others = [o for o in rows if o["key"] == r["key"] and o["name"] == r["peer"]]
        if r["peer"] is None:
            assert r["ratio_vs_peer"] is None and r["role"] in ("peer", "variant")
        else:   # each process's ratio is taken inside it, then summarised
            other, = others
            ratios = [a["tokens_per_s"] / b["tokens_per_s"]
                      for a, b in zip(r["samples"], other["samples"])]
            assert r["ratio_vs_peer"] == pytest.approx(statistics.median(ratios))
            assert r["ratio_range"] == pytest.approx([min(ratios), max(ratios)])
            assert other["flops_per_token"] == r["flops_per_token"]
    assert sum(r["role"] == "peer" and " HF " in r["name"] for r in rows) == 3
    assert {"gpt2 ours B4 eager checkpointed", "gpt2 ours B4 eager chunked"} <= {
        r["name"] for r in rows}
    assert doc["attention_time_ratio"] > 0


def markdown_table(md: str) -> list[dict]:
    """The first table of a markdown text, one dict per row keyed by the header."""
    lines = [line for line in md.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|"))))
            for line in lines[2:]]


def test_quick_markdown(quick):
    """Each table row carries the document's numbers for that row, as the columns format them."""
    doc, cwd, _ = quick
    md = (cwd / "runs" / "bench" / "bench-cpu.md").read_text()
    table = markdown_table(md)
    assert [t["row"] for t in table] == [r["name"] for r in doc["rows"]]
    for t, r in zip(table, doc["rows"]):
        low, high = r["tokens_per_s_range"]
        assert t["tokens/s"] == f"{r['tokens_per_s']:,.0f}"
        assert t["tokens/s min-max"] == f"{low:,.0f}-{high:,.0f}"
        assert t["ms/step"] == f"{r['ms_per_step']:.2f}"
        assert t["processes"] == "2/2"
        assert t["MFU (datasheet)"] == t["peak mem GB"] == ""   # the CPU has neither
        ratio = "" if r["ratio_vs_peer"] is None else f"{r['ratio_vs_peer']:.2f}x"
        assert t["ours / other"] == ratio
    assert md.splitlines()[4] == (f"- precision: {doc['dtype']}; timed steps per contender and "
                                  f"process: "
                                  f"{doc['timed_steps_per_contender']}; fresh processes per "
                                  f"pair: 2; wall time {doc['wall_s']} s")


def test_quick_never_writes_into_reports(quick):
    """Without --out, a smoke run writes runs/bench/ under the working folder, nothing else."""
    _, cwd, stderr = quick
    written = sorted(str(p.relative_to(cwd)) for p in cwd.rglob("*") if p.is_file())
    assert written == ["runs/bench/bench-cpu.json", "runs/bench/bench-cpu.md"]
    assert "runs/bench" in cli_bench.parser().format_help()


def _result(process, tokens):
    return {"process": process, "stats": [{"tokens_per_s": t, "ms_per_step": 1e3 / t,
                                            "kernel_ms": None, "peak_mem_gb": None,
                                            "warmup_s": 10.0 / process,
                                            "graphs_compiled_while_timed": 0,
                                            "cudagraph_skips": 0} for t in tokens]}


def test_aggregate_median_range_and_failures():
    info = [dict(name=n, key="k", kind="model", role=role, peer=peer, batch=1, ctx=1000,
                 params=1, flops_per_token=1.0)
            for n, role, peer in [("a", "ours", "c"), ("b", "ours", "c"), ("c", "peer", None)]]
    results = [_result(1, [300, 200, 100]), {"process": 2, "error": "process exited with code 1"},
               _result(3, [500, 100, 250]), _result(4, [400, 300, 200])]
    a, b, c = D.aggregate(info, results)
    assert a["tokens_per_s"] == 400 and a["tokens_per_s_range"] == (300, 500)
    assert a["ratio_vs_peer"] == 2.0 and a["ratio_range"] == (2.0, 3.0)   # 3, 2, 2
    assert b["ratio_vs_peer"] == 1.5 and b["ratio_range"] == (0.4, 2.0)   # 2, 0.4, 1.5
    assert c["ratio_vs_peer"] is None and c["tokens_per_s"] == 200
    assert a["processes"] == 3 and a["processes_run"] == 4 and a["error"] is None
    assert a["note"] == "1 of 4 processes failed: process 2: process exited with code 1"
    assert a["warmup_s_first"] == 10.0 and a["warmup_s_later"] == (10.0 / 3 + 10.0 / 4) / 2
    failed = D.aggregate(info, [{"process": 1, "error": "RuntimeError: CUDA out of memory"}])
    assert all(r["tokens_per_s"] is None and r["error"].endswith("out of memory") for r in failed)
    # ms/step: the median of 1e3/300, 1e3/500, 1e3/400; no GPU time, MFU or memory measured
    assert D.table([a]).splitlines()[-1] == (
        "| a | 400 | 300-500 | 2.50 |  |  |  |  | 2.00x | 2.00-3.00x | 3/4 | 10; 3 "
        "| 1 of 4 processes failed: process 2: process exited with code 1 |")


def test_the_peer_runs_at_every_compile_mode_and_ours_divide_by_its_best():
    """iGPT's CUDA-graph row once stood against a plainly compiled peer: now the peer gets
    every mode of ours, and each process divides by the fastest of the peer's settings."""
    shape = ModelConfig(vocab_size=100, block_size=16, n_layer=1, n_head=2, n_embd=16)
    pair = Pair("p", "gpt2", shape, 4, (Ours(), Ours("reduce-overhead"), Peer()))
    assert pair.contenders == (Ours(), Ours("reduce-overhead"), Peer(), Peer("reduce-overhead"))
    assert Pair("e", "gpt2", shape, 4, (Ours(None), Peer(None))).contenders == (Ours(None),
                                                                               Peer(None))
    from repro.bench.pairs import rows
    info = rows(pair)
    assert [r["role"] for r in info] == ["ours", "ours", "peer", "peer"]
    assert info[0]["peer"] == ("the best of: gpt2 HF GPT2LMHeadModel B4 compiled; "
                               "gpt2 HF GPT2LMHeadModel B4 compiled reduce-overhead")
    # process 1: the peer's graphs win (330 > 300); process 2: its plain compile (310 > 250)
    compiled, graphs = D.aggregate(info, [_result(1, [500, 600, 300, 330]),
                                          _result(2, [496, 620, 310, 250])])[:2]
    assert [s["ratio_vs_peer"] for s in graphs["samples"]] == [600 / 330, 2.0]
    assert [s["vs"] for s in graphs["samples"]] == [info[3]["name"], info[2]["name"]]
    assert compiled["ratio_vs_peer"] == statistics.median([500 / 330, 496 / 310])
    assert "the other's fastest: " in graphs["note"] and "in 1 processes" in graphs["note"]
    plain = D.aggregate(info, [_result(1, [500, 600, 300, 330])])
    assert plain[1]["peer"] == info[3]["name"] and plain[1]["note"] is None
    assert plain[3]["ratio_vs_peer"] is None


def test_rows_merge_into_an_earlier_report(tmp_path):
    order = ["x", "y"]

    def doc(key, tokens):
        rows = [dict(name=f"{key} ours", key=key, kind="model", role="ours", peer=None,
                     tokens_per_s=tokens, error=None)]
        return {"device": "cpu", "device_slug": "cpu", "quick": True, "torch": "t",
                "transformers": "t", "cuda": None, "dtype": "fp32", "matmul_tflops": None,
                "processes": 2, "timed_steps_per_contender": 3, "wall_s": 1.0,
                "command": f"python -m repro bench --rows {key}", "rows": rows,
                "attention_time_ratio": None}
    D.write(doc("x", 100.0), tmp_path, order)
    D.write(doc("y", 200.0), tmp_path, order, ran=["y"])
    merged = json.loads((tmp_path / "bench-cpu.json").read_text())
    assert [(r["key"], r["tokens_per_s"]) for r in merged["rows"]] == [("x", 100.0),
                                                                        ("y", 200.0)]
    assert merged["kept_from_earlier_run"] == ["x"]

    def kept_line() -> str:
        md = (tmp_path / "bench-cpu.md").read_text().splitlines()
        return next(line for line in md if line.startswith("- pairs kept from earlier runs"))
    kept = ("- pairs kept from earlier runs, with those runs' figures (processes; MFU against "
            "their own matmul): ")
    assert kept_line() == kept + "x (`python -m repro bench --rows x`)"
    D.write(doc("y", 300.0), tmp_path, order, ran=["y"])   # again: x still from the first command
    assert kept_line() == kept + "x (`python -m repro bench --rows x`)"
    D.write(doc("x", 400.0), tmp_path, order, ran=["x"])   # y kept now, from its last command
    assert kept_line() == kept + "y (`python -m repro bench --rows y`)"
    merged = json.loads((tmp_path / "bench-cpu.json").read_text())
    assert [(r["key"], r["tokens_per_s"], r["command"]) for r in merged["rows"]] == [
        ("x", 400.0, "python -m repro bench --rows x"), ("y", 300.0, "python -m repro bench --rows y")]
    # a report whose rows do not say which command measured them is replaced, not merged
    old = json.loads((tmp_path / "bench-cpu.json").read_text())
    for r in old["rows"]:
        del r["command"]
    (tmp_path / "bench-cpu.json").write_text(json.dumps(old))
    D.write(doc("y", 500.0), tmp_path, order, ran=["y"])
    replaced = json.loads((tmp_path / "bench-cpu.json").read_text())
    assert [(r["key"], r["tokens_per_s"]) for r in replaced["rows"]] == [("y", 500.0)]
    assert "kept_from_earlier_run" not in replaced


FAKE_WORKER = r"""
import json, sys, time
args = sys.argv[1:]
keys, out = args[args.index("--rows") + 1].split(","), args[args.index("--worker-out") + 1]
with open(out, "a") as f:
    f.write(json.dumps({"device": "fake", "matmul_tflops": 1.0 if "--matmul" in args else None}) + "\n")
    for k in keys:
        if k == "crash":
            sys.exit("boom: a sticky CUDA error")
        if k == "hang":
            time.sleep(60)
        f.write(json.dumps({"key": k, "stats": [{"tokens_per_s": 1.0}]}) + "\n")
        f.flush()
"""


def test_a_dying_process_costs_one_pair(tmp_path):
    worker = [sys.executable, "-c", FAKE_WORKER]
    out = fresh.run_fresh(["a", "crash", "b"], 2, worker, budget_s=60.0, workdir=tmp_path,
                          log=lambda m: None)
    s = out["samples"]
    assert out["env"] == {"device": "fake", "matmul_tflops": 1.0}   # the first process measured it
    assert [r["process"] for r in s["a"]] == [1, 2] and all("stats" in r for r in s["a"])
    assert [r["error"] for r in s["crash"]] == ["process exited with code 1: boom: a sticky "
                                                "CUDA error"] * 2
    assert [r["process"] for r in s["b"]] == [1, 2] and all("stats" in r for r in s["b"])
    assert len(list(tmp_path.glob("process-*.jsonl"))) == 4   # a new process took what was left


def test_a_process_past_the_budget_is_stopped(tmp_path, monkeypatch):
    monkeypatch.setattr(fresh, "GRACE_S", 1.0)
    out = fresh.run_fresh(["a", "hang", "c"], 1, [sys.executable, "-c", FAKE_WORKER],
                          budget_s=2.0, workdir=tmp_path, log=lambda m: None)
    s = out["samples"]
    assert "stats" in s["a"][0]
    assert s["hang"][0]["error"] == "stopped at the time limit"
    assert s["c"][0]["error"].startswith("skipped: the time budget was spent")


def test_one_process_records_a_failing_pair_and_goes_on(tmp_path):
    tiny = ModelConfig(vocab_size=50, block_size=32, n_layer=1, n_head=2, n_embd=16,
                       embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0)
    banded = ModelConfig(**{**tiny.__dict__, "attention": "banded", "band_width": 8})
    pairs = quick_pairs([Pair("no-peer", "x", banded, 8, (Ours(None), Peer(None))),
                         Pair("ok", "y", tiny, 8, (Ours(None), Ours(None, checkpointing=True)))])
    run_pairs(pairs, tmp_path / "out.jsonl", quick=True, budget_s=60, log=lambda m: None)
    env, results = read_results(tmp_path / "out.jsonl")
    assert env["device"] == "cpu"
    assert results["no-peer"]["error"].startswith("ReproError: attention=banded (banded layers) "
                                                  "has no Hugging Face equivalent")
    assert [s["tokens_per_s"] > 0 for s in results["ok"]["stats"]] == [True, True]


def test_pairs_come_from_the_specs():
    table = cli_bench.pairs()
    assert list(table) == cli_bench.RUN_ORDER and sorted(cli_bench.DISPLAY) == sorted(table)
    from repro.bench.pairs import rows
    names = {r["name"] for p in table.values() for r in rows(p)}
    for cls in ("GPT2LMHeadModel", "OpenAIGPTLMHeadModel", "ImageGPTForCausalImageModeling"):
        assert any(f" HF {cls} " in n for n in names), cls
    assert "gpt2 ours B16 compiled reduce-overhead" in names
    for label, cls in (("gpt2", "GPT2LMHeadModel"), ("igpt", "ImageGPTForCausalImageModeling")):
        assert f"{label} HF {cls} B16 compiled reduce-overhead" in names   # the peer's graphs
    assert {"gpt2 ours B32 compiled cce checkpointed", "gpt2 ours B32 compiled chunked"} <= names
    memory = [r["role"] for r in rows(table["gpt2-b32-memory"])]
    assert memory == ["ours", "ours", "ours", "variant"]   # each divided by the plain step
    assert "gpt3s ours B8 compiled alternating band 256" in names
    gpt2 = table["gpt2-b32-compiled"]
    assert rows(gpt2)[0]["params"] == 124_439_808   # FACTS.md: GPT-2 small, padding not counted
    for p in table.values():
        if isinstance(p, Pair):
            assert p.shape.vocab_pad_multiple == 64 and p.shape.resid_pdrop == 0.0


def test_row_selection_and_slug():
    assert cli_bench.select(["gpt2"]) == ["gpt2-b16-eager", "gpt2-b32-eager", "gpt2-b32-compiled",
                                          "gpt2-b16-compiled", "gpt2-b32-memory"]
    assert cli_bench.select(["gpt2-b32-compiled", "attn"]) == ["attn", "gpt2-b32-compiled"]
    assert cli_bench.select(None) == cli_bench.RUN_ORDER
    with pytest.raises(ReproError, match="no such row"):
        cli_bench.select(["gpt5"])
    assert D.device_slug("NVIDIA H100 80GB HBM3") == "h100"
    assert D.device_slug("NVIDIA A100-SXM4-80GB") == "a100"
    assert D.device_slug("cpu") == "cpu"


def test_full_bench_refuses_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for argv in ([], ["--largest"]):
        with pytest.raises(ReproError, match="need a CUDA GPU"):
            cli_bench.main(argv)


def _candidate(family, size, width):
    return Candidate(family, size, ModelConfig(vocab_size=100, block_size=32, n_layer=2, n_head=2,
                                               n_embd=width, embd_pdrop=0.0, attn_pdrop=0.0,
                                               resid_pdrop=0.0))


def test_largest_stops_a_family_at_its_first_out_of_memory():
    """Resident bytes of weights + gradients + Adam (16 B a parameter) against a fake limit of
    0.8 MB: 29,696 parameters (475 kB) fit, 108,544 (1.7 MB) do not."""
    cands = [_candidate("a", "s", 16), _candidate("a", "m", 32), _candidate("a", "l", 64),
             _candidate("a", "xl", 128), _candidate("b", "s", 16), _candidate("b", "m", 48)]
    doc = largest(cands, budget_s=120, memory_limit_gb=0.0008, device=torch.device("cpu"),
                  log=lambda m: None)
    assert [(f["family"], f["largest"]) for f in doc["families"]] == [("a", "m"), ("b", "s")]
    fits = {(r["family"], r["size"]): r["fits"] for r in doc["rows"]}
    assert fits == {("a", "s"): True, ("a", "m"): True, ("a", "l"): False, ("a", "xl"): None,
                    ("b", "s"): True, ("b", "m"): False}
    m = next(r for r in doc["rows"] if r["size"] == "m" and r["family"] == "a")
    # weights, gradients, Adam's two moments, and AdamW's step count (4 B) per tensor: 28 tensors
    assert m["params"] == 29_696 and m["peak_mem_gb"] * 1e9 == pytest.approx(16 * 29_696 + 4 * 28)
    assert m["tokens_per_s"] > 0
    xl = next(r for r in doc["rows"] if r["size"] == "xl")
    assert xl["error"] == "not tried: l ran out of memory"
    md = to_markdown(doc, "python -m repro bench --largest")
    assert "| a | m (l ran out of memory) |" in md and "| b | s (m ran out of memory) |" in md


def test_largest_respects_its_budget():
    doc = largest([_candidate("a", "s", 16), _candidate("a", "m", 32)], budget_s=0.0,
                  device=torch.device("cpu"), log=lambda m: None)
    assert all(r["error"].startswith("skipped: the 0s budget") for r in doc["rows"])
