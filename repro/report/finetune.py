"""The fine-tuning report: the runs of runs/<paper>-finetune-<scale>/ (yours) and of the
committed evidence reports/runs/<paper>-finetune-<scale>/ (the reference), side by side, ->
<out>/<paper>-finetune-<scale>.md and .json. It reads runs and never writes them.

A run belongs to one of three arms, by how it differs from the paper's recipe:
- recipe:      pre-trained weights (a run of ours or a Hugging Face checkpoint), the recipe as is;
- no_aux_lm:   the same with lm_coef = 0 (no auxiliary LM loss);
- random_init: an untrained transformer of the same shape, the recipe as is.
Any other change is listed with the runs and averaged nowhere. Per task and arm the numbers are
the mean and spread over distinct seeds (the newest finished run of a seed); a run stopped
before its end is listed as stopped and averaged nowhere. Every score sits beside its task's
majority-class baseline (and chance, for accuracy), and every comparison is signed with a 95%
interval (report/finetune_stats.py, report/intervals.py).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from ..data.glue import TASKS
from ..errors import ReproError
from ..finetune_config import FinetuneConfig, FinetuneRecipe
from ..outputs import write_files
from ..overrides import field_values
from ..provenance import git_commit
from ..rundir import RunDir
from ..spec import source_rows
from ..transfer.recipe import differences, finetune_group
from . import finetune_stats as fs
from .findings import findings_sections
from .finetune_results import ablation, arm_names, results_rows, seed_runs, seed_values
from .layers import transfer_of
from .runs import REFERENCE, YOURS, copy_runs, damaged, gather, nowhere
from .tables import md_table


def load_finetune_runs(folder: Path, origin: str) -> list[dict]:
    """The fine-tuning runs under folder that have a summary (finished or stopped); "config"
    is the run record's FinetuneConfig."""
    runs = []
    for d in sorted(folder.glob("*/")) if folder.is_dir() else ():
        run = RunDir(d)
        if not run.has_config() or run.held():
            continue
        try:
            record, summary = run.load(), run.read_optional(RunDir.SUMMARY)
            env = run.read_optional(RunDir.ENV) or {}
            predictions = run.read_optional(RunDir.DEV_PREDICTIONS)   # None: an older run
        except ReproError as e:
            runs.append(damaged(d, e))   # not evidence, and the user is told
            continue
        if summary is None or record.kind != FinetuneConfig.KIND:
            continue
        runs.append({"dir": d, "origin": origin, "config": record.config, "summary": summary,
                     "env": env,
                     "predictions": predictions})
    return runs


def arm_of(run: dict, recipe: FinetuneRecipe) -> str:
    diff = differences(run["config"].recipe, recipe)
    pretrained = run["config"].init["kind"] != "random"
    k, n_layer = transfer_of(run)
    if k < n_layer:   # part of the pre-trained model: the layers-transferred section's runs
        return f"layers {k} of {n_layer}" + ("" if pretrained and not diff else " (changed)")
    if not diff:
        return "recipe" if pretrained else "random_init"
    if pretrained and diff == {"lm_coef": 0.0}:
        return "no_aux_lm"
    return "other: " + " ".join(f"{k}={v:g}" for k, v in sorted(diff.items())) + (
        "" if pretrained else " (random init)")


def pretraining_rows(runs: list[dict]) -> list[dict]:
    """What pre-training the fine-tuned models had, once per distinct source."""
    seen, rows = set(), []
    for r in runs:
        i = r["config"].init
        key = (r["origin"], i["kind"], i.get("run") or i.get("source") or i["architecture"])
        if key in seen:
            continue
        seen.add(key)
        what = {"run": f"{i.get('paper')} {i.get('scale')} run {i.get('run_id')} "
                       f"({i.get('checkpoint')})",
                "hf": f"Hugging Face {i.get('source')}", "random": "random init, N(0, 0.02)"}
        rows.append({"origin": r["origin"], "weights": what[i["kind"]],
                     "architecture": i["architecture"], "params": i["params"],
                     "pre-training tokens": i.get("tokens"),
                     "val loss": i.get("final_val_loss"),
                     "finished": i.get("finished") if i["kind"] == "run" else None})
    return rows


def run_rows(runs: list[dict]) -> list[dict]:
    rows = []
    for r in runs:
        s, c = r["summary"], r["config"]
        row = {"origin": r["origin"], "task": c.task, "arm": r["arm"], "seed": c.seed,
               "run": r["dir"].name, "steps": f"{s['steps']}/{s['planned_steps']}",
               "status": s["status"]}
        for metric, value in (s.get("dev") or {}).items():
            row[metric] = round(100 * value, 2)
        row.update({"wall_s": s.get("wall_s"), "device": s.get("device")})
        rows.append(row)
    return rows


