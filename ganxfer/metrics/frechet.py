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
