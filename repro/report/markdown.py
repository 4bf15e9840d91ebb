"""The report as markdown: header, results (yours vs the reference), runs, the task's extras,
evaluation, references, the spec table, parameter counts and parity."""
from __future__ import annotations

import dataclasses
import json

from ..errors import ReproError
from .runs import REFERENCE, YOURS
from .tables import md_table


def _stat(s: dict | None, pct: bool = False) -> str:
    if not s:
        return ""
    f = (lambda v: f"{100 * v:.2f}%") if pct else (lambda v: f"{v:.4f}")
    return f"{f(s['mean'])} ± {f(s['std'])} (n={s['n']})" if s["n"] > 1 else f(s["mean"])


def results_rows(result: dict) -> list[dict]:
    """Mean ± std over each origin's recipe runs with distinct seeds."""
    rows = []
    for key in ("val_loss (slice)", "best_val_loss (slice)", "val_loss (whole split)",
                "test_loss", "heldout_accuracy", "probe_test_accuracy", "final_loss"):
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


def _probe_rows(shown: list[dict]) -> list[dict]:
    rows = []
    for r in shown:
        s = r["summary"]
        if "probe_val_accuracy_per_layer" not in s:
            continue
        row = {"run": f"seed {r['config']['train']['seed']} ({r['origin']})"}
        first = s.get("probe_first_layer", 1)   # older runs probed blocks 1..L only
        for i, (a, e) in enumerate(zip(s["probe_val_accuracy_per_layer"],
                                       s["probe_val_se_per_layer"])):
            row[f"L{i + first}"] = f"{100 * a:.1f} ± {100 * e:.1f}"
        row["best (val)"] = s["probe_best_layer"]
        row["test at best"] = f"{100 * s['probe_test_accuracy']:.1f} ± {100 * s['probe_test_se']:.1f}"
        peak = s.get("probe_peak")
        row["peaks in the middle?"] = "not computed (older run)" if peak is None else (
            f"{'yes' if peak['peaks_in_middle'] else 'no'}: best − last "
            f"{100 * peak['best_minus_last']:+.1f} vs 2 × SE {200 * peak['combined_se']:.1f}")
        rows.append(row)
    return rows


