"""Helpers every stage shares: where the run writes, which device, and networks from checkpoints."""

from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from rich.console import Console

from ganxfer import models
from ganxfer.data import Schema

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
    """The generator a checkpoint samples with: its EMA copy when it has one."""
    schema = Schema.from_dict(state["schema"])
    generator, _ = models.build(state["config"]["model"], schema.width)
    networks = state["networks"]
    weights = networks["generator"]
    if networks["ema"] is not None:
        prefix = "module."  # AveragedModel keeps the averaged generator under .module
        weights = {key[len(prefix):]: value for key, value in networks["ema"].items() if key.startswith(prefix)}
    generator.load_state_dict(weights)
    return generator.to(device)
