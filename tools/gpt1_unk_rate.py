"""How many GPT-1 tokens of the books validation split are <unk> (id 0), newlines kept, and
accented words intact: transformers' OpenAIGPTTokenizer front end (BERT's normaliser: strips
accents, drops newlines, no ftfy) against ours (ftfy + spaCy, as the paper's code). The
numbers are quoted in papers/gpt1.py's report notes.

    python tools/gpt1_unk_rate.py [--json]
"""
from __future__ import annotations

import json
import sys

from transformers import OpenAIGPTTokenizerFast

from repro.config import DataConfig
from repro.data.corpora import load_documents
from repro.data.tokenizers import ASSETS, get_tokenizer


def rates(ids: list[list[int]], unk: int, newline: int | None) -> dict:
    flat = [i for doc in ids for i in doc]
    return {"tokens": len(flat), "unk": sum(i == unk for i in flat),
            "unk_rate": sum(i == unk for i in flat) / len(flat),
            "newline_tokens": sum(i == newline for i in flat) if newline is not None else 0}


def main() -> None:
    docs = load_documents(DataConfig(source="books"))["val"]
    d = ASSETS / "gpt1-bpe"
    hf = OpenAIGPTTokenizerFast(str(d / "encoder_bpe_40000.json"), str(d / "vocab_40000.bpe"))
    ours = get_tokenizer("gpt1")
    lines = [doc.split("\n") for doc in docs]   # as the old pipeline fed it: line by line
    before = [[i for ln in doc for i in hf.backend_tokenizer.encode(ln, add_special_tokens=False).ids]
              for doc in lines]
    after = ours.encode_batch(docs)
    out = {"split": "books validation (6 books)",
           "before (BERT normaliser, transformers)": rates(before, hf.unk_token_id, None),
           "after (ftfy + spaCy, C1)": rates(after, ours.unk_id, ours.hf_special_id)}
    print(json.dumps(out, indent=2) if "--json" in sys.argv else out)


if __name__ == "__main__":
    main()
