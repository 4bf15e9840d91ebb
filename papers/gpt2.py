"""GPT-2: Radford et al. 2019, "Language Models are Unsupervised Multitask Learners".

The paper states only what changed from GPT-1 (§2.3): pre-LN, a final LN, residual
init scaled by 1/sqrt(N), vocabulary 50,257, context 1024, batch 512. Everything else keeps
GPT-1's recipe (Adam, warmup + cosine to 0, dropout 0.1, L2 0.01, GELU, N(0, 0.02)),
except what neither paper gives for this model: the learning rate and the length of
training. For those we take documented re-implementation choices (FACTS.md §7) and say so.

Small scale: `python -m repro gpt2 --scale small` -> reports/gpt2-small.md, a 6x384 GPT-2
on the shipped books corpus, about 100M tokens in a few minutes on one H100.
"""
from repro.config import (Config, DataConfig, ModelConfig, OptimConfig, ScheduleConfig,
                          TrainConfig)
from repro.spec import PaperSpec, Scale

BATCH, CTX = 512, 1024                       # §2.3
STEPS = 600_000                              # not in the paper; nanoGPT's GPT-2 run (C5)

RECIPE = Config(
    model=ModelConfig(
        vocab_size=50257, block_size=CTX,    # §2.3
        n_layer=12, n_head=12, n_embd=768,   # Table 2 (117M row = released 124M)
        norm_position="pre", final_norm=True,  # §2.3
        norm="layernorm", activation="gelu_tanh", bias=True, tie_embeddings=True,
        init="gpt2",                         # §2.3: residual weights x 1/sqrt(2L)
        embd_pdrop=0.1, attn_pdrop=0.1, resid_pdrop=0.1,  # inherited from GPT-1
    ),
    optim=OptimConfig(
        lr=6e-4,                             # not disclosed (§3); GPT-3 Table 2.1 LR at 768 wide
        beta1=0.9, beta2=0.999, eps=1e-8,    # GPT-1 code defaults
        weight_decay=0.01, decay_embeddings=True,  # GPT-1: L2 0.01 on non-bias, non-gain
        grad_clip=1.0,                       # GPT-1 code default
    ),
    schedule=ScheduleConfig(warmup_tokens=2000 * BATCH * CTX,  # GPT-1's 2000 warmup updates
                            decay="cosine", min_lr_ratio=0.0),  # GPT-1: cosine to 0
    train=TrainConfig(tokens=STEPS * BATCH * CTX, batch_size=BATCH, micro_batch_size=16,
                      eval_interval=1000, eval_tokens=1 << 20, log_interval=100,
                      checkpoint_interval=5000),
    data=DataConfig(kind="text", source="books", tokenizer="gpt2"),
)

SIZES = {  # Table 2; heads from the released configs; LR: GPT-3 Table 2.1 at the same width
    "small": {},
    "medium": {"model.n_layer": 24, "model.n_embd": 1024, "model.n_head": 16, "optim.lr": 3e-4},
    "large": {"model.n_layer": 36, "model.n_embd": 1280, "model.n_head": 20, "optim.lr": 2.5e-4},
    "xl": {"model.n_layer": 48, "model.n_embd": 1600, "model.n_head": 25, "optim.lr": 2e-4},
}

SCALES = {
    "tiny": Scale("CPU, under 30 s", n_layer=2, n_head=2, n_embd=32, block_size=32,
                  batch_size=8, tokens=8 * 32 * 80,
                  overrides=("data.max_chars=1500000", "train.eval_interval=40", "optim.lr=3e-3",
                             "train.eval_tokens=4096", "train.log_interval=1",
                             "train.micro_batch_size=0", "train.sample_tokens=60")),
    "small": Scale("one GPU, about 2 minutes", n_layer=6, n_head=6, n_embd=384, block_size=512,
                   batch_size=64, tokens=50_000_000, micro_batch_size=64,
                   overrides=("train.eval_interval=250", "train.eval_tokens=1048576",
                              "train.log_interval=25", "train.checkpoint_interval=1000",
                              "model.vocab_pad_multiple=64", "train.compile=true")),
    "medium": Scale("one GPU, about an hour", batch_size=128, tokens=1_500_000_000,
                    micro_batch_size=32,
                    overrides=("train.eval_interval=1000", "model.vocab_pad_multiple=64",
                               "train.compile=true")),
    "paper": Scale("many GPUs: the full recipe"),
}

SPEC = PaperSpec(
    name="gpt2",
    title="GPT-2: Language Models are Unsupervised Multitask Learners (Radford et al. 2019)",
    citation="Radford, Wu, Child, Luan, Amodei, Sutskever. Language Models are Unsupervised "
             "Multitask Learners. OpenAI 2019.",
    recipe=RECIPE, sizes=SIZES, default_size="small", scales=SCALES,
    sources={
        "model.n_layer": "Table 2", "model.n_embd": "Table 2",
        "model.n_head": "released configs (not in the paper)",
        "model.block_size": "§2.3", "model.vocab_size": "§2.3",
        "model.norm_position": "§2.3 (LN moved to sub-block input)",
        "model.final_norm": "§2.3 (extra LN after the last block)",
        "model.init": "§2.3 (residual init x 1/sqrt(N), N = 2L as HF/nanoGPT)",
        "model.resid_pdrop": "GPT-1 §4.1 (inherited)",
        "train.batch_size": "§2.3 (512)",
        "optim.lr": "not disclosed (§3); GPT-3 Table 2.1 value for the width (our choice)",
        "optim.weight_decay": "GPT-1 §4.1 (inherited)",
        "schedule.warmup_tokens": "GPT-1 §4.1: 2000 updates (inherited)",
        "schedule.decay": "GPT-1 §4.1: cosine to 0 (inherited)",
        "train.tokens": "not disclosed; nanoGPT's 600k steps x 512 x 1024 (our choice)",
        "data.source": "WebText §2.1 is not public; offline: shipped books; online: openwebtext",
    },
    notes=(
        ("WebText training data", False, "not public; use --set data.dataset=openwebtext online"),
        ("byte-level BPE, 50,257 tokens", True, "tiktoken with the shipped ranks"),
        ("per-model LR tuned on 5% of WebText", False, "not disclosed; Table 2.1 LRs of GPT-3"),
    ),
    data={"offline": "books (57 Project Gutenberg novels, data/books)",
          "online": "openwebtext (WebText-like); --set data.dataset=openwebtext"},
    references=(
        ("OpenWebText val loss of the released 124M", 3.12, "nanoGPT README (C5)",
         "different data: not comparable with runs on books"),
        ("WikiText-2 perplexity, 117M zero-shot", 29.41, "Table 3",
         "needs the full 124M model trained on WebText"),
    ),
    published_params={"small": "117M", "medium": "345M", "large": "762M", "xl": "1542M"},
)
