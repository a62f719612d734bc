"""Adversarial losses. Each is a pair: the discriminator's loss on real and fake logits, and the
generator's loss on fake logits. Lower is better for the network being trained."""

from typing import Callable, NamedTuple

import torch
from torch.nn.functional import softplus

from ganxfer.errors import UserError


class Loss(NamedTuple):
    discriminator: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    generator: Callable[[torch.Tensor], torch.Tensor]


def _ns_discriminator(real_logits, fake_logits):
    """L_D = E[softplus(-D(x))] + E[softplus(D(G(z)))]: binary cross-entropy, real=1, fake=0."""
    return softplus(-real_logits).mean() + softplus(fake_logits).mean()


def _ns_generator(fake_logits):
    """L_G = E[softplus(-D(G(z)))]: the non-saturating form (Goodfellow et al. 2014)."""
    return softplus(-fake_logits).mean()


LOSSES = {"ns": Loss(_ns_discriminator, _ns_generator)}


def get(name: str) -> Loss:
    if name not in LOSSES:
        raise UserError(f"unknown loss {name!r}; available: {', '.join(LOSSES)}")
    return LOSSES[name]
