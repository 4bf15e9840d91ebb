"""Parity with transformers: logits of our GPT and the HF class of the same structure, in both
directions, through save_pretrained/from_pretrained, with greedy decoding compared too; and the
parameter-count table (published, formula, ours, HF).

Nothing here knows a paper: the CLI passes model configs (a paper's sizes) down.
"""
from __future__ import annotations

import dataclasses
import json
import re
import tempfile
import time
from pathlib import Path

import torch

from ..config import ModelConfig
from ..errors import ReproError
from ..model import build_model
from .convert import (CONV1D, LINEAR_BIAS, STRUCTURE, _tf, family_of, from_hf, greedy_match,
                      hf_config, load_hf, logits_max_abs_diff, quiet, to_hf)

TOLERANCE = 1e-4  # fp32 logits; measured: 2-4e-6 reduced, 4-8e-6 at full GPT-1/2/iGPT-S size


@torch.no_grad()
def randomize(module, seed: int, conv1d: bool, zero_linear_bias: bool = False) -> None:
    """Give every weight a distinct, O(1)-effect value so that a swapped or untransposed tensor
    moves the logits by O(1), not by 1e-4 as N(0, 0.02) init would: matrices N(0, 1/fan_in),
    tables N(0, 0.05^2) (logits ~ O(1)), gains 1 + N(0, 0.1^2), biases N(0, 0.1^2)."""
    g = torch.Generator().manual_seed(seed)
    for name, p in sorted(module.named_parameters()):
        r = torch.randn(p.shape, generator=g, dtype=torch.float32).to(p.dtype)
        if name.endswith(LINEAR_BIAS) and zero_linear_bias:
            p.zero_()
        elif name.endswith("bias") or name == "sos":
            p.copy_(0.1 * r)
        elif p.ndim == 1:
            p.copy_(1 + 0.1 * r)
        elif name.endswith(CONV1D):
            p.copy_(r / p.shape[0 if conv1d else 1] ** 0.5)
        else:  # token/position tables and the head
            p.copy_(0.05 * r)


def _save_load(hf, folder: str):
    """The path a real checkpoint takes: save_pretrained (safetensors) then from_pretrained."""
    with quiet():
        hf.save_pretrained(folder)
    return load_hf(folder)


def structure(cfg: ModelConfig) -> dict:
    return {k: getattr(cfg, k) for k in STRUCTURE}


def reduced_overrides(cfg: ModelConfig, n_layer: int = 2, head_dim: int = 16) -> dict:
    """Same structure (heads, vocab, context, MLP ratio, every switch), a fraction of the cost."""
    n_embd = cfg.n_head * head_dim
    inner = cfg.inner * n_embd // cfg.n_embd if cfg.n_inner else 0
    return {"n_layer": n_layer, "n_embd": n_embd, "n_inner": inner}


def parity(cfg: ModelConfig, hf=None, seed: int = 0, seq_len: int | None = None) -> dict:
    """Logit parity of our GPT and the HF class of cfg's structure.

    Without hf: a random HF model of cfg is saved, loaded back and converted with from_hf; a
    random model of ours goes to_hf, is saved, loaded back. With hf (folder or hub id): the
    same on the real weights (which bring their own structure)."""
    start = time.time()
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        if hf is None:
            fam = family_of(cfg)
            with quiet():
                ref = _tf(fam.cls)(hf_config(cfg))
            randomize(ref, seed, conv1d=True, zero_linear_bias=not cfg.bias)
            ref = _save_load(ref, f"{tmp}/hf")
        else:
            ref = load_hf(hf)
        ours = from_hf(ref)
        family = type(ref).__name__
        T = min(seq_len or 256, ours.config.block_size)
        g = torch.Generator().manual_seed(seed)
        idx = torch.randint(0, ours.config.vocab_size, (2, T), generator=g)
        diff = logits_max_abs_diff(ours, ref, idx)
        match = greedy_match(ours, ref, idx[:1, :8])
        counts = ours.num_params(), sum(p.numel() for p in ref.parameters())
        same_structure = structure(ours.config) == structure(cfg)
        del ref  # full sizes: keep at most two models in memory
        if hf is None:  # the other direction starts from a model of ours
            del ours
            ours = build_model(cfg)
            randomize(ours, seed + 1, conv1d=False)
        back = _save_load(to_hf(ours), f"{tmp}/back")
        round_trip = logits_max_abs_diff(ours, back, idx)
    source = "random" if hf is None else getattr(hf, "name_or_path", str(hf))
    return {"family": family, "source": str(source), "seq_len": T,
            "n_layer": cfg.n_layer, "n_embd": cfg.n_embd,
            "max_abs_diff": diff, "round_trip_max_abs_diff": round_trip, "greedy_match": match,
            "config_match": same_structure, "params_ours": counts[0], "params_hf": counts[1],
            "seconds": round(time.time() - start, 2)}


STAND_IN_VOCAB = 256   # checks a structure whose vocabulary comes from the data (chargpt)


