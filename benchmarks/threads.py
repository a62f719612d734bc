"""Training steps/s at trainer.threads=1, 2 and auto, on a quiet machine and beside one busy
process (a subprocess spinning numpy on one core), for the default MLP, a small DCGAN and the
default MLP on a 1M-row table.

    python benchmarks/threads.py [--steps 300] [--repeats 3]

Each row gives the steps/s of ganxfer's loop (median of the repeats, the thread counts taking
turns), the count auto picks, and two ratios: auto's steps/s against the best fixed count's on
the quiet machine (goal: >= 0.9), and quiet against busy at auto (goal: <= 1.3)."""

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))  # the sibling benchmark scripts
from overhead import DCGAN, MLP, ganxfer_loop, networks  # noqa: E402

from ganxfer.training import threads  # noqa: E402

SPIN = ("import os\nos.environ['OPENBLAS_NUM_THREADS'] = os.environ['OMP_NUM_THREADS'] = '1'\n"
        "import numpy as np\na = np.random.rand(200, 200)\nwhile True:\n    a = np.tanh(a @ a)")

CONFIGURATIONS = [  # (label, model, rows, width, batch size, share of --steps: DCGAN's are slower)
    ("default MLP, digits-sized table", MLP, 1797, 64, 64, 1),
    ("DCGAN, 8x8 images", DCGAN, 1797, 64, 64, 1 / 8),
    ("default MLP, 1M-row table of 16 columns", MLP, 1_000_000, 16, 64, 1),
]


@contextlib.contextmanager
def busy_process():
    """One process beside the benchmark, keeping one core busy until the block ends."""
    spinner = subprocess.Popen([sys.executable, "-c", SPIN])
    time.sleep(0.5)  # numpy imported and spinning
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


def steps_per_second(model: dict, data: torch.Tensor, steps: int, batch: int, count: int) -> float:
    torch.set_num_threads(count)
    wall, _ = ganxfer_loop(model, data, steps, batch, ema=True)
    return wall


def measure(model, data, steps, batch, parameters: int, repeats: int) -> tuple[int, dict[str, float]]:
    """auto's choice on the machine as it is now, and the steps/s at 1, 2 and that many threads."""
    counts = {"1": 1, "2": 2, "auto": threads.choose("auto", parameters, batch)}
    rates = {label: [] for label in counts}
    for _ in range(repeats):
        for label, count in counts.items():
            rates[label].append(steps_per_second(model, data, steps, batch, count))
    return counts["auto"], {label: statistics.median(values) for label, values in rates.items()}


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=None, help="rows of every table (default: as labelled)")
    args = parser.parse_args(argv)
    lines = [f"{threads.available_cores()} cores available, torch {torch.__version__}; {args.steps} steps per "
             f"measurement (DCGAN: an eighth), median of {args.repeats}, the thread counts taking turns; "
             "steps per wall-clock second.", "",
             "| configuration | auto picks, quiet / busy | quiet: 1 / 2 / auto | busy: 1 / 2 / auto | auto / best fixed, quiet "
             "| quiet / busy, auto |",
             "|---|---:|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    for label, model, rows, width, batch, share in CONFIGURATIONS:
        steps = max(1, round(args.steps * share))
        data = torch.rand(args.rows or rows, width) * 2 - 1
        generator, discriminator = networks(model, width)
        parameters = sum(p.numel() for net in (generator, discriminator) for p in net.parameters())
        auto_quiet, quiet = measure(model, data, steps, batch, parameters, args.repeats)
        with busy_process():
            auto_busy, busy = measure(model, data, steps, batch, parameters, args.repeats)
        best_fixed = max(quiet["1"], quiet["2"])
        lines.append(f"| {label} | {auto_quiet} / {auto_busy} | {quiet['1']:.0f} / {quiet['2']:.0f} / {quiet['auto']:.0f} | "
                     f"{busy['1']:.0f} / {busy['2']:.0f} / {busy['auto']:.0f} | {quiet['auto'] / best_fixed:.2f} | "
                     f"{quiet['auto'] / busy['auto']:.2f} |")
        print(lines[-1], flush=True)
    lines.append("")
    lines.append(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(lines[-1], flush=True)
    return "\n".join(lines)


if __name__ == "__main__":
    main()
