"""The trainer options that change how a step computes, never what (train.compile_mode,
train.loss_impl, train.activation_checkpointing): validated in the config, and the same losses
and gradients with and without them on the CPU. Their GPU side (CUDA graphs, cce's Triton
kernels) is tests/test_perf_cuda.py."""
from __future__ import annotations

import dataclasses
import math
import sys

import pytest
import torch

from repro.config import ModelConfig, apply_overrides, validate
from repro.errors import ReproError
from repro.model import GPT

SHAPE = ModelConfig(vocab_size=97, block_size=64, n_layer=3, n_head=2, n_embd=32,
                    vocab_pad_multiple=64, attention="alternating", band_width=16)


def step(model: GPT, seed: int = 5):
    """One forward + backward with the RNG at `seed` (dropout on); (loss, grads, saved
    elements: what autograd keeps for the backward)."""
    idx = torch.randint(0, 97, (3, 64), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(idx, dtype=torch.bool)
    mask[0, :10] = False
    saved = []

    def keep(t):
        saved.append(t.numel())
        return t
    torch.manual_seed(seed)
    with torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t):
        _, loss = model(idx, idx.roll(-1, 1), mask)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    return loss.detach(), grads, sum(saved)


def build(**options) -> GPT:
    torch.manual_seed(0)
    return GPT(SHAPE, **options).train()


def test_activation_checkpointing_same_loss_and_gradients_less_saved():
    plain, ckpt = step(build()), step(build(activation_checkpointing=True))
    assert SHAPE.resid_pdrop > 0   # dropout on: the recompute must replay the same masks
    assert torch.equal(plain[0], ckpt[0])
    assert plain[1].keys() == ckpt[1].keys()
    for name, g in plain[1].items():
        assert torch.equal(g, ckpt[1][name]), name
    # only the block inputs (and the head's) are kept: 91,137 vs 632,961 elements here
    assert ckpt[2] < plain[2] / 5
    # evaluation and no_grad run the blocks once, as without the option
    model = build(activation_checkpointing=True).eval()
    with torch.no_grad():
        idx = torch.zeros(1, 8, dtype=torch.long)
        assert torch.equal(model(idx)[0], build().eval()(idx)[0])


@pytest.mark.parametrize("pairs,message", [
    (["train.compile_mode=fast"], "train.compile_mode='fast' is not one of"),
    (["train.compile_mode=reduce-overhead"], "applies to a compiled model"),
    (["train.loss_impl=liger"], "train.loss_impl='liger' is not one of"),
    (["train.activation_checkpointing=maybe"], "expected bool"),
    (["train.log_with=neptune"], "train.log_with='neptune' is not one of"),
])
def test_options_are_validated(pairs, message):
    from repro.config import Config
    base = Config().replace(train=dict(tokens=1000))
    with pytest.raises(ReproError, match=message):
        validate(apply_overrides(base, pairs))


def test_valid_options_pass():
    from repro.config import Config
    base = Config().replace(train=dict(tokens=1000))
    for mode in ("default", "reduce-overhead", "max-autotune"):
        cfg = validate(apply_overrides(base, ["train.compile=true", f"train.compile_mode={mode}",
                                              "train.loss_impl=cce",
                                              "train.activation_checkpointing=true"]))
        assert (cfg.train.compile_mode, cfg.train.loss_impl) == (mode, "cce")
        assert cfg.train.activation_checkpointing is True


def test_cce_refused_cleanly_when_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "cut_cross_entropy", None)   # import raises ImportError
    with pytest.raises(ReproError, match=r"needs cut-cross-entropy: pip install cut-cross-entropy"):
        GPT(SHAPE, loss_impl="cce")


def test_chunked_loss_matches_the_standard_loss_and_gradients():
    """train.loss_impl=chunked: the same loss and gradients as the plain head + cross-entropy,
    in one chunk (the model) and in several uneven ones with padding columns and ignored
    targets (the function); the padding rows of the tied head get no gradient."""
    from repro.losses import chunked_loss, standard_loss
    shape = dataclasses.replace(SHAPE, embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0)
    torch.manual_seed(0)
    standard = GPT(shape).train()
    torch.manual_seed(0)
    chunked = GPT(shape, loss_impl="chunked").train()
    a, b = step(standard), step(chunked)
    torch.testing.assert_close(b[0], a[0], rtol=1e-5, atol=1e-6)
    for name, g in a[1].items():
        torch.testing.assert_close(b[1][name], g, rtol=1e-5, atol=1e-6, msg=name)
    assert torch.count_nonzero(b[1]["transformer.wte.weight"][shape.vocab_size:]) == 0
    g = torch.Generator().manual_seed(3)
    x, w = torch.randn(2, 75, 16, generator=g), torch.randn(128, 16, generator=g)
    y = torch.randint(0, 100, (2, 75), generator=g)
    y[0, :20] = -1
    out = []
    for fn in (standard_loss(), chunked_loss(chunk_tokens=40)):   # 150 tokens: 40+40+40+30
        xs, ws = x.clone().requires_grad_(), w.clone().requires_grad_()
        loss = fn(xs, ws, y, 100)
        (3 * loss).backward()
        out.append((loss.detach(), xs.grad, ws.grad))
    for want, got in zip(out[0], out[1]):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert torch.count_nonzero(out[1][2][100:]) == 0 and out[1][0] > 0


