"""Differentiable augmentation of everything the discriminator sees, real and fake alike, in both
the D and the G step, so that D cannot memorise a few target rows (DiffAugment, Zhao et al. 2020;
ADA, Karras et al. 2020). Each row is augmented with probability p; with `adaptive`, p follows
ADA's overfitting signal r = E[sign D(real)], rising while r is above `r_target` and falling below."""

from dataclasses import replace

import torch
from torch.nn.functional import pad

from ganxfer import distributed
from ganxfer.errors import UserError
from ganxfer.settings import Augment as AugmentSettings


def for_data(settings: AugmentSettings, shape) -> AugmentSettings | None:
    """The augmentation a run on this data takes, None for none: `auto` (the finetune's default)
    is image augmentation when rows are images (the schema has an image shape) and none on
    tables, where no augmentation measured won (docs/transfer.md)."""
    if settings.name == "auto":
        return replace(settings, name="image") if shape is not None else None
    return None if settings.name == "none" else settings


class Augment:
    def __init__(self, settings: AugmentSettings, shape, rng: torch.Generator, device):
        if settings.name == "image" and shape is None:
            raise UserError("augment=image needs image rows, and these are a table: a pretrain reads images "
                            "with data.shape=[H,W] or [C,H,W]; a finetune's rows are images when its source's are")
        self.settings, self.rng = settings, rng
        self.shape = None if shape is None else ([1, *shape] if len(shape) == 2 else list(shape))
        self.p = torch.tensor(float(settings.p), device=device)
        self.sign_sum, self.observed = torch.zeros((), device=device), 0

    def __call__(self, rows: torch.Tensor) -> torch.Tensor:
        chosen = (self._uniform(len(rows)) < self.p).to(rows.dtype)[:, None]
        augmented = self._images(rows) if self.settings.name == "image" else self._table(rows)
        return chosen * augmented + (1 - chosen) * rows

    def observe(self, real_logits: torch.Tensor) -> None:
        """Adjust p every `interval` D steps; all on the device, so the GPU never waits."""
        if not self.settings.adaptive:
            return
        # With several ranks, the signal of all their real batches: every rank holds the same
        # sum and p, and so does the checkpoint that rank 0 writes.
        self.sign_sum += distributed.mean(real_logits.detach().sign().mean())
        self.observed += 1
        if self.observed == self.settings.interval:
            overfitting = self.sign_sum / self.observed
            self.p = (self.p + torch.sign(overfitting - self.settings.r_target) * self.settings.speed).clamp(0, 1)
            self.sign_sum, self.observed = torch.zeros_like(self.sign_sum), 0

    def state_dict(self) -> dict:
        return {"p": self.p, "sign_sum": self.sign_sum, "observed": self.observed}

    def load_state_dict(self, state: dict) -> None:
        self.p, self.sign_sum, self.observed = state["p"], state["sign_sum"], state["observed"]

    def _uniform(self, *size) -> torch.Tensor:
        return torch.rand(*size, generator=self.rng, device=self.p.device)

    def _table(self, rows):
        """Jitter every value; drop features to the middle of their range (0 after scaling)."""
        noise = torch.randn(rows.shape, generator=self.rng, device=rows.device) * self.settings.jitter
        kept = (self._uniform(*rows.shape) >= self.settings.dropout).to(rows.dtype)
        return (rows + noise) * kept

    def _images(self, rows):
        images = rows.reshape(len(rows), *self.shape)
        images = images + (self._uniform(len(rows), 1, 1, 1) - 0.5) * 2 * self.settings.brightness
        images = self._translate(images)
        images = self._cutout(images)
        return images.reshape(len(rows), -1)

    def _translate(self, images):
        """Shift each image by up to `translation` of its size, filling with the background (-1)."""
        n, _, height, width = images.shape
        reach_y, reach_x = int(height * self.settings.translation + 0.5), int(width * self.settings.translation + 0.5)
        shift_y = (self._uniform(n, 1, 1) * (2 * reach_y + 1)).long() - reach_y
        shift_x = (self._uniform(n, 1, 1) * (2 * reach_x + 1)).long() - reach_x
        rows = (torch.arange(height, device=images.device)[None, :, None] + shift_y + 1).clamp(0, height + 1)
        cols = (torch.arange(width, device=images.device)[None, None, :] + shift_x + 1).clamp(0, width + 1)
        padded = pad(images + 1, [1, 1, 1, 1]) - 1  # a border of -1, the scaled minimum
        batch = torch.arange(n, device=images.device)[:, None, None]
        return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)

    def _cutout(self, images):
        """Blank a square of side `cutout` x the image size at a random place in each image."""
        n, _, height, width = images.shape
        side_y, side_x = int(height * self.settings.cutout + 0.5), int(width * self.settings.cutout + 0.5)
        top = (self._uniform(n, 1, 1) * (height + 1 - side_y)).long()
        left = (self._uniform(n, 1, 1) * (width + 1 - side_x)).long()
        ys = torch.arange(height, device=images.device)[None, :, None]
        xs = torch.arange(width, device=images.device)[None, None, :]
        inside = (ys >= top) & (ys < top + side_y) & (xs >= left) & (xs < left + side_x)
        return torch.where(inside[:, None], torch.full_like(images, -1.0), images)
