"""iGPT's linear probe (repro/transfer/probe.py): the features are the network's own norm of
h^l for every depth 0..L (the tensors its attention and ln_f actually receive, caught by hooks),
the protocol fits on every training image, chooses layer and L2 on validation and folds the
validation images back in for the one test score, and "peaks in the middle" needs more than
twice the combined standard error."""
from __future__ import annotations

import torch

from repro.model import build_model
from repro.spec import resolve
from repro.transfer import probe
from repro_papers import PAPERS


def _tiny_igpt():
    torch.manual_seed(0)
    model = build_model(resolve(PAPERS["igpt"], None, "tiny").model).eval()
    with torch.no_grad():   # gains away from 1, so a parameter-free norm would differ
        for norm in probe.feature_norms(model):
            norm.weight.uniform_(0.5, 2.0)
    return model


def test_features_are_the_networks_own_norms_at_every_depth():
    model = _tiny_igpt()
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(0, model.config.vocab_size, (5, 64), generator=g)
    seen = []
    norms = [model.transformer.h[0].ln_1, model.transformer.h[1].ln_1, model.transformer.ln_f]
    hooks = [n.register_forward_hook(lambda m, i, o: seen.append(o.mean(dim=1))) for n in norms]
    with torch.no_grad():
        model.hidden_states(tokens)               # an ordinary forward: what the network sees
    for h in hooks:
        h.remove()
    feats = probe.layer_features(model, lambda t: t, tokens, "cpu", batch=2)
    assert len(feats) == model.config.n_layer + 1 == 3          # layer 0 = the embeddings
    for got, want in zip(feats, seen):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    # not a parameter-free, mean-subtracting layer norm of the same states
    _, states = model.hidden_states(tokens, return_all=True)
    plain = torch.nn.functional.layer_norm(states[1], states[1].shape[-1:]).mean(dim=1)
    assert (plain - feats[1]).abs().max() > 0.1


def test_protocol_uses_every_train_image_and_folds_validation_back():
    model = _tiny_igpt()
    g = torch.Generator().manual_seed(2)
    split = [(torch.randint(0, 16, (n, 64), generator=g), torch.randint(0, 3, (n,), generator=g))
             for n in (60, 20, 30)]
    # labels that the colour of pixel 0 decides, so the layers differ from chance
    for tokens, labels in split:
        labels.copy_(tokens[:, 0] % 3)
    train, val, test = split
    r = probe.probe_run(model, lambda t: t, "cpu", train, val, test)
    assert len(r["probe_val_accuracy_per_layer"]) == 3 and r["probe_first_layer"] == 0
    assert (r["probe_train_images"], r["probe_final_fit_images"]) == (60, 80)
    best, l2 = r["probe_best_layer"], r["probe_l2"]
    grid = [probe.probe_layers([(ft, fv)], train[1], val[1], l2=x)[0] for x in probe.L2_GRID
            for ft, fv in [(probe.layer_features(model, lambda t: t, train[0], "cpu")[best],
                            probe.layer_features(model, lambda t: t, val[0], "cpu")[best])]]
    assert max(grid) == r["probe_val_accuracy_per_layer"][best] == grid[probe.L2_GRID.index(l2)]
    feats = [probe.layer_features(model, lambda t: t, s[0], "cpu")[best] for s in split]
    folded = probe.linear_probe(torch.cat(feats[:2]), torch.cat([train[1], val[1]]), feats[2],
                                test[1], l2=l2)
    assert r["probe_test_accuracy"] == folded                  # fit on train + validation


def test_peaks_in_the_middle_only_beyond_twice_the_combined_se():
    se = [0.01] * 3
    assert probe.peak([0.2, 0.5, 0.3], se)["peaks_in_middle"]
    close = probe.peak([0.2, 0.32, 0.3], se)                     # 0.02 < 2 * 0.0141
    assert not close["peaks_in_middle"] and abs(close["combined_se"] - 0.02 ** 0.5 / 10) < 1e-12
    assert not probe.peak([0.2, 0.3, 0.5], se)["peaks_in_middle"]   # the last layer is best
    assert not probe.peak([0.6, 0.3, 0.2], se)["peaks_in_middle"]   # the embeddings are best
