"""Helpers every stage shares: where the run writes, which device, and networks from checkpoints."""

from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf
from rich.console import Console

from ganxfer import models, transfer
from ganxfer.data import Schema
from ganxfer.train import sampler_weights

console = Console()


def run_dir() -> Path:
    return Path(HydraConfig.get().runtime.output_dir)


def pick_device(name: str) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def data_given_on_command_line() -> bool:
    """True when the user chose data for this run (data=... or data.key=...)."""
    keys = (override.split("=", 1)[0].lstrip("+~") for override in HydraConfig.get().overrides.task)
    return any(key == "data" or key.startswith("data.") for key in keys)


def sampler_from_checkpoint(state: dict, device) -> torch.nn.Module:
    """The generator a checkpoint samples with (its EMA copy when it has one), rebuilt with the
    structure its transfer strategy gave it."""
    schema = Schema.from_dict(state["schema"])
    generator, discriminator = models.build(state["config"]["model"], schema.layout, schema.image_shape,
                                            schema.classes)
    if state["stage"] == "finetune":
        strategy = transfer.get(OmegaConf.create(state["config"]["transfer"]))
        generator, _ = strategy.adapt(generator, discriminator)
    generator.load_state_dict(sampler_weights(state["networks"]))
    return generator.to(device)
