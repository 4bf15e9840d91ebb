"""End to end: `python -m repro <paper> --scale tiny --json --out TMP --report-dir TMP` for every
paper, exactly as the README tells a user, on the CPU. Each run must exit 0, leave a complete
run folder (config, metrics, environment, a verified checkpoint), and learn: the last logged
training loss is below the first by a margin measured on these tiny recipes (noted per paper).

The runs are started together, two at a time (each one single-threaded), when the module's
first test asks for them; `-m "not slow"` leaves the three slowest out.

Golden curves (torchtitan style): each paper's per-step training losses are committed in
tests/golden/<paper>-tiny.txt and compared to 1e-5 relative. Bits are not portable: against the
committed curves, the same code on another machine (AMD EPYC, kernels pinned to AVX2) moved one
paper's by 1e-7 under torch 2.13.0 and all eight by up to 3e-7 under 2.14.1 (float32 roundings
over 60-150 steps); 1e-5 is some 30 times that, and still about 1e-4 nats a step. A change that moves them must
update them on purpose: `REPRO_UPDATE_GOLDEN=1 python -m pytest tests/test_train_tiny.py -k golden`.
"""
from __future__ import annotations

import json
import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from repro.checkpoint import load_latest
from repro.config import Config
from repro.rundir import read_jsonl
from repro.schedule import BatchPlan, lr_multiplier

# Margin (nats) the last logged train loss must clear below the first. Measured on 2 CPU cores,
# seed 0: gpt2 10.83 -> 7.10, gpt1 10.62 -> 6.92, gpt3 10.82 -> 7.36, words 10.83 -> 7.03,
# chargpt 4.19 -> 2.73, igpt 2.77 -> 2.03, imagegpt 2.51 -> 1.94 (16 colours), adder 2.41 -> ~1.5.
MARGIN = {"gpt2": 2.5, "gpt1": 2.5, "gpt3": 2.5, "words": 2.5, "chargpt": 1.0,
          "igpt": 0.4, "imagegpt": 0.4, "adder": 0.5}
SLOW = {"gpt1", "gpt3", "words"}               # 35-45 s each on 2 cores
ORDER = ["gpt3", "gpt1", "gpt2", "words", "chargpt", "adder", "igpt", "imagegpt"]  # longest first
PARAMS = [pytest.param(p, marks=pytest.mark.slow) if p in SLOW else p for p in ORDER]
METRIC_KEYS = {"step", "tokens", "loss", "lr", "tokens_per_s", "batch_hash"}
GOLDEN = Path(__file__).resolve().parent / "golden"
GOLDEN_RTOL = 1e-5   # see the module docstring


def _run(cli, paper: str, root: Path) -> dict:
    out, reports = root / "runs", root / "reports" / paper
    rc, stdout, stderr = cli(paper, "--scale", "tiny", "--json", "--out", out,
                             "--report-dir", reports, "--no-progress", timeout=600)
    return {"rc": rc, "stdout": stdout, "stderr": stderr, "reports": reports}


@pytest.fixture(scope="module")
def runs(request, cli, tmp_path_factory):
    """paper -> result of its tiny run, for the papers whose tests were selected."""
    wanted = {item.callspec.params["paper"] for item in request.session.items
              if item.module is request.module and hasattr(item, "callspec")
              and "paper" in item.callspec.params}
    root = tmp_path_factory.mktemp("tiny")
    workers = 2 if (os.cpu_count() or 1) >= 2 else 1
    with ThreadPoolExecutor(workers) as pool:
        futures = {p: pool.submit(_run, cli, p, root) for p in ORDER if p in wanted}
        return {p: f.result() for p, f in futures.items()}


def _finished(runs, paper) -> tuple[dict, Path]:
    r = runs[paper]
    assert r["rc"] == 0, f"exit {r['rc']}\n{r['stderr'][-3000:]}"
    summary = json.loads(r["stdout"])            # --json: stdout is the run summary, nothing else
    return summary, Path(summary["run_dir"])


