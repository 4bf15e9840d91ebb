"""Hugging Face interop (repro.interop): logit parity both directions for GPT-1/GPT-2/iGPT
structures, the exact parameter counts of papers/FACTS.md §5, a broken transpose being caught,
and export of a run folder.
CPU, offline, fp32; reduced widths/depths keep every structural switch of each paper."""
from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from repro_papers import PAPERS
from repro.checkpoint import save as save_checkpoint
from repro.cli.parity import main as parity_main
from repro.interop import convert as H
from repro.interop.export import export_run
from repro.interop.parity import param_rows, parity, randomize, reduced_overrides
from repro.errors import ReproError
from repro.model import build_model
from repro.spec import size_config

CASES = [("gpt1", "base"), ("gpt2", "small"), ("igpt", "s")]


def _reduced(paper, size):
    model = size_config(PAPERS[paper], size).model
    return dataclasses.replace(model, **reduced_overrides(model))


def _params(paper):
    spec = PAPERS[paper]
    return param_rows({s: size_config(spec, s).model for s in spec.sizes}, spec.published_params)


def _tiny(paper, size, **changes):
    torch.manual_seed(0)
    cfg = dataclasses.replace(size_config(PAPERS[paper], size).model, n_layer=2, n_head=2,
                              n_embd=32, n_inner=0, block_size=64, **changes)
    model = build_model(cfg)
    randomize(model, 0, conv1d=False)
    return model.eval()


@pytest.mark.parametrize("paper,size", CASES)
def test_parity_both_directions(paper, size):
    r = parity(_reduced(paper, size), seq_len=64)
    assert r["max_abs_diff"] <= 1e-5, r                 # HF -> save -> load -> ours
    assert r["round_trip_max_abs_diff"] <= 1e-5, r      # ours -> HF -> save -> load
    assert r["greedy_match"] and r["config_match"], r
    d, L = r["n_embd"], r["n_layer"]
    extra = 9 * d * L if paper == "igpt" else 0         # HF ImageGPT's zero biases (5d + 4d per layer)
    assert r["params_hf"] - r["params_ours"] == extra, r


@pytest.mark.parametrize("paper,size,changes", [
    ("gpt2", "small", {"vocab_pad_multiple": 64}),      # padding rows never reach HF
    ("gpt2", "small", {"tie_embeddings": False, "activation": "gelu"}),
    ("gpt2", "small", {"bias": False}),                 # exported as zero biases
    ("gpt1", "base", {}),
    ("igpt", "s", {"vocab_pad_multiple": 64}),
])
def test_conversion_is_exact(paper, size, changes):
    ours = _tiny(paper, size, **changes)
    hf = H.to_hf(ours)
    back = H.from_hf(hf)
    idx = torch.randint(0, ours.config.vocab_size, (2, 64), generator=torch.Generator().manual_seed(1))
    assert H.logits_max_abs_diff(ours, hf, idx) <= 1e-5
    assert H.logits_max_abs_diff(back, hf, idx) <= 1e-5
    for k, v in back.state_dict().items():              # same weights, bit for bit
        ref = ours.state_dict().get(k)
        if ref is not None:
            assert torch.equal(v, ref[:v.shape[0]] if v.shape != ref.shape else ref), k


def test_igpt_logits_line_up_with_hf_sos_token():
    """Ours at t predicts idx[t] from idx[<t] behind the learned sos; HF gets id 512 in front."""
    ours = _tiny("igpt", "s")
    hf = H.to_hf(ours)
    assert hf.config.vocab_size == 513 and hf.lm_head.weight.shape[0] == 512
    assert torch.equal(hf.transformer.wte.weight[512], ours.sos)
    idx = torch.randint(0, 512, (1, 16))
    with torch.no_grad():
        a = ours.head(ours.hidden_states(idx))
        b = hf(input_ids=torch.cat([torch.tensor([[512]]), idx[:, :-1]], 1)).logits
    assert (a - b).abs().max() <= 1e-5


def test_imagegpt_nonzero_biases_become_bias_true():
    hf = H.to_hf(_tiny("igpt", "s"))
    with torch.no_grad():
        hf.transformer.h[0].mlp.c_fc.bias.fill_(0.1)
    ours = H.from_hf(hf)
    assert ours.config.bias
    idx = torch.randint(0, 512, (2, 32))
    assert H.logits_max_abs_diff(ours, hf, idx) <= 1e-5


