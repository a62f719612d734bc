"""Training steps/s of ganxfer's loop against a minimal hand-written PyTorch GAN loop with the same
networks, batch size, optimiser, loss and data, measured side by side in one process.

    python benchmarks/overhead.py [--steps 2000] [--repeats 3]

Prints the machine, each configuration's steps/s for both loops (median of the repeats, the two
loops alternating so that both see the same machine load) and their ratio (goal: >= 0.95).
"""

import argparse
import os
import platform
import statistics
import time

import torch
from omegaconf import OmegaConf
from torch.nn.functional import softplus

from ganxfer import models
from ganxfer.objective import Objective
from ganxfer.train import GAN, Schedule, fit

MLP = {"name": "mlp", "z_dim": 100, "g_hidden": 256, "g_layers": 1, "d_hidden": 256, "d_layers": 1}
LOSS = OmegaConf.create({"name": "ns", "r1_gamma": 0.0, "r1_every": 1, "gp_weight": 0.0, "instance_noise": 0.0,
                         "adversarial_weight": 1.0, "feature_matching": 0.0, "moment_matching": 0.0,
                         "moment_distance": "euclidean"})


def networks(width: int):
    torch.manual_seed(0)
    return models.build(MLP, width)


def bare_loop(data: torch.Tensor, steps: int, batch: int) -> float:
    """The textbook loop: what a user would write by hand."""
    generator, discriminator = networks(data.shape[1])
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    rng = torch.Generator().manual_seed(0)
    start = time.perf_counter()
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
    return steps / (time.perf_counter() - start)


def ganxfer_loop(data: torch.Tensor, steps: int, batch: int, ema: bool) -> float:
    generator, discriminator = networks(data.shape[1])
    gan = GAN.create(generator, discriminator, 2e-4, 2e-4, (0.5, 0.999), 0.999 if ema else None)
    rng = torch.Generator().manual_seed(0)
    schedule = Schedule(steps=steps, batch_size=batch, log_every=steps, ckpt_every=steps)
    start = time.perf_counter()
    fit(gan, data, Objective(LOSS, data, steps, rng), rng, schedule, 0, save=lambda step: None, log=lambda row: None)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device cpu")
    data = torch.rand(1797, 64) * 2 - 1  # the digits table's size
    print("| configuration | hand-written loop (steps/s) | ganxfer (steps/s) | ratio |")
    print("|---|---:|---:|---:|")
    for batch, ema in ((64, False), (512, False), (64, True)):
        bare, ours = [], []
        for _ in range(args.repeats):
            bare.append(bare_loop(data, args.steps, batch))
            ours.append(ganxfer_loop(data, args.steps, batch, ema))
        bare_rate, our_rate = statistics.median(bare), statistics.median(ours)
        label = f"MLP, batch {batch}" + (", with EMA (the hand-written loop has none)" if ema else "")
        print(f"| {label} | {bare_rate:.0f} | {our_rate:.0f} | {our_rate / bare_rate:.2f} |")


if __name__ == "__main__":
    main()
