"""Paper specs as data (papers/*.py, repro/spec.py): every (paper, size, scale) resolves and
validates, smaller scales come from spec.derive by its one rule (fractions of the run for
decay and ramp; the paper's warmup updates capped at a tenth of the run), every report row
has a source that says paper or inferred, citations resolve in papers/FACTS.md, and the
Table 2.1 typo fixes, iGPT resolutions and the FLOP counts are in place."""
from __future__ import annotations

import dataclasses

import pytest

from repro_papers import PAPERS
from repro.config import valid_keys, validate
from repro.errors import ReproError
import re
from pathlib import Path

from repro.flops import flops_6n
from repro.spec import (SCALES, SPEC_COLUMNS, WARMUP_CAP, Inferred, derive, note_rows,
                        resolve, size_config, spec_rows)

CASES = [(p, size, scale) for p, spec in PAPERS.items() for size in spec.sizes
         for scale in spec.scales]


def test_registry():
    assert list(PAPERS) == ["gpt1", "gpt2", "gpt3", "igpt", "adder", "chargpt", "imagegpt", "words"]
    for name, spec in PAPERS.items():
        assert spec.name == name and spec.default_size in spec.sizes
        assert set(spec.scales) <= set(SCALES) and {"tiny", "small", "paper"} <= set(spec.scales)
        assert spec.title and spec.citation


@pytest.mark.parametrize("paper,size,scale", CASES)
def test_every_size_and_scale_resolves(paper, size, scale):
    spec = PAPERS[paper]
    cfg = resolve(spec, size, scale)
    assert (cfg.paper, cfg.size, cfg.scale) == (paper, size, scale)
    assert validate(cfg) is cfg
    assert cfg.train.tokens > 0
    # the resolved config is exactly the paper's size config put through derive
    expect = derive(size_config(spec, size), spec.scales[scale], scale)
    assert cfg.to_dict() == expect.to_dict()
    if scale == "paper":  # the identity: the paper's own numbers
        assert cfg.to_dict() == size_config(spec, size).replace(scale="paper").to_dict()


@pytest.mark.parametrize("paper", list(PAPERS))
@pytest.mark.parametrize("scale", ["tiny", "small", "medium"])
def test_scales_keep_the_recipe_fractions(paper, scale):
    spec = PAPERS[paper]
    if scale not in spec.scales:
        pytest.skip(f"{paper} has no {scale} scale")
    big, small = resolve(spec, None, "paper"), resolve(spec, None, scale)
    ratio = small.train.tokens / big.train.tokens
    for key in ("decay_tokens", "batch_ramp_tokens"):
        want = getattr(big.schedule, key) * ratio
        assert abs(getattr(small.schedule, key) - want) <= 0.5, key
    assert small.schedule.warmup_tokens == warmup_rule(big, small)
    for key in ("min_lr_ratio", "decay"):
        assert getattr(small.schedule, key) == getattr(big.schedule, key)
    for key in ("beta1", "beta2", "eps", "weight_decay", "grad_clip"):
        assert getattr(small.optim, key) == getattr(big.optim, key), key
    for key in ("norm_position", "final_norm", "norm", "activation", "bias", "tie_embeddings",
                "sos_token", "attention", "init", "zero_init_head"):
        assert getattr(small.model, key) == getattr(big.model, key), key  # switches survive
    # the MLP keeps its ratio to the width (GPT-1 states n_inner=3072 at 768: 4x)
    assert small.model.inner * big.model.n_embd == big.model.inner * small.model.n_embd


def warmup_rule(paper, scaled) -> int:
    """The paper's warmup in updates, capped at WARMUP_CAP of the scaled run's updates."""
    paper_updates = paper.schedule.warmup_tokens / (paper.train.batch_size * paper.model.block_size)
    batch_tokens = scaled.train.batch_size * scaled.model.block_size
    run_updates = scaled.train.tokens / batch_tokens
    return round(min(paper_updates, WARMUP_CAP * run_updates) * batch_tokens)


def test_warmup_rule_values():
    """GPT-1 warms up over 2,000 updates (§4.1): at the small scale (1,525.9 updates) the cap of
    a tenth binds (152.6 updates), where a fraction of the tokens would have given one update."""
    small = resolve(PAPERS["gpt1"], None, "small")
    updates = small.schedule.warmup_tokens / (small.train.batch_size * small.model.block_size)
    assert WARMUP_CAP == 0.1 and updates == pytest.approx(50_000_000 / 32768 / 10, abs=1e-3)
    demo = resolve(PAPERS["chargpt"], None, "small")   # 100 of 2,500 iterations: below the cap
    assert demo.schedule.warmup_tokens == 100 * 64 * 256
    paper = resolve(PAPERS["gpt3"], "175b", "paper")   # the paper scale is the paper
    assert paper.schedule.warmup_tokens == 375_000_000


def test_tiny_scales_are_small():
    for name, spec in PAPERS.items():
        cfg = resolve(spec, None, "tiny")
        assert cfg.model.n_layer <= 2 and cfg.model.n_embd <= 128, name
        assert cfg.train.tokens <= 200_000, name
        assert cfg.train.device == "auto" and cfg.train.precision in ("auto", "fp32")