@pytest.mark.slow   # cce's CPU path is torch.compile'd: about 30 s on 2 cores
def test_cce_matches_the_standard_loss_on_cpu():
    """Same loss and gradients through cut-cross-entropy's CPU path: the vocabulary padding rows
    stay out of the softmax (no gradient), masked targets are ignored, the tied head/embedding
    gets the head's gradient."""
    pytest.importorskip("cut_cross_entropy")
    shape = dataclasses.replace(SHAPE, embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0)
    torch.manual_seed(0)
    standard = GPT(shape).train()
    torch.manual_seed(0)
    cce = GPT(shape, loss_impl="cce").train()
    a, b = step(standard), step(cce)
    torch.testing.assert_close(b[0], a[0], rtol=1e-5, atol=1e-6)
    for name, g in a[1].items():
        torch.testing.assert_close(b[1][name], g, rtol=1e-4, atol=1e-6, msg=name)
    head = b[1]["transformer.wte.weight"]
    assert shape.padded_vocab > shape.vocab_size
    assert torch.count_nonzero(head[shape.vocab_size:]) == 0


def test_trainer_cuda_graph_mode_keeps_gradients(monkeypatch, tmp_path):
    """The trainer's CUDA-graph path (zeroed .grad buffers kept, zero_grad without None) trains
    exactly like the default path, gradient accumulation included. torch.compile is replaced
    by the identity: on the CPU this checks the gradient handling, the GPU test the graphs."""
    from repro import trainer as trainer_pkg
    from repro.cli import spec_of
    from repro.rundir import RunDir
    from repro.spec import resolve
    from repro.trainer import loop

    monkeypatch.setattr(loop, "compile_model", lambda model, mode: model)
    runs = {}
    for name, sets in [("default", []), ("graphs", ["train.compile=true",
                                                     "train.compile_mode=reduce-overhead"])]:
        cfg = resolve(spec_of("chargpt"), None, "tiny", ["train.micro_batch_size=2",
                                                          "train.batch_size=6", *sets])
        run = RunDir.create(tmp_path / name, "run")
        t = trainer_pkg.Trainer(cfg, run, accelerator=trainer_pkg.build_accelerator(cfg))
        assert t.cuda_graphs == (name == "graphs")
        losses = [t.train_step(i).item() for i in range(4)]
        grads_kept = all(p.grad is not None for p in t.model.parameters())
        runs[name] = (losses, [p.detach().clone() for p in t.model.parameters()], grads_kept)
    assert runs["default"][0] == runs["graphs"][0]
    for a, b in zip(runs["default"][1], runs["graphs"][1]):
        assert torch.equal(a, b)
    assert runs["graphs"][2] and not runs["default"][2]   # zeroed buffers, not None


def test_padded_evaluation_batch_scores_the_same_targets():
    """pad_rows grows a smaller last evaluation batch to the first one's shape (a compiled model
    would compile again for a new shape); the added rows change neither the loss nor the count."""
    from repro.trainer.batches import count_targets, pad_rows
    model = build().eval()
    idx = torch.randint(0, 97, (2, 64), generator=torch.Generator().manual_seed(2))
    mask = torch.ones_like(idx, dtype=torch.bool)
    mask[1, :20] = False
    for batch in ({"x": idx, "y": idx.roll(-1, 1)}, {"x": idx, "y": idx.roll(-1, 1), "mask": mask}):
        padded = pad_rows(batch, 5)
        assert all(len(t) == 5 for t in padded.values())
        assert count_targets(padded) == count_targets(batch) == \
            (128 - 20 if "mask" in batch else 128)
        with torch.no_grad():
            torch.testing.assert_close(model(padded["x"], padded["y"], padded.get("mask"))[1],
                                       model(batch["x"], batch["y"], batch.get("mask"))[1],
                                       rtol=1e-6, atol=0)
        assert pad_rows(batch, 2) is batch


def test_evaluate_weights_an_uneven_last_batch_by_its_targets(tmp_path):
    from repro.cli import spec_of
    from repro.rundir import RunDir
    from repro.spec import resolve
    from repro.trainer import Trainer
    cfg = resolve(spec_of("chargpt"), None, "tiny", ["train.device=cpu"])
    t = Trainer(cfg, RunDir.create(tmp_path, "run"))
    rows = t.task.val_batches(4)[0]
    batches = [{k: v[:4] for k, v in rows.items()}, {k: v[:1] for k, v in rows.items()}]
    shapes = []   # what the model is given: one shape for every batch (no compile again)
    t.model.register_forward_pre_hook(lambda module, args: shapes.append(tuple(args[0].shape)))
    with torch.no_grad():   # the mean over every target of the five rows, in one forward
        expected = t.model.eval()(torch.cat([rows["x"][:4], rows["x"][:1]]),
                                  torch.cat([rows["y"][:4], rows["y"][:1]]))[1]
    shapes.clear()
    assert t.evaluate(batches) == pytest.approx(float(expected), rel=1e-5)
    assert shapes == [tuple(batches[0]["x"].shape)] * 2
    assert math.isnan(t.evaluate([]))
