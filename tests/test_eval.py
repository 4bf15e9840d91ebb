"""Evaluation (repro.eval, `python -m repro eval`): the shipped sets and their checksums, the
de-tokenizers on the real test files, the K-shot prompts and pools, the scorer's windows and
batching, and the cross-check: `repro eval` against lm-evaluation-harness, through our adapter
and through the exported Hugging Face folder. CPU, offline.

One model serves the module: a 2-layer GPT-2 (GPT-2 vocabulary, context 32) fitted for a few
seconds to the last words of every other one of LAMBADA's first 64 passages, so that greedy
accuracy over those 64 is neither 0 nor 100 and a disagreement would show.
"""
from __future__ import annotations

import dataclasses
import json
import lzma
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from repro_papers import PAPERS
from repro.checkpoint import save as save_checkpoint
from repro.cli import main as cli_main
from repro.data.tokenizers import get_tokenizer
from repro.data.tokens import encode_cached
from repro.errors import ReproError
from repro.eval import data
from repro.eval.detokenize import RULES, detokenize_line, retokenize_line, round_trip
from repro.eval.prompts import FORMATS, demonstrations, fit, prompt
from repro.eval.protocols import Setup, last_word
from repro.eval.scoring import Request, Scorer, windows
from repro.eval.settings import EvalSettings
from repro.eval.stopwords import is_stop_word
from repro.eval.tasks import TASKS
from repro.model import build_model
from repro.spec import size_config

CONTEXT, FITTED, SCORED = 32, range(0, 64, 2), 64


