"""repro: the GPT papers reproduced at any scale.

    python -m repro <paper> [--scale tiny|small|medium|paper] [--size N] ...   train a recipe
    python -m repro <paper> finetune --task T ...                          fine-tune (GPT-1)
    python -m repro <verb> ...                                             one of the verbs
    python -m repro <paper or verb> --help                                 its options

Misuse exits with status 2 and one line naming the culprit; no traceback.
"""
# The command line is the one layer that knows the papers: it looks up a spec (repro_papers)
# and passes plain config and data down; nothing in the library imports it. Each verb's module
# is imported only when it runs, so `python -m repro list` loads no torch.
from __future__ import annotations

import argparse
import sys
from importlib import import_module

from ..errors import ReproError

VERBS = {  # verb -> (module under repro.cli, what it does)
    "list": ("list", "the papers, their sizes and scales"),
    "report": ("report", "write a paper's report from its runs and the committed reference"),
    "eval": ("eval", "the papers' zero-/few-shot evaluations of a run or a Hugging Face model"),
    "parity": ("parity", "logit parity with the transformers classes; --save writes the artifact"),
    "export": ("export", "a run as a Hugging Face model folder"),
    "bench": ("bench", "training-step throughput against the Hugging Face peers; --largest: "
                       "the largest size that trains on this GPU"),
    "tokenize": ("tokenize", "token ids of a text"),
    "probe": ("probe", "iGPT's linear probe of an image run's checkpoints, beside their "
                       "validation loss (iGPT Figure 3)"),
    "scaling": ("scaling", "a ladder of sizes of a paper's recipe: L(N), L(C), zero-shot trend"),
}
PAPER_VERBS = {"finetune": ("finetune", "fine-tune a run on a downstream task")}


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise ReproError(f"{self.prog}: {message}")


def papers() -> dict:
    from repro_papers import PAPERS
    return PAPERS


def spec_of(name: str):
    known = papers()
    if name not in known:
        raise ReproError(f"unknown paper {name!r}; choose from: {', '.join(known)}")
    return known[name]


def report_after_run(run_dir, write) -> None:
    """write() the report of a run that is saved by now: any failure says so in one line and
    loses nothing (exit 2 through main)."""
    try:
        out = write()
    except Exception as e:   # noqa: BLE001 - any failure of the report, after a saved run
        why = str(e) if isinstance(e, ReproError) else f"{type(e).__name__}: {e}"
        raise ReproError(f"the run finished and is saved in {run_dir}, but its report could "
                         f"not be written: {why.splitlines()[0] if why else ''}") from None
    print(f"report: {out}", file=sys.stderr)


def usage() -> str:
    lines = [__doc__.strip(), "", f"papers: {', '.join(papers())}", "verbs:"]
    lines += [f"  {verb:9s} {about}" for verb, (_, about) in VERBS.items()]
    lines += [f"  <paper> {verb}  {about}" for verb, (_, about) in PAPER_VERBS.items()]
    return "\n".join(lines)


def dispatch(argv: list[str]) -> None:
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return
    command = argv[0]
    rest = argv[1:]
    if command in VERBS:
        return import_module(f".{VERBS[command][0]}", __package__).main(rest)
    if command in papers():
        if rest and rest[0] in PAPER_VERBS:
            return import_module(f".{PAPER_VERBS[rest[0]][0]}", __package__).main(command, rest[1:])
        return import_module(".train", __package__).main(command, rest)
    raise ReproError(f"unknown paper or command {command!r}; papers: {', '.join(papers())}; "
                     f"commands: {', '.join(VERBS)}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    try:
        dispatch(argv)
    except ReproError as e:
        print(f"repro: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("repro: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as e:  # out of GPU memory: say which knob to turn
        if type(e).__name__ == "OutOfMemoryError":
            print("repro: error: out of GPU memory; lower --set train.micro_batch_size=N "
                  "(gradient accumulation keeps the batch) or use a smaller --scale/--size",
                  file=sys.stderr)
            sys.exit(3)
        raise
