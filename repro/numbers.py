"""The one path every number a user types goes through: CLI flags (argparse `type=`) and
`--set key=value` values (repro.config), so that each refuses the same things in the same words.

Refused: non-ASCII digits (Python's int() reads '٣' as 3), NaN and infinities, inputs longer
than any real setting (a 5,000-digit number would otherwise meet Python's digit limit, whose
message echoes every digit) and values below the flag's minimum.
"""
from __future__ import annotations

import math

from .errors import ReproError

MAX_CHARS = 40    # longer than any count, size or rate anyone means


def shown(name: str, text: str) -> str:
    """How a value is named in a message: `--limit -1` or `optim.lr=nan`, cut short."""
    text = text if len(text) <= MAX_CHARS else f"{text[:12]}... ({len(text):,} characters)"
    return f"{name} {text}" if name.startswith("-") else f"{name}={text}"


def parse_number(text: str, kind: type, name: str, minimum: float | None = None):
    """text as an int (also 1e6 and 1_000_000) or a float, finite, at least `minimum`;
    otherwise ReproError "<name> <text>: why" in one line."""
    what = shown(name, text)
    clean = text.strip().replace("_", "")
    if len(clean) > MAX_CHARS:
        raise ReproError(f"{what}: too long for a number")
    if not clean.isascii():
        raise ReproError(f"{what}: not a number (only ASCII digits)")
    try:
        value = float(clean)
    except ValueError:
        raise ReproError(f"{what}: expected {'an integer' if kind is int else 'a number'}") \
            from None
    if not math.isfinite(value):
        raise ReproError(f"{what}: not a finite number")
    if kind is int:
        if value != int(value):
            raise ReproError(f"{what}: expected an integer")
        value = int(clean) if clean.lstrip("+-").isdigit() else int(value)
    if minimum is not None and value < minimum:
        raise ReproError(f"{what}: must " + ("not be negative" if minimum == 0 else
                                             "be positive" if minimum == 1 and kind is int
                                             else f"be at least {minimum:g}"))
    return value


def number(name: str, kind: type = int, minimum: float | None = 1):
    """An argparse `type=` for the flag `name`: parse_number with that flag's minimum."""
    def parse(text: str):
        return parse_number(text, kind, name, minimum)
    parse.__name__ = kind.__name__   # argparse names the type in its own messages
    return parse


def positive(name: str, kind: type = float):
    """An argparse `type=` for a quantity that must be above zero (a budget, a memory size)."""
    def parse(text: str):
        value = parse_number(text, kind, name)
        if value <= 0:
            raise ReproError(f"{shown(name, text)}: must be positive")
        return value
    parse.__name__ = kind.__name__
    return parse