def render(spec, cfg, result: dict, shown: list[dict], groups: dict, parity: list[dict],
           images: list[str]) -> str:
    from ..rundir import RunDir
    from ..spec import SPEC_COLUMNS, note_rows, spec_rows
    from .evaluation import evaluation_section
    latest_env = shown[-1]["env"]
    v = result["versions"]
    n_ref, n_yours = len(groups[REFERENCE]), len(groups[YOURS])
    stem = result["stem"]
    m = cfg.model
    out = [f"# {spec.title} — `{cfg.scale}` scale\n", f"{spec.citation}\n",
           f"- runs: {n_ref} reference run(s) (committed evidence, reports/runs/{stem}/) and "
           f"{n_yours} of yours (runs/{stem}/) of the recipe with distinct seeds; "
           f"{len(shown) - n_ref - n_yours} other run(s) listed as variants",
           f"- runs made at commit(s) {', '.join(f'`{c}`' for c in result['run_commits'])}; "
           f"report written at `{result['report_commit']}` on {result['generated']}",
           f"- device: **{latest_env['device']}**, "
           f"{', '.join(sorted({str(r['env'].get('world_size', 1)) for r in shown}))} "
           f"process(es) per run; torch {v.get('torch')}, transformers {v.get('transformers')}, "
           f"accelerate {v.get('accelerate')}",
           f"- size `{cfg.size}`: {m.n_layer} layers × {m.n_embd}, {m.n_head} heads, context "
           f"{m.block_size}, {result['params']:,} parameters",
           f"- data: {json.dumps(result['data'])}",
           f"- reproduce: `{result['command']}`\n"]
    out += ["## Results\n", "Mean ± standard deviation over the recipe runs with distinct seeds. "
            "`val_loss (slice)` is the fixed validation slice evaluated during training (the "
            "opening of the validation split); `val_loss (whole split)` is scored once at the "
            "end over the whole validation split; `test_loss` over the test set, once.\n",
            md_table(results_rows(result))]
    for note in spec.report_notes:
        out.append(f"{note}\n")
    out += ["## Training\n", f"![loss curves]({stem}.png)\n", md_table(result["run_rows"])]
    if not n_ref and not n_yours:
        out.append(f"**No run here is the current recipe:** each departs from it as its "
                   f"`variant` column says. `{result['command']}` runs the recipe itself.\n")
    adder = [r for r in shown if "heldout_accuracy" in r["summary"]]
    for r in adder[:1]:
        s = r["summary"]
        out.append(f"Held-out exact match of seed {r['config']['train']['seed']} "
                   f"({r['origin']}): {s['heldout_accuracy']:.2%} ({s['heldout_errors']} errors "
                   f"of {s['heldout_problems']}); errors: {s.get('error_examples') or 'none'}\n")
    probes = _probe_rows(shown)
    if probes:
        out += ["### Linear probe (iGPT §2.3-2.4, §3.4)\n",
                "Features (§2.3): n^l, the network's own norm of h^l (ln_1 of the next block, "
                "ln_f for the last; mean-free with a gain in iGPT), averaged over positions, "
                "for every depth l = 0 (embeddings) .. L. Per layer and L2 strength a probe is "
                "fitted on every training image and scored on the validation split (held out "
                "from the training images); layer and L2 are chosen there, the validation "
                "images are folded back in for the final fit (§3.1), and the test set is "
                "scored once. Accuracies in % ± one binomial standard error. \"Peaks in the "
                "middle\" (§4.1) is claimed only when a middle layer beats the last by more "
                "than twice their combined standard error. Runs from before this protocol "
                "(no \"peaks\" entry) probed blocks 1..L with a parameter-free layer norm, "
                "on 5,000 training images, without the fold-back.\n", md_table(probes)]
    captions = {"samples": "Top two rows: test images; bottom two rows: samples of the newest "
                           "run (temperature 1, from the start-of-sequence).",
                "probe": "Linear-probe accuracy on the validation split per layer, ±1 binomial "
                         "standard error."}
    for image in images:
        caption = next((c for k, c in captions.items() if image.endswith(f"-{k}.png")), "")
        out.append(f"![{image}]({image})\n" + (f"\n{caption}\n" if caption else ""))
    sample = shown[-1]["dir"] / RunDir.SAMPLE
    if sample.is_file():
        out += ["### Sample\n", "```", sample.read_text()[:1500], "```\n"]
    out += evaluation_section(spec, cfg, shown)
    if spec.references:
        out += ["## Reference numbers\n", md_table([
            {"what": ref.what, "value": ref.value, "source": ref.source,
             "comparable with these runs?": ("yes" if ref.comparable else "no") +
             (f": {ref.why}" if ref.why else "")} for ref in spec.references])]
    rows = spec_rows(spec, cfg)
    out += ["## Spec: the paper's values, the inferred ones, this run\n",
            "A value the paper states is under *paper*; one it does not state (released code, "
            "another paper, our choice) is under *inferred*, never under *paper*. Sources: "
            "papers/FACTS.md.\n", md_table([{k: r[k] for k in SPEC_COLUMNS} for r in rows]),
            "### Beyond the settings\n", md_table(note_rows(spec)),
            "## Parameter counts\n", md_table(param_table(spec, m.vocab_size))]
    if parity:
        out += ["## Parity with Hugging Face (fp32, CPU)\n",
                "From the parity artifact (`python -m repro parity " + spec.name + " --save`): "
                "random weights of this size's structure at reduced depth and width.\n",
                md_table(parity)]
    return "\n".join(out)
