"""The trainer's checkpointed state: model, optimizer, scheduler, RNG states and the step.

Under FSDP each rank holds a shard of the weights and of the AdamW state: gathering them is a
collective every rank must join, so `state()` runs on every rank and only rank 0 writes. The
file is the same as without FSDP (full tensors, the optimizer keyed by parameter index), so a
run can be resumed with any world size and with or without FSDP.
"""
from __future__ import annotations

from .. import checkpoint


def _rekey(optim_sd: dict, key) -> dict:
    """An optimizer state dict with each parameter key k replaced by key[k] (index <-> name)."""
    return {"state": {key[k]: s for k, s in optim_sd["state"].items()},
            "param_groups": [{**g, "params": [key[k] for k in g["params"]]}
                             for g in optim_sd["param_groups"]]}


class Checkpointing:
    """Mixed into Trainer: needs self.acc, self.opt, self.scheduler, self.module, self.cfg,
    self.run, self.step, self.task, self.is_main and self.log."""

    @property
    def fsdp(self) -> bool:
        from accelerate.utils import DistributedType
        return self.acc.distributed_type == DistributedType.FSDP

    def _param_names(self) -> list[str]:
        """The optimizer's parameters in index order, by name (how torch numbers them)."""
        names = {id(p): n for n, p in self.module.named_parameters()}
        return [names[id(p)] for g in self.opt.param_groups for p in g["params"]]

    def _full_state_dicts(self) -> tuple[dict, dict]:
        """(model, optimizer) state dicts, full tensors on the CPU of rank 0 (empty elsewhere)."""
        if not self.fsdp:
            return self.module.state_dict(), self.opt.state_dict()
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict
        model_sd, optim_sd = get_state_dict(
            self.module, self.opt.optimizer,
            options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if optim_sd:   # keyed by name; number them as torch.optim does
            optim_sd = _rekey(optim_sd, {n: i for i, n in enumerate(self._param_names())})
        return model_sd, optim_sd

    def _load_state_dicts(self, model_sd: dict, optim_sd: dict) -> None:
        if not self.fsdp:
            self.module.load_state_dict(model_sd)
            self.opt.load_state_dict(optim_sd)
            return
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict
        # Every rank passes the full state; each keeps its own shard.
        set_state_dict(self.module, self.opt.optimizer, model_state_dict=model_sd,
                       optim_state_dict=_rekey(optim_sd, self._param_names()),
                       options=StateDictOptions(full_state_dict=True))

    def state(self) -> dict:
        """The checkpoint; every rank must call it (a collective under FSDP)."""
        model_sd, optim_sd = self._full_state_dicts()
        return {"step": self.step, "model": model_sd,
                "optimizer": optim_sd, "scheduler": self.scheduler.state_dict(),
                "rng": checkpoint.rng_state(), "config": self.cfg.to_dict(),
                "tokenizer": self.task.tokenizer_state()}

    def save(self):
        self.acc.wait_for_everyone()
        path = None
        state = self.state() if self.is_main or self.fsdp else None
        if self.is_main:
            path = checkpoint.save(self.run.checkpoints, self.step, state,
                                   keep=self.cfg.train.keep_checkpoints)
        self.acc.wait_for_everyone()
        return path

    def resume(self) -> None:
        state, path = checkpoint.load_latest(self.run.checkpoints, log=self.log)
        self._load_state_dicts(state["model"], state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        checkpoint.set_rng_state(state["rng"])
        self.step = state["step"]
        self.log(f"resumed from {path.name} at step {self.step}")

    def full_model(self):
        """The trained model, whole, on rank 0 (None elsewhere); every rank must call it.
        Under FSDP the wrapped module only holds a shard and its forward is a collective, so
        rank 0 gets an unsharded copy to use alone."""
        if not self.fsdp:
            return self.module if self.is_main else None
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        from ..model import GPT
        model_sd = get_model_state_dict(self.module, options=(
            StateDictOptions(full_state_dict=True, cpu_offload=True)))
        if not self.is_main:
            return None
        model = GPT(self.cfg.model)
        model.load_state_dict(model_sd)
        return model.to(self.acc.device)
