"""A DCGAN-style convolutional GAN (Radford et al. 2016) for rows that are images. Its size
follows the image: each side is halved while it stays even and at least 4 pixels (28 -> 14 -> 7,
8 -> 4), and each halving is one stride-2 convolution in D and one transposed convolution in G.
The training loop deals in flat rows of C*H*W pixels; the networks reshape inside."""

import torch
from torch import nn


def halvings(height: int, width: int) -> int:
    """How many times both sides can be halved, staying whole and at least 4 pixels."""
    count = 0
    while height % 2 == 0 and width % 2 == 0 and min(height, width) // 2 >= 4:
        height, width, count = height // 2, width // 2, count + 1
    return count


class Generator(nn.Module):
    """z -> Linear -> BatchNorm -> ReLU, as (channels * 2^k) maps of the smallest side ->
    [ConvTranspose2d(4, stride 2) -> BatchNorm -> ReLU] x k, halving the maps each time ->
    Conv2d(3x3) to the image channels -> tanh -> a flat row of pixels in [-1, 1]."""

    def __init__(self, z_dim: int, channels: int, shape: tuple[int, int, int]):
        super().__init__()
        self.z_dim = z_dim
        image_channels, height, width = shape
        count = halvings(height, width)
        maps = channels * 2 ** count
        self.start = (maps, height >> count, width >> count)  # the first feature maps
        units = maps * self.start[1] * self.start[2]
        self.project = nn.Sequential(nn.Linear(z_dim, units), nn.BatchNorm1d(units), nn.ReLU())
        upsample = []
        for _ in range(count):
            upsample += [nn.ConvTranspose2d(maps, maps // 2, 4, stride=2, padding=1, bias=False),
                         nn.BatchNorm2d(maps // 2), nn.ReLU()]
            maps //= 2
        self.net = nn.Sequential(*upsample, nn.Conv2d(maps, image_channels, 3, padding=1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.project(z).view(-1, *self.start)).flatten(1)


class Discriminator(nn.Module):
    """A flat row of pixels -> image -> [Conv2d(4, stride 2) -> LeakyReLU(0.2)] x k, doubling the
    maps each time -> Linear -> one logit per row. No BatchNorm: it would tie each row's logit
    to the rest of its batch, which gradient penalties assume it is not."""

    def __init__(self, channels: int, shape: tuple[int, int, int]):
        super().__init__()
        self.shape = tuple(shape)
        image_channels, height, width = shape
        count = halvings(height, width)
        # (kernel, stride) per convolution; a side that cannot be halved gets one plain convolution
        convolutions = [(4, 2)] * count if count else [(3, 1)]
        layers, maps = [], image_channels
        for step, (kernel, stride) in enumerate(convolutions):
            layers += [nn.Conv2d(maps, channels * 2 ** step, kernel, stride=stride, padding=1), nn.LeakyReLU(0.2)]
            maps = channels * 2 ** step
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Linear(maps * (height >> count) * (width >> count), 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate layer, for feature matching and feature-space metrics."""
        return self.body(x.reshape(-1, *self.shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)
