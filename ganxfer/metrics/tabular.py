"""Tabular fidelity as SDMetrics' QualityReport scores it: how well each column's distribution
(its shape) and each pair of numeric columns' correlation (their trend) are reproduced, in [0, 1].
Columns may hold numbers, text or booleans, with gaps (NaN / None)."""

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

# Without a schema to say which columns are categories: whole numbers with at most this many
# distinct values are compared as categories.
MAX_CATEGORIES = 10


def is_categorical(values: pd.Series) -> bool:
    """Text, booleans, and whole numbers with few distinct values (counts, ratings, codes) are
    compared as categories; other numbers as a continuous distribution. Used when the caller
    does not name the categorical columns (see `categorical` below)."""
    if is_bool_dtype(values) or not is_numeric_dtype(values):
        return True
    present = values.dropna().to_numpy(dtype=np.float64)
    return bool(np.all(present == np.round(present))) and len(np.unique(present)) <= MAX_CATEGORIES


def ks_complement(real, fake) -> float:
    """SDMetrics KSComplement: 1 - the two-sample Kolmogorov-Smirnov statistic over the values
    present (gaps left out),

        1 - sup_x |F_real(x) - F_fake(x)|    (F the empirical distribution functions)
    """
    # Imported on use: scipy.stats takes most of a second to import.
    from scipy.stats import ks_2samp

    real, fake = (pd.Series(values).dropna().to_numpy(dtype=np.float64) for values in (real, fake))
    if len(real) == 0 or len(fake) == 0:
        return 0.0  # one side has no values at all: nothing of the shape is reproduced
    # method="asymp": only the statistic is used, and the exact p-value is slow for large samples.
    return 1.0 - float(ks_2samp(real, fake, method="asymp").statistic)


def tv_complement(real, fake) -> float:
    """SDMetrics TVComplement: 1 - the total variation distance between category frequencies
    (a gap counts as a category of its own),

        1 - ½ Σ_c |p_real(c) - p_fake(c)|
    """
    real_shares, fake_shares = (pd.Series(values).value_counts(normalize=True, dropna=False)
                                for values in (real, fake))
    real_shares, fake_shares = real_shares.align(fake_shares, fill_value=0.0)
    return 1.0 - 0.5 * float(np.abs(real_shares - fake_shares).sum())


def shape_test(values: pd.Series, categorical=None) -> str:
    """The test a column's shape is scored with: "TV" for categories, "KS" for numbers.
    `categorical`: the names of the categorical columns, as the data's schema read them; when
    not given, the column's values decide (is_categorical)."""
    is_category = is_categorical(values) if categorical is None else values.name in categorical
    return "TV" if is_category else "KS"


def column_shapes(real: pd.DataFrame, fake: pd.DataFrame, categorical=None) -> dict:
    """Per column: TV complement when the real column is categorical, KS complement otherwise."""
    tests = {"TV": tv_complement, "KS": ks_complement}
    return {name: tests[shape_test(real[name], categorical)](real[name], fake[name]) for name in real.columns}


def correlations(table: pd.DataFrame) -> np.ndarray:
    """Pearson correlations between the numeric columns, each pair over the rows where both are
    present; a constant column's undefined correlations count as 0."""
    return table.select_dtypes("number").astype(np.float64).corr().fillna(0.0).to_numpy()


def correlation_similarities(real: pd.DataFrame, fake: pd.DataFrame) -> np.ndarray:
    """SDMetrics CorrelationSimilarity for every pair a < b of numeric columns:

        1 - |ρ_real(a, b) - ρ_fake(a, b)| / 2
    """
    numeric = list(real.select_dtypes("number").columns)
    real_corr, fake_corr = correlations(real[numeric]), correlations(fake[numeric])
    pairs = np.triu_indices(len(numeric), k=1)
    return 1.0 - np.abs(real_corr - fake_corr)[pairs] / 2


def column_pairs(real: pd.DataFrame, fake: pd.DataFrame) -> list[dict]:
    """Every pair of numeric columns with its correlation similarity and both correlations,
    worst first: which relations between columns the synthetic rows get wrong."""
    numeric = list(real.select_dtypes("number").columns)
    real_corr, fake_corr = correlations(real[numeric]), correlations(fake[numeric])
    pairs = [{"columns": [numeric[a], numeric[b]], "score": float(1.0 - abs(real_corr[a, b] - fake_corr[a, b]) / 2),
              "real_correlation": float(real_corr[a, b]), "synthetic_correlation": float(fake_corr[a, b])}
             for a, b in zip(*np.triu_indices(len(numeric), k=1))]
    return sorted(pairs, key=lambda pair: pair["score"])


def quality_breakdown(real: pd.DataFrame, fake: pd.DataFrame, worst: int = 5, categorical=None) -> dict:
    """What the quality score is made of: each column's shape score and test, worst first, and
    the `worst` column pairs by correlation similarity."""
    scores = column_shapes(real, fake, categorical)
    columns = {name: {"score": float(scores[name]), "test": shape_test(real[name], categorical)}
               for name in sorted(scores, key=scores.get)}
    return {"column_shapes": columns, "worst_column_pairs": column_pairs(real, fake)[:worst]}


def quality(real: pd.DataFrame, fake: pd.DataFrame, categorical=None) -> dict:
    """SDMetrics single-table quality score (sdmetrics.reports.single_table.QualityReport): the mean
    of the column-shapes score (mean over columns) and the column-pair-trends score (mean over
    pairs of numeric columns; SDMetrics would add contingency similarity for pairs involving a
    category, left out here). Ideal 1."""
    scores = {"quality_column_shapes": float(np.mean(list(column_shapes(real, fake, categorical).values())))}
    similarities = correlation_similarities(real, fake)
    if len(similarities):
        scores["quality_column_pairs"] = float(np.mean(similarities))
    return {**scores, "quality_score": float(np.mean(list(scores.values())))}
