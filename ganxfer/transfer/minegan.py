"""MineGAN (Wang et al. 2020): learn where in the source generator's latent space the target lives."""

from torch import nn

from ganxfer.transfer.base import Strategy


class Miner(nn.Module):
    """z -> z' = z + MLP(z). The last layer starts at zero, so mining starts from the identity:
    the first samples are exactly the source generator's."""

    def __init__(self, z_dim: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(z_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, z_dim))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, z):
        return z + self.net(z)


class MinedGenerator(nn.Module):
    def __init__(self, miner: Miner, generator: nn.Module):
        super().__init__()
        self.miner, self.generator = miner, generator
        self.z_dim = generator.z_dim

    def forward(self, z):
        return self.generator(self.miner(z))


class MineGAN(Strategy):
    """Stage 1 (the first `mine_steps` steps) trains the miner and D with G frozen, steering
    the source's samples toward the target; stage 2 trains everything.

    G's weights stay in its optimiser throughout; in stage 1 they have requires_grad off, so
    they get no gradient and Adam leaves them exactly as they are."""

    changes_trainable_weights = True

    def adapt(self, generator, discriminator):
        return MinedGenerator(Miner(generator.z_dim, self.settings.miner_hidden), generator), discriminator

    def freeze(self, generator, discriminator):
        self.source_generator = generator.generator  # before_step freezes and thaws it

    def before_step(self, step: int) -> None:
        self.source_generator.requires_grad_(step > self.settings.mine_steps)
