"""Text data layer: tokenizers against reference implementations, shipped corpora, the token cache and
the one-line errors for bad input. CPU only, offline, caches under tmp_path."""
from __future__ import annotations

import json

import numpy as np
import pytest

from repro.config import DataConfig
from repro.data import corpora, tokens
from repro.data.corpora import SOURCES, load_documents, source_fingerprint
from repro.data.tokenizers import ASSETS, get_tokenizer, tokenize_command
from repro.data.tokens import load_tokens, require_tokens, token_cache_root
from repro.errors import ReproError


@pytest.fixture(autouse=True)
def _private_caches(tmp_path, monkeypatch):
    """Nothing a test does may land in the home directory (token cache or HF datasets cache)."""
    import datasets

    monkeypatch.setenv("REPRO_CACHE", str(tmp_path / "repro-cache"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))


@pytest.fixture(scope="module")
def books():
    return load_documents(DataConfig(source="books"))


def _sample_lines(books, n_per_book=60) -> list[str]:
    """Real prose with quotes, dashes, accents, no-break spaces (Huck Finn) and Greek (She)."""
    shakespeare = (ASSETS / "tinyshakespeare" / "input.txt").read_text("utf-8").splitlines()[:100]
    picks = [books["train"][i] for i in (0, 8, 41)] + [books["val"][i] for i in (4, 5)]
    lines = [ln for doc in picks for ln in doc.splitlines()[2000:2000 + n_per_book] if ln.strip()]
    return lines + [ln for ln in shakespeare if ln.strip()]


# ---- tokenizers ------------------------------------------------------------------------------------

def test_gpt2_ids_match_transformers():
    from transformers import GPT2Tokenizer as HFGPT2

    tok = get_tokenizer("gpt2")
    assert (tok.vocab_size, tok.eot_id) == (50257, 50256)
    assert tok.encode("Hello world") == [15496, 995]
    assert tokenize_command("gpt2", "Hello world") == [15496, 995]
    d = ASSETS / "gpt2-bpe"
    hf = HFGPT2(vocab=str(d / "encoder.json"), merges=str(d / "vocab.bpe"))
    for text in ["The quick brown fox.\n\n  It's 2019 -- naïve café, 1,234.5!", "  leading\tspaces\r\n",
                 "Ünïcödé — “quotes” 😀 日本語"]:
        assert tok.encode(text) == hf.encode(text, add_special_tokens=False)
        assert tok.decode(tok.encode(text)) == text
    # A literal end-of-text in user text is ordinary text, never the separator.
    assert 50256 not in tok.encode("a <|endoftext|> b")
    assert tok.encode_batch(["Hello world", "x"]) == [[15496, 995], tok.encode("x")]


def _slow_gpt1():
    """GPT-1's tokenizer written out plainly, the way its released code runs it (C1
    text_utils.py): ftfy, the standardisation, spaCy's English tokenizer, lower case, then BPE
    merges by rank in Python; unknown symbols -> id 0; a newline token -> "\\n</w>"."""
    import re

    import ftfy
    import spacy

    d = ASSETS / "gpt1-bpe"
    encoder = json.loads((d / "encoder_bpe_40000.json").read_text("utf-8"))
    merges = (d / "vocab_40000.bpe").read_text("utf-8").split("\n")[1:-1]
    ranks = {tuple(m.split()): i for i, m in enumerate(merges)}
    nlp, cache = spacy.blank("en"), {}

    def standardise(text):
        for a, b in (("\u2014", "-"), ("\u2013", "-"), ("\u2015", "-"), ("\u2026", "..."),
                     ("\u00b4", "'")):
            text = text.replace(a, b)
        text = re.sub(r"""(-+|~+|!+|"+|;+|\?+|\++|,+|\)+|\(+|\\+|\/+|\*+|\[+|\]+|}+|{+|\|+|_+)""",
                      r" \1 ", text)
        text = re.sub(r"\s*\n\s*", " \n ", text)
        return re.sub(r"[^\S\n]+", " ", text).strip()

    def bpe(token):
        if token not in cache:
            word = tuple(token[:-1]) + (token[-1] + "</w>",)
            while len(word) > 1:
                pairs = set(zip(word, word[1:]))
                first, second = min(pairs, key=lambda p: ranks.get(p, float("inf")))
                if (first, second) not in ranks:
                    break
                out, i = [], 0
                while i < len(word):
                    if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                        out.append(first + second)
                        i += 2
                    else:
                        out.append(word[i])
                        i += 1
                word = tuple(out)
            cache[token] = " ".join(word).replace("\n  </w>", "\n</w>").split(" ")
        return cache[token]

    def encode(text):
        doc = nlp(standardise(ftfy.fix_text(text)))
        words = ["\n" if t.text.strip(" ") == "\n" else t.text for t in doc if t.text.strip(" ")]
        return [encoder.get(p, 0) for w in words for p in
                (["\n</w>"] if w == "\n" else bpe(w.lower()))]
    return encode


