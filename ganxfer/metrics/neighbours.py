"""Precision, recall, density and coverage (Naeem et al. 2020): how much of each sample lies inside
the k-nearest-neighbour balls of the other. Distances are computed a block of rows at a time, so
10,000 x 10,000 rows never hold a full distance matrix in memory."""

import numpy as np

WORKING_MEMORY_MIB = 256  # the size of one block of distances


def blockwise(rows, others, per_row, working_memory: float = WORKING_MEMORY_MIB) -> np.ndarray:
    """per_row(distances, start) for consecutive blocks of the rows-by-others distance matrix, where
    distances[i] holds row start+i's distances to every row of `others`; one result per row."""
    # Imported on use: scikit-learn takes a second to import, a training run needs none of it.
    from sklearn.metrics import pairwise_distances_chunked

    blocks = pairwise_distances_chunked(rows, others, reduce_func=per_row, working_memory=working_memory)
    return np.concatenate(list(blocks))


def kth_neighbour_distance(rows, k: int) -> np.ndarray:
    """Each row's distance to its k-th nearest other row (the radius of its k-NN ball)."""
    # Imported on use: scikit-learn takes a second to import, a training run needs none of it.
    from sklearn.neighbors import NearestNeighbors

    distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(rows).kneighbors(rows)  # in blocks, too
    return distances[:, k]  # column 0 is the row itself, at distance 0


def prdc(real: np.ndarray, fake: np.ndarray, k: int = 5, working_memory: float = WORKING_MEMORY_MIB) -> dict:
    """Naeem, Oh, Uh, Choi & Yoo (2020), "Reliable Fidelity and Diversity Metrics for Generative Models".
    With B(x, r) the ball around x of radius r = the distance from x to its k-th nearest neighbour
    in its own sample, X the N real rows and Y the M synthetic rows:

        precision = 1/M Σ_j 1[y_j ∈ ∪_i B(x_i)]          (Kynkäänniemi et al. 2019)
        recall    = 1/N Σ_i 1[x_i ∈ ∪_j B(y_j)]
        density   = 1/(kM) Σ_j Σ_i 1[y_j ∈ B(x_i)]
        coverage  = 1/N Σ_i 1[∃ j: y_j ∈ B(x_i)]

    Ideal 1 each (density can exceed 1: the same sample twice gives (k+1)/k, every ball holding
    the row itself and its k neighbours)."""
    # The same distance computed in two blocks can differ in its last digits (BLAS rounding, about
    # 1e-8 of the row norms): widen each ball by a little more, so that a row on a boundary, or a
    # duplicate at distance 0, is not in or out by chance.
    slack = 1e-6 * max(np.linalg.norm(real, axis=1).max(), np.linalg.norm(fake, axis=1).max())
    real_radii = kth_neighbour_distance(real, k) + slack
    fake_radii = kth_neighbour_distance(fake, k) + slack

    def real_balls_holding_each_fake(d, start):
        return (d <= real_radii).sum(axis=1)

    def recall_and_coverage(d, start):
        in_some_fake_ball = (d <= fake_radii).any(axis=1)
        own_ball_holds_a_fake = d.min(axis=1) <= real_radii[start: start + len(d)]
        return np.stack([in_some_fake_ball, own_ball_holds_a_fake], axis=1)

    balls = blockwise(fake, real, real_balls_holding_each_fake, working_memory)
    in_fake_ball, covered = blockwise(real, fake, recall_and_coverage, working_memory).T
    return {"precision": float(np.mean(balls > 0)), "recall": float(np.mean(in_fake_ball)),
            "density": float(balls.sum() / (k * len(fake))), "coverage": float(np.mean(covered))}
