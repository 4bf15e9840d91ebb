"""What each task kind (data.kind) adds to a report: its scores, the summary keys shown per run,
its sections and its images. The rest of the report knows no task's extras."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..rundir import RunDir
from ..transfer.probe import peak as probe_peak
from .plots import plot_probe
from .tables import md_table


def no_sections(shown: list[dict], images: list[str]) -> list[str]:
    return []


def no_images(shown: list[dict], latest: dict, out_dir: Path, stem: str) -> list[str]:
    return []


@dataclass(frozen=True)
class TaskReport:
    """scores: summary keys averaged over seeds in the Results table (accuracies in %);
    row_keys: summary keys shown per run in the runs table; sections(shown, images) -> markdown
    lines after the runs table; images(shown, latest, out_dir, stem) -> the names of the images
    copied or drawn into the report folder."""
    scores: tuple[str, ...] = ()
    row_keys: tuple[str, ...] = ()
    sections: Callable[[list[dict], list[str]], list[str]] = no_sections
    images: Callable[[list[dict], dict, Path, str], list[str]] = no_images


def text_sections(shown: list[dict], images: list[str]) -> list[str]:
    """The newest run's text sample."""
    sample = shown[-1]["dir"] / RunDir.SAMPLE
    if not sample.is_file():
        return []
    return ["### Sample\n", "```", sample.read_text()[:1500], "```\n"]


def addition_sections(shown: list[dict], images: list[str]) -> list[str]:
    """The held-out exact match of the first run that has one."""
    out = []
    for r in [r for r in shown if "heldout_accuracy" in r["summary"]][:1]:
        s = r["summary"]
        out.append(f"Held-out exact match of seed {r['config']['train']['seed']} "
                   f"({r['origin']}): {s['heldout_accuracy']:.2%} ({s['heldout_errors']} errors "
                   f"of {s['heldout_problems']}); errors: {s.get('error_examples') or 'none'}\n")
    return out


CAPTIONS = {"samples": "Top two rows: test images; bottom two rows: samples of the newest "
                       "run (temperature 1, from the start-of-sequence).",
            "probe": "Linear-probe accuracy on the validation split per layer, ±1 binomial "
                     "standard error."}


def image_sections(shown: list[dict], images: list[str]) -> list[str]:
    """The linear probe per run and layer, then the images with their captions."""
    out = []
    probes = probe_rows(shown)
    if probes:
        out += ["### Linear probe (iGPT §2.3-2.4, §3.4)\n",
                "Features (§2.3): n^l, the network's own norm of h^l (ln_1 of the next block, "
                "ln_f for the last; mean-free with a gain in iGPT), averaged over positions, "
                "for every depth l = 0 (embeddings) .. L. Per layer and L2 strength a probe is "
                "fitted on every training image and scored on the validation split (held out "
                "from the training images); layer and L2 are chosen there, the validation "
                "images are folded back in for the final fit (§3.1), and the test set is "
                "scored once. Accuracies in % ± one binomial standard error. \"Peaks in the "
                "middle\" (§4.1) is claimed only when a middle layer beats the last by more "
                "than twice their combined standard error. Runs whose first column is L1 "
                "predate this protocol: they probed blocks 1..L with a parameter-free layer "
                "norm, on 5,000 training images, without the fold-back.\n", md_table(probes)]
    for image in images:
        caption = next((c for k, c in CAPTIONS.items() if image.endswith(f"-{k}.png")), "")
        out.append(f"![{image}]({image})\n" + (f"\n{caption}\n" if caption else ""))
    return out


def probe_rows(shown: list[dict]) -> list[dict]:
    rows = []
    for r in shown:
        s = r["summary"]
        if "probe_val_accuracy_per_layer" not in s:
            continue
        row = {"run": f"seed {r['config']['train']['seed']} ({r['origin']})"}
        first = s.get("probe_first_layer", 1)   # older runs probed blocks 1..L only
        for i, (a, e) in enumerate(zip(s["probe_val_accuracy_per_layer"],
                                       s["probe_val_se_per_layer"])):
            row[f"L{i + first}"] = f"{100 * a:.1f} ± {100 * e:.1f}"
        row["best (val)"] = s["probe_best_layer"]
        row["test at best"] = (f"{100 * s['probe_test_accuracy']:.1f} ± "
                               f"{100 * s['probe_test_se']:.1f}")
        peak = s.get("probe_peak") or probe_peak(s["probe_val_accuracy_per_layer"],
                                                 s["probe_val_se_per_layer"])   # older runs
        row["peaks in the middle?"] = (
            f"{'yes' if peak['peaks_in_middle'] else 'no'}: best − last "
            f"{100 * peak['best_minus_last']:+.1f} vs 2 × SE {200 * peak['combined_se']:.1f}")
        rows.append(row)
    return rows


def image_files(shown: list[dict], latest: dict, out_dir: Path, stem: str) -> list[str]:
    """Copies of the newest run's sample grid and the probe plot of every run that has one."""
    images = []
    samples = latest["dir"] / RunDir.SAMPLES
    if samples.is_file():
        shutil.copy(samples, out_dir / f"{stem}-samples.png")
        images.append(f"{stem}-samples.png")
    probes = [(f"seed {r['config']['train']['seed']}, {r['origin']}",
               r["summary"]["probe_val_accuracy_per_layer"],
               r["summary"]["probe_val_se_per_layer"],
               r["summary"].get("probe_first_layer", 1))
              for r in shown if "probe_val_accuracy_per_layer" in r["summary"]]
    if probes:
        images.append(plot_probe(probes, out_dir / f"{stem}-probe.png"))
    return images


TASK_REPORTS = {
    "text": TaskReport(sections=text_sections),
    "addition": TaskReport(scores=("heldout_accuracy",),
                           row_keys=("heldout_accuracy", "heldout_errors"),
                           sections=addition_sections),
    "images": TaskReport(scores=("probe_test_accuracy",),
                         row_keys=("probe_best_layer", "probe_test_accuracy"),
                         sections=image_sections, images=image_files),
}

# The losses every task has, and the scores the tasks add, in the order reports show them.
LOSS_KEYS = ("val_loss (slice)", "best_val_loss (slice)", "val_loss (whole split)", "test_loss")
TASK_SCORES = tuple(key for task in TASK_REPORTS.values() for key in task.scores)

