"""`python -m repro ...` with accelerate's FSDP switched on over gloo on the CPU (tests only).

accelerate 1.x turns an FSDP config into FSDP only for GPU-like distributed types; with no GPU
it silently runs plain data parallel (MULTI_CPU; repro says so in one line). torch's FSDP2
(`fully_shard`) itself runs on the CPU with gloo, so this shim marks the state FSDP before the
Trainer prepares the model: accelerate then shards it with the plugin that the launch
environment (configs/fsdp.yaml) describes, and the trainer's FSDP checkpoint path runs for real.
Launch it in place of `-m repro` (see tests/test_multigpu.py)."""
import sys

from accelerate.state import AcceleratorState, PartialState
from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

import repro.trainer
from repro.cli import main

_build = repro.trainer.build_accelerator


def build_accelerator(cfg, **options):
    acc = _build(cfg, **options)
    # Both shared states: every AcceleratorState() re-reads PartialState's.
    PartialState._shared_state["distributed_type"] = DistributedType.FSDP
    AcceleratorState._shared_state["distributed_type"] = DistributedType.FSDP
    AcceleratorState._shared_state["fsdp_plugin"] = FullyShardedDataParallelPlugin()
    return acc


repro.trainer.build_accelerator = build_accelerator
sys.exit(main(sys.argv[1:]))
