"""Time to equal quality against CTGAN: CTGAN trains for its default 300 epochs and is scored
with SDMetrics' QualityReport; then ganxfer pretrains on the same rows, checked every few
hundred steps, until its samples score as well.

    python benchmarks/against_ctgan.py [--epochs 300] [--check-every 500] [--max-steps 20000]

Needs the `bench` extra (pip install -e '.[bench]'). Both sides are scored on the rows they
trained on (ganxfer's training split: 80% of the table), with as many synthetic rows. ganxfer's
run is checked every few hundred steps (resumed from its checkpoint span by span) to find the
first step count that reaches CTGAN's score; its time is then that of one fresh pretrain run of
that many steps, whole (data loading, training, end-of-run evaluation and checkpoint), as CTGAN's
is that of its `fit`. Scoring the samples is timed for neither side.
CPU seconds of this process are given too: on a machine shared with other work they vary less."""

import argparse
import contextlib
import io
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from hydra import compose, initialize_config_module
from sklearn.datasets import load_digits, load_wine

from ganxfer import checkpoint, cli, data, models


def digits_table() -> pd.DataFrame:
    """scikit-learn's digits, all ten classes: 64 pixels (0-16) and the label."""
    digits = load_digits()
    table = pd.DataFrame(digits.data.astype(np.int64), columns=[f"pixel{i}" for i in range(64)])
    return table.assign(label=digits.target)


def wine_table() -> pd.DataFrame:
    """scikit-learn's wine made into a table of mixed types: a text class, decimals, integers,
    a boolean and a text category with gaps."""
    wine = load_wine(as_frame=True).frame
    rng = np.random.default_rng(0)
    shade = pd.cut(wine["color_intensity"], [0, 3.5, 7, 14], labels=["light", "medium", "dark"]).astype(object)
    return pd.DataFrame({
        "cultivar": "class_" + wine["target"].astype(str),
        "alcohol": wine["alcohol"],
        "malic_acid": wine["malic_acid"],
        "hue": wine["hue"],
        "magnesium": wine["magnesium"].astype(np.int64),
        "proline": wine["proline"].astype(np.int64),
        "strong": wine["alcohol"] > 13,
        "shade": shade.mask(rng.random(len(wine)) < 0.1),  # about one in ten missing
    })


TABLES = {"digits": (digits_table, ["label"]), "wine_mixed": (wine_table, ["cultivar", "shade", "strong"])}


@dataclass
class Result:
    table: str
    rows: int
    columns: int
    ctgan_score: float
    ctgan_seconds: float
    ctgan_cpu_seconds: float
    ganxfer_score: float
    ganxfer_seconds: float
    ganxfer_cpu_seconds: float
    ganxfer_steps: int
    reached: bool



def training_rows(csv: Path) -> pd.DataFrame:
    """The rows a ganxfer pretrain on this file trains on (its split, default settings)."""
    with initialize_config_module("ganxfer.conf", version_base="1.3"):
        cfg = compose("config", overrides=["data=csv", f"data.path={csv}"])
    return data.tables.split_table(data.tables.load_table(cfg.data), cfg.data).train.reset_index(drop=True)


def quality(real: pd.DataFrame, fake: pd.DataFrame, discrete: list[str]) -> float:
    from sdmetrics.reports.single_table import QualityReport

    metadata = {"columns": {name: {"sdtype": "categorical" if name in discrete else "numerical"}
                            for name in real.columns}}
    report = QualityReport()
    report.generate(real, fake[real.columns], metadata, verbose=False)
    return float(report.get_score())


def timed(function):
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def run_ctgan(train: pd.DataFrame, discrete: list[str], epochs: int) -> tuple[float, float, float]:
    """(score, wall seconds, CPU seconds) of CTGAN at its defaults but for `epochs`."""
    from ctgan import CTGAN

    torch.manual_seed(0)
    np.random.seed(0)
    synthesizer = CTGAN(epochs=epochs)
    _, wall, cpu = timed(lambda: synthesizer.fit(train, discrete_columns=discrete))
    return quality(train, synthesizer.sample(len(train)), discrete), wall, cpu


def ganxfer_samples(ckpt: Path, rows: int) -> pd.DataFrame:
    state = checkpoint.load(ckpt)
    generator = checkpoint.sampler(state, torch.device("cpu"))
    return data.Schema.from_dict(state["schema"]).inverse(models.generate(generator, rows, 0, "cpu").numpy())


