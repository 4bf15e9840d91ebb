"""`python tests/cli_batch.py CASES.json RESULTS.json`: many `python -m repro ...` command lines
in one process (tests only). Each case {"argv": [...], "cwd": DIR} runs through repro.cli.main
in its own folder, with its own stdout and stderr (file descriptors 1 and 2, so a library that
writes to them directly is caught too); its result is {"rc", "stdout", "stderr"}, where an
exception escaping main is printed as Python would print it and gives rc 1.

Why: a table of ~40 misuses, each a fresh interpreter importing torch, costs ~2 s of start-up
apiece on a 2-core box. What one process cannot show, a warning printed at import time, the
tests that run whole commands in their own process show (their errors must be one line too).
"""
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path

from repro.cli import main


def run_case(argv: list[str]) -> int:
    try:
        main(argv)
        return 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:   # noqa: BLE001 - what `python -m repro` would die of
        traceback.print_exc()
        return 1


def captured(argv: list[str], cwd: str) -> dict:
    env, here = dict(os.environ), os.getcwd()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        sys.stdout.flush(), sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1), os.dup2(err.fileno(), 2)
        os.chdir(cwd)
        try:
            rc = run_case(argv)
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])
            os.chdir(here)
            os.environ.clear()
            os.environ.update(env)   # --no-progress sets a variable; the next case starts clean
            reset_accelerate()
        out.seek(0), err.seek(0)
        return {"rc": rc, "stdout": out.read(), "stderr": err.read()}


def reset_accelerate() -> None:
    """Accelerate keeps one process-wide state; a case that built an Accelerator leaves it."""
    state = sys.modules.get("accelerate.state")
    if state is not None:
        state.AcceleratorState._reset_state(reset_partial_state=True)


cases_file, results_file = sys.argv[1:]
results = [captured(c["argv"], c["cwd"]) for c in json.loads(Path(cases_file).read_text())]
Path(results_file).write_text(json.dumps(results))
