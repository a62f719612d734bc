"""Streamed Parquet data (data.stream) on a generated folder of shards (default 2,000,000 rows x 20
columns; the issue's size is --rows 100000000, about 4 GiB on disk):

    python benchmarks/streaming.py [--rows N] [--shard-rows R] [--group-rows G] [--steps S] [--buffer-rows B]
                                   [--threads T] [--folder DIR] [--no-torchrun]

Not a test. It writes the folder (12 decimal columns, 4 of whole numbers, 4 of text categories;
gaps in a quarter of them; shards of R rows, row groups of G rows; --folder keeps it there,
otherwise it is written to a temporary folder and removed), then measures, each in a fresh process:
  schema    data.prepare with data.stream=true: row groups from the footers, the held-out share,
            the schema fitted on its 1M-row sample, the held-out rows read (the "schema pass")
  stream    `ganxfer pretrain data.stream=true data.buffer_rows=B` on the whole folder: steps/s and
            peak memory (B small, 50,000 rows: the run reads a new window every few hundred steps)
  memory    `ganxfer pretrain data.stream=false` on the folder's first 1,000,000 rows (its first
            shards): steps/s and peak memory of the in-memory path
  torchrun  2 CPU processes over the whole folder, each recording the row groups it reads (schema
            sample, held-out rows, training windows): whether any row group was read by both
Memory is each phase's peak resident size (VmHWM). `main(argv)` returns the figures."""

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

SLICE_ROWS = 1_000_000


