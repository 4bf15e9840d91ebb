"""Multi-process training as `accelerate launch` runs it: the shipped configs (configs/*.yaml)
and, on the CPU with gloo, DDP and FSDP runs whose losses, checkpoints and resumes match one
process. FSDP on the CPU goes through tests/fsdp_on_cpu.py (accelerate itself only does FSDP on
GPUs); on GPUs the same trainer code runs under the real `accelerate launch --config_file`."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

import repro.model
from run_helpers import NO_DROPOUT, TINY, checkpoints, ckpt_step, metrics, ok, repro as run, \
    run_dir_in, weights

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "configs"
ARGS = [*TINY, *NO_DROPOUT, "--device", "cpu"]   # dropout off: masks differ per batch split

torch.set_num_threads(1)


def launch_env(config: Path, n: int = 2) -> dict:
    """The environment `accelerate launch --config_file config` gives each process."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env
    args = launch_command_parser().parse_args(
        ["--config_file", str(config), "--num_processes", str(n), "-m", "repro", "gpt2"])
    return prepare_multi_gpu_env(_validate_launch_command(args)[0])


# ---- the configs -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ddp", "fsdp"])
def test_config_files_parse_and_say_how_to_launch(name):
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DistributedType
    path = CONFIGS / f"{name}.yaml"
    cfg = load_config_from_file(str(path))
    assert cfg.distributed_type == {"ddp": DistributedType.MULTI_GPU,
                                    "fsdp": DistributedType.FSDP}[name]
    assert cfg.mixed_precision == "bf16" and not cfg.use_cpu
    header = path.read_text()
    for text in (f"accelerate launch --config_file configs/{name}.yaml", "--num_processes",
                 "--num_machines", "--machine_rank", "--main_process_ip", "--main_process_port",
                 "-m repro gpt2 --size medium --scale small"):
        assert text in header, text
    env = launch_env(path)
    assert env.get("ACCELERATE_USE_FSDP", "false") == ("true" if name == "fsdp" else "false")


def test_fsdp_config_is_full_shard_fsdp2_wrapping_our_blocks(monkeypatch):
    """What accelerate builds from configs/fsdp.yaml: FSDP2, fully sharded, one unit per Block."""
    from accelerate.utils import FullyShardedDataParallelPlugin
    for k, v in launch_env(CONFIGS / "fsdp.yaml").items():
        if k.startswith(("FSDP_", "ACCELERATE_")):
            monkeypatch.setenv(k, v)
    plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2
    assert plugin.reshard_after_forward is True       # FSDP2's FULL_SHARD
    assert plugin.transformer_cls_names_to_wrap == ["Block"]
    assert isinstance(getattr(repro.model, "Block"), type)   # the class name still exists
    assert plugin.state_dict_type.name == "FULL_STATE_DICT"


# ---- 2 processes on the CPU ------------------------------------------------------------------

@pytest.fixture(scope="module")
def one_process(env, tmp_path_factory) -> Path:
    """The reference: 8 steps in one process, a checkpoint at 4 and 8."""
    out = tmp_path_factory.mktemp("one") / "runs"
    ok(run(env, out, *ARGS, "--steps", "8", "--set", "train.checkpoint_interval=4"))
    return run_dir_in(out)


def assert_matches(ref: Path, other: Path, what: str) -> None:
    a, b = metrics(ref), metrics(other)
    assert [r["step"] for r in b] == [r["step"] for r in a] == list(range(1, 9)), what
    assert [r["batch_hash"] for r in b] == [r["batch_hash"] for r in a], what
    for r, o in zip(a, b):
        assert o["loss"] == pytest.approx(r["loss"], rel=1e-5), (what, r["step"])
    assert b[-1]["val_loss"] == pytest.approx(a[-1]["val_loss"], rel=1e-5), what
    wa, wb = weights(checkpoints(ref)[-1]), weights(checkpoints(other)[-1])
    assert wa.keys() == wb.keys(), what
    for k in wa:   # full, plain tensors: the same file format whatever the world size
        assert type(wb[k]) is torch.Tensor and wb[k].shape == wa[k].shape, (what, k)
        torch.testing.assert_close(wb[k], wa[k], rtol=1e-4, atol=1e-5, msg=f"{what}: {k}")


def two_process_run_with_resume(env, launch, tmp_path, what, **launcher) -> Path:
    """2 processes: 4 steps, then --resume to 8 (both launched the same way)."""
    out = tmp_path / what
    first = ok(run(env, out, *ARGS, "--steps", "4", launcher=launch(2, **launcher), timeout=300))
    rundir = run_dir_in(out)
    assert [ckpt_step(p) for p in checkpoints(rundir)] == [4]
    proc = ok(run(env, out, "chargpt", "--resume", str(rundir), "--steps", "8", "--device", "cpu",
                  launcher=launch(2, **launcher), timeout=300))
    assert "resumed from ckpt-00000004.pt at step 4" in proc.stderr
    for p in (first, proc):   # really sharded (else the trainer says it fell back)
        assert "FSDP needs GPUs" not in p.stderr
    return rundir


@pytest.mark.slow
def test_ddp_config_two_processes_resume_matches_one_process(env, launch, tmp_path, one_process):
    rundir = two_process_run_with_resume(env, launch, tmp_path, "ddp", config=CONFIGS / "ddp.yaml")
    assert_matches(one_process, rundir, "DDP, 4 + resume 4")


@pytest.mark.slow
def test_fsdp_two_processes_resume_matches_one_process(env, launch, tmp_path, one_process):
    shim = Path(__file__).with_name("fsdp_on_cpu.py")
    rundir = two_process_run_with_resume(env, launch, tmp_path, "fsdp",
                                         config=CONFIGS / "fsdp.yaml", script=shim)
    assert_matches(one_process, rundir, "FSDP, 4 + resume 4")
    assert (rundir / "sample.txt").read_text()   # sampled from a full copy on rank 0

    # The FSDP checkpoint of step 4 resumes in one process, and the run goes on the same.
    copy = tmp_path / "fsdp-then-one" / "chargpt-tiny" / rundir.name
    shutil.copytree(rundir, copy)
    for p in checkpoints(copy)[1:]:
        p.unlink()
        p.with_suffix(".sha256").unlink()
    proc = ok(run(env, copy.parent.parent, "chargpt", "--resume", str(copy), "--steps", "8",
                  "--device", "cpu"))
    assert "resumed from ckpt-00000004.pt at step 4" in proc.stderr
    assert_matches(one_process, copy, "FSDP 4, then one process 4")


def test_fsdp_config_without_gpus_says_it_runs_data_parallel(env, launch, tmp_path):
    """No shim: accelerate falls back to plain data parallel on the CPU; repro says so."""
    proc = ok(run(env, tmp_path / "runs", *ARGS, "--steps", "1",
                  launcher=launch(2, config=CONFIGS / "fsdp.yaml"), timeout=300))
    assert proc.stderr.count("FSDP needs GPUs: accelerate runs this FSDP config as plain "
                             "data parallel") == 1
