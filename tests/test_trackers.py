"""Experiment trackers through Accelerate (train.log_with, issue 29): TensorBoard's events carry
the metrics.jsonl series, step for step, across a resume; a tracker that is not installed is
refused before anything is created. CPU, offline."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import yaml

from repro.cli import main
from run_helpers import TINY, metrics, ok, repro, run_dir_in

SERIES = ("loss", "lr", "tokens_per_s", "val_loss")


def events(folder) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in SERIES}


@pytest.mark.slow   # two tiny runs in their own processes: ~30 s on 2 cores
def test_tensorboard_logs_the_metrics_series_across_a_resume(env, tmp_path):
    out = tmp_path / "runs"
    every_2 = ["--set", "train.eval_interval=2", "--set", "train.log_interval=2",
               "--set", "train.log_with=tensorboard"]
    ok(repro(env, out, *TINY, "--steps", "4", *every_2))
    run = run_dir_in(out)
    ok(repro(env, out, "chargpt", "--resume", str(run), "--steps", "8"))
    rows = metrics(run)
    assert [r["step"] for r in rows] == [2, 4, 6, 8]
    logged = events(run / "chargpt-tiny")          # <run>/<project>: Accelerate's layout
    for tag in SERIES:
        want = [(r["step"], np.float32(r[tag])) for r in rows if tag in r]
        assert logged[tag] == want, tag            # the same steps and values, in float32
    hparams = [yaml.safe_load(p.read_text()) for p in run.glob("chargpt-tiny/*/hparams.yml")]
    assert len(hparams) == 1                       # the config once, at the start
    config = json.loads((run / "config.json").read_text())
    assert hparams[0]["model.n_layer"] == config["model"]["n_layer"]
    assert (hparams[0]["train.steps"], config["train"]["steps"]) == (4, 8)


def test_missing_tracker_refused_up_front(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "wandb", None)   # import wandb raises ImportError
    out = tmp_path / "runs"
    with pytest.raises(SystemExit) as stop:
        main(["chargpt", "--scale", "tiny", "--out", str(out), "--no-report", "--no-progress",
              "--set", "train.log_with=wandb"])
    assert stop.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["repro: error: train.log_with=wandb: wandb is not installed; pip install "
                     "wandb (or leave train.log_with=none)"]
    assert not out.exists()
