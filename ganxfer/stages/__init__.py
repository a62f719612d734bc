"""One module per stage; each exposes run(cfg). Stages orchestrate, the layers below do the work.

Only the stage that runs is imported: evaluate's metrics and figures cost a pretrain nothing."""

from importlib import import_module
from typing import Callable


def runner(stage: str) -> Callable:
    """The run(cfg) of ganxfer.stages.<stage>, importing that module alone."""
    return import_module(f"ganxfer.stages.{stage}").run
