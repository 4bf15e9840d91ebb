"""One GPU sitting: many `python -m repro ...` jobs packed onto one GPU under a memory budget and
a deadline, then the evidence packed for the trip back.

    python tools/sitting.py PLAN --deadline SECONDS [--gpu-gb 130] [--procs 12] [--out DIR]
                            [--scale small] [--seeds 0,1,2] [--only NAME,...]

Seeds default to 0,1,2 for training and 0..4 for the fine-tuning matrix (FINETUNE_SEEDS: the
report's intervals over seeds and dev examples need at least 5 seeds per arm).

PLAN names a list of jobs built below (text, images, finetune, ...). A job starts when the jobs
it waits for have succeeded and its memory estimate fits; its command may use what an earlier
job printed as JSON (`{gpt1-s0.run_dir}`). At the deadline every job still running gets SIGTERM
(a training run saves and says where), and no new job starts once too little time is left for
it. Each job's output is in runs/logs/<name>.log; <out>/sitting.json says how each ended; the
run folders (without checkpoints) and the logs are packed into <out>/runs.tar.xz.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

TEXT = ("gpt1", "gpt2", "gpt3", "words")
GLUE = ("sst2", "cola", "mrpc", "rte", "stsb")
# GPU memory (GB, peak allocated in the last sitting plus room for the allocator) and seconds
# of a small-scale run when it shares the GPU with the others (not started unless it can end
# before the deadline).
COST = {"gpt1": (20, 330), "gpt2": (23, 330), "gpt3": (21, 330), "words": (22, 360),
        "chargpt": (4, 200), "adder": (2, 150), "igpt": (8, 240), "imagegpt": (8, 240)}
# The <= 1-epoch text runs (10M tokens, a fifth of the old 50M): their peak was ~7 GB at the
# old shapes (reports/runs/*/metrics.jsonl peak_mem_gb); gpt3's 2,048 context gets more room.
COST.update(gpt2=(10, 200), gpt3=(12, 240))
PLANS = {"a": ("gpt1", "gpt2", "chargpt", "adder"), "b": ("gpt3", "words", "igpt", "imagegpt")}
# This wave's sittings (issues 25, 29-31): the <= 1-epoch text runs with the scaling ladder, and
# the GPT-1 / iGPT findings (pre-training with kept checkpoints, the fine-tuning matrix, the
# layers-transferred sweep, the image runs and their probes per checkpoint).
PLANS.update({"text": ("gpt2", "gpt3"), "images": ("igpt", "imagegpt")})
LAYER_TASKS = ("sst2", "rte")      # GPT-1 Figure 2 (left), issue 31
GPT1_SMALL_LAYERS = 6
REPRO = [sys.executable, "-m", "repro"]
THREADS = 2   # CPU threads per job
SEEDS, FINETUNE_SEEDS = "0,1,2", "0,1,2,3,4"   # defaults of --seeds (finetune: >= 5 per arm)


@dataclass
class Job:
    name: str
    cmd: list[str]
    gpu_gb: float
    seconds: float                  # a rough duration: not started unless it fits before the end
    after: tuple = ()
    proc: subprocess.Popen | None = None
    state: str = "waiting"          # waiting, running, ok, failed, stopped, skipped
    started: float = 0.0
    wall: float = 0.0
    output: dict = field(default_factory=dict)
    log: object = None


def train(paper: str, seed: int, scale: str, gb: float, seconds: float) -> Job:
    return Job(f"{paper}-s{seed}", REPRO + [paper, "--scale", scale, "--seed", str(seed),
                                            "--no-progress", "--no-report", "--json"], gb, seconds)


def evaluate(paper: str, seed: int) -> Job:
    """`repro eval` of a run with its defaults: GPT-2's zero-shot tasks and the run's paper's
    own (GPT-3: K-shot cloze and PIQA); the results go into the run's eval.json."""
    return Job(f"eval-{paper}-s{seed}", REPRO + ["eval", f"{{{paper}-s{seed}.run_dir}}",
                                                 "--no-progress", "--json"],
               8, 200 if paper == "gpt3" else 60, after=(f"{paper}-s{seed}",))


def finetune(task: str, init: str, lm_coef: float, seed: int, scale: str) -> Job:
    source = ["--init", "random"] if init == "random" else ["--init", "{gpt1-s0.run_dir}"]
    return Job(f"ft-{task}-{init}-lm{lm_coef:g}-s{seed}",
               REPRO + ["gpt1", "finetune", "--task", task, "--scale", scale, "--seed", str(seed),
                        "--set", f"lm_coef={lm_coef}", "--no-progress", "--no-report", "--json",
                        *source], 3, 150, after=() if init == "random" else ("gpt1-s0",))


def transfer_layers(task: str, k: int, seed: int, scale: str) -> Job:
    """GPT-1 Figure 2 (left): the pre-trained embeddings and first k blocks, the rest random."""
    return Job(f"ft-{task}-layers{k}-s{seed}",
               REPRO + ["gpt1", "finetune", "--task", task, "--scale", scale, "--seed", str(seed),
                        "--transfer-layers", str(k), "--init", "{gpt1-s0.run_dir}",
                        "--no-progress", "--no-report", "--json"], 3, 90, after=("gpt1-s0",))


