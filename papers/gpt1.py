"""GPT-1: Radford et al. 2018, "Improving Language Understanding by Generative Pre-Training".

Pre-training recipe of §4.1 and the released code (openai/finetune-transformer-lm, C1):
post-LN blocks and no final LN, tied 40,478-token BPE behind ftfy + spaCy, 512 context,
64 x 512 batches, Adam 2.5e-4 with 2000 warmup updates then cosine to 0, dropout 0.1, L2 0.01
on all non-bias, non-gain weights, 100 epochs of BooksCorpus. Fine-tuning (§3.3, §4.1): see
FINETUNE below and `python -m repro gpt1 finetune`.

Small scale: `python -m repro gpt1 --scale small` -> reports/gpt1-small.md: a 6x384 post-LN
GPT-1 on the shipped books corpus (BooksCorpus-style novels), about 2 minutes on one H200.
"""
from repro.config import (Config, DataConfig, ModelConfig, OptimConfig, ScheduleConfig,
                          TrainConfig)
from repro.spec import PaperSpec, Scale, inferred

BATCH, CTX = 64, 512                                   # §4.1
EPOCH_TOKENS = 1_000_000_000  # not in the paper: BooksCorpus holds ~985M words (Zhu et al.
                              # 2015); we assume ~1.0B BPE tokens an epoch (our choice)

RECIPE = Config(
    model=ModelConfig(
        vocab_size=40478, block_size=CTX,              # C1 encoder_bpe_40000.json; §4.1
        n_layer=12, n_head=12, n_embd=768, n_inner=3072,  # §4.1
        norm_position="post", final_norm=False,        # C1 train.py block(); no ln_f tensors
        norm="layernorm", norm_eps=1e-5, activation="gelu_tanh", bias=True,
        tie_embeddings=True, init="normal",            # §4.1: N(0, 0.02)
        embd_pdrop=0.1, attn_pdrop=0.1, resid_pdrop=0.1,  # §4.1
    ),
    optim=OptimConfig(lr=2.5e-4,                       # §4.1
                      beta1=0.9, beta2=0.999, eps=1e-8,  # not stated; C1 code defaults
                      weight_decay=0.01, decay_embeddings=True,  # §4.1 modified L2
                      grad_clip=1.0),                  # not stated; C1 fine-tune default
    schedule=ScheduleConfig(warmup_tokens=2000 * BATCH * CTX,  # §4.1: 2000 updates
                            decay="cosine", min_lr_ratio=0.0),  # §4.1: annealed to 0
    train=TrainConfig(tokens=100 * EPOCH_TOKENS, batch_size=BATCH,  # §4.1: 100 epochs
                      eval_interval=2000, eval_tokens=1 << 20, log_interval=100,
                      checkpoint_interval=10000),
    data=DataConfig(kind="text", source="books", tokenizer="gpt1"),
)

# §3.3 / §4.1 fine-tuning, checked against C1 train.py defaults (papers/FACTS.md §1.4).
FINETUNE = dict(lr=6.25e-5,            # §4.1; C1 lr=6.25e-5
                batch_size=32,         # §4.1; C1 8 per GPU x 4 GPUs
                epochs=3,              # §4.1 "3 epochs for most tasks"; C1 n_iter=3
                warmup_fraction=0.002,  # §4.1 "warmup over 0.2% of training"; C1 lr_warmup
                decay="linear",        # §4.1 linear schedule; C1 warmup_linear
                lm_coef=0.5,           # §3.2 λ = 0.5; C1 lm_coef
                clf_pdrop=0.1,         # §4.1 dropout 0.1 on the classifier; C1 clf_pdrop
                weight_decay=0.01,     # C1 l2=0.01 (as in pre-training)
                max_grad_norm=1.0)     # C1 max_grad_norm=1

SCALES = {
    "tiny": Scale("CPU, under 30 s", n_layer=2, n_head=2, n_embd=32, block_size=32,
                  batch_size=8, tokens=8 * 32 * 80,
                  overrides=("data.max_chars=200000", "train.eval_interval=40", "optim.lr=3e-3",
                             "train.eval_tokens=4096", "train.log_interval=1",
                             "train.sample_tokens=60")),
    "small": Scale("one GPU, about 2 minutes", n_layer=6, n_head=6, n_embd=384,
                   batch_size=BATCH, tokens=50_000_000,
                   overrides=("train.eval_interval=250", "train.log_interval=25",
                              "train.checkpoint_interval=1000", "model.vocab_pad_multiple=64",
                              "train.compile=true")),
    "medium": Scale("one GPU, about an hour", tokens=1_000_000_000,
                    overrides=("model.vocab_pad_multiple=64", "train.compile=true")),
    "paper": Scale("8 GPUs for about a month in 2018; the full recipe"),
}

SPEC = PaperSpec(
    name="gpt1",
    title="GPT-1: Improving Language Understanding by Generative Pre-Training (Radford et al. 2018)",
    citation="Radford, Narasimhan, Salimans, Sutskever. Improving Language Understanding by "
             "Generative Pre-Training. OpenAI 2018.",
    recipe=RECIPE, sizes={"base": {}}, default_size="base", scales=SCALES,
    sources={
        "model.n_layer": "§4.1", "model.n_embd": "§4.1", "model.n_head": "§4.1",
        "model.n_inner": "§4.1 (3072)", "model.block_size": "§4.1 (512)",
        "model.vocab_size": "§4.1 40,000 merges; 40,478 ids in the C1 encoder",
        "model.norm_position": inferred("C1 train.py block(): post-LN"),
        "model.final_norm": inferred("C1 params_shapes.json: no final LN"),
        "model.activation": "§4.1 GELU (tanh form in C1)",
        "model.resid_pdrop": "§4.1 (0.1)", "model.init": "§4.1 N(0, 0.02)",
        "optim.lr": "§4.1 (2.5e-4)", "optim.weight_decay": "§4.1 (w = 0.01)",
        "optim.beta1": inferred("not stated; C1 code default"),
        "optim.beta2": inferred("not stated; C1 code default"),
        "optim.eps": inferred("not stated; C1 code default"),
        "optim.grad_clip": inferred("not stated; C1 fine-tune default"),
        "schedule.warmup_tokens": "§4.1: 2000 updates", "schedule.decay": "§4.1 cosine to 0",
        "train.batch_size": "§4.1 (64 x 512)",
        "train.tokens": inferred("§4.1 says 100 epochs; the epoch size (~1B tokens) is ours"),
        "data.tokenizer": "§4.1 BPE behind ftfy + spaCy (C1 files, shipped)",
    },
    notes=(
        ("BooksCorpus", False, "not redistributable; offline: 57 public-domain novels (data/books)"),
        ("ftfy + spaCy pre-tokenisation", True, "as C1 text_utils.py (repro/data/tokenizers.py)"),
        ("dropout on the embedding matrix itself (C1 quirk)", False,
         "we drop out the summed embeddings, as HF does"),
        ("cosine over the whole run incl. warmup (C1 warmup_cosine)", False,
         "cosine from the end of warmup; differs by <0.1% of the run at paper scale"),
    ),
    data={"offline": "books (57 Project Gutenberg novels, data/books)",
          "online": "bookcorpus; --set data.dataset=bookcorpus"},
    published_params={"base": ("117M", "")},
)
