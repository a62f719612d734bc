"""The training loop shared by pretrain and finetune: alternate discriminator and generator steps
on random batches of the training rows (data/rows.py), drawn on the device."""

import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Callable

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from ganxfer import distributed
from ganxfer.data.rows import Rows
from ganxfer.errors import Interrupted, TrainingDiverged
from ganxfer.models.conditional import given
from ganxfer.objective import Objective
from ganxfer.settings import Trainer
from ganxfer.training.average import EMA
from ganxfer.training.precision import MixedPrecision


def trainable(module: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [parameter for parameter in module.parameters() if parameter.requires_grad]


def device_of(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


@dataclass
class GAN:
    generator: torch.nn.Module
    discriminator: torch.nn.Module
    ema: EMA | None  # a moving average of the generator, used to evaluate and sample
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer

    @classmethod
    def create(cls, generator, discriminator, lr_g: float, lr_d: float, betas, ema_decay: float | None,
               ema_warmup: bool = False) -> "GAN":
        """Optimisers hold only the trainable parameters: frozen ones are never touched."""
        ema = None
        if ema_decay is not None:
            ema = EMA(generator, ema_decay, ema_warmup)
        return cls(generator, discriminator, ema, _adam(trainable(generator), lr_g, betas),
                   _adam(trainable(discriminator), lr_d, betas))

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


def _adam(parameters: list[torch.nn.Parameter], lr: float, betas) -> torch.optim.Adam:
    """Fused Adam (all weights updated in one kernel) where this torch supports it on the
    parameters' device: measured about 10% more training steps/s on CPU than the default, and
    it keeps its step count on the device, where the other kinds read it on the host at every
    update (a wait for a GPU). Elsewhere, the multi-tensor (foreach) kind."""
    try:
        return torch.optim.Adam(parameters, lr=lr, betas=tuple(betas), fused=True)
    except RuntimeError:  # e.g. an older torch on CPU
        return torch.optim.Adam(parameters, lr=lr, betas=tuple(betas), foreach=True)


@dataclass
class Schedule:
    steps: int  # the run's total: training stops after this step
    batch_size: int
    log_every: int
    ckpt_every: int
    d_steps: int = 1  # discriminator steps per generator step
    grad_clip: float | None = None  # clip each network's gradient norm to this
    eval_every: int | None = None  # compute metrics every this many steps (and always at the end)
    # "stop": a non-finite loss ends the run at the next log or checkpoint step, naming the step
    # where it first appeared. "skip": a step whose loss or gradients are not finite updates
    # nothing; that costs one host synchronisation per update, so it is not the default.
    on_nonfinite: str = "stop"
    precision: str = "32"  # "32", or autocast to "bf16" or "fp16" (with loss scaling)
    compile: bool = False  # torch.compile the forward passes of G and D

    @classmethod
    def from_settings(cls, trainer: Trainer, steps: int) -> "Schedule":
        """The loop's settings from the `trainer` group (which also holds settings of the stage);
        `steps`, the run's total, is trainer.steps resolved (`auto`: from the training rows)."""
        return cls(steps=steps, batch_size=trainer.batch_size, log_every=trainer.log_every,
                   ckpt_every=trainer.ckpt_every, d_steps=trainer.d_steps, grad_clip=trainer.grad_clip,
                   eval_every=trainer.eval_every, on_nonfinite=trainer.on_nonfinite,
                   precision=str(trainer.precision), compile=trainer.compile)


def _nothing(*args) -> None:
    pass


def _never(step: int) -> bool:
    return False


@dataclass
class Callbacks:
    """What the loop calls besides training. `before_step(step)` runs first in each step: a
    transfer strategy changing course mid-run, ranks other than 0 restarting their batch stream.
    `save(step)` writes a checkpoint; `log(row)` takes each log row; `evaluate()`, called every
    schedule.eval_every steps and at the end, returns metrics to add to that step's row.
    `stop_after(step)`, asked after each step on every rank, may end the run at that step before
    schedule.steps (trainer.steps=auto): that step is then the last, evaluated and saved."""

    save: Callable[[int], None] = _nothing
    log: Callable[[dict], None] = _nothing
    before_step: Callable[[int], None] = _nothing
    evaluate: Callable[[], dict] | None = None
    stop_after: Callable[[int], bool] = _never


@dataclass(frozen=True)
class StepContext:
    """What every training step works with, besides its rows and its number: train_step, and the
    meta-learners' steps (training/meta.py) that call it on a task's networks and rows."""

    gan: GAN
    objective: Objective
    # Draws every batch, every z and every random number of the objective, so saving its state
    # with the networks makes a resumed run continue exactly.
    rng: torch.Generator
    schedule: Schedule
    labels: torch.Tensor | None = None  # each training row's label index, for conditional G and D
    # A meta-learner (training/meta.py) that takes the place of train_step: each step of the run
    # is then one outer step made of meta.trainings_per_step training steps.
    meta: Callable | None = None
    # G and D as the steps call them (networks_to_call), and the precision of their passes: set
    # by `ready`, which fit calls once before the first step.
    generator: torch.nn.Module | None = None
    discriminator: torch.nn.Module | None = None
    precision: MixedPrecision | None = None

    def ready(self) -> "StepContext":
        generator, discriminator = networks_to_call(self.gan, self.schedule.compile)
        precision = MixedPrecision(self.schedule.precision, device_of(self.gan.generator))
        return replace(self, generator=generator, discriminator=discriminator, precision=precision)


def fit(context: StepContext, rows: Rows, callbacks: Callbacks, start_step: int = 0) -> None:
    """Train from start_step to schedule.steps, each step drawing its batches from
    `rows.for_step(step)`."""
    context = context.ready()
    schedule = context.schedule
    device = device_of(context.gan.generator)
    meta = context.meta
    run_step, trainings = (meta, meta.trainings_per_step) if meta is not None else (train_step, 1)
    with _progress() as progress, _stop_requests() as stop_requests:
        task = progress.add_task("train", total=schedule.steps, completed=start_step,
                                 d=math.nan, g=math.nan, rate=math.nan)
        tick, tick_step = time.perf_counter(), start_step
        watch = _NonfiniteWatch(device, updates_per_step=trainings * (schedule.d_steps + 1))
        for step in range(start_step + 1, schedule.steps + 1):
            callbacks.before_step(step)
            d_loss, g_loss, skipped = run_step(context, rows.for_step(step), step)
            watch.record(step, d_loss, g_loss, skipped)
            last = callbacks.stop_after(step) or step == schedule.steps  # asked at every step, the last too
            # Every rank takes the same decisions at the same steps: each may be a collective.
            evaluating = last or bool(schedule.eval_every and step % schedule.eval_every == 0)
            log_row = step % schedule.log_every == 0 or evaluating
            # A stop asked of any rank is agreed at once: every rank saves the same step, well
            # within the time torchrun gives its processes after passing on a signal.
            stopping = distributed.any_rank(bool(stop_requests))
            saving = step % schedule.ckpt_every == 0 or last or stopping
            if log_row or saving:
                watch.check(schedule.on_nonfinite)
            if log_row:
                # The only host synchronisation of the loop: losses are read at log steps.
                row = {"step": step, "d_loss": d_loss.item(), "g_loss": g_loss.item(),
                       "skipped": watch.take_skipped()}
                row["steps_per_s"] = (step - tick_step) / (time.perf_counter() - tick)
                if evaluating and callbacks.evaluate is not None:
                    row.update(callbacks.evaluate())
                callbacks.log(row)
                tick, tick_step = time.perf_counter(), step  # evaluation and logging are not training time
                progress.update(task, completed=step, d=row["d_loss"], g=row["g_loss"], rate=row["steps_per_s"])
            if saving:
                _check_finite_weights(context.gan, step)
                distributed.check_in_step(_shared_state(context.gan, context.objective), step)
                callbacks.save(step)
            if stopping and not last:
                number = stop_requests[0] if stop_requests else signal.SIGTERM  # another rank was signalled
                raise Interrupted(f"stopped by {signal.Signals(number).name} after step {step} of "
                                  f"{schedule.steps}; its checkpoint is saved", number)
            if last:
                break  # stop_after ended the run before schedule.steps


def networks_to_call(gan: GAN, compile: bool) -> tuple[torch.nn.Module, torch.nn.Module]:
    """G and D in training mode, compiled on request, as the training steps call them: with
    several ranks (torchrun), wrapped to average their gradients."""
    gan.generator.train()
    gan.discriminator.train()
    if compile:
        # In place: the modules keep their own state_dict keys (no `_orig_mod.` prefix), and the
        # EMA copy, made before, keeps running eagerly for evaluation.
        gan.generator.compile()
        gan.discriminator.compile()
    return distributed.parallel(gan.generator), distributed.parallel(gan.discriminator)


class _NonfiniteWatch:
    """Notes, on the device and without waiting for it, the first step whose losses were not
    finite; the loop reads it only when it logs or saves. With on_nonfinite=skip the updates
    already report on the host whether they were skipped: a run that skips every update for
    MAX_SKIPPED_STEPS steps in a row is stuck, not unlucky, and stops."""

    MAX_SKIPPED_STEPS = 20

    def __init__(self, device, updates_per_step: int):
        self.first_bad_step = torch.zeros((), dtype=torch.long, device=device)
        self.updates_per_step = updates_per_step
        self.skipped_since_log = 0
        self.skipped_steps_in_a_row = 0

    def record(self, step: int, d_loss: torch.Tensor, g_loss: torch.Tensor, skipped: int) -> None:
        bad = ~(torch.isfinite(d_loss) & torch.isfinite(g_loss)) & (self.first_bad_step == 0)
        self.first_bad_step = torch.where(bad, step, self.first_bad_step)
        self.skipped_since_log += skipped
        self.skipped_steps_in_a_row = self.skipped_steps_in_a_row + 1 if skipped == self.updates_per_step else 0
        if self.skipped_steps_in_a_row >= self.MAX_SKIPPED_STEPS:
            raise TrainingDiverged(f"training is stuck: every update of steps {step - self.MAX_SKIPPED_STEPS + 1} to "
                            f"{step} had a non-finite loss or gradient and was skipped. " + _DIVERGENCE_ADVICE)

    def take_skipped(self) -> int:
        """The updates skipped since the last call, for the log row."""
        skipped, self.skipped_since_log = self.skipped_since_log, 0
        return skipped

    def check(self, on_nonfinite: str) -> None:
        """At a log or save step: with on_nonfinite=stop, end the run if a loss was not finite,
        on any rank (all of them name the same step)."""
        first = distributed.earliest(int(self.first_bad_step))
        if on_nonfinite == "stop" and first:
            raise TrainingDiverged(f"training diverged: the losses stopped being finite at step {first}. "
                            + _DIVERGENCE_ADVICE)


_DIVERGENCE_ADVICE = ("Lower the learning rates (optimizer.lr_g, optimizer.lr_d), set trainer.grad_clip, "
                      "or change the loss; trainer.on_nonfinite=skip steps over isolated bad batches. "
                      "The last checkpoint written before the problem is kept")


def _shared_state(gan: GAN, objective: Objective) -> dict[str, list[torch.Tensor]]:
    """What every rank must hold alike for rank 0's checkpoint to be the run's."""
    shared = {"generator": list(gan.generator.parameters()), "discriminator": list(gan.discriminator.parameters())}
    if objective.augment is not None:
        shared["augmentation"] = [objective.augment.p, objective.augment.sign_sum]
    return shared


def _check_finite_weights(gan: "GAN", step: int) -> None:
    """Never overwrite a good checkpoint with weights that have blown up."""
    for name, network in (("generator", gan.generator), ("discriminator", gan.discriminator)):
        if not all(torch.isfinite(parameter).all() for parameter in network.parameters()):
            raise TrainingDiverged(f"training diverged: the {name}'s weights are not finite at step {step}. "
                            + _DIVERGENCE_ADVICE)


@contextmanager
def _stop_requests():
    """While training, SIGINT (Ctrl-C) and SIGTERM (cluster pre-emption) ask the loop to stop after
    the current step, so that the checkpoint it writes is complete. Yields the signals received."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received  # handlers can only be installed from the main thread
        return
    previous = {number: signal.signal(number, lambda number, frame: received.append(number))
                for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def train_step(context: StepContext, data: torch.Tensor, step: int):
    """schedule.d_steps discriminator updates on batches of `data`, then one generator update and
    the EMA. context.generator and context.discriminator are context.gan's networks as the steps
    call them (see distributed.parallel). A conditional G makes its fake batch for the real
    batch's labels, so that both follow the training label distribution and D compares like with
    like. Returns the last losses and how many updates were skipped for non-finite values."""
    gan, schedule, precision, rng, labels = context.gan, context.schedule, context.precision, context.rng, context.labels
    batch, device = schedule.batch_size, data.device
    skip = schedule.on_nonfinite == "skip"
    skipped = 0
    for d_step in range(schedule.d_steps):
        picked = torch.randint(len(data), (batch,), generator=rng, device=device)
        real, batch_labels = data[picked], None if labels is None else labels[picked]
        # Only the last fake batch is reused by the generator step: it alone keeps a graph.
        with torch.set_grad_enabled(d_step == schedule.d_steps - 1), precision.autocast():
            z = torch.randn(batch, gan.generator.z_dim, generator=rng, device=device)
            fake = given(context.generator, batch_labels)(z)
        with precision.autocast():
            d_loss = context.objective.discriminator(given(context.discriminator, batch_labels), real, fake.detach(),
                                                     step)
        skipped += not _update(gan.opt_d, d_loss, schedule.grad_clip, precision.scaler_d, skip)

    # The generator step calls D unwrapped: D's gradients from it are discarded, so there is
    # nothing to average over ranks (and D's `features`, for feature matching, stay reachable).
    with precision.autocast():
        g_loss = context.objective.generator(given(gan.discriminator, batch_labels), real, fake, step)
    g_updated = _update(gan.opt_g, g_loss, schedule.grad_clip, precision.scaler_g, skip)
    skipped += not g_updated
    if gan.ema is not None and g_updated:
        gan.ema.update(gan.generator)
    return d_loss, g_loss, skipped


def _update(optimizer: torch.optim.Optimizer, loss: torch.Tensor, grad_clip: float | None,
            scaler: torch.amp.GradScaler, skip_nonfinite: bool) -> bool:
    """One optimiser step; with skip_nonfinite, none when the loss or a gradient is not finite.
    Returns whether the weights were updated."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if grad_clip is not None or skip_nonfinite:
        scaler.unscale_(optimizer)  # clip and check the true gradients, not the scaled ones
    # Ranks agree, so that all of them skip the same updates and keep the same weights.
    if skip_nonfinite and not distributed.every_rank(_finite_loss_and_gradients(loss, optimizer)):
        optimizer.zero_grad(set_to_none=True)
        scaler.update()  # with fp16, a smaller loss scale for the next step
        return False
    if grad_clip is not None:
        for group in optimizer.param_groups:
            torch.nn.utils.clip_grad_norm_(group["params"], grad_clip)
    return _scaled_step(optimizer, scaler)


def _scaled_step(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> bool:
    """The optimiser's step through the scaler; returns whether it was taken. With fp16 the scaler
    skips the step when the scaled gradients overflowed, and lowers its scale then and only then:
    a lower scale after the update tells a skipped step. Reading the scale waits for the device,
    which fp16 alone pays: with 32 and bf16 the scale is a constant 1.0."""
    scale = scaler.get_scale()
    scaler.step(optimizer)
    scaler.update()
    return scaler.get_scale() >= scale


def _finite_loss_and_gradients(loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> bool:
    gradients = [parameter.grad for group in optimizer.param_groups for parameter in group["params"]
                 if parameter.grad is not None]
    finite = torch.isfinite(loss)
    for gradient in gradients:
        finite &= torch.isfinite(gradient).all()
    return bool(finite)


def _progress() -> Progress:
    return Progress(
        TextColumn("step {task.completed:>6.0f}/{task.total:.0f}"),
        BarColumn(),
        TextColumn("D {task.fields[d]:.3f}  G {task.fields[g]:.3f}"),
        TextColumn("{task.fields[rate]:>6.0f} steps/s"),
        TimeRemainingColumn(),
        disable=not distributed.is_main(),
    )
