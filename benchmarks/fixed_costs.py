"""What a run costs besides training: `ganxfer pretrain trainer.steps=1` on a small CSV against
the floor, a Python process that imports torch and builds one torch.optim.Adam.

    python benchmarks/fixed_costs.py [--repeats 7] [--rows 200] [--before CHECKOUT ...]

Each measurement is a whole new process, timed from start to exit. The commands take turns, so
that all of them see the same machine load; each row is the median of the repeats, with its
excess over the floor and its ratio to it (goal: pretrain within 0.7 s of the floor). The middle
row, the imports of the CLI and the pretrain stage with the same Adam, separates what importing
costs from what the run does. The CPU seconds (user and system) of the same processes separate
what they did from how long they waited, on a machine that other work keeps busy. `--before`
adds the same pretrain run by the ganxfer of another checkout (an earlier commit's, main's; one
row each, when given several times), taking its turn with the others: a change's before and
after in one run.

ganxfer's modules are compiled to bytecode first, as pip compiles an installed package's: no
process pays for compiling them (with PYTHONDONTWRITEBYTECODE set, a checkout without
__pycache__ would compile every module in every process)."""

import argparse
import compileall
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.resources import files
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


def seconds(command: list[str], folder: Path, python_path: Path | None = None) -> tuple[float, float]:
    """Wall-clock seconds of a new process from start to exit, and the CPU seconds it used (user
    and system), run in `folder` (a checkout's folder would come first on its path);
    `python_path`: a folder to put first instead."""
    env = None if python_path is None else {**os.environ, "PYTHONPATH": str(python_path)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def installed_like(checkout: Path, folder: Path) -> Path:
    """The package of a ganxfer checkout laid out as installed (its conf/ as ganxfer/conf) under
    `folder`, compiled: the folder to put first on the Python path to run that ganxfer."""
    package = folder / "ganxfer"
    ignored = shutil.ignore_patterns("__pycache__")
    shutil.copytree(checkout / "ganxfer", package, ignore=ignored)
    shutil.copytree(checkout / "conf", package / "conf", ignore=ignored)
    compileall.compile_dir(package, quiet=1)
    return folder


def commands(folder: Path, rows: int, before: list[Path] = ()) -> dict[str, Callable[[], tuple[float, float]]]:
    """label -> a function that times that measurement once (each pretrain in a new run folder)."""
    data = small_csv(folder / "small.csv", rows)
    runs = iter(range(1_000_000))

    def pretrain() -> list[str]:
        return [sys.executable, "-m", "ganxfer", "pretrain", "data=csv", f"data.path={data}", "trainer.steps=1",
                f"hydra.run.dir={folder / f'run{next(runs)}'}"]

    made = {
        "floor: import torch, build one Adam": lambda: seconds([sys.executable, "-c", FLOOR], folder),
        "imports of the CLI and the pretrain stage, one Adam": lambda: seconds([sys.executable, "-c", IMPORTS], folder),
        "ganxfer pretrain trainer.steps=1": lambda: seconds(pretrain(), folder),
    }
    for number, checkout in enumerate(before):
        earlier = installed_like(checkout, folder / f"before{number}")
        made[f"the same pretrain, ganxfer of {checkout}"] = lambda path=earlier: seconds(pretrain(), folder, path)
    return made


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rows", type=int, default=200, help="rows of the generated CSV")
    parser.add_argument("--before", type=Path, action="append", default=[],
                        help="a ganxfer checkout whose pretrain is timed too (may be given several times)")
    args = parser.parse_args(argv)
    for package in ("ganxfer", "ganxfer.conf"):  # conf/ lies outside ganxfer/ in a checkout
        compileall.compile_dir(files(package), quiet=1)
    with tempfile.TemporaryDirectory() as folder:
        made = commands(Path(folder), args.rows, args.before)
        times = {label: [] for label in made}
        for _ in range(args.repeats):
            for label, timed in made.items():
                times[label].append(timed())
    floor, floor_cpu = (statistics.median(column) for column in zip(*next(iter(times.values()))))
    lines = [f"{args.rows}-row CSV, median of {args.repeats} processes per row, the commands taking turns; "
             f"{os.cpu_count()} cores, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} at the end.", "",
             "| process | seconds | over the floor (s) | ratio to the floor | CPU seconds | CPU over the floor (s) |",
             "|---|---:|---:|---:|---:|---:|"]
    for label, measured in times.items():
        wall, cpu = (statistics.median(column) for column in zip(*measured))
        lines.append(f"| {label} | {wall:.2f} | {wall - floor:+.2f} | {wall / floor:.2f} "
                     f"| {cpu:.2f} | {cpu - floor_cpu:+.2f} |")
    print("\n".join(lines), flush=True)
    return "\n".join(lines)


if __name__ == "__main__":
    main()
