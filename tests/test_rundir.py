"""The run as one concept (repro/rundir.py): the loader gives a record tagged with its kind for
pre-training and fine-tuning runs alike (old untagged fine-tuning folders included), eval,
export and resume refuse a fine-tuning run in one line, the lifecycle removes a folder that
never started, checkpoint names live in RunDir, and configs refuse keys they do not have."""
from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import shutil
from pathlib import Path

import pytest

from repro import checkpoint
from repro.config import Config
from repro.errors import ReproError
from repro.finetune_config import FinetuneConfig, apply_recipe_overrides
from repro.overrides import with_changes
from repro.rundir import RunDir
from repro_papers import PAPERS

REPO = Path(__file__).resolve().parent.parent
# a committed fine-tuning run of before the tag: its config.json has no "kind"
OLD_FINETUNE = sorted((REPO / "reports" / "runs" / "gpt1-finetune-small").glob("cola-*-s0-*"))[0]


def pretraining_run(out: Path) -> RunDir:
    from repro.spec import resolve
    run = RunDir.create(out / "gpt1-tiny", "20260101-000000-s0-da39a3")
    run.write_json(RunDir.CONFIG, resolve(PAPERS["gpt1"], None, "tiny").to_dict())
    return run


def finetuning_run(out: Path, tagged: bool = True) -> RunDir:
    """A fine-tuning run folder with the committed run's config (as written now, or as it is)."""
    run = RunDir.create(out / "gpt1-finetune-small", "cola-20260101-000000-s0-abcdef")
    old = json.loads((OLD_FINETUNE / RunDir.CONFIG).read_text())
    # untagged: the shape written before runs carried "kind" (recognised by its fields)
    untagged = {k: v for k, v in old.items() if k != "kind"}
    run.write_json(RunDir.CONFIG, FinetuneConfig.from_dict(old).to_dict() if tagged else untagged)
    shutil.copy(OLD_FINETUNE / RunDir.SUMMARY, run / RunDir.SUMMARY)
    return run


def test_the_loader_tags_both_kinds_with_typed_configs(tmp_path):
    pre = pretraining_run(tmp_path).load()
    assert pre.kind == "pretrain" and isinstance(pre.config, Config)
    assert (pre.config.paper, pre.config.scale, pre.config.model.n_layer) == ("gpt1", "tiny", 2)
    assert pre.what() == "a pre-training run (gpt1 base tiny)"
    for tagged in (True, False):
        ft = finetuning_run(tmp_path / str(tagged), tagged).load()
        assert ft.kind == "finetune" and isinstance(ft.config, FinetuneConfig)
        assert (ft.config.task, ft.config.seed, ft.config.recipe.lm_coef) == ("cola", 0, 0.5)
        committed = json.loads((OLD_FINETUNE / RunDir.CONFIG).read_text())
        assert ft.config.model.n_layer == 6
        assert ft.config.transfer_layers == committed.get("transfer_layers")
        assert ft.what() == "a fine-tuning run (cola)"
    written = json.loads((finetuning_run(tmp_path / "again") / RunDir.CONFIG).read_text())
    assert written["kind"] == "finetune" and written["recipe"]["lr"] == 6.25e-5
    # the committed evidence reads the same through the loader as through the new shape
    assert RunDir(OLD_FINETUNE).load().config == ft.config


def test_configs_refuse_keys_they_do_not_have(tmp_path):
    good = Config().to_dict()
    with pytest.raises(ReproError, match=r"^unknown config key model\.n_lay$"):
        Config.from_dict({**good, "model": {**good["model"], "n_lay": 3}})
    with pytest.raises(ReproError, match=r"^unknown config key recipe$"):
        Config.from_dict({**good, "recipe": {}})
    run = pretraining_run(tmp_path)
    run.write_json(RunDir.CONFIG, {**good, "optim": {**good["optim"], "learning_rate": 1.0}})
    with pytest.raises(ReproError) as e:
        run.load()
    assert str(e.value) == f"{run / RunDir.CONFIG}: unknown config key optim.learning_rate"
    old = json.loads((OLD_FINETUNE / RunDir.CONFIG).read_text())
    with pytest.raises(ReproError, match=r"^unknown config key recipe\.lm_coeff$"):
        FinetuneConfig.from_dict({**old, "recipe": {**old["recipe"], "lm_coeff": 0}})
    with pytest.raises(ReproError, match=r"^missing config key seed$"):
        FinetuneConfig.from_dict({k: v for k, v in old.items() if k != "seed"})


