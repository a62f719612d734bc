"""pretrain and finetune: the same run, started from random weights or from a source checkpoint."""

import csv
import json
from pathlib import Path

import pandas as pd
import torch
from omegaconf import OmegaConf

from ganxfer import checkpoint, data, distributed, loggers, metrics, models, transfer
from ganxfer.data import Schema
from ganxfer.errors import Interrupted, UserError
from ganxfer.objective import Objective
from ganxfer.report import image_grid, training_curves
from ganxfer.stages import conditioning
from ganxfer.stages.common import console, pick_device, run_dir
from ganxfer.train import GAN, LOG_COLUMNS, Schedule, fit
from ganxfer.transfer.augment import Augment


def train(cfg, stage: str) -> float:
    with loggers.tracking(cfg, run_dir()):  # logger=tensorboard|mlflow, beside the run's own files
        return _train(cfg, stage)


def _train(cfg, stage: str) -> float | None:
    """Returns the monitored metric's last value (None on ranks other than 0, which write nothing)."""
    if cfg.trainer.monitor not in metrics.QUICK:
        raise UserError(f"trainer.monitor={cfg.trainer.monitor!r}; choose one of {', '.join(metrics.QUICK)}")
    unknown = [str(name) for name in cfg.trainer.final_metrics if name not in metrics.METRICS]
    if unknown:
        raise UserError(f"trainer.final_metrics names unknown metric(s) {', '.join(unknown)}; choose from: "
                        f"{', '.join(metrics.METRICS)}")
    out, main = run_dir(), distributed.is_main()
    console.quiet = not main
    _check_writable(out / "checkpoints")
    device = distributed.device(pick_device(cfg.trainer.device))
    conditioning.condition_on_domain(cfg, stage)
    resumed = _resume_state(cfg, stage, device)
    source = None
    if stage == "finetune" and resumed is None:
        source_path = checkpoint.resolve(cfg.ckpt)
        source = checkpoint.load(source_path, device)
        _check_transferable(source, source_path)
        # Record what this run was built from: the resolved source and the source's networks.
        cfg.ckpt = str(source_path)
        cfg.model = OmegaConf.create(source["config"]["model"])
        console.print(f"finetune from [bold]{source_path}[/] with transfer={cfg.transfer.name}")
    if source or resumed:
        conditioning.follow_source(cfg, stage, Schema.from_dict((source or resumed)["schema"]))

    prepared = data.prepare(cfg.data, source=Schema.from_dict(source["schema"]) if source else None,
                            resumed=Schema.from_dict(resumed["schema"]) if resumed else None,
                            conditional=cfg.model.get("conditional", False), remap=cfg.transfer.remap)
    schema = prepared.schema
    evaluation_rows = data.at_most(prepared.holdout, EVALUATION_ROWS, cfg.data.split_seed)
    console.print(data.describe(schema))
    train_rows = torch.from_numpy(prepared.rows).to(device)  # the whole training set, on the device
    train_labels = None if prepared.labels is None else torch.from_numpy(prepared.labels).to(device)

    # pretrain starts from random weights exactly like the scratch baseline.
    strategy = transfer.get(cfg.transfer) if stage == "finetune" else transfer.Scratch(cfg.transfer)
    distributed.check_strategy(strategy)
    if source is not None:
        conditioning.check_new_labels(cfg, schema, source)
    gan = _build_gan(cfg, stage, schema, strategy, source, device)
    trainer = cfg.trainer
    rng = torch.Generator(device=device).manual_seed(cfg.seed)
    objective = Objective(cfg.loss, train_rows, trainer.steps, rng)
    if cfg.augment.name != "none":
        objective.augment = Augment(cfg.augment, cfg.data.shape, rng, device)

    start_step = 0
    if resumed is not None:
        _check_same_rows(resumed, prepared.positions)
        gan.load_networks(resumed["networks"])
        gan.load_optimizers(resumed["networks"])
        strategy.load_state_dict(resumed["transfer"])
        if objective.augment is not None:
            objective.augment.load_state_dict(resumed["augment"])
        rng.set_state(resumed["rng"]["batches"].cpu())
        start_step = resumed["step"]
    elif source is not None and cfg.transfer.load_optimizer:
        _load_source_optimizers(gan, source, cfg.transfer.name)
    strategy.regularise(objective, gan.generator, gan.discriminator, trainer.batch_size)

    def before_step(step: int) -> None:
        distributed.restart_stream(rng, cfg.seed, step)  # other ranks draw other batches
        strategy.before_step(step)

    ckpt_path = out / "checkpoints" / "last.ckpt"
    console.print(f"{stage}: {len(prepared.rows)} training rows x {schema.width} columns, "
                  f"{len(prepared.holdout)} held out, on {distributed.describe(device)}; writing to {out}")
    config = OmegaConf.to_container(cfg, resolve=True)

    rows_used = {"train_rows": torch.tensor(prepared.positions),
                 "holdout_rows": torch.tensor(prepared.holdout.index.to_numpy())}

    def save(step: int, path: Path = ckpt_path) -> None:
        checkpoint.save(path, {
            "stage": stage, "step": step, "networks": gan.state_dict(),
            "transfer": strategy.state_dict(), "augment": objective.augment.state_dict() if objective.augment else {},
            "rng": {"batches": rng.get_state(), "torch": torch.get_rng_state()},
            "config": config, "schema": schema.to_dict(),
            "split": rows_used,
        })

    monitor = _Monitor(trainer.monitor, save, out / "checkpoints" / "best.ckpt", _csv_logger(out / "train_log.csv"))
    log, evaluate = monitor.log, _evaluator(gan, schema, evaluation_rows, cfg.seed, device)
    if not main:  # rank 0 writes for all
        save, log, evaluate = (lambda step: None), (lambda row: None), None
    schedule = Schedule(trainer.steps, trainer.batch_size, trainer.log_every, trainer.ckpt_every,
                        trainer.d_steps, trainer.grad_clip, trainer.eval_every, trainer.on_nonfinite,
                        str(trainer.precision), trainer.compile)
    try:
        fit(gan, train_rows, objective, rng, schedule, start_step, save, log, before_step, evaluate,
            train_labels)
    except Interrupted as stop:
        raise Interrupted(f"{stop}: continue with `ganxfer {stage} resume={ckpt_path}` and the same settings",
                          stop.exit_code - 128) from None
    if not main:
        return None
    console.print(f"checkpoint: {ckpt_path}")
    if cfg.data.shape is not None:
        labels = schema.condition.draw(64, cfg.seed) if schema.condition else None
        samples = models.generate(gan.sampler, 64, cfg.seed, device, labels=labels).numpy()
        image_grid(schema.inverse(samples).to_numpy(), schema.picture_shape, out / "samples.png")
    training_curves(pd.read_csv(out / "train_log.csv"), out / "curves.png")
    final = _final_metrics(gan, schema, evaluation_rows, list(cfg.trainer.final_metrics), cfg.seed, device)
    return monitor.finish(out / "metrics.json", stage, final)