def test_full_size_parameter_counts():
    rows = {(p, r["size"]): r for p in ("gpt1", "gpt2", "igpt") for r in _params(p)}
    expect = {("gpt2", "small"): 124_439_808, ("gpt2", "medium"): 354_823_168,  # FACTS §2.1
              ("gpt2", "large"): 774_030_080, ("gpt2", "xl"): 1_557_611_200,
              ("gpt1", "base"): 116_534_784, ("igpt", "s"): 76_571_648,        # FACTS §1.1, §4.1
              ("igpt", "m"): 455_157_760, ("igpt", "l"): 1_362_250_752,
              ("igpt", "l-48"): 1_364_216_832, ("igpt", "xl"): 6_810_875_904}   # 48x48, 64x64
    for key, n in expect.items():
        assert rows[key]["ours"] == rows[key]["formula"] == n, key
        if key[0] != "igpt":
            assert rows[key]["hf"] == n, key                # tied: HF counts the matrix once
    s = rows[("igpt", "s")]
    assert s["hf"] == 76_682_240                            # FACTS §5.1 HF ImageGPT module
    assert "zero linear biases 110,592" in s["note"] and "unexplained" not in s["note"]
    assert "40,478" in rows[("gpt2", "small")]["note"]      # FACTS §5.2: the published 117M
    gpt3 = {r["size"]: r for r in _params("gpt3")}          # every size, each with its Table 2.1 figure
    assert gpt3.keys() == PAPERS["gpt3"].sizes.keys() and gpt3["small"]["published"] == "125M"
    assert gpt3["small"]["ours"] == gpt3["small"]["formula"] == 125_226_240
    assert gpt3["small"]["hf"] is None and "no HF class" in gpt3["small"]["note"]


def test_wrong_transpose_is_caught(monkeypatch):
    # A square weight left untransposed loads silently: only the logits can tell.
    monkeypatch.setattr(H, "CONV1D", tuple(k for k in H.CONV1D if k != "attn.c_proj.weight"))
    r = parity(_reduced("gpt2", "small"), seq_len=32)
    assert r["max_abs_diff"] > 1e-3
    with pytest.raises(ReproError, match="parity failed"):
        parity_main(["igpt", "--size", "s"])
    # A non-square one is refused by shape, naming the tensor.
    monkeypatch.setattr(H, "CONV1D", tuple(k for k in H.CONV1D if k != "mlp.c_fc.weight"))
    with pytest.raises(ReproError, match="mlp.c_fc.weight"):
        H.from_hf(H.to_hf(_tiny("gpt2", "small")))


def test_cli_json(capsys):
    parity_main(["igpt", "--size", "s", "--json", "--seq-len", "64"])
    (row,) = json.loads(capsys.readouterr().out)
    assert row["size"] == "s" and row["max_abs_diff"] <= 1e-5 and row["greedy_match"]


def test_unsupported_and_offline():
    gpt3 = size_config(PAPERS["gpt3"], "small").model   # alternating banded attention
    with pytest.raises(ReproError, match="banded"):
        H.to_hf(build_model(dataclasses.replace(gpt3, n_layer=2, n_embd=32, n_head=2), "meta"))
    with pytest.raises(ReproError, match="the Hub is unreachable"):   # offline (conftest)
        H.from_hf("repro-tests/no-such-model-here")


@pytest.mark.parametrize("paper,size,changes", [("gpt2", "small", {"vocab_pad_multiple": 64}),
                                                ("igpt", "s", {})])
def test_export_run_folder(tmp_path, paper, size, changes):
    from transformers import AutoModelForCausalLM, AutoTokenizer, ImageGPTForCausalImageModeling

    model = _tiny(paper, size, **changes)
    cfg = size_config(PAPERS[paper], size).replace(model=model.config)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(cfg.to_json())
    sd = {"_orig_mod." + k: v for k, v in model.state_dict().items()}  # as torch.compile saves
    save_checkpoint(run / "checkpoints", 7, {"model": sd, "config": cfg.to_dict()})
    info = export_run(run, tmp_path / "hf")
    assert info["checkpoint"] == "ckpt-00000007.pt" and info["max_abs_diff"] <= 1e-5
    assert "model.safetensors" in info["files"]
    loader = ImageGPTForCausalImageModeling if paper == "igpt" else AutoModelForCausalLM
    back = loader.from_pretrained(tmp_path / "hf")
    idx = torch.randint(0, model.config.vocab_size, (2, 64))
    assert H.logits_max_abs_diff(model, back, idx) <= 1e-5
    if paper == "gpt2":
        tok = AutoTokenizer.from_pretrained(tmp_path / "hf")
        assert tok.encode("Hello world") == [15496, 995] and tok.eos_token_id == 50256
        assert back.config.eos_token_id == back.config.bos_token_id == 50256