def test_one_override_path_for_both_configs():
    recipe = PAPERS["gpt1"].finetune.recipe
    assert apply_recipe_overrides(recipe, ["lm_coef=0", "epochs=4"]) == dataclasses.replace(
        recipe, lm_coef=0.0, epochs=4)
    cfg = with_changes(Config(), {"model.n_layer": 24, "optim.lr": 1})
    assert (cfg.model.n_layer, cfg.optim.lr, type(cfg.optim.lr)) == (24, 1.0, float)
    with pytest.raises(ReproError, match=r"^model\.n_layer=24\.5: expected int$"):
        with_changes(Config(), {"model.n_layer": 24.5})
    with pytest.raises(ReproError, match=r"^model\.n_lay: unknown key"):
        with_changes(Config(), {"model.n_lay": 2})


def test_checkpoint_names_round_trip(tmp_path):
    run = RunDir(tmp_path)
    path = run.checkpoint_path(1234)
    assert path == tmp_path / "checkpoints" / "ckpt-00001234.pt"
    assert RunDir.checkpoint_step(path) == 1234
    for step in (9, 10, 100_000_000):
        saved = checkpoint.save(run.checkpoints, step, {"step": step}, keep=3)
        assert saved == run.checkpoint_path(step) and RunDir.checkpoint_step(saved) == step
    assert [RunDir.checkpoint_step(p) for p in sorted(run.checkpoints.glob("*.pt"))] == [
        9, 10, 100_000_000]


def test_the_lifecycle_removes_only_a_run_that_never_started(tmp_path):
    fresh = RunDir.create(tmp_path / "new" / "group", "run")
    with pytest.raises(RuntimeError), fresh.training():
        assert fresh.held()
        raise RuntimeError("failed before the first step")
    assert not (tmp_path / "new").exists()        # the run and the folders made for it
    started = RunDir.create(tmp_path / "group", "run")
    with pytest.raises(RuntimeError), started.training():
        (started / RunDir.METRICS).write_text('{"step": 1}\n')
        raise RuntimeError("failed at step 2")
    assert started.path.is_dir() and not started.held() and not (started / RunDir.LOCK).exists()
    resumed = RunDir(started.path)   # opened, not made here: never removed
    (resumed / RunDir.METRICS).write_text("")
    with pytest.raises(RuntimeError), resumed.training():
        raise RuntimeError("failed on resume")
    assert resumed.path.is_dir()


def main(*args) -> tuple[int, str, str]:
    from repro.cli import main as repro_main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            repro_main([str(a) for a in args])
            code = 0
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("verb", ["eval", "export", "resume"])
def test_eval_export_and_resume_refuse_a_fine_tuning_run_in_one_line(verb, tmp_path):
    run = finetuning_run(tmp_path)
    before = sorted(p.name for p in run.path.iterdir())
    args, why = {
        "eval": (["eval", run, "--tasks", "lambada"], "it keeps its dev scores, not its weights"),
        "export": (["export", run, "--out", tmp_path / "hf"], "it keeps its dev scores, not a "
                                                               "checkpoint"),
        "resume": (["gpt1", "--resume", run, "--no-report"], "it cannot be resumed; start it "
                                                             "again with python -m repro gpt1 "
                                                             "finetune"),
    }[verb]
    code, out, err = main(*args)
    lines = err.strip().splitlines()
    assert (code, out, len(lines)) == (2, "", 1), err
    where = "--resume " if verb == "resume" else ""
    assert lines[0] == f"repro: error: {where}{run} is a fine-tuning run (cola): {why}" + (
        "; use the pre-training run it started from" if verb == "export" else
        "; evaluate the pre-training run it started from" if verb == "eval" else "")
    assert sorted(p.name for p in run.path.iterdir()) == before
    assert not (tmp_path / "hf").exists()
