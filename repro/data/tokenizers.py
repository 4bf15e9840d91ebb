"""The papers' tokenizers, built offline from the files shipped in repro/assets.

- gpt2: GPT-2/GPT-3 byte-level BPE (r50k) through tiktoken; `<|endoftext|>` (50256) ends each document.
- gpt1: GPT-1's 40,478-token lower-casing BPE through transformers' Rust-backed OpenAIGPTTokenizerFast
  (BertNormalizer + BertPreTokenizer + BPE with `</w>`), ~3x faster than pure Python even on 2 cores.
  The tests check it against a port of the 4.x pure-Python tokenizer on real book text; over all 679k
  non-empty lines of the books they differ on 2 Greek lines only (Python lower-cases a word-final capital
  sigma to 'ς', Rust to 'σ'). The original ftfy/spaCy front end is not reproduced. GPT-1 has no
  end-of-text token, so documents are simply concatenated (eot_id None).
- char: one id per distinct character of the corpus (minGPT / nanoGPT shakespeare_char).

Every tokenizer has: name, vocab_size, eot_id, encode, encode_batch, decode and state() (JSON-able; passed
back to get_tokenizer it rebuilds the same tokenizer, and it is part of the token-cache key).
"""
from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import numpy as np

from ..errors import ReproError, check

ASSETS = Path(__file__).resolve().parent.parent / "assets"
NAMES = ("gpt2", "gpt1", "char")


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
        ranks = {base64.b64decode(tok): int(rank)
                 for tok, rank in (line.split() for line in path.read_text("ascii").splitlines() if line)}
        self._enc = tiktoken.Encoding(name="gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                                      special_tokens={"<|endoftext|>": self.eot_id},
                                      explicit_n_vocab=self.vocab_size)

    # encode_ordinary treats a literal "<|endoftext|>" in the text as plain text, so user data can never
    # inject a document boundary; the real separator is appended by the token pipeline.
    def encode(self, text: str) -> list[int]:
        return self._enc.encode_ordinary(text)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return self._enc.encode_ordinary_batch(texts)

    def decode(self, ids) -> str:
        return self._enc.decode([int(i) for i in ids])

    def state(self) -> dict:
        return {"files": self._files}


class GPT1Tokenizer:
    name = "gpt1"
    vocab_size = 40478
    eot_id = None

    def __init__(self):
        # The Fast name: in 4.x the Rust-backed class (OpenAIGPTTokenizer was pure Python), in 5.x an
        # alias of OpenAIGPTTokenizer, which is Rust-backed there.
        from transformers import OpenAIGPTTokenizerFast

        d = ASSETS / "gpt1-bpe"
        vocab, merges = d / "encoder_bpe_40000.json", d / "vocab_40000.bpe"
        self._files = _file_hashes(vocab, merges)
        # Positional: transformers 5 names these vocab/merges, 4.x vocab_file/merges_file (and 5.x
        # silently ignores the 4.x keywords, giving an empty vocabulary).
        hf = OpenAIGPTTokenizerFast(str(vocab), str(merges))
        check(len(hf) == self.vocab_size, f"OpenAIGPTTokenizerFast loaded {len(hf)} tokens from {vocab}, "
                                          f"expected {self.vocab_size}")
        self._tok = hf.backend_tokenizer  # the Rust tokenizer: batch encoding runs on all cores

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        # Line by line: the pre-tokenizer splits on whitespace anyway, so the ids are the same, and
        # the Rust side's per-character alignment tables for a whole book (a document of the books
        # corpus) would take gigabytes. Lines go in slices so the batch's memory stays bounded.
        lines = [text.split("\n") for text in texts]
        flat = [line for doc in lines for line in doc]
        ids = []
        for i in range(0, len(flat), 65536):
            ids += [e.ids for e in self._tok.encode_batch_fast(flat[i:i + 65536],
                                                               add_special_tokens=False)]
        out, at = [], 0
        for doc in lines:
            out.append([t for line in ids[at:at + len(doc)] for t in line])
            at += len(doc)
        return out

    def decode(self, ids) -> str:
        # Lower-cased, punctuation space-separated ("hello , world ."); <unk> stays visible.
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=False)

    def state(self) -> dict:
        return {"files": self._files}


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
    """`python -m repro tokenize`: the ids of `text`; char uses the text's own characters as vocabulary."""
    return get_tokenizer(tokenizer, texts=[text]).encode(text)
