"""The command line as a user meets it (`python -m repro ...` in a subprocess, one thread):
`list`, the `--dry-run --json` plan of the exact paper models (on the meta device), `tokenize`,
and misuse: one line on stderr naming the culprit and the valid choices, exit status 2."""
from __future__ import annotations

import json
import time

import pytest

from repro_papers import PAPERS
from repro.spec import size_config

PLAN_KEYS = {"paper", "size", "scale", "n_layer", "n_head", "n_embd", "block_size", "vocab_size",
             "params", "tokens", "batch_tokens", "flops_per_token", "total_flops",
             "gpu_hours_h100"}


def test_list_shows_every_paper_size_and_scale(cli):
    rc, out, err = cli("list", timeout=60)
    assert rc == 0, err
    blocks, name = {}, None
    for line in out.splitlines():                 # a paper's line, then its indented lines
        if line and not line[0].isspace():
            name = line.split()[0]
            blocks[name] = line
        else:
            blocks[name] += "\n" + line
    assert list(blocks) == list(PAPERS)
    for name, spec in PAPERS.items():
        block = blocks[name]
        assert spec.title in block
        for size in spec.sizes:
            m = size_config(spec, size).model
            assert f"{size} ({m.n_layer}x{m.n_embd})" in block, (name, size)
        assert f"[default {spec.default_size}]" in block
        for scale, info in spec.scales.items():
            assert f"{scale}: {info.about}" in block, (name, scale)
    assert "175b (96x12288)" in blocks["gpt3"] and "xl (60x3072)" in blocks["igpt"]


@pytest.mark.parametrize("paper,size,params", [
    ("gpt2", "small", 124_439_808),
    ("gpt1", "base", 116_534_784),
    ("gpt3", "175b", 174_604_259_328),
    ("igpt", "xl", 6_810_875_904),           # at 64x64: a 4096-row position table
])
def test_dry_run_json_at_paper_scale(cli, paper, size, params):
    start = time.perf_counter()
    rc, out, err = cli(paper, "--size", size, "--scale", "paper", "--dry-run", "--json", timeout=120)
    seconds = time.perf_counter() - start
    assert rc == 0, err
    plan = json.loads(out)                       # stdout is exactly one JSON object
    assert isinstance(plan, dict) and PLAN_KEYS <= set(plan)
    assert (plan["paper"], plan["size"], plan["scale"]) == (paper, size, "paper")
    assert plan["params"] == params
    m = size_config(PAPERS[paper], size).model
    assert (plan["n_layer"], plan["n_head"], plan["n_embd"], plan["block_size"], plan["vocab_size"]) \
        == (m.n_layer, m.n_head, m.n_embd, m.block_size, m.vocab_size)
    assert plan["total_flops"] == pytest.approx(plan["flops_per_token"] * plan["tokens"])
    assert plan["flops_per_token"] > 6 * params * 0.9           # ~6N plus attention
    assert plan["gpu_hours_h100"] == pytest.approx(plan["total_flops"] / (989.4e12 * 0.4) / 3600)
    assert seconds < 60, f"dry run took {seconds:.0f} s: is the model built on the meta device?"
    if paper == "gpt3":                           # Table 2.1: 300B tokens, 3.2M-token batches
        assert 300e9 <= plan["tokens"] < 300e9 + plan["batch_tokens"]
        assert plan["batch_tokens"] == 1536 * 2048
        # 6·N·D accounting of Table D.1 (3.14e23); ours adds attention and counts 300.0B tokens
        assert 3.14e23 < plan["total_flops"] < 3.3e23


def test_dry_run_text_and_overrides(cli):
    rc, out, err = cli("gpt2", "--scale", "paper", "--dry-run", "--set", "model.n_layer=24",
                       "--set", "model.n_embd=1024", "--set", "model.n_head=16", timeout=120)
    assert rc == 0, err
    assert "params   354,823,168" in out             # the medium size, reached through --set
    assert "H100/H200-hours" in out


def test_tokenize(cli):
    rc, out, err = cli("tokenize", "--tokenizer", "gpt2", "Hello world", timeout=60)
    assert rc == 0, err
    assert out.strip() == "[15496, 995]"


def one_line_error(rc, out, err):
    assert rc == 2, (rc, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err                   # no traceback, no usage block
    assert lines[0].startswith("repro: error: ")
    assert "Traceback" not in err and out == ""
    return lines[0]


@pytest.mark.parametrize("args,culprit,choices", [
    (["gtp2"], "'gtp2'", ["gpt1", "gpt2", "gpt3", "igpt", "adder", "chargpt", "imagegpt", "words",
                          "list", "report", "parity", "export", "tokenize"]),
    (["gpt2", "--size", "huge"], "'huge'", ["small", "medium", "large", "xl"]),
    (["gpt3", "--size", "1t"], "'1t'", ["small", "2.7b", "175b"]),
    (["gpt2", "--scale", "giant"], "'giant'", ["tiny", "small", "medium", "paper"]),
    (["gpt2", "--set", "model.layers=4"], "model.layers",
     ["model.n_layer", "optim.lr", "train.tokens", "data.dataset", "data.path"]),
    (["gpt2", "--set", "model.n_layer=four"], "model.n_layer", ["int"]),
    (["gpt2", "--set", "model.attention=sparse"], "model.attention",
     ["dense", "alternating", "banded"]),
    (["gpt2", "--bogus"], "--bogus", []),
])
def test_misuse_is_one_line(cli, args, culprit, choices):
    line = one_line_error(*cli(*args, "--dry-run", timeout=60) if args[0] != "gtp2"
                          else cli(*args, timeout=60))
    assert culprit in line
    for choice in choices:
        assert choice in line, (choice, line)


def test_report_without_runs_is_one_line(cli, tmp_path):
    line = one_line_error(*cli("report", "gpt2", "--scale", "tiny", "--runs", tmp_path / "runs",
                               "--out", tmp_path / "reports", timeout=120))
    assert "no finished runs" in line and "python -m repro gpt2 --scale tiny" in line


def test_other_sizes_get_their_own_folder_and_report(cli, tmp_path):
    runs, reports = tmp_path / "runs", tmp_path / "reports"
    rc, _, err = cli("gpt2", "--size", "medium", "--steps", "2", "--out", runs,
                     "--report-dir", reports, "--no-progress", timeout=300)
    assert rc == 0, err[-2000:]
    assert [d.name for d in runs.iterdir()] == ["gpt2-medium-tiny"]
    md = (reports / "gpt2-medium-tiny.md").read_text()
    assert "python -m repro gpt2 --size medium --scale tiny" in md
    assert "| train.steps=2 |" in md          # stopped early: a variant, never the headline
    assert not (reports / "gpt2-tiny.md").exists()
    line = one_line_error(*cli("report", "gpt2", "--size", "xxl", "--runs", runs,
                               "--out", reports, timeout=120))
    assert "unknown size 'xxl'" in line and "medium" in line


def test_help(cli):
    rc, out, err = cli(timeout=60)
    assert rc == 0, err
    assert "papers: gpt1, gpt2, gpt3, igpt" in out and "verbs:" in out
