"""Paper specs as data, and the one rule that derives every smaller scale from them.

A `PaperSpec` holds the paper's recipe for its default size (a Config), per-size changes,
the source of each value, and `scales`. A `Scale` names the few quantities a scale shrinks
(depth, width, heads, context, batch, tokens); `derive` applies one rule to the schedule:
- decay and batch-ramp lengths stay the same fractions of the training tokens, and the ramp
  starts at the same fraction of the full batch;
- warmup keeps the paper's number of *updates*, capped at WARMUP_CAP of the run's updates
  (a fraction of the tokens would leave GPT-1's 2,000-update warmup one update long at the
  small scale; a count of updates could outlast a short run).
`paper` is the identity.

A source is a string when the value is the paper's (a section, table or appendix), and
`inferred(why)` when the paper does not give it (released code, another paper, our choice):
reports show the two in separate columns.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .config import Config, apply_overrides
from .overrides import field_values, with_changes
from .schedule import validate_run
from .errors import ReproError

SCALES = ("tiny", "small", "medium", "paper")
WARMUP_CAP = 0.1   # our choice: at most a tenth of a reduced run warms up


@dataclass(frozen=True)
class Inferred:
    """A value the paper does not state, and where it comes from instead."""
    why: str


def inferred(why: str) -> Inferred:
    return Inferred(why)


def source_text(source) -> str:
    return source.why if isinstance(source, Inferred) else source


@dataclass(frozen=True)
class Scale:
    about: str                       # where and how long, e.g. "CPU, < 60 s"
    n_layer: int = 0                 # 0 keeps the paper value
    n_head: int = 0
    n_embd: int = 0
    block_size: int = 0
    batch_size: int = 0              # global batch in sequences
    tokens: int = 0                  # training tokens
    micro_batch_size: int = 0
    overrides: tuple = ()            # further "section.key=value" settings (eval, data size...)


@dataclass(frozen=True)
class PaperSpec:
    name: str
    title: str
    citation: str
    recipe: Config                   # the paper's recipe at its default size
    sizes: dict                      # size -> {"section.key": value} changes from the recipe
    default_size: str
    scales: dict                     # scale name -> Scale
    sources: dict                    # "section.key" -> paper source (str) or inferred(why)
    notes: tuple = ()                # (what, implemented?, why) rows for the report
    data: dict = field(default_factory=dict)        # offline default and paper-faithful source
    references: tuple = ()           # Reference rows: numbers to set beside ours
    published_params: dict = field(default_factory=dict)  # size -> (number as published, why
                                                          # it differs from the exact count)
    evaluations: tuple = ()          # PaperEval rows: the paper's own evaluation numbers
    report_notes: tuple = ()         # paragraphs the report must carry (how a choice was made)
    finetune: object = None          # a repro.transfer.recipe.FinetuneSpec if the paper fine-tunes
    ladder: object = None            # a repro.scaling.ladder.Ladder: sizes for `repro scaling`
    findings: tuple = ()             # Finding rows: the analysis claims its reports test


@dataclass(frozen=True)
class Finding:
    """A claim of the paper's analysis that a report tests (reproduced / not / inconclusive)."""
    name: str                        # the report section that tests it, e.g. "layers_transferred"
    claim: str                       # the paper's claim, in a sentence
    source: str                      # e.g. "§5, Figure 2 (left)"
    sign: int = 1                    # +1: the claimed effect is positive; -1: negative


@dataclass(frozen=True)
class PaperEval:
    """One number of the paper's evaluation tables, for one size."""
    task: str                        # a repro.eval task name, e.g. "lambada"
    metric: str                      # e.g. "accuracy", "perplexity"
    shots: int
    size: str
    value: float
    source: str                      # e.g. "GPT-2 Table 3"
    note: str = ""                   # where the paper's protocol differs from ours


@dataclass(frozen=True)
class Reference:
    """A published number to set beside ours, and whether our runs can be compared with it."""
    what: str
    value: float
    source: str
    comparable: bool
    why: str = ""


def size_config(spec: PaperSpec, size: str) -> Config:
    if size not in spec.sizes:
        raise ReproError(f"unknown size {size!r} for {spec.name}; choose from: "
                         f"{', '.join(spec.sizes)}")
    cfg = with_changes(spec.recipe, spec.sizes[size])   # typed values, applied as they are
    return cfg.replace(paper=spec.name, size=size)