# The run's metrics (train_log.csv, metrics.json) compare against at most this many held-out rows,
# drawn by data.split_seed: the same rows every run, and a bounded cost on a large file.
# Smaller hold-outs are used whole; `ganxfer evaluate` always uses every held-out row.
EVALUATION_ROWS = 10_000


def _final_metrics(gan: GAN, schema: Schema, holdout, names: list[str], seed: int, device) -> dict:
    """The slower metrics of trainer.final_metrics (e.g. c2st), once, on the held-out rows."""
    if not names:
        return {}
    fake = _synthetic_like(gan, schema, holdout, seed, device)
    comparison = metrics.Comparison(holdout, fake, schema.transform, seed=seed, image_shape=schema.image_shape)
    results, skipped = metrics.evaluate(comparison, names)
    for name, reason in skipped.items():
        console.print(f"[yellow]{name} skipped: {reason}[/]")
    return results


def _evaluator(gan: GAN, schema: Schema, holdout, seed: int, device):
    """Cheap metrics of the sampling generator against the held-out rows, on the same z each time
    so that successive values differ by training alone."""
    real = schema.transform(holdout)

    def evaluate() -> dict:
        return metrics.quick(real, schema.transform(_synthetic_like(gan, schema, holdout, seed, device)))

    return evaluate


def _synthetic_like(gan: GAN, schema: Schema, holdout, seed: int, device) -> pd.DataFrame:
    """As many synthetic rows as `holdout` from the sampling generator, with the same seed each
    time; a conditional generator is asked for the held-out rows' own labels."""
    labels = torch.from_numpy(schema.condition.indices(holdout[schema.condition.column])) if schema.condition else None
    sampler = gan.sampler
    was_training = sampler.training
    generated = models.generate(sampler, len(holdout), seed, device, labels=labels).numpy()
    sampler.train(was_training)
    return schema.inverse(generated)


class _Monitor:
    """Logs each row, keeps best.ckpt at the best value of the monitored metric, and writes the
    final metrics for sweeps and reports."""

    def __init__(self, metric: str, save, best_path: Path, write_row):
        self.metric, self.save, self.best_path, self.write_row = metric, save, best_path, write_row
        self.best, self.last = None, {}

    def log(self, row: dict) -> None:
        self.write_row(row)
        loggers.log_row(row)
        if self.metric in row:
            self.last = row
            if self.best is None or row[self.metric] < self.best[self.metric]:
                self.best = row
                self.save(row["step"], self.best_path)

    def finish(self, path: Path, stage: str, final_metrics: dict) -> float:
        """Writes the last logged row, the final metrics and the best step to `path`."""
        last = {**self.last, **final_metrics}
        record = {"stage": stage, **last, "best_step": self.best["step"], f"best_{self.metric}": self.best[self.metric]}
        path.write_text(json.dumps(record, indent=2))
        console.print("final " + ", ".join(f"{key} {value:.4g}" for key, value in last.items()
                                            if key not in LOG_COLUMNS))
        return self.last[self.metric]


