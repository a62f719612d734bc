"""Training steps/s of ganxfer's loop against a minimal hand-written PyTorch GAN loop with the same
networks, batch size, optimiser, loss and data, measured side by side in one process.

    python benchmarks/overhead.py [--steps 2000] [--repeats 3]

Prints the machine, each configuration's steps/s for both loops (median of the repeats, the two
loops alternating so that both see the same machine load) and their ratio (goal: >= 0.95).
The data are random rows of the digits table's size (1797 x 64, or 8 x 8 images for DCGAN).
"""

import argparse
import contextlib
import io
import os
import platform
import statistics
import time

import torch
from torch.nn.functional import softplus

from ganxfer import models
from ganxfer.objective import Objective
from ganxfer.data.rows import DeviceRows
from ganxfer.settings import Loss, group_from_saved
from ganxfer.training.loop import GAN, Callbacks, Schedule, StepContext, fit

MLP = {"name": "mlp", "z_dim": 100, "g_hidden": 256, "g_layers": 1, "d_hidden": 256, "d_layers": 1}
DCGAN = {"name": "dcgan", "z_dim": 100, "g_channels": 64, "d_channels": 64}
IMAGE_SHAPE = (1, 8, 8)
LOSS = Loss(name="ns", r1_gamma=0.0, r1_every=1, gp_weight=0.0, instance_noise=0.0, adversarial_weight=1.0,
            feature_matching=0.0, moment_matching=0.0, moment_distance="euclidean")


class Clock:
    """Wall-clock and CPU time of this process since it was made. On a machine that other work
    shares, a one-thread loop's CPU time is close to what it would take on an idle core."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def rates(self, steps: int) -> tuple[float, float]:
        """(steps per wall-clock second, steps per CPU second)"""
        return steps / (time.perf_counter() - self.wall), steps / (time.process_time() - self.cpu)


def networks(model: dict, width: int):
    torch.manual_seed(0)
    return models.build(group_from_saved("model", model), width, IMAGE_SHAPE if model["name"] == "dcgan" else None)


def bare_loop(model: dict, data: torch.Tensor, steps: int, batch: int) -> float:
    """The textbook loop: what a user would write by hand."""
    generator, discriminator = networks(model, data.shape[1])
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    rng = torch.Generator().manual_seed(0)
    clock = Clock()
    for _ in range(steps):
        real = data[torch.randint(len(data), (batch,), generator=rng)]
        fake = generator(torch.randn(batch, generator.z_dim, generator=rng))
        d_loss = softplus(-discriminator(real)).mean() + softplus(discriminator(fake.detach())).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = softplus(-discriminator(fake)).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
    return clock.rates(steps)


def ganxfer_loop(model: dict, data: torch.Tensor, steps: int, batch: int, ema: bool) -> float:
    generator, discriminator = networks(model, data.shape[1])
    gan = GAN.create(generator, discriminator, 2e-4, 2e-4, (0.5, 0.999), 0.999 if ema else None)
    rng = torch.Generator().manual_seed(0)
    schedule = Schedule(steps=steps, batch_size=batch, log_every=steps, ckpt_every=steps)
    clock = Clock()
    with contextlib.redirect_stdout(io.StringIO()):  # the progress bar
        fit(StepContext(gan, Objective(LOSS, data, steps, rng), rng, schedule), DeviceRows(data), Callbacks())
    return clock.rates(steps)


CONFIGURATIONS = [  # (label, model, batch size, EMA in ganxfer's loop, share of --steps: DCGAN's are slower)
    ("MLP, batch 64", MLP, 64, False, 1),
    ("MLP, batch 512", MLP, 512, False, 1 / 4),
    ("DCGAN (8x8 images), batch 64", DCGAN, 64, False, 1 / 8),
    ("MLP, batch 64, with EMA (the hand-written loop has none)", MLP, 64, True, 1),
]


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # CPU time is only comparable for one-thread loops
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device cpu")
    data = torch.rand(1797, 64) * 2 - 1  # the digits table's size
    lines = [f"{args.steps} steps per measurement (MLP batch 512: a quarter, DCGAN: an eighth), median of "
             f"{args.repeats}, the two loops alternating; steps per CPU second of this process (one thread), and "
             "in brackets per wall-clock second. The hand-written loop uses `torch.optim.Adam` at its defaults; "
             "ganxfer uses fused Adam where torch supports it.", "",
             "| configuration | hand-written loop (steps/s) | ganxfer (steps/s) | ratio, CPU (wall) |",
             "|---|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    for label, model, batch, ema, share in CONFIGURATIONS:
        steps = max(1, round(args.steps * share))
        bare, ours = [], []
        for _ in range(args.repeats):
            bare.append(bare_loop(model, data, steps, batch))
            ours.append(ganxfer_loop(model, data, steps, batch, ema))
        bare_wall, bare_cpu = (statistics.median(rates) for rates in zip(*bare))
        our_wall, our_cpu = (statistics.median(rates) for rates in zip(*ours))
        lines.append(f"| {label} | {bare_cpu:.0f} ({bare_wall:.0f}) | {our_cpu:.0f} ({our_wall:.0f}) | "
                     f"{our_cpu / bare_cpu:.2f} ({our_wall / bare_wall:.2f}) |")
        print(lines[-1], flush=True)
    return "\n".join(lines)


if __name__ == "__main__":
    main()