def pretrain(csv: Path, steps: int, run: Path, check_every: int, resume: Path | None = None):
    """One in-process `ganxfer pretrain` on the file: (wall seconds, CPU seconds)."""
    args = ["pretrain", "data=csv", f"data.path={csv}", "trainer.device=cpu", f"trainer.steps={steps}",
            f"trainer.log_every={check_every}", f"trainer.ckpt_every={check_every}", f"hydra.run.dir={run}"]
    if resume is not None:
        args.append(f"resume={resume}")
    with contextlib.redirect_stdout(io.StringIO()):  # the progress bar and schema table
        _, wall, cpu = timed(lambda: cli.main(args))
    return wall, cpu


def steps_to_goal(csv: Path, train: pd.DataFrame, discrete: list[str], goal: float, check_every: int,
                  max_steps: int, folder: Path) -> int | None:
    """The first multiple of check_every steps at which a pretrain run's samples score `goal`:
    the run is continued from its checkpoint span by span (a resumed run continues exactly)."""
    run, steps = folder / "checked", 0
    ckpt = run / "checkpoints" / "last.ckpt"
    while steps < max_steps:
        steps = min(steps + check_every, max_steps)
        pretrain(csv, steps, run, check_every, ckpt if ckpt.exists() else None)
        score = quality(train, ganxfer_samples(ckpt, len(train)), discrete)
        print(f"  ganxfer: {steps} steps, score {score:.3f} (goal {goal:.3f})", flush=True)
        if score >= goal:
            return steps
    return None


def run_ganxfer(csv: Path, train: pd.DataFrame, discrete: list[str], goal: float, check_every: int,
                max_steps: int, folder: Path):
    """Find how many steps reach `goal`, then time one fresh pretrain run of that many steps, as a
    user would run it: (score, wall seconds, CPU seconds, steps, reached)."""
    steps = steps_to_goal(csv, train, discrete, goal, check_every, max_steps, folder)
    reached = steps is not None
    steps = steps or max_steps
    wall, cpu = pretrain(csv, steps, folder / "timed", check_every)
    score = quality(train, ganxfer_samples(folder / "timed" / "checkpoints" / "last.ckpt", len(train)), discrete)
    print(f"  ganxfer: one run of {steps} steps, {wall:.1f} s ({cpu:.1f} CPU s), score {score:.3f}", flush=True)
    return score, wall, cpu, steps, reached and score >= goal


def compare(name: str, epochs: int, check_every: int, max_steps: int) -> Result:
    make_table, discrete = TABLES[name]
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        csv = folder / "table.csv"
        make_table().to_csv(csv, index=False)
        train = training_rows(csv)
        print(f"{name}: {len(train)} training rows x {train.shape[1]} columns; CTGAN, {epochs} epochs", flush=True)
        ctgan_score, ctgan_wall, ctgan_cpu = run_ctgan(train, discrete, epochs)
        print(f"  CTGAN: {ctgan_wall:.1f} s, score {ctgan_score:.3f}", flush=True)
        ours = run_ganxfer(csv, train, discrete, ctgan_score, check_every, max_steps, folder)
    return Result(name, len(train), train.shape[1], ctgan_score, ctgan_wall, ctgan_cpu, *ours)


def markdown(results: list[Result], epochs: int) -> str:
    lines = [f"| table | CTGAN score ({epochs} epochs) | CTGAN s (CPU s) | ganxfer score | ganxfer steps "
             "| ganxfer s (CPU s) | speed-up, wall (CPU) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        speedup = (f"{r.ctgan_seconds / r.ganxfer_seconds:.1f}x ({r.ctgan_cpu_seconds / r.ganxfer_cpu_seconds:.1f}x)"
                   if r.reached else f"not reached in {r.ganxfer_steps} steps")
        lines.append(f"| {r.table} ({r.rows} x {r.columns}) | {r.ctgan_score:.3f} | {r.ctgan_seconds:.1f} "
                     f"({r.ctgan_cpu_seconds:.1f}) | {r.ganxfer_score:.3f} | {r.ganxfer_steps} | "
                     f"{r.ganxfer_seconds:.1f} ({r.ganxfer_cpu_seconds:.1f}) | {speedup} |")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300, help="CTGAN's epochs (its default: 300)")
    parser.add_argument("--check-every", type=int, default=250, help="ganxfer steps between quality checks")
    parser.add_argument("--max-steps", type=int, default=20_000)
    parser.add_argument("--tables", default=",".join(TABLES), help=f"comma-separated: {', '.join(TABLES)}")
    return parser


def main(argv=None) -> str:
    args = parser().parse_args(argv)
    results = [compare(name, args.epochs, args.check_every, args.max_steps) for name in args.tables.split(",")]
    table = markdown(results, args.epochs)
    print(table)
    return table


if __name__ == "__main__":
    main()
