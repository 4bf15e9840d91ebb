"""The one check of every output folder a verb is given (--out of train, finetune, eval, export,
report and bench; parity's --save), made before any work or write, and the one way a verb
writes a folder that must appear whole or not at all.

Refused: an empty name (it would mean the current folder), a file or a path below a file, a
run folder or a folder inside one (its config.json and checkpoints are the run's), a folder
that cannot be written, and, where the folder is the product (an export), one that is not
empty: old files left beside new ones would be loaded as part of the new model.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import ReproError
from .atomic import atomic_write_bytes
from .rundir import RunDir

RUN_MARKS = (RunDir.ENV, RunDir.METRICS, RunDir.CHECKPOINTS, RunDir.EVIDENCE_MARK)


def is_run_folder(path: Path) -> bool:
    """A training or fine-tuning run, or a report's evidence copy: config.json and what a run
    writes beside it (an exported model also has a config.json, and nothing else of these)."""
    return (path / RunDir.CONFIG).is_file() and any((path / m).exists() for m in RUN_MARKS)


def output_folder(path, flag: str, whole: bool = False) -> Path:
    """path as a Path, or ReproError "<flag> <path>: why". whole: the verb writes the folder
    itself (it must be new or empty); otherwise it writes files or run folders into it."""
    text = str(path)
    if not text.strip():
        raise ReproError(f"{flag} {text!r}: an empty name; give a folder")
    out = Path(text)
    chain = [*reversed(out.absolute().parents), out.absolute()]
    for p in chain:
        if p.exists() and not p.is_dir():
            raise ReproError(f"{flag} {out}: {p} is a file, not a folder")
        if p.is_dir() and is_run_folder(p):
            where = "is a run folder" if p == out.absolute() else f"is inside the run folder {p}"
            raise ReproError(f"{flag} {out}: {where}; choose a folder outside any run")
    if whole and out.is_dir() and any(out.iterdir()):
        raise ReproError(f"{flag} {out}: not empty; give a new or empty folder (it is written "
                         f"whole, so no old file is mistaken for part of it)")
    _check_writable(out, flag, next(p for p in reversed(chain) if p.exists()))
    return out


def _check_writable(out: Path, flag: str, existing: Path) -> None:
    """Whether a folder can be made in `existing` (access() says yes on a read-only mount
    when run as root, so try it: the probe is removed at once)."""
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".repro-probe-", dir=existing))
    except OSError as e:
        raise ReproError(f"{flag} {out}: cannot write in {existing} ({e.strerror})") from None


@contextmanager
def whole_folder(out: Path):
    """Yield a temporary sibling of `out` to fill; when the block ends it becomes `out` in one
    rename (an empty `out` is replaced). An error or Ctrl-C inside removes it, and any parent
    folders made for it: `out` then does not exist, rather than holding half of its files."""
    out = Path(out)
    made = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ReproError(f"--out {out}: cannot create {out.parent} ({e.strerror})") from None
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield tmp
        if out.is_dir():
            out.rmdir()        # empty (output_folder refused any other): replaced
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for p in made:         # innermost first
            try:
                p.rmdir()
            except OSError:
                break
        raise


def write_files(out: Path, files: dict[str, str]) -> list[Path]:
    """Text files into out: a new folder appears with all of them (whole_folder); into an
    existing one each file is replaced by a rename, never left half-written."""
    if not out.exists():
        with whole_folder(out) as tmp:
            for name, text in files.items():
                (tmp / name).write_text(text)
    else:
        for name, text in files.items():
            atomic_write_bytes(out / name, text.encode())
    return [out / name for name in files]
