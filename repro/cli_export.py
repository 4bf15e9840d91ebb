"""`python -m repro export <run_dir> --out DIR [--json]`: a run folder as a Hugging Face model.

Reads config.json and the newest checkpoint whose checksum verifies, converts the model with
repro.hf.to_hf, writes DIR with save_pretrained (model.safetensors + config.json) and, when the
run used a shipped BPE (gpt2 or gpt1) of the model's vocabulary size, the matching tokenizer.
Then it loads DIR back the way a user would (AutoModelForCausalLM; ImageGPT has no
causal-LM auto class, so its own class) and refuses the export if the logits differ from ours.

Also the implementation of repro.hf.export.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from .checkpoint import PATTERN, load_latest
from .config import Config
from .errors import check
from .hf import BY_TYPE, _load_checked, _tf, logits_max_abs_diff, quiet, to_hf
from .model import build_model

TOLERANCE = 1e-4


def _gpt2_tokenizer(assets: Path, max_len: int):
    # transformers 5: GPT2TokenizerFast (an alias of the Rust-backed GPT2Tokenizer) takes the
    # parsed vocab dict and merges as (left, right) pairs; vocab.bpe's first line is a header.
    vocab = json.loads((assets / "gpt2-bpe" / "encoder.json").read_text("utf-8"))
    lines = (assets / "gpt2-bpe" / "vocab.bpe").read_text("utf-8").splitlines()[1:]
    return _tf("GPT2TokenizerFast")(vocab=vocab, merges=[tuple(m.split(" ")) for m in lines if m],
                                    model_max_length=max_len)


def _gpt1_tokenizer(assets: Path, max_len: int):
    # Positional file paths: 5.x names them vocab/merges, 4.x vocab_file/merges_file.
    return _tf("OpenAIGPTTokenizerFast")(str(assets / "gpt1-bpe" / "encoder_bpe_40000.json"),
                                         str(assets / "gpt1-bpe" / "vocab_40000.bpe"),
                                         model_max_length=max_len)


TOKENIZERS = {"gpt2": _gpt2_tokenizer, "gpt1": _gpt1_tokenizer}  # data.tokenizer -> HF tokenizer


def load_run(run_dir: Path):
    """(our GPT with the newest verified checkpoint's weights, its Config, checkpoint path)."""
    check((run_dir / "config.json").is_file(), f"{run_dir}: not a run folder (no config.json)")
    check(any((run_dir / "checkpoints").glob(PATTERN)), f"{run_dir}: no checkpoint to export "
          f"(checkpoints/ is written at train.checkpoint_interval and at the end of a run)")
    state, path = load_latest(run_dir / "checkpoints")
    check(isinstance(state, dict) and "model" in state, f"{path}: checkpoint has no 'model' state")
    # The checkpoint's own config describes its weights; config.json is the fallback.
    cfg = Config.from_dict(state.get("config") or json.loads((run_dir / "config.json").read_text()))
    model = build_model(cfg.model)
    # torch.compile / DDP wrappers prefix the keys; the weights are the same.
    sd = {re.sub(r"^(_orig_mod\.|module\.)+", "", k): v for k, v in state["model"].items()}
    _load_checked(model, sd, path.name)
    return model.eval(), cfg, path


def export_run(run_dir, out_dir, seed: int = 0) -> dict:
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    model, cfg, path = load_run(run_dir)
    hf = to_hf(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    with quiet():
        hf.save_pretrained(out_dir)  # safetensors: the only format transformers 5 writes
    del hf
    tokenizer = None
    if cfg.data.tokenizer in TOKENIZERS:
        from .data.tokenizers import ASSETS
        tok = TOKENIZERS[cfg.data.tokenizer](ASSETS, cfg.model.block_size)
        if len(tok) == cfg.model.vocab_size:  # a run may have overridden the vocabulary
            tok.save_pretrained(out_dir)
            tokenizer = cfg.data.tokenizer
    from transformers import AutoConfig, AutoModelForCausalLM
    fam = BY_TYPE[AutoConfig.from_pretrained(out_dir).model_type]
    loader = _tf(fam.cls) if fam.sos_row else AutoModelForCausalLM
    with quiet():
        back = loader.from_pretrained(out_dir, dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, cfg.model.vocab_size, (2, min(cfg.model.block_size, 128)), generator=g)
    diff = logits_max_abs_diff(model, back, idx)
    check(diff <= TOLERANCE, f"{out_dir}: the exported model disagrees with ours "
                             f"(max abs logit difference {diff:.2e} > {TOLERANCE:g})")
    return {"run_dir": str(run_dir), "checkpoint": path.name, "out_dir": str(out_dir),
            "family": fam.cls, "loader": loader.__name__, "tokenizer": tokenizer,
            "max_abs_diff": diff, "files": sorted(p.name for p in out_dir.iterdir())}


def main(argv: list[str]) -> None:
    from .cli import Parser
    p = Parser(prog="repro export", description="Export a run folder as a Hugging Face model.")
    p.add_argument("run_dir")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    info = export_run(args.run_dir, args.out)
    if args.json:
        print(json.dumps(info, indent=2))
        return
    print(f"exported {info['run_dir']} ({info['checkpoint']}) -> {info['out_dir']} as {info['family']}")
    print(f"  load with {info['loader']}.from_pretrained({info['out_dir']!r}); "
          f"max abs logit diff {info['max_abs_diff']:.2e}")
    print(f"  tokenizer: {info['tokenizer'] or 'none (not a shipped BPE)'}; files: {', '.join(info['files'])}")
