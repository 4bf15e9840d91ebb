"""Reliability of a training run as a user meets it: exact resume, data order, crash-safe
checkpoints, signals, the divergence guard and one-line errors that lose nothing.

Every run is a real `python -m repro ...` subprocess on the CPU (tiny scales, a few steps),
single-threaded, writing only under pytest's tmp folders (--out, REPRO_CACHE, HF_HOME).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from repro import checkpoint
from repro.errors import ReproError
from run_helpers import (NO_DROPOUT, TINY, assert_same_weights, by_step, checkpoints, ckpt_step,
                         metrics, ok, one_line_error, repro, run_dir_in, snapshot)

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def straight20(env, tmp_path_factory) -> Path:
    """chargpt tiny, 20 steps in one go: the reference the resumed runs must match exactly."""
    out = tmp_path_factory.mktemp("straight20") / "runs"
    ok(repro(env, out, *TINY, "--steps", "20"))
    return run_dir_in(out)


# ---- 1. exact resume -------------------------------------------------------------------------

def test_exact_resume(env, tmp_path, straight20):
    cfg = json.loads((straight20 / "config.json").read_text())
    assert cfg["model"]["resid_pdrop"] == 0.25  # dropout on: the RNG state must be restored too

    out = tmp_path / "runs"
    ok(repro(env, out, *TINY, "--steps", "10"))
    run = run_dir_in(out)
    assert [ckpt_step(p) for p in checkpoints(run)] == [10]
    proc = ok(repro(env, out, "chargpt", "--resume", str(run), "--steps", "20"))
    assert "resumed from ckpt-00000010.pt at step 10" in proc.stderr

    a, b = by_step(metrics(straight20)), by_step(metrics(run))
    assert sorted(b) == list(range(1, 21))      # no duplicated or missing rows after the resume
    for step in range(11, 21):
        assert b[step]["loss"] == a[step]["loss"], step
        assert b[step]["batch_hash"] == a[step]["batch_hash"], step
    assert b[20]["val_loss"] == a[20]["val_loss"]
    assert_same_weights(checkpoints(straight20)[-1], checkpoints(run)[-1])
    assert ckpt_step(checkpoints(run)[-1]) == 20

    # A changed model is refused, in one line, and the run is left as it was.
    before = snapshot(run)
    line = one_line_error(repro(env, out, "chargpt", "--resume", str(run), "--steps", "30",
                                "--set", "model.n_layer=3"), "model.n_layer changed 2 -> 3")
    assert str(run) in line
    assert snapshot(run) == before

    empty = tmp_path / "not-a-run"
    empty.mkdir()
    one_line_error(repro(env, out, "chargpt", "--resume", str(empty)), "not a run folder")
    assert list(empty.iterdir()) == []


# ---- 2. data order is a pure function of (seed, step) ----------------------------------------

def _assert_same_data_and_losses(ref: list[dict], other: list[dict], what: str) -> None:
    assert [r["step"] for r in other] == [r["step"] for r in ref], what
    assert [r["batch_hash"] for r in other] == [r["batch_hash"] for r in ref], what
    for r, o in zip(ref, other):
        assert o["loss"] == pytest.approx(r["loss"], rel=1e-5), (what, r["step"])
    assert other[-1]["val_loss"] == pytest.approx(ref[-1]["val_loss"], rel=1e-5), what


@pytest.mark.slow
def test_data_order_independent_of_micro_batch_and_world_size(env, launch, tmp_path):
    # Dropout off: dropout masks are drawn per forward, so they cannot match across a split
    # batch; the data and the gradient arithmetic are what this test pins.
    args = [*TINY, *NO_DROPOUT, "--steps", "8", "--device", "cpu"]
    ok(repro(env, tmp_path / "whole", *args))
    ref = metrics(run_dir_in(tmp_path / "whole"))
    assert len({r["batch_hash"] for r in ref}) == len(ref) == 8   # a new batch every step
    assert ref[0]["batch_size"] == 16

    ok(repro(env, tmp_path / "accum", *args, "--set", "train.micro_batch_size=8"))
    _assert_same_data_and_losses(ref, metrics(run_dir_in(tmp_path / "accum")), "2 x 8")

    launcher = launch(2)   # two gloo processes (conftest.py says how)
    proc = ok(repro(env, tmp_path / "ddp", *args, "--json", launcher=launcher, timeout=300))
    run = run_dir_in(tmp_path / "ddp")      # one folder, named once for both ranks
    summary = json.loads(proc.stdout)       # printed once (rank 0), so it parses as one object
    assert summary["world_size"] == 2
    assert json.loads((run / "env.json").read_text())["world_size"] == 2
    assert not (run / ".lock").exists()
    _assert_same_data_and_losses(ref, metrics(run), "2 processes")


# ---- 3. crash-safe checkpoints ---------------------------------------------------------------

def test_truncated_checkpoint_falls_back(env, tmp_path, straight20):
    out = tmp_path / "runs"
    ok(repro(env, out, *TINY, "--steps", "15", "--set", "train.checkpoint_interval=5"))
    run = run_dir_in(out)
    ckpts = checkpoints(run)
    assert [ckpt_step(p) for p in ckpts] == [10, 15]   # keep_checkpoints=2 pruned ckpt-5
    assert all(checkpoint.verified(p) for p in ckpts)
    newest = ckpts[-1]
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])   # a crash mid-write
    assert not checkpoint.verified(newest)

    proc = ok(repro(env, out, "chargpt", "--resume", str(run), "--steps", "20"))
    assert "ckpt-00000015.pt is incomplete or corrupt" in proc.stderr
    assert "falling back" in proc.stderr
    assert "resumed from ckpt-00000010.pt at step 10" in proc.stderr

    a, b = by_step(metrics(straight20)), by_step(metrics(run))
    assert sorted(b) == list(range(1, 21))
    for step in range(11, 21):
        assert b[step]["loss"] == a[step]["loss"], step
    assert [ckpt_step(p) for p in checkpoints(run)] == [15, 20]
    assert all(checkpoint.verified(p) for p in checkpoints(run))   # ckpt-15 rewritten whole
    assert_same_weights(checkpoints(straight20)[-1], checkpoints(run)[-1])


def test_checkpoint_sidecar_order_and_pruning(tmp_path, monkeypatch):
    ckdir = tmp_path / "checkpoints"
    events = []
    real_write = checkpoint.atomic_write_bytes

    def spy(path, data):   # the sidecar: by now the checkpoint must be complete and in place
        ckpt = path.with_suffix(".pt")
        events.append((path.name, ckpt.is_file(), checkpoint._sha256(ckpt) == data.decode(),
                       sorted(p.name for p in ckdir.glob("*.tmp"))))
        real_write(path, data)

    monkeypatch.setattr(checkpoint, "atomic_write_bytes", spy)
    for step in (1, 2, 3, 4):
        checkpoint.save(ckdir, step, {"step": step, "w": torch.full((3,), float(step))}, keep=2)
    assert events == [(f"ckpt-{s:08d}.sha256", True, True, []) for s in (1, 2, 3, 4)]
    assert sorted(p.name for p in ckdir.iterdir()) == [
        "ckpt-00000003.pt", "ckpt-00000003.sha256", "ckpt-00000004.pt", "ckpt-00000004.sha256"]

    # A crash after the file but before its sidecar: that checkpoint is skipped, not trusted.
    def crash(path, data):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "atomic_write_bytes", crash)
    with pytest.raises(OSError):
        checkpoint.save(ckdir, 5, {"step": 5}, keep=2)
    assert (ckdir / "ckpt-00000005.pt").is_file() and not checkpoint.verified(ckdir / "ckpt-00000005.pt")
    logged = []
    state, path = checkpoint.load_latest(ckdir, log=logged.append)
    assert (state["step"], path.name) == (4, "ckpt-00000004.pt")
    assert len(logged) == 1 and "ckpt-00000005.pt" in logged[0] and "falling back" in logged[0]

    for p in ckdir.glob("*.sha256"):
        p.write_text("0" * 64)
    with pytest.raises(ReproError, match="every checkpoint .* is corrupt"):
        checkpoint.load_latest(ckdir, log=logged.append)


# ---- 4. signals ------------------------------------------------------------------------------

def test_sigterm_saves_and_resume_continues(env, tmp_path):
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "repro", *TINY, "--set", "train.tokens=100000000",
           "--set", "train.checkpoint_interval=0", "--set", "train.eval_interval=0",
           "--out", str(out), "--no-report", "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline, rows = time.monotonic() + 120, []
        while time.monotonic() < deadline and proc.poll() is None:
            files = list(out.glob("*/*/metrics.jsonl"))
            if files and len(rows := metrics(files[0].parent)) >= 3:
                break
            time.sleep(0.1)
        assert proc.poll() is None and len(rows) >= 3, "the run did not get going"
        last_seen = rows[-1]["step"]
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr[-3000:]
    assert took < 20, took
    assert "resume with: python -m repro chargpt --resume" in stderr
    run = run_dir_in(out)
    ckpts = checkpoints(run)
    assert len(ckpts) == 1 and checkpoint.verified(ckpts[0])
    saved = ckpt_step(ckpts[0])
    assert saved >= last_seen
    assert f"SIGTERM: saved at step {saved}, resume with:" in stderr
    assert metrics(run)[-1]["step"] == saved   # the stop step is logged, nothing after it
    assert not (run / ".lock").exists()

    proc = ok(repro(env, out, "chargpt", "--resume", str(run), "--steps", str(saved + 3)))
    assert f"resumed from {ckpts[0].name} at step {saved}" in proc.stderr
    assert [r["step"] for r in metrics(run)] == list(range(1, saved + 4))
    assert ckpt_step(checkpoints(run)[-1]) == saved + 3


def _children_with_rank(pid: int) -> dict[int, int]:
    """{rank: pid} of the worker processes a launcher started (Linux /proc)."""
    out = {}
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit() and int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                env = dict(kv.split("=", 1) for kv in (d / "environ").read_text().split("\0") if "=" in kv)
                if "RANK" in env:
                    out[int(env["RANK"])] = int(d.name)
        except (OSError, ValueError, IndexError):
            continue
    return out


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the ranks through /proc")
def test_sigterm_to_one_rank_stops_all_ranks_together(env, launch, tmp_path):
    """A signal that reaches one rank only (or the ranks at different steps) must not leave the
    others waiting in a collective: the ranks agree at a log step, save once and exit 0."""
    out = tmp_path / "runs"
    cmd = [*launch(2), *TINY, *NO_DROPOUT,
           "--set", "train.tokens=100000000", "--device", "cpu", "--set", "train.log_interval=3",
           "--set", "train.eval_interval=0", "--out", str(out), "--no-report", "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline, rows = time.monotonic() + 120, []
        while time.monotonic() < deadline and proc.poll() is None:
            files = list(out.glob("*/*/metrics.jsonl"))
            if files and len(rows := metrics(files[0].parent)) >= 3:
                break
            time.sleep(0.1)
        ranks = _children_with_rank(proc.pid)
        assert proc.poll() is None and len(rows) >= 3 and sorted(ranks) == [0, 1], ranks
        last_seen = rows[-1]["step"]
        os.kill(ranks[1], signal.SIGTERM)      # rank 1 only
        _, stderr = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            for pid in _children_with_rank(proc.pid).values():
                os.kill(pid, signal.SIGKILL)
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr[-3000:]
    assert stderr.count("saved at step") == 1, stderr[-3000:]   # said once, by rank 0
    run = run_dir_in(out)
    ckpts = checkpoints(run)
    assert len(ckpts) == 1 and checkpoint.verified(ckpts[0])
    assert ckpt_step(ckpts[0]) >= last_seen and ckpt_step(ckpts[0]) % 3 == 0   # at a log step
    assert metrics(run)[-1]["step"] == ckpt_step(ckpts[0])


# ---- 5. divergence guard ---------------------------------------------------------------------

def nan_at_step(spec: str) -> list[str]:
    """The command of a run whose step N goes bad (tests/nan_at_step.py)."""
    return [sys.executable, str(Path(__file__).with_name("nan_at_step.py")), spec]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(env, tmp_path):
    out = tmp_path / "runs"
    proc = repro(env, out, *TINY, "--steps", "12", "--set", "train.checkpoint_interval=5",
                 launcher=nan_at_step("8"))
    line = one_line_error(proc, "loss became nan at step 8")
    assert "ckpt-00000005.pt is kept" in line
    run = run_dir_in(out)
    assert [ckpt_step(p) for p in checkpoints(run)] == [5]
    assert checkpoint.verified(checkpoints(run)[0])
    rows = metrics(run)
    assert [r["step"] for r in rows] == list(range(1, 8))   # nothing logged from the bad step
    assert not (run / ".lock").exists()

    # The same with a real divergence (an absurd learning rate): nothing saved before it.
    out2 = tmp_path / "runs-lr"
    line = one_line_error(repro(env, out2, *TINY, "--steps", "6", "--set", "optim.lr=1e6"),
                          "loss became nan at step")
    assert "no checkpoint was saved" in line
    assert checkpoints(run_dir_in(out2)) == []


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 grad scaling needs CUDA")
def test_fp16_overflow_step_is_skipped_not_fatal(env, tmp_path):
    out = tmp_path / "runs"
    # "N:grad": NaN gradients at step 3 with a finite loss, as an fp16 overflow looks.
    proc = ok(repro(env, out, *TINY, "--steps", "6", "--device", "cuda",
                    "--set", "train.precision=fp16", launcher=nan_at_step("3:grad")))
    rows = by_step(metrics(run_dir_in(out)))
    assert "skipped_steps" not in rows[2]
    assert all(rows[s]["skipped_steps"] == 1 for s in range(3, 7))
    assert all(r["loss"] == r["loss"] for r in rows.values())
    assert checkpoints(run_dir_in(out)) and "loss became" not in proc.stderr


# ---- 6. bad input: a clear one-line error, nothing lost ---------------------------------------

BAD_INPUT = [  # (id, argv with {run}/{locked_run}/{empty}/{files} placeholders, expected text)
    ("unknown-paper", ["nosuchpaper"], "unknown paper or command 'nosuchpaper'"),
    ("unknown-size", ["chargpt", "--size", "huge"], "unknown size 'huge' for chargpt"),
    ("unknown-scale", ["chargpt", "--scale", "enormous"], "unknown scale 'enormous'"),
    ("bad-steps", ["chargpt", "--steps", "ten"], "argument --steps: invalid int value: 'ten'"),
    ("unknown-key", ["chargpt", "--set", "model.n_lay=3"], "--set model.n_lay: unknown key"),
    ("wrong-type", ["chargpt", "--set", "model.n_layer=abc"],
     "--set model.n_layer='abc': expected int"),
    ("heads", ["chargpt", "--set", "model.n_embd=65"],
     "model.n_embd=65 is not divisible by model.n_head=2"),
    ("split-too-short", ["chargpt", "--set", "data.max_chars=50"],
     "training split has 50 tokens, fewer than block_size+1 = 65"),
    ("missing-path", ["chargpt", "--set", "data.path={files}/missing.txt"],
     "missing.txt: no such file or folder"),
    ("empty-file", ["chargpt", "--set", "data.path={files}/empty.txt"], "empty.txt is empty"),
    ("binary-file", ["chargpt", "--set", "data.path={files}/image.txt"],
     "image.txt is not UTF-8 text (bad byte at offset 0)"),
    ("short-corpus", ["chargpt", "--set", "data.path={files}/short.txt"],
     "fewer than block_size+1 = 65; use a larger corpus or a smaller model.block_size"),
    ("vocab", ["chargpt", "--set", "model.vocab_size=5"],
     "the data has token ids up to 64, outside model.vocab_size=5"),
    ("resume-not-a-run", ["chargpt", "--resume", "{empty}"], "not a run folder (no config.json)"),
    ("resume-other-paper", ["adder", "--resume", "{run}"], "that run is 'chargpt', not 'adder'"),
    ("resume-changed-model", ["chargpt", "--resume", "{run}", "--set", "model.n_layer=3"],
     "model.n_layer changed 2 -> 3"),
    ("resume-in-use", ["chargpt", "--resume", "{locked_run}"],
     f"is in use by another run (pid {os.getpid()})"),
]


@pytest.mark.parametrize("argv, expected", [r[1:] for r in BAD_INPUT], ids=[r[0] for r in BAD_INPUT])
def test_bad_input_one_line_error_nothing_lost(env, tmp_path, straight20, argv, expected):
    files = tmp_path / "files"
    files.mkdir()
    (files / "empty.txt").write_bytes(b"")
    (files / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (files / "short.txt").write_text("To be, or not to be.\n" * 2)
    (tmp_path / "empty").mkdir()
    out = tmp_path / "runs"
    run = out / "chargpt-tiny" / "existing-run"
    shutil.copytree(straight20, run)
    if any("{locked_run}" in a for a in argv):
        (run / ".lock").write_text(str(os.getpid()))   # a live process holds it: this test
    argv = [a.format(run=run, locked_run=run, empty=tmp_path / "empty", files=files) for a in argv]
    before = snapshot(out)

    one_line_error(repro(env, out, *argv), expected)   # the default scale is tiny
    after = snapshot(out)
    assert sorted(after) == sorted(before), "files appeared or vanished under --out"
    assert after == before, "an existing run was modified"


def test_out_of_gpu_memory_names_the_knob(monkeypatch, capsys):
    import repro.cli as cli

    def oom(argv):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(cli, "dispatch", oom)
    with pytest.raises(SystemExit) as exc:
        cli.main(["gpt2", "--scale", "small"])
    assert exc.value.code == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["repro: error: out of GPU memory; lower --set train.micro_batch_size=N "
                   "(gradient accumulation keeps the batch) or use a smaller --scale/--size"]


def test_same_second_runs_get_their_own_folders(tmp_path):
    from repro.rundir import RunDir
    a = RunDir.create(tmp_path / "chargpt-tiny", "20250101-000000-s0-abcdef").path
    b = RunDir.create(tmp_path / "chargpt-tiny", "20250101-000000-s0-abcdef").path
    assert a != b and a.is_dir() and b.is_dir()
    assert b.name == "20250101-000000-s0-abcdef-2"
