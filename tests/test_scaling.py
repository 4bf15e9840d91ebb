"""The scaling ladder (repro/scaling, `repro scaling`) and its in-domain cloze set."""
import importlib.util
import re
from pathlib import Path

import pytest

from repro.eval import data

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_in_domain_cloze_ships_verified_and_passes_its_filters():
    from repro.config import DataConfig
    from repro.data.corpora import load_documents
    tool = _tool("build_in_domain_cloze")
    passages = data.passages(data.shipped_text("in_domain_cloze"))   # checksum checked here
    assert len(passages) == 1000 and len(set(passages)) == 1000
    assert data.SETS["in_domain_cloze"].location().stat().st_size < 300_000
    docs = load_documents(DataConfig(kind="text", source="books"))
    frequent = tool.frequent_words(docs["train"])
    assert {"the", "and", "said"} <= frequent
    for passage in passages:
        context, target = passage.rsplit(" ", 1)
        assert target.isascii() and target.isalpha(), passage
        assert target.lower() in {w.lower() for w in re.findall(r"[A-Za-z]+", context)}
        assert target.lower() not in frequent
        assert len(context.split()) >= 50           # a 50-120-word context + its sentence
    val = [" ".join(d.split()) for d in docs["val"]]
    train = " ".join(" ".join(d.split()) for d in docs["train"][:10])
    for passage in passages[::100]:   # cut from the held-out novels, not the training ones
        assert any(passage in book for book in val) and passage not in train
