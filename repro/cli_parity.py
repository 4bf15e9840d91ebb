"""`python -m repro parity <paper> [--size S] [--hf PATH_OR_ID] [--full] [--json] [--params]`

Checks that our GPT and the Hugging Face class of its structure (repro.hf.FAMILIES) compute
the same logits, in both directions, through save_pretrained/from_pretrained, and that greedy
decoding agrees. Without --size every size of the paper is tested; by default each keeps its
full structure (heads, vocabulary, context, every switch) at 2 layers and 16-wide heads, so the
check of a paper takes under a minute on a CPU; --full uses the exact sizes (up to three fp32
copies of the model in RAM at once: ~19 GB for GPT-2 XL).
Exits non-zero when a logit difference exceeds 1e-4 or greedy decoding differs.

Also the implementation of repro.hf.parity and repro.hf.param_rows.
"""
from __future__ import annotations

import dataclasses
import json
import re
import tempfile
import time

import torch

from .config import ModelConfig
from .errors import ReproError, check
from .hf import (CONV1D, LINEAR_BIAS, STRUCTURE, _tf, config_from_hf, family_of, from_hf,
                 greedy_match, hf_config, load_hf, logits_max_abs_diff, quiet, to_hf)
from .model import build_model

TOLERANCE = 1e-4  # fp32 logits; measured: 2-4e-6 reduced, 4-8e-6 at full GPT-1/2/iGPT-S size


@torch.no_grad()
def randomize(module, seed: int, conv1d: bool, zero_linear_bias: bool = False) -> None:
    """Give every weight a distinct, O(1)-effect value so that a swapped or untransposed
    tensor moves the logits by O(1), not by 1e-4 as N(0, 0.02) init would: matrices
    N(0, 1/fan_in), tables N(0, 0.05^2) (logits ~ O(1)), gains 1 + N(0, 0.1^2), biases N(0, 0.1^2)."""
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


def _structure(cfg: ModelConfig) -> dict:
    return {k: getattr(cfg, k) for k in STRUCTURE}


def reduced_overrides(cfg: ModelConfig, n_layer: int = 2, head_dim: int = 16) -> dict:
    """Same structure (heads, vocab, context, MLP ratio, every switch), a fraction of the cost."""
    n_embd = cfg.n_head * head_dim
    inner = cfg.inner * n_embd // cfg.n_embd if cfg.n_inner else 0
    return {"n_layer": n_layer, "n_embd": n_embd, "n_inner": inner}


def parity(paper: str, size: str, hf=None, seed: int = 0, reduced: dict | None = None,
           seq_len: int | None = None) -> dict:
    """Logit parity of our GPT and the HF class for one paper size (see module docstring).

    Without hf: a random HF model of the size's exact config (or with `reduced` overrides) is
    saved, loaded back and converted with from_hf; a random model of ours goes to_hf, is
    saved, loaded back. With hf (folder or hub id): the same on the real weights."""
    from papers import PAPERS

    from .spec import size_config
    check(paper in PAPERS, f"unknown paper {paper!r}; choose from: {', '.join(PAPERS)}")
    start = time.time()
    cfg = size_config(PAPERS[paper], size).model
    if reduced and hf is None:  # real weights come with their own structure
        cfg = dataclasses.replace(cfg, **reduced)
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
        ours, family = from_hf(ref), type(ref).__name__
        T = min(seq_len or 256, ours.config.block_size)
        g = torch.Generator().manual_seed(seed)
        idx = torch.randint(0, ours.config.vocab_size, (2, T), generator=g)
        diff = logits_max_abs_diff(ours, ref, idx)
        match = greedy_match(ours, ref, idx[:1, :8])
        counts = ours.num_params(), sum(p.numel() for p in ref.parameters())
        same_structure = _structure(ours.config) == _structure(cfg)
        del ref  # full sizes: keep at most two models in memory
        if hf is None:  # the other direction starts from a model of ours
            del ours
            ours = build_model(cfg)
            randomize(ours, seed + 1, conv1d=False)
        back = _save_load(to_hf(ours), f"{tmp}/back")
        round_trip = logits_max_abs_diff(ours, back, idx)
    source = "random" if hf is None else getattr(hf, "name_or_path", str(hf))
    return {"paper": paper, "size": size, "family": family,
            "reduced": reduced if reduced and hf is None else {}, "source": str(source), "seq_len": T,
            "max_abs_diff": diff, "round_trip_max_abs_diff": round_trip, "greedy_match": match,
            "config_match": same_structure, "params_ours": counts[0], "params_hf": counts[1],
            "seconds": round(time.time() - start, 2)}


# ---- parameter counts ----------------------------------------------------------------------------
def formula_params(cfg: ModelConfig) -> int:
    """FACTS §5 for our structure: (V + T)·d + L·per_block + final norm (+ V·d untied, + d sos)."""
    d, f, V, T, L = cfg.n_embd, cfg.inner, cfg.vocab_size, cfg.block_size, cfg.n_layer
    norm = d * (2 if cfg.norm == "layernorm" else 1)  # gain (+ bias)
    block = 4 * d * d + 2 * d * f + (3 * d + d + f + d if cfg.bias else 0) + 2 * norm
    return ((V + T) * d + L * block + (norm if cfg.final_norm else 0)
            + (0 if cfg.tie_embeddings else V * d) + (d if cfg.sos_token else 0))


