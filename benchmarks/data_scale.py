"""Scale of the data path on a large CSV (default 1,000,000 rows x 50 columns):

    python benchmarks/data_scale.py [--rows N] [--columns D] [--steps S] [--sample-rows M] [--threads T]

Not a test. It writes the CSV into a temporary folder (decimals, integers, a few categorical
columns; or takes --csv FILE), then measures, in this one process:
  load     read + split + fit the schema + encode the training rows (ganxfer.data.prepare)
  train    `ganxfer pretrain` on the file: steps/s of the training loop (from train_log.csv)
  sample   M rows from the checkpoint: generate + decode to a DataFrame, then writing the CSV
and the peak resident memory after each (ru_maxrss never goes down: each figure is the peak so
far), also as its growth over the peak after the imports, against the size of the encoded
training rows as one float32 array. On a small CPU that other work shares, --threads 1 can be
several times faster than torch's default (one thread per core)."""

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from hydra import compose, initialize_config_module

from ganxfer import checkpoint, cli, data, models
from ganxfer.stages.common import sampler_from_checkpoint


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


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def memory(baseline_mb: float, array_mb: float) -> str:
    grown = peak_rss_mb() - baseline_mb
    return f"{peak_rss_mb():.0f} MiB, {grown:.0f} MiB over the imports ({grown / array_mb:.1f}x the float32 array)"


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=50)
    parser.add_argument("--steps", type=int, default=500, help="training steps (batch 64)")
    parser.add_argument("--sample-rows", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--csv", type=Path, help="measure this CSV instead of writing one")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    baseline = peak_rss_mb()
    print(f"peak RSS after imports: {baseline:.0f} MiB; torch threads: {torch.get_num_threads()}")

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        csv = args.csv or folder / "big.csv"
        if args.csv is None:
            _, seconds = timed(lambda: write_csv(csv, args.rows, args.columns))
            print(f"wrote {args.rows:,} x {args.columns} CSV ({csv.stat().st_size / 2**20:.0f} MiB) in {seconds:.1f} s")
            baseline = peak_rss_mb()  # writing in chunks has its own peak: measure from there

        data_args = ["data=csv", f"data.path={csv}", "trainer.device=cpu"]
        with initialize_config_module("ganxfer.conf", version_base="1.3"):
            cfg = compose("config", overrides=data_args)
        prepared, seconds = timed(lambda: data.prepare(cfg.data))
        array_mb = prepared.rows.nbytes / 2**20
        print(f"load: {seconds:.1f} s for read + split + schema + encode; {len(prepared.rows):,} training rows x "
              f"{prepared.rows.shape[1]} outputs = {array_mb:.0f} MiB as float32")
        print(f"peak RSS after load: {memory(baseline, array_mb)}")
        del prepared

        run = folder / "run"
        _, seconds = timed(lambda: cli.main(["pretrain", *data_args, f"trainer.steps={args.steps}",
                                             f"trainer.log_every={max(1, args.steps // 5)}",
                                             f"trainer.ckpt_every={args.steps}", f"hydra.run.dir={run}"]))
        log = pd.read_csv(run / "train_log.csv")
        rate = log["steps_per_s"].iloc[1:].mean() if len(log) > 1 else log["steps_per_s"].iloc[0]
        print(f"train: {rate:.0f} steps/s (batch 64, after the first log interval); {seconds:.1f} s for the "
              f"whole pretrain run of {args.steps} steps, loading and final evaluation included")
        print(f"peak RSS after train: {memory(baseline, array_mb)}")

        state = checkpoint.load(run / "checkpoints" / "last.ckpt")
        schema = data.Schema.from_dict(state["schema"])
        generator = sampler_from_checkpoint(state, torch.device("cpu"))
        rows, seconds = timed(lambda: schema.inverse(models.generate(generator, args.sample_rows, 0, "cpu").numpy()))
        print(f"sample: {len(rows) / seconds:,.0f} rows/s ({len(rows):,} rows generated and decoded "
              f"in {seconds:.1f} s)")
        _, seconds = timed(lambda: rows.to_csv(folder / "samples.csv", index=False))
        print(f"sample: writing them as CSV took {seconds:.1f} s ({len(rows) / seconds:,.0f} rows/s)")
        print(f"peak RSS after sample: {memory(baseline, array_mb)}")


if __name__ == "__main__":
    main()
