import numpy as np
import pandas as pd
import pytest
import torch
from scipy.spatial.distance import mahalanobis

from conftest import TINY, build_model, load_last
from ganxfer import losses

# Logits between the least-squares targets (0 fake, 1 real), where every loss is still learning.
REAL = torch.tensor([0.2, 0.5, 0.4])
FAKE = torch.tensor([0.6, 0.3, 0.5])


@pytest.mark.parametrize("name", list(losses.LOSSES))
def test_discriminator_loss_falls_as_it_separates_better(name):
    loss = losses.get(name).discriminator
    assert loss(REAL + 0.1, FAKE - 0.1) < loss(REAL, FAKE) < loss(REAL - 0.1, FAKE + 0.1)
    real, fake = REAL.clone().requires_grad_(True), FAKE.clone().requires_grad_(True)
    loss(real, fake).backward()
    assert (real.grad <= 0).all() and (fake.grad >= 0).all() and real.grad.abs().sum() > 0


@pytest.mark.parametrize("name", list(losses.LOSSES))
def test_generator_loss_falls_as_fakes_score_higher(name):
    loss = losses.get(name).generator
    assert loss(FAKE + 0.1) < loss(FAKE)
    fake = FAKE.clone().requires_grad_(True)
    loss(fake).backward()
    assert (fake.grad < 0).all()


def linear_critic(weight: torch.Tensor) -> torch.nn.Module:
    critic = torch.nn.Linear(len(weight), 1, bias=False)
    critic.weight.data = weight[None].clone()
    return critic


def test_gradient_penalty_is_zero_for_a_unit_gradient_and_positive_otherwise():
    rng = torch.Generator().manual_seed(0)
    real, fake = torch.randn(32, 3, generator=rng), torch.randn(32, 3, generator=rng)
    unit = linear_critic(torch.tensor([0.6, 0.8, 0.0]))
    steep = linear_critic(torch.tensor([1.2, 1.6, 0.0]))  # gradient norm 2
    assert losses.gradient_penalty(unit, real, fake, rng).item() == pytest.approx(0.0, abs=1e-6)
    assert losses.gradient_penalty(steep, real, fake, rng).item() == pytest.approx(1.0, rel=1e-5)


def test_r1_matches_a_hand_computation():
    real = torch.tensor([[1.0, 2.0], [0.0, -1.0]], requires_grad=True)
    logits = (real ** 2).sum(1)  # D(x) = ||x||^2, so grad = 2x and ||grad||^2 = 4 ||x||^2
    expected = (4 * (5 + 1)) / 2
    assert losses.r1_penalty(logits, real).item() == pytest.approx(expected)


def test_mahalanobis_moments_equal_a_numpy_reference():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(200, 3)) @ np.array([[2.0, 0, 0], [0.5, 1, 0], [0, 0, 0.3]])
    fake = rng.normal(size=(64, 3)) + 0.4
    moments = losses.Moments(torch.tensor(real), "mahalanobis", ridge=1e-3)
    covariance = np.cov(real, rowvar=False) + 1e-3 * np.eye(3)
    precision = np.linalg.inv(covariance)
    whitening = np.linalg.inv(np.linalg.cholesky(covariance))
    gap = whitening @ (np.cov(fake, rowvar=False) - np.cov(real, rowvar=False)) @ whitening.T
    expected = mahalanobis(fake.mean(0), real.mean(0), precision) ** 2 + (gap ** 2).sum()
    assert moments.distance(torch.tensor(fake)).item() == pytest.approx(expected, rel=1e-6)
    euclidean = losses.Moments(torch.tensor(real), "euclidean").distance(torch.tensor(fake)).item()
    cov_gap = np.cov(fake, rowvar=False) - np.cov(real, rowvar=False)
    assert euclidean == pytest.approx(((fake.mean(0) - real.mean(0)) ** 2).sum() + (cov_gap ** 2).sum())


def test_spectral_norm_keeps_the_top_singular_value_near_one():
    torch.manual_seed(0)
    _, discriminator = build_model({"name": "mlp", "z_dim": 4, "g_hidden": 8, "g_layers": 1,
                                     "d_hidden": 32, "d_layers": 2, "spectral_norm": True}, 16)
    for _ in range(30):  # each forward pass refines the power-iteration estimate
        discriminator(torch.randn(8, 16))
    linears = [m for m in discriminator.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 3
    for layer in linears:
        assert torch.linalg.matrix_norm(layer.weight, ord=2).item() == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("settings", [
    ["loss=ns", "loss.r1_gamma=1.0", "loss.r1_every=2", "loss.instance_noise=0.1", "model.spectral_norm=true"],
    ["loss=hinge", "loss.feature_matching=1.0", "trainer.grad_clip=1.0"],
    ["loss=wgan_gp", "trainer.d_steps=3"],
    ["loss=lsgan", "loss.moment_matching=1.0", "loss.moment_distance=mahalanobis"],
    ["loss.adversarial_weight=0", "loss.moment_matching=1.0"],
])
def test_every_loss_and_penalty_trains_with_finite_values(ganxfer, settings):
    run = ganxfer("pretrain", *TINY, *settings)
    state = load_last(run)
    assert state["step"] == 6
    for name, weight in state["networks"]["generator"].items():
        assert torch.isfinite(weight.float()).all(), name
    log = pd.read_csv(run / "train_log.csv")
    assert np.isfinite(log[["d_loss", "g_loss"]].to_numpy()).all() and np.isfinite(log["fd"].iloc[-1])
