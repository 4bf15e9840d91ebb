"""`python -m repro eval <run-dir | --hf NAME_OR_DIR> [--tasks T,...] [--shots K,...] [--limit N]
[--json] [--out DIR] [--batch-size B] [--device D] [--set eval.KEY=VALUE]
[--checkpoint STEP | --all-checkpoints]`: the papers' zero- and few-shot evaluations
(repro/eval) of a run's newest verified checkpoint (or the named ones), an exported folder or
a Hugging Face GPT-2 / OpenAI-GPT checkpoint.

The CLI is the layer that knows the papers: the default tasks and K are the ones the run's
paper reports (plus GPT-2's zero-shot trio), "few" is the paper's K for the task, and each
number is printed beside the paper's value for a size of the same structure (comparable),
or for the run's own size (a scaled-down run: not comparable). Results go into the run
folder (eval.json, merged with earlier tasks), and to --out DIR as eval.json + eval.md; the
score of one checkpoint (--checkpoint, --all-checkpoints) goes to the run's eval-<step>.json,
a point of the curve over training (GPT-1 Figure 2 right).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from ..errors import ReproError, check
from ..numbers import number, parse_number
from . import Parser, papers

ZERO_SHOT_TRIO = ("lambada", "wikitext2", "ptb")   # GPT-2 Table 3's shipped columns
DEFAULT_KSHOT = ("0", "1", "few")
FINE_TUNED = ("it keeps its dev scores, not its weights; evaluate the pre-training run it "
              "started from")


def parser() -> Parser:
    p = Parser(prog="repro eval", description="Zero- and few-shot evaluation (repro/eval).")
    p.add_argument("run_dir", nargs="?", help="a run folder (its newest verified checkpoint)")
    p.add_argument("--hf", metavar="NAME_OR_DIR", help="a Hugging Face checkpoint: a folder "
                   "(e.g. `repro export` output) or a hub id (online, or in the HF cache)")
    p.add_argument("--tasks", help="comma-separated (default: GPT-2's lambada, wikitext2, ptb "
                   "and the tasks the run's paper reports); --list shows them all")
    p.add_argument("--shots", help="K for the K-shot tasks: comma-separated numbers or 'few' "
                   "(the paper's K, capped to what fits the context); default 0,1,few or the "
                   "paper's own")
    p.add_argument("--limit", type=number("--limit", minimum=0), default=0, help="only the "
                   "first N examples (lines of a perplexity file); 0, the default: all")
    p.add_argument("--batch-size", type=number("--batch-size"), help="sequences per forward "
                   "(default: as many as 32,768 tokens hold on a GPU, 32 on a CPU)")
    p.add_argument("--device", default="auto", help="auto (CUDA if present) | cpu | cuda[:i]")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="eval.KEY=VALUE",
                   help="eval.path=FILE (a task's data file), eval.stride=N (0, the default: half "
                        "the context), eval.seed=N, "
                        "eval.precision=auto|fp32|bf16")
    p.add_argument("--out", metavar="DIR", help="also write DIR/eval.json and DIR/eval.md")
    p.add_argument("--checkpoint", type=number("--checkpoint", minimum=0), metavar="STEP",
                   help="the run's checkpoint of this "
                   "step, not the newest; results go to the run's eval-STEP.json")
    p.add_argument("--all-checkpoints", action="store_true", help="each kept checkpoint of the "
                   "run in turn, each into its eval-STEP.json")
    p.add_argument("--json", action="store_true", help="print the results file as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--list", action="store_true", help="print the task table and exit")
    p.add_argument("--tokenize-only", action="store_true", help="fill the token cache with every "
                   "text the plan scores, load no weights (e.g. GPT-1's spaCy tokens for a "
                   "machine without spaCy)")
    p.add_argument("--tokenizer", help="with --tokenize-only and no model: gpt2 | gpt1")
    p.add_argument("--context", type=number("--context"), default=1024,
                   help="with --tokenizer: the context "
                   "K-shot prompts must fit (default 1024)")
    return p


# ---- the papers' side ------------------------------------------------------------------------
def few_shot_k(task: str) -> int:
    """The K a paper used for the task's few-shot setting (the largest, if several do)."""
    ks = [e.shots for spec in papers().values() for e in spec.evaluations
          if e.task == task and e.shots > 1]
    if not ks:
        raise ReproError(f"--shots few: no paper gives a few-shot K for {task}; pass a number")
    return max(ks)