def write_finetune_report(spec, scale: str, out_dir: Path, runs_root: Path | None,
                          reference_root: Path | None) -> Path:
    if spec.finetune is None or scale not in spec.finetune.scales:
        raise ReproError(f"{spec.name}: no fine-tuning recipe at scale {scale!r}")
    stem = finetune_group(spec.name, scale)
    runs = gather(stem, runs_root, reference_root, load_finetune_runs)
    if not runs:
        raise ReproError(f"no fine-tuning runs in {nowhere(stem, runs_root, reference_root)}; "
                         f"run python -m repro {spec.name} finetune --task TASK --scale {scale}")
    recipe = spec.finetune.recipe
    for r in runs:
        r["arm"] = arm_of(r, recipe)
    by_seed = seed_runs(runs)
    values, evidence = seed_values(by_seed), fs.task_evidence(by_seed)
    cells = {k: fs.arm_cell(rs, TASKS[k[1]].metrics[0]) for k, rs in by_seed.items()}
    shown = sorted(runs, key=lambda r: (r["origin"] != REFERENCE, r["config"].task,
                                        r["arm"], r["config"].seed, r["dir"].name))
    inits = pretraining_rows(shown)
    lines = [f"# {spec.title}: fine-tuning on GLUE — `{scale}` scale\n",
             f"{spec.citation}\n",
             f"- generated {time.strftime('%Y-%m-%d %H:%M')} from {len(runs)} run(s), report at "
             f"git `{git_commit()}`; runs at {', '.join(sorted({r['env'].get('git_commit', '?') for r in runs}))}",
             f"- scale `{scale}`: {spec.finetune.scales[scale].about}",
             f"- reproduce: `python -m repro {spec.name} finetune --task TASK --scale {scale} "
             f"--seed S` (arms: `--set lm_coef=0`, `--init random`)\n",
             "## Results on the GLUE dev sets (×100; mean ± std [min, max] over seeds)\n",
             "Beside each score, the task's trivial baselines, computed from its dev labels: the "
             "majority class predicted for every example, and chance (1 / classes) for accuracy. "
             "A headline score whose 95% interval against the majority baseline does not lie "
             "above it is flagged.\n",
             md_table(results_rows(spec, scale, values, cells, evidence)),
             "## What pre-training the models had\n", md_table(inits)]
    json_out = {"paper": spec.name, "scale": scale, "stem": stem,
                "generated": time.strftime("%Y-%m-%d %H:%M"), "report_commit": git_commit(),
                "values": {"/".join(map(str, k)): v for k, v in values.items()}, "ablation": {}}
    for origin in (REFERENCE, YOURS):
        rows = ablation(spec, values, cells, evidence, origin)
        if not rows:
            continue
        title = "reference evidence" if origin == REFERENCE else "your runs"
        compared, table = fs.comparison_section(arm_names(recipe), by_seed, cells, evidence,
                                                origin)
        lines += [f"## Ablation ({title}): auxiliary LM loss and pre-training (paper Table 5)\n",
                  md_table(rows), *compared]
        json_out["ablation"][origin] = {"rows": rows, "comparisons": table}
    if spec.finetune.ablation_note:
        lines.append(f"The paper: {spec.finetune.ablation_note}\n")
    found, json_out["findings"] = findings_sections(spec, scale, shown, out_dir, stem, runs_root,
                                                    reference_root)
    lines += found
    lines += ["## Recipe: paper value → these runs\n",
              md_table(source_rows(spec.finetune.sources, field_values(spec.finetune.recipe),
                                   field_values(recipe), keys=field_values(recipe))),
              *[f"- {what}: {why}" for what, why in spec.finetune.notes], "",
              "## Runs\n", md_table(run_rows(shown))]
    out_dir.mkdir(parents=True, exist_ok=True)
    json_out["runs"] = run_rows(shown)
    write_files(out_dir, {f"{stem}.json": json.dumps(json_out, indent=2, default=str) + "\n",
                          f"{stem}.md": "\n".join(lines)})
    return out_dir / f"{stem}.md"


def add_finetune_evidence(spec, scale: str, run_dirs: list[Path], reference_root: Path) -> list[Path]:
    """Copy finished fine-tuning runs into the committed reference (reports/runs/<stem>/)."""
    def refuse(record) -> str:
        if not record.dir.is_finished():
            return "not a finished run folder"
        cfg = record.config
        ok = record.kind == FinetuneConfig.KIND and (cfg.paper, cfg.scale) == (spec.name, scale)
        return "" if ok else f"not a {spec.name} fine-tuning run at scale {scale}"
    return copy_runs(run_dirs, reference_root / finetune_group(spec.name, scale), refuse)
