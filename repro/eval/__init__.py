"""Zero- and few-shot evaluation, the papers' own protocols, as data (`python -m repro eval`).

    tasks.py       the task table (which protocol, which data, how it is read)
    protocols.py   last word, multiple choice, perplexity over strided windows
    prompts.py     K-shot demonstrations (pool, seed, formats, how many fit)
    detokenize.py  invertible de-tokenizers for WikiText and PTB
    scoring.py     batched log-likelihoods of continuations: one forward per batch
    data.py        shipped sets (sha256 verified at load) and the user's files
    models.py      a run's checkpoint or a Hugging Face checkpoint, with its tokenizer
    runner.py      a plan of (task, K) -> the eval.json content
    settings.py    --set eval.KEY=VALUE
    harness.py     lm-evaluation-harness model "repro" + lm_eval_tasks/*.yaml (optional)
    end_of_run.py  a training run's last work per task: samples, held-out exact match, probe
"""
