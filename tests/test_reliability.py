"""Reliability of a training run as a user meets it: exact resume, data order, crash-safe
checkpoints, signals, kill -9, a full disk, the divergence guard and one-line errors that lose
nothing.

Every training run is a real `python -m repro ...` subprocess on the CPU (tiny scales, a few
steps), single-threaded, writing only under pytest's tmp folders (--out, REPRO_CACHE, HF_HOME).
To keep the suite fast the tests share one reference run (straight20): a test that needs a run
stopped part-way starts from a copy of it cut back as a kill -9 would leave it
(run_helpers.crashed_copy) and runs only the steps it checks; the table of misuses (section 7)
runs in one process (tests/cli_batch.py), its folders snapshotted before and after each case.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import string
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from repro import checkpoint
from repro.errors import ReproError
from repro.rundir import RunDir
from run_helpers import (NO_DROPOUT, REPO, TINY, assert_same_weights, by_step, checkpoints,
                         ckpt_step, crashed_copy, ends_in_one_error_line, metrics, ok,
                         one_line_error, repro, run_dir_in, snapshot)

torch.set_num_threads(1)
TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def straight20(env, tmp_path_factory) -> Path:
    """chargpt tiny, 20 steps in one go with a checkpoint every 5 (10, 15 and 20 kept): the
    reference the resumed runs must match exactly, and the run the other tests copy."""
    out = tmp_path_factory.mktemp("straight20") / "runs"
    ok(repro(env, out, *TINY, "--steps", "20", "--set", "train.checkpoint_interval=5",
             "--set", "train.keep_checkpoints=3"))
    run = run_dir_in(out)
    assert [ckpt_step(p) for p in checkpoints(run)] == [10, 15, 20]
    return run


def fault(spec: str) -> list[str]:
    """The command of a run with an injected fault (tests/faults.py says which)."""
    return [sys.executable, str(TESTS / "faults.py"), spec]


def assert_continues_straight20(run: Path, straight20: Path, resumed_at: int) -> None:
    """Steps after `resumed_at` logged once each and bit for bit as in the straight run, and
    the same final weights."""
    a, b = by_step(metrics(straight20)), by_step(metrics(run))
    assert [r["step"] for r in metrics(run)] == list(range(1, 21))   # none repeated or missing
    for step in range(resumed_at + 1, 21):
        assert b[step]["loss"] == a[step]["loss"], step
        assert b[step]["batch_hash"] == a[step]["batch_hash"], step
    assert b[20]["val_loss"] == a[20]["val_loss"]
    assert ckpt_step(checkpoints(run)[-1]) == 20
    assert_same_weights(checkpoints(straight20)[-1], checkpoints(run)[-1])


# ---- 1. exact resume -------------------------------------------------------------------------

def test_exact_resume_past_a_truncated_checkpoint(env, tmp_path, straight20):
    """Killed at step 17 with ckpt-15 damaged (cut in half, as a failing disk or a copy cut
    short leaves it): the resume says so, falls back to ckpt-10 and takes steps 11-20 again bit
    for bit, each logged once."""
    cfg = json.loads((straight20 / "config.json").read_text())
    assert cfg["model"]["resid_pdrop"] == 0.25  # dropout on: the RNG state must be restored too
    out = tmp_path / "runs"
    run = crashed_copy(straight20, out / "chargpt-tiny" / "run", ckpt=15, logged=17)
    newest = checkpoints(run)[-1]
    assert ckpt_step(newest) == 15 and checkpoint.verified(newest)
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])   # a crash mid-write
    assert not checkpoint.verified(newest)

    proc = ok(repro(env, out, "chargpt", "--resume", str(run), "--steps", "20"))
    assert "ckpt-00000015.pt is incomplete or corrupt" in proc.stderr
    assert "falling back" in proc.stderr
    assert "resumed from ckpt-00000010.pt at step 10" in proc.stderr
    assert [ckpt_step(p) for p in checkpoints(run)] == [10, 15, 20]
    assert all(checkpoint.verified(p) for p in checkpoints(run))   # ckpt-15 rewritten whole
    assert_continues_straight20(run, straight20, resumed_at=10)


def test_resume_without_checkpoint_restarts_in_place(env, tmp_path, straight20):
    """kill -9 before the first checkpoint: --resume starts the run again from step 0 in its own
    folder, says so, takes over the dead process's lock and finishes."""
    out = tmp_path / "runs"
    run = crashed_copy(straight20, out / "chargpt-tiny" / "run", ckpt=0, logged=4)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (run / ".lock").write_text(dead)
    proc = ok(repro(env, out, "chargpt", "--resume", str(run), "--steps", "3"))
    assert f"no checkpoint in {run}: restarting it from step 0 in the same folder" in proc.stderr
    assert [p.name for p in (out / "chargpt-tiny").iterdir()] == ["run"]   # in place
    rows, ref = metrics(run), by_step(metrics(straight20))
    assert [r["step"] for r in rows] == [1, 2, 3]          # the old rows 1-4 are gone
    assert [r["loss"] for r in rows] == [ref[s]["loss"] for s in (1, 2, 3)]
    assert json.loads((run / "summary.json").read_text())["steps"] == 3
    assert [ckpt_step(p) for p in checkpoints(run)] == [3] and not (run / ".lock").exists()


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

