"""The model card of `repro export` (issue 29): a tiny GPT-2 run on a small text file, scored by
`repro eval`, exported; huggingface_hub reads the card back with the run's results as its
model-index, the command in it trains the same config, and the folder still loads with
AutoModelForCausalLM and gives our logits. CPU, offline, in one process."""
from __future__ import annotations

import json
import random
import shlex

import pytest
import torch
from huggingface_hub import ModelCard

from repro.checkpoint import load_model
from repro.cli import main, spec_of
from repro.report.evaluation import NOT_THE_PAPERS, trained_here
from repro.spec import resolve


@pytest.mark.slow   # a run, an evaluation and an export: ~15 s alone, ~35 s on a busy 2-core box
def test_export_writes_a_model_card_with_the_runs_evaluation(tmp_path, capsys):
    random.seed(0)
    words = "the of and a to in is was he that it his her with as for had you not on".split()
    text = tmp_path / "text.txt"
    text.write_text("\n".join(" ".join(random.choices(words, k=12)) for _ in range(3000)))
    out = tmp_path / "runs"
    main(["gpt2", "--scale", "tiny", "--steps", "4", "--set", f"data.path={text}",
          "--out", str(out), "--no-report", "--no-progress"])
    (run,) = out.glob("gpt2-tiny/*")
    main(["eval", str(run), "--tasks", "lambada", "--limit", "4", "--device", "cpu",
          "--no-progress"])
    main(["export", str(run), "--out", str(tmp_path / "hf")])
    capsys.readouterr()
    evaluation = json.loads((run / "eval.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    config = json.loads((run / "config.json").read_text())

    card = ModelCard.load(tmp_path / "hf" / "README.md")
    meta = card.data
    assert meta.library_name == "transformers" and meta.pipeline_tag == "text-generation"
    assert {"repro", "gpt2", "scale-tiny"} <= set(meta.tags)
    assert meta.datasets is None                     # a local file is no Hub dataset
    ours = {(r["task"], r["metric"], r["shots"]): r["value"] for r in evaluation["results"]}
    index = {(e.dataset_type, e.metric_type, e.dataset_args["num_few_shot"]): e.metric_value
             for e in meta.eval_results}
    assert index == ours and len(ours) == 2          # lambada accuracy and perplexity
    assert all(e.dataset_args["limit"] == 4 for e in meta.eval_results)

    body = card.text
    assert trained_here(config, summary) in body and NOT_THE_PAPERS in body
    assert f"| validation loss (nats/token) | {summary['val_loss_full']:.4g} |" in body
    assert json.loads((run / "env.json").read_text())["git_commit"] in body
    assert f"| parameters | {summary['params']:,} |" in body
    command = body.split("```bash\n")[1].split("\n```")[0]
    args = shlex.split(command)
    assert args[:5] == ["python", "-m", "repro", "gpt2", "--scale"]
    sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    again = resolve(spec_of("gpt2"), None, args[5], sets).to_dict()
    assert again == config

    from transformers import AutoModelForCausalLM
    hf = AutoModelForCausalLM.from_pretrained(tmp_path / "hf", dtype=torch.float32).eval()
    model = load_model(run)[0].eval()
    idx = torch.randint(0, 50257, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        diff = (hf(idx).logits - model.logits(idx)).abs().max().item()
    assert diff <= 1e-5
