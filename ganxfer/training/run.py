"""pretrain and finetune: the same run, started from random weights or from a source checkpoint.

Its seams, in order: read and check the settings (settings.py); plan what the run starts from
(plan.py); prepare the data; build the networks, strategy and objective (build.py); restore a resumed run; fit (the
loop, loop.py) with a writer that saves and logs (writer.py); finish with pictures and metrics.
The user's config is read, never edited."""

from dataclasses import replace
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import OmegaConf

from ganxfer import data, distributed, loggers, metrics, models
from ganxfer.data import Schema
from ganxfer.errors import Interrupted, UserError
from ganxfer.figures import image_grid, training_curves
from ganxfer.runtime import console, pick_device, run_dir
from ganxfer.settings import Logger, Settings
from ganxfer.training import meta, stopping, threads
from ganxfer.training.build import Run, build_run, restore
from ganxfer.training.loop import Schedule, StepContext, fit
from ganxfer.training.plan import Start, check_continues, plan_run, total_steps
from ganxfer.training.writer import RunWriter

# The run's metrics (train_log.csv, metrics.json) compare against at most this many held-out rows,
# drawn by data.split_seed: the same rows every run, and a bounded cost on a large file.
# Smaller hold-outs are used whole; `ganxfer evaluate` always uses every held-out row.
EVALUATION_ROWS = 10_000


def train(cfg, stage: str) -> float | None:
    """Returns the monitored metric's last value (None on ranks other than 0, which write nothing).
    The config is read here, once, into typed settings: below this function nothing sees it."""
    config = OmegaConf.to_container(cfg, resolve=True)  # as the user composed it: saved in every checkpoint
    settings = Settings.from_dict(config)
    # logger=tensorboard|mlflow, beside the run's own files
    with loggers.tracking(settings.logger, config, run_dir(), tracked_as(settings.logger, settings.stage.name)):
        settings.check()  # inside the tracker's run, which records the failure
        return _train(settings, config, stage)


def tracked_as(logger: Logger, stage: str) -> tuple[str, str]:
    """The tracker's experiment and run names: a sweep's jobs share the sweep directory as their
    experiment; a single run files under its stage. The run is named after its run directory (a
    sweep job's number)."""
    hydra = HydraConfig.get()
    if logger.experiment:
        experiment = logger.experiment
    elif hydra.mode == RunMode.MULTIRUN:
        experiment = str(Path(hydra.sweep.dir).absolute())
    else:
        experiment = f"ganxfer {stage}"
    return experiment, run_dir().name


def _train(settings: Settings, config: dict, stage: str) -> float | None:
    out = run_dir()
    console.quiet = not distributed.is_main()
    check_writable(out / "checkpoints")
    device = distributed.device(pick_device(settings.trainer.device))
    start = plan_run(settings, config, stage, device)
    # Streamed rows may read ahead in a thread from build_run on: it ends however the run ends,
    # a refused resume included.
    with prepare_data(settings, start) as prepared:
        steps = total_steps(settings.trainer.steps, len(prepared.rows))
        rule = stopping.auto_rule(settings.trainer.steps, stage, prepared.rows, start.resumed)
        if rule is not None:
            steps = rule.ceiling  # the rule may end the run sooner
        check_continues(start, steps)
        run = build_run(settings, start, prepared, device, steps)
        first_step = restore(run, start, prepared.positions, settings.trainer.batch_size)
        where = distributed.describe(device)
        if device.type == "cpu":
            count = threads.choose(settings.trainer.threads, _parameters(run), settings.trainer.batch_size)
            threads.apply(count)
            where += f" with {count} thread{'s' if count > 1 else ''}"
        auto = " (trainer.steps=auto)" if settings.trainer.steps == "auto" else ""
        if rule is not None:
            auto = (f" at most (trainer.steps=auto: until the fd on training rows, checked every {rule.every} "
                    f"steps, stops improving)")
        average = "" if run.gan.ema is None else f", average decay {run.gan.ema.decay:g}"
        console.print(f"{stage}: {prepared.rows.describe()} x {prepared.schema.width} columns, "
                      f"{len(prepared.holdout)} held out, {steps} steps{auto}{average}{_pull(run, settings, stage)}"
                      f"{_augmentation(run, settings)}, "
                      f"on {where}; writing to {out}")
        writer = RunWriter(out, settings.trainer.monitor, config, start.plan, prepared, run, start.resumed,
                           stopping=rule)
        evaluation_rows = data.at_most(prepared.holdout, EVALUATION_ROWS, settings.data.split_seed)
        stop_after = None if rule is None else _stop_after(rule, stopping.training_fd(
            run.gan, prepared.schema, prepared.rows, run.labels, settings.seed))
        _fit(settings, run, writer, Schedule.from_settings(settings.trainer, steps), first_step,
             _evaluator(run, prepared.schema, evaluation_rows, settings.seed), stop_after)
        if not distributed.is_main():
            return None
        return finish(settings, run, writer, prepared.schema, evaluation_rows)