def write_folder(folder: Path, rows: int, shard_rows: int, group_rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for number, start in enumerate(range(0, rows, shard_rows)):
        size = min(shard_rows, rows - start)
        columns = {f"x{j}": rng.normal(j, 1 + j, size).astype(np.float32) for j in range(12)}
        columns |= {f"n{j}": rng.poisson(3 + 10 * j, size) for j in range(4)}
        columns |= {f"c{j}": rng.choice([f"v{k}" for k in range(3 + 2 * j)], size) for j in range(4)}
        table = pd.DataFrame(columns)
        for name in ("x0", "x5", "n1", "c2", "c3"):  # gaps, about 5% of each
            table.loc[rng.random(size) < 0.05, name] = None
        arrow = pa.Table.from_pandas(table, preserve_index=False)
        pq.write_table(arrow, folder / f"part{number:05d}.parquet", row_group_size=group_rows)


def peak_rss_mib() -> float:
    """This process's peak resident size (Linux: VmHWM). Not ru_maxrss: a spawned process keeps
    the maximum of the process it was forked from, which wrote the folder."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def settings(folder: Path, stream: bool, buffer_rows: int = 1_000_000) -> list[str]:
    return ["data=csv", f"data.path={folder}", f"data.stream={str(stream).lower()}", f"data.buffer_rows={buffer_rows}",
            "trainer.device=cpu"]


def schema_phase(folder: Path) -> dict:
    from hydra import compose, initialize_config_module

    from ganxfer import data
    from ganxfer.settings import Settings

    with initialize_config_module("ganxfer.conf", version_base="1.3"):
        cfg = compose("config", overrides=settings(folder, stream=True))
    start = time.perf_counter()
    prepared = data.prepare(Settings.from_config(cfg).data)
    return {"seconds": time.perf_counter() - start, "training_rows": len(prepared.rows),
            "holdout_groups": len(prepared.holdout_groups), "outputs": prepared.schema.width}


def train_phase(folder: Path, stream: bool, buffer_rows: int, run: Path, steps: int) -> dict:
    from ganxfer import cli

    start = time.perf_counter()
    code = cli.main(["pretrain", *settings(folder, stream, buffer_rows), f"trainer.steps={steps}",
                     f"trainer.log_every={max(1, steps // 10)}", f"trainer.ckpt_every={steps}",
                     f"hydra.run.dir={run}"])
    assert code == 0, f"pretrain failed ({code})"
    log = pd.read_csv(run / "train_log.csv")
    return {"seconds": time.perf_counter() - start, "steps_per_s": float(log["steps_per_s"].iloc[1:].median())}


def _measured(phase, threads, *args) -> dict:
    if threads:
        import torch

        torch.set_num_threads(threads)
    return {**phase(*args), "peak_mib": peak_rss_mib()}


def in_fresh_process(phase, threads, *args) -> dict:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_measured, (phase, threads, *args))


def worker(reads: Path, args: list[str]) -> int:
    """One torchrun process: `ganxfer pretrain args`, appending the row groups of each read (the
    schema's sample, the held-out rows, each window) to reads/rank<RANK>.txt."""
    from ganxfer import cli
    from ganxfer.data import stream

    read = stream.read_groups
    record = reads / f"rank{os.environ['RANK']}.txt"

    def recorded(groups, numbers, columns=None):
        with record.open("a") as file:
            file.write(" ".join(map(str, numbers)) + "\n")
        return read(groups, numbers, columns)

    stream.read_groups = recorded
    return cli.main(args)


def torchrun_phase(folder: Path, buffer_rows: int, run: Path, steps: int, threads: int | None) -> dict:
    reads = run.parent / "reads"
    reads.mkdir(parents=True)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", __file__,
               "--worker", str(reads), "pretrain", *settings(folder, True, buffer_rows), f"trainer.steps={steps}",
               f"trainer.log_every={max(1, steps // 10)}", f"trainer.ckpt_every={steps}",
               f"trainer.threads={threads or 'auto'}", f"hydra.run.dir={run}"]
    start = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-3000:]
    read = [{int(group) for line in (reads / f"rank{rank}.txt").read_text().split("\n") for group in line.split()}
            for rank in (0, 1)]
    return {"seconds": time.perf_counter() - start, "groups": [len(groups) for groups in read],
            "both": len(read[0] & read[1])}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--shard-rows", type=int, default=500_000)
    parser.add_argument("--group-rows", type=int, default=50_000)
    parser.add_argument("--steps", type=int, default=4000, help="training steps of each run (batch 64)")
    parser.add_argument("--buffer-rows", type=int, default=50_000,
                        help="data.buffer_rows of the streamed runs: small, so that a run changes windows often")
    parser.add_argument("--threads", type=int, help="torch threads (default: trainer.threads=auto)")
    parser.add_argument("--folder", type=Path, help="write (or reuse) the shards here and keep them")
    parser.add_argument("--no-torchrun", action="store_true", help="skip the 2-process run")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        folder = args.folder or scratch / "shards"
        if not folder.is_dir() or not any(folder.glob("*.parquet")):
            start = time.perf_counter()
            write_folder(folder, args.rows, args.shard_rows, args.group_rows)
            size = sum(file.stat().st_size for file in folder.glob("*.parquet")) / 2**20
            print(f"wrote {args.rows:,} rows x 20 columns as {len(list(folder.glob('*.parquet')))} Parquet shards "
                  f"({size:.0f} MiB) in {time.perf_counter() - start:.0f} s")
        slice_folder = scratch / "slice"
        slice_folder.mkdir()
        sliced = sorted(folder.glob("*.parquet"))[:max(1, SLICE_ROWS // args.shard_rows)]
        for shard in sliced:
            (slice_folder / shard.name).symlink_to(shard.resolve())
        slice_rows = min(args.rows, len(sliced) * args.shard_rows)

        schema = in_fresh_process(schema_phase, args.threads, folder)
        print(f"schema pass: {schema['seconds']:.1f} s ({schema['training_rows']:,} training rows, "
              f"{schema['holdout_groups']} row groups held out, {schema['outputs']} outputs); "
              f"peak RSS {schema['peak_mib']:.0f} MiB")
        figures = {"schema": schema}
        for name, path, stream in (("stream", folder, True), ("memory", slice_folder, False)):
            figures[name] = in_fresh_process(train_phase, args.threads, path, stream, args.buffer_rows, scratch / name,
                                             args.steps)
            what = "streamed, whole folder" if stream else f"in memory, first {slice_rows:,} rows"
            run = figures[name]
            print(f"train ({what}): {run['steps_per_s']:.0f} steps/s (median of the log intervals after the "
                  f"first), {run['seconds']:.0f} s in all; peak RSS {run['peak_mib']:.0f} MiB")
        ratio = figures["stream"]["steps_per_s"] / figures["memory"]["steps_per_s"]
        print(f"streamed / in-memory steps/s: {ratio:.2f}")
        if not args.no_torchrun:
            figures["torchrun"] = torchrun_phase(folder, args.buffer_rows, scratch / "torchrun" / "run", args.steps,
                                                 args.threads)
            print(f"torchrun, 2 processes: {figures['torchrun']['groups']} row groups read by "
                  f"ranks 0 and 1, {figures['torchrun']['both']} by both ({figures['torchrun']['seconds']:.0f} s)")
    return figures


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        sys.exit(worker(Path(sys.argv[2]), sys.argv[3:]))
    main()