def paper_sizes(em) -> tuple[list, str]:
    """[(spec, size)] whose numbers sit beside ours, and whether they are comparable: sizes of
    the model's exact structure, else the run's own paper and size (a scaled-down run)."""
    from ..interop.parity import structure
    from ..spec import size_config
    ours = structure(em.model.config)
    same = [(spec, size) for spec in papers().values() if spec.evaluations
            for size in spec.sizes if structure(size_config(spec, size).model) == ours]
    cfg = em.config
    if cfg is None:   # a Hugging Face checkpoint: the paper's model if these are its weights
        return same, ("yes, if these are the paper's released weights (same structure and "
                      "protocol)" if same else "")
    if cfg.paper in papers() and papers()[cfg.paper].evaluations:
        from ..report.evaluation import trained_here
        spec = papers()[cfg.paper]
        return [(spec, cfg.size or spec.default_size)], trained_here(
            cfg.to_dict(), {"tokens": cfg.train.tokens})
    return [], ""


def plan(args, em_config) -> list:
    """[(Task, K)] from --tasks/--shots and the paper's defaults."""
    from ..eval.tasks import get_task
    spec = papers().get(getattr(em_config, "paper", ""), None)
    evals = spec.evaluations if spec else ()
    if args.tasks is not None:
        names = [t.strip() for t in args.tasks.split(",") if t.strip()]
        check(names, f"--tasks {args.tasks!r}: names no task (--list shows them)")
    else:
        names = list(ZERO_SHOT_TRIO) + [e.task for e in evals if e.task not in ZERO_SHOT_TRIO]
        names = [n for n in dict.fromkeys(names) if get_task(n).shipped]
    tasks = [get_task(n) for n in dict.fromkeys(names)]
    out = []
    for task in tasks:
        if not task.kshot:
            out.append((task, 0))
            continue
        own = sorted({e.shots for e in evals if e.task == task.name})
        wanted = args.shots.split(",") if args.shots else [str(k) for k in own] or DEFAULT_KSHOT
        for w in wanted:
            w = w.strip()
            if w == "few":
                out.append((task, few_shot_k(task.name)))
            else:
                out.append((task, parse_number(w, int, "--shots", minimum=0)))
    return list(dict.fromkeys(out))


def check_data(tasks: list, settings) -> None:
    """Before any weights load: a task whose data neither ships nor is given is refused."""
    from ..eval.tasks import read_task_files
    check(not settings.path or len({t.name for t in tasks}) == 1,
          "--set eval.path names one file: select one task with --tasks")
    if settings.path:   # refused as training refuses data.path, before any weights load
        from ..eval.data import user_text
        user_text(settings.path)
    for task in dict.fromkeys(tasks):
        if not task.shipped and not settings.path:
            read_task_files(task, "")           # raises with the file to point eval.path at


# ---- main ------------------------------------------------------------------------------------
def main(argv: list[str]) -> None:
    args = parser().parse_args(argv)
    if args.out is not None:   # before anything is evaluated or written
        from ..outputs import output_folder
        output_folder(args.out, "--out")
    from ..eval.settings import parse_settings
    settings = parse_settings(args.overrides)
    if args.list:
        return print_tasks()
    if args.tokenize_only and args.tokenizer:
        return tokenize_only(args, settings)
    check(bool(args.run_dir) != bool(args.hf),
          "give a run folder or --hf NAME_OR_DIR (one of them)")
    if args.tokenize_only:
        return tokenize_only(args, settings)
    start = time.perf_counter()
    from ..eval.models import from_hf, from_run
    config = _run_config(args.run_dir) if args.run_dir else None
    todo = plan(args, config)
    check_data([t for t, _ in todo], settings)
    if args.checkpoint is not None or args.all_checkpoints:
        return per_checkpoint(args, todo, settings)
    device = _device(args.device)
    planned = time.perf_counter()
    em = from_run(args.run_dir) if args.run_dir else from_hf(args.hf, device)
    from ..eval.runner import evaluate, merge
    startup = {"plan_s": round(planned - start, 2),
               "model_s": round(time.perf_counter() - planned, 2)}
    if not args.no_progress:   # where start-up's seconds go (the imports before main: not here)
        print(f"repro eval: plan and data checks {startup['plan_s']} s (torch imported), model "
              f"{startup['model_s']} s (read onto {device})", file=sys.stderr, flush=True)
    result = evaluate(em, todo, args.limit, settings, device, args.batch_size, not args.no_progress)
    result["startup"] = startup
    from ..report.evaluation import eval_markdown, paper_rows
    sizes, comparable = paper_sizes(em)
    rows = paper_rows(result, sizes, comparable)
    if em.run_dir is not None:   # the run keeps the results; reports set the paper beside them
        from ..rundir import RunDir
        run = RunDir(em.run_dir)
        run.write_json(RunDir.EVAL, merge(run.read_optional(RunDir.EVAL), result))
    result["paper_rows"] = rows
    if args.out:
        from ..outputs import write_files
        from ..rundir import RunDir
        write_files(Path(args.out), {RunDir.EVAL: json.dumps(result, indent=2) + "\n",
                                     "eval.md": eval_markdown(result, rows)})
    print(json.dumps(result, indent=2) if args.json else eval_markdown(result, rows))