def _published(text: str) -> float | None:
    """"117M", "1.3B", "76M (note)" -> count, or None."""
    m = re.match(r"\s*([\d.]+)\s*([MB])", str(text))
    return float(m.group(1)) * (1e6 if m.group(2) == "M" else 1e9) if m else None


def _published_note(text: str, cfg: ModelConfig) -> str:
    pub = _published(text)
    if pub is None:
        return "no published count"
    unit = 1e9 if str(text).strip().split()[0].endswith("B") else 1e6
    digits = len(str(text).split()[0].rstrip("MB").partition(".")[2])
    ours = formula_params(cfg) / unit
    for how, f in (("rounded", round), ("truncated", lambda x, n: int(x * 10**n) / 10**n)):
        if abs(f(ours, digits) - pub / unit) < 1e-9:
            return f"published = ours {how}"
    gpt1_vocab = formula_params(dataclasses.replace(cfg, vocab_size=40478)) / unit
    if abs(round(gpt1_vocab, digits) - pub / unit) < 1e-9:  # FACTS §2.1/§5.2 observation
        return (f"published {text} = formula with GPT-1's 40,478-token vocabulary "
                f"(OpenAI: the original counts were an error; FACTS §5.2)")
    return f"published differs from ours by {100 * (pub / unit / ours - 1):+.2f}% (FACTS §5.2)"


def param_rows(spec) -> list[dict]:
    """One row per size: published, formula, ours (meta build) and HF (meta build), with why
    the columns differ. HF is None where no HF family expresses the structure."""
    from .spec import size_config
    rows = []
    for size in spec.sizes:
        cfg = size_config(spec, size).model
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
            d, L = cfg.n_embd, cfg.n_layer
            zero = 0 if cfg.bias else L * (3 * d + d + cfg.inner + d)
            why = f"HF {fam.cls} {hf - ours:+,}: zero linear biases {zero:,} (L·(5d+f))"
            if fam.sos_row:
                why += "; sos is wte row V there, a separate d-vector here (same count)"
            notes.append(why if hf - ours == zero else why + "; rest unexplained")
        published = spec.published_params.get(size)
        notes.append(_published_note(published, cfg))
        rows.append({"size": size, "published": published, "formula": formula_params(cfg),
                     "ours": ours, "hf": hf, "note": "; ".join(notes)})
    return rows


# ---- command line --------------------------------------------------------------------------------
def size_of(spec, hf_model) -> str | None:
    """The paper size whose structure is that of a loaded HF model (None: no size matches)."""
    from .spec import size_config
    want = _structure(config_from_hf(hf_model.config))
    return next((s for s in spec.sizes if _structure(size_config(spec, s).model) == want), None)


def _table(rows: list[dict], cols: list[tuple]) -> str:
    cells = [[h for h, _ in cols]] + [[fmt(r) for _, fmt in cols] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def main(argv: list[str]) -> None:
    from papers import PAPERS

    from .cli import Parser
    p = Parser(prog="repro parity", description="Logit parity with Hugging Face transformers.")
    p.add_argument("paper", choices=list(PAPERS))
    p.add_argument("--size", help="one size (default: every size; with --hf: the matching one)")
    p.add_argument("--hf", metavar="PATH_OR_ID", help="real weights: a local folder or a hub id")
    p.add_argument("--full", action="store_true", help="exact sizes (default: 2 layers, 16-wide heads)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--params", action="store_true", help="also print the parameter-count table")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    spec = PAPERS[args.paper]
    from .spec import size_config
    hf = load_hf(args.hf) if args.hf else None
    sizes = [args.size] if args.size else list(spec.sizes)
    if hf is not None and not args.size:
        sizes = [size_of(spec, hf) or spec.default_size]
    results = []
    for size in sizes:
        cfg = size_config(spec, size).model
        reduced = None if args.full or hf is not None else reduced_overrides(cfg)
        results.append(parity(args.paper, size, hf=hf, seed=args.seed, reduced=reduced,
                              seq_len=args.seq_len))
    if args.json:
        out = results if not args.params else {"parity": results, "params": param_rows(spec)}
        print(json.dumps(out, indent=2))
    else:
        e = lambda k: lambda r: f"{r[k]:.2e}"  # noqa: E731
        print(_table(results, [
            ("size", lambda r: r["size"] + ("" if not r["reduced"] else
                                            " ({n_layer}x{n_embd})".format(**r["reduced"]))),
            ("family", lambda r: r["family"]), ("max_abs_diff", e("max_abs_diff")),
            ("round_trip", e("round_trip_max_abs_diff")),
            ("greedy", lambda r: "same" if r["greedy_match"] else "DIFFERENT"),
            ("config", lambda r: "match" if r["config_match"] else "differs from size"),
            ("params ours", lambda r: f"{r['params_ours']:,}"), ("params hf", lambda r: f"{r['params_hf']:,}"),
            ("s", lambda r: f"{r['seconds']:.1f}")]))
        if args.params:
            print()
            print(_table(param_rows(spec), [(k, (lambda k: lambda r: "-" if r[k] is None else
                                                 f"{r[k]:,}" if isinstance(r[k], int) else str(r[k]))(k))
                                            for k in ("size", "published", "formula", "ours", "hf", "note")]))
    bad = [r["size"] for r in results if max(r["max_abs_diff"], r["round_trip_max_abs_diff"]) > TOLERANCE
           or not r["greedy_match"]]
    if bad:
        raise ReproError(f"parity failed for {args.paper} size(s) {', '.join(bad)}: logit difference "
                         f"> {TOLERANCE:g} or greedy decoding differs")
