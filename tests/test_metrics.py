import numpy as np
import pytest

from ganxfer.metrics import c2st_accuracy, frechet_distance, mmd2_rbf


@pytest.fixture
def samples():
    rng = np.random.default_rng(0)
    same_a, same_b = rng.normal(size=(400, 4)), rng.normal(size=(400, 4))
    shifted = rng.normal(size=(400, 4)) + np.array([3.0, 0, 0, 0])
    return same_a, same_b, shifted


def test_frechet_distance_matches_the_gaussian_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (20000, 1))
    b = rng.normal(2, 3, (20000, 1))
    # 1-D: (mu1 - mu2)^2 + (s1 - s2)^2 = 4 + 4
    assert frechet_distance(a, b) == pytest.approx(8.0, rel=0.05)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_tolerates_constant_columns(samples):
    a, b, _ = samples
    a, b = np.c_[a, np.zeros(len(a))], np.c_[b, np.zeros(len(b))]
    assert np.isfinite(frechet_distance(a, b))


def test_metrics_separate_matched_from_mismatched(samples):
    a, b, shifted = samples
    assert frechet_distance(a, b) < 0.1 < 1.0 < frechet_distance(a, shifted)
    assert abs(mmd2_rbf(a, b)) < 0.01 < mmd2_rbf(a, shifted)
    assert c2st_accuracy(a, b) < 0.6 < 0.85 < c2st_accuracy(a, shifted)


def test_mmd_is_unbiased_around_zero_for_identical_distributions():
    rng = np.random.default_rng(1)
    values = [mmd2_rbf(rng.normal(size=(100, 2)), rng.normal(size=(100, 2))) for _ in range(20)]
    assert min(values) < 0 < max(values)  # a biased estimator would never go below zero
    assert abs(np.mean(values)) < 0.005