def _fit_last_words(model, tok, steps: int = 40):
    """Train only on the last word of passages FITTED (logits at those positions only: fast)."""
    passages = data.passages(data.shipped_text("lambada_openai"))
    picked = [passages[i] for i in FITTED]
    ctx = encode_cached(tok, [p.rsplit(" ", 1)[0] for p in picked])
    whole = encode_cached(tok, picked)
    rows, cols, targets, inputs = [], [], [], []
    for j, (c, w) in enumerate(zip(ctx, whole)):
        seq, n = w[-(CONTEXT + 1):], len(w) - len(c)
        inputs.append(seq[:-1])
        rows += [j] * n
        cols += range(CONTEXT - n, CONTEXT)
        targets += [int(t) for t in seq[-n:]]
    x = torch.tensor(np.stack(inputs).astype(np.int64))
    rows, cols, targets = torch.tensor(rows), torch.tensor(cols), torch.tensor(targets)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(
            model.head(model.hidden_states(x)[rows, cols]), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run folder (config + checkpoint) as the trainer writes one."""
    torch.manual_seed(0)
    base = size_config(PAPERS["gpt2"], "small")
    mcfg = dataclasses.replace(base.model, n_layer=2, n_head=2, n_embd=64, block_size=CONTEXT,
                               embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0)
    model = _fit_last_words(build_model(mcfg), get_tokenizer("gpt2"))
    cfg = base.replace(model=mcfg, scale="tiny")
    path = tmp_path_factory.mktemp("eval-run") / "run"
    path.mkdir()
    (path / "config.json").write_text(cfg.to_json())
    save_checkpoint(path / "checkpoints", 60, {"model": model.state_dict(), "config": cfg.to_dict()})
    return path


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
    from repro.interop.export import export_run
    out = tmp_path_factory.mktemp("eval-export") / "hf"
    assert export_run(run, out)["max_abs_diff"] <= 1e-5
    return out


def repro_eval(capsys, *args) -> dict:
    """`python -m repro eval ... --json` in this process (the CLI path, without a subprocess)."""
    capsys.readouterr()
    cli_main(["eval", *map(str, args), "--json", "--no-progress", "--device", "cpu"])
    return json.loads(capsys.readouterr().out)


def values(result: dict) -> dict:
    return {(r["task"], r["metric"], r["shots"]): r["value"] for r in result["results"]}


def refused(capsys, *args) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        cli_main(["eval", *map(str, args), "--no-progress", "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and err[0].startswith("repro: error: "), err
    return err[0]


# ---- data ------------------------------------------------------------------------------------
def test_shipped_sets_verified_and_counted(tmp_path, monkeypatch):
    assert len(data.passages(data.shipped_text("lambada_openai"))) == 5153
    piqa = data.piqa(data.shipped_text("piqa_dev"), data.shipped_text("piqa_dev_labels"))
    assert len(piqa) == 1838 and sum(e.label for e in piqa) == 928
    # the word-level counts perplexity is normalised by: words + one <eos> per line
    for name, tokens in (("wikitext2_test", 245_569), ("ptb_test", 82_430)):
        lines = data.lines_of(data.shipped_text(name))
        assert sum(len(line.split()) + 1 for line in lines) == tokens
    # a damaged copy is refused by its checksum
    (tmp_path / "eval" / "piqa").mkdir(parents=True)
    raw = lzma.decompress(data.SETS["piqa_dev"].location().read_bytes()).replace(b"guinea", b"Guinea")
    (tmp_path / "eval" / "piqa" / "valid.jsonl.xz").write_bytes(lzma.compress(raw))
    monkeypatch.setenv("REPRO_DATA_DIR", str(tmp_path))
    with pytest.raises(ReproError, match="sha256"):
        data.shipped_text("piqa_dev")


def test_detokenizers_round_trip_on_the_real_files():
    wiki = data.lines_of(data.shipped_text("wikitext2_test"))
    ptb = data.lines_of(data.shipped_text("ptb_test"))
    # every line but 13 (lower-case abbreviations "vs.", "pp.", "al." before a glued ".")
    assert round_trip(RULES["wikitext"], wiki) == (4345, 4358)
    assert round_trip(RULES["ptb"], ptb) == (3761, 3761)
    text = detokenize_line(RULES["wikitext"], wiki[3])
    assert text.startswith("Robert <unk> is an English film, television and theatre actor. He "
                           "had a guest-starring role")
    assert 'a role as "Craig" in the episode "Teddy\'s Story" of' in text
    assert detokenize_line(RULES["wikitext"], wiki[1]) == "= Robert <unk> ="
    assert retokenize_line(RULES["wikitext"], text) == wiki[3]
    line = " 1 @,@ 000 @-@ year ( N ) in Type A . U.S. . "
    assert detokenize_line(RULES["wikitext"], line) == "1,000-year (N) in Type A . U.S.."
    assert retokenize_line(RULES["wikitext"], "1,000-year (N) in Type A . U.S..") == line
    assert detokenize_line(RULES["ptb"], ptb[0]) == "no it wasn't black monday"
    assert "the proposed $N billion buy-out" in detokenize_line(RULES["ptb"], ptb[21])


# ---- prompts ---------------------------------------------------------------------------------
def test_lambada_and_piqa_formats():
    cloze = prompt(FORMATS["cloze"], [("Alice was friends with Bob. Alice went to visit her "
                                       "friend", "Bob")],
                   "George bought some baseball equipment, a ball, a glove, and a")
    assert cloze == ("Fill in blank:\n\nAlice was friends with Bob. Alice went to visit her "
                     "friend ____. -> Bob\n\nGeorge bought some baseball equipment, a ball, a "
                     "glove, and a ____. ->")
    assert prompt(FORMATS["cloze"], [], "x") == "Fill in blank:\n\nx ____. ->"
    piqa = data.piqa(data.shipped_text("piqa_dev"), data.shipped_text("piqa_dev_labels"))
    shot = (piqa[0].context, piqa[0].choices[piqa[0].label])
    assert prompt(FORMATS["choice"], [shot], piqa[1].context) == (
        "How do I ready a guinea pig cage for it's new occupants? Provide the guinea pig with a "
        "cage full of a few inches of bedding made of ripped paper strips, you will also need to "
        "supply it with a water bottle and a food dish.\ndresser")
    assert data.passages(data.shipped_text("lambada_openai"))[0].rsplit(" ", 1)[1] == "signs"


def test_kshot_pools_exclude_the_scored_example():
    for i in range(20):
        picks = demonstrations(20, i, 19, seed=7)
        assert sorted(picks) == [j for j in range(20) if j != i]     # all others, never i
        assert demonstrations(20, i, 5, seed=7) == demonstrations(20, i, 5, seed=7)
    assert demonstrations(5153, 3, 15, 1) != demonstrations(5153, 3, 15, 2)
    with pytest.raises(ReproError, match="larger than the pool of 19"):
        demonstrations(20, 0, 20, seed=7)
    assert fit(15, [10] * 15, 40, 100) == 6 and fit(3, [1, 1, 1], 5, 100) == 3


# ---- LAMBADA's three scorings on a model whose logits are known -------------------------------
class Bigram(torch.nn.Module):
    """Logits after token p: 0 everywhere but table[p] (a dict token -> logit)."""

    def __init__(self, table: dict, vocab: int):
        super().__init__()
        self.table, self.vocab = table, vocab
        self.config = dataclasses.make_dataclass("C", [("block_size", int)])(64)

    def hidden_states(self, idx):
        return idx[..., None].float()          # the "hidden state" is the token itself

    def head(self, x):
        out = torch.zeros(len(x), self.vocab)
        for j, p in enumerate(x[:, 0].long().tolist()):
            for t, v in self.table.get(p, {}).items():
                out[j, t] = v
        return out


def test_lambada_variants_on_hand_made_passages():
    tok = get_tokenizer("gpt2")
    met, sn, uffle, wick = tok.encode(" met Snufflewick")   # a word of three BPE tokens
    the, door, some, cake = tok.encode(" the door some cake")
    assert is_stop_word(tok.decode([the])) and not is_stop_word(tok.decode([door]))
    V = tok.vocab_size
    table = {met: {the: 5.0},                  # after " met": " the", not " Sn": word wrong,
             sn: {uffle: 5.0}, uffle: {wick: 5.0},     # but the last piece is the argmax
             the: {the: 5.0, door: 4.0},       # after " the": the stop word " the", then " door"
             some: {cake: 5.0}}                # " cake": right under every scoring
    passages = ["I met Snufflewick", "She opened the door", "We ate some cake"]
    setup = Setup(tok, EvalSettings(), 64, Scorer(Bigram(table, V), progress=False))
    got = {name: {r["metric"]: r["value"] for r in last_word(setup, TASKS[name], passages, 0,
                                                                 range(3))}
           for name in ("lambada", "lambada_last_token", "lambada_stopword")}
    assert got["lambada"]["accuracy"] == pytest.approx(100 / 3)            # cake only
    assert got["lambada_last_token"]["accuracy"] == pytest.approx(200 / 3)  # + Snufflewick
    assert got["lambada_stopword"]["accuracy"] == pytest.approx(100.0)      # + door
    # perplexity of the last token only: log p = logit - log(e^logit + other logits' e^0)
    lp5, lp4 = 5 - math.log(math.exp(5) + V - 1), 4 - math.log(math.exp(5) + math.exp(4) + V - 2)
    for name in ("lambada_last_token", "lambada_stopword"):   # the filter leaves it alone
        assert got[name]["perplexity"] == pytest.approx(math.exp(-(lp5 + lp4 + lp5) / 3), rel=1e-5)
    # the whole word: Snufflewick's first piece " Sn" has logit 0 after " met"
    lp_sn = -math.log(math.exp(5) + V - 1)
    assert got["lambada"]["perplexity"] == pytest.approx(
        math.exp(-(lp_sn + 2 * lp5 + lp4 + lp5) / 3), rel=1e-5)  # fp32 sums


# ---- scoring ---------------------------------------------------------------------------------
@pytest.mark.parametrize("stride", [1, 7, 16, 32])
def test_windows_score_every_token_once(stride):
    from lm_eval.utils import get_rolling_token_windows, make_disjoint_window
    ids = np.arange(100, 200)
    w = windows(ids, 5, CONTEXT, stride)
    assert np.array_equal(np.concatenate([r.continuation for r in w]), ids)
    assert all(len(r.context) + len(r.continuation) <= CONTEXT + 1 for r in w)
    assert all(len(r.context) + len(r.continuation) == CONTEXT + 1 for r in w[1:])  # full context
    if stride == CONTEXT:   # lm-evaluation-harness's loglikelihood_rolling, exactly
        theirs = [make_disjoint_window(p) for p in get_rolling_token_windows(
            ids.tolist(), prefix_token=5, max_seq_len=CONTEXT, context_len=1)]
        assert [(r.context.tolist(), r.continuation.tolist()) for r in w] == theirs


def test_batching_and_padding_do_not_change_scores(run):
    from repro.checkpoint import load_model
    model = load_model(run)[0]
    rng = np.random.default_rng(0)
    reqs = [Request(rng.integers(0, 50257, int(rng.integers(1, 40))),
                    rng.integers(0, 50257, int(rng.integers(1, 6)))) for _ in range(9)]
    one = Scorer(model, batch_size=1, progress=False).score(reqs)
    many = Scorer(model, batch_size=4, progress=False).score(reqs)
    assert [s.tokens for s in one] == [len(r.continuation) for r in reqs]
    assert max(abs(a.logprob - b.logprob) for a, b in zip(one, many)) < 1e-4
    r = reqs[0]   # by hand: the last CONTEXT tokens, log-softmax at the continuation
    seq = np.concatenate([r.context, r.continuation])[-(CONTEXT + 1):]
    with torch.no_grad():
        lp = model.logits(torch.tensor(seq[None, :-1].astype(np.int64)))[0].log_softmax(-1)
    n = len(r.continuation)
    assert abs(one[0].logprob - float(lp[-n:].gather(1, torch.tensor(seq[-n:, None])).sum())) < 1e-4
    # a continuation longer than the context: pieces of 32, each after what fits before it
    ctx, cont = reqs[1].context, rng.integers(0, 50257, 70)
    whole = Scorer(model, progress=False).score([Request(ctx, cont)])[0]
    parts = Scorer(model, progress=False).score(
        [Request(np.concatenate([ctx, cont[:a]]), cont[a:a + CONTEXT]) for a in (0, 32, 64)])
    assert whole.tokens == 70 and abs(whole.logprob - sum(p.logprob for p in parts)) < 1e-3


def _full_logits_score(model, r: Request) -> tuple[float, bool]:
    """The path scoring had before it ran the head at scored positions only: logits at every
    position of the last CONTEXT + 1 tokens, log-softmax, the continuation's entries."""
    seq = np.concatenate([r.context, r.continuation])[-(CONTEXT + 1):]
    n = len(r.continuation)
    with torch.no_grad():
        lp = model.logits(torch.tensor(seq[None, :-1].astype(np.int64)))[0, -n:].log_softmax(-1)
    t = torch.tensor(seq[-n:].astype(np.int64))
    return float(lp.gather(1, t[:, None]).sum()), bool((lp.argmax(-1) == t).all())


def test_scored_positions_only_equal_the_full_logits(run):
    """One contract for both kinds of task: last-word requests (a token or two scored) and the
    perplexity windows (every position scored) give the full-logits path's numbers."""
    from repro.checkpoint import load_model
    model = load_model(run)[0]
    rng = np.random.default_rng(1)
    last_word = [Request(rng.integers(0, 50257, int(rng.integers(1, 40))),
                         rng.integers(0, 50257, int(rng.integers(1, 3)))) for _ in range(7)]
    stream = rng.integers(0, 50257, 100)
    perplexity = windows(stream, 50256, CONTEXT, CONTEXT // 2)
    assert all(len(r.continuation) + len(r.context) <= CONTEXT + 1 for r in perplexity)
    for reqs in (last_word, perplexity):
        got = Scorer(model, batch_size=3, progress=False).score(reqs)
        want = [_full_logits_score(model, r) for r in reqs]
        assert max(abs(g.logprob - w[0]) / abs(w[0]) for g, w in zip(got, want)) < 1e-5
        assert [g.greedy for g in got] == [w[1] for w in want]


# ---- the cross-check against lm-evaluation-harness -------------------------------------------
def _lm_eval(model: str, model_args: str, lines: int):
    import lm_eval
    from lm_eval.tasks import TaskManager

    import repro.eval.harness as H
    tm = TaskManager(include_path=str(H.TASKS_DIR), include_defaults=False,   # 26k YAMLs: 30 s
                     metadata={"lines": lines})
    out = lm_eval.simple_evaluate(model=model, model_args=model_args, device="cpu",
                                  tasks=["repro_lambada", "repro_wikitext2"], task_manager=tm,
                                  limit=SCORED, bootstrap_iters=0)
    return out["results"]


def test_repro_eval_equals_lm_eval_through_adapter_and_export(run, exported, capsys):
    """LAMBADA's first 64 passages and WikiText-2's first 64 lines (--limit counts lines of a
    perplexity file), windows of the full context (eval.stride=32): lm_eval's rolling windows."""
    ours = values(repro_eval(capsys, run, "--tasks", "lambada,wikitext2", "--limit", SCORED,
                             "--set", f"eval.stride={CONTEXT}"))
    acc = ours[("lambada", "accuracy", 0)]
    assert 20 < acc < 80, acc            # the fitted half of the passages, roughly
    for model, args in (("repro", f"run_dir={run}"),
                        ("hf", f"pretrained={exported},dtype=float32")):
        theirs = _lm_eval(model, args, lines=SCORED)
        assert 100 * theirs["repro_lambada"]["acc,none"] == acc
        assert math.isclose(theirs["repro_lambada"]["perplexity,none"],
                            ours[("lambada", "perplexity", 0)], rel_tol=5e-3)
        assert math.isclose(theirs["repro_wikitext2"]["word_perplexity,none"],
                            ours[("wikitext2", "word_perplexity", 0)], rel_tol=5e-3)
    # the same numbers from the exported folder through `repro eval --hf`
    hf = values(repro_eval(capsys, "--hf", exported, "--tasks", "lambada", "--limit", SCORED))
    assert hf[("lambada", "accuracy", 0)] == acc
    assert math.isclose(hf[("lambada", "perplexity", 0)], ours[("lambada", "perplexity", 0)],
                        rel_tol=1e-5)


# ---- K-shot runs, other checkpoints, files the user points at --------------------------------
@pytest.fixture(scope="module")
def random_gpt2(tmp_path_factory):
    """A GPT-2-shaped Hugging Face checkpoint with random weights (context 256), offline."""
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("random-gpt2") / "gpt2"
    GPT2LMHeadModel(GPT2Config(n_positions=256, n_embd=32, n_layer=2, n_head=2)).save_pretrained(out)
    return out


def test_plain_folders_load_without_transformers(random_gpt2, tmp_path):
    """config.json + model.safetensors read directly give transformers' conversion exactly;
    a config without a field we read is left to transformers (its class has the default)."""
    from transformers import OpenAIGPTConfig, OpenAIGPTLMHeadModel

    from repro.interop.convert import from_hf
    from repro.interop.folder import read_folder
    torch.manual_seed(0)
    gpt1 = tmp_path / "gpt1"
    OpenAIGPTLMHeadModel(OpenAIGPTConfig(n_positions=64, n_embd=32, n_layer=2, n_head=2,
                                         vocab_size=40478)).save_pretrained(gpt1)
    for folder in (random_gpt2, gpt1):
        fast, slow = read_folder(folder), from_hf(folder)
        assert fast.config == slow.config and not fast.training
        a, b = fast.state_dict(), slow.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        assert fast.lm_head.weight is fast.transformer.wte.weight
    lacking = shutil.copytree(gpt1, tmp_path / "lacking")   # a field left to its class default
    fields = json.loads((lacking / "config.json").read_text())
    del fields["n_embd"]
    (lacking / "config.json").write_text(json.dumps(fields))
    assert read_folder(lacking) is None and read_folder(tmp_path / "none") is None


def test_evaluation_imports_neither_transformers_nor_accelerate(run, random_gpt2):
    """A run and a plain Hugging Face folder are evaluated without either package (their
    imports cost seconds of a short evaluation's start-up)."""
    code = ("import sys; from repro.cli import main; "
            "main(['eval', *sys.argv[1:], '--tasks', 'lambada', '--limit', '5', '--no-progress', "
            "'--device', 'cpu', '--json']); "
            "print([m for m in ('transformers', 'accelerate') if m in sys.modules])")
    for model in ([str(run)], ["--hf", str(random_gpt2)]):
        out = subprocess.run([sys.executable, "-c", code, *model], capture_output=True,
                             text=True, timeout=120, check=True).stdout
        result = json.loads(out[:out.rindex("\n[")])
        assert out.strip().endswith("[]") and result["results"][0]["n"] == 5
        assert set(result["startup"]) == {"plan_s", "model_s"}


def test_repro_eval_hf_random_checkpoint_kshot(random_gpt2, capsys, tmp_path):
    result = repro_eval(capsys, "--hf", random_gpt2, "--tasks", "piqa,lambada_cloze,ptb",
                        "--shots", "0,3", "--limit", 6, "--out", tmp_path)
    got = {(r["task"], r["metric"], r["shots"]): r for r in result["results"]}
    assert result["tokenizer"] == "gpt2" and result["context"] == 256
    assert {k for k in got if k[2] == 3} == {("piqa", "accuracy", 3),
                                            ("piqa", "accuracy_sum", 3),
                                            ("lambada_cloze", "accuracy", 3),
                                            ("lambada_cloze", "perplexity", 3)}
    piqa = got[("piqa", "accuracy", 3)]
    assert piqa["n"] == 6 and piqa["k_used"]["max"] == 3 and piqa["setting"] == "few-shot"
    assert "never the scored example" in piqa["note"]
    assert got[("lambada_cloze", "accuracy", 3)]["k_used"]["max"] <= 3
    assert got[("ptb", "perplexity", 0)]["n"] == sum(
        len(line.split()) + 1 for line in data.lines_of(data.shipped_text("ptb_test"))[:6])
    assert "| piqa | few-shot | 3 (used" in (tmp_path / "eval.md").read_text()
    assert json.loads((tmp_path / "eval.json").read_text())["results"] == result["results"]


def test_results_merge_into_the_run_and_the_report(run, capsys):
    from repro.report.evaluation import evaluation_rows
    repro_eval(capsys, run, "--tasks", "lambada", "--limit", 8)
    repro_eval(capsys, run, "--tasks", "piqa", "--shots", "1", "--limit", 4)
    saved = json.loads((run / "eval.json").read_text())
    assert {(r["task"], r["shots"]) for r in saved["results"]} >= {("lambada", 0), ("piqa", 1)}
    config = json.loads((run / "config.json").read_text())
    rows = evaluation_rows(PAPERS["gpt2"], "small", [
        {"eval": saved, "origin": "yours", "config": config, "summary": {"tokens": 20480}}])
    lam = next(r for r in rows if (r["task"], r["metric"]) == ("lambada", "accuracy"))
    value = next(r["value"] for r in saved["results"] if (r["task"], r["metric"]) == ("lambada", "accuracy"))
    assert lam["paper"] == 45.99 and lam["seeds"] == 1
    assert lam["ours (mean ± std)"] == f"{value:.4g} ± 0"
    assert lam["comparable?"].startswith("no: a 2x64 model trained here on 0M tokens of books")
    assert "stop-word filter" in lam["comparable?"]


def test_paper_values_and_structure_match():
    from types import SimpleNamespace

    from repro.cli.eval import few_shot_k, paper_sizes
    from repro.report.evaluation import paper_value
    gpt3 = PAPERS["gpt3"]
    assert paper_value(gpt3, "small", "lambada_cloze", "accuracy", 15)[:2] == (22.0, "GPT-3 Table H.1")
    assert paper_value(gpt3, "175b", "piqa", "accuracy", 10)[:2] == (82.3, "GPT-3 Table H.1, K=50")
    assert paper_value(gpt3, "xl", "lambada", "perplexity", 0)[:2] == (5.44, "GPT-3 Table H.1")
    assert few_shot_k("lambada_cloze") == 15 and few_shot_k("piqa") == 50
    released = SimpleNamespace(model=SimpleNamespace(config=size_config(PAPERS["gpt2"], "small").model),
                               config=None)
    sizes, comparable = paper_sizes(released)        # the structure of `--hf gpt2`
    assert [(s.name, size) for s, size in sizes] == [("gpt2", "small")]
    assert comparable.startswith("yes")
    assert paper_value(sizes[0][0], "small", "ptb", "perplexity", 0) == (65.85, "GPT-2 Table 3", "")
    assert "stop-word filter" in paper_value(sizes[0][0], "small", "lambada", "accuracy", 0)[2]


def test_files_the_user_points_at(run, capsys, tmp_path):
    """Tasks that do not ship read --set eval.path=FILE (and a shipped one reads it too)."""
    wiki = "".join(line + "\n" for line in data.lines_of(data.shipped_text("wikitext2_test"))[:30])
    (tmp_path / "wiki.test.tokens").write_text(wiki)
    a = values(repro_eval(capsys, run, "--tasks", "wikitext103", "--set",
                          f"eval.path={tmp_path / 'wiki.test.tokens'}"))
    b = values(repro_eval(capsys, run, "--tasks", "wikitext2", "--limit", 30))
    assert a[("wikitext103", "perplexity", 0)] == b[("wikitext2", "perplexity", 0)]
    text8 = "anarchism originated as a term of abuse first used against early working class " * 8
    (tmp_path / "text8").write_text(text8)
    r = repro_eval(capsys, run, "--tasks", "text8", "--set", f"eval.path={tmp_path / 'text8'}")
    assert [(x["metric"], x["n"]) for x in r["results"]] == [("bits_per_character", len(text8))]
    page = "<page>\n  <title>Caf\u00e9</title>\n  <text>'''Anarchism''' is a</text>\n</page>\n"
    (tmp_path / "enwik8.xz").write_bytes(lzma.compress(page.encode()))     # xz is read too
    r = repro_eval(capsys, run, "--tasks", "enwik8", "--set", f"eval.path={tmp_path / 'enwik8.xz'}")
    assert [(x["metric"], x["n"]) for x in r["results"]] == [("bits_per_byte", len(page.encode()))]
    story = "\n".join(f"{i} Sam saw the dog near the red barn ." for i in range(1, 21))
    cbt = (f"{story}\n21 Then Sam ran to the XXXXX .\tbarn\t\tbarn|dog|house|tree\n\n"
           f"{story}\n21 The XXXXX barked at Sam .\tdog\t\tbarn|dog|house|tree\n")
    (tmp_path / "cbt.txt").write_text(cbt)
    r = repro_eval(capsys, run, "--tasks", "cbt-cn", "--set", f"eval.path={tmp_path / 'cbt.txt'}")
    acc = next(x for x in r["results"] if x["metric"] == "accuracy")
    assert acc["n"] == 2 and acc["scoring"] == "sum" and acc["value"] in (0, 50, 100)


@pytest.mark.parametrize("args,message", [
    (["--tasks", "nope"], "unknown task 'nope'"),
    (["--tasks", "enwik8"], "point --set eval.path=FILE at the enwik8 test slice"),
    (["--tasks", "cbt-cn"], "cbtest_CN_valid_2000ex.txt"),
    (["--tasks", "piqa", "--shots", "2000"], "--shots 2000 is larger than the pool of 1,837"),
    (["--tasks", "lambada,ptb", "--set", "eval.path=x.txt"], "select one task"),
    (["--set", "eval.strid=3"], "valid keys: eval.path, eval.stride"),
])
def test_bad_input_is_one_line(run, capsys, args, message):
    assert message in refused(capsys, run, *args)


def test_bad_models_are_one_line(run, capsys, tmp_path, monkeypatch):
    bare = tmp_path / "no-checkpoint"
    bare.mkdir()
    shutil.copy(run / "config.json", bare / "config.json")
    assert "no checkpoint" in refused(capsys, bare, "--tasks", "lambada")
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert", "vocab_size": 30522}))
    assert "model_type 'bert' is not one of" in refused(capsys, "--hf", bert)
    assert "a run folder or --hf" in refused(capsys, run, "--hf", bert)
    monkeypatch.setenv("REPRO_DATA_DIR", str(tmp_path))       # the shipped file is not there
    assert "lambada_test.jsonl.xz: missing" in refused(capsys, run, "--tasks", "lambada")


def test_tokenize_only_fills_the_cache(capsys, repro_cache, monkeypatch):
    """After --tokenize-only, the same plan needs no tokenizer at all (as on a machine where
    GPT-1's spaCy is missing): every text comes from the cache."""
    from repro.data.tokenizers import GPT2Tokenizer
    args = ["eval", "--tokenize-only", "--tokenizer", "gpt2", "--tasks", "ptb,lambada_cloze",
            "--shots", "2", "--limit", "3", "--context", "128", "--set", "eval.seed=99"]
    capsys.readouterr()
    cli_main(args)
    assert "tokenized the texts of 2 task settings" in capsys.readouterr().out

    def no_tokenizer(self, texts):
        raise AssertionError("tokenized again: not read from the cache")
    monkeypatch.setattr(GPT2Tokenizer, "encode_batch", no_tokenizer)
    cli_main(args)
    assert "tokenized the texts of 2 task settings" in capsys.readouterr().out


def test_adapter_generates_greedily(run):
    from types import SimpleNamespace

    from repro.eval.harness import ReproLM
    lm = ReproLM(run_dir=str(run))
    tok = get_tokenizer("gpt2")
    ids = tok.encode("In my palm is a clear stone")
    greedy = lm.scorer.model.generate(torch.tensor([ids]), 6, do_sample=False)[0, len(ids):]
    expected = tok.decode(greedy.tolist())
    stop = expected[3:5] or "\n"
    req = SimpleNamespace(args=("In my palm is a clear stone", {"until": [stop], "max_gen_toks": 6}))
    assert lm.generate_until([req]) == [expected.split(stop, 1)[0]]
