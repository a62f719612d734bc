"""Building a run from its plan and data: the strategy, the networks (from the source's weights
for a finetune), their optimisers, the objective and the random stream; then restoring a
resumed run's state into them."""

from dataclasses import dataclass, replace

import torch

from ganxfer import augment, distributed, models, transfer
from ganxfer.data import Schema, TrainingData
from ganxfer.data.rows import Rows
from ganxfer.errors import UserError
from ganxfer.objective import Objective
from ganxfer.runtime import console
from ganxfer.settings import Settings, Trainer, Transfer
from ganxfer.training import conditioning, meta
from ganxfer.training.loop import GAN
from ganxfer.training.plan import Start, average_decay, pull_weight


@dataclass
class Run:
    """Everything the training loop works on."""

    gan: GAN
    strategy: transfer.Strategy
    objective: Objective
    rng: torch.Generator  # draws every batch, z and random number of the objective
    rows: Rows  # the training rows, encoded, on the device (or streamed to it)
    labels: torch.Tensor | None  # each training row's label index, for a conditional model
    meta_learner: meta.Reptile | meta.TaskAverage | None = None  # meta=reptile|task_average: takes each step


def build_run(settings: Settings, start: Start, data: TrainingData, device, steps: int) -> Run:
    # pretrain starts from random weights exactly like the scratch baseline.
    strategy = (transfer.get(resolved(settings.transfer, len(data.rows))) if start.plan.stage == "finetune"
                else transfer.Scratch(settings.transfer))
    distributed.check_strategy(strategy)
    if start.source is not None:
        conditioning.check_new_labels(settings.transfer, start.networks, data.schema, start.source)
    gan = _build_gan(settings, start, data.schema, strategy, device, len(data.rows))
    rows = data.rows.to(device)
    labels = None if data.labels is None else torch.from_numpy(data.labels).to(device)
    rng = torch.Generator(device=device).manual_seed(settings.seed)
    # Moment matching's real moments: those of the rows the first step draws from (streamed: its
    # window, read only when needed).
    real = rows.for_step(1) if settings.loss.moment_matching > 0 else None
    objective = Objective(settings.loss, real, steps, rng)
    # Whether rows are images is the schema's to say, as it is for the networks (models.build).
    image_shape = data.schema.image_shape
    augmentation = augment.for_data(settings.augment, image_shape)
    if augmentation is not None:
        objective.augment = augment.Augment(augmentation, image_shape, rng, device)
    learner = meta.build(settings.meta, gan, rows, data.tasks, settings.seed, steps)
    return Run(gan, strategy, objective, rng, rows, labels, learner)


def resolved(settings: Transfer, training_rows: int) -> Transfer:
    """The strategy's settings with `auto` replaced by what the training rows make of it."""
    if settings.name != "l2sp":
        return settings
    return replace(settings, lambda_g=pull_weight(settings.lambda_g, training_rows),
                   lambda_d=pull_weight(settings.lambda_d, training_rows))


def restore(run: Run, start: Start, positions, batch_size: int) -> int:
    """The state a run continues from (resumed: the checkpoint's; a finetune may take the
    source's optimisers), then the strategy's penalties, anchored where the run starts.
    Returns the last step already done."""
    resumed, step = start.resumed, 0
    if resumed is not None:
        _check_same_rows(resumed, positions)
        run.gan.load_networks(resumed["networks"])
        run.gan.load_optimizers(resumed["networks"])
        run.strategy.load_state_dict(resumed["transfer"])
        if run.meta_learner is not None:
            run.meta_learner.load_state_dict(resumed["meta"])
        if run.objective.augment is not None:
            run.objective.augment.load_state_dict(resumed["augment"])
        run.rng.set_state(resumed["rng"]["batches"].cpu())
        step = resumed["step"]
        run.rows.resume(resumed.get("reader"), step)
    elif start.source is not None and run.strategy.settings.load_optimizer:
        _load_source_optimizers(run.gan, start.source, run.strategy.settings.name)
    run.strategy.regularise(run.objective, run.gan.generator, run.gan.discriminator, batch_size)
    return step