def derive(cfg: Config, scale: Scale, name: str, overrides=()) -> Config:
    """Shrink a paper config to a scale by the rule of the module docstring. `overrides` (the
    user's --set) count as part of the scale: a shorter run, another batch or width keeps the
    rule too, unless the user sets those schedule values as well."""
    out = cfg.replace(scale=name)
    if name == "paper":   # exact: the user's changes apply as given
        return apply_overrides(out, list(overrides))
    paper_tokens = out.train.tokens
    paper_batch_tokens = out.train.batch_size * out.model.block_size
    paper_warmup_updates = out.schedule.warmup_tokens / paper_batch_tokens
    paper_embd = out.model.n_embd
    for key in ("n_layer", "n_head", "n_embd", "block_size"):
        if getattr(scale, key):
            setattr(out.model, key, getattr(scale, key))
    for key in ("batch_size", "tokens", "micro_batch_size"):
        if getattr(scale, key):
            setattr(out.train, key, getattr(scale, key))
    pairs = list(scale.overrides) + list(overrides)
    out = apply_overrides(out, pairs)
    m = out.model
    t = out.train
    s = out.schedule
    given = {pair.split("=", 1)[0].strip() for pair in pairs}
    # an explicit MLP width keeps its ratio (GPT-1: 4x)
    if m.n_inner and "model.n_inner" not in given:
        m.n_inner = m.n_inner * m.n_embd // paper_embd
    ratio = out.train.tokens / paper_tokens if paper_tokens else 1.0
    for key in ("decay_tokens", "batch_ramp_tokens"):
        if f"schedule.{key}" not in given:
            setattr(s, key, round(getattr(s, key) * ratio))
    if "schedule.warmup_tokens" not in given:
        batch_tokens = t.batch_size * m.block_size
        run_updates = out.train.tokens / batch_tokens
        s.warmup_tokens = round(min(paper_warmup_updates, WARMUP_CAP * run_updates) * batch_tokens)
    if "schedule.batch_ramp_start_tokens" not in given:
        s.batch_ramp_start_tokens = round(s.batch_ramp_start_tokens
                                          * t.batch_size * m.block_size / paper_batch_tokens)
    return out


def run_group(spec: PaperSpec, size: str | None, scale: str) -> str:
    """The folder of a (paper, size, scale)'s runs and the stem of its report: "gpt2-small" for
    the default size, "gpt2-medium-small" for another (sizes never share a report)."""
    size = size or spec.default_size
    return f"{spec.name}-{scale}" if size == spec.default_size else f"{spec.name}-{size}-{scale}"


def train_command(spec: PaperSpec, size: str | None, scale: str) -> str:
    """The command that trains (paper, size, scale); --size only where it is not the default."""
    flag = f" --size {size}" if size and size != spec.default_size else ""
    return f"python -m repro {spec.name}{flag} --scale {scale}"


def resolve(spec: PaperSpec, size: str | None, scale: str, overrides=()) -> Config:
    """The full config of (paper, size, scale) with the user's --set overrides applied."""
    if scale not in spec.scales:
        raise ReproError(f"unknown scale {scale!r}; choose from: {', '.join(spec.scales)}")
    return validate_run(derive(size_config(spec, size or spec.default_size), spec.scales[scale],
                               scale, overrides))


SPEC_COLUMNS = ("setting", "paper (source)", "inferred (source)", "this run")


def spec_rows(spec: PaperSpec, cfg: Config) -> list[dict]:
    """source_rows of a pre-training run: every value of the spec that has a source."""
    return source_rows(spec.sources, field_values(size_config(spec, cfg.size or
                                                              spec.default_size)),
                       field_values(cfg))


def source_rows(sources: dict, paper: dict, ours: dict, keys=None) -> list[dict]:
    """Rows "setting | paper (source) | inferred (source) | this run" for keys (default: those
    of sources) of flat {key: value} configs (repro.overrides.field_values): a value the paper
    states goes under "paper", any other (inferred, or without a source) under "inferred",
    never both."""
    rows = []
    for key in keys or sources:
        source = sources.get(key)
        cell = _fmt(paper[key]) + (f" ({source_text(source)})" if source is not None else "")
        inferred = source is None or isinstance(source, Inferred)
        rows.append({"setting": key, "paper (source)": "" if inferred else cell,
                     "inferred (source)": cell if inferred else "", "this run": _fmt(ours[key])})
    return rows


def note_rows(spec: PaperSpec) -> list[dict]:
    """What the paper does beyond the settings, whether we do it, and how or why not."""
    return [{"the paper": what, "done here?": "yes" if done else "no", "how, or why not": why}
            for what, done, why in spec.notes]


def _fmt(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"
