"""Where a log step's metrics go: metrics.jsonl (main process only), the experiment trackers
(repro.trainer.trackers) and the progress bar."""
from __future__ import annotations

from ..rundir import MetricsLog
from .meter import Throughput


class StepLog:
    """The rows of the log steps, written as they come; keeps the last loss and validation
    loss for the summary. A context manager: the bar is closed however the loop ends."""

    def __init__(self, metrics: MetricsLog | None, bar, track=None):
        """track(row): where else a written row goes (the trackers)."""
        self.metrics = metrics
        self.track = track or (lambda row: None)
        self.bar = bar
        self.meter = Throughput()
        self.last_loss = None
        self.val_loss = None

    def write(self, row: dict) -> None:
        self.last_loss = row["loss"]
        self.val_loss = row.get("val_loss", self.val_loss)
        if self.metrics:
            self.metrics.write(row)
            self.track(row)
        self.bar.set_postfix(loss=f"{row['loss']:.3f}", tok_s=f"{row['tokens_per_s']:,.0f}",
                             refresh=False)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> StepLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