def checkpoint_scores(paper: str, seed: int) -> Job:
    """Every kept checkpoint scored: GPT-1's SST-2 zero-shot heuristic (Figure 2 right), iGPT's
    linear probe (Figure 3)."""
    verb = (["eval", f"{{{paper}-s{seed}.run_dir}}", "--all-checkpoints", "--tasks",
             "sst2_zeroshot", "--no-progress"] if paper == "gpt1"
            else ["probe", f"{{{paper}-s{seed}.run_dir}}", "--all-checkpoints"])
    return Job(f"scores-{paper}-s{seed}", REPRO + verb + ["--json"], 6, 150,
               after=(f"{paper}-s{seed}",))


def export(paper: str, seed: int) -> Job:
    """A run as a Hugging Face folder with its model card (after its evaluations, which the
    card carries)."""
    return Job(f"export-{paper}-s{seed}", REPRO + ["export", f"{{{paper}-s{seed}.run_dir}}",
                                                   "--out", f"runs/exports/{paper}-small-s{seed}"],
               4, 60, after=(f"eval-{paper}-s{seed}",))


def scaling(paper: str, scale: str, jobs: int) -> Job:
    """The scaling ladder (repro scaling): it packs its own runs and evaluations on the GPU and
    skips what an earlier call finished; its report is rebuilt from the evidence afterwards."""
    return Job(f"scaling-{paper}", REPRO + ["scaling", paper, "--scale", scale, "--jobs",
                                            str(jobs), "--out", f"runs/{paper}-scaling-{scale}",
                                            "--report-dir", "runs/scaling-report"],
               50, 420)


def timing() -> Job:
    """All of LAMBADA through `repro eval` on a random 124M GPT-2 checkpoint (target < 60 s)."""
    build = ("import torch; from transformers import GPT2Config, GPT2LMHeadModel; "
             "torch.manual_seed(0); GPT2LMHeadModel(GPT2Config()).save_pretrained('/tmp/gpt2-random')")
    return Job("lambada-timing", ["bash", "-c", f'{sys.executable} -c "{build}" && exec /usr/bin/time -p '
                                  f'{" ".join(REPRO)} eval --hf /tmp/gpt2-random --tasks lambada '
                                  f'--no-progress --json --out runs/lambada-timing'], 8, 90)


def plan(name: str, scale: str, seeds: list[int]) -> list[Job]:
    """A sitting's jobs: the papers' runs (each seed), the papers' evaluations of each text run
    (GPT-3 also K-shot), the fine-tuning matrix, the LAMBADA timing."""
    if name == "finetune":
        return [finetune(t, init, lm, s, scale) for s in seeds for t in GLUE
                for init, lm in (("pretrained", 0.5), ("pretrained", 0.0), ("random", 0.5))]
    if name == "timing":
        return [timing()]
    if name == "scaling":
        return [scaling("gpt3", scale, 6)]
    if name == "gpt1":
        return [train("gpt1", 0, scale, *COST["gpt1"]), checkpoint_scores("gpt1", 0)]
    if name == "layers":   # its own plan, so a sitting can start the matrix before it
        return [transfer_layers(t, k, s, scale) for s in seeds[:3] for t in LAYER_TASKS
                for k in range(GPT1_SMALL_LAYERS)]
    if name not in PLANS:
        raise SystemExit(f"unknown plan {name!r}: {', '.join(PLANS)}, finetune, gpt1, "
                         f"scaling, timing")
    papers, seeds = PLANS[name], seeds[:3]   # a paper's runs: 3 seeds; --seeds feeds the matrix
    jobs = [train(p, s, scale, *COST[p]) for s in seeds for p in papers]
    jobs += [evaluate(p, s) for s in seeds for p in papers if p in TEXT]
    if name == "text":
        jobs.append(export("gpt2", seeds[0]))
    if name == "images":
        jobs += [checkpoint_scores("igpt", s) for s in seeds]
    return jobs


def fill(cmd: list[str], jobs: dict[str, Job]) -> list[str]:
    out = []
    for part in cmd:
        if part.startswith("{") and part.endswith("}"):
            job, key = part[1:-1].split(".")
            part = str(jobs[job].output[key])
        out.append(part)
    return out


def last_json(text: str) -> dict:
    """The last JSON object a job printed (its --json summary)."""
    start = text.rfind("\n{")
    for i in ([start + 1] if start >= 0 else []) + [0]:
        try:
            return json.loads(text[i:])
        except ValueError:
            continue
    return {}


