"""Two-sample distances between real rows X (n x d) and synthetic rows Y (m x d)."""

import warnings

import numpy as np
from scipy import linalg
from scipy.spatial.distance import cdist
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_score


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """Fréchet distance between Gaussian fits N(mu_r, S_r) and N(mu_f, S_f) (Dowson & Landau 1982;
    the FID of Heusel et al. 2017 in whatever feature space the rows are given):

        FD = ||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2))
    """
    mu_r, mu_f = real.mean(0), fake.mean(0)
    cov_r = np.atleast_2d(np.cov(real, rowvar=False))
    cov_f = np.atleast_2d(np.cov(fake, rowvar=False))
    with warnings.catch_warnings():
        # Constant columns make the covariances singular; the root is checked just below.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(cov_r @ cov_f)
        if not np.isfinite(root).all():
            jitter = np.eye(len(cov_r)) * 1e-6  # regularise slightly, as reference FID code does
            root = linalg.sqrtm((cov_r + jitter) @ (cov_f + jitter))
    distance = np.sum((mu_r - mu_f) ** 2) + np.trace(cov_r + cov_f - 2 * root.real)
    return float(max(distance, 0.0))


def mmd2_rbf(real: np.ndarray, fake: np.ndarray, bandwidth: float | None = None) -> float:
    """Unbiased squared maximum mean discrepancy (Gretton et al. 2012) with the RBF kernel
    k(a, b) = exp(-||a - b||^2 / (2 s^2)); s defaults to the median pairwise distance of the
    pooled rows (the median heuristic):

        MMD^2 = mean_{i!=j} k(x_i, x_j) + mean_{i!=j} k(y_i, y_j) - 2 mean_{i,j} k(x_i, y_j)
    """
    pooled = np.concatenate([real, fake])
    if bandwidth is None:
        distances = cdist(pooled, pooled)
        bandwidth = float(np.median(distances[np.triu_indices(len(pooled), 1)])) or 1.0

    def kernel(a, b):
        return np.exp(-cdist(a, b, "sqeuclidean") / (2 * bandwidth**2))

    def within(a):
        k = kernel(a, a)
        return (k.sum() - np.trace(k)) / (len(a) * (len(a) - 1))

    return float(within(real) + within(fake) - 2 * kernel(real, fake).mean())


def c2st_accuracy(real: np.ndarray, fake: np.ndarray, seed: int = 0, folds: int = 5) -> float:
    """Classifier two-sample test (Lopez-Paz & Oquab 2017): cross-validated accuracy of a gradient
    boosting classifier telling real rows from synthetic ones. 0.5 = indistinguishable, 1 = fully
    separable. Use equally many rows of each, so that 0.5 is chance level."""
    rows = np.concatenate([real, fake])
    is_real = np.r_[np.ones(len(real)), np.zeros(len(fake))]
    classifier = HistGradientBoostingClassifier(random_state=seed)
    splits = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return float(cross_val_score(classifier, rows, is_real, cv=splits, scoring="accuracy").mean())
