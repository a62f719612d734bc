"""Time the full metric suite on N real x N synthetic rows x D columns (default 10,000 x 10,000 x 64):

    python benchmarks/metrics.py [--rows N] [--columns D] [--threads T]

Not a test (the goal: under 30 s on 2 cores). The rows come from a Gaussian mixture with a class
label; a quarter of the columns are rounded to a few integers, so that both the KS and the TV
complement run; the synthetic rows carry the label, so that utility runs too; the feature
classifier is trained from cold (a fresh cache folder)."""

import argparse
import os
import tempfile
import time
from contextlib import nullcontext

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from ganxfer.data import Schema
from ganxfer.metrics import METRICS, Comparison, Space, evaluate

CLASSES = 5


def mixture(rows: int, columns: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Rows around one of CLASSES fixed centres, labelled by their centre."""
    centres = np.random.default_rng(1234).normal(size=(CLASSES, columns))  # the same classes in every call
    rng = np.random.default_rng(seed)
    label = rng.integers(0, CLASSES, rows)
    table = pd.DataFrame(centres[label] + rng.normal(size=(rows, columns)) + shift,
                         columns=[f"x{j}" for j in range(columns)])
    few_valued = table.columns[: columns // 4]
    table[few_valued] = table[few_valued].round().clip(-4, 4).astype(np.int64)
    return table.assign(label=label)


def time_each_metric(comparison: Comparison) -> dict[str, tuple[float, float]]:
    """name -> (wall-clock seconds, CPU seconds of this process). On a machine shared with other
    work, the CPU seconds of a one-thread run (--threads 1) estimate its time on an idle core."""
    seconds = {}
    for name in METRICS:
        wall, cpu = time.perf_counter(), time.process_time()
        _, skipped = evaluate(comparison, [name])
        seconds[name] = (time.perf_counter() - wall, time.process_time() - cpu)
        if skipped:
            print(f"  ({name} skipped: {skipped[name]})")
    return seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000, help="real rows, and as many synthetic ones")
    parser.add_argument("--columns", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="BLAS/OpenMP threads (default: the libraries')")
    args = parser.parse_args(argv)

    real = mixture(args.rows, args.columns, seed=1)
    fake = mixture(args.rows, args.columns, seed=2, shift=0.1)
    train = mixture(args.rows, args.columns, seed=3)
    categorical = Schema.fit(train, exclude=["label"]).categorical  # the columns' kinds, as the data layer reads them
    space = Space.fit(real.drop(columns="label"), categorical)  # as evaluate measures: fitted on the real rows
    with tempfile.TemporaryDirectory() as cache, threadpool_limits(args.threads) if args.threads else nullcontext():
        comparison = Comparison(real, fake, space, label="label", reference=train, train=train,
                                holdout=real, cache_dir=cache, categorical=categorical)
        seconds = time_each_metric(comparison)

    print(f"{args.rows:,} real x {args.rows:,} synthetic rows x {args.columns} columns, "
          f"threads: {args.threads or 'default'}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"  {'metric':<14}{'wall s':>8}{'cpu s':>8}")
    for name, (wall, cpu) in {**seconds, "total": tuple(map(sum, zip(*seconds.values())))}.items():
        print(f"  {name:<14}{wall:8.2f}{cpu:8.2f}")


if __name__ == "__main__":
    main()
