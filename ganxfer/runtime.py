"""What every stage shares about where it runs: the console, the run directory, the device."""

from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from rich.console import Console

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
