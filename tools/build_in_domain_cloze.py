"""Build data/eval/in_domain_cloze/books_val_cloze.jsonl.xz: LAMBADA's protocol on our books.

OUR CONSTRUCTION, not a paper benchmark. Passages are cut from the books VALIDATION split
(the 6 held-out novels of repro/data/corpora.py; no model trains on them), in LAMBADA's
format: one {"text": passage} per line, the passage ending with its target word (the last
word of a sentence, its punctuation and quotes dropped), so the `lambada` protocol scores it
unchanged: every token of the word the argmax, and the perplexity of the word.

Filters (each automatic; LAMBADA's human guessing tests cannot be automated):
1. the passage is whole sentences: a context of CONTEXT_WORDS words (at least 2 sentences)
   and the target sentence;
2. the target is a word: letters only (no digits, punctuation, underscores of italics);
3. the target occurs, as a whole word (any case), in the context (LAMBADA's passages were
   chosen so that the context decides the word);
4. the target is not one of the TOP_FREQUENT most frequent words of the books TRAINING split
   (a stand-in for LAMBADA's content words: it drops "the", "him", "said" ...);
5. passages never overlap; SIZE of them are drawn at random (seed 0) from all that pass, and
   kept in book order.

    python tools/build_in_domain_cloze.py        # writes the file, prints its sha256 and count
"""
import collections
import hashlib
import json
import lzma
import random
import re

from repro.config import DataConfig
from repro.data.corpora import load_documents
from repro.data.shipped import data_dir

SIZE, SEED, TOP_FREQUENT = 1000, 0, 100
CONTEXT_WORDS = (50, 120)
SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)]*(?= )")   # kept with its sentence
WORD = re.compile(r"[A-Za-z]+")
OUT = data_dir() / "eval" / "in_domain_cloze" / "books_val_cloze.jsonl.xz"


def frequent_words(train_docs) -> set:
    counts = collections.Counter(w.lower() for doc in train_docs for w in WORD.findall(doc))
    return {w for w, _ in counts.most_common(TOP_FREQUENT)}


def target_of(sentence: str) -> tuple:
    """(sentence up to and including its last word, that word) or None if it is not a word."""
    words = sentence.rstrip().split(" ")
    last = words[-1].rstrip(".!?,;:\"'\u201d\u2019)-")
    if not last.isascii() or not last.isalpha():
        return None
    return " ".join(words[:-1] + [last]), last


def passages_of(book: str, frequent: set) -> list:
    text = " ".join(book.split())
    cuts = [0] + [m.end() for m in SENTENCE_END.finditer(text)] + [len(text)]
    sentences = [s for s in (text[a:b].strip() for a, b in zip(cuts, cuts[1:])) if s]
    out, start = [], 0
    for end in range(1, len(sentences)):
        cut = target_of(sentences[end])
        if cut is None or cut[1].lower() in frequent:
            continue
        begin, words = end, 0
        while begin > start and words < CONTEXT_WORDS[0]:
            begin -= 1
            words += len(sentences[begin].split())
        if end - begin < 2 or not CONTEXT_WORDS[0] <= words <= CONTEXT_WORDS[1]:
            continue
        context = " ".join(sentences[begin:end])
        if cut[1].lower() not in {w.lower() for w in WORD.findall(context)}:
            continue
        out.append(f"{context} {cut[0]}")
        start = end + 1            # the next passage begins after this one
    return out


def main() -> None:
    docs = load_documents(DataConfig(kind="text", source="books"))
    frequent = frequent_words(docs["train"])
    found = [(b, i, p) for b, book in enumerate(docs["val"])
             for i, p in enumerate(passages_of(book, frequent))]
    keep = sorted(random.Random(SEED).sample(found, SIZE))
    text = "".join(json.dumps({"text": p}) + "\n" for _, _, p in keep)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(lzma.compress(text.encode("utf-8"), preset=9 | lzma.PRESET_EXTREME))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    print(f"{OUT}: {len(keep)} of {len(found)} passages that pass the filters, "
          f"{OUT.stat().st_size:,} bytes xz, sha256 {digest}")


if __name__ == "__main__":
    main()
