"""The multilayer perceptron GAN: the default network, sized for tabular rows and small images."""

from torch import nn


class Generator(nn.Module):
    """z -> [Linear -> BatchNorm -> ReLU] x layers -> Linear -> tanh (the data are scaled to [-1, 1])."""

    def __init__(self, z_dim: int, hidden: int, layers: int, out_dim: int):
        super().__init__()
        self.z_dim = z_dim
        blocks, width = [], z_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU()]
            width = hidden
        self.net = nn.Sequential(*blocks, nn.Linear(width, out_dim), nn.Tanh())

    def forward(self, z):
        return self.net(z)


class Discriminator(nn.Module):
    """x -> [Linear -> LeakyReLU(0.2)] x layers -> Linear -> one logit per row."""

    def __init__(self, in_dim: int, hidden: int, layers: int):
        super().__init__()
        blocks, width = [], in_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(width, 1)

    def features(self, x):
        """The penultimate layer, for feature matching and feature-space metrics."""
        return self.body(x)

    def forward(self, x):
        return self.head(self.body(x)).squeeze(1)
