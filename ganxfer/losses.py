"""Adversarial losses, penalties on the discriminator and distance terms for the generator.

Every function takes logits or rows and returns a scalar to minimise. The Objective puts them
together as the run's config asks, so the training loop makes two calls per step.
"""

from typing import Callable, NamedTuple

import torch
from torch.nn.functional import relu, softplus

from ganxfer.errors import UserError


class Loss(NamedTuple):
    discriminator: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (real logits, fake logits)
    generator: Callable[[torch.Tensor], torch.Tensor]  # (fake logits)


LOSSES = {
    # Non-saturating cross-entropy (Goodfellow et al. 2014):
    #   L_D = E softplus(-D(x)) + E softplus(D(G(z)))      L_G = E softplus(-D(G(z)))
    "ns": Loss(lambda real, fake: softplus(-real).mean() + softplus(fake).mean(),
               lambda fake: softplus(-fake).mean()),
    # Hinge (Lim & Ye 2017; Miyato et al. 2018):
    #   L_D = E relu(1 - D(x)) + E relu(1 + D(G(z)))       L_G = -E D(G(z))
    "hinge": Loss(lambda real, fake: relu(1 - real).mean() + relu(1 + fake).mean(),
                  lambda fake: -fake.mean()),
    # Wasserstein critic (Arjovsky et al. 2017), used with the gradient penalty (Gulrajani et al. 2017):
    #   L_D = E D(G(z)) - E D(x)                           L_G = -E D(G(z))
    "wgan_gp": Loss(lambda real, fake: fake.mean() - real.mean(),
                    lambda fake: -fake.mean()),
    # Least squares (Mao et al. 2017), targets 1 for real and 0 for fake:
    #   L_D = E (D(x) - 1)^2 / 2 + E D(G(z))^2 / 2         L_G = E (D(G(z)) - 1)^2 / 2
    "lsgan": Loss(lambda real, fake: ((real - 1) ** 2).mean() / 2 + (fake ** 2).mean() / 2,
                  lambda fake: ((fake - 1) ** 2).mean() / 2),
}


def get(name: str) -> Loss:
    if name not in LOSSES:
        raise UserError(f"unknown loss {name!r}; available: {', '.join(LOSSES)}")
    return LOSSES[name]


def squared_gradient_norm(outputs: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """||d outputs_i / d inputs_i||^2 per row, kept differentiable so it can be a penalty."""
    (gradient,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return gradient.flatten(1).pow(2).sum(1)


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): E ||grad_x D(x)||^2 on real rows (weighted by gamma / 2 by the
    caller). `real` must have requires_grad set before D(real) was computed."""
    return squared_gradient_norm(real_logits, real).mean()


def gradient_penalty(discriminator, real, fake, rng: torch.Generator) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E (||grad D(x_hat)|| - 1)^2 at random points x_hat on the
    lines between real and fake rows."""
    mix = torch.rand(len(real), *[1] * (real.dim() - 1), generator=rng, device=real.device)
    between = (mix * real + (1 - mix) * fake).requires_grad_(True)
    norm = (squared_gradient_norm(discriminator(between), between) + 1e-12).sqrt()
    return ((norm - 1) ** 2).mean()


def covariance(rows: torch.Tensor) -> torch.Tensor:
    centred = rows - rows.mean(0)
    return centred.T @ centred / (len(rows) - 1)


class Moments:
    """Mean and covariance of the real rows, computed once, and a generator term that pulls a fake
    batch's mean and covariance onto them:

        euclidean:    ||mu_f - mu_r||^2 + ||S_f - S_r||_F^2
        mahalanobis:  (mu_f - mu_r)^T S^-1 (mu_f - mu_r) + ||W (S_f - S_r) W^T||_F^2,

    where S = S_r + ridge * I (regularised so that constant columns keep it invertible) and
    W = L^-1 for the Cholesky factor S = L L^T, so that W^T W = S^-1.
    """

    def __init__(self, real: torch.Tensor, distance: str = "euclidean", ridge: float = 1e-3):
        if distance not in ("euclidean", "mahalanobis"):
            raise UserError(f"loss.moment_distance={distance!r}; choose euclidean or mahalanobis")
        self.mean, self.cov = real.mean(0), covariance(real)
        self.whitening = None
        if distance == "mahalanobis":
            regularised = self.cov + ridge * torch.eye(len(self.cov), device=real.device)
            self.whitening = torch.linalg.inv(torch.linalg.cholesky(regularised))

    def distance(self, fake: torch.Tensor) -> torch.Tensor:
        mean_gap, cov_gap = fake.mean(0) - self.mean, covariance(fake) - self.cov
        if self.whitening is not None:
            mean_gap = self.whitening @ mean_gap
            cov_gap = self.whitening @ cov_gap @ self.whitening.T
        return mean_gap.pow(2).sum() + cov_gap.pow(2).sum()
