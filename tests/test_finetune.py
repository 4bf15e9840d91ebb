"""GPT-1 fine-tuning on GLUE: the shipped data (checksums, MRPC rebuilt by GLUE's rule), GLUE's
metrics against hand-computed cases and scikit-learn/scipy, the paper's input transformations,
the extract-token head and the auxiliary LM loss, the schedule and batches, `python -m repro
gpt1 finetune` end to end on CPU, the report's arms (pre-trained / lambda = 0 / random init),
its evidence, and misuse (one line, exit 2)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import lzma
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from repro import checkpoint
from repro.config import ModelConfig
from repro.data import glue
from repro.errors import ReproError
from repro.model import GPT
from repro.rundir import RunDir
from repro.transfer import metrics
from repro.transfer.batches import Encoded, collate, epoch_batches
from repro.transfer.finetune import schedule
from repro.transfer.head import FinetuneModel, add_tokens
from repro.transfer.inputs import Specials, fit, transform
from repro_papers import PAPERS

SPEC = PAPERS["gpt1"]
MRPC_TRAIN_SHA256 = "69abcedee3cf738c6ce58d772e43e1b7cdf5b4edee4aceda459c0d9f4e5599f3"
MRPC_DEV_SHA256 = "9e8f284788040f7c9ecde2e1b3c07237c756f926bd9ef8548ef5d34b56f69f17"  # GLUE's


# ---- data ----------------------------------------------------------------------------------
def test_mrpc_is_rebuilt_by_glue_rule_with_all_3668_rows():
    splits = glue.mrpc_splits(glue.read_shipped("MRPC/msr_paraphrase_train.txt"),
                              glue.read_shipped("MRPC/dev_ids.tsv"))
    train, dev = splits["train"], splits["dev"]
    assert len(train.splitlines()) - 1 == 3668 and len(dev.splitlines()) - 1 == 408
    assert hashlib.sha256(train.encode()).hexdigest() == MRPC_TRAIN_SHA256
    assert hashlib.sha256(dev.encode()).hexdigest() == MRPC_DEV_SHA256
    # the row the copy of GLUE's train.tsv had lost
    assert '1\t2750203\t2750153\tOfficials at Brandeis said this was an " extremely' in train
    task = glue.load_task("mrpc")
    assert (len(task["train"]), len(task["dev"])) == (3668, 408)
    assert task["train"].labels.sum() == 2474           # 67.4% paraphrases, as GLUE's MRPC


def test_every_task_loads_with_glue_counts():
    counts = {"sst2": (67349, 872), "cola": (8551, 1043), "rte": (2490, 277), "stsb": (5749, 1500)}
    for task, (n_train, n_dev) in counts.items():
        d = glue.load_task(task)
        assert (len(d["train"]), len(d["dev"])) == (n_train, n_dev), task
        assert len(d["dev"].segments) == len(glue.TASKS[task].text_columns)
    stsb = glue.load_task("stsb")["dev"]
    assert stsb.labels.dtype == np.float32 and stsb.labels.min() == 0 and stsb.labels.max() == 5
    assert stsb.segments[0][0] == "A man with a hard hat is dancing."
    rte = glue.load_task("rte")["dev"]   # label ids in GLUE's order: entailment 0
    assert rte.segments[1][0] == "Christopher Reeve had an accident." and rte.labels[0] == 1


def test_a_damaged_file_is_refused(tmp_path, monkeypatch):
    (tmp_path / "glue" / "RTE").mkdir(parents=True)
    shutil.copy(glue.glue_dir() / "MANIFEST.tsv", tmp_path / "glue")
    text = lzma.decompress((glue.glue_dir() / "RTE" / "dev.tsv.xz").read_bytes())
    (tmp_path / "glue" / "RTE" / "dev.tsv.xz").write_bytes(lzma.compress(text.replace(b"Reeve", b"Reave")))
    shutil.copy(glue.glue_dir() / "RTE" / "train.tsv.xz", tmp_path / "glue" / "RTE")
    monkeypatch.setenv("REPRO_DATA_DIR", str(tmp_path))
    with pytest.raises(ReproError, match="RTE/dev.tsv: sha256 .* differs from MANIFEST.tsv"):
        glue.load_task("rte")


# ---- metrics -------------------------------------------------------------------------------
def test_metrics_on_a_hand_computed_case():
    pred, gold = [1, 1, 0, 0, 1, 0, 1, 1], [1, 0, 0, 1, 1, 0, 1, 0]   # tp 3, fp 2, fn 1, tn 2
    assert metrics.accuracy(pred, gold) == 5 / 8
    assert metrics.f1(pred, gold) == pytest.approx(6 / 9)            # 2tp / (2tp + fp + fn)
    assert metrics.matthews(pred, gold) == pytest.approx(4 / np.sqrt(240))   # (6-2)/sqrt(5*4*4*3)
    x, y = [1, 2, 3, 4], [2, 4, 5, 4]
    assert metrics.pearson(x, y) == pytest.approx(3.5 / np.sqrt(5 * 4.75))
    # ranks of y with the tie shared: [1, 2.5, 4, 2.5]
    assert list(metrics.ranks(y)) == [1, 2.5, 4, 2.5]
    assert metrics.spearman(x, y) == pytest.approx(3 / np.sqrt(5 * 4.5))
    assert metrics.f1([0, 0], [0, 0]) == 0.0 and metrics.matthews([1, 1, 1], [1, 0, 1]) == 0.0
    assert metrics.pearson([1, 1, 1], [1, 2, 3]) == 0.0


@pytest.mark.parametrize("task,counts,majority", [
    # dev label counts of the shipped files; the all-majority scores follow from them
    ("sst2", [428, 444], {"accuracy": 444 / 872}),
    ("cola", [322, 721], {"matthews": 0.0}),
    ("mrpc", [129, 279], {"f1": 2 * 279 / (2 * 279 + 129), "accuracy": 279 / 408}),
    ("rte", [146, 131], {"accuracy": 146 / 277}),                  # entailment (id 0) leads
    ("stsb", None, {"pearson": 0.0, "spearman": 0.0}),            # the mean: no correlation
])
def test_majority_baselines_from_the_shipped_dev_files(task, counts, majority):
    from repro.transfer.baselines import baselines
    labels = glue.load_task(task)["dev"].labels
    if counts:
        assert np.bincount(labels).tolist() == counts
    b = baselines(task, labels)
    assert b["majority"] == pytest.approx(majority)
    assert b["chance"] == ({"accuracy": 0.5} if "accuracy" in majority else {})
    assert b["majority_label"] == {"rte": "entailment", "stsb": None}.get(task, "1")


def test_metrics_agree_with_sklearn_and_scipy():
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef
    rng = np.random.default_rng(0)
    for _ in range(5):
        gold = rng.integers(0, 2, 300)
        pred = np.where(rng.random(300) < 0.7, gold, 1 - gold)
        assert metrics.accuracy(pred, gold) == pytest.approx(accuracy_score(gold, pred))
        assert metrics.f1(pred, gold) == pytest.approx(f1_score(gold, pred))
        assert metrics.matthews(pred, gold) == pytest.approx(matthews_corrcoef(gold, pred))
        score = rng.integers(0, 6, 300).astype(float)            # ties, as STS-B's scores have
        guess = score + rng.normal(0, 1.5, 300)
        assert metrics.pearson(guess, score) == pytest.approx(pearsonr(guess, score)[0])
        assert metrics.spearman(guess, score) == pytest.approx(spearmanr(guess, score)[0])
        assert metrics.spearman(np.round(guess), score) == pytest.approx(
            spearmanr(np.round(guess), score)[0])


# ---- input transformations, head, LM loss ---------------------------------------------------
S = Specials(100, 101, 102)


def test_input_layouts_of_the_three_task_kinds():
    assert Specials.after(40478) == Specials(40478, 40479, 40480)
    assert transform("classification", [[1, 2, 3]], S, 16) == [[100, 1, 2, 3, 102]]
    assert transform("entailment", [[1, 2], [3]], S, 16) == [[100, 1, 2, 101, 3, 102]]
    assert transform("similarity", [[1, 2], [3]], S, 16) == [[100, 1, 2, 101, 3, 102],
                                                            [100, 3, 101, 1, 2, 102]]
    # too long: the longer segment is cut first, from its end, to fit the context exactly
    assert transform("entailment", [[1] * 10, [2, 2]], S, 8) == [[100, 1, 1, 1, 101, 2, 2, 102]]
    assert transform("classification", [list(range(20))], S, 6) == [[100, 0, 1, 2, 3, 102]]
    assert fit([6, 6], 5) == [2, 3]
    with pytest.raises(ValueError, match="2 text segment"):
        transform("entailment", [[1]], S, 8)


@pytest.fixture(scope="module")
def tiny_gpt():
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=50, block_size=24, n_layer=2, n_head=2, n_embd=16,
                      norm_position="post", final_norm=False, vocab_pad_multiple=8)
    return GPT(cfg).eval()


def test_added_tokens_leave_the_model_unchanged(tiny_gpt):
    bigger = add_tokens(tiny_gpt, 3, torch.Generator().manual_seed(1)).eval()
    assert bigger.config.vocab_size == 53 and bigger.lm_head.weight is bigger.transformer.wte.weight
    x = torch.randint(0, 50, (2, 10))
    assert torch.equal(tiny_gpt.hidden_states(x), bigger.hidden_states(x))
    new = bigger.transformer.wte.weight[50:53]
    assert 0.003 < new.std().item() < 0.06 and not bigger.transformer.wte.weight[53:].any()


def test_head_reads_extract_sums_orderings_and_lm_loss_skips_padding(tiny_gpt):
    gpt = add_tokens(tiny_gpt, 3, torch.Generator().manual_seed(1)).eval()
    sp = Specials.after(50)
    model = FinetuneModel(gpt, 1, 0.1).eval()
    examples = [transform("similarity", [[1, 2, 3], [4, 5]], sp, 24),
                transform("similarity", [[7] * 9, [8] * 4], sp, 24)]
    batch = collate(Encoded(examples, np.array([1.0, 2.0], np.float32), 2), np.array([0, 1]), 24)
    assert batch["idx"].shape == (4, 16) and batch["lengths"].tolist() == [8, 8, 16, 16]
    out, lm = model(batch["idx"], batch["lengths"], 2, True)
    ce, n, expected = 0.0, 0, []
    for seqs in examples:   # each sequence alone, unpadded
        states = [gpt.hidden_states(torch.tensor([s]))[0, -1] for s in seqs]
        expected.append(model.head(states[0] + states[1]))
        for s in seqs:
            t = torch.tensor([s])
            ce += torch.nn.functional.cross_entropy(gpt.logits(t)[0, :-1], t[0, 1:], reduction="sum")
            n += len(s) - 1
    assert torch.allclose(out, torch.stack(expected), atol=1e-5)
    assert lm.item() == pytest.approx((ce / n).item(), rel=1e-5)


def test_schedule_warms_up_then_decays_linearly_to_zero():
    recipe = SPEC.finetune.recipe
    f = schedule(dataclasses.replace(recipe, warmup_fraction=0.1), 20)
    assert [f(0), f(1)] == [0.5, 1.0]                       # 2 warmup updates
    assert f(10) == pytest.approx(1 - (11 - 2) / 18) and f(19) == 0.0
    g = schedule(recipe, 233)                               # RTE: 77 x 3 updates, warmup 0.47
    assert g(0) == pytest.approx(1 - (1 - 0.466) / (233 - 0.466))


def test_epoch_batches_are_full_seeded_and_length_sorted():
    rng = np.random.default_rng(0)
    enc = Encoded([[list(range(n))] for n in rng.integers(3, 60, 100)], np.zeros(100, np.int64), 1)
    batches = epoch_batches(enc, 8, seed=3, epoch=0)
    assert len(batches) == 12 and all(len(b) == 8 for b in batches)          # last 4 dropped
    assert len({int(i) for b in batches for i in b}) == 96
    assert all(np.all(np.diff(enc.lengths[b]) >= 0) for b in batches)
    again, other = epoch_batches(enc, 8, 3, 0), epoch_batches(enc, 8, 3, 1)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other))


# ---- the command line ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_rte(cli, tmp_path_factory):
    """`python -m repro gpt1 finetune --task rte --scale tiny` as CI runs it."""
    root = tmp_path_factory.mktemp("finetune-cli")
    rc, out, err = cli("gpt1", "finetune", "--task", "rte", "--scale", "tiny", "--out",
                       root / "runs", "--report-dir", root / "reports", "--no-progress",
                       "--json", timeout=300)
    assert rc == 0, err[-3000:]
    return root, json.loads(out), err


def test_tiny_rte_runs_on_cpu_and_writes_its_run_and_report(tiny_rte):
    root, summary, err = tiny_rte
    run = RunDir(summary["run_dir"])
    assert run.path.parent == root / "runs" / "gpt1-finetune-tiny" and run.name.startswith("rte-")
    assert summary["completed"] and summary["steps"] == summary["planned_steps"] == 6   # 64 // 32 x 3
    assert summary["device"] == "cpu" and summary["dev_examples"] == 32
    config = run.read_json(RunDir.CONFIG)
    assert config["input"] == "entailment" and config["init"]["kind"] == "random"
    assert config["specials"] == {"start": 40478, "delimiter": 40479, "extract": 40480}
    assert config["model"]["vocab_size"] == 40481 and config["recipe"]["lm_coef"] == 0.5
    rows = run.metrics()
    assert [r["epoch"] for r in rows if "dev" in r] == [1, 2, 3]
    assert all("lm_loss" in r for r in rows if "loss" in r)
    assert run.read_json(RunDir.SUMMARY)["dev"] == summary["dev"]
    last_dev = [r["dev"] for r in rows if "dev" in r][-1]
    assert last_dev == summary["dev"] and (run / RunDir.ENV).is_file()    # after the last epoch
    assert (summary["dev"]["accuracy"] * 32).is_integer()                 # k of the 32 dev pairs
    saved = run.read_json(RunDir.DEV_PREDICTIONS)                         # what intervals resample
    gold = glue.load_task("rte")["dev"].labels[:32]
    assert saved["dev_examples"] == 32 and set(saved["predictions"]) <= {0, 1}
    assert metrics.accuracy(saved["predictions"], gold) == summary["dev"]["accuracy"]
    report = root / "reports" / "gpt1-finetune-tiny.md"
    assert f"report: {report}" in err
    text = report.read_text()
    assert "| rte | accuracy |" in text and "56.0 (Table 2)" in text and "random init" in text
    assert json.loads((root / "reports" / "gpt1-finetune-tiny.json").read_text())["runs"][0][
        "accuracy"] == pytest.approx(100 * summary["dev"]["accuracy"], abs=0.01)


def fake_pretraining_run(out: Path, paper: str = "gpt1", checkpoint_too: bool = True) -> Path:
    """A finished tiny pre-training run folder with a checkpoint of an untrained model."""
    from repro.model import build_model
    from repro.spec import resolve
    cfg = resolve(PAPERS[paper], None, "tiny")
    run = RunDir.create(out / f"{paper}-tiny", "20260101-000000-s0-da39a3")
    run.write_json(RunDir.CONFIG, cfg.to_dict())
    run.write_json(RunDir.SUMMARY, {"tokens": 20480, "steps": 80, "final_val_loss": 7.25})
    if checkpoint_too:
        torch.manual_seed(0)
        checkpoint.save(run.checkpoints, 80, {"model": build_model(cfg.model).state_dict(),
                                              "config": cfg.to_dict()})
    return run.path


def main(*args) -> tuple[int, str, str]:
    """`python -m repro *args` in this process: (exit status, stdout, stderr)."""
    import contextlib
    import io

    from repro.cli import main as repro_main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            repro_main([str(a) for a in args])
            code = 0
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


def test_report_sets_the_three_arms_beside_table_5(tmp_path):
    runs, reports = tmp_path / "runs", tmp_path / "reports"
    init = fake_pretraining_run(runs)
    common = ["gpt1", "finetune", "--task", "rte", "--out", runs, "--no-progress", "--no-report",
              "--json"]
    summaries = []
    for extra in (["--init", init], ["--init", init, "--set", "lm_coef=0"],
                  ["--init", "random", "--set", "lm_coef=0.5"]):
        code, out, err = main(*common, *extra)
        assert code == 0, err
        summaries.append(json.loads(out))
    assert [s["init"] for s in summaries] == ["run", "run", "random"]
    # a stopped run is listed, never averaged
    stopped = Path(summaries[0]["run_dir"]).with_name("rte-stopped")
    shutil.copytree(summaries[0]["run_dir"], stopped)
    (stopped / RunDir.SUMMARY).write_text(json.dumps(
        {"steps": 2, "planned_steps": 6, "completed": False,
         "status": "stopped by SIGTERM at step 2 of 6"}))
    code, out, err = main("report", "gpt1", "--finetune", "--scale", "tiny", "--runs", runs,
                          "--reference-dir", tmp_path / "none", "--out", reports)
    assert code == 0, err
    text = (reports / "gpt1-finetune-tiny.md").read_text()
    ours = {k: 100 * s["dev"]["accuracy"] for k, s in zip(("pre", "lm0", "random"), summaries)}
    rte_row = next(line for line in text.splitlines() if line.startswith("| rte | accuracy | ")
                   and "56 | 54.4 | 53.8" in line)
    cells = [c.strip() for c in rte_row.split("|")[4:7]]
    first = np.bincount(glue.load_task("rte")["dev"].labels[:32])       # the tiny scale's dev
    assert rte_row.split("|")[3].strip() == f"{100 * first.max() / 32:.1f} (all entailment)"
    assert [c.split(" — ")[0] for c in cells] == [f"{ours[k]:.1f} (n=1)" for k in
                                                   ("pre", "lm0", "random")]
    assert "gpt1 tiny run 20260101-000000-s0-da39a3" in text and "val loss" in text
    assert "stopped by SIGTERM at step 2 of 6" in text
    doc = json.loads((reports / "gpt1-finetune-tiny.json").read_text())
    pre = [r for r in doc["ablation"]["yours"]["comparisons"] if r["task"] == "rte"]
    assert len(pre) == 2 and "paired bootstrap" in pre[0]["difference (95% interval)"]
    assert pre[0]["difference (95% interval)"].startswith(f"{ours['pre'] - ours['random']:+.1f} [")
    low, high = (float(x) for x in pre[0]["difference (95% interval)"].split("[")[1].split("]")[
        0].split(", "))
    words = "no detectable difference" if low <= 0 <= high else "higher"
    assert words in pre[0]["verdict"] and f"**{pre[0]['verdict']}**" in text
    # evidence: --add copies a finished run, --reference reports from the evidence alone
    ref = tmp_path / "ref"
    code, out, err = main("report", "gpt1", "--finetune", "--scale", "tiny", "--runs", runs,
                          "--reference-dir", ref, "--add", summaries[2]["run_dir"], "--reference")
    assert code == 0, err
    copy = ref / "runs" / "gpt1-finetune-tiny" / Path(summaries[2]["run_dir"]).name
    assert (copy / RunDir.EVIDENCE_MARK).is_file() and (copy / RunDir.SUMMARY).is_file()
    reference = (ref / "gpt1-finetune-tiny.md").read_text()
    assert "reference evidence" in reference and "your runs" not in reference


@pytest.mark.parametrize("case,expected", [
    ("gpt2", "gpt2 has no fine-tuning recipe; papers that fine-tune: gpt1"),
    ("task", ("argument --task: invalid choice: 'qqp'", "sst2", "cola", "mrpc", "stsb")),
    ("both", "--init and --hf both given"),
    ("empty", "not a run folder (no config.json)"),
    ("no-checkpoint", "no checkpoint"),
    ("other-paper", "a gpt2 run, not a gpt1 pre-training run"),
    ("evidence", "this is a report's evidence copy, not a run"),
    ("finetune-run", "a fine-tuning run, not a gpt1 pre-training run"),
    ("scale", "unknown scale 'giant' for fine-tuning; choose from: tiny, small, medium, paper"),
    ("disagree", "is a gpt1 tiny run; --scale small disagrees"),
    ("no-small-run", "no gpt1 small run with a checkpoint under"),
    ("key", "--set lm_coeff: unknown fine-tuning setting; valid: lr, batch_size"),
    ("value", "lm_coef=abc: expected a number"),
    ("negative", "lm_coef must not be negative, got -1.0"),
    ("hf-vocab", "the model has a vocabulary of 50,257 tokens, the gpt1 tokenizer 40,478"),
])
def test_misuse_is_one_line(case, expected, tmp_path, tiny_rte):
    runs = tmp_path / "runs"
    base = ["gpt1", "finetune", "--task", "rte", "--out", runs, "--no-progress"]
    (tmp_path / "empty").mkdir()
    args = {
        "gpt2": ["gpt2", "finetune", "--task", "rte"],
        "task": ["gpt1", "finetune", "--task", "qqp"],
        "both": base + ["--init", tmp_path, "--hf", "openai-gpt"],
        "empty": base + ["--init", tmp_path / "empty"],
        "no-checkpoint": base + ["--init", lambda: fake_pretraining_run(runs, checkpoint_too=False)],
        "other-paper": base + ["--init", lambda: fake_pretraining_run(runs, "gpt2", False)],
        "evidence": base + ["--init", lambda: evidence_copy(runs)],
        "finetune-run": base + ["--init", tiny_rte[1]["run_dir"]],
        "scale": base + ["--scale", "giant"],
        "disagree": base + ["--scale", "small", "--init", lambda: fake_pretraining_run(runs)],
        "no-small-run": base + ["--scale", "small"],
        "key": base + ["--set", "lm_coeff=0"],
        "value": base + ["--set", "lm_coef=abc"],
        "negative": base + ["--set", "lm_coef=-1"],
        "hf-vocab": base + ["--hf", lambda: gpt2_vocab_folder(tmp_path)],
    }[case]
    code, out, err = main(*[a() if callable(a) else a for a in args])
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1, err
    assert lines[0].startswith("repro: error: "), lines[0]
    for part in (expected,) if isinstance(expected, str) else expected:
        assert part in lines[0], lines[0]
    assert not list(runs.glob("gpt1-finetune-*/*"))   # a refused run leaves no folder


def evidence_copy(runs: Path) -> Path:
    run = RunDir(fake_pretraining_run(runs))
    return run.copy_evidence(runs / "evidence", "abc1234")


def gpt2_vocab_folder(tmp_path: Path) -> Path:
    from transformers import GPT2Config, GPT2LMHeadModel
    folder = tmp_path / "hf-gpt2"
    GPT2LMHeadModel(GPT2Config(n_positions=32, n_embd=16, n_layer=1, n_head=2)).save_pretrained(folder)
    return folder
