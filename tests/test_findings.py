"""The papers' findings at small scale (issue 31): GPT-1's layers transferred (Figure 2 left)
and zero-shot heuristics over pre-training (Figure 2 right), iGPT's probe against generative
loss (Figure 3), and the rule that turns intervals into a verdict."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from repro.config import ModelConfig
from repro.model import GPT, build_model
from repro.rundir import RunDir
from repro.transfer.layers import transfer_layers
from test_finetune import fake_pretraining_run, main


# ---- GPT-1 Figure 2 (left): --transfer-layers ----------------------------------------------
@pytest.mark.parametrize("tied,final_norm", [(True, False), (False, True)])
@pytest.mark.parametrize("k", [0, 1, 3])
def test_transfer_copies_embeddings_and_first_k_blocks_and_draws_the_rest(k, tied, final_norm):
    cfg = ModelConfig(vocab_size=40, block_size=16, n_layer=3, n_head=2, n_embd=16,
                      tie_embeddings=tied, final_norm=final_norm,
                      norm_position="pre" if final_norm else "post")
    torch.manual_seed(123)
    source = build_model(cfg)
    torch.manual_seed(7)
    fresh = build_model(cfg).state_dict()      # what a random init with the seed gives
    got = transfer_layers(source, k, seed=7).state_dict()
    src = source.state_dict()
    copied = {"transformer.wte.weight", "transformer.wpe.weight"}
    copied |= {n for n in src if any(n.startswith(f"transformer.h.{i}.") for i in range(k))}
    if k == cfg.n_layer:
        copied |= {n for n in src if n.startswith(("transformer.ln_f.", "lm_head."))}
    if tied:
        copied.add("lm_head.weight")
    assert set(got) == set(src)
    for name, value in got.items():
        if name in copied:
            assert torch.equal(value, src[name]), name
        else:
            assert torch.equal(value, fresh[name]), name
            if value.numel() > 1 and value.std() > 0:
                assert not torch.equal(value, src[name]), name
    assert sum(n.startswith("transformer.h.") for n in copied) == 12 * k   # 12 tensors a block


def test_transfer_layers_is_validated_and_recorded(tmp_path):
    runs = tmp_path / "runs"
    init = fake_pretraining_run(runs)
    base = ["gpt1", "finetune", "--task", "rte", "--out", runs, "--no-progress", "--no-report"]
    for k, expected in (("3", "--transfer-layers 3: the model has 2 blocks; choose 0"),
                        ("-1", "--transfer-layers -1: must not be negative")):
        code, out, err = main(*base, "--init", init, "--transfer-layers", k)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith(f"repro: error: {expected}")
        assert not (runs / "gpt1-finetune-tiny").exists()
    code, out, err = main(*base, "--transfer-layers", "1")
    assert code == 2 and "--transfer-layers needs pre-trained weights" in err
    code, out, err = main(*base, "--init", init, "--transfer-layers", "1", "--json")
    assert code == 0, err
    config = RunDir(json.loads(out)["run_dir"]).read_json(RunDir.CONFIG)
    assert config["transfer_layers"] == 1 and config["init"]["kind"] == "run"


# ---- GPT-1 Figure 2 (right): the SST-2 zero-shot heuristic ---------------------------------
class BagOfWords(torch.nn.Module):
    """A language model whose answer is known by hand: at each position it has counted the
    " good" and " bad" tokens so far, and gives " positive" logit 2 per " good" and
    " negative" logit 2 per " bad" (every other token logit 0)."""

    def __init__(self, tok):
        super().__init__()
        self.config = ModelConfig(vocab_size=tok.vocab_size, block_size=64)
        self.good, self.bad = tok.encode(" good")[0], tok.encode(" bad")[0]
        self.pos, self.neg = tok.encode(" positive")[0], tok.encode(" negative")[0]
        self.seen = []

    def hidden_states(self, idx):
        self.seen += idx.tolist()
        return torch.stack([(idx == self.good), (idx == self.bad)], -1).float().cumsum(1)

    def head(self, x):
        logits = torch.zeros(len(x), self.config.vocab_size)
        logits[:, self.pos], logits[:, self.neg] = 2 * x[:, 0], 2 * x[:, 1]
        return logits


def test_sst2_very_heuristic_on_a_hand_made_example(tmp_path):
    from repro.data.tokenizers import get_tokenizer
    from repro.eval import data, protocols
    from repro.eval.scoring import Scorer
    from repro.eval.settings import EvalSettings
    from repro.eval.tasks import get_task, read_task_files
    tsv = tmp_path / "dev.tsv"
    tsv.write_text("sentence\tlabel\na good film \t1\na bad film \t0\n"
                   "so good good but bad \t0\nso bad bad good \t0\n")
    tok = get_tokenizer("gpt2")
    lm, task = BagOfWords(tok), get_task("sst2_zeroshot")
    scorer = Scorer(lm, "cpu", 8, "fp32", False)
    setup = protocols.Setup(tok, EvalSettings(path=str(tsv)), 64, scorer)
    rows = protocols.run(setup, task, read_task_files(task, str(tsv)), 0, 0)
    # predictions by hand: positive, negative, positive (2 good > 1 bad: wrong), negative
    assert [(r["metric"], r["value"], r["n"]) for r in rows] == [
        ("accuracy", 75.0, 4), ("accuracy_per_token", 75.0, 4)]
    want = tok.encode("a good film very")          # the context the words are scored after
    assert want in [row[:len(want)] for row in lm.seen]
    examples = protocols.sentiment_very(data.shipped_text("sst2_dev"))
    assert (len(examples), sum(e.label for e in examples)) == (872, 444)   # majority 50.9%
    assert examples[0].context == "it 's a charming and often affecting journey . very"
    assert examples[0].choices == ("negative", "positive")


@pytest.mark.parametrize("paper,at_least", [("gpt1", 8), ("igpt", 5)])
def test_small_runs_keep_enough_checkpoints_across_training(paper, at_least, tmp_path):
    """The small scale saves and keeps >= 8 (gpt1) / >= 5 (igpt) checkpoints spread over the
    run: the points of GPT-1 Figure 2 (right) and iGPT Figure 3."""
    from repro import checkpoint
    from repro.plan import plan
    from repro.spec import resolve
    from repro.trainer.cadence import Cadence
    from repro_papers import PAPERS
    cfg = resolve(PAPERS[paper], None, "small")
    total = plan(cfg)["steps"]
    cadence = Cadence(cfg.train, total, clock=lambda: 0.0)   # no time-based saves
    for step in range(1, total + 1):
        if cadence.due(step).ckpt:
            checkpoint.save(tmp_path, step, {"step": step}, keep=cfg.train.keep_checkpoints)
    kept = checkpoint.verified_steps(tmp_path)
    assert len(kept) >= at_least and kept[-1] == total and kept[0] <= total // 5, kept


def test_eval_scores_each_checkpoint_into_its_own_file(tmp_path):
    from repro import checkpoint
    from repro.spec import resolve
    from repro_papers import PAPERS
    run = RunDir(fake_pretraining_run(tmp_path / "runs"))     # a checkpoint at step 80
    cfg = resolve(PAPERS["gpt1"], None, "tiny")
    torch.manual_seed(1)
    checkpoint.save(run.checkpoints, 40, {"model": build_model(cfg.model).state_dict(),
                                          "config": cfg.to_dict()}, keep=3)
    base = ["eval", run.path, "--tasks", "sst2_zeroshot", "--limit", "6", "--no-progress",
            "--device", "cpu"]
    code, out, err = main(*base, "--checkpoint", "7")
    assert code == 2 and err.strip() == (f"repro: error: --checkpoint 7: no complete checkpoint "
                                         f"of step 7 in {run.checkpoints} (steps there: 40, 80)")
    code, out, err = main(*base, "--all-checkpoints", "--json")
    assert code == 0, err
    from repro.step_scores import read_all
    scores = read_all(run, "eval")
    assert list(scores) == [40, 80] and [r["step"] for r in json.loads(out)] == [40, 80]
    for step, result in scores.items():
        assert result["checkpoint"] == f"ckpt-{step:08d}.pt"
        acc = [r for r in result["results"] if r["metric"] == "accuracy"][0]
        assert acc["task"] == "sst2_zeroshot" and acc["n"] == 6 and 0 <= acc["value"] <= 100
    copy = run.copy_evidence(tmp_path / "evidence", "abc")
    assert sorted(p.name for p in copy.glob("eval-*.json")) == ["eval-40.json", "eval-80.json"]
    assert not list(copy.rglob("*.pt"))


# ---- iGPT Figure 3: the probe of each checkpoint -------------------------------------------
def test_probe_of_each_checkpoint_of_a_tiny_image_run(tmp_path):
    from repro import checkpoint
    from repro.spec import resolve
    from repro.step_scores import read_all
    from repro_papers import PAPERS
    cfg = resolve(PAPERS["igpt"], None, "tiny")
    run = RunDir.create(tmp_path / "igpt-tiny", "20260101-000000-s0-da39a3")
    run.write_json(RunDir.CONFIG, cfg.to_dict())
    for step in (10, 20):
        torch.manual_seed(step)
        state = build_model(cfg.model).state_dict()     # iGPT's head starts at zero: uniform
        if step == 20:
            state["lm_head.weight"] = torch.randn_like(state["lm_head.weight"])
        checkpoint.save(run.checkpoints, step, {"model": state, "config": cfg.to_dict()})
    code, out, err = main("probe", run.path, "--all-checkpoints", "--device", "cpu", "--json")
    assert code == 0, err
    points = read_all(run, "probe")
    assert list(points) == [10, 20] and [r["step"] for r in json.loads(out)] == [10, 20]
    for p in points.values():
        assert 0 <= p["probe_test_accuracy"] <= 1 and len(p["probe_val_accuracy_per_layer"]) == 3
    # a zero head predicts the uniform distribution over the palette; a random one does worse
    assert points[10]["val_loss"] == pytest.approx(math.log(cfg.model.vocab_size), abs=1e-6)
    assert points[20]["val_loss"] > points[10]["val_loss"] + 0.1


# ---- the verdict rule and its statistics ---------------------------------------------------
@pytest.mark.parametrize("lo,hi,sign,word", [
    (0.5, 3.0, 1, "reproduced"), (-3.0, -0.5, 1, "not reproduced"), (-0.5, 3.0, 1, "inconclusive"),
    (-0.9, -0.2, -1, "reproduced"), (0.1, 0.9, -1, "not reproduced"),
    (-0.3, 0.0, -1, "inconclusive"),
    (float("nan"), float("nan"), 1, "inconclusive")])
def test_verdict_follows_the_interval(lo, hi, sign, word):
    from repro.report.verdict import verdict
    assert verdict(lo, hi, sign) == word


def test_accuracy_interval_adds_seed_spread_and_sampling_error():
    from repro.report.verdict import accuracy_interval, difference
    ci = accuracy_interval([60.0, 62.0, 64.0], 100)
    # seeds: var 4 / 3; sampling: 0.62 * 0.38 / 100 * 1e4 = 23.56
    assert ci["var"] == pytest.approx(4 / 3 + 23.56)
    assert ci["hi"] - ci["mean"] == pytest.approx(1.959964 * math.sqrt(4 / 3 + 23.56), rel=1e-6)
    d = difference(ci, accuracy_interval([50.0], 100))
    assert d["diff"] == pytest.approx(12.0)
    assert d["hi"] - d["diff"] == pytest.approx(1.959964 * math.sqrt(4 / 3 + 23.56 + 25), rel=1e-6)


def test_spearman_matches_scipy_with_ties_and_its_interval_holds_it():
    from scipy.stats import spearmanr
    from repro.report.verdict import spearman, spearman_interval
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, 40).astype(float)
    y = -x + rng.normal(0, 2, 40)
    assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    groups = [(list(x[i:i + 8]), list(y[i:i + 8])) for i in range(0, 40, 8)]
    ci = spearman_interval(groups, reps=300)
    assert ci["lo"] < ci["rho"] < ci["hi"] < 0 and ci["points"] == 40 and ci["groups"] == 5
    perfect = spearman_interval([([3.0, 2.0, 1.0], [10.0, 20.0, 30.0])] * 3, reps=50)
    assert (perfect["rho"], perfect["lo"], perfect["hi"]) == (-1.0, -1.0, -1.0)


# ---- the reports' sections -------------------------------------------------------------------
def fake_finetune_run(root, task: str, k: int, seed: int, accuracy: float, n: int,
                      predictions: list | None = None) -> None:
    import dataclasses
    from test_finetune import SPEC
    run = RunDir.create(root / "gpt1-finetune-tiny", f"{task}-k{k}-s{seed}")
    init = {"kind": "run", "architecture": "2x32", "params": 1, "run": "/x", "paper": "gpt1",
            "scale": "tiny", "run_id": "r", "checkpoint": "ckpt-00000080.pt"}
    run.write_json(RunDir.CONFIG, {"paper": "gpt1", "scale": "tiny", "task": task, "seed": seed,
                                   "transfer_layers": k, "overrides": [], "init": init,
                                   "recipe": dataclasses.asdict(SPEC.finetune.recipe),
                                   "model": {"n_layer": 2}})
    run.write_json(RunDir.SUMMARY, {"completed": True, "status": "finished", "steps": 1,
                                    "planned_steps": 1, "dev": {"accuracy": accuracy / 100},
                                    "dev_examples": n})
    if predictions is not None:
        run.write_json(RunDir.DEV_PREDICTIONS, {"dev_examples": n, "predictions": predictions})


def test_finetune_report_states_layers_and_zero_shot_findings(tmp_path):
    from repro.report.finetune import write_finetune_report
    from test_finetune import SPEC
    for k, accs in ((0, (50, 52, 51)), (1, (55, 56, 57)), (2, (70, 72, 71))):
        for seed, acc in enumerate(accs):
            fake_finetune_run(tmp_path / "runs", "rte", k, seed, acc, 277)
    for seed, (first, last) in enumerate(((50.0, 80.0), (52.0, 78.0))):
        run = RunDir.create(tmp_path / "runs" / "gpt1-tiny", f"run-s{seed}")
        for step, value in ((10, first), (20, last)):
            run.write_json(f"eval-{step}.json", {"step": step, "results": [
                {"task": "sst2_zeroshot", "metric": "accuracy", "shots": 0, "value": value,
                 "n": 872}]})
    md = write_finetune_report(SPEC, "tiny", tmp_path / "out", runs_root=tmp_path / "runs",
                               reference_root=None).read_text()
    assert "| rte | accuracy | " in md and "71.0 ± 1.0" in md     # the recipe arm: K = L only
    # 20 points over 277 examples: sampling variances 71*29/277 and 51*49/277, seeds 1/3 each
    half = 1.959964 * math.sqrt(71 * 29 / 277 + 51 * 49 / 277 + 2 / 3)
    assert f"- **rte**: K = 2 minus K = 0: +20.0 points [{20 - half:+.1f}, {20 + half:+.1f}] " \
           f"(normal: seeds' spread + binomial sampling error) → **reproduced**" in md
    assert "- **sst2_zeroshot**: last minus first checkpoint +28.0 points" in md
    assert "each layer in the pre-trained model contains useful functionality" in md
    assert (tmp_path / "out" / "gpt1-finetune-tiny-layers-yours.png").stat().st_size > 1000
    assert (tmp_path / "out" / "gpt1-finetune-tiny-zero-shot.png").stat().st_size > 1000
    majority = "| 2 | 3 | 71.0 | [" in md
    assert majority and "| 52.7 |" in md      # RTE dev: 146 of 277 entailment


def test_probe_loss_section_correlates_each_runs_checkpoints(tmp_path):
    from repro.report.probe_loss import probe_loss_section
    from repro_papers import PAPERS
    runs = []
    for seed in range(3):
        run = RunDir.create(tmp_path, f"s{seed}")
        for step, loss, acc in ((100, 3.0, 0.30), (200, 2.5, 0.35), (300, 2.2, 0.41)):
            run.write_json(f"probe-{step}.json", {"val_loss": loss - 0.01 * seed,
                                                  "probe_test_accuracy": acc,
                                                  "probe_test_images": 1000})
        runs.append({"dir": run.path, "origin": "yours", "config": {"train": {"seed": seed}}})
    lines, out = probe_loss_section(PAPERS["igpt"], runs, tmp_path, "igpt-small")
    text = "\n".join(lines)
    assert out["yours"]["verdict"] == "reproduced" and out["yours"]["spearman"]["hi"] < 0
    assert "over 9 checkpoints of 3 runs" in text and "better generative models" in text
    assert (tmp_path / "igpt-small-probe-vs-loss-yours.png").is_file()


def test_layers_verdict_uses_the_paired_bootstrap_when_runs_saved_predictions(tmp_path):
    from repro.data.glue import load_task
    from repro.report.finetune import write_finetune_report
    from test_finetune import SPEC
    gold = load_task("rte")["dev"].labels.tolist()
    half_wrong = [1 - g if i % 2 else g for i, g in enumerate(gold)]
    for k, preds in ((0, half_wrong), (1, half_wrong), (2, gold)):
        acc = 100 * float(np.mean(np.array(preds) == np.array(gold)))
        for seed in range(2):
            fake_finetune_run(tmp_path / "runs", "rte", k, seed, acc, len(gold), preds)
    md = write_finetune_report(SPEC, "tiny", tmp_path / "out", runs_root=tmp_path / "runs",
                               reference_root=None).read_text()
    line = next(x for x in md.splitlines() if x.startswith("- **rte**: K = 2 minus K = 0"))
    # 138 of 277 wrong at K = 0: +49.8; a draw of the examples moves it by the share of odd
    # positions drawn, sd 100 * sqrt(0.25 / 277) = 3.0 points: an interval of about +-5.9
    assert "(paired bootstrap (dev examples x seeds)) → **reproduced**" in line, line
    lo, hi = (float(v) for v in line.split("[")[1].split("]")[0].split(", "))
    assert line.split(": ")[2].startswith("+49.8 points") and 43 < lo < 45 < 54.5 < hi < 56.5
