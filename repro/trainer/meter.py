"""Training throughput: tokens per second over the steps since the last reading."""
from __future__ import annotations

import time


class Throughput:
    """Counts the tokens of the steps taken since `restart`; `rate()` reads tokens/s and
    restarts. The loop restarts it after evaluations and saves, so the rate measures training
    alone."""

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self.restart()

    def restart(self) -> None:
        self.since = self.clock()
        self.tokens = 0

    def add(self, tokens: int) -> None:
        self.tokens += tokens

    def rate(self) -> float:
        """Tokens/s since the last restart (or reading); starts the next window."""
        now = self.clock()
        tokens_per_s = self.tokens / max(now - self.since, 1e-9)
        self.since = now
        self.tokens = 0
        return tokens_per_s
