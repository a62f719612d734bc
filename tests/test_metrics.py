"""Properties that a broken metric would fail, and brute-force references for the fiddly ones."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from conftest import mixed_table
from ganxfer.metrics import (
    Comparison, FeatureNet, Space, c2st, column_shapes, distance_to_closest_record, evaluate, frechet_distance, kid,
    kid_kernel, ks_complement, mmd2_rbf, mmd2_unbiased, prdc, quality, quick, tv_complement, utility)


def normal(seed, rows=600, columns=4):
    return np.random.default_rng(seed).normal(size=(rows, columns))


def test_frechet_distance_matches_the_gaussian_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (20000, 1))
    b = rng.normal(2, 3, (20000, 1))
    # 1-D: (mu1 - mu2)^2 + (s1 - s2)^2 = 4 + 4
    assert frechet_distance(a, b) == pytest.approx(8.0, rel=0.05)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_is_the_closed_form_with_scipys_matrix_root():
    """The root's trace comes from symmetric eigenvalues: the same number as the textbook formula."""
    from scipy import linalg

    real, fake = normal(0, columns=6), normal(1, rows=400, columns=6) * 2 + 1
    cov_r, cov_f = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    by_hand = (np.sum((real.mean(0) - fake.mean(0)) ** 2)
               + np.trace(cov_r + cov_f - 2 * linalg.sqrtm(cov_r @ cov_f).real))
    assert frechet_distance(real, fake) == pytest.approx(by_hand, rel=1e-9)


def test_the_rbf_bandwidth_is_the_median_of_scipys_pairwise_distances():
    from scipy.spatial.distance import pdist

    from ganxfer.metrics.kernels import median_distance

    rows = normal(0, rows=300, columns=5).astype(np.float32)
    assert median_distance(rows, sample=1000) == pytest.approx(float(np.median(pdist(rows))), rel=1e-12)


def test_frechet_distance_tolerates_constant_columns():
    a, b = np.c_[normal(0), np.zeros(600)], np.c_[normal(1), np.zeros(600)]
    assert np.isfinite(frechet_distance(a, b))


def test_the_same_sample_twice_scores_ideally():
    rows = normal(0)
    assert frechet_distance(rows, rows) == pytest.approx(0, abs=1e-8)
    assert prdc(rows, rows, k=5) == pytest.approx(
        {"precision": 1, "recall": 1, "coverage": 1, "density": 6 / 5})  # each ball holds itself + 5 neighbours
    scores = c2st(rows, rows)
    assert all(abs(value - 0.5) < 0.1 for value in scores.values()), scores
    # Slightly negative, O(1/n): the cross term counts each row against itself, the within terms do not.
    assert abs(kid(rows, rows)["kid"]) < 0.05 and abs(mmd2_rbf(rows, rows)["mmd2_rbf"]) < 0.005
    table = pd.DataFrame(rows)
    assert quality(table, table)["quality_score"] == pytest.approx(1)


# result -> how far from ideal a value is (higher = worse)
BADNESS = {
    "fd": lambda v: v, "kid": lambda v: v, "mmd2_rbf": lambda v: v,
    "precision": lambda v: -v, "recall": lambda v: -v, "density": lambda v: -v, "coverage": lambda v: -v,
    "c2st_accuracy": lambda v: abs(v - 0.5), "c2st_auc": lambda v: abs(v - 0.5),
    "c2st_logistic_accuracy": lambda v: abs(v - 0.5), "c2st_logistic_auc": lambda v: abs(v - 0.5),
    "quality_column_shapes": lambda v: -v, "quality_score": lambda v: -v,
}


def test_a_mean_shift_scores_worse_and_a_larger_one_worse_still():
    real = pd.DataFrame(normal(0) * [1, 10, 100, 1000])  # the space fitted on them evens out the columns
    results = []
    for shift in (0.0, 0.5, 2.0):
        fake = pd.DataFrame((normal(1) + shift) * [1, 10, 100, 1000])
        comparison = Comparison(real, fake, scale=Space.fit(real))
        results.append(evaluate(comparison, ["fd", "kid", "mmd2_rbf", "prdc", "c2st", "quality"])[0])
    for name, badness in BADNESS.items():
        same, small, large = (badness(result[name]) for result in results)
        assert same < small < large, (name, [result[name] for result in results])


def test_the_space_standardises_numbers_and_one_hots_categories_of_the_real_rows():
    real = mixed_table(0)  # price and visits with gaps, shop text with gaps, member booleans
    space = Space.fit(real, categorical={"shop", "member"})
    encoded = space(real)
    prices = real["price"].to_numpy(np.float64)
    present = ~np.isnan(prices)
    by_hand = (np.where(present, prices, np.nanmedian(prices)) - np.nanmean(prices)) / np.nanstd(prices)
    np.testing.assert_allclose(encoded[:, 0], by_hand)  # gaps as the median, as the encoding fills them
    np.testing.assert_array_equal(encoded[:, 1:3], np.c_[present, ~present])  # and marked: present / missing
    # price and visits: a number and a present/missing pair each; shop: 3 categories and a gap; member: 2
    assert space.width == encoded.shape[1] == 3 + 3 + 4 + 2
    np.testing.assert_array_equal(encoded[:, 6:].sum(axis=1), 2)  # one output of shop, one of member
    assert space.describe() == "real rows: 2 numbers standardised, 2 categories one-hot (12 columns)"


