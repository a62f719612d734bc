"""The training loop shared by pretrain and finetune: alternate a discriminator step and a
generator step on random batches of a data tensor that already lives on the device."""

import math
import time
from dataclasses import dataclass
from typing import Callable

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ganxfer.errors import UserError
from ganxfer.losses import Loss


@dataclass
class GAN:
    generator: torch.nn.Module
    discriminator: torch.nn.Module
    ema: AveragedModel | None  # a moving average of the generator, used to evaluate and sample
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer

    @classmethod
    def create(cls, generator, discriminator, optimizer_cfg, ema_decay: float | None) -> "GAN":
        def adam(module, lr):
            return torch.optim.Adam(module.parameters(), lr=lr, betas=tuple(optimizer_cfg["betas"]))

        ema = None
        if ema_decay is not None:
            # use_buffers: BatchNorm's running statistics are averaged along with the weights.
            ema = AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
        return cls(generator, discriminator, ema,
                   adam(generator, optimizer_cfg["lr_g"]), adam(discriminator, optimizer_cfg["lr_d"]))

    @property
    def sampler(self) -> torch.nn.Module:
        """The generator that evaluate and sample use: the EMA copy when there is one."""
        return self.ema.module if self.ema is not None else self.generator

    def state_dict(self) -> dict:
        return {
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
        }

    def load_networks(self, state: dict) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        if self.ema is not None:
            # A source without an EMA hands over its generator as the starting average.
            if state["ema"] is not None:
                self.ema.load_state_dict(state["ema"])
            else:
                self.ema.module.load_state_dict(state["generator"])

    def load_optimizers(self, state: dict) -> None:
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])


@dataclass
class Schedule:
    steps: int  # the run's total: training stops after this step
    batch_size: int
    log_every: int
    ckpt_every: int


def fit(gan: GAN, data: torch.Tensor, loss: Loss, rng: torch.Generator, schedule: Schedule,
        start_step: int, save: Callable[[int], None], log: Callable[[dict], None]) -> None:
    """Train from start_step to schedule.steps. `rng` draws every batch and every z, so saving
    its state with the networks makes a resumed run continue exactly."""
    generator, discriminator = gan.generator, gan.discriminator
    generator.train()
    discriminator.train()
    batch, device = schedule.batch_size, data.device
    with _progress() as progress:
        task = progress.add_task("train", total=schedule.steps, completed=start_step,
                                 d=math.nan, g=math.nan, rate=math.nan)
        tick, tick_step = time.perf_counter(), start_step
        for step in range(start_step + 1, schedule.steps + 1):
            real = data[torch.randint(len(data), (batch,), generator=rng, device=device)]
            fake = generator(torch.randn(batch, generator.z_dim, generator=rng, device=device))

            d_loss = loss.discriminator(discriminator(real), discriminator(fake.detach()))
            gan.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            gan.opt_d.step()

            g_loss = loss.generator(discriminator(fake))
            gan.opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            gan.opt_g.step()
            if gan.ema is not None:
                gan.ema.update_parameters(generator)

            last = step == schedule.steps
            if step % schedule.log_every == 0 or last:
                # The only host synchronisation of the loop: losses are read at log steps.
                row = {"step": step, "d_loss": d_loss.item(), "g_loss": g_loss.item()}
                now = time.perf_counter()
                row["steps_per_s"] = (step - tick_step) / (now - tick)
                tick, tick_step = now, step
                _check_finite(row)
                log(row)
                progress.update(task, completed=step, d=row["d_loss"], g=row["g_loss"],
                                rate=row["steps_per_s"])
            if step % schedule.ckpt_every == 0 or last:
                save(step)


def _check_finite(row: dict) -> None:
    if not (math.isfinite(row["d_loss"]) and math.isfinite(row["g_loss"])):
        raise UserError(
            f"training diverged at step {row['step']}: D loss {row['d_loss']}, G loss {row['g_loss']}. "
            "Lower the learning rates (optimizer.lr_g, optimizer.lr_d) or change the loss; "
            "the last checkpoint written before this step is kept")


def _progress() -> Progress:
    return Progress(
        TextColumn("step {task.completed:>6.0f}/{task.total:.0f}"),
        BarColumn(),
        TextColumn("D {task.fields[d]:.3f}  G {task.fields[g]:.3f}"),
        TextColumn("{task.fields[rate]:>6.0f} steps/s"),
        TimeRemainingColumn(),
    )
