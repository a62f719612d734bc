"""Memorisation: are the synthetic rows closer to the training rows than unseen real rows are?"""

import numpy as np


def distance_to_closest_record(fake: np.ndarray, train: np.ndarray, holdout: np.ndarray,
                               percentile: float = 5.0) -> dict:
    """Distance to closest record (DCR; Park et al. 2018, table-GAN), judged against held-out real
    rows as in Platzer & Reutterer (2021). With DCR(y) = min_i ||y - t_i|| over the training rows t
    and τ the `percentile`-th percentile of DCR over held-out rows (real rows the generator never saw):

        dcr_close_share  = 1/M Σ_j 1[DCR(y_j) < τ]    ideal ≈ percentile/100, as for unseen real rows;
                                                       a generator that copies its training rows → 1
        dcr_exact_copies = #{j : y_j equals a training row}                ideal 0
    """
    # Imported on use: scikit-learn takes a second to import, a training run needs none of it.
    from sklearn.neighbors import NearestNeighbors

    nearest = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(train)
    fake_dcr = nearest.kneighbors(fake)[0][:, 0]
    threshold = np.percentile(nearest.kneighbors(holdout)[0][:, 0], percentile)
    # Copies are matched on the exact values: computed distances carry rounding errors around 0.
    training_rows = {row.tobytes() for row in np.ascontiguousarray(train, dtype=np.float64)}
    copies = sum(row.tobytes() in training_rows for row in np.ascontiguousarray(fake, dtype=np.float64))
    return {"dcr_close_share": float(np.mean(fake_dcr < threshold)), "dcr_exact_copies": int(copies)}