def _build_gan(settings: Settings, start: Start, schema: Schema, strategy, device, training_rows: int) -> GAN:
    """Networks as the strategy wants them (source weights, structure, frozen parts), with
    optimisers over what trains, and G's moving average."""
    torch.manual_seed(settings.seed)
    generator, discriminator = models.build(start.networks, schema.layout, schema.image_shape, schema.classes)
    if start.source is not None:
        _start_from_source(generator, discriminator, start, schema, strategy, settings.data.widens_ranges)
    generator, discriminator = (network.to(device) for network in strategy.adapt(generator, discriminator))
    strategy.freeze(generator, discriminator)
    lr_g, lr_d = settings.optimizer.lr_g, settings.optimizer.lr_d
    if start.plan.stage == "finetune":
        if settings.transfer.reinit_head:
            transfer.reinitialise_head(discriminator)
        lr_g, lr_d = lr_g * settings.transfer.lr_g_mult, lr_d * settings.transfer.lr_d_mult
    decay, warmup = _average(settings.trainer, start.plan.stage == "finetune" and strategy.loads_source, training_rows)
    return GAN.create(generator, discriminator, lr_g, lr_d, settings.optimizer.betas, decay, warmup)


def _average(trainer: Trainer, from_source: bool, training_rows: int) -> tuple[float | None, bool]:
    """G's moving average: its decay (None: no average) and whether it warms up."""
    if not trainer.ema:
        return None, False
    warmup = trainer.ema_warmup
    if warmup == "auto":
        # Warming up forgets a random start quickly. A source's G is a start worth keeping: from it
        # the average moves toward the fine-tuned weights without warm-up, which keeps a few-row
        # finetune near what the source knew (docs/transfer.md measures it).
        warmup = not from_source
    return average_decay(trainer.ema_decay, from_source and not warmup, training_rows), warmup


def _start_from_source(generator, discriminator, start: Start, schema: Schema, strategy, widen: bool) -> None:
    """The source's weights (G's from its EMA); mapped to the ranges data.range=widen widened
    (`widen`); grown where the target brings new categories; remapped to the target's columns
    where they differ from the source's (transfer.remap=true)."""
    source_schema = start.source_schema
    remapped = source_schema.outputs != schema.outputs
    grown = remapped and schema.extends(source_schema)  # only new categories: no remap needed
    if remapped and not grown:
        console.print(transfer.remap.column_table(source_schema, schema))
    if not strategy.loads_source:
        return
    # G starts from the source's EMA; labels new to the source start at the mean embedding.
    generator_state, discriminator_state = conditioning.source_weights(start.source, generator, discriminator,
                                                                       schema)
    if widen and (grown or not remapped):  # a remapped target's schema is its own, fitted on it
        generator_state, discriminator_state = transfer.ranges.carry_over(
            generator, discriminator, generator_state, discriminator_state, source_schema, schema)
    if not remapped:
        generator.load_state_dict(generator_state)
        discriminator.load_state_dict(discriminator_state)
        return
    if grown:
        strategy.shared = transfer.categories.carry_over(generator, discriminator, generator_state,
                                                         discriminator_state, source_schema, schema, strategy.settings)
        return
    if schema.condition is not None:
        raise UserError("transfer.remap=true works for unconditional models only: a conditional model's "
                        "label embeddings are not remapped; give the target the source's columns")
    transfer.remap.check_strategy(strategy, strategy.settings)
    strategy.shared = transfer.remap.carry_over(generator, discriminator, generator_state, discriminator_state,
                                                source_schema, schema)


def _load_source_optimizers(gan: GAN, source: dict, strategy: str) -> None:
    try:
        gan.load_optimizers(source["networks"])
    except ValueError:
        raise UserError(f"transfer.load_optimizer=true needs every weight trainable, as in the source; "
                        f"transfer={strategy} freezes or adds some") from None


def _check_same_rows(state: dict, positions) -> None:
    if not torch.equal(state["split"]["train_rows"].cpu(), torch.tensor(positions)):
        raise UserError("the training rows differ from the checkpoint's: the data file or the data "
                        "settings changed since it was written")
