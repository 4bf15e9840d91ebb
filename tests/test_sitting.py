"""tools/sitting.py, the GPU sitting's job runner, with shell jobs in place of training runs:
dependencies and what a job printed reach the next one, a job that cannot end before the
deadline never starts, the deadline stops what still runs (as 'stopped'), a failure skips
what waits for it, and the pack leaves checkpoints out."""
from __future__ import annotations

import importlib.util
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("sitting", REPO / "tools" / "sitting.py")
sitting = sys.modules["sitting"] = importlib.util.module_from_spec(spec)   # dataclasses need it
spec.loader.exec_module(sitting)
Job = sitting.Job


def sh(name, script, seconds=1.0, gb=1.0, after=()):
    return Job(name, ["bash", "-c", script], gb, seconds, after=after)


def test_dependencies_deadline_and_failures(tmp_path):
    jobs = [sh("first", 'echo \'{"run_dir": "runs/x/1"}\''),
            Job("second", ["bash", "-c", 'echo got "$0"', "{first.run_dir}"], 1, 1,
                after=("first",)),
            sh("broken", "exit 3"),
            sh("after-broken", "echo never", after=("broken",)),
            sh("too-long", "echo never", seconds=1000),
            sh("slow", "exec sleep 60", seconds=2),
            sh("big", "echo never", gb=100)]
    sitting.run(jobs, deadline=4, gpu_gb=10, procs=4, logs=tmp_path / "logs")
    state = {j.name: j.state for j in jobs}
    assert state == {"first": "ok", "second": "ok", "broken": "failed", "after-broken": "skipped",
                     "too-long": "skipped", "slow": "stopped", "big": "skipped"}
    assert (tmp_path / "logs" / "second.log").read_text().strip() == "got runs/x/1"
    assert jobs[5].wall < 10                      # SIGTERM reached the sleeping process itself


def test_pack_leaves_checkpoints_out(tmp_path, monkeypatch):
    run = tmp_path / "runs" / "gpt2-small" / "r1"
    (run / "checkpoints").mkdir(parents=True)
    (run / "metrics.jsonl").write_text("{}\n")
    (run / "checkpoints" / "ckpt-00000001.pt").write_bytes(b"x" * 10)
    monkeypatch.chdir(tmp_path)
    path = sitting.pack([Path("runs")], tmp_path)
    with tarfile.open(path) as tar:
        assert tar.getnames() == ["runs/gpt2-small/r1/metrics.jsonl"]
