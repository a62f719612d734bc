"""Few-shot adaptation in the singular values (Robb et al. 2020, "Few-shot adaptation of generative
adversarial networks")."""

import torch
from torch import nn
from torch.nn.utils import parametrize

from ganxfer.transfer.base import Strategy
from ganxfer.transfer.layers import WEIGHT_LAYERS


class SingularValueScale(nn.Module):
    """W = U diag(s * m) V^T, with U, s, V from the source weight's SVD (frozen buffers) and the
    multiplier m (initially 1, so W starts as the source weight) the only thing that trains.
    Convolution kernels are flattened to (out, in * k * k) for the decomposition."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        u, s, vh = torch.linalg.svd(self._matrix(weight), full_matrices=False)
        self.register_buffer("u", u)
        self.register_buffer("s", s)
        self.register_buffer("vh", vh)
        self.multiplier = nn.Parameter(torch.ones_like(s))

    @staticmethod
    def _matrix(weight: torch.Tensor) -> torch.Tensor:
        return weight.reshape(weight.shape[0], -1)

    def forward(self, original: torch.Tensor) -> torch.Tensor:
        return ((self.u * (self.s * self.multiplier)) @ self.vh).reshape(original.shape)


class SVD(Strategy):
    """Freeze the singular vectors of every linear and convolutional weight of G and D; train only
    a multiplier on each singular value (and the biases and normalisation parameters)."""

    def adapt(self, generator, discriminator):
        for network in (generator, discriminator):
            for layer in [m for m in network.modules() if isinstance(m, WEIGHT_LAYERS)]:
                parametrize.register_parametrization(layer, "weight", SingularValueScale(layer.weight.detach()))
        return generator, discriminator

    def freeze(self, generator, discriminator):
        for network in (generator, discriminator):
            for name, parameter in network.named_parameters():
                if name.endswith("parametrizations.weight.original"):
                    parameter.requires_grad_(False)
