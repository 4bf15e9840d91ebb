"""The papers' findings at small scale (issue 31): GPT-1's layers transferred (Figure 2 left)
and zero-shot heuristics over pre-training (Figure 2 right), iGPT's probe against generative
loss (Figure 3), and the rule that turns intervals into a verdict."""
from __future__ import annotations

import json

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
                        ("-1", "--transfer-layers -1: the model has 2 blocks")):
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