@pytest.mark.parametrize("paper", list(PAPERS))
def test_spec_rows_have_sources(paper):
    spec = PAPERS[paper]
    keys = set(valid_keys())
    assert set(spec.sources) <= keys                    # no source for a setting that is not one
    for size, changes in spec.sizes.items():
        assert set(changes) <= keys, size
    cfg = resolve(spec, None, "tiny")
    rows = spec_rows(spec, cfg)
    assert len(rows) == len(spec.sources)
    assert [r["the paper"] for r in note_rows(spec)] == [what for what, _, _ in spec.notes]
    for row in rows:
        assert tuple(row) == SPEC_COLUMNS
        paper, guess = row["paper (source)"], row["inferred (source)"]
        assert bool(paper) != bool(guess), row            # one of the two, never both
    by_key = {r["setting"]: r for r in rows}
    for key, source in spec.sources.items():
        if paper in ("gpt1", "gpt2", "gpt3", "igpt") and not isinstance(source, Inferred):
            assert re.search(r"§|Table|App\.", source), (key, source)   # where in the paper
    if "model.n_layer" in by_key:
        n = size_config(spec, spec.default_size).model.n_layer
        column = ("inferred (source)" if isinstance(spec.sources["model.n_layer"], Inferred)
                  else "paper (source)")
        assert by_key["model.n_layer"][column].startswith(f"{n} (")
        assert by_key["model.n_layer"]["this run"] == str(cfg.model.n_layer)


def test_gpt2_values_the_paper_does_not_give_are_inferred():
    sources = PAPERS["gpt2"].sources
    for key in ("optim.lr", "train.tokens", "optim.weight_decay", "optim.beta1", "optim.beta2",
                "model.resid_pdrop", "schedule.warmup_tokens", "optim.grad_clip"):
        assert isinstance(sources[key], Inferred), key
    for key in ("model.block_size", "model.vocab_size", "train.batch_size", "model.norm_position"):
        assert not isinstance(sources[key], Inferred), key


def test_citations_resolve_in_facts():
    """Every C#/P# key a spec cites is in the source key of papers/FACTS.md, which ships."""
    root = Path(__file__).resolve().parent.parent / "papers"
    facts = (root / "FACTS.md").read_text()
    key_table = facts[facts.index("## 0. Source key"):facts.index("## 1.")]
    cited = set()
    for path in root.glob("*.py"):
        cited |= set(re.findall(r"\b([CP]\d)\b", path.read_text()))
    assert cited, "no citations found"
    for key in sorted(cited):
        assert f"| {key} |" in key_table, key


def test_igpt_resolutions_and_exact_counts():
    """§3.2 / §4.4 / Table 2: S, M, L at 32x32; L also at 48x48; XL at 64x64 (papers/FACTS.md
    §4.1-4.2 gives the exact counts with those position tables)."""
    from repro.model import build_model
    want = {"s": (32, 76_571_648), "m": (32, 455_157_760), "l": (32, 1_362_250_752),
            "l-48": (48, 1_364_216_832), "xl": (64, 6_810_875_904)}
    for size, (side, params) in want.items():
        cfg = size_config(PAPERS["igpt"], size)
        assert (cfg.data.image_size, cfg.model.block_size) == (side, side * side), size
        assert build_model(cfg.model, "meta").num_params() == params, size


def test_6nd_flops_as_the_paper_counts_them():
    """GPT-3 Table D.1: 175B x 300B tokens = 3.14e23 FLOPs (6ND, N the whole count)."""
    from repro.plan import plan
    info = plan(resolve(PAPERS["gpt3"], "175b", "paper"))
    assert flops_6n(174_600_000_000) * 300e9 == pytest.approx(3.14e23, rel=2e-3)
    assert info["flops_6nd"] == pytest.approx(3.14e23, rel=2e-3)
    assert info["total_flops"] > info["flops_6nd"]        # attention counted too, labelled so


def test_gpt3_table_2_1_with_typo_fixes():
    spec = PAPERS["gpt3"]
    table = {  # size: (layers, d_model, heads, lr, batch in sequences of 2048)
        "small": (12, 768, 12, 6e-4, 256), "medium": (24, 1024, 16, 3e-4, 256),
        "large": (24, 1536, 16, 2.5e-4, 256), "xl": (24, 2048, 16, 2e-4, 512),
        "2.7b": (32, 2560, 32, 1.6e-4, 512), "6.7b": (32, 4096, 32, 1.2e-4, 1024),
        "13b": (40, 5120, 40, 1e-4, 1024), "175b": (96, 12288, 96, 0.6e-4, 1536),
    }
    assert set(table) == set(spec.sizes)
    for size, (L, d, H, lr, batch) in table.items():
        cfg = size_config(spec, size)
        m = cfg.model
        assert (m.n_layer, m.n_embd, m.n_head, cfg.optim.lr, cfg.train.batch_size) == \
            (L, d, H, lr, batch), size
        assert m.block_size == 2048 and m.attention == "alternating"
        if size not in ("small", "medium", "large", "2.7b"):
            assert m.n_embd // m.n_head == 128, size  # d_head 128 from XL up
    # XL: 24 heads x 128 would be 3072 wide; 13B: 5140 is not 40 x 128
    assert size_config(spec, "xl").model.n_head == 16
    assert size_config(spec, "13b").model.n_embd == 5120
    assert "typo" in spec.sources["model.n_head"] and "typo" in spec.sources["model.n_embd"]
    cfg = size_config(spec, "small")
    assert (cfg.optim.beta1, cfg.optim.beta2, cfg.optim.eps) == (0.9, 0.95, 1e-8)
    assert (cfg.optim.weight_decay, cfg.optim.grad_clip) == (0.1, 1.0)


