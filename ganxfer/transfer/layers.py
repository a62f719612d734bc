"""Naming the parts of a network that transfer strategies freeze or reparametrise."""

from torch import nn

from ganxfer.errors import UserError

WEIGHT_LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)
NORM_LAYERS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.InstanceNorm2d, nn.GroupNorm)


def blocks(network: nn.Module) -> list[list[nn.Module]]:
    """The network's blocks from input to output: each is one linear or convolutional layer and
    the normalisation layers that follow it. `freeze_layers=k` freezes the first k blocks."""
    found: list[list[nn.Module]] = []
    for module in network.modules():
        if isinstance(module, WEIGHT_LAYERS):
            found.append([module])
        elif isinstance(module, NORM_LAYERS) and found:
            found[-1].append(module)
    return found


def freeze(modules) -> None:
    for module in modules:
        module.requires_grad_(False)


def freeze_first_blocks(network: nn.Module, count: int) -> None:
    available = blocks(network)
    if not 0 <= count <= len(available):
        raise UserError(f"transfer.freeze_layers={count}, but the network has {len(available)} blocks")
    for block in available[:count]:
        freeze(block)
