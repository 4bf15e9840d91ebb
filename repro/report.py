"""runs/ -> reports/<paper>-<scale>.md, a PNG of the curves and a machine-readable JSON.

The report reads only finished run folders (those with summary.json), copies their
config, metrics and summary next to the report (reports/runs/...) so a committed report
carries its evidence, and renders tables with pandas.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from .errors import ReproError
from .rundir import RunLock, git_commit, read_jsonl

EVIDENCE = ("config.json", "metrics.jsonl", "summary.json", "env.json", "heldout.json",
            "probe.json", "sample.txt")


def md_table(rows: list[dict]) -> str:
    """A GitHub markdown table from a list of dicts (pandas' to_markdown needs tabulate)."""
    if not rows:
        return "_none_\n"
    cols = list(dict.fromkeys(k for r in rows for k in r))

    def cell(v):
        if isinstance(v, float):
            return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
        if isinstance(v, int) and not isinstance(v, bool):
            return f"{v:,}"
        return str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def load_runs(folder: Path) -> list[dict]:
    """Finished runs, and runs stopped early (a signal, a deadline) that logged an evaluation:
    those are reported as far as they got, marked "stopped at step N of M"."""
    runs = []
    for d in sorted(folder.glob("*/")):
        needed = ("config.json", "env.json", "metrics.jsonl")
        if not all((d / n).exists() for n in needed) or RunLock.held(d):
            continue   # not a run, or one still training (its numbers are not final)
        run = {"dir": d, "config": json.loads((d / "config.json").read_text()),
               "env": json.loads((d / "env.json").read_text()),
               "metrics": read_jsonl(d / "metrics.jsonl")}
        if (d / "summary.json").exists():
            run["summary"] = json.loads((d / "summary.json").read_text())
        elif any("val_loss" in m for m in run["metrics"]):
            run["summary"] = stopped_summary(run)
        else:
            continue
        runs.append(run)
    return runs


def stopped_summary(run: dict) -> dict:
    """What summary.json would say of a run stopped before its end, from its metrics."""
    from .config import Config
    from .model import build_model
    from .schedule import BatchPlan
    cfg, m = Config.from_dict(run["config"]), run["metrics"]
    last_val = [x for x in m if "val_loss" in x][-1]
    planned = BatchPlan(cfg).total_steps
    return {"steps": m[-1]["step"], "tokens": m[-1]["tokens"], "final_loss": m[-1]["loss"],
            "final_val_loss": last_val["val_loss"], "wall_s": None,
            "params": build_model(cfg.model, "meta").num_params(),
            "data": {"kind": cfg.data.kind, "source": cfg.data.source,
                     "tokenizer": cfg.data.tokenizer},
            "status": f"stopped at step {m[-1]['step']} of {planned}; val loss of step "
                      f"{last_val['step']}"}


VARIANT_SECTIONS = ("model", "data", "task")  # a change here makes a different experiment
AUTO = {("model", "vocab_size")}  # 0 in a spec means "from the data"; the run records the value


def variant(config: dict, base: dict) -> str:
    """The run's departures from the scale's spec ("task.ndigit=3"); "" for the recipe itself.
    Seeds, steps and other train settings are not a variant: they are the same experiment."""
    return " ".join(f"{sec}.{k}={v}" for sec in VARIANT_SECTIONS
                    for k, v in config.get(sec, {}).items()
                    if base[sec].get(k) != v and not ((sec, k) in AUTO and not base[sec].get(k)))


def run_rows(runs: list[dict]) -> list[dict]:
    rows = []
    for r in runs:
        s, m = r["summary"], r["metrics"]
        timed = m[1:] or m  # the first window includes compilation and warm-up
        tps = sum(x["tokens_per_s"] for x in timed) / len(timed) if timed else None
        mfus = [x["mfu"] for x in timed if "mfu" in x]
        per_item = s["data"].get("train_tokens") or s["data"].get("train_images")
        row = {"run": r["dir"].name, "seed": r["config"]["train"]["seed"], "steps": s["steps"],
               "tokens": s["tokens"], "final_loss": s["final_loss"],
               "final_val_loss": s["final_val_loss"],
               # nanoGPT's figure: the best of the evaluations, not the last one
               "best_val_loss": min((x["val_loss"] for x in m if "val_loss" in x), default=None),
               "wall_s": s["wall_s"], "tokens_per_s": tps,
               "mfu": sum(mfus) / len(mfus) if mfus else None,
               "peak_mem_gb": max((x.get("peak_mem_gb", 0) for x in m), default=0) or None}
        for key in ("variant", "status"):
            if r.get(key) or s.get(key):
                row[key] = r.get(key) or s.get(key)
        if s["data"].get("kind") == "text" and per_item:
            row["epochs"] = s["tokens"] / per_item
        for key in ("heldout_accuracy", "heldout_errors", "probe_best_layer"):
            if key in s:
                row[key] = s[key]
        rows.append(row)
    return rows


def plot_curves(runs: list[dict], path: Path, references=()) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, r in enumerate(runs):
        m, color = r["metrics"], f"C{i}"
        seed = r["config"]["train"]["seed"]
        ax.plot([x["tokens"] for x in m], [x["loss"] for x in m], color=color, alpha=0.6,
                label=f"train (seed {seed})")
        val = [x for x in m if "val_loss" in x]
        ax.plot([x["tokens"] for x in val], [x["val_loss"] for x in val], "o-", color=color,
                label=f"val (seed {seed})")
    for name, value, *_ in references:
        if "loss" in name and isinstance(value, float):  # accuracies, perplexities: tables only
            ax.axhline(value, ls="--", color="gray", lw=1)
            ax.annotate(name, (0.01, value), xycoords=("axes fraction", "data"), fontsize=7,
                        va="bottom", color="gray")
    ax.set_xlabel("tokens")
    ax.set_ylabel("loss (nats/token)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def summarize(values) -> dict | None:
    import pandas as pd
    s = pd.Series([v for v in values if v is not None], dtype=float)
    if s.empty:
        return None
    return {"mean": float(s.mean()), "min": float(s.min()), "max": float(s.max()),
            "std": float(s.std()) if len(s) > 1 else 0.0}


def parity_rows(paper: str, size: str, vocab_size: int = 0) -> list[dict]:
    """Reduced-structure parity of the run's size, if the paper has an HF counterpart (none for
    banded attention or the addition task). A size whose vocabulary comes from the data
    (vocab_size 0: chargpt) takes the run's. A failure is shown in the table, not hidden."""
    from papers import PAPERS
    from .cli_parity import reduced_overrides
    from .hf import family_of, parity
    from .spec import size_config
    model = size_config(PAPERS[paper], size).model
    try:
        family_of(model)
    except ReproError:
        return []   # no Hugging Face class has this structure
    reduced = reduced_overrides(model)   # every switch, a fraction of the cost (seconds)
    if not model.vocab_size:
        if not vocab_size:
            return []
        reduced["vocab_size"] = vocab_size
    try:
        return [parity(paper, size, reduced=reduced, seq_len=64)]
    except (ReproError, KeyError, ValueError) as e:
        return [{"paper": paper, "size": size, "error": f"parity failed: {e}"}]


def param_table(spec) -> list[dict]:
    try:
        from .hf import param_rows
        return param_rows(spec)
    except (ImportError, ReproError, KeyError, ValueError):
        from .model import build_model
        from .spec import size_config
        return [{"size": s, "published": spec.published_params.get(s, ""),
                 "ours": build_model(size_config(spec, s).model, "meta").num_params()}
                for s in spec.sizes]


def copy_evidence(runs: list[dict], evidence: Path) -> None:
    """Mirror each reported run's config, metrics and summary under reports/runs/<stem>/:
    runs no longer reported are dropped, and a report made from that folder itself (--runs
    reports/runs) leaves it as it is."""
    if runs and runs[0]["dir"].parent.resolve() == evidence.resolve():
        return
    names = {r["dir"].name for r in runs}
    for old in (evidence.iterdir() if evidence.is_dir() else ()):
        if old.is_dir() and old.name not in names:
            shutil.rmtree(old)
    for r in runs:
        dest = evidence / r["dir"].name
        dest.mkdir(parents=True, exist_ok=True)
        for name in EVIDENCE:
            if (r["dir"] / name).exists():
                shutil.copy(r["dir"] / name, dest / name)


def write_report(paper: str, scale: str, runs_root: Path = Path("runs"),
                 report_dir: Path = Path("reports"), size: str | None = None) -> Path:
    from papers import PAPERS
    from .spec import resolve, run_group, spec_rows, train_command
    if paper not in PAPERS:
        raise ReproError(f"unknown paper {paper!r}; choose from {', '.join(PAPERS)}")
    spec = PAPERS[paper]
    if size is not None and size not in spec.sizes:
        raise ReproError(f"unknown size {size!r} for {paper}; choose from: {', '.join(spec.sizes)}")
    stem = run_group(spec, size, scale)
    runs = load_runs(runs_root / stem)
    if not runs:
        raise ReproError(f"no finished runs in {runs_root / stem}; train first: "
                         f"{train_command(spec, size, scale)}")
    report_dir.mkdir(parents=True, exist_ok=True)
    from .config import Config
    base = json.loads(resolve(spec, size, scale).to_json())
    for r in runs:
        r["variant"] = variant(r["config"], base)
    # Headline numbers come from runs of the recipe itself; variants are listed beside them.
    runs = sorted(runs, key=lambda r: bool(r["variant"]))
    headline = [r for r in runs if not r["variant"]] or runs
    latest = headline[-1]
    cfg = Config.from_dict(latest["config"])
    rows = run_rows(runs)
    head_rows = rows[:len(headline)]
    plot_curves(runs, report_dir / f"{stem}.png", spec.references)
    parity = (parity_rows(paper, cfg.size, cfg.model.vocab_size)
              if cfg.data.kind != "addition" else [])
    env, data = latest["env"], latest["summary"]["data"]
    result = {
        "paper": paper, "scale": scale, "size": cfg.size, "device": env["device"],
        "runs": len(headline), "variant_runs": len(runs) - len(headline),
        "recipe_runs": sum(not r["variant"] for r in runs),
        "params": latest["summary"]["params"],
        "final_loss": summarize(r["final_loss"] for r in head_rows),
        "final_val_loss": summarize(r["final_val_loss"] for r in head_rows),
        "best_val_loss": summarize(r["best_val_loss"] for r in head_rows),
        "tokens": latest["summary"]["tokens"],
        "wall_s": summarize(r["wall_s"] for r in head_rows),
        "tokens_per_s": summarize(r["tokens_per_s"] for r in head_rows),
        "mfu": summarize(r["mfu"] for r in head_rows),
        "parity_max_abs_diff": max((p["max_abs_diff"] for p in parity if "max_abs_diff" in p),
                                   default=None),
        "data": data, "git_commit": git_commit(), "versions": env["versions"],
        "generated": time.strftime("%Y-%m-%d %H:%M"), "run_rows": rows,
    }
    for key in ("heldout_accuracy", "heldout_errors", "probe_accuracy_per_layer",
                "probe_best_layer", "error_examples"):
        if key in latest["summary"]:
            result[key] = latest["summary"][key]
    copy_evidence(runs, report_dir / "runs" / stem)
    extra_images = []
    for name in ("samples.png",):
        if (latest["dir"] / name).exists():
            shutil.copy(latest["dir"] / name, report_dir / f"{stem}-{name}")
            extra_images.append(f"{stem}-{name}")
    if "probe_accuracy_per_layer" in result:
        extra_images.append(plot_probe(result["probe_accuracy_per_layer"],
                                       report_dir / f"{stem}-probe.png"))
    (report_dir / f"{stem}.json").write_text(json.dumps(result, indent=2, default=str))
    md = render(spec, cfg, result, rows, spec_rows(spec, cfg), param_table(spec), parity,
                latest, stem, extra_images)
    (report_dir / f"{stem}.md").write_text(md)
    return report_dir / f"{stem}.md"


def plot_probe(acc: list[float], path: Path) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(range(1, len(acc) + 1), [100 * a for a in acc], "o-")
    ax.set_xlabel("layer")
    ax.set_ylabel("linear probe accuracy (%)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path.name


def render(spec, cfg, result, rows, spec_table, params, parity, latest, stem, images) -> str:
    env, data = latest["env"], result["data"]
    v = env["versions"]
    from .spec import train_command
    command = train_command(spec, cfg.size, cfg.scale)
    out = [f"# {spec.title} — `{cfg.scale}` scale\n",
           f"{spec.citation}\n",
           f"- generated {result['generated']} from {result['runs']} run(s), git `{result['git_commit']}`",
           f"- device: **{env['device']}** × {env['world_size']}; torch {v.get('torch')}, "
           f"transformers {v.get('transformers')}, accelerate {v.get('accelerate')}",
           f"- size `{cfg.size}`: {cfg.model.n_layer} layers × {cfg.model.n_embd}, "
           f"{cfg.model.n_head} heads, context {cfg.model.block_size}, "
           f"{result['params']:,} parameters",
           f"- data: {json.dumps(data)}",
           f"- reproduce: `{command}`\n",
           "## Training\n", f"![loss curves]({stem}.png)\n", md_table(rows)]
    if not result["recipe_runs"]:
        out.append(f"**No run here is the current recipe:** each departs from it as its `variant` "
                   f"column says (the spec changed after the run). `{command}` runs the "
                   f"recipe itself.\n")
    for name in ("final_loss", "final_val_loss"):
        if result[name] and result["runs"] > 1:
            s = result[name]
            out.append(f"{name}: mean {s['mean']:.4f}, min {s['min']:.4f}, max {s['max']:.4f} "
                       f"over {result['runs']} runs\n")
    if "heldout_accuracy" in result:
        out.append(f"**Held-out exact match: {result['heldout_accuracy']:.2%}** "
                   f"({result['heldout_errors']} errors); examples of errors: "
                   f"{result.get('error_examples') or 'none'}\n")
    for image in images:
        out.append(f"![{image}]({image})\n")
    if "probe_accuracy_per_layer" in result:
        acc = result["probe_accuracy_per_layer"]
        out.append("Linear probe accuracy per layer: " +
                   ", ".join(f"{i + 1}: {a:.1%}" for i, a in enumerate(acc)) +
                   f" (best layer {result['probe_best_layer']} of {len(acc)})\n")
    sample = latest["dir"] / "sample.txt"
    if sample.exists():
        out += ["### Sample\n", "```", sample.read_text()[:1500], "```\n"]
    if spec.references:
        out += ["## Reference numbers\n", md_table([
            {"what": n, "value": val, "source": src, "comparable?": note}
            for n, val, src, note in spec.references])]
    out += ["## Spec: paper value → this run\n", md_table(spec_table),
            "## Parameter counts\n", md_table(params)]
    if parity:
        out += ["## Parity with Hugging Face (fp32, CPU, reduced depth and width)\n", md_table(parity)]
    return "\n".join(out)
