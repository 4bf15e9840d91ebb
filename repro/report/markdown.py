"""The report as markdown, a list of sections: header, results (yours vs the reference),
training, the task's own sections, evaluation, references, the spec table, parameter counts
and parity."""
from __future__ import annotations

import dataclasses
import json

from ..errors import ReproError
from .runs import REFERENCE, YOURS
from .tables import md_table
from .task_sections import LOSS_KEYS, TASK_REPORTS, TASK_SCORES

RESULT_KEYS = (*LOSS_KEYS, *TASK_SCORES, "final_loss")


def _stat(s: dict | None, pct: bool = False) -> str:
    if not s:
        return ""
    f = (lambda v: f"{100 * v:.2f}%") if pct else (lambda v: f"{v:.4f}")
    return f"{f(s['mean'])} ± {f(s['std'])} (n={s['n']})" if s["n"] > 1 else f(s["mean"])


def results_rows(result: dict) -> list[dict]:
    """Mean ± std over each origin's recipe runs with distinct seeds."""
    rows = []
    for key in RESULT_KEYS:
        row = {"metric": key}
        for origin in (REFERENCE, YOURS):
            s = result["stats"].get(origin, {}).get(key)
            if s:
                row[origin] = _stat(s, pct=key.endswith("accuracy"))
        if len(row) > 1:
            rows.append(row)
    return rows


def param_table(spec, vocab_size: int) -> list[dict]:
    """Per size of the paper: published, formula, ours, HF. A size whose vocabulary comes from
    the data (0 in the spec) is counted with the run's, as the header counts it."""
    from ..interop.parity import param_rows
    from ..spec import size_config
    models = {}
    for size in spec.sizes:
        m = size_config(spec, size).model
        models[size] = m if m.vocab_size else dataclasses.replace(m, vocab_size=vocab_size)
    try:
        return param_rows(models, spec.published_params)
    except (ImportError, ReproError, KeyError, ValueError) as e:
        return [{"size": s, "error": f"{type(e).__name__}: {e}"} for s in models]


def render(spec, cfg, result: dict, shown: list[dict], groups: dict, parity: list[dict],
           images: list[str]) -> str:
    from .evaluation import evaluation_section
    sections = [header(spec, cfg, result, shown, groups),
                results(spec, result),
                training(result, groups),
                TASK_REPORTS[cfg.data.kind].sections(shown, images),
                evaluation_section(spec, cfg, shown),
                references(spec),
                spec_tables(spec, cfg),
                parity_section(spec, parity)]
    return "\n".join(line for section in sections for line in section)


def header(spec, cfg, result: dict, shown: list[dict], groups: dict) -> list[str]:
    latest_env = shown[-1]["env"]
    v = result["versions"]
    n_ref = len(groups[REFERENCE])
    n_yours = len(groups[YOURS])
    stem = result["stem"]
    m = cfg.model
    processes = ", ".join(sorted({str(r["env"].get("world_size", 1)) for r in shown}))
    return [f"# {spec.title} — `{cfg.scale}` scale\n", f"{spec.citation}\n",
            f"- runs: {n_ref} reference run(s) (committed evidence, reports/runs/{stem}/) and "
            f"{n_yours} of yours (runs/{stem}/) of the recipe with distinct seeds; "
            f"{len(shown) - n_ref - n_yours} other run(s) listed as variants",
            f"- runs made at commit(s) {', '.join(f'`{c}`' for c in result['run_commits'])}; "
            f"report written at `{result['report_commit']}` on {result['generated']}",
            f"- device: **{latest_env['device']}**, {processes} process(es) per run; "
            f"torch {v.get('torch')}, transformers {v.get('transformers')}, "
            f"accelerate {v.get('accelerate')}",
            f"- size `{cfg.size}`: {m.n_layer} layers × {m.n_embd}, {m.n_head} heads, context "
            f"{m.block_size}, {result['params']:,} parameters",
            f"- data: {json.dumps(result['data'])}",
            f"- reproduce: `{result['command']}`\n"]


def results(spec, result: dict) -> list[str]:
    return ["## Results\n", "Mean ± standard deviation over the recipe runs with distinct "
            "seeds. `val_loss (slice)` is the fixed validation slice evaluated during training "
            "(the opening of the validation split); `val_loss (whole split)` is scored once at "
            "the end over the whole validation split; `test_loss` over the test set, once.\n",
            md_table(results_rows(result)), *[f"{note}\n" for note in spec.report_notes]]


def training(result: dict, groups: dict) -> list[str]:
    stem = result["stem"]
    out = ["## Training\n", f"![loss curves]({stem}.png)\n", md_table(result["run_rows"])]
    if not groups[REFERENCE] and not groups[YOURS]:
        out.append(f"**No run here is the current recipe:** each departs from it as its "
                   f"`variant` column says. `{result['command']}` runs the recipe itself.\n")
    return out


def references(spec) -> list[str]:
    if not spec.references:
        return []
    return ["## Reference numbers\n", md_table([
        {"what": ref.what, "value": ref.value, "source": ref.source,
         "comparable with these runs?": ("yes" if ref.comparable else "no") +
         (f": {ref.why}" if ref.why else "")} for ref in spec.references])]


def spec_tables(spec, cfg) -> list[str]:
    from ..spec import SPEC_COLUMNS, note_rows, spec_rows
    rows = spec_rows(spec, cfg)
    return ["## Spec: the paper's values, the inferred ones, this run\n",
            "A value the paper states is under *paper*; one it does not state (released code, "
            "another paper, our choice) is under *inferred*, never under *paper*. Sources: "
            "papers/FACTS.md.\n", md_table([{k: r[k] for k in SPEC_COLUMNS} for r in rows]),
            "### Beyond the settings\n", md_table(note_rows(spec)),
            "## Parameter counts\n", md_table(param_table(spec, cfg.model.vocab_size))]


def parity_section(spec, parity: list[dict]) -> list[str]:
    if not parity:
        return []
    return ["## Parity with Hugging Face (fp32, CPU)\n",
            "From the parity artifact (`python -m repro parity " + spec.name + " --save`): "
            "random weights of this size's structure at reduced depth and width.\n",
            md_table(parity)]
