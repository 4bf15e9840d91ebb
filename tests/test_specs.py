"""Paper specs as data (papers/*.py, repro/spec.py): every (paper, size, scale) resolves and
validates, smaller scales come from spec.derive with the recipe's fractions kept, every
report row has a source, and the Table 2.1 typo fixes and iGPT switches are in place."""
from __future__ import annotations

import dataclasses

import pytest

from papers import PAPERS
from repro.config import valid_keys, validate
from repro.errors import ReproError
from repro.spec import SCALES, derive, planned_tokens, resolve, size_config, spec_rows

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
    assert planned_tokens(cfg) > 0
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
    ratio = planned_tokens(small) / planned_tokens(big)
    for key in ("warmup_tokens", "decay_tokens", "batch_ramp_tokens"):
        want = getattr(big.schedule, key) * ratio
        assert abs(getattr(small.schedule, key) - want) <= 0.5, key
    # warmup is a fraction of the run, never the whole of it
    assert small.schedule.warmup_tokens < planned_tokens(small)
    for key in ("min_lr_ratio", "decay"):
        assert getattr(small.schedule, key) == getattr(big.schedule, key)
    for key in ("beta1", "beta2", "eps", "weight_decay", "grad_clip"):
        assert getattr(small.optim, key) == getattr(big.optim, key), key
    for key in ("norm_position", "final_norm", "norm", "activation", "bias", "tie_embeddings",
                "sos_token", "attention", "init", "zero_init_head"):
        assert getattr(small.model, key) == getattr(big.model, key), key  # switches survive
    # the MLP keeps its ratio to the width (GPT-1 states n_inner=3072 at 768: 4x)
    assert small.model.inner * big.model.n_embd == big.model.inner * small.model.n_embd


def test_tiny_scales_are_small():
    for name, spec in PAPERS.items():
        cfg = resolve(spec, None, "tiny")
        assert cfg.model.n_layer <= 2 and cfg.model.n_embd <= 128, name
        assert planned_tokens(cfg) <= 200_000, name
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
    assert len(rows) == len(spec.sources) + len(spec.notes)
    for row in rows:
        assert set(row) == {"setting", "paper", "this run", "source"}
        assert isinstance(row["source"], str) and row["source"].strip(), row
    by_key = {r["setting"]: r for r in rows}
    if "model.n_layer" in by_key:
        assert by_key["model.n_layer"]["paper"] == size_config(spec, spec.default_size).model.n_layer
        assert by_key["model.n_layer"]["this run"] == cfg.model.n_layer


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
        assert m.init == "igpt" and m.norm_position == "pre" and m.final_norm is True
        assert m.vocab_size == 512 and m.block_size == 1024
        assert m.embd_pdrop == m.attn_pdrop == m.resid_pdrop == 0.0
    cfg = size_config(PAPERS["igpt"], "s")
    assert (cfg.optim.beta2, cfg.optim.weight_decay, cfg.schedule.min_lr_ratio) == (0.95, 0.0, 0.0)
    assert (cfg.train.batch_size, cfg.train.precision) == (128, "fp32")
    xl = size_config(PAPERS["igpt"], "xl")
    assert (xl.train.batch_size, xl.train.tokens) == (64, 2_000_000 * 64 * 1024)


def test_gpt1_and_gpt2_structure():
    g1 = size_config(PAPERS["gpt1"], "base")
    assert (g1.model.norm_position, g1.model.final_norm, g1.model.vocab_size) == ("post", False, 40478)
    assert (g1.model.block_size, g1.train.batch_size, g1.optim.lr) == (512, 64, 2.5e-4)
    assert g1.schedule.warmup_tokens == 2000 * 64 * 512 and g1.schedule.min_lr_ratio == 0.0
    g2 = size_config(PAPERS["gpt2"], "small")
    assert (g2.model.norm_position, g2.model.final_norm, g2.model.init) == ("pre", True, "gpt2")
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


def test_user_overrides_keep_the_recipe_fractions():
    """--set of the run length or width is part of the scale: warmup stays the recipe's fraction
    and GPT-1's MLP stays 4x, unless the user sets those too."""
    spec = PAPERS["gpt2"]
    small = resolve(spec, None, "small")
    short = resolve(spec, None, "small", ["train.tokens=5000000"])
    assert abs(short.schedule.warmup_tokens - small.schedule.warmup_tokens / 10) <= 1
    assert short.schedule.warmup_tokens < short.train.tokens
    fixed = resolve(spec, None, "small", ["train.tokens=5000000", "schedule.warmup_tokens=7"])
    assert fixed.schedule.warmup_tokens == 7
    narrow = resolve(PAPERS["gpt1"], None, "small", ["model.n_embd=192"])
    assert narrow.model.n_inner == 4 * 192
    exact = resolve(spec, None, "paper", ["train.tokens=5000000"])   # paper scale: as given
    assert exact.schedule.warmup_tokens == resolve(spec, None, "paper").schedule.warmup_tokens
