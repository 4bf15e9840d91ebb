"""The papers' tokenizers, built offline from the files shipped in repro/assets.

- gpt2: GPT-2/GPT-3 byte-level BPE (r50k) through tiktoken; `<|endoftext|>` (50256) ends each
  document.
- gpt1: GPT-1's 40,478-token lower-casing BPE behind ftfy and spaCy's English tokenizer, as the
  paper's released code runs it (GPT1Tokenizer). GPT-1 has no end-of-text token, so documents are
  simply concatenated (eot_id None).
- char: one id per distinct character of the corpus (minGPT / nanoGPT shakespeare_char).

Every tokenizer has: name, vocab_size, eot_id, encode, encode_batch, decode and state() (JSON-able;
passed back to get_tokenizer it rebuilds the same tokenizer, and it is part of the token-cache key).
Those with a transformers equivalent (HF_TOKENIZERS) also give hf_tokenizer() and hf_special_id for
an export.
"""
from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import numpy as np

from ..errors import ReproError, check

ASSETS = Path(__file__).resolve().parent.parent / "assets"
NAMES = ("gpt2", "gpt1", "char")
HF_TOKENIZERS = ("gpt2", "gpt1")   # those with a transformers equivalent (written by export)


def _file_hashes(*paths: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


def _check_state(tok, state: dict | None) -> None:
    """A saved state (checkpoint, cache) must describe the files we are about to use."""
    if state is not None and state != tok.state():
        raise ReproError(f"{tok.name} tokenizer files in {ASSETS} differ from the saved tokenizer "
                         f"state {state}; the token ids would not match")


class GPT2Tokenizer:
    name = "gpt2"
    vocab_size = 50257
    eot_id = 50256

    def __init__(self):
        import tiktoken
        from tiktoken_ext.openai_public import r50k_pat_str

        path = ASSETS / "gpt2-bpe" / "gpt2.tiktoken"
        self._files = _file_hashes(path)
        # Parsed here rather than by tiktoken.load, which would copy the file into a temp-dir cache;
        # building the Encoding ourselves (not tiktoken.get_encoding) never touches the network.
        rows = (line.split() for line in path.read_text("ascii").splitlines() if line)
        ranks = {base64.b64decode(tok): int(rank) for tok, rank in rows}
        self._enc = tiktoken.Encoding(name="gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                                      special_tokens={"<|endoftext|>": self.eot_id},
                                      explicit_n_vocab=self.vocab_size)

    # encode_ordinary treats a literal "<|endoftext|>" in the text as plain text, so user data can
    # never inject a document boundary; the real separator is appended by the token pipeline.
    def encode(self, text: str) -> list[int]:
        return self._enc.encode_ordinary(text)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return self._enc.encode_ordinary_batch(texts)

    def decode(self, ids) -> str:
        return self._enc.decode([int(i) for i in ids])

    def state(self) -> dict:
        return {"files": self._files}

    hf_special_id = eot_id   # written as bos/eos of an exported model

    def hf_tokenizer(self, max_len: int):
        """transformers' GPT2TokenizerFast from the shipped files (same ids as ours)."""
        import json

        from transformers import GPT2TokenizerFast
        d = ASSETS / "gpt2-bpe"
        # transformers 5: the Rust-backed class takes the parsed vocab and merges as pairs;
        # vocab.bpe's first line is a header.
        vocab = json.loads((d / "encoder.json").read_text("utf-8"))
        lines = (d / "vocab.bpe").read_text("utf-8").splitlines()[1:]
        return GPT2TokenizerFast(vocab=vocab, merges=[tuple(m.split(" ")) for m in lines if m],
                                 model_max_length=max_len)


# GPT-1's text standardisation before spaCy (C1 text_utils.py, as papers/FACTS.md §1.2 cites it):
# dashes to "-", an ellipsis to "...", an acute accent to an apostrophe; runs of these
# punctuation marks set apart by spaces; every newline (with the whitespace around it) becomes
# one " \n "; other whitespace runs one space.
_GPT1_REPLACE = (("\u2014", "-"), ("\u2013", "-"), ("\u2015", "-"), ("\u2026", "..."),
                 ("\u00b4", "'"))
_GPT1_PUNCT = re.compile(
    r"""(-+|~+|!+|"+|;+|\?+|\++|,+|\)+|\(+|\\+|/+|\*+|\[+|\]+|\}+|\{+|\|+|_+)""")
_GPT1_NEWLINE = re.compile(r"\s*\n\s*")
_GPT1_SPACES = re.compile(r"[^\S\n]+")
GPT1_PIPELINE = "ftfy.fix_text > standardise > spacy.blank('en').tokenizer > lower > BPE"


def gpt1_standardise(text: str) -> str:
    for a, b in _GPT1_REPLACE:
        text = text.replace(a, b)
    text = _GPT1_PUNCT.sub(r" \1 ", text)
    text = _GPT1_NEWLINE.sub(" \n ", text)
    return _GPT1_SPACES.sub(" ", text).strip()


class GPT1Tokenizer:
    """GPT-1's tokenizer as its released code runs it (C1 text_utils.py): ftfy.fix_text, the
    standardisation above, spaCy's rule-based English tokenizer (a blank pipeline: no model to
    download), lower case, then the 40,000-merge BPE with word-final "</w>" symbols; a symbol
    not in the vocabulary becomes id 0 (<unk>). A newline is the token "\n</w>".

    ftfy and spaCy are imported on the first encode, so a run whose tokens are already in the
    cache never needs them."""
    name = "gpt1"
    vocab_size = 40478
    eot_id = None
    unk_id = 0
    newline = "\n</w>"

    def __init__(self):
        d = ASSETS / "gpt1-bpe"
        self._vocab_path = d / "encoder_bpe_40000.json"
        self._merges_path = d / "vocab_40000.bpe"
        self._files = _file_hashes(self._vocab_path, self._merges_path)
        self._bpe = self._nlp = None

    @property
    def hf_special_id(self) -> int:
        """GPT-1 has no end-of-text token; an exported model marks sequence ends with the
        newline token, which its corpus uses between paragraphs."""
        return self._vocab()[self.newline]

    def _vocab(self) -> dict:
        import json
        if not hasattr(self, "_vocab_cache"):
            self._vocab_cache = json.loads(self._vocab_path.read_text("utf-8"))
            check(len(self._vocab_cache) == self.vocab_size,
                  f"{self._vocab_path}: {len(self._vocab_cache)} tokens, "
                  f"expected {self.vocab_size}")
        return self._vocab_cache

    def _load(self):
        if self._bpe is not None:
            return
        try:
            import ftfy
            import spacy
        except ImportError as e:
            raise ReproError(f"the gpt1 tokenizer needs ftfy and spaCy ({e.name} is missing): "
                             f"pip install ftfy spacy") from None
        from tokenizers import Tokenizer
        from tokenizers.models import BPE
        merges = [tuple(m.split()) for m in self._merges_path.read_text("utf-8").split("\n")[1:]
                  if m.strip()]
        # The Rust BPE applies the merges by rank exactly as C1's bpe(); words arrive split.
        self._bpe = Tokenizer(BPE(self._vocab(), merges, end_of_word_suffix="</w>",
                                  unk_token="<unk>", fuse_unk=False))
        self._fix = ftfy.fix_text
        self._nlp = spacy.blank("en").tokenizer

    def words(self, texts: list[str]) -> list[list[str]]:
        """The lower-cased words of each text after ftfy, standardisation and spaCy; a newline is
        the word "\n". Lines are tokenized one at a time (spaCy sees a newline as a token of
        its own, so this changes nothing and keeps memory small for a whole book)."""
        self._load()
        out = []
        for text in texts:
            lines = gpt1_standardise(self._fix(text)).split(" \n ")
            words = []
            for i, doc in enumerate(self._nlp.pipe(lines, batch_size=256)):
                if i:
                    words.append("\n")
                words += [t.text.lower() for t in doc if not t.is_space]
            out.append(words)
        return out

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        newline = self.hf_special_id
        out = []
        for words in self.words(texts):
            ids = [] if not words else [e.ids for e in self._bpe.encode_batch(
                [[w] for w in words], is_pretokenized=True, add_special_tokens=False)]
            out.append([newline if w == "\n" else t for w, e in zip(words, ids) for t in e])
        return out

    def encode(self, text: str) -> list[int]:
        return self.encode_batch([text])[0]

    def decode(self, ids) -> str:
        # Lower-cased, punctuation space-separated ("hello , world ."); <unk> stays visible.
        inv = getattr(self, "_inv", None) or {v: k for k, v in self._vocab().items()}
        self._inv = inv
        return "".join(inv[int(i)] for i in ids).replace("</w>", " ").replace("\n ", "\n")

    def state(self) -> dict:
        return {"files": self._files, "pipeline": GPT1_PIPELINE}

    def hf_tokenizer(self, max_len: int):
        """transformers' OpenAIGPTTokenizer over the same files. Its front end is BERT's basic
        tokenizer, not ftfy + spaCy, so on quotes, dashes and newlines its ids differ from ours;
        bos/eos are the newline token (see hf_special_id)."""
        from transformers import OpenAIGPTTokenizerFast
        # Positional: transformers 5 names these vocab/merges, 4.x vocab_file/merges_file.
        tok = OpenAIGPTTokenizerFast(str(self._vocab_path), str(self._merges_path),
                                     model_max_length=max_len)
        tok.add_special_tokens({"bos_token": self.newline, "eos_token": self.newline})
        return tok


class CharTokenizer:
    name = "char"
    eot_id = None

    def __init__(self, chars: str):
        check(len(chars) > 0, "char tokenizer: empty vocabulary (no training text)")
        check(len(set(chars)) == len(chars), "char tokenizer: vocabulary has repeated characters")
        self.chars = chars
        self.vocab_size = len(chars)
        codes = np.frombuffer(chars.encode("utf-32-le"), dtype=np.uint32)
        # code point -> id lookup table (-1: not in vocab), so encoding is one vectorised gather.
        self._lut = np.full(int(codes.max()) + 1, -1, dtype=np.int64)
        self._lut[codes] = np.arange(len(chars))

    @classmethod
    def from_texts(cls, texts: list[str]) -> "CharTokenizer":
        return cls("".join(sorted(set().union(*map(set, texts)))))

    def encode(self, text: str) -> list[int]:
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        ids = self._lut[np.minimum(codes, len(self._lut) - 1)]
        bad = np.flatnonzero((ids < 0) | (codes >= len(self._lut)))
        if bad.size:
            c = text[bad[0]]
            raise ReproError(f"character {c!r} (U+{ord(c):04X}) is not in the char tokenizer's "
                             f"{self.vocab_size}-character vocabulary")
        return ids.tolist()

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def state(self) -> dict:
        return {"chars": self.chars}


def get_tokenizer(name: str, texts: list[str] | None = None, state: dict | None = None):
    """Build a tokenizer. char needs `texts` (its vocabulary source) or a saved `state`."""
    if name == "gpt2":
        tok = GPT2Tokenizer()
    elif name == "gpt1":
        tok = GPT1Tokenizer()
    elif name == "char":
        if state is not None:
            check("chars" in state, f"char tokenizer state {state!r} has no 'chars'")
            return CharTokenizer(state["chars"])
        check(texts is not None, "the char tokenizer needs training texts (or a saved state) "
                                 "to build its vocabulary")
        return CharTokenizer.from_texts(texts)
    else:
        raise ReproError(f"unknown tokenizer {name!r}; valid choices: {', '.join(NAMES)}")
    _check_state(tok, state)
    return tok


def tokenize_command(tokenizer: str, text: str) -> list[int]:
    """`python -m repro tokenize`: the ids of `text`; char uses the text's own characters as
    vocabulary."""
    return get_tokenizer(tokenizer, texts=[text]).encode(text)
