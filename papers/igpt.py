"""Image GPT: Chen et al. 2020, "Generative Pretraining from Pixels".

The released code's structure (openai/image-gpt, C4): a pre-LN GPT-2 with no linear biases,
a gain-only mean-free norm, gelu2, an untied zero-initialised head, a learned start-of-
sequence vector, 512 k-means colours (one token per pixel, raster order). Model resolution
(= context) per size as §3.2 / §4.4 / Table 2 give it: S, M and L at 32x32 (1024 tokens), L
also at 48x48 (size `l-48`, 2304 tokens), XL at 64x64 (4096 tokens).
Training (§3.4, App. A.1): Adam (0.9, 0.95), no weight decay, no dropout, batch 128 images,
1M iterations (XL: 64 x 2M), warmup one epoch then cosine to 0, fp32.

Small scale: `python -m repro igpt --scale small` -> reports/igpt-small.md: an 8x256 iGPT on
the shipped 10,000-image CIFAR-10 subset (10% of it held out for validation, as §3 did) with
a CIFAR-fitted 512-colour palette; the 2,000 test images are scored once, at the end, with a
linear probe whose layer is chosen on the validation split.
"""
from repro.config import (Config, DataConfig, ModelConfig, OptimConfig, ScheduleConfig,
                          TrainConfig)
from repro.spec import Finding, PaperSpec, Reference, Scale, inferred

BATCH, PIXELS = 128, 32 * 32                           # §3.4; 32x32 model resolution
WARMUP_STEPS = 9_600  # one ImageNet epoch (96% of 1.28M images / 128), D in FACTS.md §4.2

RECIPE = Config(
    model=ModelConfig(
        vocab_size=512, block_size=PIXELS,             # §3.2: 9-bit palette; MR 32x32
        n_layer=24, n_head=8, n_embd=512,              # §3.3 iGPT-S; heads from C4 README
        norm_position="pre", final_norm=True, norm="rmsnorm",  # C4 norm(): no mean, no bias
        activation="gelu2", bias=False, tie_embeddings=False,  # C4
        sos_token=True, init="sparse_transformer", zero_init_head=True,  # C4; App. A.1
        embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0,       # §3.4 no dropout
    ),
    optim=OptimConfig(lr=3e-3,                         # §3.4 search; iGPT-S value (S source)
                      beta1=0.9, beta2=0.95,           # §3.4
                      eps=1e-8,                        # not stated (our choice)
                      weight_decay=0.0, grad_clip=0.0),  # App. A.1 no wd; clip not stated
    schedule=ScheduleConfig(warmup_tokens=WARMUP_STEPS * BATCH * PIXELS,  # §3.4 one epoch
                            decay="cosine", min_lr_ratio=0.0),            # §3.4 to 0
    train=TrainConfig(tokens=1_000_000 * BATCH * PIXELS, batch_size=BATCH,  # §3.4 1M iters
                      micro_batch_size=16, precision="fp32",  # App. A.1 fp32
                      eval_interval=5000, eval_tokens=256 * PIXELS, log_interval=100,
                      checkpoint_interval=10000),
    data=DataConfig(kind="images", source="cifar10", tokenizer="palette", image_size=32,
                    palette_size=512),
)

SIZES = {  # §3.3; heads: C4 README (XL's not found: 24 x 128 is our choice)
    "s": {},
    "m": {"model.n_layer": 36, "model.n_embd": 1024, "model.n_head": 8, "optim.lr": 1e-3},
    "l": {"model.n_layer": 48, "model.n_embd": 1536, "model.n_head": 16, "optim.lr": 1e-3},
    # §4.4 / Table 2: iGPT-L also at model resolution 48x48; XL only at 64x64
    "l-48": {"model.n_layer": 48, "model.n_embd": 1536, "model.n_head": 16, "optim.lr": 1e-3,
             "model.block_size": 48 * 48, "data.image_size": 48,
             "schedule.warmup_tokens": WARMUP_STEPS * BATCH * 48 * 48,
             "train.tokens": 1_000_000 * BATCH * 48 * 48},
    "xl": {"model.n_layer": 60, "model.n_embd": 3072, "model.n_head": 24, "optim.lr": 1e-3,
           "model.block_size": 64 * 64, "data.image_size": 64, "train.batch_size": 64,
           "schedule.warmup_tokens": 2 * WARMUP_STEPS * 64 * 64 * 64,
           "train.tokens": 2_000_000 * 64 * 64 * 64},
}