def _build_gan(cfg, stage: str, schema: Schema, strategy, source: dict | None, device) -> GAN:
    """Networks as the strategy wants them (source weights, structure, frozen parts), with
    optimisers over what trains."""
    torch.manual_seed(cfg.seed)
    generator, discriminator = models.build(cfg.model, schema.layout, schema.image_shape, schema.classes)
    if source is not None:
        _start_from_source(generator, discriminator, source, schema, strategy, cfg.transfer)
    generator, discriminator = (network.to(device) for network in strategy.adapt(generator, discriminator))
    strategy.freeze(generator, discriminator)
    lr_g, lr_d = cfg.optimizer.lr_g, cfg.optimizer.lr_d
    if stage == "finetune":
        if cfg.transfer.reinit_head:
            transfer.reinitialise_head(discriminator)
        lr_g, lr_d = lr_g * cfg.transfer.lr_g_mult, lr_d * cfg.transfer.lr_d_mult
    trainer = cfg.trainer
    return GAN.create(generator, discriminator, lr_g, lr_d, cfg.optimizer.betas,
                      trainer.ema_decay if trainer.ema else None, trainer.ema_warmup)


def _start_from_source(generator, discriminator, source: dict, schema: Schema, strategy, transfer_cfg) -> None:
    """The source's weights (G's from its EMA); remapped to the target's columns where they
    differ from the source's (transfer.remap=true)."""
    source_schema = Schema.from_dict(source["schema"])
    remapped = source_schema.outputs != schema.outputs
    if remapped:
        console.print(transfer.remap.column_table(source_schema, schema))
    if not strategy.loads_source:
        return
    # G starts from the source's EMA; labels new to the source start at the mean embedding.
    generator_state, discriminator_state = conditioning.source_weights(source, generator, discriminator, schema)
    if not remapped:
        generator.load_state_dict(generator_state)
        discriminator.load_state_dict(discriminator_state)
        return
    if schema.condition is not None:
        raise UserError("transfer.remap=true works for unconditional models only: a conditional model's "
                        "label embeddings are not remapped; give the target the source's columns")
    transfer.remap.check_strategy(strategy, transfer_cfg)
    strategy.shared = transfer.remap.carry_over(generator, discriminator, generator_state, discriminator_state,
                                                source_schema, schema)


def _check_writable(folder: Path) -> None:
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


def _resume_state(cfg, stage: str, device) -> dict | None:
    if cfg.resume is None:
        return None
    state = checkpoint.load(cfg.resume, device)
    if state["stage"] != stage:
        raise UserError(f"resume={cfg.resume} is a {state['stage']} checkpoint; resume it with "
                        f"`ganxfer {state['stage']} resume=...`")
    if cfg.trainer.steps <= state["step"]:
        raise UserError(f"{cfg.resume} has done {state['step']} steps already and trainer.steps="
                        f"{cfg.trainer.steps} is the run's total: ask for more steps to continue it")
    if stage == "finetune":
        cfg.model = OmegaConf.create(state["config"]["model"])  # finetune's networks follow the source's
    _check_resumable_settings(cfg, state["config"], cfg.resume)
    return state


# Settings that shape the networks, their optimisers or the data they learn from: a resumed run
# keeps the checkpoint's. (An optimiser's saved state would silently override a new learning rate.)
FIXED_ON_RESUME = ("model", "transfer", "data", "optimizer", "augment")


def _check_resumable_settings(cfg, saved: dict, path) -> None:
    """Refuse a resume whose settings would change what was trained; report the other changes."""
    before = _flatten(saved)
    after = _flatten(OmegaConf.to_container(cfg, resolve=True))
    changed = {key: (before.get(key, "unset"), after.get(key, "unset"))
               for key in sorted(before.keys() | after.keys())
               if key not in ("resume", "ckpt") and before.get(key, "unset") != after.get(key, "unset")}
    described = {key: f"{key}: {old!r} -> {new!r}" for key, (old, new) in changed.items()}
    fixed = [text for key, text in described.items() if key.split(".")[0] in FIXED_ON_RESUME]
    if fixed:
        raise UserError(f"resume={path} was trained with other settings ({'; '.join(fixed)}); resume "
                        "with the checkpoint's settings, or start a new run to change them")
    if described:
        console.print("resuming with changed settings: " + "; ".join(described.values()))


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _check_transferable(source: dict, path) -> None:
    earlier = source["config"]["transfer"]["name"]
    if source["stage"] == "finetune" and transfer.changes_structure(earlier):
        raise UserError(f"{path} was fine-tuned with transfer={earlier}, which reshapes the networks; "
                        "transfer from its pretrain checkpoint instead")


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


def _csv_logger(path: Path):
    """One CSV row per log step: step, losses, speed, and the metrics at evaluation steps."""
    columns = [*LOG_COLUMNS, *metrics.QUICK]

    def log(row: dict) -> None:
        new = not path.exists()
        with path.open("a", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=columns)
            if new:
                writer.writeheader()
            writer.writerow(row)
    return log
