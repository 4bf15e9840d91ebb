"""Exports that third-party tools use as they are (issue 18): the iGPT export's image processor
carries the run's palette and turns images into our token ids; the GPT-1 export marks bos/eos,
so lm-evaluation-harness's HFLM loads it and scores text with our model's numbers. CPU, offline.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from repro_papers import PAPERS
from repro.checkpoint import save as save_checkpoint
from repro.config import Config
from repro.data import images as im
from repro.data import palette as pal
from repro.interop.export import export_run
from repro.model import build_model
from repro.spec import size_config

torch.set_num_threads(1)


def test_igpt_export_carries_the_palette(kept_image_run, tmp_path):
    from transformers import AutoImageProcessor

    run = kept_image_run["run"]
    info = export_run(run, tmp_path / "hf")
    assert "preprocessor_config.json" in info["files"]
    palette = np.load(run / "palette.npy")
    saved = json.loads((tmp_path / "hf" / "preprocessor_config.json").read_text())
    assert np.array_equal(np.asarray(saved["clusters"], np.float32), palette)

    processor = AutoImageProcessor.from_pretrained(tmp_path / "hf")   # as a user loads it
    data = Config.from_dict(json.loads((run / "config.json").read_text())).data
    data = dataclasses.replace(data, max_images=1)     # only the test images are wanted here
    size = data.image_size                                             # 8 at the tiny scale
    images = im.load_images(data)["val"][0][:500]      # the run's test images, as we resize
    ours = pal.encode(images, torch.from_numpy(palette))
    ids = processor(images=list(images), return_tensors="pt")["input_ids"]
    assert ids.shape == (500, size * size)
    assert torch.equal(ids, ours)             # at the model's size: the same ids, every pixel

    # From the 32x32 originals it resizes bilinear without a crop, we crop to a square and
    # box-filter: measured 82% of the ids agree here. Give it images at the model's size.
    originals = im.load_images(dataclasses.replace(data, image_size=32))["val"][0][:500]
    theirs = processor(images=list(originals), return_tensors="pt")["input_ids"]
    agree = (theirs == ours).float().mean().item()
    assert 0.7 < agree < 0.95, agree


def test_gpt1_export_scores_text_in_lm_eval(tmp_path):
    """HFLM prefixes every sequence with the tokenizer's eos (prefix_token_id); without one it
    stopped with a TypeError. Its log-likelihood must be our model's for the same ids behind
    the newline token, which the export writes as bos/eos."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoTokenizer

    spec = size_config(PAPERS["gpt1"], "base")
    torch.manual_seed(0)
    model = build_model(dataclasses.replace(spec.model, n_layer=2, n_head=2, n_embd=32,
                                            n_inner=0, block_size=64)).eval()
    cfg = spec.replace(model=model.config)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(cfg.to_json())
    save_checkpoint(run / "checkpoints", 1, {"model": model.state_dict(), "config": cfg.to_dict()})
    info = export_run(run, tmp_path / "hf")
    newline = info["special_token_id"]
    tok = AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert tok.convert_ids_to_tokens(newline) == "\n</w>"
    assert tok.bos_token_id == tok.eos_token_id == newline

    lm = HFLM(pretrained=str(tmp_path / "hf"), device="cpu", batch_size=1, max_length=64)
    assert lm.prefix_token_id == newline
    text = "the cat sat on the mat ."
    ((score, _),) = lm.loglikelihood([Instance("loglikelihood", {}, ("", text), 0)])
    ids = tok(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax(model.logits(torch.tensor([[newline, *ids[:-1]]])), -1)[0]
    ours = logp[torch.arange(len(ids)), torch.tensor(ids)].sum().item()
    assert score == pytest.approx(ours, abs=1e-4)
