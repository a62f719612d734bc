"""Fréchet distance between Gaussian fits of two sets of rows."""

import warnings

import numpy as np
from scipy import linalg


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """Fréchet distance between Gaussian fits N(mu_r, S_r) and N(mu_f, S_f) (Dowson & Landau 1982;
    the FID of Heusel et al. 2017 in whatever feature space the rows are given):

        FD = ||mu_r - mu_f||^2 + Tr(S_r + S_f - 2 (S_r S_f)^(1/2))
    """
    mu_r, mu_f = real.mean(0), fake.mean(0)
    if min(len(real), len(fake)) < real.shape[1]:
        return _frechet_distance_of_few_rows(real, fake)
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


def _frechet_distance_of_few_rows(real: np.ndarray, fake: np.ndarray) -> float:
    """The same distance, exactly, when there are fewer rows than columns (images: thousands of
    pixels), without the columns x columns matrix root, which for 3,072 columns takes minutes.
    With centred rows A (n_r x d) and B (n_f x d), S_r = A'A / (n_r - 1) and S_f = B'B / (n_f - 1),
    and the non-zero eigenvalues of S_r S_f are the squared singular values s_i of A B' over
    (n_r - 1)(n_f - 1), so that

        Tr (S_r S_f)^(1/2) = sum_i s_i / sqrt((n_r - 1)(n_f - 1))
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    centred_r, centred_f = real - real.mean(0), fake - fake.mean(0)
    scale_r, scale_f = len(real) - 1, len(fake) - 1
    root_trace = np.linalg.svd(centred_r @ centred_f.T, compute_uv=False).sum() / np.sqrt(scale_r * scale_f)
    distance = (np.sum((real.mean(0) - fake.mean(0)) ** 2) + np.sum(centred_r ** 2) / scale_r
                + np.sum(centred_f ** 2) / scale_f - 2 * root_trace)
    return float(max(distance, 0.0))
