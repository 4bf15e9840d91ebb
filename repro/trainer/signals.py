"""SIGTERM/SIGINT during training: a flag the loop reads at step boundaries."""
from __future__ import annotations

import signal


class StopRequested:
    """SIGTERM/SIGINT set a flag; the loop saves at the next step boundary and exits 0. The
    handler is removed after the first signal, so a second Ctrl-C interrupts at once."""

    def __init__(self):
        self.signal = None
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signal = signal.Signals(signum).name
        signal.signal(signum, self._old[signum])

    def __exit__(self, *exc):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
