"""The space in which rows are compared: fitted on the real rows alone, so that every set of
synthetic rows measured against them is measured with the same ruler, whatever model made it.

Numbers are standardised by the real rows' mean and standard deviation; categories become a
one-hot block over the categories the real rows hold. Gaps are treated as a model's encoding
treats them: with `mark_gaps` (data.missing=model), a column whose real rows have gaps gets a
present/missing pair (numbers, filled with the real median) or a category of its own; otherwise
a gap stands in as the real median or the most frequent real category.

A synthetic category the real rows never hold leaves its block all zeros, as far from every real
row as one category is from another. An extra "other" output is not added: the space would then
depend on which synthetic rows are compared, or carry a column that is zero in every real row."""

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Number:
    """x -> (x - centre) / spread; a gap -> `fill` first, and a present/missing pair when `marked`."""
    centre: float
    spread: float
    fill: float
    marked: bool = False

    @property
    def width(self) -> int:
        return 3 if self.marked else 1

    def encode(self, series: pd.Series) -> np.ndarray:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        gaps = np.isnan(values)
        scaled = ((np.where(gaps, self.fill, values) - self.centre) / self.spread)[:, None]
        return np.hstack([scaled, one_hot(gaps.astype(np.int64), 2)]) if self.marked else scaled


@dataclass(frozen=True)
class Category:
    """One output per real category, most frequent first; `marked`: a last one for gaps."""
    values: tuple
    marked: bool = False

    @property
    def width(self) -> int:
        return len(self.values) + self.marked

    def encode(self, series: pd.Series) -> np.ndarray:
        codes = pd.Index(self.values, dtype=object).get_indexer(series).astype(np.int64)  # -1: a gap or unseen
        gaps = series.isna().to_numpy()
        # Unmarked, the most frequent category stands in for a gap (none, when the real rows hold only gaps).
        codes[gaps] = len(self.values) if self.marked else 0 if self.values else -1
        return one_hot(codes, self.width)


@dataclass(frozen=True)
class Space:
    """Column name -> how it is encoded, in the real table's column order; `__call__` encodes a
    table (its other columns are ignored). `pixels`: every column is a pixel of one shared range."""
    columns: dict
    pixels: tuple[float, float] | None = None

    @classmethod
    def fit(cls, real: pd.DataFrame, categorical=frozenset(), mark_gaps: bool = True) -> "Space":
        """Every column of `real`; those named in `categorical` one-hot, the others standardised.
        A constant column (sd 0) is only centred: a synthetic value off it counts in its own units."""
        columns = {}
        for name in real.columns:
            series = real[name]
            marked = mark_gaps and bool(series.isna().any())
            if name in categorical:
                columns[name] = Category(tuple(series.value_counts().index.tolist()), marked)
            else:
                columns[name] = standardised(series.dropna().to_numpy(dtype=np.float64), marked)
        return cls(columns)

    @classmethod
    def of_pixels(cls, names, low: float, high: float) -> "Space":
        """Images: the data's pixel range mapped to [-1, 1] for every pixel alike, as a model's
        schema maps it. Per-pixel standardising would blow up the near-constant borders."""
        half = (high - low) / 2 or 1.0
        return cls({name: Number(low + half, half, low) for name in names}, (low, high))

    @property
    def width(self) -> int:
        return sum(column.width for column in self.columns.values())

    @property
    def categorical(self) -> frozenset[str]:
        return frozenset(name for name, column in self.columns.items() if isinstance(column, Category))

    def __call__(self, table: pd.DataFrame) -> np.ndarray:
        if not self.columns:
            return np.empty((len(table), 0))
        return np.hstack([column.encode(table[name]) for name, column in self.columns.items()])

    def describe(self) -> str:
        """One line for a person: what the distances were measured in."""
        if self.pixels is not None:
            low, high = self.pixels
            return f"pixels: {low:g}-{high:g} mapped to [-1, 1] ({self.width} columns)"
        categories = len(self.categorical)
        numbers = len(self.columns) - categories
        return (f"real rows: {numbers} number{'s' * (numbers != 1)} standardised, {categories} "
                f"categor{'ies' if categories != 1 else 'y'} one-hot ({self.width} columns)")


def standardised(values: np.ndarray, marked: bool) -> Number:
    """Mean 0 and sd 1 over the real values; a column without any (all gaps) is left as it is."""
    if len(values) == 0:
        return Number(0.0, 1.0, 0.0, marked)
    return Number(float(values.mean()), float(values.std()) or 1.0, float(np.median(values)), marked)


def one_hot(codes: np.ndarray, width: int) -> np.ndarray:
    """Rows of zeros with a 1 at each code; a code of -1 leaves its row all zeros."""
    encoded = np.zeros((len(codes), width))
    known = np.flatnonzero(codes >= 0)
    encoded[known, codes[known]] = 1
    return encoded
