"""Non-finite losses during training: `stop` ends the run without overwriting the last good
checkpoint and names the step; `skip` drops exactly the bad updates and carries on."""

import copy

import pytest
import torch

from conftest import build_model, settings_of
from ganxfer.errors import TrainingDiverged, UserError
from ganxfer.objective import Objective
from ganxfer.data.rows import DeviceRows
from ganxfer.training.loop import GAN, Callbacks, Schedule, StepContext, fit

STEPS = 6
LOSS = settings_of("loss", {"name": "ns", "r1_gamma": 0.0, "r1_every": 1, "gp_weight": 0.0, "instance_noise": 0.0,
                         "adversarial_weight": 1.0, "feature_matching": 0.0, "moment_matching": 0.0,
                         "moment_distance": "euclidean"})


class PoisonedAt(Objective):
    """The real objective, except that both losses are NaN at the given steps."""

    def __init__(self, bad_steps, *args):
        super().__init__(*args)
        self.bad_steps = bad_steps

    def discriminator(self, discriminator, real, fake, step):
        return self._poison(super().discriminator(discriminator, real, fake, step), step)

    def generator(self, discriminator, real, fake, step):
        return self._poison(super().generator(discriminator, real, fake, step), step)

    def _poison(self, loss, step):
        return loss * torch.nan if step in self.bad_steps else loss


class OverflowingAt(Objective):
    """The real objective, except that the generator's gradients are infinite at the given steps,
    as when fp16 gradients overflow; its loss stays finite."""

    def __init__(self, bad_steps, *args):
        super().__init__(*args)
        self.bad_steps = bad_steps

    def generator(self, discriminator, real, fake, step):
        loss = super().generator(discriminator, real, fake, step)
        if step in self.bad_steps:
            loss.register_hook(lambda gradient: gradient * torch.inf)
        return loss


def train(on_nonfinite: str, bad_steps, log_every: int = 1, steps: int = STEPS, precision: str = "32",
          objective_at=PoisonedAt) -> tuple[dict, list]:
    """`steps` steps with a checkpoint every step. Returns the saved states by step and the log rows;
    a UserError from the loop is re-raised with them attached."""
    torch.manual_seed(0)
    generator, discriminator = build_model({"name": "mlp", "z_dim": 4, "g_hidden": 8, "g_layers": 1,
                                             "d_hidden": 8, "d_layers": 1}, 3)
    gan = GAN.create(generator, discriminator, 1e-3, 1e-3, (0.5, 0.999), ema_decay=0.9)
    data = torch.rand(32, 3) * 2 - 1
    rng = torch.Generator().manual_seed(0)
    saved, log = {}, []
    schedule = Schedule(steps, batch_size=8, log_every=log_every, ckpt_every=1, on_nonfinite=on_nonfinite,
                        precision=precision)
    objective = objective_at(bad_steps, LOSS, data, steps, rng)
    try:
        def save(step: int) -> None:
            saved[step] = copy.deepcopy(gan.state_dict())

        fit(StepContext(gan, objective, rng, schedule), DeviceRows(data), Callbacks(save=save, log=log.append))
    except UserError as error:
        error.saved = saved
        raise
    return saved, log


def test_stop_names_the_step_and_keeps_the_checkpoints_before_it():
    with pytest.raises(TrainingDiverged, match="stopped being finite at step 3") as error:
        train("stop", bad_steps={3}, log_every=STEPS)
    assert "optimizer.lr_g" in str(error.value)
    # The NaN gradients of step 3 ruined the weights: no checkpoint may be written from then on.
    assert sorted(error.value.saved) == [1, 2]


def test_skip_leaves_the_weights_of_the_bad_step_untouched_and_trains_on():
    saved, log = train("skip", bad_steps={3})
    for network in ("generator", "discriminator", "ema"):
        # Weights only: BatchNorm's running statistics follow every forward pass.
        weights = [name for name in saved[2][network] if name.endswith(("weight", "bias"))]
        assert weights
        for name in weights:
            assert torch.equal(saved[2][network][name], saved[3][network][name]), f"{network}.{name} changed"
    changed = [name for name, value in saved[STEPS]["generator"].items()
               if not torch.equal(value, saved[3]["generator"][name])]
    assert changed, "training did not go on after the skipped step"
    assert all(torch.isfinite(value).all() for value in saved[STEPS]["generator"].values())
    # One discriminator and one generator update skipped, at step 3 only.
    assert [row["skipped"] for row in log] == [2 if row["step"] == 3 else 0 for row in log]


def test_skip_gives_up_after_twenty_steps_in_a_row_with_nothing_but_bad_updates():
    train("skip", bad_steps=set(range(3, 22)), steps=22)  # 19 in a row: still going
    with pytest.raises(TrainingDiverged, match="steps 3 to 22"):
        train("skip", bad_steps=set(range(3, 30)), steps=30)


def test_an_fp16_update_the_loss_scaler_skips_leaves_the_average_alone_and_is_counted():
    """The default on_nonfinite=stop lets the scaler deal with overflowing fp16 gradients: it
    skips G's update of step 3, which must then neither move G's average nor go uncounted."""
    saved, log = train("stop", bad_steps={3}, precision="fp16", objective_at=OverflowingAt)
    weights = [name for name in saved[2]["generator"] if name.endswith(("weight", "bias"))]
    assert all(torch.equal(saved[2]["generator"][name], saved[3]["generator"][name]) for name in weights)
    # The whole average, its count of updates and its copy of BatchNorm's statistics included.
    for name, value in saved[2]["ema"].items():
        assert torch.equal(value, saved[3]["ema"][name]), f"ema.{name} changed"
    assert not torch.equal(saved[3]["ema"]["updates"], saved[4]["ema"]["updates"])  # averaging goes on
    # The scaler also skips the first updates, whose gradients overflow at its starting scale of
    # 2^16: a run without the overflow of step 3 counts the same, less that one update.
    _, clean_log = train("stop", bad_steps=set(), precision="fp16", objective_at=OverflowingAt)
    skipped = {row["step"]: row["skipped"] for row in log}
    assert skipped == {row["step"]: row["skipped"] + (row["step"] == 3) for row in clean_log}
    assert skipped[3] == 1
