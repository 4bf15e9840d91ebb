"""tools/eval_speed.py, the evaluation-speed comparison of the GPU sitting: its budget, its
agreement check, and the whole tool at a tiny size on the CPU."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("eval_speed", REPO / "tools" / "eval_speed.py")
eval_speed = importlib.util.module_from_spec(spec)
spec.loader.exec_module(eval_speed)


def _process(seconds: float, perplexity: float):
    def once():
        time.sleep(seconds)
        return {"end_to_end_s": seconds, "scoring_s": seconds / 2, "perplexity": perplexity,
                "accuracy": 10.0, "n": 5}
    return once


def test_rounds_stop_each_contender_before_the_budget():
    """Round-robin: the slow contender's second process would end past the budget (0.25 s
    seen + 0.25 s more > 0.4 s), the quick one's fit, so it gets all three."""
    logged = []
    samples = eval_speed.rounds({"quick": _process(0.01, 1.0), "slow": _process(0.25, 1.0)},
                                processes=3, budget_s=0.4, start=time.perf_counter(),
                                log=logged.append)
    assert [len(samples["quick"]), len(samples["slow"])] == [3, 1]
    assert sum("skipped slow" in m for m in logged) == 2


def test_summary_checks_every_perplexity_against_lm_eval_at_batch_64():
    def runs(*ppl):
        return [{"end_to_end_s": 2.0 + i, "scoring_s": 1.0, "perplexity": p, "accuracy": 5.0,
                 "n": 5} for i, p in enumerate(ppl)]
    reference = runs(100.0)[0]
    ok = eval_speed.summarize({"repro eval": runs(100.05, 100.0, 99.99),
                               "lm_eval hf batch 64": runs(100.0, 100.0),
                               "lm_eval hf batch 1": runs(100.0)}, reference)
    repro = ok["contenders"]["repro eval"]
    assert ok["perplexities_agree"] and repro["processes"] == 3
    assert repro["end_to_end_s"] == {"median": 3.0, "min": 2.0, "max": 4.0}
    assert repro["max_rel_diff_vs_lm_eval_b64"] == pytest.approx(5e-4)
    off = eval_speed.summarize({"repro eval": runs(100.2), "lm_eval hf batch 64": runs(100.0),
                                "lm_eval hf batch 1": runs(100.0)}, reference)
    assert not off["perplexities_agree"]
    assert "**NO**" in eval_speed.markdown({**off, "device": "cpu", "passages": 5, "model": "x",
                                            "torch": "t", "transformers": "t", "lm_eval": "l",
                                            "command": "c", "wall_s": 1.0})


@pytest.mark.slow
def test_the_tool_end_to_end_at_a_tiny_size(tmp_path):
    """Every contender in a fresh process on 3 passages of LAMBADA: the files are written and
    the three implementations give one perplexity."""
    subprocess.run([sys.executable, str(REPO / "tools" / "eval_speed.py"), "--tiny", "--limit",
                    "3", "--processes", "1", "--device", "cpu", "--out", str(tmp_path)],
                   check=True, capture_output=True, timeout=600)
    doc = json.loads((tmp_path / "eval-speed-cpu.json").read_text())
    assert doc["perplexities_agree"] and doc["passages"] == 3
    assert {k: v["processes"] for k, v in doc["contenders"].items()} == {
        "repro eval": 1, "lm_eval hf batch 64": 1, "lm_eval hf batch 1": 1,
        "repro eval fp32 (not timed)": 1}
    repro = doc["contenders"]["repro eval"]["samples"][0]
    assert 0 < repro["scoring_s"] < repro["end_to_end_s"]
    assert "| lm_eval hf batch 1 | 1 |" in (tmp_path / "eval-speed-cpu.md").read_text()
