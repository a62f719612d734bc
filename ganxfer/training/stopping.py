"""trainer.steps=auto for a pretrain: the run ends when a signal read from its training rows alone
stops improving. The held-out rows score the run; a rule that read them would choose its length
by the score it is judged on.

The signal is the Fréchet distance, in the run's own encoding, between a fixed seeded subset of
the training rows and as many rows of the sampling generator (the same z at every check). Every
CHECK_EVERY steps the rule notes it; the run stops at the first check, from FLOOR steps on, that
makes PATIENCE checks in a row without a gain of MARGIN (relative) on the best value so far, and
at CEILING steps whatever the signal does. The numbers were chosen on tables the peer benchmark
does not score (docs/training.md, `benchmarks/auto_steps.py`)."""

import math
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch

from ganxfer import metrics, models
from ganxfer.data import Schema
from ganxfer.data.rows import Rows
from ganxfer.errors import UserError
from ganxfer.training.loop import GAN, device_of
from ganxfer.training.plan import MOST_STEPS

CHECK_EVERY = 125
MARGIN = 0.01
PATIENCE = 2
FLOOR = 1000
CEILING = MOST_STEPS  # today's fixed default: auto never trains longer
SIGNAL_ROWS = 2000  # training rows the signal compares with, at most: a bounded cost on a large file


@dataclass
class Plateau:
    """The stopping rule and where it stands; saved in every checkpoint of an auto run, so that
    a resumed run goes on toward the same rule from the same state."""

    every: int
    margin: float
    patience: int
    floor: int
    ceiling: int
    best: float = math.inf
    best_step: int = 0
    checks_without_gain: int = 0
    value: float = math.nan  # the latest check's
    stopped_at: int | None = None

    @classmethod
    def default(cls) -> "Plateau":
        return cls(CHECK_EVERY, MARGIN, PATIENCE, FLOOR, CEILING)

    def is_check(self, step: int) -> bool:
        return step % self.every == 0

    def check(self, step: int, value: float) -> bool:
        """Notes the signal at a check step; whether the run stops after this step."""
        self.value = value
        if value < self.best * (1 - self.margin):  # a NaN is no gain
            self.best, self.best_step, self.checks_without_gain = value, step, 0
        else:
            self.checks_without_gain += 1
        if step >= self.floor and self.checks_without_gain >= self.patience:
            self.stopped_at = step
        return self.stopped_at is not None

    def outcome(self, last_step: int) -> dict:
        """Where and why the run ended, for metrics.json and the run's log."""
        if self.stopped_at is not None:
            why = (f"no gain of {self.margin:.0%} on its best for {self.patience} checks "
                   f"{self.every} steps apart")
        else:
            why = f"reached the ceiling of {self.ceiling} steps"
        return {"signal": "fd on training rows", "step": last_step, "fd": self.value, "best_fd": self.best,
                "best_step": self.best_step, "why": why}

    def state_dict(self) -> dict:
        return asdict(self)


def auto_rule(setting, stage: str, rows: Rows, resumed: dict | None) -> Plateau | None:
    """The rule of a pretrain with trainer.steps=auto on rows in memory (a resumed run's, as its
    checkpoint left it); None for any other run, whose length is trainer.steps resolved by
    plan.total_steps (streamed rows included: they keep no fixed subset to compare with)."""
    if setting != "auto" or stage != "pretrain" or rows.held() is None:
        return None
    saved = (resumed or {}).get("stopping")
    if saved is None:
        return Plateau.default()
    rule = Plateau(**saved)
    if rule.stopped_at is not None:
        raise UserError(f"this run stopped by trainer.steps=auto at step {rule.stopped_at} (training fd "
                        f"{rule.value:.4g}, best {rule.best:.4g} at step {rule.best_step}): give trainer.steps "
                        f"above {rule.stopped_at} to train it further")
    return rule


def training_fd(gan: GAN, schema: Schema, rows: Rows, labels: torch.Tensor | None,
                seed: int) -> Callable[[], float]:
    """The signal: FD between SIGNAL_ROWS training rows drawn by `seed` (with their labels, for a
    conditional model) and as many rows of the sampling generator, on the same z each time,
    decoded and encoded again by the schema as the run's evaluation sees its rows."""
    picked = np.sort(np.random.default_rng(seed).permutation(len(rows))[:SIGNAL_ROWS])
    real = rows.held()[torch.from_numpy(picked)].cpu().numpy()
    picked_labels = None if labels is None else labels[torch.from_numpy(picked).to(labels.device)]

    def fd() -> float:
        generator = gan.sampler
        was_training = generator.training
        generated = models.generate(generator, len(real), seed, device_of(generator), labels=picked_labels).numpy()
        generator.train(was_training)
        return metrics.frechet_distance(real, schema.transform(schema.inverse(generated)))

    return fd
