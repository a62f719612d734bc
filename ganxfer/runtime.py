"""What every stage shares about where it runs: the console, the run directory, the device."""

import logging
from pathlib import Path

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from rich.console import Console

console = Console()

_shown_warnings: set[str] = set()  # the warnings this command has shown on the console


class WarningsOnce(Callback):
    """Each distinct warning shown once on the console per command (conf/config.yaml's
    hydra.callbacks). A sweep's jobs run one after another in this process (Hydra's basic
    launcher), and would each repeat what the data give them to warn of; each job's log file
    still records all of its own warnings."""

    def on_run_start(self, config, **kwargs) -> None:
        _shown_warnings.clear()

    def on_multirun_start(self, config, **kwargs) -> None:
        _shown_warnings.clear()

    def on_job_start(self, config, **kwargs) -> None:
        # Hydra has just made the job's handlers: the console's streams, and its log file.
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                handler.addFilter(_first_showing)


def _first_showing(record: logging.LogRecord) -> bool:
    """A console handler's filter: every message below a warning, and a warning's first showing."""
    if record.levelno < logging.WARNING:
        return True
    message = record.getMessage()
    first = message not in _shown_warnings
    _shown_warnings.add(message)
    return first


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
