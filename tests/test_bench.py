"""`python -m repro bench --quick`: the CPU smoke run CI can afford. The numbers are not
claims; what is checked is the report's shape and arithmetic, and that one failing pair is
recorded without stopping the others."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from repro import bench
from repro.cli import bench as cli_bench
from run_helpers import cli_env
from repro.errors import ReproError

FIELDS = ("name", "key", "role", "tokens_per_s", "ms_per_step", "mfu", "peak_mem_gb",
          "ratio_vs_peer", "error")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run([sys.executable, "-m", "repro", "bench", "--quick", "--json",
                           "--out", str(out)], capture_output=True, text=True, timeout=240,
                          env=cli_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout), out


def test_quick_report_rows(quick):
    doc, out = quick
    assert doc["device"] == "cpu" and doc["quick"] and doc["matmul_tflops"] is None
    assert (out / "bench-cpu.md").is_file() and (out / "bench-cpu.json").is_file()
    assert json.loads((out / "bench-cpu.json").read_text()) == doc
    rows = doc["rows"]
    by_name = {r["name"]: r for r in rows}
    # one pair per model shape and the attention pair, each as ours + peer/variant
    assert {r["key"].split("-")[0] for r in rows} == {"gpt2", "gpt1", "gpt3s", "igpt", "attn"}
    assert len(rows) == 10
    for r in rows:
        assert set(FIELDS) <= set(r), r
        assert r["error"] is None, r
        assert r["tokens_per_s"] > 0 and r["ms_per_step"] > 0
        assert r["peak_mem_gb"] is None and r["mfu"] is None   # CPU: no peak, no memory stats
        assert math.isclose(r["tokens_per_s"] * r["ms_per_step"] / 1e3, r["batch"] * r["ctx"])
        if r["role"] == "ours":
            other = by_name[r["peer"]]
            assert other["key"] == r["key"] and other["role"] in ("peer", "variant")
            assert math.isclose(r["ratio_vs_peer"], r["tokens_per_s"] / other["tokens_per_s"])
            # the peer is charged the FLOPs/token of our model of the same shape
            assert other["flops_per_token"] == r["flops_per_token"]
        else:
            assert r["ratio_vs_peer"] is None
    assert sum(r["role"] == "peer" and " HF " in r["name"] for r in rows) == 3
    assert doc["attention_time_ratio"] > 0


def test_quick_markdown(quick):
    doc, out = quick
    md = (out / "bench-cpu.md").read_text()
    assert "| row | tokens/s |" in md and "## Method" in md and "--quick" in md
    for r in doc["rows"]:
        assert r["name"] in md


def test_failing_pair_is_recorded_and_rows_merge(tmp_path, monkeypatch, capsys):
    real = bench.build_peer

    def broken(key, shape):
        if key == "hf-gpt1":
            raise RuntimeError("CUDA out of memory (simulated)\nsecond line")
        return real(key, shape)
    monkeypatch.setattr(bench, "build_peer", broken)
    cli_bench.main(["--quick", "--json", "--rows", "gpt1,attn", "--out", str(tmp_path)])
    doc = json.loads(capsys.readouterr().out)
    gpt1 = [r for r in doc["rows"] if r["key"].startswith("gpt1")]
    assert len(gpt1) == 2 and all(r["tokens_per_s"] is None for r in gpt1)
    assert all(r["error"] == "RuntimeError: CUDA out of memory (simulated)" for r in gpt1)
    assert all(r["tokens_per_s"] > 0 for r in doc["rows"] if r["key"] == "attn")
    # a later --rows run replaces only its own pair in the report of the same device
    monkeypatch.setattr(bench, "build_peer", lambda key, shape: 1 / 0)   # gpt1 is not rerun
    cli_bench.main(["--quick", "--json", "--rows", "attn", "--out", str(tmp_path)])
    capsys.readouterr()
    merged = json.loads((tmp_path / "bench-cpu.json").read_text())
    assert [r["key"] for r in merged["rows"]] == ["gpt1-b32-compiled"] * 2 + ["attn"] * 2
    assert merged["kept_from_earlier_run"] == ["gpt1-b32-compiled"]
    assert "simulated" in (tmp_path / "bench-cpu.md").read_text()


def test_row_selection_and_slug():
    assert bench.select(["gpt2"]) == ["gpt2-b16-eager", "gpt2-b32-eager", "gpt2-b16-compiled",
                                      "gpt2-b32-compiled"]
    assert bench.select(None) == bench.RUN_ORDER and sorted(bench.RUN_ORDER) == sorted(bench.DISPLAY)
    with pytest.raises(ReproError, match="no such row"):
        bench.select(["gpt5"])
    assert bench.device_slug("NVIDIA H100 80GB HBM3") == "h100"
    assert bench.device_slug("NVIDIA A100-SXM4-80GB") == "a100"
    assert bench.device_slug("cpu") == "cpu"


def test_full_bench_refuses_cpu(monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ReproError, match="needs a CUDA GPU"):
        cli_bench.main([])
