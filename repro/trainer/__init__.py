"""The one trainer: setup (accelerator, optimizer, schedule), the loop and its parts."""
from .loop import Trainer
from .setup import build_accelerator, param_groups

__all__ = ["Trainer", "build_accelerator", "param_groups"]
