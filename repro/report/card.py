"""The model card (README.md) of an exported run, through huggingface_hub's ModelCard: metadata
(library, tags, datasets) and, when the run has an eval.json, a model-index of its `repro eval`
results; the text says what the model is, the command that trained it, its commit and
validation loss, and carries the reports' note on why its numbers are not the paper's
(repro.report.evaluation). It lives with the reports: it reads a run and a paper's spec."""
from __future__ import annotations

from ..config import Config
from ..rundir import RunDir
from ..spec import resolve, train_command
from .evaluation import NOT_THE_PAPERS, paper_rows, trained_here
from .tables import md_table

LOADERS = {"images": "ImageGPTForCausalImageModeling"}   # else AutoModelForCausalLM


def training_command(spec, cfg: Config) -> str:
    """The command line that trains this config: the recipe's command and one --set for each
    value that differs from the recipe at that size and scale."""
    size = cfg.size or spec.default_size
    base = resolve(spec, size, cfg.scale).to_dict()
    mine = cfg.to_dict()
    sets = [f"--set {section}.{key}={value}" for section, values in mine.items()
            if isinstance(values, dict) for key, value in values.items()
            if value != base[section][key]
            and not (section, key, base[section][key]) == ("model", "vocab_size", 0)]
    return " ".join([train_command(spec, size, cfg.scale), *sets])   # vocab 0: from the data


def eval_results(evaluation: dict | None) -> list:
    """The model-index entries of an eval.json: one per (task, shots, metric)."""
    from huggingface_hub import EvalResult
    if not evaluation:
        return []
    limit = evaluation.get("limit")
    return [EvalResult(task_type="text-generation", dataset_type=r["task"],
                       dataset_name=r["task"], metric_type=r["metric"], metric_value=r["value"],
                       metric_name=f"{r['metric']} ({r['setting']})",
                       dataset_args={"num_few_shot": r["shots"],
                                     **({"limit": limit} if limit else {})})
            for r in evaluation.get("results", [])]


def _facts(spec, cfg: Config, summary: dict, env: dict) -> list[dict]:
    m, data = cfg.model, cfg.data
    val = summary.get("val_loss_full", summary.get("final_val_loss"))
    return [{"what": k, "value": v} for k, v in [
        ("paper", spec.citation),
        ("size, scale", f"{cfg.size or spec.default_size}, {cfg.scale}"),
        ("shape", f"{m.n_layer} layers x {m.n_embd} wide, {m.n_head} heads, context "
                  f"{m.block_size}, vocabulary {m.vocab_size}"),
        ("parameters", summary.get("params")),
        ("training tokens", summary.get("tokens")),
        ("data", f"{data.dataset or data.path or data.source} ({data.tokenizer} tokenizer, "
                 f"data hash {(summary.get('data') or {}).get('data_hash', '-')})"),
        ("validation loss (nats/token)", val),
        ("commit", env.get("git_commit", "-"))]]


def model_card(spec, run: RunDir, folder_name: str):
    """The ModelCard of `run` (a run of `spec`), for a folder named folder_name."""
    from huggingface_hub import ModelCard, ModelCardData
    cfg = run.load().pretraining("", "it keeps its dev scores, not a model to describe")
    summary = run.read_optional(RunDir.SUMMARY) or {"tokens": cfg.train.tokens}
    env = run.read_optional(RunDir.ENV) or {}
    evaluation = run.read_optional(RunDir.EVAL)
    name = f"{spec.name}-{cfg.scale} ({run.name})"
    text = cfg.data.kind == "text"
    meta = ModelCardData(
        library_name="transformers", model_name=name,
        tags=["repro", spec.name, f"scale-{cfg.scale}", "causal-lm"],
        datasets=[cfg.data.dataset] if cfg.data.dataset else None,
        pipeline_tag="text-generation" if text else None,
        eval_results=eval_results(evaluation) or None)
    note = trained_here(cfg.to_dict(), summary)
    body = [f"# {name}\n", f"{spec.title}, reproduced with repro: this model was trained here "
            f"at the `{cfg.scale}` scale. Is it the paper's model? {note}.\n",
            md_table(_facts(spec, cfg, summary, env)), "## How it was trained\n",
            f"```bash\n{training_command(spec, cfg)}\n```\n",
            "## Use\n", f"```python\nfrom transformers import "
            f"{LOADERS.get(cfg.data.kind, 'AutoModelForCausalLM')} as Model\n"
            f"model = Model.from_pretrained({folder_name!r})\n```\n"]
    if evaluation:
        rows = paper_rows(evaluation, [(spec, cfg.size or spec.default_size)], note)
        limit = evaluation.get("limit")
        body += ["## Evaluation (`python -m repro eval`)\n",
                 (f"First {limit} examples per task. " if limit else "") + NOT_THE_PAPERS + "\n",
                 md_table(rows)]
    return ModelCard(f"---\n{meta.to_yaml()}\n---\n\n" + "\n".join(body))
