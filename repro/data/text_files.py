"""A user's text files (data.path): which files a folder holds, read through the datasets
builders (text, json, parquet), checked for UTF-8 first, and split into train/val."""
from __future__ import annotations

import codecs
from pathlib import Path

from ..config import DataConfig
from ..errors import ReproError, check

BUILDERS = {".txt": "text", ".md": "text", ".json": "json", ".jsonl": "json",
            ".parquet": "parquet"}


def check_text_file(path: Path) -> None:
    """Fail early, naming the file, on what the text builder would report as an opaque arrow
    error."""
    check(path.exists(), f"{path}: no such file")
    check(path.is_file(), f"{path} is a folder, not a file")
    check(path.stat().st_size > 0, f"{path} is empty")
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                raise ReproError(f"{path} is not UTF-8 text (bad byte at offset "
                                 f"{offset + e.start}); convert it to UTF-8") from None
            check(b"\0" not in chunk, f"{path} looks binary (NUL byte), not UTF-8 text")
            offset += len(chunk)
    check(not decoder.buffer, f"{path} is not UTF-8 text (truncated character at the end)")


def first_line(e: Exception) -> str:
    """Loader errors (arrow, json, hub) are long and generic; the first line of the cause says
    why."""
    cause = e.__cause__ or e
    return f"{type(cause).__name__}: {(str(cause).splitlines() or [''])[0]}"


def path_files(path: Path) -> list[Path]:
    check(path.exists(), f"data.path {path}: no such file or folder")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in BUILDERS
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    check(files, f"data.path {path}: no {'/'.join(BUILDERS)} files in this folder")
    return files


def _load_group(builder: str, files: list[Path], field: str) -> list[str]:
    """One load_dataset call for all files of one kind (text: one document per file)."""
    from datasets import load_dataset

    kwargs = {"sample_by": "document"} if builder == "text" else {}
    names = ", ".join(str(f) for f in files[:3]) + (" ..." if len(files) > 3 else "")
    try:
        ds = load_dataset(builder, data_files=[str(f) for f in files], split="train", **kwargs)
    except Exception as e:   # any reader failure becomes one line naming the files
        raise ReproError(f"could not read {names} as {builder}: {first_line(e)}") from None
    column = "text" if builder == "text" else field
    check(column in ds.column_names, f"{names}: no field {field!r} (data.text_field); "
                                     f"fields: {', '.join(ds.column_names)}")
    return [t for t in ds[column] if isinstance(t, str)]


def path_documents(data: DataConfig) -> dict[str, list[str]]:
    path = Path(data.path).expanduser()
    files = path_files(path)
    groups: dict[str, list[Path]] = {}
    for f in files:   # a named file with another suffix is read as text; the UTF-8 check guards it
        groups.setdefault(BUILDERS.get(f.suffix.lower(), "text"), []).append(f)
    docs = []
    for builder in ("text", "json", "parquet"):   # fixed order, so the split is reproducible
        for f in groups.get(builder, []):
            if builder == "text":
                check_text_file(f)
            check(f.stat().st_size > 0, f"{f} is empty")
        if builder in groups:
            docs += _load_group(builder, groups[builder], data.text_field)
    docs = [d for d in docs if d.strip()]
    check(docs, f"data.path {path} is empty (no text in any document)")
    if len(docs) == 1:
        return split_chars(docs[0], data.val_fraction)
    n_val = max(1, round(len(docs) * data.val_fraction))
    return {"train": docs[:-n_val], "val": docs[-n_val:]}


def split_chars(text: str, val_fraction: float) -> dict[str, list[str]]:
    n = int(len(text) * (1 - val_fraction))
    return {"train": [text[:n]], "val": [text[n:]]}
