"""What is evaluated: a run's newest verified checkpoint with the run's tokenizer, or a Hugging
Face GPT-2 / OpenAI-GPT checkpoint (folder or hub id) converted to our GPT with the shipped
tokenizer of its vocabulary size. Only text models: an image model's measure is its probe."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ReproError, check


@dataclass
class EvalModel:
    model: object                 # repro.model.GPT, eval mode
    tokenizer: object
    name: str                     # the run folder or the Hugging Face source
    run_dir: Path | None = None
    checkpoint: str | None = None
    config: object | None = None  # the run's Config (None for a Hugging Face model)


def text_tokenizer(name: str, vocab_size: int, what: str):
    from ..data.tokenizers import HF_TOKENIZERS, get_tokenizer
    check(name in HF_TOKENIZERS, f"{what}: tokenizer {name!r} is not a shipped text tokenizer "
                                 f"({', '.join(HF_TOKENIZERS)}); its vocabulary cannot spell the "
                                 f"evaluation sets")
    tok = get_tokenizer(name)
    check(tok.vocab_size == vocab_size, f"{what}: the model has {vocab_size:,} tokens, the "
                                        f"{name} tokenizer {tok.vocab_size:,}")
    return tok


def from_run(run_dir, step: int | None = None) -> EvalModel:
    """The run's newest verified checkpoint, or the one of `step`."""
    from ..checkpoint import load_model
    model, cfg, path = load_model(run_dir, step=step)
    check(cfg.data.kind == "text", f"{run_dir}: a {cfg.data.kind} model; the evaluations here "
                                   f"score text (an image model's measure is its linear probe)")
    tok = text_tokenizer(cfg.data.tokenizer, cfg.model.vocab_size, str(run_dir))
    return EvalModel(model, tok, str(run_dir), Path(run_dir), path.name, cfg)


def from_hf(source: str, device: str = "cpu") -> EvalModel:
    """A plain local folder is read without transformers, straight onto `device`
    (repro.interop.folder); anything else through transformers."""
    from ..data.tokenizers import HF_TOKENIZERS, get_tokenizer
    from ..interop.folder import read_folder
    model = read_folder(source, device)
    if model is None:
        from ..interop.convert import BY_TYPE, from_hf as convert, load_hf
        hf = load_hf(source)
        fam = BY_TYPE[hf.config.model_type]
        check(not fam.sos_row,
              f"{source}: {fam.cls} models pixels; its measure is the linear probe")
        model = convert(hf)
        del hf
    V = model.config.vocab_size
    match = [n for n in HF_TOKENIZERS if get_tokenizer(n).vocab_size == V]
    if not match:
        sizes = ", ".join(f"{n}: {get_tokenizer(n).vocab_size:,}" for n in HF_TOKENIZERS)
        raise ReproError(f"{source}: a vocabulary of {V:,} tokens matches no shipped tokenizer "
                         f"({sizes})")
    return EvalModel(model, get_tokenizer(match[0]), source)
