"""`python -m repro tokenize [--tokenizer NAME] TEXT`: the token ids of TEXT."""
from __future__ import annotations

from . import Parser


def main(argv: list[str]) -> None:
    p = Parser(prog="repro tokenize", description="Token ids of a text.")
    p.add_argument("--tokenizer", default="gpt2", help="gpt2 | gpt1 | char (default gpt2)")
    p.add_argument("text")
    args = p.parse_args(argv)
    from ..data.tokenizers import tokenize_command
    print(tokenize_command(args.tokenizer, args.text))
