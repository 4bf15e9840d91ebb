"""Experiment trackers (train.log_with) through Accelerate's tracking API: the same scalars at
the same steps as metrics.jsonl, and the run's config (as it was at the start), on the main
process only.

A tracker that is not installed is refused before the run folder exists (Accelerate itself
would drop it with a debug message); one that fails to start is refused before the first step.
Where each one writes: TensorBoard in <run>/<group>/ (Accelerate joins the project folder and
the project name); W&B offline in <run>/wandb/ unless the user set WANDB_MODE; MLflow in
<run>/mlflow.db unless the user set MLFLOW_TRACKING_URI. A resume continues the same tracker
run: W&B and MLflow by the run ids kept in <run>/trackers.json, TensorBoard in the same folder
with the events past the checkpoint hidden (purge_step).
"""
from __future__ import annotations

import os
from importlib import import_module

from ..errors import ReproError

# train.log_with -> the module each tracker imports ("all": every one of them installed)
MODULES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}
IDS = "trackers.json"    # in the run folder: the tracker runs a resume continues


def _installed(name: str) -> bool:
    try:
        import_module(MODULES[name])
        return True
    except Exception:   # noqa: BLE001 - a broken install cannot start a tracker either
        return False


def require_trackers(log_with: str) -> list[str]:
    """The trackers train.log_with names, each importable, or ReproError saying what to
    install. Called before anything is created."""
    if log_with == "none":
        return []
    if log_with == "all":
        found = [n for n in MODULES if _installed(n)]
        if not found:
            raise ReproError(f"train.log_with=all: no tracker is installed; pip install one of: "
                             f"{', '.join(MODULES)}")
        return found
    if not _installed(log_with):
        raise ReproError(f"train.log_with={log_with}: {MODULES[log_with]} is not installed; "
                         f"pip install {MODULES[log_with]} (or leave train.log_with=none)")
    return [log_with]


def _flat(config: dict, prefix: str = "") -> dict:
    """{"model": {"n_layer": 2}} -> {"model.n_layer": 2}: hyperparameters as TensorBoard and
    MLflow take them (scalars only)."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _init_kwargs(run, names: list[str], step: int, ids: dict) -> dict:
    kwargs = {"tensorboard": {"purge_step": step + 1} if step else {}}
    if "wandb" in names:
        kwargs["wandb"] = {"dir": str(run.path), "name": run.name, "resume": "allow",
                           **({"id": ids["wandb"]} if "wandb" in ids else {}),
                           **({} if "WANDB_MODE" in os.environ else {"mode": "offline"})}
    if "mlflow" in names:
        import mlflow
        if "MLFLOW_TRACKING_URI" not in os.environ:
            mlflow.set_tracking_uri(f"sqlite:///{(run.path / 'mlflow.db').resolve()}")
        kwargs["mlflow"] = {"run_name": run.name, **({"run_id": ids["mlflow"]}
                                                      if "mlflow" in ids else {})}
    return kwargs


def start_trackers(acc, run, config: dict, step: int) -> None:
    """Start the accelerator's trackers (main process) on the run at `step` (0: a new run)."""
    names = [str(getattr(t, "value", t)) for t in acc.log_with]
    if not names or not acc.is_main_process:
        return
    ids = run.read_optional(IDS) or {}
    try:
        # The config goes in once, at the tracker run's start: MLflow refuses a parameter
        # that changes, and a resume may change train.steps (config.json has the new one).
        acc.init_trackers(run.path.parent.name, config=None if step or ids else _flat(config),
                          init_kwargs=_init_kwargs(run, names, step, ids))
    except Exception as e:   # noqa: BLE001 - any tracker's failure, in one line
        finish_trackers(acc)
        why = (str(e).strip() or type(e).__name__).splitlines()[0][:200]
        raise ReproError(f"train.log_with: a tracker of {', '.join(names)} failed to start "
                         f"({why}); fix it or leave train.log_with=none") from None
    if "wandb" in names:
        ids["wandb"] = acc.get_tracker("wandb", unwrap=True).id
    if "mlflow" in names:
        ids["mlflow"] = acc.get_tracker("mlflow", unwrap=True).info.run_id
    if ids:
        run.write_json(IDS, ids)


def log_row(acc, row: dict) -> None:
    """A metrics.jsonl row to the trackers: its numbers at its step (a no-op without any)."""
    if acc.trackers:
        acc.log({k: v for k, v in row.items() if k != "step" and isinstance(v, (int, float))},
                step=row["step"])


def finish_trackers(acc) -> None:
    """Close the trackers (not acc.end_training(): that also ends the process group)."""
    for tracker in acc.trackers:
        tracker.finish()
    acc.trackers.clear()
