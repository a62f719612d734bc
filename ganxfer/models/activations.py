"""The generator's last activation, applied block by block of the data layout (see
ganxfer.data.schema): tanh for scaled numbers, a Gumbel-softmax for each one-hot block."""

import torch
import torch.nn.functional as F
from torch import nn


class BlockActivation(nn.Module):
    """tanh for ("tanh", width) blocks. For each ("softmax", width) block, the Gumbel-softmax of
    Jang et al. 2017 (the formula of torch.nn.functional.gumbel_softmax): while training, the
    soft and differentiable softmax((logits + g) / tau); when sampling (eval mode), the exact
    one-hot of argmax(logits + g), which is a draw from softmax(logits) — so each sampled row
    holds exactly one of the categories seen in training, at the learnt rates.

    The Gumbel noise g is not drawn here but made from extra latent inputs, `noise_dim`
    standard normal numbers: the generator stays a function of its input z alone, so a seed
    reproduces samples and a resumed run continues exactly, on any device."""

    def __init__(self, layout: list[tuple[str, int]], tau: float = 0.2):
        super().__init__()
        self.blocks = _merge_adjacent_tanh(layout)
        self.tau = tau
        self.width = sum(width for _, width in self.blocks)
        self.noise_dim = sum(width for kind, width in self.blocks if kind == "softmax")

    def forward(self, logits: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        gumbel = iter(gumbel_from_normal(noise).split(self._softmax_widths(), dim=1))
        outputs = [torch.tanh(part) if kind == "tanh" else self._one_hot(part + next(gumbel))
                   for (kind, _), part in zip(self.blocks, logits.split(self._widths(), dim=1))]
        return torch.cat(outputs, dim=1)

    def _one_hot(self, perturbed: torch.Tensor) -> torch.Tensor:
        if self.training:
            return torch.softmax(perturbed / self.tau, dim=1)
        return F.one_hot(perturbed.argmax(dim=1), perturbed.shape[1]).to(perturbed.dtype)

    def _widths(self) -> list[int]:
        return [width for _, width in self.blocks]

    def _softmax_widths(self) -> list[int]:
        return [width for kind, width in self.blocks if kind == "softmax"]


def gumbel_from_normal(noise: torch.Tensor) -> torch.Tensor:
    """Standard Gumbel numbers from standard normal ones by inverting CDFs: u = Phi(z) is
    uniform and -log(-log u) is Gumbel. log_ndtr keeps the tails finite in float32."""
    return -torch.log((-torch.special.log_ndtr(noise)).clamp_min(torch.finfo(noise.dtype).tiny))


def _merge_adjacent_tanh(layout) -> list[tuple[str, int]]:
    """Neighbouring tanh blocks act as one: fewer, larger operations. Softmax blocks stay apart."""
    merged: list[tuple[str, int]] = []
    for kind, width in layout:
        if kind not in ("tanh", "softmax"):
            raise ValueError(f"unknown output block {kind!r}")
        if kind == "tanh" and merged and merged[-1][0] == "tanh":
            merged[-1] = ("tanh", merged[-1][1] + width)
        elif width > 0:
            merged.append((kind, width))
    return merged
