"""`python -m repro list`: the papers, their sizes (with exact shapes) and scales."""
from __future__ import annotations

from . import Parser, papers


def main(argv: list[str]) -> None:
    Parser(prog="repro list", description="The papers, their sizes and scales.").parse_args(argv)
    from ..spec import size_config
    for name, spec in papers().items():
        sizes = []
        for size in spec.sizes:
            m = size_config(spec, size).model
            sizes.append(f"{size} ({m.n_layer}x{m.n_embd})")
        print(f"{name:9s} {spec.title}")
        print(f"{'':9s} sizes:  {', '.join(sizes)}  [default {spec.default_size}]")
        print(f"{'':9s} scales: " + "; ".join(f"{k}: {v.about}" for k, v in spec.scales.items()))