def test_igpt_structure_switches():
    for size in PAPERS["igpt"].sizes:
        m = size_config(PAPERS["igpt"], size).model
        assert m.bias is False and m.norm == "rmsnorm" and m.tie_embeddings is False
        assert m.sos_token is True and m.activation == "gelu2" and m.zero_init_head is True
        assert m.init == "sparse_transformer" and m.norm_position == "pre" and m.final_norm
        assert m.vocab_size == 512
        assert m.embd_pdrop == m.attn_pdrop == m.resid_pdrop == 0.0
    cfg = size_config(PAPERS["igpt"], "s")
    assert (cfg.optim.beta2, cfg.optim.weight_decay, cfg.schedule.min_lr_ratio) == (0.95, 0.0, 0.0)
    assert (cfg.train.batch_size, cfg.train.precision) == (128, "fp32")
    xl = size_config(PAPERS["igpt"], "xl")
    assert (xl.train.batch_size, xl.train.tokens) == (64, 2_000_000 * 64 * 64 * 64)


def test_gpt1_and_gpt2_structure():
    g1 = size_config(PAPERS["gpt1"], "base")
    assert (g1.model.norm_position, g1.model.final_norm, g1.model.vocab_size) == ("post", False, 40478)
    assert (g1.model.block_size, g1.train.batch_size, g1.optim.lr) == (512, 64, 2.5e-4)
    assert g1.schedule.warmup_tokens == 2000 * 64 * 512 and g1.schedule.min_lr_ratio == 0.0
    g2 = size_config(PAPERS["gpt2"], "small")
    assert (g2.model.norm_position, g2.model.final_norm, g2.model.init) == \
        ("pre", True, "scaled_residual")
    assert (g2.model.vocab_size, g2.model.block_size, g2.train.batch_size) == (50257, 1024, 512)
    heads = {s: size_config(PAPERS["gpt2"], s).model.n_head for s in PAPERS["gpt2"].sizes}
    assert heads == {"small": 12, "medium": 16, "large": 20, "xl": 25}


def test_bad_names_are_errors_naming_the_choices():
    with pytest.raises(ReproError, match="unknown size 'huge'.*small, medium, large, xl"):
        resolve(PAPERS["gpt2"], "huge", "tiny")
    with pytest.raises(ReproError, match="unknown scale 'big'.*tiny, small, medium, paper"):
        resolve(PAPERS["gpt2"], None, "big")
    with pytest.raises(ReproError, match="unknown key"):
        resolve(PAPERS["gpt2"], None, "tiny", ["model.layers=3"])
    with pytest.raises(ReproError, match="not divisible"):
        resolve(PAPERS["gpt2"], None, "tiny", ["model.n_head=3"])


def test_overrides_reach_the_config_and_specs_are_not_mutated():
    spec = PAPERS["gpt2"]
    before = spec.recipe.to_dict()
    cfg = resolve(spec, None, "tiny", ["model.n_layer=3", "optim.lr=1e-3", "train.tokens=1e6"])
    assert (cfg.model.n_layer, cfg.optim.lr, cfg.train.tokens) == (3, 1e-3, 1_000_000)
    assert spec.recipe.to_dict() == before
    assert dataclasses.is_dataclass(spec) and spec.recipe.model.n_layer == 12


def test_user_overrides_keep_the_rule():
    """--set of the run length or width is part of the scale: the schedule rule applies to the
    new length and GPT-1's MLP stays 4x, unless the user sets those too."""
    spec = PAPERS["gpt2"]
    short = resolve(spec, None, "small", ["train.tokens=5000000"])
    assert short.schedule.warmup_tokens == warmup_rule(resolve(spec, None, "paper"), short)
    assert short.schedule.warmup_tokens < short.train.tokens
    fixed = resolve(spec, None, "small", ["train.tokens=5000000", "schedule.warmup_tokens=7"])
    assert fixed.schedule.warmup_tokens == 7
    narrow = resolve(PAPERS["gpt1"], None, "small", ["model.n_embd=192"])
    assert narrow.model.n_inner == 4 * 192
    exact = resolve(spec, None, "paper", ["train.tokens=5000000"])   # paper scale: as given
    assert exact.schedule.warmup_tokens == resolve(spec, None, "paper").schedule.warmup_tokens