def test_a_synthetic_category_or_gap_the_real_rows_lack_is_placed_as_the_encoding_places_it():
    real = pd.DataFrame({"shop": ["north", "north", "south", None], "age": [20.0, 30.0, 40.0, 50.0],
                         "flat": [5.0] * 4})
    space = Space.fit(real, categorical={"shop"})
    fake = pd.DataFrame({"shop": ["east", None], "age": [np.nan, 30.0], "flat": [5.0, 7.0]})
    shop, age, flat = space(fake)[:, :3], space(fake)[:, 3], space(fake)[:, 4]
    np.testing.assert_array_equal(shop, [[0, 0, 0], [0, 0, 1]])  # unseen: all zeros; a gap: its own output
    assert age[0] == pytest.approx((35 - 35) / np.std([20, 30, 40, 50]))  # a gap the real rows lack: their median
    np.testing.assert_array_equal(flat, [0, 2])  # sd 0: centred only, an offset counts in the column's units
    unmarked = Space.fit(real, categorical={"shop"}, mark_gaps=False)  # data.missing=impute
    np.testing.assert_array_equal(unmarked(fake)[:, :2], [[0, 0], [1, 0]])  # a gap stands in as the most frequent


def test_ks_complement_is_one_minus_scipys_statistic():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=300), np.round(rng.normal(0.3, 2, size=170), 1)  # ties, unequal sizes
    assert ks_complement(a, b) == pytest.approx(1 - ks_2samp(a, b).statistic, abs=1e-12)


def test_tv_complement_and_which_columns_count_as_categories():
    assert tv_complement([0, 0, 1, 2], [0, 1, 1, 1]) == pytest.approx(0.5)  # ½(|.5-.25| + |.25-.75| + |.25-0|)
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"few": rng.integers(0, 5, 200), "many": rng.normal(size=200)})
    fake = pd.DataFrame({"few": rng.integers(0, 4, 200), "many": rng.normal(1, 1, size=200)})
    shapes = column_shapes(real, fake)
    assert shapes["few"] == pytest.approx(tv_complement(real["few"], fake["few"]))
    assert shapes["many"] == pytest.approx(ks_complement(real["many"], fake["many"]))


def test_quality_takes_text_booleans_and_gaps():
    real, fake = mixed_table(0), mixed_table(1)
    assert quality(real, real) == pytest.approx(
        {"quality_column_shapes": 1, "quality_column_pairs": 1, "quality_score": 1})
    assert tv_complement(real["shop"], real["shop"].fillna("north")) < 1  # a filled gap is a change
    assert 0.8 < quality(real, fake)["quality_score"] < 1


def test_correlation_similarity_sees_a_broken_dependence():
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    real = pd.DataFrame({"x": x, "y": x + 0.1 * rng.normal(size=500)})
    fake = real.assign(y=rng.permutation(real["y"].to_numpy()))  # same marginals, no correlation
    assert quality(real, fake)["quality_column_shapes"] == pytest.approx(1)
    assert quality(real, fake)["quality_column_pairs"] < 0.6


def prdc_brute_force(real, fake, k):
    """Naeem et al. 2020 written out over full distance matrices."""
    def distances(a, b):
        return np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)

    real_radii = np.sort(distances(real, real), axis=1)[:, k]
    fake_radii = np.sort(distances(fake, fake), axis=1)[:, k]
    cross = distances(real, fake)
    fake_in_real_ball = cross <= real_radii[:, None]  # [i, j]: y_j in B(x_i)
    return {"precision": fake_in_real_ball.any(axis=0).mean(),
            "recall": (cross <= fake_radii[None, :]).any(axis=1).mean(),
            "density": fake_in_real_ball.sum() / (k * len(fake)),
            "coverage": fake_in_real_ball.any(axis=1).mean()}


@pytest.mark.parametrize("k", [1, 5])
def test_prdc_equals_a_brute_force_reference_chunked_or_not(k):
    real, fake = normal(0, rows=40, columns=3), normal(1, rows=55, columns=3) + 0.4
    expected = prdc_brute_force(real, fake, k)
    assert prdc(real, fake, k) == pytest.approx(expected)
    assert prdc(real, fake, k, working_memory=0.001) == pytest.approx(expected)  # blocks of ~2 rows
    assert 0 < expected["precision"] < 1 and 0 < expected["coverage"] < 1  # a case that tells


