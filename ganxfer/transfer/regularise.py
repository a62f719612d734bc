"""Strategies that train everything but pull the weights back toward the source's."""

import torch

from ganxfer.settings import Transfer
from ganxfer.transfer.base import Strategy


def _snapshot(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in network.named_parameters() if value.requires_grad}


def _squared_distances(network: torch.nn.Module, anchors: dict[str, torch.Tensor]):
    for name, value in network.named_parameters():
        if name in anchors:
            yield name, (value - anchors[name]) ** 2


def _mean_squared_distance(network: torch.nn.Module, anchors: dict[str, torch.Tensor],
                           shared: dict[str, torch.Tensor]):
    """Sum over weight tensors of the mean squared distance to the anchor, each mean taken over
    the weights that have a source counterpart (all of them, unless transfer.remap added some)."""
    return sum(_mean_over(gap, shared.get(name)) for name, gap in _squared_distances(network, anchors))


def _mean_over(gap: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return gap.mean() if mask is None else (gap * mask).sum() / mask.sum().clamp_min(1)


class L2SP(Strategy):
    """L2-SP (Li, Grandvalet & Davoine 2018): penalise the distance to the starting point,

        lambda_G * sum_tensors mean((theta - theta_src)^2), and lambda_D likewise for D.

    With transfer.remap=true the weights of new columns have no source value to return to:
    they are left free, and each mean runs over the carried-over weights only."""

    def __init__(self, settings: Transfer):
        super().__init__(settings)
        self.anchors: dict[str, torch.Tensor] = {}

    def regularise(self, objective, generator, discriminator, batch_size):
        if not self.anchors:  # a resumed run has them from its checkpoint
            self.anchors = {**_prefixed("g.", _snapshot(generator)), **_prefixed("d.", _snapshot(discriminator))}
        g_anchors, d_anchors = _unprefixed("g.", self.anchors), _unprefixed("d.", self.anchors)
        device = next(generator.parameters()).device
        self.shared = {name: mask.to(device) for name, mask in self.shared.items()}
        g_shared, d_shared = _unprefixed("g.", self.shared), _unprefixed("d.", self.shared)
        if self.settings.lambda_g > 0:
            objective.g_penalties.append(
                lambda: self.settings.lambda_g * _mean_squared_distance(generator, g_anchors, g_shared))
        if self.settings.lambda_d > 0:
            objective.d_penalties.append(
                lambda: self.settings.lambda_d * _mean_squared_distance(discriminator, d_anchors, d_shared))

    def state_dict(self):
        return {**self.anchors, **_prefixed("shared.", self.shared)}

    def load_state_dict(self, state):
        self.anchors = {name: value for name, value in state.items() if not name.startswith("shared.")}
        self.shared = _unprefixed("shared.", state)


class EWC(Strategy):
    """Elastic weight consolidation for few-shot GANs (Li et al. 2020): weights that mattered to
    the source generator are held close to their source values,

        penalty = lambda * sum_i F_i (theta_i - theta_src_i)^2,
        F_i = mean over `fisher_batches` batches of (d L_G / d theta_i)^2,

    with L_G the generator's adversarial loss against the source D on the source G's own samples.
    (The gradients are squared: the Fisher information is their second moment.) The outputs of
    categories new to the target (transfer.categories) meant nothing to the source: F_i = 0 there."""

    needs_whole_source = True  # the Fisher information is the source model's own

    def __init__(self, settings: Transfer):
        super().__init__(settings)
        self.anchors: dict[str, torch.Tensor] = {}
        self.fisher: dict[str, torch.Tensor] = {}

    def regularise(self, objective, generator, discriminator, batch_size):
        if not self.anchors:
            self.anchors = _snapshot(generator)
            fisher = fisher_information(generator, discriminator, objective.loss.generator,
                                        batch_size, self.settings.fisher_batches, objective.rng)
            self.fisher = _only_source_weights(fisher, _unprefixed("g.", self.shared))
        objective.g_penalties.append(lambda: self.settings.lambda_ewc * sum(
            (self.fisher[name] * gap).sum() for name, gap in _squared_distances(generator, self.anchors)))

    def state_dict(self):
        return {**_prefixed("anchor.", self.anchors), **_prefixed("fisher.", self.fisher)}

    def load_state_dict(self, state):
        self.anchors, self.fisher = _unprefixed("anchor.", state), _unprefixed("fisher.", state)


def fisher_information(generator, discriminator, generator_loss, batch_size: int, batches: int,
                       rng: torch.Generator) -> dict[str, torch.Tensor]:
    """Diagonal empirical Fisher information of G's trainable weights (see EWC)."""
    parameters = {name: value for name, value in generator.named_parameters() if value.requires_grad}
    fisher = {name: torch.zeros_like(value) for name, value in parameters.items()}
    device = next(generator.parameters()).device
    for _ in range(batches):
        z = torch.randn(batch_size, generator.z_dim, generator=rng, device=device)
        loss = generator_loss(discriminator(generator(z)))
        gradients = torch.autograd.grad(loss, list(parameters.values()))
        for name, gradient in zip(parameters, gradients):
            fisher[name] += gradient.detach() ** 2 / batches
    return fisher


def _only_source_weights(fisher: dict[str, torch.Tensor], shared: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Fisher information zeroed where a weight is new (shared mask 0): nothing holds it in place."""
    return {name: value * shared[name].to(value.device) if name in shared else value
            for name, value in fisher.items()}


def _prefixed(prefix: str, tensors: dict) -> dict:
    return {prefix + name: value for name, value in tensors.items()}


def _unprefixed(prefix: str, tensors: dict) -> dict:
    return {name[len(prefix):]: value for name, value in tensors.items() if name.startswith(prefix)}
