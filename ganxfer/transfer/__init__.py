"""Transfer strategies: how a finetune run starts from the source checkpoint's networks.

Each strategy takes the freshly built GAN (random weights, fresh optimisers) and the source's
network states, and prepares the GAN for training on the target data.
"""

from typing import Callable

from ganxfer.errors import UserError
from ganxfer.train import GAN


def full(gan: GAN, source: dict) -> None:
    """Wang et al. 2018, "Transferring GANs": start from the source G, D and EMA-G; train all."""
    gan.load_networks(source)


def scratch(gan: GAN, source: dict) -> None:
    """The baseline: the source's architecture with its random initial weights, nothing loaded."""


STRATEGIES: dict[str, Callable[[GAN, dict], None]] = {"full": full, "scratch": scratch}


def apply(name: str, gan: GAN, source: dict) -> None:
    if name not in STRATEGIES:
        raise UserError(f"unknown transfer strategy {name!r}; available: {', '.join(STRATEGIES)}")
    STRATEGIES[name](gan, source)
