"""The performance options on a CUDA GPU, where they do their work: the trainer's CUDA-graph
mode (train.compile_mode=reduce-overhead) trains like the default compile, gradient
accumulation and evaluation included, without compiling again after its warm-up;
cut-cross-entropy's Triton kernels give the standard loss and gradients, also inside a compiled
model; checkpointed blocks compile to the same step. CI (CPU) skips them; on a GPU:

    python -m pytest -q tests/test_perf_cuda.py        (about a minute on an H200: 5 compiles)
"""
import pytest
import torch

from repro.config import ModelConfig
from repro.model import GPT

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
NO_DROPOUT = ["model.embd_pdrop=0", "model.attn_pdrop=0", "model.resid_pdrop=0"]


def _counts():
    from torch._dynamo.utils import counters
    return counters["stats"]["unique_graphs"], counters["inductor"]["cudagraph_skips"]


def _train(tmp_path, name: str, sets: list[str], steps: int = 8):
    from repro.cli import spec_of
    from repro.rundir import RunDir
    from repro.spec import resolve
    from repro.trainer import Trainer, build_accelerator
    cfg = resolve(spec_of("chargpt"), None, "tiny", ["train.device=cuda", "train.precision=bf16",
                                                      "train.batch_size=8",
                                                      "train.micro_batch_size=4",
                                                      "train.compile=true", *NO_DROPOUT, *sets])
    torch._dynamo.reset()
    start = _counts()
    t = Trainer(cfg, RunDir.create(tmp_path / name, "run"), accelerator=build_accelerator(cfg))
    losses = [t.train_step(i).item() for i in range(3)]         # compile, record, replay
    graphs = _counts()
    losses += [t.train_step(i).item() for i in range(3, steps)]
    after = _counts()
    val = t.evaluate()
    losses += [t.train_step(i).item() for i in range(steps, steps + 2)]   # back from eval
    # graphs compiled after the warm-up; CUDA graphs skipped at any point
    return t, losses, val, (after[0] - graphs[0], after[1] - start[1])


def test_cuda_graph_mode_trains_like_default_compile(tmp_path):
    base, base_losses, base_val, _ = _train(tmp_path, "default", [])
    graphs, losses, val, (compiled, skipped) = _train(
        tmp_path, "graphs", ["train.compile_mode=reduce-overhead"])
    assert graphs.cuda_graphs and not base.cuda_graphs
    assert compiled == 0 and skipped == 0     # no compile after the warm-up, graphs not skipped
    from torch._inductor.cudagraph_trees import get_manager
    manager = get_manager(torch.cuda.current_device(), False)
    assert manager is not None and manager.roots   # CUDA graphs were recorded and replayed
    # two micro-batches per step: a gradient counted twice would part the curves at step 2
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(base_losses), rtol=2e-3, atol=0)
    assert val == pytest.approx(base_val, rel=2e-3)
    for a, b in zip(graphs.model.parameters(), base.model.parameters()):
        # Adam moves a weight whose gradient is ~0 by up to lr a step whatever the gradient's
        # size, so bf16 rounding shows there as lr-sized (1e-4..1e-3) differences
        torch.testing.assert_close(a, b, rtol=2e-2, atol=1e-3)


SHAPE = ModelConfig(vocab_size=1000, block_size=128, n_layer=2, n_head=4, n_embd=256,
                    vocab_pad_multiple=64, embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0)


def _loss_and_grads(model, idx, autocast: bool, compiled: bool = False):
    model.zero_grad(set_to_none=True)
    fn = torch.compile(model) if compiled else model
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        _, loss = fn(idx, idx.roll(-1, 1))
    loss.backward()
    return loss.detach().float(), {n: p.grad.float().clone() for n, p in model.named_parameters()}


def _rel(a, b) -> float:
    return ((a - b).norm() / b.norm()).item()


def test_cce_matches_the_standard_loss_on_cuda(exact_fp32):
    pytest.importorskip("cut_cross_entropy")
    idx = torch.randint(0, SHAPE.vocab_size, (4, SHAPE.block_size), device="cuda",
                        generator=torch.Generator(device="cuda").manual_seed(0))
    torch.manual_seed(0)
    standard = GPT(SHAPE).cuda().train()
    cce = GPT(SHAPE, loss_impl="cce").cuda().train()
    cce.load_state_dict(standard.state_dict())
    ref_loss, ref = _loss_and_grads(standard, idx, autocast=False)      # fp32 reference
    std_loss, std = _loss_and_grads(standard, idx, autocast=True)
    cce_loss, got = _loss_and_grads(cce, idx, autocast=True)
    compiled_loss, compiled = _loss_and_grads(cce, idx, autocast=True, compiled=True)
    # bf16 moves the loss by ~1e-3; padding rows in the softmax would move it by ~0.02
    for loss in (std_loss, cce_loss, compiled_loss):
        assert abs(loss - ref_loss) < 5e-3
    assert abs(compiled_loss - cce_loss) < 2e-3
    for name in ("transformer.wte.weight", "transformer.h.0.mlp.c_fc.weight",
                 "transformer.h.1.attn.c_attn.weight"):
        bf16_error = _rel(std[name], ref[name])
        assert _rel(got[name], ref[name]) < max(2 * bf16_error, 2e-2), name
        assert _rel(compiled[name], ref[name]) < max(2 * bf16_error, 2e-2), name
    assert torch.count_nonzero(got["transformer.wte.weight"][SHAPE.vocab_size:]) == 0   # padding


def test_checkpointed_blocks_compile_to_the_same_step(exact_fp32):
    idx = torch.randint(0, SHAPE.vocab_size, (4, SHAPE.block_size), device="cuda",
                        generator=torch.Generator(device="cuda").manual_seed(1))
    torch.manual_seed(0)
    plain = GPT(SHAPE).cuda().train()
    ckpt = GPT(SHAPE, activation_checkpointing=True).cuda().train()
    ckpt.load_state_dict(plain.state_dict())
    loss, grads = _loss_and_grads(plain, idx, autocast=False)
    got_loss, got = _loss_and_grads(ckpt, idx, autocast=False, compiled=True)
    torch.testing.assert_close(got_loss, loss, rtol=1e-4, atol=1e-5)
    for name, g in grads.items():
        assert _rel(got[name], g) < 1e-3, name