@pytest.mark.parametrize("paper", PARAMS)
def test_tiny_run(runs, paper):
    summary, run_dir = _finished(runs, paper)
    assert run_dir.parent.name == f"{paper}-tiny"
    assert (summary["paper"], summary["scale"], summary["device"]) == (paper, "tiny", "cpu")

    config = json.loads((run_dir / "config.json").read_text())
    assert (config["paper"], config["scale"], config["train"]["seed"]) == (paper, "tiny", 0)
    assert config["model"]["vocab_size"] > 0        # char-level vocabularies are filled in

    rows = read_jsonl(run_dir / "metrics.jsonl")
    assert rows and all(METRIC_KEYS <= set(r) for r in rows)
    assert [r["step"] for r in rows] == list(range(1, summary["steps"] + 1))  # log_interval 1
    assert all(b["tokens"] > a["tokens"] for a, b in zip(rows, rows[1:]))
    assert rows[-1]["tokens"] == summary["tokens"]
    assert all(math.isfinite(r["loss"]) and r["tokens_per_s"] > 0 for r in rows)
    assert len({r["batch_hash"] for r in rows}) > len(rows) // 2  # different batches each step
    cfg = Config.from_dict(config)       # the logged lr is the one each step used
    plan = BatchPlan(cfg)
    horizon = cfg.train.tokens or plan.tokens_before(plan.total_steps)
    for r in rows:
        assert r["lr"] == pytest.approx(cfg.optim.lr * lr_multiplier(r["tokens"], cfg.schedule,
                                                                      horizon), rel=1e-6)
    report = (runs[paper]["reports"] / f"{paper}-tiny.md").read_text()
    assert "| variant" not in report and "No run here" not in report   # the recipe itself
    every = config["train"]["eval_interval"]
    evals = [r["step"] for r in rows if "val_loss" in r]
    assert evals == [s for s in range(1, summary["steps"] + 1)
                     if (every and s % every == 0) or s == summary["steps"]]
    assert rows[-1]["val_loss"] == pytest.approx(summary["final_val_loss"])
    assert rows[-1]["lr"] < max(r["lr"] for r in rows)           # the schedule decays
    assert max(r["lr"] for r in rows) == pytest.approx(config["optim"]["lr"], rel=0.1)

    # it learns: the last logged train loss is clearly below the first
    first, last = rows[0]["loss"], rows[-1]["loss"]
    assert first - last > MARGIN[paper], (first, last)
    assert summary["final_loss"] == pytest.approx(last)

    env = json.loads((run_dir / "env.json").read_text())
    assert env["device"] == "cpu" and env["seed"] == 0 and env["git_commit"]
    assert env["versions"]["torch"] and env["versions"]["accelerate"]

    state, path = load_latest(run_dir / "checkpoints")            # checksum-verified
    assert state["step"] == summary["steps"] and path.name.endswith(".pt")
    assert state["config"]["paper"] == paper and "model" in state and "optimizer" in state