def test_gpt1_is_ftfy_spacy_bpe():
    """Curly quotes, a dash, an ellipsis, accents and newlines: ids equal to the plain
    ftfy + spaCy + BPE pipeline, and none of those characters is lost to <unk>."""
    tok = get_tokenizer("gpt1")
    assert (tok.vocab_size, tok.eot_id) == (40478, None)
    passage = ("\u201cCaf\u00e9 au lait,\u201d she said \u2014 na\u00efvely\u2026\n\n"
               "\u2018It\u2019s 3:15 p.m.,\u2019 he\u2019d answered.\nDon't go!")
    ids = tok.encode(passage)
    assert ids == _slow_gpt1()(passage)
    assert ids.count(40477) == 2                 # each newline run is one "\\n</w>" token
    assert 0 not in ids                          # nothing became <unk>
    assert tok.decode(tok.encode("Hello, World!")) == "hello , world ! "


def test_gpt1_matches_the_plain_pipeline_on_real_text(books):
    tok = get_tokenizer("gpt1")
    slow = _slow_gpt1()
    lines = _sample_lines(books, n_per_book=30)
    assert len(lines) > 150
    assert tok.encode_batch(lines) == [slow(ln) for ln in lines]
    doc = "\n".join(lines[:40])                  # whole documents, newlines included
    assert tok.encode(doc) == slow(doc)


def test_char_round_trip_and_unknown_character():
    tok = get_tokenizer("char", texts=["hello", "world!"])
    assert tok.state() == {"chars": "!dehlorw"} and tok.eot_id is None and tok.vocab_size == 8
    assert tok.decode(tok.encode("hello world!".replace(" ", ""))) == "helloworld!"
    again = get_tokenizer("char", state=tok.state())
    assert again.encode("lord") == tok.encode("lord")
    with pytest.raises(ReproError, match="'z'"):
        tok.encode("hellz")
    with pytest.raises(ReproError, match="training texts"):
        get_tokenizer("char")


def test_unknown_tokenizer(tmp_path):
    with pytest.raises(ReproError, match="valid choices: gpt2, gpt1, char"):
        get_tokenizer("bpe")
    with pytest.raises(ReproError, match="unknown tokenizer 'bpe'"):
        load_tokens(DataConfig(source="shakespeare"), "bpe", cache_root=tmp_path)


# ---- corpora -------------------------------------------------------------------------------------

def test_books_split_and_header_stripping(books):
    assert (len(books["train"]), len(books["val"])) == (51, 6)
    first = books["train"][0]   # The Scarlet Letter
    assert first.startswith("Produced by") and "Project Gutenberg" not in first
    for doc in books["train"] + books["val"]:
        assert "*** START OF" not in doc and "***START OF" not in doc and "*** END OF" not in doc
    musketeers = books["train"][41]
    assert "ALEXANDRE DUMAS, PERE ***" not in musketeers[:200]


def test_shipped_sources_and_max_chars():
    shake = load_documents(DataConfig(source="shakespeare", val_fraction=0.1))
    n = sum(map(len, shake["train"])) + sum(map(len, shake["val"]))
    assert len(shake["train"][0]) == int(n * 0.9) and shake["train"][0].startswith("First Citizen:")
    assert "note" in SOURCES["wikitext2"] and "valid" in SOURCES["ptb"]["note"]
    cut = load_documents(DataConfig(source="books", max_chars=600_000))
    assert sum(map(len, cut["train"])) == 600_000 and len(cut["train"]) == 2   # a whole book + a head
    assert cut["train"][0] == load_documents(DataConfig(source="books"))["train"][0]


def test_fingerprint_is_stable_and_sensitive(tmp_path):
    base = DataConfig(source="shakespeare")
    assert source_fingerprint(base) == source_fingerprint(DataConfig(source="shakespeare"))
    assert source_fingerprint(base) != source_fingerprint(DataConfig(source="shakespeare", max_chars=10))
    f = tmp_path / "a.txt"
    f.write_text("one")
    before = source_fingerprint(DataConfig(path=str(f)))
    f.write_text("one two")
    assert source_fingerprint(DataConfig(path=str(f))) != before


def test_user_file_and_folder(tmp_path):
    f = tmp_path / "mine.txt"
    f.write_text("abcdefghij" * 10)
    docs = load_documents(DataConfig(path=str(f), val_fraction=0.2))
    assert (len(docs["train"][0]), len(docs["val"][0])) == (80, 20)   # one document: split by characters
    folder = tmp_path / "corpus"
    folder.mkdir()
    for i in range(4):
        (folder / f"{i}.md").write_text(f"document {i}\n")
    (folder / "rows.jsonl").write_text("\n".join(json.dumps({"body": f"row {i}"}) for i in range(5)))
    (folder / "skip.csv").write_text("not,used")
    docs = load_documents(DataConfig(path=str(folder), text_field="body", val_fraction=0.2))
    assert docs["train"][:4] == [f"document {i}\n" for i in range(4)]
    assert len(docs["train"]) + len(docs["val"]) == 9 and docs["val"] == ["row 3", "row 4"]
    td = load_tokens(DataConfig(path=str(f), val_fraction=0.2), "char", cache_root=tmp_path / "c")
    assert td.tokenizer.decode(td.train) == "abcdefghij" * 8


