"""Strategies that train only part of the networks."""

from torch import nn

from ganxfer.transfer.base import Strategy
from ganxfer.transfer.layers import NORM_LAYERS, blocks, freeze, freeze_first_blocks


class FreezeD(Strategy):
    """FreezeD (Mo et al. 2020): freeze the discriminator's first `freeze_layers` blocks, which
    hold generic low-level features; train the rest of D and all of G."""

    def freeze(self, generator, discriminator):
        freeze_first_blocks(discriminator, self.settings.freeze_layers)


class FreezeG(Strategy):
    """Freeze the generator's first `freeze_layers` blocks (the coarse structure it maps z to);
    train the rest of G and all of D."""

    def freeze(self, generator, discriminator):
        freeze_first_blocks(generator, self.settings.freeze_layers)


class ScaleShift(Strategy):
    """Adapt only the generator's normalisation scales and shifts (in the spirit of Noguchi &
    Harada 2019, batch-statistics adaptation, and FreezeD's AdaIN baseline): y = gamma * x_hat + beta
    with gamma, beta trained and every other G weight frozen; optionally the output layer too.
    D trains fully."""

    def freeze(self, generator, discriminator):
        freeze([generator])
        for module in generator.modules():
            if isinstance(module, NORM_LAYERS):
                module.requires_grad_(True)
        if self.settings.train_output:
            blocks(generator)[-1][0].requires_grad_(True)


def reinitialise_head(discriminator: nn.Module) -> None:
    """Fresh weights for D's last layer: the source's real/fake boundary need not fit the target."""
    blocks(discriminator)[-1][0].reset_parameters()