def test_gpt2_tiny_report(runs):
    if "gpt2" not in runs:
        pytest.skip("the gpt2 run was not selected")
    summary, run_dir = _finished(runs, "gpt2")
    # 2 x 32 GPT-2 with the full 50,257-token vocabulary: (V + T)·d + L·(12d² + 13d) + 2d
    d, L, V, T = 32, 2, 50257, 32
    assert summary["params"] == (V + T) * d + L * (12 * d * d + 13 * d) + 2 * d == 1_634_720
    reports = runs["gpt2"]["reports"]
    md, png, js = (reports / f"gpt2-tiny.{ext}" for ext in ("md", "png", "json"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = json.loads(js.read_text())
    assert (result["paper"], result["scale"], result["device"], result["params"]) == \
        ("gpt2", "tiny", "cpu", summary["params"])
    assert result["headline_runs"] == {"reference": [], "yours": [run_dir.name]}
    yours = result["stats"]["yours"]
    for key, name in (("final_loss", "final_loss"), ("final_val_loss", "val_loss (slice)"),
                      ("val_loss_full", "val_loss (whole split)"), ("wall_s", "wall_s")):
        stats = yours[name]
        assert stats["n"] == 1 and stats["min"] == stats["mean"] == stats["max"] == \
            pytest.approx(summary[key])
    assert yours["tokens_per_s"]["mean"] > 0
    assert all("unknown" not in c for c in result["run_commits"] + [result["report_commit"]])
    text = md.read_text()
    assert text.startswith("# GPT-2")
    assert "python -m repro gpt2 --scale tiny" in text and "gpt2-tiny.png" in text
    assert "124,439,808" in text                    # the parameter table of the paper sizes
    assert "| paper (source) | inferred (source) |" in text
    assert not (reports / "runs").exists()          # a report writes no evidence


def test_reference_evidence_is_only_read(runs, cli, tmp_path):
    """--add copies a run into the reference evidence (marked EVIDENCE.json); reports read it
    beside the user's runs and never change either; --reference rebuilds the committed report
    from the evidence alone; --resume refuses the copy, naming the run."""
    if "gpt2" not in runs:
        pytest.skip("the gpt2 run was not selected")
    _, run_dir = _finished(runs, "gpt2")
    ref = tmp_path / "reports"
    rc, out, err = cli("report", "gpt2", "--scale", "tiny", "--runs", run_dir.parent.parent,
                       "--reference-dir", ref, "--reference", "--add", run_dir)
    assert rc == 0, err
    copy = ref / "runs" / "gpt2-tiny" / run_dir.name
    assert json.loads((copy / "EVIDENCE.json").read_text())["run"] == str(run_dir.resolve())
    assert (copy / "metrics.jsonl").read_bytes() == (run_dir / "metrics.jsonl").read_bytes()
    assert (ref / "gpt2-tiny.md").is_file()
    evidence = {p: p.read_bytes() for p in (ref / "runs").rglob("*") if p.is_file()}
    original = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    # yours beside the reference: the same run twice, once from each place
    rc, _, err = cli("report", "gpt2", "--scale", "tiny", "--runs", run_dir.parent.parent,
                     "--reference-dir", ref, "--out", tmp_path / "local")
    assert rc == 0, err
    result = json.loads((tmp_path / "local" / "gpt2-tiny.json").read_text())
    assert result["headline_runs"] == {"reference": [run_dir.name], "yours": [run_dir.name]}
    assert {p: p.read_bytes() for p in (ref / "runs").rglob("*") if p.is_file()} == evidence
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == original
    rc, out, err = cli("gpt2", "--resume", copy, "--no-progress")
    assert rc == 2 and err.strip().splitlines() == [
        f"repro: error: --resume {copy}: this is a report's evidence copy, not a run; the run "
        f"is at {run_dir.resolve()}"]


@pytest.mark.parametrize("paper", [p for p in ORDER if p not in SLOW])
def test_demo_extras(runs, paper):
    """What each demo adds to its summary: held-out sums (adder), probes (image models)."""
    summary, run_dir = _finished(runs, paper)
    if paper == "adder":
        held = json.loads((run_dir / "heldout.json").read_text())
        assert held["heldout_problems"] == 1000     # minGPT's held-out set size
        assert summary["heldout_accuracy"] == pytest.approx(1 - held["heldout_errors"] / 1000)
    elif paper in ("igpt", "imagegpt"):
        probe = json.loads((run_dir / "probe.json").read_text())
        acc = probe["probe_val_accuracy_per_layer"]
        # 10 classes: chance is 10%; measured 20-30% per layer on these tiny runs
        assert len(acc) == 3 and min(acc) > 0.15 and probe["probe_test_accuracy"] > 0.15
        assert summary["probe_best_layer"] == acc.index(max(acc))   # chosen on validation; 0..L
        assert (probe["probe_val_images"], probe["probe_test_images"]) == (100, 2000)
        assert summary["test_loss"] > 0 and summary["val_loss_full"] > 0
        assert (run_dir / "samples.png").read_bytes()[:4] == b"\x89PNG"
    else:
        assert (run_dir / "sample.txt").read_text().strip()


@pytest.mark.parametrize("paper", PARAMS)
def test_golden_loss_curve(runs, paper):
    """The per-step losses of the tiny run against the committed curve (to GOLDEN_RTOL)."""
    _, run_dir = _finished(runs, paper)
    losses = [r["loss"] for r in read_jsonl(run_dir / "metrics.jsonl")]
    path = GOLDEN / f"{paper}-tiny.txt"
    if os.environ.get("REPRO_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text("\n".join(map(repr, losses)) + "\n")
    assert path.is_file(), f"no golden curve {path}; make it with REPRO_UPDATE_GOLDEN=1"
    golden = [float(v) for v in path.read_text().split()]
    assert len(losses) == len(golden), (len(losses), len(golden))
    moved = [i + 1 for i, (a, b) in enumerate(zip(losses, golden))
             if not math.isclose(a, b, rel_tol=GOLDEN_RTOL, abs_tol=0.0)]
    assert not moved, (f"{paper}: the loss of steps {moved[:10]} moved (first: {golden[moved[0] - 1]} "
                       f"-> {losses[moved[0] - 1]}); if on purpose, regenerate (module docstring)")
