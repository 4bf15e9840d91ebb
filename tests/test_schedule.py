"""Learning rate and batch size in tokens (repro/schedule.py), held to GPT-3's Appendix B at
paper scale: 375M-token linear warmup, cosine to 10% at 260B tokens then flat, batch ramp
from 32k tokens to the full 256 x 2048 over the first 4B tokens (GPT-3 Small)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from repro_papers import PAPERS
from repro.config import ScheduleConfig
from repro.schedule import BatchPlan, lr_multiplier
from repro.spec import resolve

WARMUP, DECAY, TOTAL, FLOOR = 375e6, 260e9, 300e9, 0.1


@pytest.fixture(scope="module")
def paper():
    return resolve(PAPERS["gpt3"], "small", "paper")


@pytest.fixture(scope="module")
def plan(paper):
    return BatchPlan(paper)


def cosine(tokens):
    """App. B: cosine from the peak down to 10% of it, measured from the end of warmup."""
    progress = (tokens - WARMUP) / (DECAY - WARMUP)
    return FLOOR + (1 - FLOOR) * 0.5 * (1 + math.cos(math.pi * progress))


def test_gpt3_lr_at_paper_scale(paper):
    s = paper.schedule
    assert (s.warmup_tokens, s.decay_tokens, s.min_lr_ratio) == (375_000_000, 260_000_000_000, 0.1)
    assert paper.train.tokens == 300_000_000_000
    lr = lambda t: lr_multiplier(t, s, paper.train.tokens)
    assert lr(0) == 0.0
    assert lr(187.5e6) == pytest.approx(0.5, abs=1e-12)
    assert lr(375e6) == pytest.approx(1.0, abs=1e-12)
    assert lr(130e9) == pytest.approx(cosine(130e9), abs=1e-12)
    assert lr(130e9) == pytest.approx(0.5510209789, abs=1e-9)  # just past half-way: > 0.55
    assert lr(260e9) == pytest.approx(0.1, abs=1e-12)
    assert lr(280e9) == pytest.approx(0.1, abs=1e-12)
    assert lr(TOTAL) == pytest.approx(0.1, abs=1e-12)
    # monotone: up during warmup, down during decay
    ups = [lr(t) for t in np.linspace(0, WARMUP, 50)]
    downs = [lr(t) for t in np.linspace(WARMUP, DECAY, 50)]
    assert ups == sorted(ups) and downs == sorted(downs, reverse=True)


def test_linear_and_constant_decay():
    lin = ScheduleConfig(warmup_tokens=100, decay="linear", decay_tokens=1100, min_lr_ratio=0.0)
    assert lr_multiplier(50, lin, 0) == 0.5
    assert lr_multiplier(600, lin, 0) == pytest.approx(0.5)
    assert lr_multiplier(1100, lin, 0) == 0.0 and lr_multiplier(5000, lin, 0) == 0.0
    # decay_tokens 0: decay over the whole horizon
    lin0 = ScheduleConfig(warmup_tokens=0, decay="cosine", min_lr_ratio=0.0)
    assert lr_multiplier(500, lin0, 1000) == pytest.approx(0.5)
    const = ScheduleConfig(warmup_tokens=10, decay="constant")
    assert lr_multiplier(5, const, 100) == 0.5 and lr_multiplier(99, const, 100) == 1.0


def reference_ramp(start=16, full=256, block=2048, ramp_tokens=4e9):
    """App. B's linear ramp in tokens, written out: batch = start + (full - start) * seen / ramp,
    rounded down to a multiple of the first batch (so any world size dividing it divides all)."""
    sizes, seen = [], 0
    while seen < ramp_tokens:
        b = start + (full - start) * seen / ramp_tokens
        sizes.append(max(start, int(b // start) * start))
        seen += sizes[-1] * block
    return sizes, seen


def test_gpt3_batch_ramp(plan):
    assert plan.block == 2048 and plan.full == 256
    assert plan.batch_at(0) == 16                              # 32k tokens = 16 x 2048
    assert plan.batch_at(0) * 2048 == 32_768
    sizes, ramp_end = reference_ramp()
    assert [plan.batch_at(i) for i in range(len(sizes))] == sizes
    assert plan.batch_at(len(sizes)) == 256 and plan.batch_at(10 ** 6) == 256
    assert plan.tokens_before(len(sizes)) == ramp_end
    # half-way through the 4B-token ramp the batch is 16 + 240/2 = 136, rounded down to 128
    half = int(np.searchsorted([plan.tokens_before(i) for i in range(len(sizes) + 1)], 2e9))
    assert plan.tokens_before(half - 1) < 2e9 <= plan.tokens_before(half)
    assert plan.batch_at(half) == 128
    assert sorted(plan.batch_values()) == list(range(16, 257, 16))
    # tokens_before is the running sum of the batches
    assert plan.tokens_before(3) == (sizes[0] + sizes[1] + sizes[2]) * 2048


def test_gpt3_total_steps(plan):
    sizes, ramp_end = reference_ramp()
    after = math.ceil((TOTAL - ramp_end) / (256 * 2048))
    assert plan.total_steps == len(sizes) + after
    assert plan.total_steps == 591_581
    tokens = plan.tokens_before(plan.total_steps)
    assert TOTAL <= tokens < TOTAL + 256 * 2048               # at least 300B, one batch more at most
    # without the ramp it would be 572,205 steps: the ramp adds its small early steps
    assert plan.total_steps - math.ceil(TOTAL / (256 * 2048)) == 19_376


def test_train_steps_cap(paper):
    capped = paper.replace(train=dict(steps=1000))
    assert BatchPlan(capped).total_steps == 1000


@pytest.mark.parametrize("paper_name", ["gpt1", "gpt2", "gpt3", "igpt"])
def test_tiny_scale_keeps_the_decay_fractions(paper_name):
    spec = PAPERS[paper_name]
    big, small = resolve(spec, None, "paper"), resolve(spec, None, "tiny")
    ratio = small.train.tokens / big.train.tokens
    for key in ("decay_tokens", "batch_ramp_tokens"):
        want = getattr(big.schedule, key) * ratio
        assert abs(getattr(small.schedule, key) - want) <= 0.5, key      # rounding only
    # warmup: the paper's updates, at most a tenth of the run (tests/test_specs.py pins it)
    assert 0 < small.schedule.warmup_tokens <= 0.1 * small.train.tokens + 1
    # after warmup, the same LR curve as a function of the fraction of training done
    for frac in (0.3, 0.6, 0.9, 1.0):
        a = lr_multiplier(frac * big.train.tokens, big.schedule, big.train.tokens)
        b = lr_multiplier(frac * small.train.tokens, small.schedule, small.train.tokens)
        assert b == pytest.approx(a, abs=0.1), frac


def test_gpt3_tiny_ramp_starts_at_the_same_fraction_of_the_batch():
    tiny = resolve(PAPERS["gpt3"], None, "tiny")
    paper = resolve(PAPERS["gpt3"], None, "paper")
    start_frac = paper.schedule.batch_ramp_start_tokens / (
        paper.train.batch_size * paper.model.block_size)
    assert start_frac == 32_768 / (256 * 2048)                 # 1/16 of the full batch
    tiny_batch_tokens = tiny.train.batch_size * tiny.model.block_size
    assert tiny.schedule.batch_ramp_start_tokens == round(start_frac * tiny_batch_tokens)
    plan = BatchPlan(tiny)
    assert plan.batch_at(0) < plan.full == tiny.train.batch_size    # the ramp exists at tiny
    assert all(b % plan.batch_at(0) == 0 for b in plan.batch_values())