def stand_in_vocab(cfg: ModelConfig) -> ModelConfig:
    return cfg if cfg.vocab_size else dataclasses.replace(cfg, vocab_size=STAND_IN_VOCAB)


def check_sizes(models: dict, hf=None, full: bool = False, seed: int = 0,
                seq_len: int | None = None) -> tuple[list[dict], list[dict]]:
    """(results, skipped): parity of each size (reduced to 2 layers and 16-wide heads unless
    full or hf), and the sizes no transformers class expresses (e.g. banded attention)."""
    results = []
    skipped = []
    for size, cfg in models.items():
        if hf is None and not full:
            cfg = dataclasses.replace(cfg, **reduced_overrides(cfg))
        try:
            family_of(cfg)
        except ReproError as e:
            skipped.append({"size": size, "note": f"no Hugging Face class: {e}"})
            continue
        note = {"note": f"vocabulary checked at {cfg.vocab_size} tokens (from the data in a run)"}
        results.append({"size": size, **parity(cfg, hf=hf, seed=seed, seq_len=seq_len),
                        **(note if cfg.vocab_size == STAND_IN_VOCAB else {})})
    return results, skipped


def write_artifact(path: Path, paper: str, rows: list[dict], command: str) -> Path:
    """The parity artifact that reports read (reports/parity/<paper>.json)."""
    from ..outputs import write_files
    from ..provenance import git_commit
    doc = {"paper": paper, "commit": git_commit(), "generated": time.strftime("%Y-%m-%d %H:%M"),
           "command": command, "results": rows}
    write_files(path.parent, {path.name: json.dumps(doc, indent=2) + "\n"})
    return path


def passed(result: dict) -> bool:
    return (max(result["max_abs_diff"], result["round_trip_max_abs_diff"]) <= TOLERANCE
            and result["greedy_match"])


# ---- parameter counts ----------------------------------------------------------------------------
def formula_params(cfg: ModelConfig) -> int:
    """papers/FACTS.md §5 for our structure: (V + T)·d + L·per_block + final norm (+ V·d untied,
    + d sos)."""
    d = cfg.n_embd
    f = cfg.inner
    V = cfg.vocab_size
    T = cfg.block_size
    L = cfg.n_layer
    norm = d * (2 if cfg.norm == "layernorm" else 1)  # gain (+ bias)
    block = 4 * d * d + 2 * d * f + (3 * d + d + f + d if cfg.bias else 0) + 2 * norm
    return ((V + T) * d + L * block + (norm if cfg.final_norm else 0)
            + (0 if cfg.tie_embeddings else V * d) + (d if cfg.sos_token else 0))


def _published(text: str) -> float | None:
    """"117M", "1.3B", "76M (note)" -> count, or None."""
    m = re.match(r"\s*([\d.]+)\s*([MB])", str(text))
    return float(m.group(1)) * (1e6 if m.group(2) == "M" else 1e9) if m else None


def published_note(text: str, exact: int, why: str = "") -> str:
    """How a published count relates to the exact one: rounded, truncated, or the spec's
    explanation of the difference."""
    pub = _published(text)
    if pub is None:
        return "no published count"
    unit = 1e9 if str(text).strip().split()[0].endswith("B") else 1e6
    digits = len(str(text).split()[0].rstrip("MB").partition(".")[2])
    for how, f in (("rounded", round), ("truncated", lambda x, n: int(x * 10**n) / 10**n)):
        if abs(f(exact / unit, digits) - pub / unit) < 1e-9:
            return f"published = exact count {how}"
    return why or f"published differs from the exact count by {100 * (pub / exact - 1):+.2f}%"


def param_rows(models: dict, published: dict) -> list[dict]:
    """One row per size (models: size -> ModelConfig; published: size -> (text, why)):
    published, formula, ours (meta build) and HF (meta build), with why the columns differ.
    HF is None where no HF family expresses the structure."""
    rows = []
    for size, cfg in models.items():
        ours = build_model(cfg, "meta").num_params()
        notes = ["tied head counted once" if cfg.tie_embeddings else "untied head adds V·d"]
        try:
            fam = family_of(cfg)
            with quiet(), torch.device("meta"):
                hf = sum(p.numel() for p in _tf(fam.cls)(hf_config(cfg)).parameters())
        except ReproError as e:
            hf = None
            notes.append(f"no HF class: {e}")
        if hf is not None and hf != ours:
            d = cfg.n_embd
            L = cfg.n_layer
            zero = 0 if cfg.bias else L * (3 * d + d + cfg.inner + d)
            why = f"HF {fam.cls} {hf - ours:+,}: zero linear biases {zero:,} (L·(5d+f))"
            if fam.sos_row:
                why += "; sos is wte row V there, a separate d-vector here (same count)"
            notes.append(why if hf - ours == zero else why + "; rest unexplained")
        text, why = published.get(size, ("", ""))
        notes.append(published_note(text, ours, why))
        rows.append({"size": size, "published": text, "formula": formula_params(cfg),
                     "ours": ours, "hf": hf, "note": "; ".join(notes)})
    return rows