def run(jobs: list[Job], deadline: float, gpu_gb: float, procs: int, logs: Path) -> None:
    by_name = {j.name: j for j in jobs}
    t0 = time.monotonic()
    logs.mkdir(parents=True, exist_ok=True)

    def ended(j: Job, now: float) -> None:
        j.wall = now - j.started
        j.log.close()
        j.output = last_json((logs / f"{j.name}.log").read_text(errors="replace"))
        j.state = "ok" if j.proc.returncode == 0 else (
            "stopped" if j.output.get("interrupted") or j.proc.returncode < 0 else "failed")
        print(f"[{now:5.0f}s] {j.state:7s} {j.name} ({j.wall:.0f}s)", flush=True)

    while True:
        now = time.monotonic() - t0
        for j in jobs:
            if j.state == "running" and j.proc.poll() is not None:
                ended(j, now)
        for j in jobs:
            if j.state == "waiting" and any(by_name[a].state in ("failed", "stopped", "skipped")
                                            for a in j.after):
                j.state = "skipped"
        running = [j for j in jobs if j.state == "running"]
        if now > deadline:   # a training run saves at its next step and says where it stopped
            for j in running:
                os.killpg(j.proc.pid, signal.SIGTERM)
            for j in running:
                try:
                    j.proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    os.killpg(j.proc.pid, signal.SIGKILL)
                    j.proc.wait()
                ended(j, time.monotonic() - t0)
            for j in jobs:
                if j.state == "waiting":
                    j.state = "skipped"
            return
        hopeful = [j for j in jobs if j.state == "waiting" and now + j.seconds <= deadline]
        if not running and not hopeful:   # nothing left that can still finish: stop the clock
            for j in jobs:
                if j.state == "waiting":
                    j.state = "skipped"
            return
        used = sum(j.gpu_gb for j in running)
        for j in jobs:
            if (j.state != "waiting" or len(running) >= procs or used + j.gpu_gb > gpu_gb
                    or any(by_name[a].state != "ok" for a in j.after)):
                continue
            if now + j.seconds > deadline:
                continue   # would not finish in time; a later, shorter job may still fit
            j.started, j.state = now, "running"
            j.log = open(logs / f"{j.name}.log", "w")
            # A few CPU threads a job: a dozen processes each taking all 16 cores starved the
            # CPU work at the end of the image runs (their linear probes) in the last sitting.
            j.proc = subprocess.Popen(fill(j.cmd, by_name), stdout=j.log, stderr=subprocess.STDOUT,
                                      start_new_session=True,
                                      env={**os.environ, "OMP_NUM_THREADS": str(THREADS)})
            running.append(j)
            used += j.gpu_gb
            print(f"[{now:5.0f}s] start   {j.name}", flush=True)
        time.sleep(1)


def pack(roots: list[Path], out: Path) -> Path:
    """Every run folder under roots, without checkpoints or exported weights, as one tar.xz."""
    path = out / "runs.tar.xz"
    with tarfile.open(path, "w:xz") as tar:
        for root in roots:
            for f in sorted(root.rglob("*")):
                if (f.is_file() and "checkpoints" not in f.parts
                        and f.suffix not in (".safetensors", ".bin", ".pt")):
                    tar.add(f, arcname=str(f))
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("plans", help="comma-separated: a, b, text, images, gpt1, finetune, "
                   "scaling, timing")
    p.add_argument("--deadline", type=float, required=True, help="seconds from now")
    p.add_argument("--gpu-gb", type=float, default=130)
    p.add_argument("--procs", type=int, default=12)
    p.add_argument("--scale", default="small")
    p.add_argument("--seeds", help=f"default {SEEDS}; the finetune plan {FINETUNE_SEEDS}")
    p.add_argument("--only", help="comma-separated job names (and what they wait for)")
    p.add_argument("--done", default="", help="jobs an earlier sitting finished on this machine, "
                   "as NAME=RUN_DIR,...: what waits for them starts at once")
    p.add_argument("--out", default=os.environ.get("OUT", "sitting"))
    args = p.parse_args()
    def seeds(name: str) -> list[int]:
        given = args.seeds or (FINETUNE_SEEDS if name == "finetune" else SEEDS)
        return [int(s) for s in given.split(",")]
    jobs = [j for name in args.plans.split(",") for j in plan(name, args.scale, seeds(name))]
    done = dict(pair.split("=", 1) for pair in args.done.split(",") if pair)
    for j in jobs:
        if j.name in done:
            j.state, j.output = "ok", {"run_dir": done[j.name]}
    if args.only:
        keep, by_name = set(args.only.split(",")), {j.name: j for j in jobs}
        while True:   # what the named jobs wait for, transitively
            more = {a for n in keep for a in by_name[n].after} - keep
            if not more:
                break
            keep |= more
        jobs = [j for j in jobs if j.name in keep]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run(jobs, args.deadline, args.gpu_gb, args.procs, Path("runs/logs"))   # packed with the runs
    summary = {j.name: {"state": j.state, "wall_s": round(j.wall, 1), "cmd": " ".join(j.cmd),
                        "run_dir": j.output.get("run_dir")} for j in jobs}
    (out / "sitting.json").write_text(json.dumps(summary, indent=2) + "\n")
    pack([Path("runs")], out)
    states = [j.state for j in jobs]
    print({s: states.count(s) for s in sorted(set(states))}, flush=True)


if __name__ == "__main__":
    main()
