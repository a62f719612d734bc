"""Training steps/s with the speed switches (trainer.precision, trainer.compile) against float32,
for the MLP and DCGAN models, measured side by side in one process on one device.

    python benchmarks/gpu_speed.py [--device cuda] [--steps 2000] [--switches 32,bf16,fp16,compile]

Each measurement first trains `--warmup` steps (compilation, cuDNN's algorithm search, the
allocator's first requests), then times `--steps` more, synchronising the device before reading
the clock. The switches alternate within each repeat so that all see the same machine load.
Made for a GPU: on CPU, bf16 and fp16 autocast are usually slower than float32.
"""

import argparse
import contextlib
import io
import statistics
import time

import torch

from ganxfer.objective import Objective
from ganxfer.data.rows import DeviceRows
from ganxfer.training.loop import GAN, Callbacks, Schedule, StepContext, fit
from overhead import DCGAN, LOSS, MLP, networks

SWITCHES = {"32": ("32", False), "bf16": ("bf16", False), "fp16": ("fp16", False), "compile": ("32", True),
            "bf16+compile": ("bf16", True)}


def steps_per_second(model: dict, data: torch.Tensor, batch: int, precision: str, compiled: bool,
                     warmup: int, steps: int) -> float:
    generator, discriminator = (network.to(data.device) for network in networks(model, data.shape[1]))
    gan = GAN.create(generator, discriminator, 2e-4, 2e-4, (0.5, 0.999), 0.999)
    rng = torch.Generator(device=data.device).manual_seed(0)
    objective = Objective(LOSS, data, warmup + steps, rng)

    def train(start: int, end: int) -> None:
        schedule = Schedule(steps=end, batch_size=batch, log_every=end, ckpt_every=end, precision=precision,
                            compile=compiled)
        with contextlib.redirect_stdout(io.StringIO()):  # the progress bar
            fit(StepContext(gan, objective, rng, schedule), DeviceRows(data), Callbacks(), start)

    train(0, warmup)
    _synchronise(data.device)
    started = time.perf_counter()
    train(warmup, warmup + steps)
    _synchronise(data.device)
    return steps / (time.perf_counter() - started)


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


CONFIGURATIONS = [("MLP, batch 512", MLP, 512), ("DCGAN (8x8 images), batch 256", DCGAN, 256)]


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--switches", default="32,bf16,fp16,compile", help=f"from: {', '.join(SWITCHES)}")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    switches = args.switches.split(",")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    lines = [f"device: {name}, torch {torch.__version__}; {args.steps} timed steps after {args.warmup}, "
             f"median of {args.repeats}", "",
             "| model | " + " | ".join(f"{switch} (steps/s)" for switch in switches) + " | "
             + " | ".join(f"{switch} / 32" for switch in switches if switch != "32") + " |",
             "|---|" + "---:|" * (2 * len(switches) - 1)]
    print("\n".join(lines), flush=True)
    data = torch.rand(1797, 64, device=device) * 2 - 1  # the digits table's size
    for label, model, batch in CONFIGURATIONS:
        rates = {switch: [] for switch in ["32", *switches]}
        for _ in range(args.repeats):
            for switch in rates:
                rates[switch].append(steps_per_second(model, data, batch, *SWITCHES[switch], args.warmup, args.steps))
        median = {switch: statistics.median(values) for switch, values in rates.items()}
        lines.append(f"| {label} | " + " | ".join(f"{median[switch]:.0f}" for switch in switches) + " | "
                     + " | ".join(f"{median[switch] / median['32']:.2f}" for switch in switches if switch != "32")
                     + " |")
        print(lines[-1], flush=True)
    return "\n".join(lines)


if __name__ == "__main__":
    main()
