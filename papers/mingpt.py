"""The minGPT demos the project grew from (karpathy/minGPT README and projects):
`adder` (play_math), `chargpt` (play_char; nanoGPT's shakespeare_char config), `imagegpt`
(play_image) and `words` (the BPE demo minGPT never had).

Each is a PaperSpec with one size and a `tiny` (CPU) and `small` (one GPU) scale.
  python -m repro adder --scale small      -> 100% of 1,000 held-out 2-digit sums
  python -m repro chargpt --scale small    -> val loss <= 1.46 in under 3 minutes (H200)
  python -m repro imagegpt --scale small   -> CIFAR-10 samples, bits/pixel, linear probes
  python -m repro words --scale small      -> GPT-2 BPE on the books corpus, sampled text
"""
from repro.config import (Config, DataConfig, ModelConfig, OptimConfig, ScheduleConfig,
                          TrainConfig)
from repro.spec import PaperSpec, Reference, Scale, inferred

MINGPT = "Karpathy, minGPT (github.com/karpathy/minGPT), 2020"
NANOGPT = "Karpathy, nanoGPT (github.com/karpathy/nanoGPT), 2023"


def _demo(name, title, citation, recipe, tiny, small, sources, references=(), data=None,
          report_notes=()):
    return PaperSpec(name=name, title=title, citation=citation, recipe=recipe,
                     sizes={"default": {}}, default_size="default",
                     scales={"tiny": tiny, "small": small, "paper": Scale("the demo as published")},
                     sources=sources, references=references, data=data or {},
                     report_notes=report_notes)


ADDER = _demo(
    "adder", "minGPT adder: n-digit addition (play_math)", MINGPT,
    Config(
        model=ModelConfig(vocab_size=10, block_size=9, n_layer=2, n_head=4, n_embd=128,
                          init="scaled_residual"),                 # legacy play_math: 2 layers, 128 wide
        optim=OptimConfig(lr=6e-4, weight_decay=0.1),
        schedule=ScheduleConfig(warmup_tokens=512 * 9 * 100, min_lr_ratio=0.1),
        train=TrainConfig(tokens=3000 * 512 * 9, batch_size=512, eval_interval=500,
                          eval_tokens=9000, log_interval=50, sample_tokens=0),
        data=DataConfig(kind="addition", tokenizer="char"),
    ),
    tiny=Scale("CPU, under 30 s", batch_size=64, tokens=150 * 64 * 9,
               overrides=("train.eval_interval=50", "train.log_interval=1")),
    small=Scale("one GPU, under a minute", n_layer=4, n_embd=256, n_head=8,
                tokens=4000 * 512 * 9),
    sources={"model.n_layer": "legacy play_math (2 layers)", "model.n_embd": "play_math (128)",
             "task.ndigit": "play_math (2 digits)"},
    references=(Reference("held-out exact match, 2 digits", 0.999, "legacy minGPT play_math",
                          False, "minGPT's demo used another model (2 x 128, its own schedule) "
                                 "and did not reverse the answer digits"),),
    data={"offline": "generated: all 10^(2n) problems, 1,000 held out (seed 1337)"},
    report_notes=("The answer digits are reversed (lowest first, as carries go) and the model "
                  "is 4 x 256 at the small scale: minGPT's 99.9% is the same task, not the same "
                  "experiment.",),
)

CHARGPT = _demo(
    "chargpt", "minGPT chargpt: character-level tiny Shakespeare", NANOGPT,
    Config(  # nanoGPT config/train_shakespeare_char.py
        model=ModelConfig(vocab_size=0, block_size=256, n_layer=6, n_head=6, n_embd=384,
                          embd_pdrop=0.25, attn_pdrop=0.25, resid_pdrop=0.25, init="scaled_residual"),
        optim=OptimConfig(lr=1e-3, beta2=0.99, weight_decay=0.1, grad_clip=1.0),
        schedule=ScheduleConfig(warmup_tokens=100 * 64 * 256, min_lr_ratio=0.1),
        train=TrainConfig(tokens=5000 * 64 * 256, batch_size=64, eval_interval=250,  # nanoGPT
                          eval_tokens=110_000, log_interval=50, sample_tokens=500),
        data=DataConfig(kind="text", source="shakespeare", tokenizer="char", val_fraction=0.1,
                        stride=1),
    ),
    tiny=Scale("CPU, under 30 s", n_layer=2, n_head=2, n_embd=64, block_size=64, batch_size=16,
               tokens=16 * 64 * 150,
               overrides=("train.eval_interval=50", "train.eval_tokens=4096",
                          "train.log_interval=1", "train.sample_tokens=100")),
    # nanoGPT's val loss is the best of its evaluations (it bottoms out near iter 2000 and
    # rises after); we shorten the schedule to 2500 iterations so the run ends annealed there,
    # and raise dropout from nanoGPT's 0.2 to 0.25 (measured on one H200, 2 seeds each, final
    # val: 0.2 -> 1.4642; 0.25 -> 1.4574, 1.4528; 0.3 -> 1.4477, 1.4599).
    small=Scale("one GPU, under 3 minutes", tokens=2500 * 64 * 256,
                overrides=("train.compile=true",)),
    sources={"model.n_layer": "nanoGPT shakespeare_char", "model.block_size": "nanoGPT (256)",
             "optim.lr": "nanoGPT (1e-3)", "train.tokens": "nanoGPT: 5000 iters x 64 x 256",
             "model.resid_pdrop": inferred("nanoGPT 0.2; 0.25 here, chosen on the val split")},
    references=(Reference("val loss, 6x384, 5000 iters (best of its evaluations)", 1.4697,
                          "nanoGPT README", True, "same data, split and model, compared on "
                          "nanoGPT's best-of-evaluations basis (our best_val_loss); our schedule "
                          "(2,500 iterations) and dropout (0.25) differ, chosen on this split"),),
    data={"offline": "tinyshakespeare: first 90% train, last 10% val"},
    report_notes=("Dropout (0.25) and the 2,500-iteration schedule were chosen on the validation "
                  "split that is reported here (there is no separate test split); nanoGPT chose "
                  "its settings the same way. Its 1.4697 is the best of its evaluations, so the "
                  "comparable figure here is best_val_loss; the final val_loss is stricter.",),
)

