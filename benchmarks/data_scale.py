"""Scale of the data path on a large CSV (default 1,000,000 rows x 50 columns):

    python benchmarks/data_scale.py [--rows N] [--columns D] [--steps S] [--sample-rows M] [--threads T]

Not a test. It writes the CSV into a temporary folder (decimals, integers, a few categorical
columns; or takes --csv FILE), then measures three phases, each in a fresh process:
  load     read + split + fit the schema + encode the training rows (ganxfer.data.prepare)
  train    `ganxfer pretrain` on the file: steps/s of the training loop (from train_log.csv)
  sample   M rows from the checkpoint: generate + decode to a DataFrame, then writing the CSV
Memory is each phase's peak resident size (ru_maxrss) minus its resident size once the
libraries are imported, against the encoded training rows as one float32 array. A fresh process
per phase keeps one phase's freed but unreturned memory out of the next one's figure.
`main(argv)` returns the figures as a dict for scripts that call it. On a small CPU that other
work shares, --threads 1 can be several times faster than torch's default (one per core)."""

import argparse
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from hydra import compose, initialize_config_module

from ganxfer import checkpoint, cli, data, models
from ganxfer.settings import Settings
from ganxfer.training.sampling import sampler


def write_csv(path: Path, rows: int, columns: int, chunk: int = 100_000) -> None:
    """Decimals, with every fifth column whole numbers and every tenth a few-valued category."""
    rng = np.random.default_rng(0)
    for start in range(0, rows, chunk):
        size = min(chunk, rows - start)
        part = pd.DataFrame(rng.normal(size=(size, columns)).round(4), columns=[f"x{j}" for j in range(columns)])
        for j in range(0, columns, 5):
            part[f"x{j}"] = (part[f"x{j}"] * 100).round().astype(np.int64)
        for j in range(9, columns, 10):
            part[f"x{j}"] = (part[f"x{j}"] > 0).astype(np.int64) + (part[f"x{j}"] > 1)
        part.to_csv(path, mode="a", header=start == 0, index=False)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def current_rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def data_args(csv: Path) -> list[str]:
    return ["data=csv", f"data.path={csv}", "trainer.device=cpu"]


def load_phase(csv: Path) -> dict:
    with initialize_config_module("ganxfer.conf", version_base="1.3"):
        cfg = compose("config", overrides=data_args(csv))
    prepared, seconds = timed(lambda: data.prepare(Settings.from_config(cfg).data))
    return {"seconds": seconds, "rows": prepared.rows.tensor.shape[0], "outputs": prepared.rows.tensor.shape[1],
            "array_mib": prepared.rows.tensor.nbytes / 2**20}


def train_phase(csv: Path, run: Path, steps: int) -> dict:
    _, seconds = timed(lambda: cli.main(["pretrain", *data_args(csv), f"trainer.steps={steps}",
                                         f"trainer.log_every={max(1, steps // 5)}",
                                         f"trainer.ckpt_every={steps}", f"hydra.run.dir={run}"]))
    log = pd.read_csv(run / "train_log.csv")
    rate = log["steps_per_s"].iloc[1:].mean() if len(log) > 1 else log["steps_per_s"].iloc[0]
    return {"seconds": seconds, "steps_per_s": float(rate)}


def sample_phase(run: Path, rows: int, out: Path) -> dict:
    state = checkpoint.load(run / "checkpoints" / "last.ckpt")
    schema = data.Schema.from_dict(state["schema"])
    generator = sampler(state, torch.device("cpu"))
    table, seconds = timed(lambda: schema.inverse(models.generate(generator, rows, 0, "cpu").numpy()))
    peak = peak_rss_mib()  # before writing: the CSV writer's buffers are pandas', not ganxfer's
    _, write_seconds = timed(lambda: table.to_csv(out, index=False))
    return {"seconds": seconds, "write_seconds": write_seconds, "peak_before_write_mib": peak}


def _measured(phase, threads, *args) -> dict:
    """Run one phase in this (fresh) process: its figures and its memory over the imports."""
    if threads:
        torch.set_num_threads(threads)
    baseline = current_rss_mib()
    figures = phase(*args)
    return {**figures, "baseline_mib": baseline, "peak_mib": peak_rss_mib(),
            "grown_mib": figures.get("peak_before_write_mib", peak_rss_mib()) - baseline}


def in_fresh_process(phase, threads, *args) -> dict:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_measured, (phase, threads, *args))


def memory(figures: dict, array_mib: float) -> str:
    grown = figures["grown_mib"]
    return (f"peak RSS {figures['peak_mib']:.0f} MiB, {grown:.0f} MiB over the {figures['baseline_mib']:.0f} MiB "
            f"after imports ({grown / array_mib:.1f}x the float32 array)")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=50)
    parser.add_argument("--steps", type=int, default=500, help="training steps (batch 64)")
    parser.add_argument("--sample-rows", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--csv", type=Path, help="measure this CSV instead of writing one")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        csv = args.csv or folder / "big.csv"
        if args.csv is None:
            _, seconds = timed(lambda: write_csv(csv, args.rows, args.columns))
            print(f"wrote {args.rows:,} x {args.columns} CSV ({csv.stat().st_size / 2**20:.0f} MiB) in {seconds:.1f} s")

        load = in_fresh_process(load_phase, args.threads, csv)
        array_mib = load["array_mib"]
        print(f"load: {load['seconds']:.1f} s for read + split + schema + encode; "
              f"{load['rows']:,} training rows x {load['outputs']} outputs = {array_mib:.0f} MiB as float32")
        print(f"load memory: {memory(load, array_mib)}")

        train = in_fresh_process(train_phase, args.threads, csv, folder / "run", args.steps)
        print(f"train: {train['steps_per_s']:.0f} steps/s (batch 64, after the first log interval); "
              f"{train['seconds']:.1f} s for the whole pretrain run of {args.steps} steps, loading and final "
              "evaluation included")
        print(f"train memory (whole run): {memory(train, array_mib)}")

        sample = in_fresh_process(sample_phase, args.threads, folder / "run", args.sample_rows, folder / "samples.csv")
        rows = args.sample_rows
        print(f"sample: {rows / sample['seconds']:,.0f} rows/s ({rows:,} rows generated and decoded "
              f"in {sample['seconds']:.1f} s)")
        print(f"sample: writing them as CSV took {sample['write_seconds']:.1f} s "
              f"({rows / sample['write_seconds']:,.0f} rows/s)")
        print(f"sample memory (generate + decode): {memory(sample, array_mib)}")
    return {"load": load, "train": train, "sample": sample}


if __name__ == "__main__":
    main()