def test_kid_kernel_and_estimator_equal_a_brute_force_reference():
    x, y = normal(0, rows=12, columns=3), normal(1, rows=9, columns=3) + 0.5

    def k(a, b):
        return (a @ b / 3 + 1) ** 3

    def within(rows):
        n = len(rows)
        return sum(k(rows[i], rows[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))

    between = sum(k(a, b) for a in x for b in y) / (len(x) * len(y))
    assert mmd2_unbiased(x, y, kid_kernel) == pytest.approx(within(x) + within(y) - 2 * between)


def test_kid_averages_subsets_around_the_full_sample_estimate():
    x, y = normal(0, rows=400), normal(1, rows=400) + 0.3
    result = kid(x, y, subset_size=100, subsets=30)
    assert result["kid_std"] > 0
    assert abs(result["kid"] - mmd2_unbiased(x, y, kid_kernel)) < 3 * result["kid_std"] / np.sqrt(30)


def test_mmd_is_unbiased_around_zero_for_identical_distributions():
    rng = np.random.default_rng(1)
    values = [mmd2_rbf(rng.normal(size=(100, 2)), rng.normal(size=(100, 2)), subsets=5)["mmd2_rbf"]
              for _ in range(20)]
    assert min(values) < 0 < max(values)  # a biased estimator would never go below zero
    assert abs(np.mean(values)) < 0.005


def test_quick_gives_the_two_cheap_metrics():
    real, fake = normal(0), normal(1) + 1.0
    assert quick(real, real)["fd"] == pytest.approx(0, abs=1e-8)
    assert set(quick(real, fake)) == {"fd", "mmd2_rbf"} and quick(real, fake)["mmd2_rbf"] > 0.1


def test_memorisation_flags_a_generator_that_returns_its_training_rows():
    train, holdout = normal(0, rows=500), normal(1, rows=200)
    copier = train[:200]
    honest = normal(2, rows=200)
    copied = distance_to_closest_record(copier, train, holdout)
    assert copied == {"dcr_close_share": 1.0, "dcr_exact_copies": 200}
    fresh = distance_to_closest_record(honest, train, holdout)
    assert fresh["dcr_exact_copies"] == 0 and fresh["dcr_close_share"] < 0.15


def labelled(seed, rows=300):
    """Two numeric columns and a class that depends on them."""
    rng = np.random.default_rng(seed)
    table = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows)})
    return table.assign(label=(table.a + table.b > 0).astype(int))


def test_utility_compares_training_on_synthetic_with_training_on_real():
    train, test = labelled(0), labelled(1)
    good = utility(train, test, labelled(2), "label")
    assert good["trtr_accuracy"] > 0.9 and good["tstr_accuracy"] > 0.9
    scrambled = labelled(2).assign(label=lambda t: np.random.default_rng(3).permutation(t.label))
    assert utility(train, test, scrambled, "label")["tstr_accuracy"] < 0.7


def test_a_metric_short_of_held_out_rows_names_the_setting_that_holds_out_more():
    real, fake = pd.DataFrame(normal(0, rows=10)), pd.DataFrame(normal(1, rows=10))
    results, skipped = evaluate(Comparison(real, fake, scale=lambda table: table.to_numpy()), ["fd", "c2st"])
    assert "fd" in results and "c2st_auc" not in results
    assert "needs at least 20 real and synthetic rows, has 10 real ones" in skipped["c2st"]
    assert "data.holdout" in skipped["c2st"]


def test_the_suite_skips_what_it_cannot_compute_and_says_why(tmp_path):
    real, fake = labelled(0), labelled(1).drop(columns="label")  # the generator makes no label
    comparison = Comparison(real, fake, scale=lambda table: table[["a", "b"]].to_numpy(), label="label",
                            reference=labelled(2), train=labelled(3), cache_dir=tmp_path)
    results, skipped = evaluate(comparison, ["fd_features", "utility", "memorisation"])
    assert "label" in skipped["utility"] and "held-out" in skipped["memorisation"]
    assert results["fd_features"] >= 0
    [cached] = tmp_path.glob("feature_net_*.npz")
    assert evaluate(comparison, ["fd_features"])[0] == results  # the cached network gives the same features
    net = FeatureNet.load(cached)
    assert net(real[["a", "b"]].to_numpy()).shape == (300, 64)


@pytest.mark.parametrize("same", [False, True])
def test_kernels_are_scikit_learns_to_the_last_bit(same):
    from sklearn.metrics.pairwise import polynomial_kernel, rbf_kernel

    from ganxfer.metrics import kernels

    rng = np.random.default_rng(0)
    a = rng.normal(size=(60, 5))
    b = a if same else rng.normal(size=(40, 5))
    assert np.array_equal(kernels.rbf_kernel(a, b, gamma=0.3), rbf_kernel(a, b, gamma=0.3))
    assert np.array_equal(kernels.polynomial_kernel(a, b, degree=3, gamma=0.2, coef0=1.0),
                          polynomial_kernel(a, b, degree=3, gamma=0.2, coef0=1.0))
