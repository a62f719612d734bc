"""Fréchet distance between Gaussian fits of two sets of rows."""

import numpy as np


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
    distance = np.sum((mu_r - mu_f) ** 2) + np.trace(cov_r + cov_f) - 2 * _trace_of_root_of_product(cov_r, cov_f)
    return float(max(distance, 0.0))


def _trace_of_root_of_product(cov_r: np.ndarray, cov_f: np.ndarray) -> float:
    """Tr (S_r S_f)^(1/2) from symmetric eigenvalue problems alone, with no general matrix root
    (scipy.linalg.sqrtm, whose import costs a training run a tenth of a second). With R the
    symmetric root of S_r, S_r S_f = R (R S_f) has the eigenvalues of (R S_f) R = R S_f R, which
    is symmetric and positive semi-definite: the trace is the sum of their square roots. Singular
    covariances (constant columns) need no regularising: their zero eigenvalues add nothing."""
    eigenvalues, eigenvectors = np.linalg.eigh(cov_r)
    root_r = (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ eigenvectors.T
    # Clipped: rounding leaves the zero eigenvalues of a singular product a hair below zero.
    return float(np.sqrt(np.clip(np.linalg.eigvalsh(root_r @ cov_f @ root_r), 0, None)).sum())


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
