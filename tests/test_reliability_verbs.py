"""The newer verbs (eval, export, finetune, report, parity, bench) held to the training verb's
standard (issue 26): each misuse below is one line `repro: error: ...`, exit 2, and every file
under the case's folder is byte-identical before and after (nothing written, nothing removed).

The fixtures are built once for the module without training: a tiny GPT-2 run (config and a
checkpoint, as the trainer writes them), its export, a fine-tuning run's folder, and damaged
copies of each. Each case runs through repro.cli.main in this process (its output captured at
the file descriptors), in the fixtures' folder, so default outputs (runs/, reports/local)
would show up in the snapshot too.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from repro_papers import PAPERS
from repro.checkpoint import save as save_checkpoint
from repro.cli import main as cli_main
from repro.model import build_model
from repro.spec import size_config
from run_helpers import cli_env

REPO = Path(__file__).resolve().parent.parent

torch.set_num_threads(1)


def _run_folder(path: Path, paper: str, checkpoint: bool = True) -> Path:
    """A finished run as the trainer leaves it: config, env, metrics, summary, a checkpoint."""
    torch.manual_seed(0)
    base = size_config(PAPERS["gpt2"], "small")
    mcfg = dataclasses.replace(base.model, n_layer=2, n_head=2, n_embd=32, block_size=32)
    cfg = base.replace(model=mcfg, scale="tiny")
    cfg.paper = paper
    path.mkdir(parents=True)
    (path / "config.json").write_text(cfg.to_json())
    (path / "env.json").write_text(json.dumps({"device": "cpu", "world_size": 1, "seed": 0}))
    (path / "metrics.jsonl").write_text(json.dumps({"step": 1, "loss": 10.0, "val_loss": 10.0})
                                        + "\n")
    (path / "summary.json").write_text(json.dumps({"steps": 1, "final_val_loss": 10.0}))
    if checkpoint:
        save_checkpoint(path / "checkpoints", 1, {"model": build_model(mcfg).state_dict(),
                                                  "config": cfg.to_dict()})
    return path


def _reseal(ckpt: Path) -> None:
    """A checksum sidecar that matches the file as it is now (a copy cut short, then sealed)."""
    ckpt.with_suffix(".sha256").write_text(hashlib.sha256(ckpt.read_bytes()).hexdigest())


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict:
    from repro.interop.export import export_run
    root = tmp_path_factory.mktemp("verbs").resolve()
    run = _run_folder(root / "runs" / "gpt2-tiny" / "run", "gpt2")
    hf = root / "hf"
    export_run(run, hf)
    p = {"root": root, "run": run, "hf": hf}
    # a gpt1-labelled run whose only checkpoint is cut in half, its checksum rewritten to match
    p["truncated"] = _run_folder(root / "damaged" / "truncated", "gpt1")
    ckpt = next((p["truncated"] / "checkpoints").glob("*.pt"))
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    _reseal(ckpt)
    p["bad_sum"] = shutil.copytree(run, root / "damaged" / "bad-sum")   # its only one fails
    next((p["bad_sum"] / "checkpoints").glob("*.sha256")).write_text("0" * 64)
    p["finetune_run"] = ft = root / "ft" / "gpt1-finetune-tiny" / "rte-run"
    ft.mkdir(parents=True)
    committed = sorted((REPO / "reports" / "runs" / "gpt1-finetune-small").glob("rte-*"))[0]
    config = json.loads((committed / "config.json").read_text())   # a fine-tuning run's shape
    (ft / "config.json").write_text(json.dumps({**config, "scale": "tiny"}))
    (ft / "summary.json").write_text(json.dumps({"dev": {"accuracy": 0.5}}))
    (ft / "env.json").write_text("{}")
    p["gpt1_run"] = shutil.copytree(p["truncated"], root / "other" / "gpt1-run",
                                    ignore=shutil.ignore_patterns("checkpoints"))
    p["hf_no_weights"] = shutil.copytree(hf, root / "hf-no-weights")
    (p["hf_no_weights"] / "model.safetensors").unlink()
    p["hf_truncated"] = shutil.copytree(hf, root / "hf-truncated")
    weights = p["hf_truncated"] / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    p["hf_disagrees"] = shutil.copytree(hf, root / "hf-disagrees")
    config = json.loads((p["hf_disagrees"] / "config.json").read_text())
    (p["hf_disagrees"] / "config.json").write_text(json.dumps({**config, "n_layer": 3}))
    damaged = root / "damaged-runs" / "gpt2-tiny"
    shutil.copytree(run, damaged / "garbage-config", ignore=shutil.ignore_patterns("checkpoints"))
    (damaged / "garbage-config" / "config.json").write_text("{not json")
    shutil.copytree(run, damaged / "garbage-metrics", ignore=shutil.ignore_patterns("checkpoints"))
    (damaged / "garbage-metrics" / "metrics.jsonl").write_text('{"step": 1, "lo\n')
    p["damaged_runs"] = damaged.parent
    files = p["files"] = root / "files"
    (files / "folder").mkdir(parents=True)
    (files / "empty.txt").write_bytes(b"")
    (files / "blank.txt").write_text("  \n\n\t\n")
    (files / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (files / "latin1.txt").write_bytes("caf\u00e9 au lait\n".encode("latin-1"))
    return p


LONG = "9" * 5000
CASES = [  # (id, argv, expected text); {name} is a path of `places`
    # export: its --out, and the runs it reads
    ("export-out-run", ["export", "{run}", "--out", "{run}"], "--out {run}: is a run folder"),
    ("export-out-in-run", ["export", "{run}", "--out", "{run}/checkpoints/hf"],
     "is inside the run folder {run}"),
    ("export-out-export", ["export", "{run}", "--out", "{hf}"],
     "--out {hf}: not empty; give a new or empty folder"),
    ("export-out-empty-name", ["export", "{run}", "--out", ""], "--out '': an empty name"),
    ("export-out-file", ["export", "{run}", "--out", "{files}/empty.txt"],
     "{files}/empty.txt is a file, not a folder"),
    ("export-truncated", ["export", "{truncated}", "--out", "new-hf"],
     "the only checkpoint is unreadable though its checksum matches"),
    ("export-bad-checksum", ["export", "{bad_sum}", "--out", "new-hf"],
     "the only checkpoint is incomplete or corrupt (checksum mismatch)"),
    ("export-finetune-run", ["export", "{finetune_run}", "--out", "new-hf"],
     "is a fine-tuning run (rte): it keeps its dev scores, not a checkpoint"),
    # train
    ("train-out-empty-name", ["chargpt", "--out", "", "--no-report"], "--out '': an empty name"),
    ("train-out-run", ["chargpt", "--out", "{run}", "--no-report"], "--out {run}: is a run folder"),
    ("train-steps-long", ["chargpt", "--steps", LONG], "--steps 999999999999... (5,000 characters)"
                                                       ": too long for a number"),
    ("train-report-dir-file", ["chargpt", "--report-dir", "{files}/empty.txt"],
     "--report-dir {files}/empty.txt: {files}/empty.txt is a file, not a folder"),
    ("train-resume-finetune-run", ["gpt1", "--resume", "{finetune_run}"],
     "is a fine-tuning run (rte): it cannot be resumed"),
    # eval
    ("eval-out-file", ["eval", "{run}", "--tasks", "ptb", "--out", "{files}/empty.txt"],
     "--out {files}/empty.txt: {files}/empty.txt is a file, not a folder"),
    ("eval-out-in-run", ["eval", "{run}", "--tasks", "ptb", "--out", "{run}/eval"],
     "is inside the run folder {run}"),
    ("eval-tasks-comma", ["eval", "{run}", "--tasks", ","], "--tasks ',': names no task"),
    ("eval-seed-negative", ["eval", "{run}", "--set", "eval.seed=-1"],
     "eval.seed=-1: must not be negative"),
    ("eval-path-empty", ["eval", "{run}", "--tasks", "ptb", "--set", "eval.path={files}/empty.txt"],
     "empty.txt is empty"),
    ("eval-path-blank", ["eval", "{run}", "--tasks", "ptb", "--set", "eval.path={files}/blank.txt"],
     "blank.txt has no text (only blank lines)"),
    ("eval-path-binary", ["eval", "{run}", "--tasks", "ptb",
                          "--set", "eval.path={files}/binary.txt"],
     "binary.txt is not UTF-8 text (bad byte at offset 0)"),
    ("eval-path-latin1", ["eval", "{run}", "--tasks", "ptb",
                          "--set", "eval.path={files}/latin1.txt"],
     "latin1.txt is not UTF-8 text (bad byte at offset 3)"),
    ("eval-path-folder", ["eval", "{run}", "--tasks", "ptb", "--set", "eval.path={files}/folder"],
     "folder is a folder, not a file"),
    ("eval-truncated", ["eval", "{truncated}", "--tasks", "ptb"],
     "unreadable though its checksum matches"),
    ("eval-checkpoint-truncated", ["eval", "{truncated}", "--checkpoint", "1", "--tasks", "ptb"],
     "ckpt-00000001.pt: unreadable though its checksum matches"),
    ("eval-checkpoint-negative", ["eval", "{run}", "--checkpoint", "-1"],
     "--checkpoint -1: must not be negative"),
    ("eval-bad-checksum", ["eval", "{bad_sum}", "--tasks", "ptb"],
     "the only checkpoint is incomplete or corrupt"),
    ("eval-finetune-run", ["eval", "{finetune_run}"], "{finetune_run} is a fine-tuning run (rte): "),
    ("eval-hf-no-weights", ["eval", "--hf", "{hf_no_weights}", "--tasks", "ptb"],
     "its weights cannot be loaded (Error no file named model.safetensors"),
    ("eval-hf-truncated", ["eval", "--hf", "{hf_truncated}", "--tasks", "ptb"],
     "its weights cannot be loaded"),
    ("eval-hf-disagrees", ["eval", "--hf", "{hf_disagrees}", "--tasks", "ptb"],
     "config.json disagrees with the weights"),
    ("eval-limit-long", ["eval", "{run}", "--limit", LONG], ": too long for a number"),
    ("eval-limit-arabic-digit", ["eval", "{run}", "--limit", "\u0663"],
     "--limit \u0663: not a number (only ASCII digits)"),
    ("eval-batch-size-zero", ["eval", "{run}", "--batch-size", "0"],
     "--batch-size 0: must be positive"),
    ("eval-shots-superscript", ["eval", "{run}", "--tasks", "piqa", "--shots", "\u00b3"],
     "not a number (only ASCII digits)"),
    ("eval-stride-nan", ["eval", "{run}", "--set", "eval.stride=nan"],
     "eval.stride=nan: not a finite number"),
    # fine-tuning
    ("finetune-seed-negative", ["gpt1", "finetune", "--task", "rte", "--seed", "-1"],
     "--seed -1: must not be negative"),
    ("finetune-lm-coef-nan", ["gpt1", "finetune", "--task", "rte", "--set", "lm_coef=nan"],
     "lm_coef=nan: not a finite number"),
    ("finetune-init-truncated", ["gpt1", "finetune", "--task", "rte", "--init", "{truncated}"],
     "unreadable though its checksum matches"),
    ("finetune-hf-no-weights", ["gpt1", "finetune", "--task", "rte", "--hf", "{hf_no_weights}"],
     "its weights cannot be loaded"),
    ("finetune-out-file", ["gpt1", "finetune", "--task", "rte", "--out", "{files}/empty.txt"],
     "--out {files}/empty.txt: {files}/empty.txt is a file"),
    ("finetune-transfer-negative", ["gpt1", "finetune", "--task", "rte", "--transfer-layers",
                                    "-2"], "--transfer-layers -2: must not be negative"),
    ("finetune-report-dir-in-run", ["gpt1", "finetune", "--task", "rte", "--report-dir",
                                    "{run}/reports"], "--report-dir {run}/reports: is inside"),
    # report
    ("report-out-file", ["report", "gpt2", "--runs", "runs", "--out", "{files}/empty.txt"],
     "--out {files}/empty.txt: {files}/empty.txt is a file"),
    ("report-all-damaged", ["report", "gpt2", "--runs", "{damaged_runs}", "--reference-dir",
                            "{files}/folder"],
     "no usable run in {damaged_runs}/gpt2-tiny or {files}/folder/runs/gpt2-tiny: "
     "garbage-config (config.json: not readable JSON (JSONDecodeError); the run folder is "
     "damaged); garbage-metrics (metrics.jsonl is not JSON lines (JSONDecodeError))"),
    ("report-add-other-paper", ["report", "gpt2", "--add", "{gpt1_run}", "--reference-dir",
                                "{files}/folder"], "--add {gpt1_run}: a gpt1 run, not a gpt2 run"),
    # parity
    ("parity-other-family", ["parity", "gpt1", "--hf", "{hf}"],
     "--hf {hf}: a GPT2LMHeadModel checkpoint; gpt1's models are OpenAIGPTLMHeadModel"),
    ("parity-hf-disagrees", ["parity", "gpt2", "--hf", "{hf_disagrees}"],
     "config.json disagrees with the weights"),
    ("parity-save-file", ["parity", "gpt2", "--save", "{files}/empty.txt"],
     "--save {files}/empty.txt: {files}/empty.txt is a file"),
    ("parity-seq-len-zero", ["parity", "gpt2", "--seq-len", "0"], "--seq-len 0: must be positive"),
    # bench
    ("bench-out-file", ["bench", "--quick", "--out", "{files}/empty.txt"],
     "--out {files}/empty.txt: {files}/empty.txt is a file"),
    ("bench-processes-zero", ["bench", "--quick", "--processes", "0"],
     "--processes 0: must be positive"),
    ("bench-budget-nan", ["bench", "--quick", "--budget-s", "nan"],
     "--budget-s nan: not a finite number"),
]


def checksums(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            if p.is_file() else "<dir>" for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("case, argv, expected", CASES, ids=[c[0] for c in CASES])
def test_misuse_is_one_line_and_changes_nothing(places, capfd, monkeypatch, case, argv, expected):
    names = {k: str(v) for k, v in places.items()}
    argv = [a.format(**names) for a in argv]
    monkeypatch.chdir(places["root"])
    before = checksums(places["root"])
    capfd.readouterr()
    with pytest.raises(SystemExit) as exit_:
        cli_main(argv + (["--no-progress"] if argv[0] in ("eval", "gpt1", "chargpt") else []))
    err = capfd.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2, err
    assert len(err) == 1 and err[0].startswith("repro: error: "), err
    assert expected.format(**names) in err[0], err[0]
    assert checksums(places["root"]) == before, "files changed, appeared or vanished"


def test_report_names_each_damaged_run_it_leaves_out(places):
    """With one usable run beside two damaged ones, the report goes on and names both."""
    from repro.report.runs import gather, load_runs
    root = places["root"] / "mixed"
    shutil.copytree(places["damaged_runs"], root)
    shutil.copytree(places["run"], root / "gpt2-tiny" / "good",
                    ignore=shutil.ignore_patterns("checkpoints"))
    warned = []
    runs = gather("gpt2-tiny", root, None, load_runs, warn=warned.append)
    assert [r["dir"].name for r in runs] == ["good"]
    assert warned == [
        f"repro: left out {root}/gpt2-tiny/garbage-config: config.json: not readable JSON "
        f"(JSONDecodeError); the run folder is damaged",
        f"repro: left out {root}/gpt2-tiny/garbage-metrics: metrics.jsonl is not JSON lines "
        f"(JSONDecodeError)"]
    shutil.rmtree(root)


def test_interrupted_export_leaves_no_folder(places, tmp_path):
    """Ctrl-C while the export is being written or checked: no --out folder, no temporary
    sibling, no parent folder made for it (the module's fixture shows an export completing)."""
    out = tmp_path / "new" / "hf"
    cmd = [sys.executable, "-m", "repro", "export", str(places["run"]), "--out", str(out)]
    env = cli_env()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 120
    while not list((tmp_path / "new").glob(".hf.partial-*/config.json")):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and err.strip().endswith("repro: interrupted"), err
    assert not (tmp_path / "new").exists()


def test_a_refused_export_check_leaves_nothing(places, tmp_path, monkeypatch):
    """An export whose logits disagree is refused after it was written: the folder goes too."""
    from repro.interop import export
    monkeypatch.setattr(export, "TOLERANCE", -1.0)   # every difference is too large
    with pytest.raises(Exception, match="the exported model disagrees with ours"):
        export.export_run(places["run"], tmp_path / "out" / "hf")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text, kind, value", [
    ("1e6", int, 1_000_000), ("1_000", int, 1000), ("+7", int, 7), (" 3 ", int, 3),
    ("12345678901234567890123", int, 12345678901234567890123),   # exact, not through a float
    ("2.5e-4", float, 2.5e-4), ("0", int, 0)])
def test_the_number_parser_reads_what_people_type(text, kind, value):
    from repro.numbers import parse_number
    got = parse_number(text, kind, "--n", minimum=0)
    assert got == value and type(got) is kind


def test_an_empty_output_folder_is_replaced_whole(tmp_path):
    """An export into an empty folder the user made: the folder is replaced by the export."""
    from repro.outputs import whole_folder
    (tmp_path / "hf").mkdir()
    with whole_folder(tmp_path / "hf") as tmp:
        (tmp / "config.json").write_text("{}")
        assert not (tmp_path / "hf" / "config.json").exists()   # not there before the end
    assert [p.name for p in tmp_path.iterdir()] == ["hf"]
    assert [p.name for p in (tmp_path / "hf").iterdir()] == ["config.json"]