def per_checkpoint(args, todo: list, settings) -> None:
    """Each chosen checkpoint of a run scored into its own eval-<step>.json."""
    from ..checkpoint import verified_steps
    from ..eval.models import from_run
    from ..eval.runner import evaluate
    from ..rundir import RunDir
    from ..step_scores import file_name
    check(args.run_dir and not args.out, "--checkpoint and --all-checkpoints score a run folder "
                                         "(no --hf, no --out)")
    check(args.checkpoint is None or not args.all_checkpoints,
          "--checkpoint STEP or --all-checkpoints, not both")
    run = RunDir(args.run_dir).require_run("")
    steps = verified_steps(run.checkpoints) if args.all_checkpoints else [args.checkpoint]
    check(bool(steps), f"{run}: no complete checkpoint to score")
    device = _device(args.device)
    out = []
    for step in steps:
        em = from_run(args.run_dir, step)
        result = {"step": step, **evaluate(em, todo, args.limit, settings, device,
                                           args.batch_size, not args.no_progress)}
        run.write_json(file_name("eval", step), result)
        out.append(result)
        print(f"step {step}: " + ", ".join(f"{r['task']} {r['metric']} {r['value']:.2f}"
                                           for r in result["results"]), file=sys.stderr)
    if args.json:
        print(json.dumps(out, indent=2))


def _run_config(run_dir: str):
    from ..rundir import RunDir
    run = RunDir(run_dir)
    check(run.has_config() or run.is_evidence(),
          f"{run_dir}: not a run folder (no {RunDir.CONFIG})")
    return run.load().pretraining("", FINE_TUNED)


def _device(name: str) -> str:
    import torch
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    cuda = name.startswith("cuda")
    check(name == "cpu" or (cuda and torch.cuda.is_available()),
          f"--device {name}: "
          + ("no CUDA device here" if cuda else "expected auto, cpu or cuda[:i]"))
    return name


def tokenize_only(args, settings) -> None:
    from ..data.tokenizers import get_tokenizer
    from ..eval.runner import tokenize_only as run
    if args.tokenizer:
        config = None
        tok = get_tokenizer(args.tokenizer)
        context = args.context
    else:
        check(bool(args.run_dir), "--tokenize-only needs a run folder or --tokenizer NAME")
        config = _run_config(args.run_dir)
        tok = get_tokenizer(config.data.tokenizer)
        context = config.model.block_size
    todo = plan(args, config)
    check_data([t for t, _ in todo], settings)
    n = run(tok, context, todo, args.limit, settings)
    print(f"tokenized the texts of {n} task settings with {tok.name} (context {context}) into "
          f"the token cache")


def print_tasks() -> None:
    from ..eval.tasks import TASKS
    from ..report.tables import md_table
    print(md_table([{"task": t.name, "protocol": t.protocol + (
        f" ({t.target}{', stop-word filter' * t.stop_words})" if t.target != "word" else ""),
                     "K-shot": "yes" if t.kshot else "",
                     "data": "shipped" if t.shipped else f"--set eval.path= {t.file_hint}",
                     "what": t.about} for t in TASKS.values()]))
