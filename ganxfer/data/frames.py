"""Helpers on pandas tables that every reader and the schema share: compact decimals, columns
dropped without a copy, a seeded sample of rows, and freed memory handed back to the system."""

import ctypes
import ctypes.util

import numpy as np
import pandas as pd


FLOAT32_EXACT = 2**24  # float32 holds every whole number up to this

FLOAT32_SMALLEST = float(np.finfo(np.float32).tiny)  # below this float32 loses precision, then becomes 0


def return_freed_memory() -> None:
    """Hand freed memory back to the system. A table's columns are blocks of a few MiB, which
    glibc's malloc keeps for reuse when freed (it returns only blocks of over 32 MiB at once):
    a large table let go would otherwise stay resident beside its encoding for the whole run."""
    libc = ctypes.util.find_library("c")
    malloc_trim = getattr(ctypes.CDLL(libc), "malloc_trim", None) if libc else None
    if malloc_trim is not None:  # glibc only (not musl, not macOS)
        malloc_trim(0)


def compact(table: pd.DataFrame) -> pd.DataFrame:
    """Decimal columns as float32, half the memory of pandas' float64: the generator's outputs
    are float32 too, so nothing it could learn is lost. A column holding numbers beyond 2**24,
    where float32 no longer holds every whole number, stays float64 (large identifiers, times),
    as does one holding numbers so close to 0 that float32 would make them 0."""
    narrow = {name: np.float32 for name in table.columns
              if table[name].dtype == np.float64 and fits_float32(table[name].abs())}
    return table.astype(narrow) if narrow else table


def fits_float32(magnitudes: pd.Series) -> bool:
    too_small = (magnitudes > 0) & (magnitudes < FLOAT32_SMALLEST)
    return not ((magnitudes > FLOAT32_EXACT) | too_small).any()


def without(table: pd.DataFrame, names) -> pd.DataFrame:
    """`table` less the columns `names`, sharing the memory of the columns it keeps: pandas'
    own drop copies every kept column (before pandas 3), which for a large file is the table twice."""
    if not any(name in table.columns for name in names):
        return table
    return pd.DataFrame({name: table[name] for name in table.columns if name not in names}, index=table.index,
                        copy=False)


def at_most(table: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """`rows` of `table` drawn at random (the same ones for the same seed), in the table's order;
    a table of at most `rows` rows is returned whole."""
    if len(table) <= rows:
        return table
    picked = np.random.default_rng(seed).choice(len(table), size=rows, replace=False)
    return table.iloc[np.sort(picked)]