def test_hub_route_offline_with_a_local_dataset_folder(tmp_path):
    """data.dataset goes through load_dataset(id); a local folder id exercises it without a network."""
    hub = tmp_path / "hub"
    hub.mkdir()
    (hub / "train.jsonl").write_text("\n".join(json.dumps({"text": f"doc {i}"}) for i in range(10)))
    docs = load_documents(DataConfig(dataset=str(hub), val_fraction=0.2))
    assert docs["train"] == [f"doc {i}" for i in range(8)] and docs["val"] == ["doc 8", "doc 9"]
    (hub / "validation.jsonl").write_text(json.dumps({"text": "held out"}))
    docs = load_documents(DataConfig(dataset=str(hub), max_chars=12))
    assert docs == {"train": ["doc 0", "doc 1", "do"], "val": ["held out"]}


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_bytes(b""), "is empty"),
    (lambda p: p.write_text("  \n\n"), "is empty"),
    (lambda p: p.write_bytes(b"ok\xff\xfe\x00binary"), "not UTF-8 text"),
    (lambda p: p.write_bytes(b"\x00\x01\x02\x03"), "binary"),
])
def test_bad_user_files(tmp_path, make, message):
    path = tmp_path / "bad.txt"
    make(path)
    with pytest.raises(ReproError, match=message) as err:
        load_documents(DataConfig(path=str(path)))
    assert "\n" not in str(err.value) and ("bad.txt" in str(err.value))


def test_bad_json_field_and_unknown_source(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"content": "x"}\n')
    with pytest.raises(ReproError, match="no field 'text'.*content"):
        load_documents(DataConfig(path=str(path)))
    with pytest.raises(ReproError, match="unknown data.source 'nope'; valid choices: books, shakespeare"):
        load_documents(DataConfig(source="nope"))


# ---- token cache --------------------------------------------------------------------------------------

def test_cache_hit_does_not_rebuild(tmp_path, monkeypatch):
    data, root = DataConfig(source="books", max_chars=200_000), tmp_path / "tokens"
    first = load_tokens(data, "gpt2", cache_root=root)
    assert first.train.dtype == np.uint16 and isinstance(first.train, np.memmap)
    # max_chars keeps one (cut) book: exactly one end-of-text, after it.
    assert int((np.asarray(first.train) == 50256).sum()) == 1 and first.train[-1] == 50256
    meta = json.loads((first.cache_dir / "meta.json").read_text())
    assert meta["tokens"]["train"] == len(first.train) and meta["tokenizer"] == "gpt2"

    def boom(*args):
        raise AssertionError("cache miss: documents were loaded again")

    monkeypatch.setattr(tokens, "load_documents", boom)
    again = load_tokens(data, "gpt2", cache_root=root)
    assert again.cache_key == first.cache_key and np.array_equal(again.train, first.train)
    # The loser of a build race keeps the winner's folder intact.
    monkeypatch.setattr(tokens, "load_documents", corpora.load_documents)
    tokens._build(data, "gpt2", get_tokenizer("gpt2"), root, first.cache_dir, first.cache_key)
    assert np.array_equal(load_tokens(data, "gpt2", cache_root=root).train, first.train)
    assert [p.name for p in root.iterdir()] == [first.cache_dir.name]


def test_char_cache_restores_vocabulary_and_env_root(tmp_path, monkeypatch):
    data = DataConfig(source="shakespeare")
    assert token_cache_root() == tmp_path / "repro-cache" / "tokens"
    td = load_tokens(data, "char")
    assert td.cache_dir.parent == token_cache_root() and td.tokenizer.vocab_size == 65
    monkeypatch.setattr(tokens, "load_documents", None)   # a hit must not need the documents
    again = load_tokens(data, "char")
    assert again.tokenizer.state() == td.tokenizer.state()
    assert again.tokenizer.decode(again.val[:5]) == td.tokenizer.decode(td.val[:5])


def test_token_id_outside_vocab(tmp_path):
    class Broken:
        vocab_size, eot_id = 10, None

        def encode_batch(self, texts):
            return [[3, 11] for _ in texts]

    with pytest.raises(ReproError, match="token id 11 outside vocab of size 10"):
        tokens._write_split(Broken(), ["x"], tmp_path / "t.bin", np.dtype(np.uint16), "t")


def test_require_tokens():
    require_tokens(np.zeros(65), 65)
    with pytest.raises(ReproError, match=r"training split has 64 tokens, fewer than block_size\+1 = 65; "
                                         r"use a larger corpus or a smaller model.block_size"):
        require_tokens(np.zeros(64), 65)