IMAGEGPT = _demo(
    "imagegpt", "minGPT imagegpt: GPT on CIFAR-10 pixels (play_image)", MINGPT,
    Config(
        model=ModelConfig(vocab_size=512, block_size=1024, n_layer=8, n_head=8, n_embd=256,
                          embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0, init="scaled_residual"),
        optim=OptimConfig(lr=3e-3, beta2=0.95, weight_decay=0.0, grad_clip=1.0),
        schedule=ScheduleConfig(warmup_tokens=64 * 1024 * 200, min_lr_ratio=0.0),
        train=TrainConfig(tokens=4000 * 64 * 1024, batch_size=64, micro_batch_size=64,
                          eval_interval=500, eval_tokens=2000 * 1024, log_interval=50,
                          precision="auto"),
        data=DataConfig(kind="images", source="cifar10", tokenizer="palette", image_size=32,
                        palette_size=512),
    ),
    tiny=Scale("CPU, under 30 s", n_layer=2, n_head=2, n_embd=64, block_size=64, batch_size=16,
               tokens=16 * 64 * 60,
               overrides=("data.image_size=8", "data.palette_size=16", "model.vocab_size=16", "data.max_images=1000",
                          "train.eval_interval=20", "train.eval_tokens=8192",
                          "train.log_interval=1")),
    small=Scale("one GPU, about 2 minutes", tokens=1000 * 64 * 1024,
                overrides=("train.compile=true",)),
    sources={"data.palette_size": "play_image (k-means, 512)",
             "model.n_layer": inferred("our choice")},
    references=(Reference("test loss, full CIFAR-10 (nats/token)", 2.0378,
                          "legacy minGPT play_image", False,
                          "full 50k-image train set; ours trains on 9k of the 10k subset"),),
    data={"offline": "cifar10 subset (10,000 / 2,000)", "online": "--set data.dataset=uoft-cs/cifar10"},
)

WORDS = _demo(
    "words", "minGPT words: the BPE demo minGPT never had (GPT-2 BPE on books)", MINGPT,
    Config(
        model=ModelConfig(vocab_size=50257, block_size=256, n_layer=6, n_head=8, n_embd=512,
                          init="scaled_residual"),
        optim=OptimConfig(lr=6e-4, weight_decay=0.1),
        schedule=ScheduleConfig(warmup_tokens=10_000_000, min_lr_ratio=0.1),
        train=TrainConfig(tokens=150_000_000, batch_size=128, micro_batch_size=128,
                          eval_interval=250, eval_tokens=1 << 20, log_interval=25,
                          sample_tokens=300),
        data=DataConfig(kind="text", source="books", tokenizer="gpt2"),
    ),
    tiny=Scale("CPU, under 30 s", n_layer=2, n_head=2, n_embd=32, block_size=32, batch_size=8,
               tokens=8 * 32 * 80, micro_batch_size=8,
               overrides=("data.max_chars=200000", "train.eval_interval=40", "optim.lr=3e-3",
                          "train.eval_tokens=4096", "train.log_interval=1",
                          "train.sample_tokens=60")),
    small=Scale("one GPU, about 2 minutes", tokens=50_000_000, overrides=("train.compile=true",
                                                       "model.vocab_pad_multiple=64")),
    sources={"data.tokenizer": inferred("GPT-2 BPE (our choice for the missing demo)")},
    data={"offline": "books (57 Project Gutenberg novels)"},
)

SPECS = (ADDER, CHARGPT, IMAGEGPT, WORDS)