SCALES = {
    "tiny": Scale("CPU, under 30 s", n_layer=2, n_head=2, n_embd=64, block_size=64,
                  batch_size=16, tokens=16 * 64 * 60,
                  overrides=("data.image_size=8", "data.palette_size=16", "model.vocab_size=16", "data.max_images=1000",
                             "train.eval_interval=20", "train.eval_tokens=8192",
                             "train.log_interval=1", "train.micro_batch_size=0")),
    "small": Scale("one GPU, about 2 minutes", n_layer=8, n_head=8, n_embd=256,
                   batch_size=64, tokens=1000 * 64 * PIXELS, micro_batch_size=64,
                   overrides=("train.precision=bf16", "train.eval_interval=500",
                              "train.eval_tokens=2000000", "train.log_interval=50",
                              "train.compile=true",
                              # 8 checkpoints of 1,000 updates, all kept: iGPT Figure 3 probes
                              # each (`repro probe --all-checkpoints`)
                              "train.checkpoint_interval=125", "train.keep_checkpoints=10")),
    "medium": Scale("one GPU, about an hour", n_layer=24, n_head=8, n_embd=512, batch_size=64,
                    tokens=20_000 * 64 * PIXELS, overrides=("train.precision=bf16",)),
    "paper": Scale("the full recipe on ImageNet (online)"),
}

SPEC = PaperSpec(
    name="igpt",
    title="Image GPT: Generative Pretraining from Pixels (Chen et al. 2020)",
    citation="Chen, Radford, Child, Wu, Jun, Luan, Sutskever. Generative Pretraining from "
             "Pixels. ICML 2020.",
    recipe=RECIPE, sizes=SIZES, default_size="s", scales=SCALES,
    sources={
        "model.n_layer": "§3.3", "model.n_embd": "§3.3",
        "model.n_head": inferred("C4 README sampling commands (XL: not found; 24 x 128 ours)"),
        "model.vocab_size": "§3.2 (k-means, k=512)",
        "model.block_size": "§3.2, §4.4 (32x32; L also 48x48; XL 64x64)",
        "model.norm": inferred("C4 norm(): mean-free, gain only"),
        "model.activation": inferred("C4 gelu2"), "model.bias": inferred("C4 (no biases)"),
        "model.tie_embeddings": "App. A.1 (untied)",
        "model.zero_init_head": "§3.3 / App. A.1", "model.sos_token": inferred("C4 (learned sos)"),
        "model.init": "§3.3 Sparse Transformer's layer-dependent init (values from C4)",
        "model.resid_pdrop": "§3.4 (no dropout)",
        "optim.lr": "§3.4 / App. A Table 5: 0.003 for iGPT-S",
        "optim.beta2": "§3.4 (0.95)", "optim.weight_decay": "App. A.1 (none)",
        "optim.eps": inferred("not stated; 1e-8 (our choice)"),
        "optim.grad_clip": inferred("not stated; none"),
        "schedule.warmup_tokens": "§3.4 (one epoch)", "schedule.decay": "§3.4 cosine to 0",
        "train.batch_size": "§3.4 (128; XL 64)", "train.tokens": "§3.4 (1M iters; XL 2M)",
        "train.precision": "App. A.1 (fp32)", "data.palette_size": "§3.2 (512)",
    },
    notes=(
        ("ImageNet pre-training data", False, "offline: shipped CIFAR-10 subset; online: --set data.dataset=..."),
        ("validation split: 10% of the training images (§3)", True, "repro.data.pixels"),
        ("linear probe on mean-pooled LayerNorm(h_l), layer chosen on validation", True,
         "repro.transfer.probe; the test set is scored once"),
        ("fine-tuning and BERT objective", False, "out of scope for pre-training reproduction"),
        ("about 100 ImageNet epochs (§3.4: 1M iterations of 128 images)", True,
         "multi-epoch is faithful here: iGPT saw each image about 100 times, so a scale that "
         "repeats the shipped images is the paper's regime (unlike GPT-2/3's text scales, which "
         "stay at or under one epoch)"),
    ),
    data={"offline": "cifar10 subset (10,000 train of which 1,000 held out for validation, "
                     "2,000 test; data/cifar10-subset)",
          "online": "ImageNet 32x32 or uoft-cs/cifar10 via --set data.dataset=ID"},
    references=(
        Reference("ImageNet 32x32 test loss, iGPT-S (nats/token)", 2.0895, "C4 README", False,
                  "ImageNet and a 24x512 model trained 1M steps"),
        Reference("CIFAR-10 linear probe, iGPT-L", 0.963, "Table 1", False,
                  "48-layer model pre-trained on ImageNet"),
    ),
    published_params={
        "s": ("76M", ""), "m": ("455M", ""), "l": ("1362M", ""),
        "l-48": ("1362M", "Table 2 lists 1362M for L at 48x48 too: that count has the 1024-row "
                          "position table of 32x32 (papers/FACTS.md §4.1)"),
        "xl": ("6801M", "published with a 1024-row position table; at 64x64 the table has 4096 "
                        "rows (papers/FACTS.md §4.1)")},
    findings=(   # FACTS.md §4.4b; tested in the report when runs have probe-<step>.json
        Finding("probe_vs_loss", "across checkpoints and sizes, lower validation generative "
                "loss goes with higher linear-probe accuracy: 'better generative models learn "
                "better representations'", "§4.2, Figure 3", sign=-1),
    ),
)
