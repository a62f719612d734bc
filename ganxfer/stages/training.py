"""pretrain and finetune: the same run, started from random weights or from a source checkpoint."""

import csv
from pathlib import Path

import torch
from omegaconf import OmegaConf

from ganxfer import checkpoint, data, models, transfer
from ganxfer.data import Schema
from ganxfer.errors import UserError
from ganxfer.report import image_grid
from ganxfer.stages.common import console, pick_device, run_dir
from ganxfer.objective import Objective
from ganxfer.train import GAN, Schedule, fit


def train(cfg, stage: str) -> Path:
    device = pick_device(cfg.trainer.device)
    resumed = _resume_state(cfg, stage, device)
    source = None
    if stage == "finetune" and resumed is None:
        source = checkpoint.load(checkpoint.resolve(cfg.ckpt), device)
        # The networks are the source's: record its model config as this run's.
        cfg.model = OmegaConf.create(source["config"]["model"])
        console.print(f"finetune from [bold]{cfg.ckpt}[/] with transfer={cfg.transfer.name}")

    prepared = data.prepare(cfg.data, source=Schema.from_dict(source["schema"]) if source else None,
                            resumed=Schema.from_dict(resumed["schema"]) if resumed else None)
    split, schema = prepared.split, prepared.schema
    train_rows = torch.from_numpy(prepared.rows).to(device)  # the whole training set, on the device

    torch.manual_seed(cfg.seed)
    generator, discriminator = (net.to(device) for net in models.build(cfg.model, schema.width))
    optimizer, trainer = cfg.optimizer, cfg.trainer
    gan = GAN.create(generator, discriminator, optimizer.lr_g, optimizer.lr_d, optimizer.betas,
                     trainer.ema_decay if trainer.ema else None, trainer.ema_warmup)
    rng = torch.Generator(device=device).manual_seed(cfg.seed)
    objective = Objective(cfg.loss, train_rows, trainer.steps, rng)
    start_step = 0
    if resumed is not None:
        _check_same_rows(resumed, split)
        gan.load_networks(resumed["networks"])
        gan.load_optimizers(resumed["networks"])
        rng.set_state(resumed["rng"]["batches"].cpu())
        start_step = resumed["step"]
    elif source is not None:
        transfer.apply(cfg.transfer.name, gan, source["networks"])

    out = run_dir()
    ckpt_path = out / "checkpoints" / "last.ckpt"
    console.print(f"{stage}: {len(split.train)} training rows x {schema.width} columns, "
                  f"{len(split.holdout)} held out, on {device}; writing to {out}")
    config = OmegaConf.to_container(cfg, resolve=True)

    def save(step: int) -> None:
        checkpoint.save(ckpt_path, {
            "stage": stage, "step": step, "networks": gan.state_dict(),
            "rng": {"batches": rng.get_state(), "torch": torch.get_rng_state()},
            "config": config, "schema": schema.to_dict(),
            "split": {"train_rows": torch.tensor(split.train.index.to_numpy()),
                      "holdout_rows": torch.tensor(split.holdout.index.to_numpy())},
        })

    schedule = Schedule(trainer.steps, trainer.batch_size, trainer.log_every, trainer.ckpt_every,
                        trainer.d_steps, trainer.grad_clip)
    fit(gan, train_rows, objective, rng, schedule, start_step, save, _csv_logger(out / "train_log.csv"))
    console.print(f"checkpoint: {ckpt_path}")
    if cfg.data.shape is not None:
        samples = models.generate(gan.sampler, 64, cfg.seed, device).numpy()
        image_grid(schema.inverse(samples).to_numpy(), cfg.data.shape, out / "samples.png")
    return ckpt_path


def _resume_state(cfg, stage: str, device) -> dict | None:
    if cfg.resume is None:
        return None
    state = checkpoint.load(cfg.resume, device)
    if state["stage"] != stage:
        raise UserError(f"resume={cfg.resume} is a {state['stage']} checkpoint; resume it with "
                        f"`ganxfer {state['stage']} resume=...`")
    if cfg.trainer.steps < state["step"]:
        raise UserError(f"trainer.steps={cfg.trainer.steps} is fewer than the {state['step']} steps "
                        f"{cfg.resume} has already done; trainer.steps is the run's total")
    if stage == "finetune":
        cfg.model = OmegaConf.create(state["config"]["model"])
    elif OmegaConf.to_container(cfg.model) != state["config"]["model"]:
        raise UserError(f"the model config differs from the checkpoint's ({state['config']['model']}); "
                        "resume with the same model settings")
    return state


def _check_same_rows(state: dict, split) -> None:
    if not torch.equal(state["split"]["train_rows"].cpu(), torch.tensor(split.train.index.to_numpy())):
        raise UserError("the training rows differ from the checkpoint's: the data file or the data "
                        "settings changed since it was written")


def _csv_logger(path: Path):
    """One CSV row per log step (step, losses, speed)."""
    def log(row: dict) -> None:
        new = not path.exists()
        with path.open("a", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)
    return log
