"""The multilayer perceptron GAN: the default network, sized for tabular rows and small images."""

from torch import nn

from ganxfer.models.activations import BlockActivation


class Generator(nn.Module):
    """z -> [Linear -> BatchNorm -> ReLU] x layers -> Linear -> BlockActivation (tanh for
    numbers, Gumbel-softmax for one-hot blocks). z has latent_dim inputs for the body, then
    output_activation.noise_dim more that become the Gumbel noise of the one-hot blocks."""

    def __init__(self, z_dim: int, hidden: int, layers: int, layout: list[tuple[str, int]], tau: float = 0.2):
        super().__init__()
        self.output_activation = BlockActivation(layout, tau)
        self.latent_dim = z_dim
        self.z_dim = z_dim + self.output_activation.noise_dim  # what the training loop and generate() draw
        blocks, width = [], z_dim
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU()]
            width = hidden
        self.net = nn.Sequential(*blocks, nn.Linear(width, self.output_activation.width))

    def forward(self, z):
        latent, noise = z.split([self.latent_dim, self.output_activation.noise_dim], dim=1)
        return self.output_activation(self.net(latent), noise)


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