def _pull(run: Run, settings: Settings, stage: str) -> str:
    """A finetune's L2-SP weights, for the run's opening line, and whether `auto` chose them."""
    if stage != "finetune" or settings.transfer.name != "l2sp":
        return ""
    chosen = " (auto)" if "auto" in (settings.transfer.lambda_g, settings.transfer.lambda_d) else ""
    on_g, on_d = run.strategy.settings.lambda_g, run.strategy.settings.lambda_d
    if on_g == on_d:
        return f", L2-SP weight {on_g:.3g}{chosen}"
    return f", L2-SP weights {on_g:.3g} (G) and {on_d:.3g} (D){chosen}"


def _augmentation(run: Run, settings: Settings) -> str:
    """What D's rows go through, for the run's opening line: said whenever augment=auto chose it, so
    that a user who set augment.* on a table reads why nothing was augmented."""
    augmentation, chosen = run.objective.augment, settings.augment.name == "auto"
    if augmentation is None:
        return ", no augmentation (augment=auto leaves tables alone)" if chosen else ""
    adaptive = "adaptive " if augmentation.settings.adaptive else ""
    return f", {adaptive}{augmentation.settings.name} augmentation" + (" (augment=auto)" if chosen else "")


def _parameters(run: Run) -> int:
    """The weights of G and D: with the batch size, what trainer.threads=auto judges a step's work by."""
    return sum(parameter.numel() for network in (run.gan.generator, run.gan.discriminator)
               for parameter in network.parameters())


def check_writable(folder: Path) -> None:
    """Fail before training, not at the first checkpoint, when the run cannot be saved (rank 0
    writes; the other ranks learn of its failure and stop too)."""
    problem = None
    if distributed.is_main():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / ".writable").touch()
            (folder / ".writable").unlink()
        except OSError as err:
            problem = f"cannot write checkpoints to {folder}: {err.strerror}; choose another hydra.run.dir"
    if distributed.any_rank(problem is not None):
        raise UserError(problem or f"rank 0 cannot write checkpoints to {folder}")


def prepare_data(settings: Settings, start: Start) -> data.TrainingData:
    """The training rows, encoded by the schema the run trains with, and the held-out rows."""
    streaming = data.StreamOptions(distributed.rank(), distributed.processes(), settings.trainer.batch_size, settings.seed,
                                   combine=distributed.gathered)
    prepared = data.prepare(settings.data, source=start.source_schema, resumed=start.resumed_schema,
                            conditional=start.networks.conditional, remap=settings.transfer.remap,
                            domain=start.plan.domain, task_column=meta.task_column(settings.meta, settings.data),
                            streaming=streaming, meta=settings.meta.name)
    console.print(data.describe(prepared.schema))
    if start.source is not None:
        console.print(f"finetune from [bold]{start.plan.source_path}[/] with transfer={settings.transfer.name}")
    return prepared


