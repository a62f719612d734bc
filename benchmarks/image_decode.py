"""Reading a folder of images (data=images), and the speed of a 32x32 DCGAN on it:

    python benchmarks/image_decode.py [--images N] [--size S] [--source-size P] [--format png|jpeg]
                                      [--steps K] [--threads T]

Not a test. It writes N images (default 10,000) of P x P RGB pixels (default 80, so that each is
scaled down, as real photos are) into ten class folders of a temporary folder: smooth colour
gradients with a disc and some noise, which compress about as photos do. Then, each in a fresh
process so that one's memory does not count in the next:
  decode   ganxfer.data.image_folder.read_image_folder to S x S x 3 (default 64): images/s with
           the default threads and with one, and the peak resident memory over the imports
           against the uint8 array the images make (N * 3 * S * S bytes)
  train    `ganxfer pretrain data=images data.shape=[3,32,32] model=dcgan` (the default widths,
           batch 64) for K steps: seconds per step, from train_log.csv after its first interval
Nothing is downloaded. `main(argv)` returns the figures as a dict."""

import argparse
import multiprocessing
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from data_scale import current_rss_mib, peak_rss_mib
from ganxfer import cli
from ganxfer.data import image_folder
from ganxfer.settings import Data


def write_images(folder: Path, count: int, size: int, suffix: str) -> None:
    rng = np.random.default_rng(0)
    rows, columns = np.mgrid[0:size, 0:size] / size
    for number in range(count):
        start, slope = rng.uniform(0, 255, 3), rng.uniform(-150, 150, (2, 3))
        picture = start + rows[..., None] * slope[0] + columns[..., None] * slope[1]
        centre, radius = rng.uniform(0.2, 0.8, 2), rng.uniform(0.1, 0.3)
        disc = (rows - centre[0]) ** 2 + (columns - centre[1]) ** 2 < radius**2
        picture[disc] = rng.uniform(0, 255, 3)
        picture += rng.normal(0, 6, picture.shape)
        label = folder / f"class{number % 10}"
        label.mkdir(exist_ok=True)
        Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8)).save(label / f"{number:05d}.{suffix}")


def decode_phase(folder: Path, size: int, workers: int | None) -> dict:
    if workers is not None:
        image_folder.MAX_WORKERS = workers
    cfg = Data(kind="images", name="images", path=str(folder), shape=[3, size, size], label="label", skip_bad=False)
    baseline = current_rss_mib()
    tracemalloc.start()  # numpy's and Python's allocations (not Pillow's own, nor thread stacks)
    start = time.perf_counter()
    table = image_folder.read_image_folder(cfg)
    seconds = time.perf_counter() - start
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    return {"seconds": seconds, "images": len(table), "array_mib": len(table) * 3 * size * size / 2**20,
            "grown_mib": peak_rss_mib() - baseline, "baseline_mib": baseline, "traced_mib": traced}


def train_phase(folder: Path, run: Path, steps: int, threads: int | None) -> dict:
    if threads:
        torch.set_num_threads(threads)
    cli.main(["pretrain", "data=images", f"data.path={folder}", "data.shape=[3,32,32]", "model=dcgan",
              "trainer.device=cpu", f"trainer.steps={steps}", f"trainer.log_every={max(1, steps // 4)}",
              f"trainer.ckpt_every={steps}", f"hydra.run.dir={run}"])
    log = pd.read_csv(run / "train_log.csv")
    rate = log["steps_per_s"].iloc[1:].mean() if len(log) > 1 else log["steps_per_s"].iloc[0]
    return {"seconds_per_step": 1 / float(rate), "threads": torch.get_num_threads()}


def in_fresh_process(phase, *args) -> dict:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(phase, args)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=64, help="side of the decoded images")
    parser.add_argument("--source-size", type=int, default=80, help="side of the image files")
    parser.add_argument("--format", choices=["png", "jpeg"], default="png")
    parser.add_argument("--steps", type=int, default=40, help="DCGAN training steps at 32x32 (batch 64); 0: none")
    parser.add_argument("--threads", type=int, help="torch threads for training (default: torch's choice)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        images = folder / "images"
        images.mkdir()
        start = time.perf_counter()
        write_images(images, args.images, args.source_size, "png" if args.format == "png" else "jpg")
        print(f"wrote {args.images:,} {args.source_size}x{args.source_size} RGB {args.format.upper()} files "
              f"in {time.perf_counter() - start:.1f} s")

        results = {}
        for name, workers in (("threads", None), ("one thread", 1)):
            decode = results[name] = in_fresh_process(decode_phase, images, args.size, workers)
            print(f"decode ({name}): {decode['images'] / decode['seconds']:,.0f} images/s "
                  f"({decode['images']:,} images to {args.size}x{args.size}x3 in {decode['seconds']:.1f} s)")
        decode = results["threads"]
        print(f"decode memory: peak RSS {decode['grown_mib']:.0f} MiB over the {decode['baseline_mib']:.0f} MiB "
              f"after imports, peak traced allocations {decode['traced_mib']:.0f} MiB, for a "
              f"{decode['array_mib']:.0f} MiB uint8 array ({decode['traced_mib'] / decode['array_mib']:.2f}x traced)")

        if args.steps:
            train = results["train"] = in_fresh_process(train_phase, images, folder / "run", args.steps, args.threads)
            print(f"train: {train['seconds_per_step']:.3f} s per 32x32 DCGAN step (batch 64, default widths, "
                  f"{train['threads']} torch threads)")
    return results


if __name__ == "__main__":
    main()
