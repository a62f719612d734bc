"""What the discriminator and the generator minimise at each step: the adversarial loss plus
the penalties and distance terms the `loss` settings switch on, plus any regularisers a transfer
strategy adds. Built once per run; the training loop calls it twice per step."""

from typing import Callable

import torch

from ganxfer import losses
from ganxfer.augment import Augment
from ganxfer.settings import Loss

Penalty = Callable[[], torch.Tensor]


class Objective:
    def __init__(self, loss: Loss, real_rows: torch.Tensor | None, total_steps: int, rng: torch.Generator):
        self.settings = loss
        self.loss = losses.get(loss.name)
        self.total_steps, self.rng = total_steps, rng
        self.moments = None
        if loss.moment_matching > 0:  # the only use of the real rows (None without it)
            self.moments = losses.Moments(real_rows, loss.moment_distance)
        self.augment: Augment | None = None
        # Regularisers from a transfer strategy (L2-SP, EWC): each returns a weighted scalar.
        self.d_penalties: list[Penalty] = []
        self.g_penalties: list[Penalty] = []

    def discriminator(self, discriminator, real, fake, step: int) -> torch.Tensor:
        settings = self.settings
        real_in, fake_in = self._d_inputs(real, step), self._d_inputs(fake, step)
        lazy_r1 = settings.r1_gamma > 0 and step % settings.r1_every == 0
        if lazy_r1:
            real_in = real_in.detach().requires_grad_(True)
        real_logits = discriminator(real_in)
        if self.augment is not None:
            self.augment.observe(real_logits)
        total = self.loss.discriminator(real_logits, discriminator(fake_in))
        if lazy_r1:
            # Applied every r1_every steps, so scaled by r1_every (lazy regularisation, Karras et al. 2020).
            total = total + settings.r1_gamma / 2 * settings.r1_every * losses.r1_penalty(real_logits, real_in)
        if settings.gp_weight > 0:
            total = total + settings.gp_weight * losses.gradient_penalty(
                discriminator, real_in.detach(), fake_in.detach(), self.rng)
        return total + sum(penalty() for penalty in self.d_penalties)

    def generator(self, discriminator, real, fake, step: int) -> torch.Tensor:
        settings = self.settings
        total = torch.zeros((), device=fake.device)
        if settings.adversarial_weight > 0:
            total = total + settings.adversarial_weight * self.loss.generator(discriminator(self._d_inputs(fake, step)))
        if settings.feature_matching > 0:
            # Salimans et al. 2016: match the mean of D's penultimate features on real and fake rows.
            real_features = discriminator.features(self._d_inputs(real, step)).mean(0).detach()
            fake_features = discriminator.features(self._d_inputs(fake, step)).mean(0)
            total = total + settings.feature_matching * (real_features - fake_features).pow(2).sum()
        if self.moments is not None:
            total = total + settings.moment_matching * self.moments.distance(fake)
        return total + sum(penalty() for penalty in self.g_penalties)

    def _d_inputs(self, rows: torch.Tensor, step: int) -> torch.Tensor:
        """What D sees: augmented rows, plus instance noise whose scale decays linearly to zero."""
        if self.augment is not None:
            rows = self.augment(rows)
        scale = self.settings.instance_noise * max(0.0, 1 - step / self.total_steps)
        if scale > 0:
            rows = rows + scale * torch.randn(rows.shape, generator=self.rng, device=rows.device)
        return rows
