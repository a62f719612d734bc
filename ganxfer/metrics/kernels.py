"""Kernel two-sample distances: unbiased MMD² with the polynomial kernel of KID and with an RBF kernel,
averaged over random subsets so that a spread comes with the estimate."""

from functools import partial

import numpy as np
import torch


def mmd2_unbiased(real: np.ndarray, fake: np.ndarray, kernel) -> float:
    """Unbiased squared maximum mean discrepancy (Gretton et al. 2012, eq. 3) between rows x (n) and y (m):

        MMD² = 1/(n(n-1)) Σ_{i≠j} k(x_i, x_j) + 1/(m(m-1)) Σ_{i≠j} k(y_i, y_j) - 2/(nm) Σ_{i,j} k(x_i, y_j)

    Leaving out the diagonal makes it unbiased: it is zero on average, and sometimes negative,
    when both samples come from one distribution."""
    def within(rows):
        k = kernel(rows, rows)
        return (k.sum() - np.trace(k)) / (len(rows) * (len(rows) - 1))

    return float(within(real) + within(fake) - 2 * kernel(real, fake).mean())


def mmd2_over_subsets(real, fake, kernel, subset_size: int = 1000, subsets: int = 50,
                      seed: int = 0) -> tuple[float, float]:
    """Mean and standard deviation of mmd2_unbiased over random subsets (Bińkowski et al. 2018).
    A subset takes at most half of each sample, so that subsets differ and their spread means
    something even when the samples are small; its cost is quadratic in subset_size only."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    size = max(2, min(subset_size, len(real) // 2, len(fake) // 2))
    rng = np.random.default_rng(seed)
    values = [mmd2_unbiased(real[rng.choice(len(real), size, replace=False)],
                            fake[rng.choice(len(fake), size, replace=False)], kernel)
              for _ in range(subsets)]
    return float(np.mean(values)), float(np.std(values))


def polynomial_kernel(a: np.ndarray, b: np.ndarray, degree: int, gamma: float, coef0: float) -> np.ndarray:
    """k(x, y) = (gamma x·y + coef0)^degree for every row x of a and y of b: scikit-learn's
    polynomial_kernel, step for step, so its values are the same to the last bit."""
    kernel = a @ b.T
    kernel *= gamma
    kernel += coef0
    kernel **= degree
    return kernel


def rbf_kernel(a: np.ndarray, b: np.ndarray, gamma: float) -> np.ndarray:
    """k(x, y) = exp(-gamma ||x - y||²) for every row x of a and y of b: scikit-learn's rbf_kernel
    step for step (||x||² - 2 x·y + ||y||², clipped at 0; exactly 0 on the diagonal of a against
    itself), so its values are the same to the last bit, without importing scikit-learn."""
    a_squared = np.einsum("ij,ij->i", a, a)[:, None]
    b_squared = a_squared.T if b is a else np.einsum("ij,ij->i", b, b)[None, :]
    distances = -2 * (a @ b.T)
    distances += a_squared
    distances += b_squared
    np.maximum(distances, 0, out=distances)
    if b is a:
        np.fill_diagonal(distances, 0)
    distances *= -gamma
    return np.exp(distances, out=distances)


def kid_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The cubic polynomial kernel of KID: k(x, y) = (x·y / d + 1)³, d the number of columns."""
    return polynomial_kernel(a, b, degree=3, gamma=1.0 / a.shape[1], coef0=1.0)


def kid(real: np.ndarray, fake: np.ndarray, subset_size: int = 1000, subsets: int = 50,
        seed: int = 0) -> dict:
    """Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs") in the given feature
    space: unbiased MMD² with kid_kernel, averaged over subsets. Ideal 0."""
    mean, std = mmd2_over_subsets(real, fake, kid_kernel, subset_size, subsets, seed)
    return {"kid": mean, "kid_std": std}


def median_distance(rows: np.ndarray, sample: int = 1000, seed: int = 0) -> float:
    """Median pairwise distance (the median heuristic for an RBF bandwidth), over at most `sample`
    rows: the median settles long before the quadratic number of pairs gets expensive."""
    rows = rows[np.random.default_rng(seed).permutation(len(rows))[:sample]]
    # torch.pdist, not scipy's: the same differences of rows, and every stage has torch imported
    # already, where scipy.spatial would cost a training run's evaluation a tenth of a second.
    distances = torch.pdist(torch.from_numpy(np.asarray(rows, np.float64))).numpy()
    return float(np.median(distances)) or 1.0  # all rows equal: any bandwidth will do


# mmd2_rbf's subsets: few enough to follow during training (well under a second), and the same
# in `evaluate`, so that the metric of that name is one estimate wherever it is reported.
MMD_SUBSETS = 10


def mmd2_rbf(real: np.ndarray, fake: np.ndarray, bandwidth: float | None = None,
             subset_size: int = 1000, subsets: int = MMD_SUBSETS, seed: int = 0) -> dict:
    """Unbiased MMD² (Gretton et al. 2012) with the RBF kernel k(a, b) = exp(-||a - b||² / (2 s²)),
    averaged over subsets; s defaults to the median distance between pooled rows. Ideal 0."""
    if bandwidth is None:
        bandwidth = median_distance(np.concatenate([real, fake]), seed=seed)
    kernel = partial(rbf_kernel, gamma=1.0 / (2 * bandwidth**2))
    mean, std = mmd2_over_subsets(real, fake, kernel, subset_size, subsets, seed)
    return {"mmd2_rbf": mean, "mmd2_rbf_std": std}