def test_disk_full_while_saving_keeps_the_previous_checkpoint(env, tmp_path, straight20):
    """The disk fills part-way through ckpt-20 (tests/faults.py): one line naming both
    checkpoints, exit 2, the temp file gone, the earlier checkpoints untouched and verified."""
    out = tmp_path / "runs"
    run = crashed_copy(straight20, out / "chargpt-tiny" / "run", ckpt=15, logged=17)
    before = snapshot(run / "checkpoints")
    proc = repro(env, out, "chargpt", "--resume", str(run), "--steps", "20",
                 launcher=fault("disk-full-at-save:1"))
    ends_in_one_error_line(proc, "no space left on device while saving ckpt-00000020; the "
                                 "previous checkpoint ckpt-00000015 is kept")
    assert snapshot(run / "checkpoints") == before   # no .tmp, no ckpt-20, 10 and 15 unchanged
    assert all(checkpoint.verified(p) for p in checkpoints(run))
    assert checkpoint.newest_verified(run / "checkpoints").name == "ckpt-00000015.pt"
    assert not (run / "summary.json").exists() and not (run / ".lock").exists()


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
    with pytest.raises(ReproError, match="every checkpoint .* is damaged"):
        checkpoint.load_latest(ckdir, log=logged.append)


# ---- 4. signals ------------------------------------------------------------------------------

