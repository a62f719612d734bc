"""What a run costs besides training: `ganxfer pretrain trainer.steps=1` on a small CSV against
the floor, a Python process that imports torch and builds one torch.optim.Adam.

    python benchmarks/fixed_costs.py [--repeats 7] [--rows 200]

Each measurement is a whole new process, timed from start to exit. The commands take turns, so
that all of them see the same machine load; each row is the median of the repeats, with its
excess over the floor and its ratio to it (goal: pretrain within 0.7 s of the floor). The middle
row, the imports of the CLI and the pretrain stage with the same Adam, separates what importing
costs from what the run does."""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

FLOOR = "import torch; torch.optim.Adam([torch.zeros(1, requires_grad=True)])"
IMPORTS = ("import torch; from ganxfer import cli; from ganxfer.stages import pretrain; "
           "torch.optim.Adam([torch.zeros(1, requires_grad=True)])")


def small_csv(path: Path, rows: int) -> Path:
    """A mixed table: a continuous, an integer and a categorical column."""
    rng = np.random.default_rng(0)
    pd.DataFrame({"size": rng.normal(10, 2, rows), "count": rng.integers(0, 50, rows),
                  "colour": rng.choice(["red", "green", "blue"], rows)}).to_csv(path, index=False)
    return path


def seconds(command: list[str]) -> float:
    """Wall-clock seconds of a new process from start to exit."""
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def commands(folder: Path, rows: int) -> dict[str, Callable[[], list[str]]]:
    """label -> a function that makes that measurement's command line (its run folder is new)."""
    data = small_csv(folder / "small.csv", rows)
    runs = iter(range(1_000_000))
    return {
        "floor: import torch, build one Adam": lambda: [sys.executable, "-c", FLOOR],
        "imports of the CLI and the pretrain stage, one Adam": lambda: [sys.executable, "-c", IMPORTS],
        "ganxfer pretrain trainer.steps=1": lambda: [
            sys.executable, "-m", "ganxfer", "pretrain", "data=csv", f"data.path={data}", "trainer.steps=1",
            f"hydra.run.dir={folder / f'run{next(runs)}'}"],
    }


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rows", type=int, default=200, help="rows of the generated CSV")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        made = commands(Path(folder), args.rows)
        times = {label: [] for label in made}
        for _ in range(args.repeats):
            for label, command in made.items():
                times[label].append(seconds(command()))
    floor = statistics.median(next(iter(times.values())))
    lines = [f"{args.rows}-row CSV, median of {args.repeats} processes per row, the commands taking turns; "
             f"{os.cpu_count()} cores, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} at the end.", "",
             "| process | seconds | over the floor (s) | ratio to the floor |",
             "|---|---:|---:|---:|"]
    for label, measured in times.items():
        median = statistics.median(measured)
        lines.append(f"| {label} | {median:.2f} | {median - floor:+.2f} | {median / floor:.2f} |")
    print("\n".join(lines), flush=True)
    return "\n".join(lines)


if __name__ == "__main__":
    main()