def _fit(settings: Settings, run: Run, writer: RunWriter, schedule: Schedule, first_step: int, evaluate,
         stop_after=None) -> None:
    def before_step(step: int) -> None:
        distributed.restart_stream(run.rng, settings.seed, step)  # other ranks draw other batches
        run.strategy.before_step(step)

    callbacks = writer.callbacks(before_step, evaluate)
    if stop_after is not None:
        callbacks = replace(callbacks, stop_after=stop_after)  # asked on every rank
    context = StepContext(run.gan, run.objective, run.rng, schedule, run.labels, run.meta_learner)
    try:
        fit(context, run.rows, callbacks, first_step)
    except Interrupted as stop:
        raise Interrupted(f"{stop}: continue with `ganxfer {writer.plan.stage} resume={writer.last_path}` and "
                          "the same settings", stop.exit_code - 128) from None
    finally:
        run.rows.close()  # training is done: streamed, no window past the last step is read during the final metrics


def _stop_after(rule: stopping.Plateau, signal: Callable[[], float]) -> Callable[[int], bool]:
    """trainer.steps=auto's decision after each step: rank 0 reads the signal at check steps, and
    every rank takes its decision at the same step. The run's log says where and why it ended."""
    def stop_after(step: int) -> bool:
        stop = rule.is_check(step) and distributed.any_rank(distributed.is_main() and rule.check(step, signal()))
        if stop or step == rule.ceiling:
            outcome = rule.outcome(step)
            console.print(f"trainer.steps=auto: stopped after step {step}, training fd {outcome['fd']:.4g} "
                          f"(best {outcome['best_fd']:.4g} at step {outcome['best_step']}): {outcome['why']}")
        return stop

    return stop_after


def finish(settings: Settings, run: Run, writer: RunWriter, schema: Schema, evaluation_rows: pd.DataFrame) -> float:
    """Sample grid (image data), training curves (from two logged steps on) and the final metrics,
    into the run directory."""
    out = writer.out
    console.print(f"checkpoint: {writer.last_path}")
    if schema.image_shape is not None:
        labels = schema.condition.draw(64, settings.seed) if schema.condition else None
        device = run.rows.device
        samples = models.generate(run.gan.sampler, 64, settings.seed, device, labels=labels).numpy()
        image_grid(schema.inverse(samples).to_numpy(), schema.picture_shape, out / "samples.png")
    log = pd.read_csv(out / "train_log.csv")
    if len(log) >= 2:  # one logged step is a point, not a curve: train_log.csv holds it, and matplotlib is not loaded
        training_curves(log, out / "curves.png")
    final = _final_metrics(run, schema, evaluation_rows, list(settings.trainer.final_metrics), settings.seed)
    return writer.finish(final)


def _final_metrics(run: Run, schema: Schema, holdout, names: list[str], seed: int) -> dict:
    """The slower metrics of trainer.final_metrics (e.g. c2st), once, on the held-out rows. In the
    run's own scaling, as its logged fd and mmd2_rbf are, so that a run's metrics.json is in one
    space; `evaluate` compares runs in a space fitted on the real rows (metrics.Space)."""
    if not names:
        return {}
    fake = _synthetic_like(run, schema, holdout, seed)
    comparison = metrics.Comparison(holdout, fake, schema.transform, seed=seed, categorical=schema.categorical,
                                    image_shape=schema.image_shape)
    results, skipped = metrics.evaluate(comparison, names)
    for name, reason in skipped.items():
        console.print(f"[yellow]{name} skipped: {reason}[/]")
    return results


def _evaluator(run: Run, schema: Schema, holdout, seed: int):
    """Cheap metrics of the sampling generator against the held-out rows, on the same z each time
    so that successive values differ by training alone."""
    real = schema.transform(holdout)

    def evaluate() -> dict:
        return metrics.quick(real, schema.transform(_synthetic_like(run, schema, holdout, seed)), seed)

    return evaluate


def _synthetic_like(run: Run, schema: Schema, holdout, seed: int) -> pd.DataFrame:
    """As many synthetic rows as `holdout` from the sampling generator, with the same seed each
    time; a conditional generator is asked for the held-out rows' own labels."""
    labels = torch.from_numpy(schema.condition.indices(holdout[schema.condition.column])) if schema.condition else None
    sampler = run.gan.sampler
    was_training = sampler.training
    generated = models.generate(sampler, len(holdout), seed, run.rows.device, labels=labels).numpy()
    sampler.train(was_training)
    return schema.inverse(generated)