def _wait_for(proc: subprocess.Popen, condition, what: str, timeout: float = 120):
    """condition()'s first true value while proc runs, polled every 50 ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if got := condition():
            return got
        time.sleep(0.05)
    raise AssertionError(f"no {what} within {timeout:.0f} s (exit {proc.poll()})")


def test_kill9_then_sigterm_then_resume(env, tmp_path):
    """kill -9 three steps after a time-based checkpoint (every scale saves every
    train.checkpoint_seconds; the tiny recipes have no step interval): the resume takes over the
    dead process's lock, starts at that checkpoint and takes the lost steps again bit for bit.
    SIGTERM then saves at the next step and exits 0 within seconds, and the last resume goes on
    from that save to the end."""
    out = tmp_path / "runs"

    def start(*args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "repro", *args, "--out", str(out),
                                 "--no-report", "--no-progress"], env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def saved_and_three_more():
        dirs = list(out.glob("*/*/checkpoints"))
        saved = dirs and checkpoint.newest_verified(dirs[0])
        return saved and metrics(dirs[0].parent)[-1]["step"] >= ckpt_step(saved) + 3

    proc = start(*TINY, "--set", "train.tokens=100000000", "--set", "train.checkpoint_seconds=2",
                 "--set", "train.eval_interval=0")
    try:
        _wait_for(proc, saved_and_three_more, "time-based checkpoint")
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    run = run_dir_in(out)
    assert (run / ".lock").exists() and not (run / "summary.json").exists()   # kill -9 left it so
    k = ckpt_step(checkpoint.newest_verified(run / "checkpoints"))
    killed = by_step(metrics(run))
    assert max(killed) > k, "killed right after a save: no lost steps to compare"

    before = (run / "metrics.jsonl").stat().st_mtime_ns
    proc = start("chargpt", "--resume", str(run))

    def past_the_kill():
        fresh = (run / "metrics.jsonl").stat().st_mtime_ns > before
        return fresh and (rows := metrics(run)) and rows[-1]["step"] >= max(killed) and rows
    try:
        rows = _wait_for(proc, past_the_kill, "resumed run logging past the kill")
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr[-3000:]
    assert f"resumed from ckpt-{k:08d}.pt at step {k}" in stderr
    redone = by_step(rows)
    for step in range(k + 1, max(killed) + 1):
        assert (redone[step]["loss"], redone[step]["batch_hash"]) == \
            (killed[step]["loss"], killed[step]["batch_hash"]), step
    assert took < 20, took
    saved = ckpt_step(checkpoint.newest_verified(run / "checkpoints"))
    assert saved >= rows[-1]["step"]
    assert f"SIGTERM: saved at step {saved}, resume with: python -m repro chargpt --resume " \
           f"{run}" in stderr
    assert metrics(run)[-1]["step"] == saved   # the stop step is logged, nothing after it
    assert not (run / ".lock").exists()

    proc = ok(repro(env, out, "chargpt", "--resume", str(run), "--steps", str(saved + 3)))
    assert f"resumed from ckpt-{saved:08d}.pt at step {saved}" in proc.stderr
    assert [r["step"] for r in metrics(run)] == list(range(1, saved + 4))
    assert json.loads((run / "summary.json").read_text())["steps"] == saved + 3
    assert ckpt_step(checkpoints(run)[-1]) == saved + 3 and not (run / ".lock").exists()


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


# ---- 6. the report after a run ---------------------------------------------------------------

def test_report_failure_after_a_saved_run_is_one_line(env, tmp_path, straight20):
    """The report raises a plain RuntimeError (tests/faults.py) after the run finished: one line
    saying the run is saved and where, exit 2, the run complete and nothing reported."""
    out, reports = tmp_path / "runs", tmp_path / "reports"
    run = crashed_copy(straight20, out / "chargpt-tiny" / "run", ckpt=15, logged=15)
    proc = repro(env, out, "chargpt", "--resume", str(run), "--steps", "20",
                 launcher=fault("report-raises"), report_dir=reports)
    line = ends_in_one_error_line(proc, f"the run finished and is saved in {run}, but its report "
                                        f"could not be written: RuntimeError: injected report "
                                        f"failure")
    assert line.endswith("injected report failure")      # the first line of the error only
    assert json.loads((run / "summary.json").read_text())["steps"] == 20
    assert checkpoint.verified(checkpoints(run)[-1]) and not (run / ".lock").exists()
    assert_continues_straight20(run, straight20, resumed_at=15)
    assert not reports.exists()


def test_resumed_run_reports_from_its_own_runs_root(kept_image_run):
    """Issue 21: a run kept under its own --out and resumed without one is reported from the
    runs root it lives in (keep/), into --report-dir, and the resume exits 0."""
    r = kept_image_run
    assert "SIGTERM: saved at step 30, resume with: python -m repro igpt --resume keep/" \
        in r["first"].stderr
    proc = ok(r["second"])
    assert "resumed from ckpt-00000030.pt at step 30" in proc.stderr
    assert "report: rep/igpt-tiny.md" in proc.stderr
    assert json.loads(proc.stdout)["steps"] == 60
    result = json.loads((r["cwd"] / "rep" / "igpt-tiny.json").read_text())
    assert result["headline_runs"] == {"reference": [], "yours": [r["run"].name]}
    assert [(row["run"], row["steps"]) for row in result["run_rows"]] == [(r["run"].name, 60)]
    assert not (r["cwd"] / "runs").exists()                # the default --out was not used


def test_tiny_image_run_writes_only_under_out_and_report_dir(kept_image_run):
    """A tiny image run and its resume, from an empty working folder, write only under --out
    and --report-dir (caches go to REPRO_CACHE/HF_HOME), and leave no untracked file in the
    repository; the default places of runs and reports are ignored by git."""
    r = kept_image_run
    ok(r["second"])
    assert sorted(p.name for p in r["cwd"].iterdir()) == ["keep", "rep"]
    assert sorted(p.name for p in (r["cwd"] / "rep").iterdir()) == [
        "igpt-tiny-probe.png", "igpt-tiny-samples.png", "igpt-tiny.json", "igpt-tiny.md",
        "igpt-tiny.png"]
    md = (r["cwd"] / "rep" / "igpt-tiny.md").read_text()   # the probe, chosen on validation
    assert "### Linear probe" in md and "| best (val) | test at best |" in md
    before, after = r["untracked"]
    if before is None:
        pytest.skip("not a git checkout")
    # A run writes no Python source: .py files are other work in the same checkout
    assert {f for f in after - before if not f.endswith(".py")} == set(), \
        "untracked files appeared in the repository"
    ignored = subprocess.run(["git", "check-ignore", "runs/gpt2-tiny/x/config.json",
                              "reports/local/igpt-tiny-samples.png"], cwd=REPO,
                             capture_output=True, text=True).stdout.split()
    assert ignored == ["runs/gpt2-tiny/x/config.json", "reports/local/igpt-tiny-samples.png"]


# ---- 7. bad input: a clear one-line error, nothing lost ---------------------------------------

def train(*argv: str, out: str = "{out}") -> list[str]:
    """A training command line of the table: --out, no report, no progress bars."""
    return [*argv, "--out", out, "--no-report", "--no-progress"]


BAD_INPUT = [  # (id, argv, expected text); {names} are the case's folders (PLACES)
    ("unknown-paper", ["nosuchpaper"], "unknown paper or command 'nosuchpaper'"),
    ("unknown-size", train("chargpt", "--size", "huge"), "unknown size 'huge' for chargpt"),
    ("unknown-scale", train("chargpt", "--scale", "enormous"), "unknown scale 'enormous'"),
    ("report-unknown-scale", ["report", "gpt2", "--scale", "huge", "--runs", "{out}", "--out",
                              "{empty}"],
     "unknown scale 'huge' for gpt2; choose from: tiny, small, medium, paper"),
    ("bad-steps", train("chargpt", "--steps", "ten"), "--steps ten: expected an integer"),
    ("steps-negative", train("chargpt", "--steps", "-1"), "--steps -1: must be positive"),
    ("steps-zero", train("chargpt", "--steps", "0"), "--steps 0: must be positive"),
    ("steps-past-schedule", train("chargpt", "--steps", "151"),
     "train.steps=151 runs past the end of the schedule (150 steps"),
    ("adder-steps-negative", train("adder", "--steps", "-5"), "--steps -5: must be positive"),
    ("seed-negative", train("chargpt", "--seed", "-1"), "--seed -1: must not be negative"),
    ("device-unknown", train("chargpt", "--device", "bogus"),
     "train.device='bogus' is not one of: auto, cpu, cuda"),
    ("lr-inf", train("chargpt", "--set", "optim.lr=inf"), "optim.lr=inf: not a finite number"),
    ("lr-nan", train("chargpt", "--set", "optim.lr=nan"), "optim.lr=nan: not a finite number"),
    ("unknown-key", train("chargpt", "--set", "model.n_lay=3"), "--set model.n_lay: unknown key"),
    ("wrong-type", train("chargpt", "--set", "model.n_layer=abc"),
     "model.n_layer=abc: expected an integer"),
    ("heads", train("chargpt", "--set", "model.n_embd=65"),
     "model.n_embd=65 is not divisible by model.n_head=2"),
    ("split-too-short", train("chargpt", "--set", "data.max_chars=50"),
     "training split has 50 tokens, fewer than block_size+1 = 65"),
    ("missing-path", train("chargpt", "--set", "data.path={files}/missing.txt"),
     "missing.txt: no such file or folder"),
    ("empty-file", train("chargpt", "--set", "data.path={files}/empty.txt"), "empty.txt is empty"),
    ("binary-file", train("chargpt", "--set", "data.path={files}/image.txt"),
     "image.txt is not UTF-8 text (bad byte at offset 0)"),
    ("short-corpus", train("chargpt", "--set", "data.path={files}/short.txt"),
     "fewer than block_size+1 = 65; use a larger corpus or a smaller model.block_size"),
    ("vocab", train("chargpt", "--set", "model.vocab_size=5"),
     "the data has token ids up to 64, outside model.vocab_size=5"),
    ("hub-alias-offline", train("gpt2", "--set", "data.dataset=openwebtext"),
     "could not load hub dataset 'Skylion007/openwebtext'"),   # the alias, resolved
    ("out-read-only", train("chargpt", out="/sys"),            # refused to root as well
     "--out /sys: cannot write in /sys ("),
    ("out-is-file", train("chargpt", out="{files}/empty.txt"),
     "--out {files}/empty.txt: {files}/empty.txt is a file, not a folder"),
    ("out-below-file", train("chargpt", out="{files}/empty.txt/runs"),
     "--out {files}/empty.txt/runs: {files}/empty.txt is a file, not a folder"),
    ("resume-not-a-run", train("chargpt", "--resume", "{empty}"),
     "not a run folder (no config.json)"),
    ("resume-other-paper", train("adder", "--resume", "{run}"),
     "that run is 'chargpt', not 'adder'"),
    ("resume-changed-model", train("chargpt", "--resume", "{run}", "--set", "model.n_layer=3"),
     "refusing to resume {run}: model.n_layer changed 2 -> 3"),
    ("resume-changed-seed", train("chargpt", "--resume", "{run}", "--seed", "1"),
     "refusing to resume {run}: train.seed changed 0 -> 1"),
    ("resume-in-use", train("chargpt", "--resume", "{locked_run}"),
     f"is in use by another run (pid {os.getpid()})"),
    ("resume-garbage-config", train("chargpt", "--resume", "{garbage_run}"),
     "{garbage_run}/config.json: not readable JSON (JSONDecodeError); the run folder is damaged"),
    ("resume-finished", train("chargpt", "--resume", "{run}"),
     "--resume {run}: the run already finished (step 20 of 20); it is left as it is"),
    ("resume-finished-no-checkpoint", train("chargpt", "--resume", "{no_ckpt_run}"),
     "the run finished and has no checkpoint to go on from; it is left as it is"),
    ("resume-past-schedule", train("chargpt", "--resume", "{run}", "--steps", "151"),
     "train.steps=151 runs past the end of the schedule"),
    ("resume-evidence-copy", train("chargpt", "--resume", "{evidence}"),
     "--resume {evidence}: this is a report's evidence copy, not a run; the run is at {run}"),
    ("export-out-file", ["export", "{run}", "--out", "{files}/empty.txt"],
     "--out {files}/empty.txt: {files}/empty.txt is a file, not a folder"),
    ("export-out-below-file", ["export", "{run}", "--out", "{files}/empty.txt/hf"],
     "--out {files}/empty.txt/hf: {files}/empty.txt is a file, not a folder"),
    ("export-evidence-copy", ["export", "{evidence}", "--out", "{out}/hf"],
     "this is a report's evidence copy, not a run; the run is at {run}"),
    ("export-not-a-run", ["export", "{empty}", "--out", "{out}/hf"],
     "not a run folder (no config.json)"),
]


def _files(root: Path, run: Path) -> Path:
    files = root / "files"
    files.mkdir()
    (files / "empty.txt").write_bytes(b"")
    (files / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (files / "short.txt").write_text("To be, or not to be.\n" * 2)
    return files


def _sibling(name: str, change):
    """A copy of the run (without checkpoints) beside it, changed by change(folder)."""
    def make(root: Path, run: Path) -> Path:
        copy = shutil.copytree(run, run.parent / name, ignore=shutil.ignore_patterns("checkpoints"))
        change(copy)
        return copy
    return make


def _locked(root: Path, run: Path) -> Path:
    (run / ".lock").write_text(str(os.getpid()))   # a live process holds it: this test
    return run


def _empty(root: Path, run: Path) -> Path:
    (root / "empty").mkdir()
    return root / "empty"


PLACES = {  # {name} in a case -> what makes it in the case's folder; the run is always there
    "out": lambda root, run: root / "runs",
    "run": lambda root, run: run,
    "locked_run": _locked,
    "garbage_run": _sibling("garbage-run", lambda d: (d / "config.json").write_text("{not json")),
    "no_ckpt_run": _sibling("no-checkpoint-run", lambda d: None),
    "evidence": lambda root, run: RunDir(run).copy_evidence(root / "evidence" / "chargpt-tiny",
                                                            "test"),
    "empty": _empty,
    "files": _files,
}


@pytest.fixture(scope="module")
def bad_input(request, env, straight20, tmp_path_factory) -> dict:
    """Case id -> (its result, its folder, the folder's snapshot before, the expected text) for
    the selected cases of BAD_INPUT, all run by one process (tests/cli_batch.py)."""
    wanted = {item.callspec.params["case"] for item in request.session.items
              if item.module is request.module and hasattr(item, "callspec")
              and "case" in item.callspec.params}
    cases = {}
    for case, argv, expected in BAD_INPUT:
        if case not in wanted:
            continue
        root = tmp_path_factory.mktemp(case).resolve()
        run = root / "runs" / "chargpt-tiny" / "existing-run"
        shutil.copytree(straight20, run)
        names = {f for s in [*argv, expected] for _, f, _, _ in string.Formatter().parse(s) if f}
        where = {name: PLACES[name](root, run) for name in ["run", *sorted(names - {"run"})]}
        cases[case] = {"argv": [a.format(**where) for a in argv], "cwd": str(root),
                       "expected": expected.format(**where), "root": root,
                       "before": snapshot(root)}
    batch = tmp_path_factory.mktemp("bad-input-batch")
    (batch / "cases.json").write_text(json.dumps(
        [{"argv": c["argv"], "cwd": c["cwd"]} for c in cases.values()]))
    proc = subprocess.run([sys.executable, str(TESTS / "cli_batch.py"), str(batch / "cases.json"),
                           str(batch / "results.json")], env=env, cwd=batch, timeout=600,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((batch / "results.json").read_text())
    return {case: {**c, "result": r} for (case, c), r in zip(cases.items(), results)}


@pytest.mark.parametrize("case", [r[0] for r in BAD_INPUT])
def test_bad_input_one_line_error_nothing_lost(bad_input, case):
    c = bad_input[case]
    r = c["result"]
    one_line_error(subprocess.CompletedProcess(c["argv"], r["rc"], r["stdout"], r["stderr"]),
                   c["expected"])
    after = snapshot(c["root"])
    assert sorted(after) == sorted(c["before"]), "files appeared or vanished"
    assert after == c["before"], "an existing file was modified"


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


# ---- 8. what a user names is what is read ------------------------------------------------------

HUB_NAMES = [  # (data.dataset, data.dataset_config) -> what datasets.load_dataset is asked for
    (("openwebtext", ""), ("Skylion007/openwebtext", None)),
    (("fineweb-10BT", ""), ("HuggingFaceFW/fineweb", "sample-10BT")),
    (("fineweb-10BT", "sample-100BT"), ("HuggingFaceFW/fineweb", "sample-100BT")),
    (("someone/corpus", ""), ("someone/corpus", None)),           # not a short name: as it is
]


@pytest.mark.parametrize("given, asked", HUB_NAMES, ids=[g[0] for g, _ in HUB_NAMES])
def test_hub_short_names_go_through_the_aliases_table(monkeypatch, given, asked):
    import datasets

    from repro.config import DataConfig
    from repro.data import corpora
    calls = []

    def load_dataset(name, config=None, **kwargs):   # offline: what the hub would return
        calls.append((name, config))
        rows = [f"document {i} " * 20 for i in range(10)]
        return datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": rows})})

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    data = DataConfig(dataset=given[0], dataset_config=given[1])
    docs = corpora.load_documents(data)
    assert calls == [asked]
    assert (len(docs["train"]), docs["val"]) == (9, ["document 9 " * 20])   # no val split: the tail
    full = DataConfig(dataset=asked[0], dataset_config=asked[1] or "")
    assert corpora.source_fingerprint(data) == corpora.source_fingerprint(full)  # one cache
    assert corpora.describe_source(data) == corpora.describe_source(full)


def test_image_validation_evaluates_exactly_val_items():
    """The validation slice is val_items images, also when the batch does not divide it (the
    slice once ran on to whole batches: 1,984 images for igpt small's 1,953)."""
    from repro_papers import PAPERS
    from repro.data.pixels import ImageTask
    from repro.spec import resolve
    cfg = resolve(PAPERS["igpt"], None, "tiny", ["train.eval_tokens=2368"])   # 37 images of 8x8
    task = ImageTask(cfg)
    assert len(task.val_items) == 37 < len(task.val_tokens)
    x = torch.cat([b["x"] for b in task.val_batches(7)])           # 5 x 7 + 2
    assert torch.equal(x, task.val_batches(37)[0]["x"]) and len(x) == 37
    assert torch.equal(x, task.val_tokens[:37, :x.shape[1]])
    assert task.describe()["val_images_per_eval"] == 37
