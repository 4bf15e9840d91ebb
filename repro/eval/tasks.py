"""The task table: each evaluation as data (which protocol, which data, how it is read) and
the one function that runs a list of them.

Protocols (repro/eval/protocols.py):
- last_word: score the passage's last space-separated word after the rest; accuracy when
  every token of the word is the argmax (greedy), perplexity of the word. K-shot tasks write
  the passage in a Format (prompts.FORMATS) after K solved demonstrations. A task whose
  target is "last_token" scores only the passage's last BPE token, after every token before
  it (the earlier pieces of the last word included); with stop_words, stop words are never
  the prediction there (eval/stopwords.py).
- choice: score each candidate continuation; the highest per-token-normalised log-likelihood
  wins (or the highest sum, where the protocol scores the whole rest of a sentence).
- perplexity: the de-tokenized file as one stream, strided windows up to the context, loss
  normalised per ORIGINAL unit (tokens of the tokenized file with one <eos> per line, bytes
  or characters), plus per model token and lm-evaluation-harness's word_perplexity.

A set that does not ship is refused with the file to pass as `--set eval.path=FILE`; with
that path the task reads the user's file instead (unverified: no checksum is known).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ReproError, check
from . import data


@dataclass(frozen=True)
class Task:
    name: str
    protocol: str               # last_word | choice | perplexity
    about: str                  # what is scored, one line
    reader: str                 # how the file(s) become examples: key of protocols.READERS
    sets: tuple = ()            # shipped files (data.SETS keys); () = not shipped
    file_hint: str = ""         # the file to point eval.path at (also for a shipped set)
    kshot: str = ""             # a prompts.FORMATS name if the task takes K-shot demonstrations
    rules: str = ""             # detokenize.RULES name
    unit: str = "token"         # perplexity is normalised per original token | byte | character
    choice_score: str = "per_token"   # choice: per_token (mean log-prob) or sum
    target: str = "word"        # last_word: the whole last word | its last_token only
    stop_words: bool = False    # last_word: the argmax skips stop-word tokens

    @property
    def shipped(self) -> bool:
        return bool(self.sets)


TASKS = {t.name: t for t in (
    Task("lambada", "last_word", "LAMBADA (OpenAI test, 5,153): last word after the passage, "
         "zero-shot; accuracy (greedy) and perplexity of the word", "passages",
         sets=("lambada_openai",), file_hint="lambada_test.jsonl ({\"text\": ...} per line)"),
    Task("lambada_last_token", "last_word", "LAMBADA as OpenAI apparently scored it (lm-eval "
         "issue 356, transformers issue 13761; not stated in GPT-2): accuracy when the "
         "passage's LAST BPE TOKEN is the argmax after all tokens before it (a multi-token word "
         "gets its first pieces for free); perplexity of that token", "passages",
         sets=("lambada_openai",), file_hint="lambada_test.jsonl ({\"text\": ...} per line)",
         target="last_token"),
    Task("lambada_stopword", "last_word", "lambada_last_token plus GPT-2 §3.3's stop-word "
         "filter, our reading: at the scored position the argmax skips every token that is a "
         "stop word (eval/stopwords.py); perplexity unfiltered", "passages",
         sets=("lambada_openai",), file_hint="lambada_test.jsonl ({\"text\": ...} per line)",
         target="last_token", stop_words=True),
    Task("lambada_cloze", "last_word", "LAMBADA as fill-in-the-blank, K-shot: \"Fill in blank:\", "
         "then \"passage ____. -> word\" demonstrations", "passages", sets=("lambada_openai",),
         file_hint="lambada_test.jsonl ({\"text\": ...} per line)", kshot="cloze"),
    Task("in_domain_cloze", "last_word", "OUR CONSTRUCTION, not a paper benchmark: LAMBADA's "
         "protocol on 1,000 passages of the books validation split (tools/build_in_domain_"
         "cloze.py: target a word, seen in the context, not a frequent word)", "passages",
         sets=("in_domain_cloze",), file_hint="books_val_cloze.jsonl ({\"text\": ...} per line)"),
    Task("piqa", "choice", "PIQA (dev, 1,838): goal, then each solution; K-shot; the higher "
         "per-token log-likelihood wins", "piqa", sets=("piqa_dev", "piqa_dev_labels"),
         kshot="choice"),
    Task("sst2_zeroshot", "choice", "SST-2 dev (872), GPT-1 §5's zero-shot heuristic: the "
         "sentence + \" very\", then \" positive\" vs \" negative\"; the likelier word wins",
         "sst2_very", sets=("sst2_dev",), file_hint="SST-2 dev.tsv of GLUE (sentence<TAB>label)",
         choice_score="sum"),
    Task("wikitext2", "perplexity", "WikiText-2 test (245,569 tokens with <eos>): de-tokenized, "
         "strided windows, perplexity per original token", "lines", sets=("wikitext2_test",),
         file_hint="wiki.test.tokens of WikiText-2 (v1, tokenized)", rules="wikitext"),
    Task("ptb", "perplexity", "Penn Treebank test (82,430 tokens with <eos>): de-tokenized, "
         "strided windows, perplexity per original token", "lines", sets=("ptb_test",),
         file_hint="ptb.test.txt (Mikolov's word-level PTB)", rules="ptb"),
    Task("wikitext103", "perplexity", "WikiText-103 test: as wikitext2", "lines",
         file_hint="wiki.test.tokens of WikiText-103 (v1, tokenized)", rules="wikitext"),
    Task("1bw", "perplexity", "One Billion Word test: tokenized sentences, perplexity per "
         "original token", "lines", rules="wikitext",
         file_hint="news.en.heldout-00000-of-00050 (1BW held-out shard 0, one sentence a line)"),
    Task("enwik8", "perplexity", "enwik8 test: raw bytes (XML), bits per byte", "raw",
         file_hint="the enwik8 test slice (its last 5,000,000 bytes)", unit="byte"),
    Task("text8", "perplexity", "text8 test: lower-case letters and spaces, bits per character",
         "raw", file_hint="the text8 test slice (its last 5,000,000 characters)",
         unit="character"),
    Task("cbt-cn", "choice", "Children's Book Test, common nouns: each of 10 candidates in the "
         "blank, scored with the rest of the sentence (sum)", "cbt",
         file_hint="cbtest_CN_valid_2000ex.txt (CBT common-noun validation)", rules="cbt",
         choice_score="sum"),
    Task("cbt-ne", "choice", "Children's Book Test, named entities: as cbt-cn", "cbt",
         file_hint="cbtest_NE_valid_2000ex.txt (CBT named-entity validation)", rules="cbt",
         choice_score="sum"),
)}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ReproError(f"unknown task {name!r}; choose from: {', '.join(TASKS)}")
    return TASKS[name]


def read_task_files(task: Task, path: str) -> list[str]:
    """The text of each file the task reads: the user's file when eval.path is set, else the
    shipped ones (verified); a task without a shipped set and no path is refused."""
    if path:
        check(len(task.sets) <= 1, f"{task.name} reads {len(task.sets)} files; eval.path names one")
        return [data.user_text(path)]
    if not task.shipped:
        raise ReproError(f"task {task.name}: its data is not shipped and cannot be fetched "
                         f"offline; point --set eval.path=FILE at {task.file_hint}")
    return [data.shipped_text(name) for name in task.sets]
