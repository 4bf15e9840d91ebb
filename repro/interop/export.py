"""A run folder as a Hugging Face model folder that third-party tools use as they are.

Reads the newest checkpoint whose checksum verifies, converts the model with to_hf, writes it
with save_pretrained (model.safetensors + config.json) and, where the run used a shipped
tokenizer of the model's vocabulary size, that tokenizer (with the end-of-text id written as
bos/eos, so tools that prefix a sequence with it, e.g. lm-evaluation-harness, work). An
image run also gets preprocessor_config.json: ImageGPTImageProcessor with the run's palette.
Then the folder is loaded back the way a user would (AutoModelForCausalLM; ImageGPT has no
causal-LM auto class, so its own class) and the export is refused if its logits differ.
All of it happens in a temporary sibling of the output folder, renamed into place at the end.
The caller may add a model card (README.md; repro.report.card writes the CLI's).
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import load_model
from ..errors import check
from ..outputs import output_folder, whole_folder
from ..rundir import RunDir
from .convert import BY_TYPE, _tf, logits_max_abs_diff, quiet, to_hf

TOLERANCE = 1e-4


def _tokenizer(cfg):
    """Our tokenizer of the run, if it is a shipped one of the model's vocabulary size."""
    from ..data.tokenizers import HF_TOKENIZERS, get_tokenizer
    if cfg.data.tokenizer not in HF_TOKENIZERS:
        return None
    tok = get_tokenizer(cfg.data.tokenizer)
    return tok if tok.vocab_size == cfg.model.vocab_size else None


def export_run(run_dir, out_dir, seed: int = 0, card=None) -> dict:
    """Export into a temporary sibling of out_dir, check it there, and only then rename it to
    out_dir: an interrupted or refused export leaves no folder that looks like a model.
    card: None, or a callable returning the folder's model card (anything with .save(path),
    e.g. huggingface_hub's ModelCard), written as README.md."""
    run_dir = Path(run_dir)
    out_dir = output_folder(out_dir, "--out", whole=True)   # before the model is loaded
    model, cfg, path = load_model(run_dir)
    readme = card() if card else None    # a card that cannot be made fails before any folder
    with whole_folder(out_dir) as tmp:
        if readme is not None:
            readme.save(tmp / "README.md")
        info = _write_and_check(model, cfg, run_dir, tmp, seed)
        files = sorted(p.name for p in tmp.iterdir())
    return {"run_dir": str(run_dir), "checkpoint": path.name, "out_dir": str(out_dir),
            **info, "files": files}


def _write_and_check(model, cfg, run_dir: Path, out_dir: Path, seed: int) -> dict:
    tok = _tokenizer(cfg)
    special = tok.hf_special_id if tok else None
    hf = to_hf(model)
    hf.config.bos_token_id = hf.config.eos_token_id = special
    hf.generation_config.bos_token_id = hf.generation_config.eos_token_id = special
    with quiet():
        hf.save_pretrained(out_dir)  # safetensors: the only format transformers 5 writes
    del hf
    if tok is not None:
        tok.hf_tokenizer(cfg.model.block_size).save_pretrained(out_dir)
    palette = RunDir(run_dir) / RunDir.PALETTE
    if cfg.data.kind == "images" and palette.is_file():
        _image_processor(palette, cfg.data.image_size).save_pretrained(out_dir)
    from transformers import AutoConfig, AutoModelForCausalLM
    fam = BY_TYPE[AutoConfig.from_pretrained(out_dir).model_type]
    loader = _tf(fam.cls) if fam.sos_row else AutoModelForCausalLM
    with quiet():
        back = loader.from_pretrained(out_dir, dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, cfg.model.vocab_size, (2, min(cfg.model.block_size, 128)), generator=g)
    diff = logits_max_abs_diff(model, back, idx)
    check(diff <= TOLERANCE, f"the exported model disagrees with ours (max abs logit "
                             f"difference {diff:.2e} > {TOLERANCE:g}); nothing was written")
    return {"family": fam.cls, "loader": loader.__name__,
            "tokenizer": cfg.data.tokenizer if tok else None, "special_token_id": special,
            "max_abs_diff": diff}


def _image_processor(palette: Path, size: int):
    """ImageGPTImageProcessor with our palette (centres in [-1, 1], as its clusters are) at our
    resolution. It resizes with bilinear interpolation and no crop; we centre-crop to a square
    and shrink with a box filter, so the two agree on square images of the model's size."""
    import numpy as np
    from transformers import ImageGPTImageProcessorPil
    return ImageGPTImageProcessorPil(clusters=np.load(palette).tolist(),
                                     size={"height": size, "width": size})

