"""The scaling ladder (repro/scaling, `repro scaling`) and its in-domain cloze set."""
import importlib.util
import re
from pathlib import Path

import pytest

from repro.eval import data

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_in_domain_cloze_ships_verified_and_passes_its_filters():
    from repro.config import DataConfig
    from repro.data.corpora import load_documents
    tool = _tool("build_in_domain_cloze")
    passages = data.passages(data.shipped_text("in_domain_cloze"))   # checksum checked here
    assert len(passages) == 1000 and len(set(passages)) == 1000
    assert data.SETS["in_domain_cloze"].location().stat().st_size < 300_000
    docs = load_documents(DataConfig(kind="text", source="books"))
    frequent = tool.frequent_words(docs["train"])
    assert {"the", "and", "said"} <= frequent
    for passage in passages:
        context, target = passage.rsplit(" ", 1)
        assert target.isascii() and target.isalpha(), passage
        assert target.lower() in {w.lower() for w in re.findall(r"[A-Za-z]+", context)}
        assert target.lower() not in frequent
        assert len(context.split()) >= 50           # a 50-120-word context + its sentence
    val = [" ".join(d.split()) for d in docs["val"]]
    train = " ".join(" ".join(d.split()) for d in docs["train"][:10])
    for passage in passages[::100]:   # cut from the held-out novels, not the training ones
        assert any(passage in book for book in val) and passage not in train


def test_fit_recovers_a_known_exponent_within_one_percent():
    import numpy as np
    from repro.scaling.fit import fit_loss_vs_size
    n = np.geomspace(4e5, 8.5e7, 7)
    noise = np.exp(np.random.default_rng(1).normal(0, 0.002, n.size))
    pure = fit_loss_vs_size(n, (8.8e13 / n) ** 0.076 * noise, boot=200)
    assert not pure["irreducible"] and pure["alpha_N"] == pytest.approx(0.076, rel=0.01)
    lo, hi = pure["alpha_N_ci95"]
    assert lo < pure["alpha_N"] < hi and hi - lo < 0.01 and pure["r2"] > 0.99
    floor = fit_loss_vs_size(n, (1.7 + (1e6 / n) ** 0.3) * noise, boot=200)
    assert floor["irreducible"] and floor["alpha_N"] == pytest.approx(0.3, rel=0.01)
    assert floor["E"] == pytest.approx(1.7, rel=0.01)


def test_frontier_is_the_lower_envelope_and_its_power_law():
    from repro.scaling.fit import PF_DAY, frontier
    law = lambda n, t: 2 * (6 * n * t / PF_DAY) ** -0.05      # noqa: E731
    small = (1e6, 1e7, [(t, law(1e6, t)) for t in (2e6, 5e6, 1e7)])          # on the law
    big = (1.6e7, 1e7, [(2e6, law(1.6e7, 2e6) + 0.5), (1e7, law(1.6e7, 1e7))])  # off, then on
    out = frontier([small, big])
    assert out["points"] == 4 and out["alpha_C"] == pytest.approx(0.05, rel=1e-6)
    assert out["coefficient"] == pytest.approx(2, rel=1e-6) and out["r2"] > 0.999999


def test_lr_follows_the_table_inside_and_its_slope_outside():
    from repro.scaling.ladder import lr_trend
    lr = lr_trend([(1e8, 6e-4), (3e8, 3e-4), (1e9, 2e-4)])
    assert lr(1e8) == pytest.approx(6e-4) and lr(3e8) == pytest.approx(3e-4)
    assert 3e-4 < lr(2e8) < 6e-4 and lr(1e6) > lr(1e7) > 6e-4


def test_ladder_of_the_small_scale_spans_30x_at_one_epoch_at_most():
    from repro.scaling.ladder import lr_anchors, rungs
    from repro_papers import PAPERS
    for paper in ("gpt2", "gpt3"):
        spec = PAPERS[paper]
        scale = spec.ladder.scales["small"]
        ladder = rungs(spec.ladder, scale, lr_anchors(spec))
        ns = [r.n_params_non_embedding for r in ladder]
        assert len(ladder) >= 6 and ns == sorted(ns) and ns[-1] / ns[0] >= 30
        assert all(r.d_model // r.n_head == 64 for r in ladder) and len(scale.seeded) >= 2
        assert scale.seeds >= 3


def test_scaling_refuses_bad_input_in_one_line(cli):
    for args, expected in ((["gpt1"], "gpt1 has no scaling ladder"),
                           (["gpt3", "--scale", "paper"], "no scale 'paper'"),
                           (["gpt3", "--jobs", "0"], "--jobs 0"),
                           (["gpt3", "--set", "train.tokens=10000000"], "at most one")):
        rc, out, err = cli("scaling", *args, "--out", "ladder", timeout=120)
        assert rc == 2 and err.strip().startswith("repro: error: ") and expected in err, err
        assert len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_scaling_tiny_end_to_end_writes_the_report_and_skips_finished_work(cli, tmp_path):
    import json
    out, reports = tmp_path / "ladder", tmp_path / "reports"
    args = ("scaling", "gpt3", "--scale", "tiny", "--out", out, "--report-dir", reports,
            "--jobs", "2")
    rc, _, err = cli(*args)
    assert rc == 0, err[-3000:]
    result = json.loads((reports / "gpt3-scaling-tiny.json").read_text())
    assert (reports / "gpt3-scaling-tiny.png").stat().st_size > 10_000
    assert result["device"] == "cpu" and len(result["sizes"]) == 3
    ns = [s["n_params_non_embedding"] for s in result["sizes"]]
    assert ns == [12 * 1 * 32 ** 2, 12 * 2 * 32 ** 2, 12 * 2 * 64 ** 2]
    for size in result["sizes"]:
        assert 0 < size["epochs"] <= 1 and size["tokens"] >= 12288
        assert 0 < size["val_loss"] < 11.5
        assert set(size["zero_shot"]) == {"lambada", "wikitext2", "ptb", "piqa",
                                          "in_domain_cloze"}
        assert size["zero_shot"]["in_domain_cloze"]["perplexity"] > 1
    fit = result["fit"]
    assert fit["alpha_N"] == fit["alpha_N"] and len(fit["alpha_N_ci95"]) == 2
    assert fit["r2"] <= 1 and fit["points"] == 3
    assert "L(N)" in (reports / "gpt3-scaling-tiny.md").read_text()
    rc, _, again = cli(*args)                    # everything finished: nothing runs again
    assert rc == 0 and "started" not in again and "report:" in again
